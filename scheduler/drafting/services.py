"""Draft posts from a succeeded job's images: one post per variant, captioned in the persona's voice and submitted
to the review queue (or, when off-model, kept in drafts with the reason: generation.jobs.likeness).

The worker saves a job's images and marks it succeeded first; drafting runs after that commit, on the default
queue, as a system action on behalf of the job's author (as scheduler's post_mark_exported acts for an export's
creator). A drafting problem (the author may no longer author posts, a caption breaks a platform rule) is
recorded on the job, which keeps its images; "draft again" (generation_job_draft_again) queues the drafting once
more with the marketer who asks as the posts' author. Only images without a post get one, so nothing is drafted
twice.

The captions are written first, with no transaction open: a caption model may take 30 s a try. Only then is the
job locked, its drafting re-checked (still pending, or another drafter finished it meanwhile) and the posts made.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from core.access import AUTHOR_ROLES
from core.dispatch import task_send
from core.errors import ApplicationError, Conflict, NotFound, PermissionDenied
from generation.jobs.best_of import job_candidates_select
from generation.jobs.likeness import draft_hold_reason, job_likeness_score_safely
from generation.models import CandidateStatus, CaptionMode, DraftingStatus, GeneratedImage, GenerationJob
from generation.transitions import error_text, lock_job
from personas.models import CaptionLanguageMode, Persona
from personas.selectors import persona_caption_languages, role_require
from scheduler import services as scheduler_services
from scheduler.captions.alternatives import caption_alternatives_save
from scheduler.captions.writer import WrittenCaption, caption_backend, captions_write
from scheduler.drafting.queue import DRAFT_POSTS_TASK
from scheduler.models import ContentPlanItem
from scheduler.posts.generated_selectors import generated_image_post_languages, post_image_job_replacing
from scheduler.posts.versions import post_image_replace

logger = logging.getLogger(__name__)

DRAFT_AGAIN_HINT = 'A marketer can draft them with "Draft again".'


@dataclass
class Draft:
    """One post to make: an image in one caption language, its captions written (or the reason they could not)."""

    image: GeneratedImage
    language: str
    where: str  # "Variant 2 (de)": how a problem names it
    comment: str
    captions: list[WrittenCaption]
    problem: str = ""
    mode: str = CaptionMode.TEMPLATE  # how the caption model answered for this post (the job records it)


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


def drafting_languages(persona: Persona) -> list[str]:
    """The caption languages a drafted image gets posts in: each language, or one "de+en" bilingual caption."""
    languages = persona_caption_languages(persona)
    if persona.caption_language_mode == CaptionLanguageMode.BILINGUAL and len(languages) > 1:
        return ["+".join(languages)]
    return languages


def _images_to_draft(*, job: GenerationJob, languages: list[str]) -> list[GeneratedImage]:
    """The job's kept images that still lack a post (in some caption language). With best-of-N only each
    variant's kept candidate is drafted (generation.jobs.best_of)."""
    kept = job.images.filter(candidate_status=CandidateStatus.KEPT)
    if post_image_job_replacing(job=job) is not None:
        return list(kept.filter(post_images__isnull=True).order_by("index"))
    drafted = generated_image_post_languages(job=job)
    return [image for image in kept.order_by("index") if any((image.pk, lang) not in drafted for lang in languages)]


