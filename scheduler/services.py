"""Writes for posts: creation, edits and every workflow transition.

draft -> in_review -> approved | changes_requested | rejected; changes_requested -> (edit) -> in_review;
approved -> scheduled -> exported -> published (scheduled -> published directly is allowed too);
draft/in_review/changes_requested/approved past their scheduled time -> expired.
Each transition is its own service; they share `post_transition` for lock, check source, set, audit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.base import File
from django.db import transaction
from django.utils import timezone

from core.access import AUTHOR_ROLES, REVIEWER_ROLES, SCHEDULER_ROLES
from core.captions import caption_with_label, hashtags_normalise
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from personas.models import Persona
from personas.selectors import role_require
from scheduler.models import Post, PostStatus, PostTransition
from scheduler.posts.images import DecodedImage, post_images_decode, post_images_save
from scheduler.posts.rules import (
    check_compliance,
    check_content_rules,
    check_platform_rules,
    persona_label,
    post_authorship,
    require_aware_future,
    require_platform,
)

# Missing and another workspace's post get the same answer: ids must not reveal what exists elsewhere.
POST_NOT_FOUND = "Post not found."
EDITABLE_STATUSES = (PostStatus.DRAFT, PostStatus.CHANGES_REQUESTED)
# Posts that still need a decision or a slot: they expire when their scheduled time passes.
EXPIRABLE_STATUSES = (PostStatus.DRAFT, PostStatus.IN_REVIEW, PostStatus.CHANGES_REQUESTED, PostStatus.APPROVED)
UPDATABLE_FIELDS = frozenset({"caption", "hashtags", "is_sponsored", "scheduled_at", "platform"})

_STATUS_PHRASE = {
    PostStatus.DRAFT: "drafts",
    PostStatus.IN_REVIEW: "posts in review",
    PostStatus.CHANGES_REQUESTED: "posts with changes requested",
    PostStatus.APPROVED: "approved posts",
    PostStatus.REJECTED: "rejected posts",
    PostStatus.SCHEDULED: "scheduled posts",
    PostStatus.EXPORTED: "exported posts",
    PostStatus.PUBLISHED: "published posts",
    PostStatus.EXPIRED: "expired posts",
}


def _status_label(status: str) -> str:
    return PostStatus(status).label.lower()


def _sources_phrase(sources: Sequence[str]) -> str:
    phrases = [_STATUS_PHRASE[PostStatus(s)] for s in sources]
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " or " + phrases[-1]


# --- Create / update -------------------------------------------------------------------------------


def post_create(
    *,
    actor: AbstractBaseUser,
    persona: Persona,
    platform: str,
    caption: str = "",
    hashtags: Iterable[str] | None = None,
    images: Sequence[bytes | File] = (),
    generated_images: Sequence = (),
    is_sponsored: bool = False,
    scheduled_at: dt.datetime | None = None,
) -> Post:
    """A draft post. The persona's disclosure label is recorded and appended to the caption if missing.

    `hashtags=None` uses the persona's default hashtags; pass [] for none. Uploaded `images` come first,
    then `generated_images` (GeneratedImage rows of this persona, already looked up), in the order given.
    """
    role_require(user=actor, workspace_id=persona.workspace_id, roles=AUTHOR_ROLES)
    require_platform(platform)
    if scheduled_at is not None:
        require_aware_future(scheduled_at)
    tags = hashtags_normalise(persona.default_hashtags if hashtags is None else hashtags)
    label = persona_label(persona)
    caption = caption_with_label(caption, label)
    decoded = post_images_decode(persona=persona, uploads=images, generated_images=generated_images)
    with transaction.atomic():
        return _post_insert(persona=persona, platform=platform, caption=caption, label=label, hashtags=tags,
                            images=decoded, created_by=actor, is_sponsored=is_sponsored, scheduled_at=scheduled_at)


def post_create_for_review(
    *,
    actor: AbstractBaseUser | None,
    created_by: AbstractBaseUser,
    persona: Persona,
    platform: str,
    caption: str,
    hashtags: Iterable[str],
    generated_images: Sequence,
    comment: str = "",
    is_sponsored: bool = False,
    paid_partnership: bool = False,
    language: str = "en",
    scheduled_at: dt.datetime | None = None,
    hold_reason: str = "",
) -> Post:
    """A post by `created_by` from generated images, submitted for review at once. A system action, like
    post_mark_exported: no role check (the caller decided who may author it: generation drafts a job's posts for
    the job's author) and `actor` may be None. The platform rules are checked before anything is written.
    `language` is the caption's ("de+en" bilingual): it carries that language's disclosure label.
    `scheduled_at` slots it on the calendar at once (a content plan's planned time). With `hold_reason` (e.g. an
    off-model image) it stays in drafts instead, and an audit row (draft to draft) says why."""
    require_platform(platform)
    if scheduled_at is not None:
        require_aware_future(scheduled_at)
        scheduled_at = scheduled_at.astimezone(dt.UTC)
    tags = hashtags_normalise(hashtags)
    label = persona_label(persona, language)
    caption = caption_with_label(caption, label)
    decoded = post_images_decode(persona=persona, uploads=(), generated_images=generated_images)
    check_content_rules(platform=platform, caption=caption, hashtags=tags,
                        image_sizes=[(image.width, image.height) for image in decoded], when="submitted for review")
    with transaction.atomic():
        post = _post_insert(persona=persona, platform=platform, caption=caption, label=label, hashtags=tags,
                            images=decoded, created_by=created_by, is_sponsored=is_sponsored,
                            paid_partnership=paid_partnership or is_sponsored, language=language,
                            scheduled_at=scheduled_at)
        return post_transition(
            actor=actor,
            post_id=post.pk,
            sources=(PostStatus.DRAFT,),
            target=PostStatus.DRAFT if hold_reason else PostStatus.IN_REVIEW,
            verb="held in drafts" if hold_reason else "submitted for review",
            roles=None,
            comment=f"{comment} Held in drafts: {hold_reason}".strip() if hold_reason else comment,
            checks=lambda post: check_platform_rules(post, "submitted for review"),
        )


def _post_insert(
    *,
    persona: Persona,
    platform: str,
    caption: str,
    label: str,
    hashtags: list[str],
    images: Sequence[DecodedImage],
    created_by: AbstractBaseUser,
    is_sponsored: bool = False,
    scheduled_at: dt.datetime | None = None,
    paid_partnership: bool = False,
    language: str = "en",
) -> Post:
    """Write a new draft with its images; `label` is the disclosure label its caption carries."""
    post = Post.objects.create(
        workspace_id=persona.workspace_id,
        persona=persona,
        platform=platform,
        caption=caption,
        hashtags=hashtags,
        disclosure_label=label,
        is_sponsored=bool(is_sponsored),
        paid_partnership=bool(paid_partnership or is_sponsored),
        language=language,
        scheduled_at=scheduled_at,
        status=PostStatus.DRAFT,
        created_by=created_by,
    )
    post_images_save(post=post, images=images)
    return post


def post_update(*, actor: AbstractBaseUser, post: Post, **fields) -> Post:
    """Edit caption, hashtags, is_sponsored, scheduled_at or platform of a draft or changes-requested post.

    A caption without the persona's AI-disclosure label gets it appended again.
    """
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise ValidationFailed(
            f"Cannot edit {', '.join(sorted(unknown))}; editable fields are {', '.join(sorted(UPDATABLE_FIELDS))}."
        )
    with transaction.atomic():
        locked = post_lock(post.pk)
        role_require(user=actor, workspace_id=locked.workspace_id, roles=AUTHOR_ROLES, not_found=POST_NOT_FOUND)
        if locked.status not in EDITABLE_STATUSES:
            what = "its caption" if "caption" in fields else "it"
            raise Conflict(
                f"Post {locked.pk} is {_status_label(locked.status)}; you cannot edit {what}. "
                "Only drafts and posts with changes requested can be edited.",
                code="invalid_state",
                extra={"status": locked.status, "allowed_from": list(EDITABLE_STATUSES)},
            )
        if "platform" in fields:
            require_platform(fields["platform"])
        if "hashtags" in fields:
            fields["hashtags"] = hashtags_normalise(fields["hashtags"])
        if fields.get("scheduled_at") is not None:
            require_aware_future(fields["scheduled_at"])
        if "caption" in fields:
            # The disclosure label cannot be edited away: it is put back, as post_create adds it.
            label = persona_label(locked.persona, locked.language)
            fields["caption"] = caption_with_label(fields["caption"], label)
            # Record the label the caption now carries: exports append the recorded one when it is missing,
            # so a stale one (the persona's label changed since creation) would be added a second time.
            fields["disclosure_label"] = label
        if "is_sponsored" in fields:
            fields["is_sponsored"] = bool(fields["is_sponsored"])
            if fields["is_sponsored"]:
                fields["paid_partnership"] = True
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*fields, "updated_at"])
    post.refresh_from_db()
    return locked


# --- Shared transition machinery -------------------------------------------------------------------


def post_lock(post_id: int) -> Post:
    # of=self: lock the post row only, not the joined persona (other posts of it must stay writable).
    post = Post.objects.select_for_update(of=("self",)).select_related("persona").filter(pk=post_id).first()
    if post is None:
        raise NotFound(POST_NOT_FOUND)
    return post


def _check_source(post: Post, sources: Sequence[str], verb: str) -> None:
    if post.status not in sources:
        raise Conflict(
            f"Post {post.pk} is {_status_label(post.status)}; only {_sources_phrase(sources)} can be {verb}.",
            code="invalid_state",
            extra={"status": post.status, "allowed_from": list(sources)},
        )


def comment_require(comment: str, action: str) -> str:
    comment = (comment or "").strip()
    if not comment:
        raise ValidationFailed(f"A comment is required to {action}: tell the author what to change and why.")
    return comment


def post_transition(
    *,
    actor: AbstractBaseUser | None,
    post_id: int,
    sources: Sequence[str],
    target: str,
    verb: str,
    roles: Sequence[str] | None,
    comment: str | Callable[[Post], str] = "",
    checks: Callable[[Post], None] | None = None,
    changes: dict | None = None,
    audit_fields: dict | None = None,
) -> Post:
    """Lock the post, check role and source state, run `checks`, set the new status, write the audit row.

    `roles=None` is a system transition (no actor, e.g. the export worker or the expiry sweep). A callable
    `comment` is written from the locked post, before its status changes. `audit_fields` go on the audit row
    (a client review link's decision names the link and its reviewer).
    """
    with transaction.atomic():
        post = post_lock(post_id)
        if roles is not None:
            role_require(user=actor, workspace_id=post.workspace_id, roles=roles, not_found=POST_NOT_FOUND)
        _check_source(post, sources, verb)
        if checks is not None:
            checks(post)
        note = comment(post) if callable(comment) else comment
        from_status = post.status
        post.status = target
        update_fields = ["status", "updated_at"]
        for name, value in (changes or {}).items():
            setattr(post, name, value)
            update_fields.append(name)
        if target == PostStatus.IN_REVIEW:
            post.last_submitted_at = timezone.now()
            update_fields.append("last_submitted_at")
        post.save(update_fields=update_fields)
        PostTransition.objects.create(
            post=post,
            actor=actor if actor is not None and actor.is_authenticated else None,
            from_status=from_status,
            to_status=target,
            comment=note,
            **(audit_fields or {}),
        )
    return post


# --- Transitions -----------------------------------------------------------------------------------


def post_submit(*, actor: AbstractBaseUser, post_id: int, comment: str = "") -> Post:
    """draft | changes_requested -> in_review, once the post meets its platform's rules."""
    return post_transition(
        actor=actor,
        post_id=post_id,
        sources=EDITABLE_STATUSES,
        target=PostStatus.IN_REVIEW,
        verb="submitted for review",
        roles=AUTHOR_ROLES,
        comment=(comment or "").strip(),
        checks=lambda post: check_platform_rules(post, "submitted for review"),
    )


def post_approve(*, actor: AbstractBaseUser, post_id: int, comment: str = "") -> Post:
    """in_review -> approved, by a reviewer who is not the post's author."""

    def checks(post: Post) -> None:
        authorship = post_authorship(post, actor.pk)
        if authorship:
            what = f"created post {post.pk}" if authorship == "created" else f"submitted post {post.pk} for review"
            raise PermissionDenied(f"You {what}; someone else has to approve it.", code="own_post")
        check_compliance(post, "approved")
        check_platform_rules(post, "approved")

    return post_transition(
        actor=actor,
        post_id=post_id,
        sources=(PostStatus.IN_REVIEW,),
        target=PostStatus.APPROVED,
        verb="approved",
        roles=REVIEWER_ROLES,
        comment=(comment or "").strip(),
        checks=checks,
    )


def post_request_changes(*, actor: AbstractBaseUser, post_id: int, comment: str) -> Post:
    """in_review -> changes_requested; the comment tells the author what to change."""
    comment = comment_require(comment, "request changes")
    return post_transition(
        actor=actor,
        post_id=post_id,
        sources=(PostStatus.IN_REVIEW,),
        target=PostStatus.CHANGES_REQUESTED,
        verb="sent back for changes",
        roles=REVIEWER_ROLES,
        comment=comment,
    )


def post_reject(*, actor: AbstractBaseUser, post_id: int, comment: str) -> Post:
    """in_review -> rejected (final)."""
    comment = comment_require(comment, "reject a post")
    return post_transition(
        actor=actor,
        post_id=post_id,
        sources=(PostStatus.IN_REVIEW,),
        target=PostStatus.REJECTED,
        verb="rejected",
        roles=REVIEWER_ROLES,
        comment=comment,
    )


def _schedule_checks(scheduled_at: dt.datetime, when: str) -> Callable[[Post], None]:
    def checks(post: Post) -> None:
        require_aware_future(scheduled_at)
        check_compliance(post, when)
        check_platform_rules(post, when)

    return checks


def post_schedule(*, actor: AbstractBaseUser, post_id: int, scheduled_at: dt.datetime, comment: str = "") -> Post:
    """approved -> scheduled at `scheduled_at` (future, timezone-aware; stored in UTC).

    Minimum-gap clashes are warnings, not errors: see scheduler.selectors.calendar_conflicts.
    """
    require_aware_future(scheduled_at)
    return post_transition(
        actor=actor,
        post_id=post_id,
        sources=(PostStatus.APPROVED,),
        target=PostStatus.SCHEDULED,
        verb="scheduled",
        roles=SCHEDULER_ROLES,
        comment=(comment or "").strip(),
        checks=_schedule_checks(scheduled_at, "scheduled"),
        changes={"scheduled_at": scheduled_at.astimezone(dt.UTC)},
    )


def post_unschedule(*, actor: AbstractBaseUser, post_id: int, comment: str = "") -> Post:
    """scheduled -> approved. The time is kept as the target, so the post expires if never rescheduled."""
    return post_transition(
        actor=actor,
        post_id=post_id,
        sources=(PostStatus.SCHEDULED,),
        target=PostStatus.APPROVED,
        verb="unscheduled",
        roles=SCHEDULER_ROLES,
        comment=(comment or "").strip(),
    )


def post_reschedule(*, actor: AbstractBaseUser, post_id: int, scheduled_at: dt.datetime, comment: str = "") -> Post:
    """A scheduled post moves to another time; all scheduling checks run again."""
    require_aware_future(scheduled_at)
    with transaction.atomic():
        old = post_lock(post_id).scheduled_at
        new = scheduled_at.astimezone(dt.UTC)
        note = f"Rescheduled from {old.isoformat() if old else 'no time'} to {new.isoformat()}."
        return post_transition(
            actor=actor,
            post_id=post_id,
            sources=(PostStatus.SCHEDULED,),
            target=PostStatus.SCHEDULED,
            verb="rescheduled",
            roles=SCHEDULER_ROLES,
            comment=f"{note} {comment.strip()}".strip() if comment else note,
            checks=_schedule_checks(scheduled_at, "rescheduled"),
            changes={"scheduled_at": new},
        )


def post_mark_exported(*, actor: AbstractBaseUser | None, post_id: int, bundle_id: int | None = None) -> Post:
    """scheduled -> exported. Idempotent: an exported post is returned unchanged. `actor` may be None."""
    with transaction.atomic():
        post = post_lock(post_id)
        if post.status == PostStatus.EXPORTED:
            return post
        return post_transition(
            actor=actor,
            post_id=post_id,
            sources=(PostStatus.SCHEDULED,),
            target=PostStatus.EXPORTED,
            verb="marked exported",
            # The export worker acts for the bundle's creator; export_bundle_create checked their role.
            roles=None,
            comment=f"Exported in bundle {bundle_id}." if bundle_id else "Exported.",
        )


def post_mark_published(*, actor: AbstractBaseUser, post_id: int, comment: str = "") -> Post:
    """scheduled | exported -> published (recorded once the post is live on the platform)."""
    return post_transition(
        actor=actor,
        post_id=post_id,
        sources=(PostStatus.SCHEDULED, PostStatus.EXPORTED),
        target=PostStatus.PUBLISHED,
        verb="marked published",
        roles=SCHEDULER_ROLES,
        comment=(comment or "").strip(),
    )


def post_expire(*, post_id: int, now: dt.datetime) -> Post:
    """A post still waiting for a decision or a slot whose scheduled time has passed -> expired (system)."""

    def checks(post: Post) -> None:
        if post.scheduled_at is None or post.scheduled_at > now:
            raise Conflict(f"Post {post.pk} is not past its scheduled time.", code="not_overdue")

    return post_transition(
        actor=None,
        post_id=post_id,
        sources=EXPIRABLE_STATUSES,
        target=PostStatus.EXPIRED,
        verb="expired",
        roles=None,
        comment=lambda post: (
            f"Expired: its scheduled time {post.scheduled_at.isoformat()} passed while it was "
            f"{_status_label(post.status)}."
        ),
        checks=checks,
    )


def posts_expire_overdue(*, now: dt.datetime | None = None) -> int:
    """Expire posts whose scheduled time passed before they were scheduled. Returns how many expired.

    Safe to run concurrently and repeatedly: post_expire re-checks each post under its row lock.
    """
    now = now or timezone.now()
    candidate_ids = list(
        Post.objects.filter(status__in=EXPIRABLE_STATUSES, scheduled_at__lte=now).values_list("pk", flat=True)
    )
    expired = 0
    for post_id in candidate_ids:
        try:
            post_expire(post_id=post_id, now=now)
        except (Conflict, NotFound):
            continue  # decided, rescheduled or deleted since it was listed
        expired += 1
    return expired
