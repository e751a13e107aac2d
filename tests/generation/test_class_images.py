"""Prior preservation's class images: one set per base model, rendered once and reused, never rendered twice at
once; a set shown as cached or not before training, and what it cost on the version after. Fake engine (fast):
the tiny-model run is in test_prior_preservation_worker.py."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.db import IntegrityError
from django.utils import timezone
from PIL import Image

from generation.engine import specs
from generation.library import services as base_models
from generation.models import ClassImage, ClassImageSet, ClassImagesStatus, JobStatus, LoraVersion, TrainingStage
from generation.training import class_images
from generation.training import runs as training_runs
from generation.training.class_image_selectors import class_images_plan, class_set_key
from tests.conftest import client_for
from tests.factories import GenerationJobFactory, PersonaFactory, ReferenceImageFactory
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures
from tests.generation.workflow_fixtures import _queued_version


@pytest.fixture
def few_class_images(settings):
    settings.GENERATION_CLASS_IMAGES = 3


@pytest.fixture
def tiny(db):
    return base_models.base_model_default_ensure()


def _ensure(base_model, engine, *, resolution=64, should_stop=lambda: False):
    return class_images.class_images_ensure(base_model=base_model, engine=engine, resolution=resolution,
                                            should_stop=should_stop)


def _stored(image_set) -> list[tuple[int, str]]:
    return list(image_set.images.order_by("index").values_list("pk", "sha256"))


def test_rendered_once_then_reused(tiny, fake_engine, few_class_images):
    first = _ensure(tiny, fake_engine)
    assert first.rendered and first.render_seconds >= 0 and len(first.images) == 3
    assert fake_engine.batches == [[1000], [1001], [1002]]  # seeds CLASS_IMAGE_SEED + i, one call per max_batch
    image_set = ClassImageSet.objects.get()
    assert image_set.status == ClassImagesStatus.READY and image_set.count == 3 and image_set.resolution == 64
    assert image_set.class_prompt == specs.CLASS_PROMPT and not image_set.claim
    for row in image_set.images.all():  # stored through the storage API, with their sha256
        with row.image.open("rb") as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == row.sha256
        assert row.image.name.startswith(f"base_models/{tiny.pk}/class_images/{image_set.pk}/")

    again = _ensure(tiny, fake_engine)
    assert not again.rendered and again.render_seconds == 0 and again.image_set.pk == image_set.pk
    assert len(fake_engine.batches) == 3  # nothing rendered
    assert [im.tobytes() for im in again.images] == [im.tobytes() for im in first.images]
    # Another resolution is another set.
    _ensure(tiny, fake_engine, resolution=72)
    assert ClassImageSet.objects.count() == 2


def test_a_set_key_exists_once(tiny, fake_engine, few_class_images):
    _ensure(tiny, fake_engine)
    with pytest.raises(IntegrityError):
        ClassImageSet.objects.create(**class_set_key(base_model=tiny, resolution=64), touched_at=timezone.now())


def test_a_set_another_attempt_renders_is_waited_for_not_rendered_twice(tiny, fake_engine, few_class_images,
                                                                         monkeypatch):
    tiny.sha256 = fake_engine.base_model_hash
    tiny.save(update_fields=["sha256"])
    other = ClassImageSet.objects.create(**class_set_key(base_model=tiny, resolution=64), claim="other-attempt",
                                         touched_at=timezone.now())
    waits = []

    def other_attempt_finishes(seconds):
        waits.append(seconds)
        pictures = [fake_engine.generate_batch([specs.GenerationRequest(
            prompt=specs.CLASS_PROMPT, negative_prompt="", seeds=[1000 + i], steps=2, guidance=7.0,
            scheduler="euler_a", width=64, height=64)])[0][0] for i in range(3)]
        class_images._store(other, token="other-attempt", pictures=pictures, seconds=4.5, engine=fake_engine)

    monkeypatch.setattr(class_images, "_sleep", other_attempt_finishes)
    calls_before = len(fake_engine.batches)
    found = _ensure(tiny, fake_engine)
    assert waits == [class_images.CLASS_WAIT_POLL_S]
    assert not found.rendered and found.image_set.pk == other.pk and len(found.images) == 3
    assert len(fake_engine.batches) == calls_before + 3  # only the other attempt's three renders
    other.refresh_from_db()
    assert other.status == ClassImagesStatus.READY and other.render_seconds == 4.5


def test_a_cancel_while_waiting_stops_the_run(tiny, fake_engine, few_class_images, monkeypatch):
    tiny.sha256 = fake_engine.base_model_hash
    tiny.save(update_fields=["sha256"])
    ClassImageSet.objects.create(**class_set_key(base_model=tiny, resolution=64), claim="other-attempt",
                                 touched_at=timezone.now())
    monkeypatch.setattr(class_images, "_sleep", lambda seconds: pytest.fail("waited although cancelled"))
    with pytest.raises(specs.EngineCancelled):
        _ensure(tiny, fake_engine, should_stop=lambda: True)
    assert not fake_engine.batches


def test_a_stale_claim_is_taken_over(tiny, fake_engine, few_class_images, monkeypatch):
    tiny.sha256 = fake_engine.base_model_hash
    tiny.save(update_fields=["sha256"])
    lost = timezone.now() - dt.timedelta(seconds=class_images.CLASS_RENDER_LEASE_S + 1)
    stale = ClassImageSet.objects.create(**class_set_key(base_model=tiny, resolution=64), claim="dead-worker",
                                         touched_at=lost)
    monkeypatch.setattr(class_images, "_sleep", lambda seconds: pytest.fail("waited for a dead attempt"))
    found = _ensure(tiny, fake_engine)
    assert found.rendered and found.image_set.pk == stale.pk
    stale.refresh_from_db()
    assert stale.status == ClassImagesStatus.READY and stale.images.count() == 3


def test_a_set_whose_file_is_gone_is_rendered_again(tiny, fake_engine, few_class_images):
    image_set = _ensure(tiny, fake_engine).image_set
    first_row = image_set.images.get(index=0)
    first_row.image.storage.delete(first_row.image.name)
    found = _ensure(tiny, fake_engine)
    assert found.rendered and found.image_set.pk == image_set.pk
    image_set.refresh_from_db()
    assert image_set.status == ClassImagesStatus.READY and image_set.images.count() == 3
    assert not ClassImage.objects.filter(pk=first_row.pk).exists()


def test_a_failed_render_leaves_the_set_failed_and_the_next_run_renders_it(tiny, fake_engine, few_class_images):
    fake_engine.fail_with = RuntimeError("CUDA out of memory")
    with pytest.raises(RuntimeError):
        _ensure(tiny, fake_engine, resolution=64)
    image_set = ClassImageSet.objects.get()
    assert image_set.status == ClassImagesStatus.FAILED and "out of memory" in image_set.error
    fake_engine.fail_with = None
    assert _ensure(tiny, fake_engine).rendered
    image_set.refresh_from_db()
    assert image_set.status == ClassImagesStatus.READY


def test_deleting_a_base_model_deletes_its_sets_and_files(superuser, fake_engine, few_class_images, after_commit):
    xl = base_models.base_model_register(actor=None, path="tiny-sdxl", name="Tiny XL", render_samples=False)
    image_set = _ensure(xl, fake_engine).image_set
    rows = list(image_set.images.all())
    storage = rows[0].image.storage
    assert all(storage.exists(row.image.name) for row in rows)
    with after_commit():
        base_models.base_model_delete(actor=superuser, base_model_id=xl.pk)
    assert not ClassImageSet.objects.exists() and not ClassImage.objects.exists()
    assert not any(storage.exists(row.image.name) for row in rows)


# --- the training run (fake engine) ----------------------------------------------------------------


def test_training_runs_reuse_the_base_models_set_and_record_the_cost(persona_with_refs, marketer, fake_engine,
                                                                     few_class_images, tiny):
    first = _queued_version(persona_with_refs, marketer)
    first.hyperparameters = {**first.hyperparameters, "prior_preservation": True, "prior_loss_weight": 0.5}
    first.base_model_entry = tiny
    first.save(update_fields=["hyperparameters", "base_model_entry"])
    training_runs.lora_training_run(lora_version_id=first.pk)
    first.refresh_from_db()
    assert first.status == JobStatus.SUCCEEDED, first.error
    image_set = ClassImageSet.objects.get()
    assert len(fake_engine.class_images) == 3
    hyper = first.hyperparameters
    assert hyper["class_image_set"] == image_set.pk and hyper["class_images_reused"] is False
    assert hyper["num_class_images"] == 3 and hyper["prior_loss_weight"] == 0.5
    assert hyper["class_render_seconds"] >= 0 and hyper["training_seconds"] >= 0
    assert hyper["prior_extra_training_seconds"] == pytest.approx(hyper["training_seconds"] / 2, abs=0.01)

    other = PersonaFactory(workspace=persona_with_refs.workspace, created_by=marketer)
    for _ in range(3):
        ReferenceImageFactory(persona=other)
    second = _queued_version(other, marketer)
    second.hyperparameters = {**second.hyperparameters, "prior_preservation": True}
    second.base_model_entry = tiny
    second.save(update_fields=["hyperparameters", "base_model_entry"])
    renders = len(fake_engine.batches)
    training_runs.lora_training_run(lora_version_id=second.pk)
    second.refresh_from_db()
    assert second.status == JobStatus.SUCCEEDED, second.error
    assert second.hyperparameters["class_images_reused"] is True
    assert second.hyperparameters["class_render_seconds"] == 0
    assert second.hyperparameters["class_image_set"] == image_set.pk
    # Only its reviewer samples were rendered, no class image.
    assert len(fake_engine.batches) - renders == 1 and ClassImageSet.objects.count() == 1

    body = client_for(marketer).get(f"/api/v1/lora-versions/{second.pk}/").json()
    cost = body["prior_preservation_cost"]
    assert cost["reused"] is True and cost["render_seconds"] == 0 and cost["class_images"] == 3


def test_training_without_prior_preservation_uses_no_class_images(persona_with_refs, marketer, fake_engine, tiny):
    version = _queued_version(persona_with_refs, marketer)
    training_runs.lora_training_run(lora_version_id=version.pk)
    version.refresh_from_db()
    assert version.status == JobStatus.SUCCEEDED
    assert fake_engine.class_images is None and not ClassImageSet.objects.exists()
    assert "class_image_set" not in version.hyperparameters
    body = client_for(marketer).get(f"/api/v1/lora-versions/{version.pk}/").json()
    assert body["prior_preservation_cost"] is None


def _prior_version(persona, marketer, base_model):
    version = _queued_version(persona, marketer)
    version.hyperparameters = {**version.hyperparameters, "prior_preservation": True}
    version.base_model_entry = base_model
    version.save(update_fields=["hyperparameters", "base_model_entry"])
    return version


def _progress(version) -> tuple[str, int, int]:
    return tuple(LoraVersion.objects.filter(pk=version.pk).values_list(
        "progress_stage", "progress_step", "total_steps").get())


def test_a_run_shows_its_class_images_being_rendered_then_its_training(persona_with_refs, marketer, fake_engine,
                                                                      few_class_images, tiny, monkeypatch):
    version = _prior_version(persona_with_refs, marketer, tiny)
    seen_rendering, seen_training = [], []
    render = fake_engine.generate_batch

    def renders_and_looks(requests, **kwargs):  # what the page reads while each pipeline call runs
        seen_rendering.append(_progress(version))
        return render(requests, **kwargs)

    train = fake_engine.train_lora

    def trains_and_looks(*, on_step, **kwargs):
        def step_and_look(step, total, loss):
            seen_training.append(_progress(version)[0])
            return on_step(step, total, loss)
        return train(on_step=step_and_look, **kwargs)

    monkeypatch.setattr(fake_engine, "generate_batch", renders_and_looks)
    monkeypatch.setattr(fake_engine, "train_lora", trains_and_looks)
    training_runs.lora_training_run(lora_version_id=version.pk)
    version.refresh_from_db()
    assert version.status == JobStatus.SUCCEEDED, version.error
    # One pipeline call per class image (max_batch 1), then the reviewer samples once the run has ended.
    assert seen_rendering[:3] == [("class_images", 0, 3), ("class_images", 1, 3), ("class_images", 2, 3)]
    assert seen_rendering[3:] == [("", 5, 5)]
    assert seen_training == ["training"] * 5
    assert version.progress_stage == TrainingStage.NONE and version.progress_step == version.total_steps == 5


def test_a_run_reusing_the_cached_set_never_shows_the_rendering_stage(persona_with_refs, marketer, fake_engine,
                                                                     few_class_images, tiny, monkeypatch):
    tiny.sha256 = fake_engine.base_model_hash  # the set key names the weights the worker loads
    tiny.save(update_fields=["sha256"])
    class_images.class_images_ensure(base_model=tiny, engine=fake_engine, resolution=64, should_stop=lambda: False)
    version = _prior_version(persona_with_refs, marketer, tiny)
    stages = []
    stage_set = training_runs._stage_set
    monkeypatch.setattr(training_runs, "_stage_set", lambda pk, stage, done, total: (
        stages.append((stage, done, total)), stage_set(pk, stage, done, total)))
    training_runs.lora_training_run(lora_version_id=version.pk)
    version.refresh_from_db()
    assert version.status == JobStatus.SUCCEEDED and version.hyperparameters["class_images_reused"] is True
    assert stages == [(TrainingStage.TRAINING, 0, 5)]


def test_a_run_waiting_for_another_runs_set_says_so(persona_with_refs, marketer, fake_engine, few_class_images, tiny,
                                                   monkeypatch):
    tiny.sha256 = fake_engine.base_model_hash
    tiny.save(update_fields=["sha256"])
    other = ClassImageSet.objects.create(**class_set_key(base_model=tiny, resolution=64), claim="other-attempt",
                                         touched_at=timezone.now())
    version = _prior_version(persona_with_refs, marketer, tiny)
    seen = []

    def other_attempt_finishes_on_the_second_poll(seconds):
        seen.append(_progress(version))
        if len(seen) == 2:
            pictures = [Image.new("RGB", (64, 64)) for _ in range(3)]
            class_images._store(other, token="other-attempt", pictures=pictures, seconds=1.0, engine=fake_engine)

    monkeypatch.setattr(class_images, "_sleep", other_attempt_finishes_on_the_second_poll)
    training_runs.lora_training_run(lora_version_id=version.pk)
    version.refresh_from_db()
    assert version.status == JobStatus.SUCCEEDED, version.error
    assert seen == [("waiting_for_class_images", 0, 3)] * 2
    assert version.hyperparameters["class_images_reused"] is True


def test_a_cancel_while_rendering_class_images_leaves_no_class_image_progress(persona_with_refs, marketer,
                                                                              fake_engine, few_class_images, tiny):
    version = _prior_version(persona_with_refs, marketer, tiny)
    fake_engine.steps_hook = lambda step: LoraVersion.objects.filter(pk=version.pk).update(cancel_requested=True)
    training_runs.lora_training_run(lora_version_id=version.pk)
    version.refresh_from_db()
    assert version.status == JobStatus.CANCELLED and len(fake_engine.batches) == 1
    assert (version.progress_stage, version.progress_step, version.total_steps) == ("", 0, 5)


# --- before training: cached or not (API) ----------------------------------------------------------


def test_the_api_says_whether_the_class_images_are_cached(persona, marketer, outsider, fake_engine,
                                                          few_class_images, tiny):
    url = f"/api/v1/personas/{persona.pk}/class-images/"
    client = client_for(marketer)
    body = client.get(url, {"resolution": 64}).json()
    assert body["cached"] is False and body["count"] == 3 and body["resolution"] == 64
    assert body["base_model"] == tiny.pk and body["estimated_seconds"] is None  # nothing measured yet

    rendered = _ensure(tiny, fake_engine).image_set
    ClassImageSet.objects.filter(pk=rendered.pk).update(render_seconds=6.0)
    body = client.get(url, {"resolution": 64}).json()
    assert body["cached"] is True and body["class_image_set"] == rendered.pk
    assert body["render_seconds"] == 6.0 and body["estimated_seconds"] == 0.0
    # Another resolution is not cached; its estimate scales the measured set: 4x the pixels, 2 s an image.
    body = client.get(url, {"resolution": 128}).json()
    assert body["cached"] is False and body["estimated_seconds"] == pytest.approx(24.0)
    assert "class image set" in body["estimated_from"]

    assert client.get(url, {"resolution": 8}).status_code == 400
    assert client_for(outsider).get(url).status_code == 404


def test_the_plan_estimates_from_the_reviewer_samples_before_any_set(tiny, persona, few_class_images):
    now = timezone.now()
    GenerationJobFactory(persona=persona, base_model_entry=tiny, is_sample=True, status=JobStatus.SUCCEEDED,
                         num_variants=2, steps=20, width=64, height=64, started_at=now - dt.timedelta(seconds=8),
                         finished_at=now)
    plan = class_images_plan(base_model=tiny, resolution=64)
    # 8 s for 2 images of 20 steps: 0.2 s a step; 3 images of CLASS_IMAGE_STEPS steps.
    assert plan["estimated_seconds"] == pytest.approx(0.2 * specs.CLASS_IMAGE_STEPS * 3)
    assert plan["estimated_from"] == "the reviewer samples of this model"


def test_prior_preservation_is_a_training_option_of_the_api(persona_with_refs, marketer, few_class_images):
    url = f"/api/v1/personas/{persona_with_refs.pk}/lora-versions/"
    client = client_for(marketer)
    for weight in (0, 50, -1):
        response = client.post(url, {"prior_preservation": True, "prior_loss_weight": weight}, format="json")
        assert response.status_code == 400 and "prior_loss_weight" in response.json()["extra"]["fields"]
    assert not persona_with_refs.lora_versions.exists()

    response = client.post(url, {"prior_preservation": True, "prior_loss_weight": 0.5, "steps": 10}, format="json")
    assert response.status_code == 201, response.json()
    hyper = response.json()["hyperparameters"]
    assert hyper["prior_preservation"] is True and hyper["prior_loss_weight"] == 0.5
    assert hyper["num_class_images"] == 3  # what the run will train with


def test_the_service_refuses_a_prior_loss_weight_out_of_range(persona_with_refs, marketer):
    from core.errors import ValidationFailed
    from generation import services

    with pytest.raises(ValidationFailed, match="prior_loss_weight must be between"):
        services.lora_training_start(actor=marketer, persona=persona_with_refs, prior_preservation=True,
                                     prior_loss_weight=20.0)
    assert not persona_with_refs.lora_versions.exists()


def test_the_admin_shows_a_models_class_image_sets(client, superuser, tiny, fake_engine, few_class_images):
    image_set = _ensure(tiny, fake_engine).image_set
    ClassImageSet.objects.filter(pk=image_set.pk).update(render_seconds=12.5)
    client.force_login(superuser)
    page = client.get(f"/admin/generation/basemodel/{tiny.pk}/change/")
    assert page.status_code == 200
    assert b"Class image sets" in page.content and b"12.5" in page.content
