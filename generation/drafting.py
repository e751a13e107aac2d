"""Draft posts from a succeeded job's images: one post per variant, captioned in the persona's voice and submitted
to the review queue (or, when off-model, kept in drafts with the reason: generation.likeness).

The worker saves a job's images and marks it succeeded first; drafting runs after that commit, on the default
queue, as a system action on behalf of the job's author (as scheduler's post_mark_exported acts for an export's
creator). A drafting problem (the author may no longer author posts, a caption breaks a platform rule) is
recorded on the job, which keeps its images; "draft again" (services.generation_job_draft_again) retries with the
marketer who asks as the posts' author. Only images without a post get one, so nothing is drafted twice.
"""

from __future__ import annotations

import logging

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from config.exceptions import ApplicationError, NotFound, PermissionDenied
from core.access import AUTHOR_ROLES
from personas.selectors import role_require
from scheduler import services as scheduler_services

from .captions import caption_draft
from .likeness import draft_hold_reason, job_likeness_score_safely
from .models import DraftingStatus, GenerationJob
from .runs import error_text

logger = logging.getLogger(__name__)

DRAFT_AGAIN_HINT = 'A marketer can draft them with "Draft again".'


def _author_problem(*, job: GenerationJob, author: AbstractBaseUser | None) -> str:
    """Why `author` cannot author the job's posts ("" when they can)."""
    if author is None:
        return f"The job's author no longer exists. {DRAFT_AGAIN_HINT}"
    try:
        role_require(user=author, workspace_id=job.persona.workspace_id, roles=AUTHOR_ROLES)
    except (NotFound, PermissionDenied):
        return (f"{author.get_username()}, who started the job, can no longer author posts in this workspace "
                f"(a marketer or admin role is needed). {DRAFT_AGAIN_HINT}")
    return ""


def drafts_create(*, job: GenerationJob, author: AbstractBaseUser, actor: AbstractBaseUser | None) -> None:
    """Draft a post for each image of the locked job that has none yet, and record the outcome on the job.

    Each post is created and submitted whole or not at all; a variant whose post breaks a rule is named in
    job.drafting_error and keeps its image, and the other variants' posts stay."""
    images = list(job.images.filter(post_images__isnull=True).order_by("index"))
    problems = []
    for image in images:
        draft = caption_draft(persona=job.persona, scene=job.scene, platform=job.platform, seed=image.seed)
        try:
            with transaction.atomic():
                scheduler_services.post_create_for_review(
                    actor=actor, created_by=author, persona=job.persona, platform=job.platform,
                    caption=draft.caption, hashtags=draft.hashtags, generated_images=[image],
                    comment=f"Drafted from generation job {job.pk}, variant {image.index + 1} of {job.num_variants}.",
                    hold_reason=draft_hold_reason(persona=job.persona, image=image),
                )
        except ApplicationError as exc:
            problems.append(f"Variant {image.index + 1}: {exc.message}")
        except Exception as exc:
            logger.exception("Drafting a post from image %s of generation job %s failed", image.pk, job.pk)
            problems.append(f"Variant {image.index + 1}: {error_text(exc)}")
    _drafting_record(job=job, error=" ".join(problems))


def _drafting_record(*, job: GenerationJob, error: str = "") -> None:
    """Save the drafting outcome of a locked job: failed when `error`. (Each post's own audit trail names who
    submitted it; the job's transitions stay its status changes.)"""
    job.drafting_status = DraftingStatus.FAILED if error else DraftingStatus.DRAFTED
    job.drafting_error = error
    job.save(update_fields=["drafting_status", "drafting_error"])


def generation_job_posts_draft(*, job_id: int) -> GenerationJob | None:
    """Task body (default queue): draft the posts of a succeeded job for its author. Idempotent: only a job whose
    drafting is pending is drafted, under its row lock. The images' likeness is scored first (outside the lock):
    an off-model draft stays in drafts with its reason unless the persona opts out."""
    job_likeness_score_safely(job_id=job_id)
    with transaction.atomic():
        job = (
            GenerationJob.objects.select_for_update(of=("self",)).select_related("persona", "created_by")
            .filter(pk=job_id).first()
        )
        if job is None or job.drafting_status != DraftingStatus.PENDING:
            return job
        problem = _author_problem(job=job, author=job.created_by)
        if problem:
            _drafting_record(job=job, error=problem)
        else:
            drafts_create(job=job, author=job.created_by, actor=None)
    return job
