"""Reference QA and the persona's face profile: every reference photo of a human-face persona gets an embedding and
a finding (usable, no face, several faces, face too small, a different person); the usable ones' centroid is what
generated images are compared with. Training needs enough usable faces.

The analysis (dlib, about 0.3 s a photo) runs outside any row lock; only the profile rebuild holds the persona's.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from core.errors import ValidationFailed
from personas.identity import faces as identity
from personas.identity.backend import default_threshold, likeness_backend
from personas.models import FaceFinding, Persona, ReferenceImage

logger = logging.getLogger(__name__)

NOT_A_FACE_REASON = "the persona is marked as not a human face: likeness does not apply"


def persona_threshold(persona: Persona) -> float:
    """The persona's on-model distance threshold: its own, else the configured default (the model's own)."""
    return float(persona.likeness_threshold) if persona.likeness_threshold is not None else default_threshold()


def _analyse(reference: ReferenceImage, backend: identity.IdentityBackend) -> None:
    """Embed one reference (not saved here). A file that cannot be read is a finding, never an exception."""
    try:
        with reference.image.open("rb") as fh:
            data = fh.read()
    except OSError:
        logger.warning("Reference image %s could not be read for QA", reference.pk, exc_info=True)
        reference.face_finding, reference.face_reason = FaceFinding.UNREADABLE, "the stored file cannot be read"
        reference.face_embedding, reference.face_px, reference.face_backend = None, 0, backend.name
        return
    analysis = identity.face_analyse(data, backend=backend, min_face_px=settings.LIKENESS_REFERENCE_MIN_FACE_PX)
    reference.face_px = analysis.face_px
    reference.face_backend = backend.name
    # Only a photo with exactly one face shapes the profile; usable / outlier is decided with the others.
    reference.face_embedding = list(analysis.embedding) if analysis.status == identity.FaceStatus.OK else None
    if analysis.status == identity.FaceStatus.OK:
        reference.face_finding, reference.face_reason = FaceFinding.PENDING, ""
    elif analysis.status == identity.FaceStatus.SEVERAL_FACES:
        reference.face_finding = FaceFinding.SEVERAL_FACES
        reference.face_reason = f"{analysis.face_count} faces are in the photo; crop it to the persona's face"
    else:
        reference.face_finding, reference.face_reason = FaceFinding(str(analysis.status)), analysis.reason
    reference.face_distance = None


def reference_faces_refresh(*, persona: Persona) -> Persona:
    """Analyse the persona's references that have not been (or were by another model), then rebuild its profile:
    which usable faces agree, which one is a different person, and their centroid. Idempotent."""
    if not persona.is_human_face:
        with transaction.atomic():
            locked = Persona.objects.select_for_update().get(pk=persona.pk)
            locked.reference_images.exclude(face_finding=FaceFinding.NOT_APPLICABLE).update(
                face_finding=FaceFinding.NOT_APPLICABLE, face_reason=NOT_A_FACE_REASON, face_distance=None
            )
            if locked.face_centroid is not None:
                locked.face_centroid, locked.face_backend = None, ""
                locked.save(update_fields=["face_centroid", "face_backend"])
        persona.face_centroid, persona.face_backend = None, ""
        return persona

    backend = likeness_backend()
    stale = ReferenceImage.objects.filter(persona=persona).exclude(face_backend=backend.name)
    stale = stale | ReferenceImage.objects.filter(persona=persona, face_finding=FaceFinding.NOT_APPLICABLE)
    for reference in stale.distinct():
        _analyse(reference, backend)
        ReferenceImage.objects.filter(pk=reference.pk).update(
            face_finding=reference.face_finding, face_reason=reference.face_reason,
            face_embedding=reference.face_embedding, face_px=reference.face_px, face_backend=reference.face_backend,
            face_distance=None,
        )

    # "A different person" is the model's question, not the persona's on-model bar: a strict threshold for drafts
    # must not turn the persona's own photos into outliers.
    threshold = default_threshold()
    with transaction.atomic():
        locked = Persona.objects.select_for_update().get(pk=persona.pk)
        if not locked.is_human_face:  # changed meanwhile
            return reference_faces_refresh(persona=locked)
        candidates = list(
            locked.reference_images.filter(face_backend=backend.name, face_embedding__isnull=False).order_by("pk")
        )
        assessment = identity.references_assess(
            [identity.FaceAnalysis(status=identity.FaceStatus.OK, reason="", embedding=tuple(r.face_embedding))
             for r in candidates],
            backend=backend, threshold=threshold,
        )
        for reference, check in zip(candidates, assessment.checks, strict=True):
            finding = FaceFinding(str(check.finding))
            distance = None if check.distance is None else round(float(check.distance), 4)
            if (reference.face_finding, reference.face_reason, reference.face_distance) != (
                finding, check.reason, distance
            ):
                ReferenceImage.objects.filter(pk=reference.pk).update(
                    face_finding=finding, face_reason=check.reason, face_distance=distance
                )
        centroid = list(assessment.profile.centroid) if assessment.profile.centroid is not None else None
        locked.face_centroid, locked.face_backend = centroid, backend.name if centroid is not None else ""
        locked.save(update_fields=["face_centroid", "face_backend"])
    persona.face_centroid, persona.face_backend = locked.face_centroid, locked.face_backend
    return persona


def training_faces_require(*, persona: Persona) -> None:
    """Refuse training of a human-face persona with too few usable reference faces, naming each problem photo."""
    if not persona.is_human_face:
        return
    backend = likeness_backend()
    references = persona.reference_images.all()
    if references.filter(face_finding=FaceFinding.PENDING).exists() or references.exclude(
        face_backend=backend.name
    ).exists():
        reference_faces_refresh(persona=persona)
    needed = settings.LIKENESS_MIN_REFERENCE_FACES
    usable = references.filter(face_finding=FaceFinding.USABLE).count()
    if usable >= needed:
        return
    problems = [
        f"{r.original_filename or r.image.name}: {r.face_reason}"
        for r in references.exclude(face_finding=FaceFinding.USABLE).order_by("created_at", "id")
    ]
    raise ValidationFailed(
        f"Training needs at least {needed} reference photos showing {persona.name}'s face clearly; {usable} "
        f"{'is' if usable == 1 else 'are'} usable. Replace or add photos"
        + (f" ({'; '.join(problems[:10])})." if problems else "."),
        code="not_enough_usable_faces",
        extra={"usable_faces": usable, "needed": needed, "problems": problems},
    )
