"""Prior preservation on the real worker path with the tiny models: the first training run on a base model renders
and stores its class images and records the cost, later runs on it reuse them (no render, cost 0), another base
model gets its own set, and a run without the option uses none."""

from __future__ import annotations

import hashlib

import pytest

from generation import selectors, services
from generation.engine import specs
from generation.library import services as base_models
from generation.models import ClassImageSet, ClassImagesStatus, JobStatus
from generation.training import runs as training_runs
from generation.training import trainer as training
from tests.factories import PersonaFactory, ReferenceImageFactory
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures

pytestmark = pytest.mark.slow


@pytest.fixture
def class_renders(settings, monkeypatch) -> list[list[int]]:
    """Few, quick class images and reviewer samples; records the seeds of every class-image render."""
    settings.GENERATION_CLASS_IMAGES = 2
    monkeypatch.setattr(specs, "CLASS_IMAGE_STEPS", 2)
    monkeypatch.setattr(training_runs, "SAMPLE_STEPS", 2)
    monkeypatch.setattr(training_runs, "SAMPLE_COUNT", 1)
    renders: list[list[int]] = []
    real = training.generate_class_images

    def recording(engine, **kwargs):
        renders.append(list(kwargs["seeds"]))
        return real(engine, **kwargs)

    monkeypatch.setattr(training, "generate_class_images", recording)
    return renders


def _persona_with_refs(workspace, marketer):
    persona = PersonaFactory(workspace=workspace, created_by=marketer)
    for _ in range(3):
        ReferenceImageFactory(persona=persona)
    return persona


def _train(after_commit, marketer, persona, **options):
    with after_commit():
        version = services.lora_training_start(actor=marketer, persona=persona, steps=2, **options)
    version.refresh_from_db()
    assert version.status == JobStatus.SUCCEEDED, version.error
    return version


def _stored(image_set) -> list[tuple[int, str]]:
    rows = list(image_set.images.order_by("index"))
    for row in rows:
        with row.image.open("rb") as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == row.sha256
    return [(row.pk, row.sha256) for row in rows]


def test_class_images_are_rendered_once_per_base_model_and_reused(workspace, marketer, after_commit, fresh_pool,
                                                                 class_renders, settings):
    settings.GENERATION_MAX_LOADED_MODELS = 2
    sd = selectors.base_model_default()
    first_persona, second_persona = _persona_with_refs(workspace, marketer), _persona_with_refs(workspace, marketer)

    first = _train(after_commit, marketer, first_persona, prior_preservation=True, prior_loss_weight=0.5)
    image_set = ClassImageSet.objects.get()
    assert image_set.base_model == sd and image_set.status == ClassImagesStatus.READY
    assert image_set.base_model_sha256 == first.base_model_sha256 != ""
    assert sorted(seed for seeds in class_renders for seed in seeds) == [1000, 1001]
    stored = _stored(image_set)
    assert len(stored) == 2 and image_set.render_seconds > 0
    hyper = first.hyperparameters
    assert hyper["prior_preservation"] is True and hyper["prior_loss_weight"] == 0.5
    assert hyper["num_class_images"] == 2 and hyper["class_image_set"] == image_set.pk
    assert hyper["class_images_reused"] is False and hyper["class_render_seconds"] > 0
    assert hyper["training_seconds"] > 0 and hyper["prior_extra_training_seconds"] > 0

    # Another persona on the same model: the stored set, nothing rendered.
    second = _train(after_commit, marketer, second_persona, prior_preservation=True)
    assert sum(len(seeds) for seeds in class_renders) == 2
    assert ClassImageSet.objects.count() == 1 and _stored(image_set) == stored
    assert second.hyperparameters["class_images_reused"] is True
    assert second.hyperparameters["class_render_seconds"] == 0
    assert second.hyperparameters["class_image_set"] == image_set.pk

    # Without the option: no class images at all.
    third = _train(after_commit, marketer, first_persona)
    assert third.hyperparameters["prior_preservation"] is False and third.hyperparameters["num_class_images"] == 0
    assert "class_image_set" not in third.hyperparameters
    assert sum(len(seeds) for seeds in class_renders) == 2 and ClassImageSet.objects.count() == 1

    # Another base model renders a set of its own; the first model's stays as it was.
    xl = base_models.base_model_register(actor=None, path="tiny-sdxl", name="Tiny XL", render_samples=False)
    base_models.persona_base_model_set(actor=marketer, persona=second_persona, base_model_id=xl.pk)
    on_xl = _train(after_commit, marketer, second_persona, prior_preservation=True)
    xl_set = ClassImageSet.objects.get(base_model=xl)
    assert xl_set.pk != image_set.pk and xl_set.status == ClassImagesStatus.READY
    assert on_xl.hyperparameters["class_image_set"] == xl_set.pk
    assert on_xl.hyperparameters["class_images_reused"] is False
    assert sum(len(seeds) for seeds in class_renders) == 4
    assert {sha for _, sha in _stored(xl_set)}.isdisjoint({sha for _, sha in stored})
    assert _stored(image_set) == stored
