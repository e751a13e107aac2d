from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from generation import services
from generation.engine import specs
from generation.jobs import render as worker
from generation.models import GenerationJob, JobStatus, JobTransition, LoraVersion
from generation.training import runs as training_runs
from scheduler.models import Post
from tests.factories import LoraVersionFactory
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures
from tests.generation.workflow_fixtures import _job, _queued_version

# --- training start --------------------------------------------------------------------------------


def test_training_start_needs_three_reference_images(persona, marketer):
    with pytest.raises(ValidationFailed, match="at least 3 reference images.*has 0"):
        services.lora_training_start(actor=marketer, persona=persona)
    assert not LoraVersion.objects.exists()


def test_training_start_needs_enough_usable_faces_for_a_human_face_persona(persona, marketer):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from personas.models import FaceFinding
    from personas.services import persona_update, reference_images_upload
    from tests import faces

    def photo(name, img):
        return SimpleUploadedFile(name, faces.jpeg_bytes(faces.at_least(img)), content_type="image/jpeg")

    persona_update(actor=marketer, persona=persona, is_human_face=True)
    edits = faces.variants(faces.astronaut())
    reference_images_upload(actor=marketer, persona=persona, files=[
        photo("front.jpg", faces.astronaut()), photo("flip.jpg", edits["flip"]),
        photo("grace.jpg", faces.grace_hopper()), photo("noise.jpg", faces.noise(640)),
    ])
    with pytest.raises(ValidationFailed) as caught:
        services.lora_training_start(actor=marketer, persona=persona)
    assert caught.value.code == "not_enough_usable_faces"
    assert "2 are usable" in caught.value.message and "grace.jpg: looks like a different person" in caught.value.message
    assert not LoraVersion.objects.exists() and persona.reference_images.count() == 4  # nothing lost

    reference_images_upload(actor=marketer, persona=persona, files=[photo("dark.jpg", edits["darker"])])
    version = services.lora_training_start(actor=marketer, persona=persona)
    assert version.status == JobStatus.QUEUED
    # The worker trains on the usable photos only.
    usable = set(persona.reference_images.filter(face_finding=FaceFinding.USABLE).values_list("original_filename",
                                                                                              flat=True))
    assert usable == {"front.jpg", "flip.jpg", "dark.jpg"}
    images, _ = training_runs._training_inputs(persona)
    assert len(images) == 3


def test_training_start_roles(persona_with_refs, reviewer, outsider):
    with pytest.raises(PermissionDenied):
        services.lora_training_start(actor=reviewer, persona=persona_with_refs)
    with pytest.raises(NotFound):
        services.lora_training_start(actor=outsider, persona=persona_with_refs)
    assert not LoraVersion.objects.exists()


def test_training_start_queues_version_and_enqueues_on_commit(
    persona_with_refs, marketer, monkeypatch, django_capture_on_commit_callbacks
):
    from generation.runtime import tasks

    sent = []
    monkeypatch.setattr(tasks.train_lora, "delay", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        version = services.lora_training_start(actor=marketer, persona=persona_with_refs, steps=7, rank=8)
    assert sent == [(version.pk,)]
    assert version.version == 1
    assert version.status == JobStatus.QUEUED
    assert version.base_model == settings.GENERATION_BASE_MODEL
    assert version.hyperparameters["steps"] == 7 and version.hyperparameters["rank"] == 8
    assert version.total_steps == 7
    assert JobTransition.objects.filter(lora_version=version, to_status=JobStatus.QUEUED).count() == 1

    with pytest.raises(Conflict, match="still queued"):
        services.lora_training_start(actor=marketer, persona=persona_with_refs)
    version.status = JobStatus.FAILED
    version.save()
    second = services.lora_training_start(actor=marketer, persona=persona_with_refs)
    assert second.version == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps must be between"),
        ({"rank": 1000}, "rank must be between"),
        ({"learning_rate": 1.0}, "learning_rate must be between"),
        ({"resolution": 100}, "multiple of 8"),
    ],
)
def test_training_start_rejects_bad_hyperparameters(persona_with_refs, marketer, kwargs, message):
    with pytest.raises(ValidationFailed, match=message):
        services.lora_training_start(actor=marketer, persona=persona_with_refs, **kwargs)
    assert not LoraVersion.objects.exists()


