"""Training, generation and an export bundle go through Redis to a real worker, on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from core.access import Role
from generation import services as generation_services
from generation.models import DraftingStatus, GeneratedImage, GenerationJob, JobStatus, LoraVersion
from provenance.bundles import build as exports
from provenance.models import ExportBundle, ExportStatus
from scheduler.models import Post, PostStatus
from tests.factories import (
    MembershipFactory,
    PersonaFactory,
    PostFactory,
    PostImageFactory,
    ReferenceImageFactory,
    WorkspaceFactory,
)
from tests.integration.workers import wait_for

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def studio(transactional_db):
    workspace = WorkspaceFactory()
    marketer = MembershipFactory(workspace=workspace, role=Role.MARKETER).user
    persona = PersonaFactory(workspace=workspace, created_by=marketer)
    return workspace, marketer, persona


def test_training_then_generation_run_on_a_real_worker(studio, workers):
    workspace, marketer, persona = studio
    for _ in range(3):
        ReferenceImageFactory(persona=persona)
    workers("w1")

    version = generation_services.lora_training_start(actor=marketer, persona=persona, steps=2, seed=3)
    version = wait_for(
        lambda: LoraVersion.objects.filter(pk=version.pk, status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED]).first(),
        timeout=240, what="the training run to finish",
    )  # fmt: skip
    assert version.status == JobStatus.SUCCEEDED, version.error
    assert version.is_active  # the persona's first LoRA becomes active
    assert (Path(settings.MEDIA_ROOT) / version.weights_path).is_file()

    job = generation_services.generation_job_create(
        actor=marketer, persona=persona, scene="reading on a tram", platform="instagram",
        num_variants=1, steps=2, seed=11,
    )  # fmt: skip
    job = wait_for(
        lambda: GenerationJob.objects.filter(pk=job.pk, status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED])
        .exclude(drafting_status=DraftingStatus.PENDING).first(),
        timeout=300, what="the generation job and its drafting to finish",
    )  # fmt: skip
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.lora_version_id == version.pk
    image = GeneratedImage.objects.get(job=job)
    assert (Path(settings.MEDIA_ROOT) / image.image.name).is_file()
    post = Post.objects.get(images__generated_image=image)
    assert post.status == PostStatus.IN_REVIEW
    # The reviewer samples of the new LoRA rendered too, and made no posts.
    samples = GenerationJob.objects.get(lora_version=version, is_sample=True)
    assert samples.status == JobStatus.SUCCEEDED
    assert Post.objects.filter(persona=persona).count() == 1


def test_export_bundle_is_built_by_a_real_worker(studio, workers):
    workspace, marketer, persona = studio
    when = timezone.now() + dt.timedelta(days=2)
    post = PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=when, created_by=marketer)
    PostImageFactory(post=post, position=0)
    workers("w1")

    bundle = exports.export_bundle_create(
        actor=marketer, workspace=workspace, persona_ids=[persona.pk],
        start=when - dt.timedelta(days=1), end=when + dt.timedelta(days=1),
    )  # fmt: skip
    bundle = wait_for(
        lambda: ExportBundle.objects.filter(pk=bundle.pk, status__in=[ExportStatus.SUCCEEDED, ExportStatus.FAILED])
        .first(),
        timeout=120, what="the bundle build",
    )  # fmt: skip
    assert bundle.status == ExportStatus.SUCCEEDED, bundle.error
    assert bundle.post_count == 1
    assert (Path(settings.MEDIA_ROOT) / bundle.file.name).is_file()
    post.refresh_from_db()
    assert post.status == PostStatus.EXPORTED
