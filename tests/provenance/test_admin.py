import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from core.access import Role
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain_static(settings):
    # Admin pages render static tags; tests have no collectstatic manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def test_export_bundle_admin_is_view_only(workspace):
    user = MembershipFactory(workspace=workspace, role=Role.ADMIN).user
    user.is_staff = True
    user.save()
    user.user_permissions.add(Permission.objects.get(codename="view_exportbundle",
                                                     content_type__app_label="provenance"))
    client = Client()
    client.force_login(user)
    assert client.get("/admin/provenance/exportbundle/").status_code == 200
    assert client.get("/admin/provenance/exportbundle/add/").status_code == 403
