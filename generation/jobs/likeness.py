"""Likeness of generated images to their persona: every image of a job is scored against the persona's reference
profile on the default (CPU) queue after its render, so the GPU queue never waits on it. Scoring is idempotent
(an image is scored once; a redelivered task finds nothing pending). Drafting scores a job's images first and keeps
an off-model draft out of the review queue, with the reason, unless the persona opts out.

A persona that is not a human face gets "not applicable", never an error; a picture without a face, or with one
too small to judge, is reported as such, never as a likeness of zero.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterable

from PIL import Image

from core.dispatch import task_send
from generation.models import GeneratedImage, GenerationJob, LikenessStatus
from personas.identity import faces as identity
from personas.identity.backend import likeness_backend
from personas.identity.reference_qa import NOT_A_FACE_REASON, persona_threshold, reference_faces_refresh
from personas.models import FaceFinding, Persona

logger = logging.getLogger(__name__)

NO_REFERENCE_REASON = "the persona has no usable reference face to compare with"
_FACE_STATUS = {
    identity.FaceStatus.NO_FACE: LikenessStatus.NO_FACE,
    identity.FaceStatus.FACE_TOO_SMALL: LikenessStatus.FACE_TOO_SMALL,
    identity.FaceStatus.UNREADABLE: LikenessStatus.UNREADABLE,
}


def persona_profile(persona: Persona) -> tuple[list[float] | None, float]:
    """The persona's reference centroid (rebuilt first when it was made by another model, or references are
    still unchecked) and its on-model threshold."""
    backend = likeness_backend()
    stale = persona.face_backend != backend.name or persona.reference_images.filter(
        face_finding=FaceFinding.PENDING).exists()
    if stale and persona.reference_images.exists():
        reference_faces_refresh(persona=persona)
    return persona.face_centroid, persona_threshold(persona)


def picture_likeness(picture, *, persona: Persona, centroid, threshold: float) -> dict:
    """The likeness fields of one picture (a PIL image or bytes) against a profile: what GeneratedImage stores."""
    if not persona.is_human_face:
        return {"likeness_status": LikenessStatus.NOT_APPLICABLE, "likeness_reason": NOT_A_FACE_REASON,
                "likeness_score": None, "likeness_distance": None, "face_found": None, "on_model": None,
                "likeness_threshold": None, "likeness_backend": ""}
    backend = likeness_backend()
    analysis = identity.face_analyse(picture, backend=backend)
    result = identity.likeness(analysis, centroid, backend=backend, threshold=threshold)
    if result.score is not None:
        status = LikenessStatus.SCORED
    elif analysis.embedding is not None:
        status = LikenessStatus.NO_REFERENCE
    else:
        status = _FACE_STATUS.get(analysis.status, LikenessStatus.NO_FACE)
    return {
        "likeness_status": status, "likeness_reason": result.reason if status != LikenessStatus.NO_REFERENCE
        else NO_REFERENCE_REASON,
        "likeness_score": None if result.score is None else round(result.score, 4),
        "likeness_distance": None if result.distance is None else round(result.distance, 4),
        "face_found": result.face_found, "on_model": result.on_model, "likeness_threshold": threshold,
        "likeness_backend": backend.name,
    }


def _image_score(image: GeneratedImage, *, persona: Persona, centroid, threshold: float) -> dict:
    if not persona.is_human_face:
        return picture_likeness(None, persona=persona, centroid=None, threshold=threshold)
    try:
        with image.image.open("rb") as fh:
            data = fh.read()
    except OSError:
        logger.warning("Generated image %s could not be read for likeness", image.pk, exc_info=True)
        data = b""
    return picture_likeness(data, persona=persona, centroid=centroid, threshold=threshold)


def job_likeness_score(*, job_id: int, force: bool = False) -> int:
    """Score the job's images that are still pending (all of them with `force`); returns how many were scored.
    Each image is written only if it is still pending then, so two deliveries never score one image twice."""
    job = GenerationJob.objects.select_related("persona").filter(pk=job_id).first()
    if job is None:
        return 0
    images = job.images.all() if force else job.images.filter(likeness_status=LikenessStatus.PENDING)
    images = list(images.order_by("index"))
    if not images:
        return 0
    persona = job.persona
    centroid, threshold = persona_profile(persona) if persona.is_human_face else (None, 0.0)
    scored = 0
    for image in images:
        fields = _image_score(image, persona=persona, centroid=centroid, threshold=threshold)
        rows = GeneratedImage.objects.filter(pk=image.pk)
        if not force:
            rows = rows.filter(likeness_status=LikenessStatus.PENDING)
        scored += rows.update(**fields)
    return scored


def draft_hold_reason(*, persona: Persona, image: GeneratedImage) -> str:
    """Why a draft of `image` stays out of the review queue ("" when it goes to review): it is off-model and the
    persona holds off-model drafts. No face, or a face too small to judge, is not off-model: the badge says so."""
    if not persona.is_human_face or not persona.hold_off_model_drafts or image.on_model is not False:
        return ""
    return (f"off-model (likeness {image.likeness_score:.2f}, distance {image.likeness_distance:.2f} to the persona's "
            f"references; threshold {image.likeness_threshold:.2f}). Submit it for review by hand to override.")


def job_likeness_score_safely(*, job_id: int) -> None:
    """Drafting's first step: a likeness failure is logged and never costs a draft (its images stay pending)."""
    try:
        job_likeness_score(job_id=job_id)
    except Exception:
        logger.exception("Scoring the likeness of generation job %s failed", job_id)


