"""Reads of prior preservation's cost: before a training run, whether the class images of the persona's base model
are cached or will be rendered first (and about how long that takes); after it, what the run spent."""

from __future__ import annotations

from django.conf import settings

from generation.engine import specs
from generation.models import BaseModel, ClassImageSet, ClassImagesStatus, GenerationJob, JobStatus, LoraVersion
from generation.selectors import base_model_family, persona_base_model
from personas.models import Persona


def class_image_count() -> int:
    return max(1, int(getattr(settings, "GENERATION_CLASS_IMAGES", 100)))


def class_set_key(*, base_model: BaseModel, resolution: int) -> dict:
    """What identifies a set: the model and its weights, the prompt, the (multiple-of-8) size, count and seeds."""
    return {"base_model": base_model, "base_model_sha256": base_model.sha256, "class_prompt": specs.CLASS_PROMPT,
            "resolution": resolution - resolution % 8, "count": class_image_count(), "seed": specs.CLASS_IMAGE_SEED,
            "steps": specs.CLASS_IMAGE_STEPS}


def _estimate(base_model: BaseModel, *, count: int, side: int) -> tuple[float | None, str]:
    """Seconds to render `count` class images of `side` px on this model, scaled by pixels and steps from what it
    last measured: its last rendered set, else its last reviewer samples (rendered right after a training run)."""
    last = (ClassImageSet.objects.filter(base_model=base_model, status=ClassImagesStatus.READY, render_seconds__gt=0)
            .order_by("-finished_at", "-id").first())
    if last is not None:
        per_image = last.render_seconds / last.count * (side * side) / (last.resolution ** 2) * (
            specs.CLASS_IMAGE_STEPS / last.steps)
        return round(per_image * count, 1), "the last class image set of this model"
    job = (GenerationJob.objects.filter(base_model_entry=base_model, is_sample=True, status=JobStatus.SUCCEEDED,
                                        started_at__isnull=False, finished_at__isnull=False)
           .order_by("-finished_at", "-id").first())
    if job is not None and job.image_count and job.steps:
        seconds = (job.finished_at - job.started_at).total_seconds()
        per_image_step = seconds / job.image_count / job.steps * (side * side) / (job.width * job.height)
        return round(per_image_step * specs.CLASS_IMAGE_STEPS * count, 1), "the reviewer samples of this model"
    return None, ""


def class_images_plan(*, base_model: BaseModel | None, resolution: int) -> dict:
    """Whether a training run with prior preservation at `resolution` finds its class images cached on this base
    model or renders them first, with the measured or estimated seconds."""
    count, side = class_image_count(), resolution - resolution % 8
    plan = {"base_model": base_model.pk if base_model else None, "base_model_name": base_model.name if base_model
            else "", "class_prompt": specs.CLASS_PROMPT, "count": count, "resolution": side, "cached": False,
            "class_image_set": None, "render_seconds": None, "estimated_seconds": None, "estimated_from": ""}
    if base_model is None:
        return plan
    ready = ClassImageSet.objects.filter(**class_set_key(base_model=base_model, resolution=side),
                                         status=ClassImagesStatus.READY).first()
    if ready is not None:
        return {**plan, "cached": True, "class_image_set": ready.pk, "render_seconds": ready.render_seconds,
                "estimated_seconds": 0.0, "estimated_from": "cached: reused without rendering"}
    estimate, source = _estimate(base_model, count=count, side=side)
    return {**plan, "estimated_seconds": estimate, "estimated_from": source}


def persona_class_images_plan(*, persona: Persona, resolution: int | None = None) -> dict:
    """class_images_plan for the persona's base model, at its family's training resolution unless given."""
    base_model = persona_base_model(persona=persona)
    if resolution is None:
        defaults = base_model_family(base_model).training_defaults if base_model else {}
        resolution = int(defaults.get("resolution", specs.TrainingConfig().resolution))
    return class_images_plan(base_model=base_model, resolution=resolution)


def lora_version_prior_cost(version: LoraVersion) -> dict | None:
    """What prior preservation cost a version (None when it trained without it): the class images it used, whether
    the cached set was reused, the seconds spent rendering them (0 when reused) and the extra training time."""
    hyper = version.hyperparameters or {}
    if not hyper.get("prior_preservation"):
        return None
    return {
        "prior_loss_weight": hyper.get("prior_loss_weight"),
        "class_images": hyper.get("num_class_images"),
        "class_image_set": hyper.get("class_image_set"),
        "reused": hyper.get("class_images_reused"),
        "render_seconds": hyper.get("class_render_seconds"),
        "training_seconds": hyper.get("training_seconds"),
        "extra_training_seconds": hyper.get("prior_extra_training_seconds"),
    }
