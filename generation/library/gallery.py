"""A base model's sample gallery, rendered on a GPU worker at registration: fixed prompts and seeds, so the cards
of two models compare like for like. Worker side (loads the engine); the request is generation.library.services'."""

from __future__ import annotations

import hashlib
import logging

from django.core.files.base import ContentFile
from django.db import transaction

from generation.engine import specs
from generation.engine.entries import engine_for
from generation.models import BaseModel, BaseModelSample, SamplesStatus
from generation.transitions import error_text

logger = logging.getLogger(__name__)

# (prompt, seed): a portrait, a product and a scene, what a persona's feed is made of.
SAMPLE_PROMPTS = (
    ("portrait photo of a young woman, natural window light, 50mm", 101),
    ("product photo of a ceramic coffee cup on a marble table", 202),
    ("a city street at golden hour, people walking, candid photo", 303),
)
SAMPLE_STEPS = 20
SAMPLE_GUIDANCE = 7.0
SAMPLE_SCHEDULER = "dpmpp_2m_karras"


def _samples_status(base_model_id: int, status: str, error: str = "") -> None:
    BaseModel.objects.filter(pk=base_model_id).update(samples_status=status, samples_error=error)


def base_model_samples_render(*, base_model_id: int) -> BaseModel | None:
    """Task body: render the gallery of a model whose samples are queued (or were interrupted while rendering).
    Idempotent: a finished gallery is left alone; a rendered one replaces the previous samples at once."""
    with transaction.atomic():
        entry = BaseModel.objects.select_for_update().filter(pk=base_model_id).first()
        if entry is None or entry.samples_status not in (SamplesStatus.QUEUED, SamplesStatus.RUNNING):
            return entry
        entry.samples_status = SamplesStatus.RUNNING
        entry.save(update_fields=["samples_status"])
    try:
        engine = engine_for(entry)
        size = entry.native_size
        pictures = [
            engine.generate(specs.GenerationRequest(
                prompt=prompt, negative_prompt=specs.DEFAULT_NEGATIVE_PROMPT, seeds=[seed], steps=SAMPLE_STEPS,
                guidance=SAMPLE_GUIDANCE, scheduler=SAMPLE_SCHEDULER, width=size, height=size))[0]
            for prompt, seed in SAMPLE_PROMPTS
        ]
    except Exception as exc:
        logger.exception("Rendering the samples of base model %s failed", base_model_id)
        _samples_status(base_model_id, SamplesStatus.FAILED, error_text(exc))
        return BaseModel.objects.filter(pk=base_model_id).first()
    storage = BaseModelSample._meta.get_field("image").storage
    saved: list[str] = []
    old: list[str] = []
    try:
        with transaction.atomic():
            entry = BaseModel.objects.select_for_update().filter(pk=base_model_id).first()
            if entry is None or entry.samples_status != SamplesStatus.RUNNING:
                return entry
            old = [sample.image.name for sample in entry.samples.all()]
            entry.samples.all().delete()
            for index, ((prompt, seed), picture) in enumerate(zip(SAMPLE_PROMPTS, pictures, strict=True)):
                record = {"prompt": prompt, "negative_prompt": specs.DEFAULT_NEGATIVE_PROMPT, "seed": seed,
                          "steps": SAMPLE_STEPS, "guidance": SAMPLE_GUIDANCE, "scheduler": SAMPLE_SCHEDULER,
                          "width": picture.width, "height": picture.height, "base_model": entry.name,
                          "base_model_hash": engine.base_model_hash}
                data = specs.png_bytes_with_parameters(picture, record=record)
                sample = BaseModelSample(
                    base_model=entry, index=index, sha256=hashlib.sha256(data).hexdigest(), prompt=prompt,
                    negative_prompt=specs.DEFAULT_NEGATIVE_PROMPT, seed=seed, steps=SAMPLE_STEPS,
                    guidance=SAMPLE_GUIDANCE, scheduler=SAMPLE_SCHEDULER, base_model_hash=engine.base_model_hash,
                )
                sample.image.save(f"sample-{index + 1}-seed{seed}.png", ContentFile(data), save=False)
                sample.width, sample.height = picture.width, picture.height  # the file assignment resets them
                saved.append(sample.image.name)
                sample.save()
            entry.samples_status, entry.samples_error = SamplesStatus.READY, ""
            entry.save(update_fields=["samples_status", "samples_error"])
    except Exception as exc:
        logger.exception("Saving the samples of base model %s failed", base_model_id)
        for name in saved:
            storage.delete(name)
        _samples_status(base_model_id, SamplesStatus.FAILED, error_text(exc))
        return BaseModel.objects.filter(pk=base_model_id).first()
    for name in old:
        storage.delete(name)
    return entry