# --- LoRA version report ---------------------------------------------------------------------------


def likeness_summary(rows: Iterable[dict]) -> dict:
    """Mean / min likeness over the pictures with a judged face, and the face-found rate. Pictures without a face
    count in the rate only: they are not a likeness of zero."""
    rows = list(rows)
    scores = [row["likeness_score"] for row in rows if row["likeness_score"] is not None]
    found = sum(1 for row in rows if row["face_found"])
    on_model = sum(1 for row in rows if row["on_model"])
    return {
        "images": len(rows),
        "faces_found": found,
        "face_found_rate": round(found / len(rows), 4) if rows else None,
        "scored": len(scores),
        "mean_likeness": round(statistics.fmean(scores), 4) if scores else None,
        "min_likeness": round(min(scores), 4) if scores else None,
        "on_model": on_model,
        "no_face": sum(1 for row in rows if row["likeness_status"] == LikenessStatus.NO_FACE),
    }


def version_report(
    *, persona: Persona, lora_pictures: list[Image.Image], base_pictures: list[Image.Image], prompts: list[dict]
) -> dict:
    """The likeness report of a LoRA version: its validation renders beside the base model's, prompt for prompt."""
    if not persona.is_human_face:
        return {"status": "not_applicable", "reason": NOT_A_FACE_REASON, "prompts": prompts}
    centroid, threshold = persona_profile(persona)
    lora_rows = [picture_likeness(p, persona=persona, centroid=centroid, threshold=threshold) for p in lora_pictures]
    base_rows = [picture_likeness(p, persona=persona, centroid=centroid, threshold=threshold) for p in base_pictures]

    def row(fields: dict) -> dict:
        return {k: (str(v) if k == "likeness_status" else v) for k, v in fields.items() if k != "likeness_backend"}

    return {
        "status": "scored" if centroid is not None else "no_reference",
        "reason": "" if centroid is not None else NO_REFERENCE_REASON,
        "threshold": threshold,
        "backend": likeness_backend().name,
        "prompts": prompts,
        "version": likeness_summary(lora_rows),
        "base_model": likeness_summary(base_rows),
        "images": [{"prompt": prompt, "version": row(lora), "base_model": row(base)}
                   for prompt, lora, base in zip(prompts, lora_rows, base_rows, strict=True)],
    }


def version_report_worse(*, candidate: dict, active: dict) -> str:
    """Why activating `candidate` would be a step back from `active` ("" when it is not, or cannot be told)."""
    new, old = (candidate or {}).get("version") or {}, (active or {}).get("version") or {}
    if new.get("mean_likeness") is None or old.get("mean_likeness") is None:
        return ""
    if new["mean_likeness"] < old["mean_likeness"]:
        return (f"its mean likeness {new['mean_likeness']:.2f} is below the active version's "
                f"{old['mean_likeness']:.2f}")
    if (new.get("face_found_rate") or 0) < (old.get("face_found_rate") or 0):
        return "it finds a face in fewer of its validation images than the active version"
    return ""


def on_commit_score(job_id: int) -> None:
    """Enqueue the likeness task after the current transaction commits (robust: a broker that is down never fails
    what was saved; the images stay pending and drafting scores them)."""
    task_send("generation.runtime.tasks.score_likeness", args=(job_id,), robust=True)
