import shutil
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from core.access import Role
from generation.engine import tiny_model
from generation.library.checkpoints import weights_sha256
from generation.models import BaseModel, BaseModelLayout, JobStatus
from tests.factories import GenerationJobFactory, LoraVersionFactory, MembershipFactory

pytestmark = pytest.mark.django_db


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
    user.user_permissions.add(*Permission.objects.filter(
        codename__in=["view_loraversion", "change_loraversion", "view_generationjob", "change_generationjob"]
    ))
    client = Client()
    client.force_login(user)
    return client, user


def test_admin_lists_only_own_workspace_and_hides_others(persona):
    own_version = LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED)
    own_job = GenerationJobFactory(persona=persona, scene="own scene at the beach")
    foreign_version = LoraVersionFactory(status=JobStatus.SUCCEEDED)
    foreign_job = GenerationJobFactory(scene="foreign scene in a forest")
    client, _user = staff_client(persona.workspace)

    page = client.get("/admin/generation/generationjob/")
    assert page.status_code == 200
    assert f"/admin/generation/generationjob/{own_job.pk}/change/".encode() in page.content
    assert f"/admin/generation/generationjob/{foreign_job.pk}/change/".encode() not in page.content
    assert client.get(f"/admin/generation/generationjob/{own_job.pk}/change/").status_code == 200
    assert client.get(f"/admin/generation/generationjob/{foreign_job.pk}/change/").status_code == 404

    page = client.get("/admin/generation/loraversion/")
    assert f"/admin/generation/loraversion/{own_version.pk}/change/".encode() in page.content
    assert f"/admin/generation/loraversion/{foreign_version.pk}/change/".encode() not in page.content
    assert client.get(f"/admin/generation/loraversion/{foreign_version.pk}/change/").status_code == 404


def test_admin_actions_go_through_the_services(persona):
    queued_job = GenerationJobFactory(persona=persona, status=JobStatus.QUEUED)
    done = LoraVersionFactory(persona=persona, version=1, status=JobStatus.SUCCEEDED)
    client, _user = staff_client(persona.workspace)

    client.post("/admin/generation/generationjob/",
                {"action": "cancel_jobs", "_selected_action": [queued_job.pk]})
    queued_job.refresh_from_db()
    assert queued_job.status == JobStatus.CANCELLED
    assert queued_job.transitions.filter(to_status=JobStatus.CANCELLED).exists()

    client.post("/admin/generation/loraversion/",
                {"action": "activate_version", "_selected_action": [done.pk]})
    done.refresh_from_db()
    assert done.is_active


def test_reviewer_staff_cannot_run_actions(persona):
    queued_job = GenerationJobFactory(persona=persona, status=JobStatus.QUEUED)
    client, _user = staff_client(persona.workspace, role=Role.REVIEWER)
    client.post("/admin/generation/generationjob/", {"action": "cancel_jobs", "_selected_action": [queued_job.pk]})
    queued_job.refresh_from_db()
    assert queued_job.status == JobStatus.QUEUED


@pytest.mark.parametrize("model_name", ["loraversion", "generationjob"])
def test_runs_are_read_only_in_the_admin_field_by_field(model_name):
    # Status, batch and reproduction fields change only through the services: no admin form may edit one.
    from django.apps import apps
    from django.contrib import admin

    model = apps.get_model("generation", model_name)
    model_admin = admin.site._registry[model]
    editable = {f.name for f in model._meta.concrete_fields if f.editable and not f.primary_key}
    assert editable - set(model_admin.readonly_fields) == set()


def test_an_operator_registers_a_base_model_in_the_admin(superuser, tmp_path):
    """The admin's add form checks and hashes the files through the registration service; a refused path re-renders
    the form with the reason and registers nothing."""
    folder = Path(shutil.copytree(tiny_model.ensure_tiny_model(), tmp_path / "my-model"))
    client = Client()
    client.force_login(superuser)
    assert client.get("/admin/generation/basemodel/add/").status_code == 200
    response = client.post("/admin/generation/basemodel/add/", {
        "name": "Admin model", "location": str(folder), "config_dir": "", "description": "Registered in the admin",
        "licence_note": "Apache-2.0 (random weights)"})
    assert response.status_code == 302, [line for line in response.content.decode().splitlines() if "error" in line]
    entry = BaseModel.objects.get(name="Admin model")
    assert (entry.layout, entry.family, entry.native_size) == (BaseModelLayout.FOLDER, "tiny", 64)
    assert entry.sha256 == weights_sha256(folder) and entry.location == str(folder.resolve())
    assert entry.created_by == superuser and not entry.is_default
    assert client.get(f"/admin/generation/basemodel/{entry.pk}/change/").status_code == 200

    before = BaseModel.objects.count()
    pickled = tmp_path / "model.ckpt"
    pickled.write_bytes(b"x" * 64)
    response = client.post("/admin/generation/basemodel/add/", {
        "name": "Pickled", "location": str(pickled), "config_dir": str(folder)})
    assert response.status_code == 200 and "arbitrary code" in response.content.decode()
    assert BaseModel.objects.count() == before and not BaseModel.objects.filter(name="Pickled").exists()
    response = client.post("/admin/generation/basemodel/add/", {"name": "Again", "location": str(folder)})
    assert response.status_code == 200 and "already registered as &#x27;Admin model&#x27;" in response.content.decode()
    assert BaseModel.objects.count() == before


def test_only_operators_see_the_base_model_admin(persona):
    client, _user = staff_client(persona.workspace, role=Role.ADMIN)
    assert client.get("/admin/generation/basemodel/add/").status_code == 403
