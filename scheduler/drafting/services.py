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

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from core.access import AUTHOR_ROLES
from core.errors import ApplicationError, NotFound, PermissionDenied
from generation.jobs.best_of import job_candidates_select
from generation.jobs.likeness import draft_hold_reason, job_likeness_score_safely
from generation.models import CandidateStatus, DraftingStatus, GenerationJob
from generation.selectors import generated_image_post_languages
from generation.transitions import error_text
from personas.models import CaptionLanguageMode, Persona
from personas.selectors import persona_caption_languages, role_require
from scheduler import services as scheduler_services
from scheduler.captions.alternatives import caption_alternatives_save
from scheduler.captions.writer import caption_backend, captions_write
from scheduler.models import ContentPlanItem
from scheduler.posts.versions import post_image_replace

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
    job.drafting_error and keeps its image, and the other variants' posts stay. A persona with several caption
    languages gets one post per language, or one bilingual post (Persona.caption_language_mode). Each post keeps
    the writer's alternatives; a caption model that is down leaves the template captions and says so in
    job.caption_error. With best-of-N only each variant's kept candidate is drafted (generation.best_of)."""
    job_candidates_select(job=job)
    languages = drafting_languages(job.persona)
    # An image has a post per caption language: only the missing ones are drafted (again).
    drafted = generated_image_post_languages(job=job)
    kept = job.images.filter(candidate_status=CandidateStatus.KEPT)
    if job.target_post_id is not None:
        images = list(kept.filter(post_images__isnull=True).order_by("index"))
    else:
        images = [image for image in kept.order_by("index")
                  if any((image.pk, language) not in drafted for language in languages)]
    backend = caption_backend()
    problems, service_error = [], ""
    # A content plan's row: the drafts are slotted at its planned time (unless that passed meanwhile), and its
    # caption brief joins the scene the caption is written from.
    item = ContentPlanItem.objects.filter(job_id=job.pk).first()
    slot = item.planned_at if item is not None and item.planned_at > timezone.now() else None
    planned = f" Planned in content plan {item.plan_id}, row {item.row_number}." if item is not None else ""
    scene = f"{job.scene}. {item.caption_brief}" if item is not None and item.caption_brief else job.scene
    for image in images:
        if job.target_post_id is not None:  # an inpainted fix: a new version of that post's image, not a new post
            try:
                post_image_replace(actor=actor, post_id=job.target_post_id, position=job.target_position,
                                   generated_image=image, comment=f"Inpainted by generation job {job.pk}.")
            except ApplicationError as exc:
                problems.append(f"Post {job.target_post_id}: {exc.message}")
            continue
        for language in languages:
            if (image.pk, language) in drafted:
                continue
            where = f"Variant {image.variant + 1}" + (f" ({language})" if len(languages) > 1 else "")
            comment = f"Drafted from generation job {job.pk}, variant {image.variant + 1} of {job.num_variants}."
            if job.best_of > 1:
                comment += f" Best of {job.best_of}: {image.selection_reason}."
            comment += planned
            try:
                outcome = captions_write(
                    persona=job.persona, scene=scene, platform=job.platform, seed=image.seed, language=language,
                    sponsored=job.is_sponsored, n=max(settings.CAPTION_ALTERNATIVES, 1), backend=backend,
                )
                if outcome.service_error:
                    service_error, backend = outcome.service_error, None  # the rest of the run uses templates
                elif service_error:
                    for written in outcome.captions:
                        written.fallback_reason = f"{service_error} The template caption was used."
                chosen = outcome.captions[0]
                with transaction.atomic():
                    post = scheduler_services.post_create_for_review(
                        actor=actor, created_by=author, persona=job.persona, platform=job.platform,
                        caption=chosen.caption, hashtags=chosen.hashtags, generated_images=[image],
                        comment=comment if language == "en" else f"{comment} Language: {language}.",
                        is_sponsored=job.is_sponsored, paid_partnership=chosen.paid_partnership, language=language,
                        scheduled_at=slot,
                        hold_reason=draft_hold_reason(persona=job.persona, image=image),
                    )
                    caption_alternatives_save(post=post, captions=outcome.captions)
            except ApplicationError as exc:
                problems.append(f"{where}: {exc.message}")
            except Exception as exc:
                logger.exception("Drafting a post from image %s of generation job %s failed", image.pk, job.pk)
                problems.append(f"{where}: {error_text(exc)}")
    job.caption_error = f"{service_error} The posts keep their template captions." if service_error else ""
    job.save(update_fields=["caption_error"])
    _drafting_record(job=job, error=" ".join(problems))


def drafting_languages(persona: Persona) -> list[str]:
    """The caption languages a drafted image gets posts in: each language, or one "de+en" bilingual caption."""
    languages = persona_caption_languages(persona)
    if persona.caption_language_mode == CaptionLanguageMode.BILINGUAL and len(languages) > 1:
        return ["+".join(languages)]
    return languages


def _drafting_record(*, job: GenerationJob, error: str = "") -> None:
    """Save the drafting outcome of a locked job: failed when `error`. (Each post's own audit trail names who
    submitted it; the job's transitions stay its status changes.)"""
    job.drafting_status = DraftingStatus.FAILED if error else DraftingStatus.DRAFTED
    job.drafting_error = error
    job.save(update_fields=["drafting_status", "drafting_error"])


def generation_job_posts_draft(*, job_id: int) -> GenerationJob | None:
    """Task body (default queue): draft the posts of a succeeded job for its author. Idempotent: only a job whose
    drafting is pending is drafted, under its row lock. The images' likeness is scored first (outside the lock):
    best-of-N keeps each variant's most on-model candidate, and an off-model draft stays in drafts with its reason
    unless the persona opts out."""
    job_likeness_score_safely(job_id=job_id)
    with transaction.atomic():
        job = (
            GenerationJob.objects.select_for_update(of=("self",)).select_related("persona", "created_by")
            .filter(pk=job_id).first()
        )
        if job is None or job.drafting_status != DraftingStatus.PENDING:
            return job
        job_candidates_select(job=job)  # the choice is recorded even when the drafts cannot be made yet
        problem = _author_problem(job=job, author=job.created_by)
        if problem:
            _drafting_record(job=job, error=problem)
        else:
            drafts_create(job=job, author=job.created_by, actor=None)
    return job
