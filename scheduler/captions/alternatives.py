"""Writes for caption alternatives: the n captions drafted with each post (more when a model reply offers several
options), rewrites asked for later ("shorter", "more playful", ...), and using one as the post's caption.

A rewrite is written on the default-queue worker (never in the web request): the request makes a pending
alternative and enqueues write_caption after commit; the task fills it in (pending -> ready | failed).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from core.access import AUTHOR_ROLES
from core.captions import BILINGUAL_LABEL_SEPARATOR, label_remove
from core.dispatch import task_send
from core.errors import Conflict, NotFound, ValidationFailed
from core.languages import LANGUAGES, language_clean
from generation.models import GeneratedImage
from generation.transitions import error_text
from personas.selectors import disclosure_label_for, role_require
from scheduler.captions.prompts import REWRITES
from scheduler.captions.writer import WrittenCaption, captions_write
from scheduler.models import CaptionAlternative, CaptionStatus, Post, PostStatus
from scheduler.posts.captions import post_caption_replace
from scheduler.selectors import post_get

logger = logging.getLogger(__name__)

# Posts whose caption can still change: a rewrite or an alternative is offered until a reviewer decides.
CAPTION_OPEN_STATUSES = (PostStatus.DRAFT, PostStatus.IN_REVIEW, PostStatus.CHANGES_REQUESTED)
ALTERNATIVE_NOT_FOUND = "Caption alternative not found."


def caption_alternatives_save(*, post: Post, captions: Sequence[WrittenCaption], instruction: str = "",
                              requested_by: AbstractBaseUser | None = None) -> list[CaptionAlternative]:
    return CaptionAlternative.objects.bulk_create(
        CaptionAlternative(
            post=post, language=c.language, instruction=instruction, status=CaptionStatus.READY, caption=c.caption,
            hashtags=c.hashtags, paid_partnership=c.paid_partnership, writer=c.writer,
            fallback_reason=c.fallback_reason, repairs=c.repairs, requested_by=requested_by,
        )
        for c in captions
    )


def _open_post(*, actor: AbstractBaseUser, post_id: int) -> Post:
    post = post_get(user=actor, post_id=post_id)
    role_require(user=actor, workspace_id=post.workspace_id, roles=AUTHOR_ROLES, not_found="Post not found.")
    if post.status not in CAPTION_OPEN_STATUSES:
        raise Conflict(
            f"Post {post.pk} is {post.get_status_display().lower()}; only drafts, posts in review and posts with "
            "changes requested can get another caption.",
            code="invalid_state", extra={"status": post.status},
        )
    return post


def caption_rewrite_request(*, actor: AbstractBaseUser, post_id: int, instruction: str,
                            language: str = "") -> CaptionAlternative:
    """A pending rewrite of the post's caption (for "translate": in `language`); the default-queue worker writes
    it."""
    post = _open_post(actor=actor, post_id=post_id)
    instruction = (instruction or "").strip().lower()
    if instruction not in REWRITES:
        raise ValidationFailed(f"Unknown rewrite '{instruction}'; choose one of: {', '.join(REWRITES)}.",
                               extra={"fields": {"instruction": ["Unknown."]}})
    target = post.language
    if instruction == "translate":
        target = language_clean(language) or ""
        if not target or target == post.language:
            raise ValidationFailed(
                f"Choose the language to translate post {post.pk} into: one of {', '.join(LANGUAGES)}, other than "
                f"its own ({post.language}).", extra={"fields": {"language": ["Choose another language."]}},
            )
    alternative = CaptionAlternative.objects.create(
        post=post, language=target, instruction=instruction, status=CaptionStatus.PENDING, requested_by=actor,
    )
    task_send("scheduler.tasks.write_caption", args=(alternative.pk,))
    return alternative


def _finish(alternative_id: int, *, status: str, others: Sequence[WrittenCaption] = (),
            **fields) -> CaptionAlternative | None:
    """pending -> ready | failed, once, under the row's lock; `others`: more captions the model offered with it,
    kept as ready alternatives of the same rewrite."""
    with transaction.atomic():
        alternative = CaptionAlternative.objects.select_for_update().filter(pk=alternative_id).first()
        if alternative is None or alternative.status != CaptionStatus.PENDING:
            return alternative
        alternative.status = status
        for name, value in fields.items():
            setattr(alternative, name, value)
        alternative.save(update_fields=["status", *fields])
        if others:
            caption_alternatives_save(post=alternative.post, captions=others, instruction=alternative.instruction,
                                      requested_by=alternative.requested_by)
    return alternative


def caption_alternative_write(*, alternative_id: int) -> CaptionAlternative | None:
    """Task body (default queue): write a pending rewrite. Idempotent: only a pending one is written. The caption
    model is asked with no transaction open and no lock held (it may take 30 s a try); the result is saved under
    the row's lock, and only while the rewrite is still pending."""
    alternative = (
        CaptionAlternative.objects.select_related("post__persona__workspace").filter(pk=alternative_id).first()
    )
    if alternative is None or alternative.status != CaptionStatus.PENDING:
        return alternative
    post = alternative.post
    image = GeneratedImage.objects.filter(post_images__post=post).select_related("job").first()
    scene = image.job.scene if image is not None else ""
    original = post.caption
    for label in disclosure_label_for(post.persona, post.language).split(BILINGUAL_LABEL_SEPARATOR):
        original = label_remove(original, label)
    try:
        outcome = captions_write(
            persona=post.persona, scene=scene, platform=post.platform, seed=alternative.pk,
            language=alternative.language, sponsored=post.is_sponsored, n=1, instruction=alternative.instruction,
            original=original,
        )
    except Exception as exc:
        logger.exception("Rewriting the caption of post %s failed", post.pk)
        return _finish(alternative_id, status=CaptionStatus.FAILED, error=error_text(exc))
    written, *others = outcome.captions
    return _finish(
        alternative_id, status=CaptionStatus.READY, others=others, caption=written.caption,
        hashtags=written.hashtags, paid_partnership=written.paid_partnership, writer=written.writer,
        fallback_reason=written.fallback_reason, repairs=written.repairs,
    )


def caption_alternative_use(*, actor: AbstractBaseUser, post_id: int, alternative_id: int) -> Post:
    """The post takes the alternative's caption and hashtags (an audit row says which)."""
    post = _open_post(actor=actor, post_id=post_id)
    alternative = CaptionAlternative.objects.filter(pk=alternative_id, post=post).first()
    if alternative is None:
        raise NotFound(ALTERNATIVE_NOT_FOUND)
    if alternative.status != CaptionStatus.READY:
        raise Conflict(f"That caption is {alternative.get_status_display().lower()}, not ready to use.",
                       code="invalid_state")
    what = f'rewrite "{alternative.instruction}"' if alternative.instruction else "drafted alternative"
    return post_caption_replace(
        actor=actor, post_id=post.pk, caption=alternative.caption, hashtags=alternative.hashtags,
        paid_partnership=alternative.paid_partnership, comment=f"Caption replaced by {what} {alternative.pk}.",
        language=alternative.language,
    )
