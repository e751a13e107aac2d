"""Generation jobs made from a post's image: img2img borrows the picture, inpaint repaints part of it and the
result becomes the post's image at that position as a new version (the old one kept: scheduler.posts.versions).
The job itself knows nothing of posts; a PostImageJob row records which post image it came from."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from core.errors import ValidationFailed
from generation.jobs.inputs import StoredSource, stored_bytes
from generation.models import GenerationJob, GenerationMode
from generation.services import generation_job_prepare, generation_job_queue
from personas.models import Persona
from scheduler.models import Post, PostImageJob
from scheduler.posts.versions import REPLACEABLE_STATUSES
from scheduler.selectors import post_get
from scheduler.services import post_lock

POST_SOURCE_MODES = (GenerationMode.IMG2IMG, GenerationMode.INPAINT)


def post_image_job_create(
    *,
    actor: AbstractBaseUser,
    post_id: int,
    position: int = 0,
    mode: str,
    scene: str,
    platform: str | None = None,
    persona: Persona | None = None,
    num_variants: int | None = None,
    strength: float | None = None,
    mask=None,
    **job_params: Any,
) -> GenerationJob:
    """Queue a job rendering from post `post_id`'s image at `position` (a post of another workspace: 404), with the
    job and its PostImageJob row in one transaction. `persona`, when the caller names one, must be the post's.
    inpaint makes one new version of the image (num_variants 1), only of a post not yet approved. `platform`
    defaults to the post's; `job_params` are generation_job_prepare's other settings (seed, steps, upscale...)."""
    post = post_get(user=actor, post_id=post_id)
    if persona is not None and post.persona_id != persona.pk:
        raise ValidationFailed(f"Post {post.pk} is of another persona.", code="invalid_source")
    if mode not in POST_SOURCE_MODES:
        raise ValidationFailed(f"A post's image is the source of an img2img or inpaint job, not {mode}.")
    current = next((image for image in post.images.all() if image.position == position), None)
    if current is None:
        raise ValidationFailed(f"Post {post.pk} has no image at position {position}.", code="invalid_source")
    replaces = mode == GenerationMode.INPAINT
    if replaces:
        if post.status not in REPLACEABLE_STATUSES:
            raise _not_replaceable(post)
        if num_variants is None:
            num_variants = 1
        elif num_variants != 1:
            raise ValidationFailed("Inpainting a post's image makes one new version of it: num_variants must be 1.")
    # Read and stored before the transaction: no storage call while it is open.
    request = generation_job_prepare(
        actor=actor, persona=post.persona, scene=scene, platform=platform or post.platform, mode=mode,
        num_variants=num_variants, strength=strength, mask=mask,
        stored_source=StoredSource(content=stored_bytes(current.image), generated_image=current.generated_image),
        **job_params,
    )
    with transaction.atomic():
        if replaces:
            locked = post_lock(post.pk)  # reviewed meanwhile: too late for a new version
            if locked.status not in REPLACEABLE_STATUSES:
                raise _not_replaceable(locked)
        job = generation_job_queue(request=request)
        PostImageJob.objects.create(job=job, post=post, position=position, replaces=replaces)
    return job


def _not_replaceable(post: Post) -> ValidationFailed:
    return ValidationFailed(f"Post {post.pk} is {post.get_status_display().lower()}: only a draft, a post in review "
                            "or one with changes requested gets a new version.", code="invalid_state")