def drafts_write(*, job: GenerationJob) -> tuple[list[Draft], str]:
    """The captions of every post the job still needs, and the caption service's error ("" when it answered).
    Runs with no transaction open: each caption may wait on the caption model. A model that is down leaves the
    template captions for the rest of the run."""
    languages = drafting_languages(job.persona)
    drafted = generated_image_post_languages(job=job)
    backend = caption_backend()
    drafts, service_error = [], ""
    # A content plan's row: its caption brief joins the scene the caption is written from.
    item = ContentPlanItem.objects.filter(job_id=job.pk).first()
    planned = f" Planned in content plan {item.plan_id}, row {item.row_number}." if item is not None else ""
    scene = f"{job.scene}. {item.caption_brief}" if item is not None and item.caption_brief else job.scene
    replacing = post_image_job_replacing(job=job)
    for image in _images_to_draft(job=job, languages=languages):
        if replacing is not None:
            continue  # an inpainted fix replaces its post's image: no caption to write
        for language in languages:
            if (image.pk, language) in drafted:
                continue
            comment = f"Drafted from generation job {job.pk}, variant {image.variant + 1} of {job.num_variants}."
            if job.best_of > 1:
                comment += f" Best of {job.best_of}: {image.selection_reason}."
            comment += planned
            draft = Draft(image=image, language=language, captions=[],
                          where=f"Variant {image.variant + 1}" + (f" ({language})" if len(languages) > 1 else ""),
                          comment=comment if language == "en" else f"{comment} Language: {language}.")
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
                draft.captions, draft.mode = outcome.captions, outcome.mode
            except ApplicationError as exc:
                draft.problem = exc.message
            except Exception as exc:
                logger.exception("Writing the captions of image %s of generation job %s failed", image.pk, job.pk)
                draft.problem = error_text(exc)
            drafts.append(draft)
    return drafts, service_error


def drafts_save(*, job: GenerationJob, drafts: list[Draft], service_error: str, author: AbstractBaseUser,
                actor: AbstractBaseUser | None) -> None:
    """Make the posts of the locked job from captions written before, and record the outcome on the job.

    Each post is created and submitted whole or not at all; a variant whose post breaks a rule is named in
    job.drafting_error and keeps its image, and the other variants' posts stay. A pair drafted meanwhile (by hand,
    or by another drafter) is skipped. An inpainted fix becomes a new version of its post's image instead."""
    problems = []
    # The drafts are slotted at the plan row's time (unless that passed meanwhile).
    item = ContentPlanItem.objects.filter(job_id=job.pk).first()
    slot = item.planned_at if item is not None and item.planned_at > timezone.now() else None
    target = post_image_job_replacing(job=job)
    if target is not None:
        for image in _images_to_draft(job=job, languages=drafting_languages(job.persona)):
            try:
                post_image_replace(actor=actor, post_id=target.post_id, position=target.position,
                                   generated_image=image, comment=f"Inpainted by generation job {job.pk}.")
            except ApplicationError as exc:
                problems.append(f"Post {target.post_id}: {exc.message}")
    drafted = generated_image_post_languages(job=job)
    for draft in drafts:
        if (draft.image.pk, draft.language) in drafted:
            continue
        if draft.problem:
            problems.append(f"{draft.where}: {draft.problem}")
            continue
        chosen = draft.captions[0]
        try:
            with transaction.atomic():  # a savepoint: a refused post leaves nothing behind, the others stay
                post = scheduler_services.post_create_for_review(
                    actor=actor, created_by=author, persona=job.persona, platform=job.platform,
                    caption=chosen.caption, hashtags=chosen.hashtags, generated_images=[draft.image],
                    comment=draft.comment, is_sponsored=job.is_sponsored, paid_partnership=chosen.paid_partnership,
                    language=draft.language, scheduled_at=slot,
                    hold_reason=draft_hold_reason(persona=job.persona, image=draft.image),
                )
                caption_alternatives_save(post=post, captions=draft.captions)
        except ApplicationError as exc:
            problems.append(f"{draft.where}: {exc.message}")
        except Exception as exc:
            logger.exception("Drafting a post from image %s of generation job %s failed", draft.image.pk, job.pk)
            problems.append(f"{draft.where}: {error_text(exc)}")
    job.caption_error = f"{service_error} The posts keep their template captions." if service_error else ""
    modes = {draft.mode for draft in drafts}
    job.caption_mode = next((mode for mode in (CaptionMode.STRUCTURED, CaptionMode.PLAIN) if mode in modes),
                            CaptionMode.TEMPLATE)
    job.save(update_fields=["caption_error", "caption_mode"])
    _drafting_record(job=job, error=" ".join(problems))


