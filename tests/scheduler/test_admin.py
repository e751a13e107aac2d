import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from core.access import Role
from scheduler.models import PostStatus
from tests.factories import MembershipFactory, PostFactory, PostImageFactory

pytestmark = pytest.mark.django_db

LABEL = "AI-generated virtual influencer"


@pytest.fixture(autouse=True)
def _plain_static(settings):
    # Admin pages render static tags; tests have no collectstatic manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def staff_client(workspace, role=Role.MARKETER):
    user = MembershipFactory(workspace=workspace, role=role).user
    user.is_staff = True
    user.save()
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_post", "change_post"])
    )
    client = Client()
    client.force_login(user)
    return client, user


def form_data(post, **changes):
    data = {
        "platform": post.platform,
        "caption": post.caption,
        "hashtags": '["#lisbon"]',
        "scheduled_at_0": "",
        "scheduled_at_1": "",
        **{
            f"{prefix}-{key}": value
            for prefix in ("images", "transitions")
            for key, value in {
                "TOTAL_FORMS": "0",
                "INITIAL_FORMS": "0",
                "MIN_NUM_FORMS": "0",
                "MAX_NUM_FORMS": "1000",
            }.items()
        },
    }
    data.update(changes)
    return data


def test_post_admin_is_scoped_and_status_is_read_only(persona, marketer):
    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.APPROVED)
    PostImageFactory(post=post)
    foreign = PostFactory()
    client, _ = staff_client(persona.workspace)

    listing = client.get("/admin/scheduler/post/")
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 1
    assert client.get(f"/admin/scheduler/post/{foreign.pk}/change/").status_code in (302, 404)  # not in scope
    page = client.get(f"/admin/scheduler/post/{post.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert "status" not in form.fields and "caption" not in form.fields  # approved: nothing editable
    assert client.get("/admin/scheduler/post/add/").status_code == 403


def test_post_admin_edits_drafts_through_the_service(persona, marketer):
    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.DRAFT)
    client, _ = staff_client(persona.workspace)
    page = client.get(f"/admin/scheduler/post/{post.pk}/change/")
    assert "caption" in page.context["adminform"].form.fields
    assert "status" not in page.context["adminform"].form.fields
    response = client.post(f"/admin/scheduler/post/{post.pk}/change/", form_data(post, caption=f"Edited {LABEL}"))
    assert response.status_code == 302, response.content[:2000]
    post.refresh_from_db()
    assert post.caption == f"Edited {LABEL}" and post.status == PostStatus.DRAFT
