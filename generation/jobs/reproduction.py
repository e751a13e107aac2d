"""Reproduce: render a generated image again from its record and say honestly how the result compares with the stored
file ("identical", or "differs in N pixels, max Δ"). Requests come from the API and the job page; the re-render runs
on a GPU worker (generation.runtime.tasks.reproduce_image), never in the web process.

Byte-identical output holds for the same device class, dtype and torch / diffusers / peft versions (recorded with
each image as its `environment`); elsewhere small pixel differences are expected, and the check reports them.
"""

from __future__ import annotations

import io
import logging

import numpy as np
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from PIL import Image

from core.access import AUTHOR_ROLES
from core.dispatch import task_send
from generation.models import GeneratedImage, JobStatus, ReproductionCheck
from generation.selectors import generated_image_get
from generation.transitions import FINISHED, error_text
from personas.selectors import role_require

logger = logging.getLogger(__name__)


def reproduction_check_request(*, actor: AbstractBaseUser, image_id: int) -> ReproductionCheck:
    """Queue a re-render of an image of the actor's workspace (another workspace's: 404) on the gpu queue."""
    image = generated_image_get(user=actor, image_id=image_id)
    role_require(user=actor, workspace_id=image.job.persona.workspace_id, roles=AUTHOR_ROLES,
                 not_found="Generated image not found.")
    with transaction.atomic():
        check = ReproductionCheck.objects.create(image=image, requested_by=actor)
        task_send("generation.runtime.tasks.reproduce_image", args=(check.pk,))
    return check


def pixel_comparison(stored: bytes, rendered: bytes) -> tuple[bool, int, int]:
    """(identical bytes, pixels that differ, largest channel difference)."""
    if stored == rendered:
        return True, 0, 0
    with Image.open(io.BytesIO(stored)) as a, Image.open(io.BytesIO(rendered)) as b:
        left = np.asarray(a.convert("RGB"), dtype=np.int16)
        right = np.asarray(b.convert("RGB"), dtype=np.int16)
    if left.shape != right.shape:
        return False, int(max(left.shape[0] * left.shape[1], right.shape[0] * right.shape[1])), 255
    diff = np.abs(left - right).max(axis=2)
    return False, int((diff > 0).sum()), int(diff.max())


def reproduction_check_run(*, check_id: int) -> ReproductionCheck | None:
    """Task body (gpu queue): re-render and compare. Idempotent: a finished check is left alone."""
    from generation.engine.entries import engine_for
    from generation.jobs.render import generated_image_reproduce

    with transaction.atomic():
        check = ReproductionCheck.objects.select_for_update().filter(pk=check_id).first()
        if check is None or check.status in FINISHED:
            return check
        check.status = JobStatus.RUNNING
        check.save(update_fields=["status"])
    image = GeneratedImage.objects.select_related("job", "job__lora_version", "job__persona",
                                                  "job__base_model_entry").get(pk=check.image_id)
    values: dict = {"finished_at": timezone.now()}
    try:
        engine = engine_for(image.job.base_model_entry)  # the model that rendered it
        rendered = generated_image_reproduce(generated_image=image)
        with image.image.open("rb") as fh:
            stored = fh.read()
        identical, pixels, delta = pixel_comparison(stored, rendered)
        values.update(status=JobStatus.SUCCEEDED, identical=identical, differing_pixels=pixels, max_delta=delta,
                      environment=engine.environment(), error="")
    except Exception as exc:
        logger.exception("Reproducing generated image %s failed", image.pk)
        values.update(status=JobStatus.FAILED, error=error_text(exc))
    with transaction.atomic():
        check = ReproductionCheck.objects.select_for_update().get(pk=check_id)
        if check.status != JobStatus.RUNNING:
            return check
        for name, value in values.items():
            setattr(check, name, value)
        check.save(update_fields=list(values))
    return check
