"""Media are read and written through Django's storage API only (core/storage.py, a model's FieldFile): no code
outside the storage layer touches them by filesystem path, so the web tier and workers on other machines share
them through an object store. Checked in the source, and by running the whole flow with media on S3."""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
from pathlib import Path

import pytest
from django.apps import apps
from django.db import models

from core.access import Role
from generation import services as generation_services
from generation.jobs import render as worker
from generation.models import GeneratedImage, GenerationJob, JobStatus, LoraVersion
from provenance.bundles.build import export_bundle_create
from provenance.models import ExportStatus
from scheduler.models import Post, PostStatus
from tests.factories import MembershipFactory, PersonaFactory, ReferenceImageFactory, WorkspaceFactory
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["core", "personas", "scheduler", "generation", "web", "config"]
# The storage layer itself, and the settings that choose the storage.
ALLOWED = {"core/storage.py", "config/settings.py"}


def _modules() -> list[Path]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                found.append(path)
    return found


def _file_field_names() -> set[str]:
    return {
        field.name
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, models.FileField)
    }


def _violations(source: str, file_fields: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Name | ast.Attribute | ast.Constant):
            name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
            if name == "MEDIA_ROOT" or (isinstance(node, ast.Constant) and node.value == "MEDIA_ROOT"):
                found.append(f"{line}: MEDIA_ROOT")
        if isinstance(node, ast.Attribute) and node.attr == "path":
            owner = node.value
            if isinstance(owner, ast.Attribute) and owner.attr in file_fields:
                found.append(f"{line}: .{owner.attr}.path (a stored file by its local path)")
            if isinstance(owner, ast.Name | ast.Attribute) and "storage" in (getattr(owner, "id", "") or
                                                                            getattr(owner, "attr", "")):
                found.append(f"{line}: storage.path()")
        if isinstance(node, ast.Name | ast.Attribute) and (getattr(node, "id", None) or getattr(node, "attr", None)) \
                == "FileSystemStorage":
            found.append(f"{line}: FileSystemStorage")
        if isinstance(node, ast.ImportFrom) and any(alias.name == "FileSystemStorage" for alias in node.names):
            found.append(f"{line}: FileSystemStorage")
    return found


def test_no_code_outside_the_storage_layer_touches_media_by_path():
    file_fields = _file_field_names()
    assert {"image", "file"} <= file_fields
    problems = {}
    for path in _modules():
        rel = path.relative_to(ROOT).as_posix()
        if rel in ALLOWED:
            continue
        found = _violations(path.read_text(encoding="utf-8"), file_fields)
        if found:
            problems[rel] = found
    assert problems == {}, f"media touched by filesystem path outside core/storage.py: {problems}"


@pytest.mark.parametrize("source", [
    "from django.conf import settings\nsettings.MEDIA_ROOT / 'x'",
    "open(bundle.file.path)",
    "Image.open(image.image.path)",
    "default_storage.path('a')",
    "from django.core.files.storage import FileSystemStorage",
])  # fmt: skip
def test_the_check_catches_each_way_round_the_storage_api(source):
    assert _violations(source, {"image", "file"})


@pytest.mark.services
@pytest.mark.django_db
def test_train_generate_and_export_with_media_on_s3_and_no_local_media_folder(
    s3_media, settings, fake_engine, after_commit,
):
    media_root = Path(settings.MEDIA_ROOT)
    workspace = WorkspaceFactory()
    marketer = MembershipFactory(workspace=workspace, role=Role.MARKETER).user
    persona = PersonaFactory(workspace=workspace, created_by=marketer)
    for _ in range(3):
        ReferenceImageFactory(persona=persona)

    with after_commit():
        version = generation_services.lora_training_start(actor=marketer, persona=persona, steps=3, rank=4)
    version.refresh_from_db()
    assert version.status == JobStatus.SUCCEEDED, version.error
    stored = s3_media.client().get_object(Bucket=s3_media.bucket, Key=f"{_prefix(settings)}/{version.weights_path}")
    assert hashlib.sha256(stored["Body"].read()).hexdigest() == version.sha256
    # The worker loaded the weights from its own cache, fetched by sha256.
    assert (Path(settings.WORKER_CACHE_DIR) / version.sha256[:2] / version.sha256).is_dir()

    with after_commit():
        job = generation_services.generation_job_create(
            actor=marketer, persona=persona, scene="at a cafe", platform="instagram", num_variants=2, steps=2, seed=3,
        )  # fmt: skip
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    images = list(GeneratedImage.objects.filter(job=job))
    assert len(images) == 2 and all(image.image.storage.exists(image.image.name) for image in images)
    assert worker.generated_image_reproduce(generated_image=images[0]) == images[0].image.open("rb").read()

    when = dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC)
    posts = list(Post.objects.filter(persona=persona))
    assert len(posts) == 2
    Post.objects.filter(pk__in=[p.pk for p in posts]).update(status=PostStatus.SCHEDULED, scheduled_at=when)
    with after_commit():
        bundle = export_bundle_create(actor=marketer, workspace=workspace, persona_ids=[persona.pk],
                                      start=when - dt.timedelta(days=1), end=when + dt.timedelta(days=1))
    bundle.refresh_from_db()
    assert bundle.status == ExportStatus.SUCCEEDED, bundle.error
    assert bundle.file.storage.exists(bundle.file.name)

    assert LoraVersion.objects.filter(pk=version.pk, weights_path__startswith="workspaces/").exists()
    assert GenerationJob.objects.filter(pk=job.pk, status=JobStatus.SUCCEEDED).exists()
    assert not media_root.exists(), f"something wrote into the local media folder: {list(media_root.rglob('*'))}"


def _prefix(settings) -> str:
    return settings.STORAGES["default"]["OPTIONS"]["location"]