def test_second_success_does_not_replace_active_version_until_activated(persona_with_refs, marketer, fake_engine):
    first = _queued_version(persona_with_refs, marketer)
    training_runs.lora_training_run(lora_version_id=first.pk)
    second = LoraVersionFactory(persona=persona_with_refs, version=2, status=JobStatus.QUEUED, created_by=marketer,
                                hyperparameters={"steps": 2}, total_steps=2)
    training_runs.lora_training_run(lora_version_id=second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.is_active and not second.is_active

    services.lora_version_activate(actor=marketer, lora_version_id=second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.is_active and not first.is_active
    assert JobTransition.objects.filter(lora_version=second, comment="activated (replaces v1)").exists()


def test_activate_needs_a_succeeded_version_and_the_right_role(persona_with_refs, marketer, reviewer, outsider):
    queued = _queued_version(persona_with_refs, marketer)
    with pytest.raises(Conflict, match="only a succeeded version"):
        services.lora_version_activate(actor=marketer, lora_version_id=queued.pk)
    done = LoraVersionFactory(persona=persona_with_refs, version=2, status=JobStatus.SUCCEEDED)
    with pytest.raises(PermissionDenied):
        services.lora_version_activate(actor=reviewer, lora_version_id=done.pk)
    with pytest.raises(NotFound):
        services.lora_version_activate(actor=outsider, lora_version_id=done.pk)


def test_training_cancel_queued_is_immediate(persona_with_refs, marketer, fake_engine):
    version = _queued_version(persona_with_refs, marketer)
    services.lora_training_cancel(actor=marketer, lora_version_id=version.pk)
    version.refresh_from_db()
    assert version.status == JobStatus.CANCELLED
    training_runs.lora_training_run(lora_version_id=version.pk)  # the queued message arrives later: no-op
    assert fake_engine.train_calls == 0
    with pytest.raises(Conflict, match="already cancelled"):
        services.lora_training_cancel(actor=marketer, lora_version_id=version.pk)


def test_training_cancel_while_running_stops_at_next_step(persona_with_refs, marketer, fake_engine):
    version = _queued_version(persona_with_refs, marketer, steps=6)

    def hook(step):
        if step == 2:
            services.lora_training_cancel(actor=marketer, lora_version_id=version.pk)

    fake_engine.steps_hook = hook
    training_runs.lora_training_run(lora_version_id=version.pk)
    version.refresh_from_db()
    assert version.status == JobStatus.CANCELLED
    assert version.progress_step == 2  # step 2 finished, then the cancel was seen
    assert len(version.loss_curve) == 2
    assert not version.weights_path and not version.is_active
    assert not (Path(settings.MEDIA_ROOT) / training_runs.lora_weights_dir(version)).exists()


# --- generation job create -------------------------------------------------------------------------


def test_generation_needs_an_active_lora_unless_base_model_allowed(persona, marketer):
    with pytest.raises(ValidationFailed, match="no active LoRA") as info:
        services.generation_job_create(actor=marketer, persona=persona, scene="at the beach", platform="instagram")
    assert info.value.code == "no_active_lora"
    job = services.generation_job_create(
        actor=marketer, persona=persona, scene="at the beach", platform="instagram", allow_base_model=True
    )
    assert job.lora_version is None


def test_generation_create_records_everything(persona, marketer, active_lora, monkeypatch,
                                              django_capture_on_commit_callbacks):
    from generation.runtime import tasks

    sent = []
    monkeypatch.setattr(tasks.generate_images, "delay", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        job = services.generation_job_create(
            actor=marketer, persona=persona, scene="drinking coffee at a cafe terrace", platform="tiktok",
            num_variants=3, steps=6, guidance=5.5, scheduler="euler_a",
        )
    assert sent == [(job.pk,)]
    assert job.lora_version == active_lora
    assert job.status == JobStatus.QUEUED
    assert (job.width, job.height) == (72, 128)
    assert job.prompt.startswith("photo of sks person, woman with short silver hair")
    assert "drinking coffee at a cafe terrace" in job.prompt and "film photo" in job.prompt
    assert job.negative_prompt == specs.DEFAULT_NEGATIVE_PROMPT
    assert 0 <= job.seed <= specs.MAX_SEED
    assert job.total_steps == 6


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scene": "  "}, "Describe the scene"),
        ({"platform": "myspace"}, "Unknown platform"),
        ({"num_variants": 0}, "num_variants must be between"),
        ({"num_variants": 9}, "num_variants must be between"),
        ({"steps": 500}, "steps must be between"),
        ({"scheduler": "ddim"}, "Unknown scheduler"),
        ({"seed": -1}, "seed must be between"),
    ],
)
def test_generation_create_rejects_bad_input(persona, marketer, active_lora, kwargs, message):
    params = {"scene": "at the beach", "platform": "instagram", **kwargs}
    with pytest.raises(ValidationFailed, match=message):
        services.generation_job_create(actor=marketer, persona=persona, **params)
    assert not GenerationJob.objects.exists()


def test_generation_create_roles(persona, reviewer, outsider, active_lora):
    with pytest.raises(PermissionDenied):
        services.generation_job_create(actor=reviewer, persona=persona, scene="x", platform="instagram")
    with pytest.raises(NotFound):
        services.generation_job_create(actor=outsider, persona=persona, scene="x", platform="instagram")


def test_generation_cancel_queued_and_running(persona, marketer, reviewer, fake_engine):
    queued = _job(persona, marketer)
    with pytest.raises(PermissionDenied):
        services.generation_job_cancel(actor=reviewer, job_id=queued.pk)
    services.generation_job_cancel(actor=marketer, job_id=queued.pk)
    queued.refresh_from_db()
    assert queued.status == JobStatus.CANCELLED
    worker.generation_job_run(job_id=queued.pk)
    assert fake_engine.generate_calls == 0

    running = _job(persona, marketer, steps=6)
    fake_engine.steps_hook = lambda step: step == 3 and services.generation_job_cancel(
        actor=marketer, job_id=running.pk
    )
    worker.generation_job_run(job_id=running.pk)
    running.refresh_from_db()
    assert running.status == JobStatus.CANCELLED
    assert running.progress_step == 3
    assert not running.images.exists() and not Post.objects.exists()
    with pytest.raises(Conflict):
        services.generation_job_cancel(actor=marketer, job_id=running.pk)