def _drafting_record(*, job: GenerationJob, error: str = "") -> None:
    """Save the drafting outcome of a locked job: failed when `error`. (Each post's own audit trail names who
    submitted it; the job's transitions stay its status changes.)"""
    job.drafting_status = DraftingStatus.FAILED if error else DraftingStatus.DRAFTED
    job.drafting_error = error
    job.save(update_fields=["drafting_status", "drafting_error"])


def _pending_job_lock(job_id: int) -> GenerationJob | None:
    """The job under its row lock, or None when it is gone or its drafting is no longer pending."""
    job = (
        GenerationJob.objects.select_for_update(of=("self",)).select_related("persona", "created_by")
        .filter(pk=job_id).first()
    )
    return job if job is not None and job.drafting_status == DraftingStatus.PENDING else None


def generation_job_posts_draft(*, job_id: int, author_id: int | None = None) -> GenerationJob | None:
    """Task body (default queue): draft the posts of a succeeded job, for its author or, after "draft again", for
    the marketer `author_id` who asked. Idempotent: only a job whose drafting is pending is drafted.

    Three steps, none holding a lock while it waits: the images' likeness is scored (best-of-N keeps each variant's
    most on-model candidate, an off-model draft stays in drafts unless the persona opts out) and the candidates
    chosen under a short lock; the captions are written with no transaction open; then, under the job's row lock,
    its drafting is checked to be still pending and the posts are made."""
    job_likeness_score_safely(job_id=job_id)
    with transaction.atomic():
        job = _pending_job_lock(job_id)
        if job is None:
            return GenerationJob.objects.filter(pk=job_id).first()
        job_candidates_select(job=job)  # the choice is recorded even when the drafts cannot be made yet
        author = job.created_by if author_id is None else get_user_model().objects.filter(pk=author_id).first()
        problem = _author_problem(job=job, author=author)
        if problem:
            _drafting_record(job=job, error=problem)
            return job
    drafts, service_error = drafts_write(job=job)
    with transaction.atomic():
        job = _pending_job_lock(job_id)
        if job is None:  # another drafter finished it while the captions were written: its posts stand
            return GenerationJob.objects.filter(pk=job_id).first()
        problem = _author_problem(job=job, author=author)  # the role may have changed meanwhile
        if problem:
            _drafting_record(job=job, error=problem)
        else:
            drafts_save(job=job, drafts=drafts, service_error=service_error, author=author,
                        actor=None if author_id is None else author)
    return job


def generation_job_draft_again(*, actor: AbstractBaseUser, job_id: int) -> GenerationJob:
    """Queue the drafting of the posts a job's drafting could not make, with `actor` as their author; answers at
    once (the captions may take minutes). The job shows drafting pending until the task records the outcome.

    A job already drafted is left as it is; asking twice queues twice, and the second task finds nothing pending
    (or nothing left to draft): no post is drafted twice."""
    with transaction.atomic():
        job = lock_job(job_id)
        role_require(user=actor, workspace_id=job.persona.workspace_id, roles=AUTHOR_ROLES,
                     not_found="Generation job not found.")
        if job.drafting_status == DraftingStatus.DRAFTED:
            return job
        if job.drafting_status not in (DraftingStatus.FAILED, DraftingStatus.PENDING):
            what = "reviewer samples make no posts" if job.is_sample else f"the job is {job.status}"
            raise Conflict(f"Generation job {job.pk} has no posts to draft: {what}.", code="invalid_state")
        job.drafting_status, job.drafting_error = DraftingStatus.PENDING, ""
        job.save(update_fields=["drafting_status", "drafting_error"])
        # A lost message is sent again by the drafting sweep (scheduler.drafting.queue), for the job's own author.
        task_send(DRAFT_POSTS_TASK, args=(job.pk, actor.pk), robust=True)
    return job
