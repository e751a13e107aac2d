"""The persona page's training form: prior preservation as an option, whether the base model's class images are
cached or will be rendered first, a bad prior loss weight refused, and each version's prior-preservation cost."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from generation.library import services as base_models
from generation.models import ClassImageSet, ClassImagesStatus, JobStatus
from generation.training.class_image_selectors import class_set_key
from tests.factories import LoraVersionFactory, ReferenceImageFactory


@pytest.fixture
def persona_with_refs(persona):
    for _ in range(3):
        ReferenceImageFactory(persona=persona)
    return persona


def _page(client, marketer, persona) -> str:
    client.force_login(marketer)
    response = client.get(reverse("personas:detail", args=[persona.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_form_offers_prior_preservation_and_says_whether_class_images_are_cached(client, marketer, persona,
                                                                                      settings):
    settings.GENERATION_CLASS_IMAGES = 12
    tiny = base_models.base_model_default_ensure()
    content = _page(client, marketer, persona)
    assert 'name="prior_preservation"' in content and 'name="prior_loss_weight"' in content
    partial = reverse("generation:class_images_partial", args=[persona.pk])
    assert f'hx-get="{partial}" hx-trigger="load"' in content  # after the page: its query budget stays

    content = client.get(partial).content.decode()
    assert 'data-class-images="not-cached"' in content
    assert "The 12 class images" in content and "this run renders them first" in content

    ClassImageSet.objects.create(**class_set_key(base_model=tiny, resolution=64), status=ClassImagesStatus.READY,
                                 render_seconds=3.24, touched_at=timezone.now())
    content = client.get(partial).content.decode()
    assert 'data-class-images="cached"' in content
    assert "rendered once, in 3.2 s): this run reuses them" in content


def test_the_class_images_note_is_scoped_to_the_users_workspaces(client, outsider, persona):
    client.force_login(outsider)
    assert client.get(reverse("generation:class_images_partial", args=[persona.pk])).status_code == 404


def test_a_bad_prior_loss_weight_is_refused_and_nothing_is_queued(client, marketer, persona_with_refs):
    client.force_login(marketer)
    url = reverse("generation:lora_train", args=[persona_with_refs.pk])
    for weight in ("20", "0", "abc", "nan"):
        response = client.post(url, {"prior_preservation": "on", "prior_loss_weight": weight})
        assert response.status_code == 400, weight
        assert b"Prior loss weight must be" in response.content
    assert not persona_with_refs.lora_versions.exists()


def test_the_form_queues_a_run_with_prior_preservation(client, marketer, persona_with_refs, settings):
    settings.GENERATION_CLASS_IMAGES = 12
    client.force_login(marketer)
    url = reverse("generation:lora_train", args=[persona_with_refs.pk])
    response = client.post(url, {"prior_preservation": "on", "prior_loss_weight": "0.5"})
    assert response.status_code == 302
    version = persona_with_refs.lora_versions.get()
    assert version.hyperparameters["prior_preservation"] is True
    assert version.hyperparameters["prior_loss_weight"] == 0.5 and version.hyperparameters["num_class_images"] == 12
    # Unticked, the weight field is ignored and the run trains without class images.
    version.status = JobStatus.CANCELLED
    version.save(update_fields=["status"])
    client.post(url, {"prior_loss_weight": "0.5"})
    plain = persona_with_refs.lora_versions.get(version=2)
    assert plain.hyperparameters["prior_preservation"] is False and plain.hyperparameters["num_class_images"] == 0


def test_each_version_shows_what_prior_preservation_cost(client, marketer, persona):
    base = {"prior_preservation": True, "prior_loss_weight": 1.0, "num_class_images": 12, "class_image_set": 1,
            "training_seconds": 40.0, "prior_extra_training_seconds": 20.0}
    LoraVersionFactory(persona=persona, version=1, status=JobStatus.SUCCEEDED, hyperparameters={
        **base, "class_images_reused": False, "class_render_seconds": 31.5})
    LoraVersionFactory(persona=persona, version=2, status=JobStatus.SUCCEEDED, hyperparameters={
        **base, "class_images_reused": True, "class_render_seconds": 0.0})
    LoraVersionFactory(persona=persona, version=3, status=JobStatus.SUCCEEDED, hyperparameters={"rank": 4})
    content = _page(client, marketer, persona)
    assert content.count("data-prior-cost") == 2
    assert "rendered in 31.5 s" in content and "cached set reused (0 s rendering)" in content
    assert "about 20.0 s extra training (of 40.0 s)" in content


def test_a_running_version_says_it_renders_or_waits_for_class_images(client, marketer, persona):
    rendering = LoraVersionFactory(persona=persona, version=1, status=JobStatus.RUNNING,
                                   progress_stage="class_images", progress_step=4, total_steps=12)
    waiting = LoraVersionFactory(persona=persona, version=2, status=JobStatus.RUNNING,
                                 progress_stage="waiting_for_class_images", progress_step=0, total_steps=12)
    training = LoraVersionFactory(persona=persona, version=3, status=JobStatus.RUNNING,
                                  progress_stage="training", progress_step=7, total_steps=50)
    client.force_login(marketer)

    def partial(version) -> str:
        response = client.get(reverse("generation:lora_partial", args=[version.pk]))
        assert response.status_code == 200
        return response.content.decode()

    assert "generating class images: 4 / 12 rendered" in partial(rendering)
    assert "waiting for another run's class images (12)" in partial(waiting)
    assert "step 7 / 50" in partial(training) and "class images:" not in partial(training)
    content = _page(client, marketer, persona)
    assert "generating class images: 4 / 12 rendered" in content and "step 7 / 50" in content
