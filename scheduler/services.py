"""Writes for posts: creation, edits and every workflow transition.

draft -> in_review -> approved | changes_requested | rejected; changes_requested -> (edit) -> in_review;
approved -> scheduled -> exported -> published (scheduled -> published directly is allowed too);
draft/in_review/changes_requested/approved past their scheduled time -> expired.
Each transition is its own service; they share `_transition` for lock, check source, set, audit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from config.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.access import AUTHOR_ROLES, REVIEWER_ROLES, SCHEDULER_ROLES
from core.platforms import Platform, text_as_posted
from personas.image_validation import ImageRejected, validate_reference_image
from personas.models import DEFAULT_DISCLOSURE_LABEL, Persona
from personas.selectors import role_require

from .models import Post, PostImage, PostStatus, PostTransition
from .selectors import validate_post_for_platform

# Missing and another workspace's post get the same answer: ids must not reveal what exists elsewhere.
POST_NOT_FOUND = "Post not found."
EDITABLE_STATUSES = (PostStatus.DRAFT, PostStatus.CHANGES_REQUESTED)
# Posts that still need a decision or a slot: they expire when their scheduled time passes.
EXPIRABLE_STATUSES = (PostStatus.DRAFT, PostStatus.IN_REVIEW, PostStatus.CHANGES_REQUESTED, PostStatus.APPROVED)
UPDATABLE_FIELDS = frozenset({"caption", "hashtags", "is_sponsored", "scheduled_at", "platform"})
ALLOWED_IMAGE_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}  # exports re-encode to JPEG
_HASHTAG_OK = re.compile(r"^#\w+$", re.UNICODE)
_AD_TAG = re.compile(r"(?<![\w#])#ad\b", re.IGNORECASE)

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


# --- Input helpers ---------------------------------------------------------------------------------


def _normalise_hashtags(hashtags: Iterable[str] | None) -> list[str]:
    """'travel', '#Travel ' -> '#Travel'; duplicates (case-insensitive) dropped; bad tags refused."""
    if hashtags is None:
        return []
    if isinstance(hashtags, str):
        hashtags = [hashtags]
    result: list[str] = []
    seen: set[str] = set()
    pieces = [piece for raw in hashtags for piece in re.split(r"[\s,]+", str(raw))]
    for raw in pieces:
        tag = raw.strip()
        if not tag:
            continue
        if not tag.startswith("#"):
            tag = f"#{tag}"
        if not _HASHTAG_OK.match(tag):
            raise ValidationFailed(f"'{raw}' is not a valid hashtag: use letters, digits and underscores only.")
        if tag.lower() not in seen:
            seen.add(tag.lower())
            result.append(tag)
    return result


def _require_aware_future(value: dt.datetime, *, now: dt.datetime | None = None, what: str = "Scheduled time") -> None:
    if not isinstance(value, dt.datetime):
        raise ValidationFailed(f"{what} must be a date and time.")
    if timezone.is_naive(value):
        raise ValidationFailed(f"{what} must include a timezone (e.g. 2026-03-29T09:00:00+02:00).")
    now = now or timezone.now()
    if value <= now:
        raise ValidationFailed(f"{what} {value.isoformat()} is in the past; pick a time after {now.isoformat()}.")


# Above every platform's caption limit (Facebook's 63,206 is the largest): a draft may run over its platform's
# limit while being edited, but megabytes of text are refused outright.
MAX_CAPTION_CHARS = 70_000


def _check_caption_size(caption: str) -> None:
    if len(caption) > MAX_CAPTION_CHARS:
        raise ValidationFailed(
            f"The caption is {len(caption):,} characters; no platform allows more than {MAX_CAPTION_CHARS:,}.",
            code="caption_too_long",
        )


def _persona_label(persona: Persona) -> str:
    return (persona.disclosure_label or "").strip() or DEFAULT_DISCLOSURE_LABEL


@dataclass(frozen=True)
class _DecodedImage:
    content: bytes
    sha256: str
    ext: str
    width: int
    height: int
    generated_image_id: int | None = None


def _read_bytes(item: bytes | File) -> tuple[bytes, str]:
    if isinstance(item, bytes | bytearray):
        return bytes(item), "image"
    name = getattr(item, "name", "") or "image"
    if hasattr(item, "seek"):
        item.seek(0)
    data = item.read()
    return data, name


def _decode_image(data: bytes, name: str) -> _DecodedImage:
    max_bytes = settings.REFERENCE_IMAGE_MAX_BYTES
    if not data:
        raise ValidationFailed(f"{name}: the file is empty.")
    if len(data) > max_bytes:
        raise ValidationFailed(f"{name}: {len(data):,} bytes is over the {max_bytes:,}-byte limit.")
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            width, height = img.size
            if width * height > settings.REFERENCE_IMAGE_MAX_PIXELS:
                raise ValidationFailed(f"{name}: {width}x{height} is over the pixel limit.")
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise ValidationFailed(f"{name}: not a readable image (PNG or JPEG expected).") from None
    if fmt not in ALLOWED_IMAGE_FORMATS:
        raise ValidationFailed(f"{name}: {fmt} images are not supported; upload PNG or JPEG.")
    return _DecodedImage(
        content=data,
        sha256=hashlib.sha256(data).hexdigest(),
        ext=ALLOWED_IMAGE_FORMATS[fmt],
        width=width,
        height=height,
    )


# Post images go to platforms as they are: small ones are allowed, platform rules judge their size.
POST_IMAGE_MIN_SIDE = 64


def _sanitize_upload(data: bytes, name: str) -> _DecodedImage:
    """An uploaded image passes the same checks as reference photos (type by content, pixel limit, truncation,
    polyglots) and is stored as its re-encode: EXIF orientation applied, GPS and all other metadata dropped."""
    try:
        clean = validate_reference_image(data, min_side=POST_IMAGE_MIN_SIDE)
    except ImageRejected as exc:
        raise ValidationFailed(f"{name}: {exc}.") from None
    return _DecodedImage(
        content=clean.content,
        sha256=hashlib.sha256(clean.content).hexdigest(),
        ext=ALLOWED_IMAGE_FORMATS[clean.format],
        width=clean.width,
        height=clean.height,
    )


def _save_images(post: Post, decoded: list[_DecodedImage], start: int = 0) -> None:
    for offset, item in enumerate(decoded):
        position = start + offset
        image = PostImage(post=post, sha256=item.sha256, position=position, generated_image_id=item.generated_image_id)
        image.image.save(f"{position:02d}-{item.sha256[:16]}.{item.ext}", ContentFile(item.content), save=False)
        # Sizes come from our own decode, not a second read of the stored file.
        image.width, image.height = item.width, item.height
        image.save()


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
    then `generated_images` (GeneratedImage rows of this persona), in the order given.
    """
    role_require(user=actor, workspace_id=persona.workspace_id, roles=AUTHOR_ROLES)
    if platform not in Platform.values:
        raise ValidationFailed(f"Unknown platform '{platform}'; choose one of: {', '.join(Platform.values)}.")
    if scheduled_at is not None:
        _require_aware_future(scheduled_at)
    tags = _normalise_hashtags(persona.default_hashtags if hashtags is None else hashtags)

    label = _persona_label(persona)
    caption = (caption or "").strip()
    _check_caption_size(caption)
    if label.lower() not in caption.lower():
        caption = f"{caption}\n\n{label}" if caption else label

    # Decode everything before writing anything: one bad file refuses the whole post.
    decoded: list[_DecodedImage] = []
    for index, item in enumerate(images, start=1):
        data, name = _read_bytes(item)
        decoded.append(_sanitize_upload(data, name if name != "image" else f"Image {index}"))
    for generated in generated_images:
        if generated.job.persona_id != persona.pk:
            raise ValidationFailed(f"Generated image {generated.pk} belongs to another persona.")
        with generated.image.open("rb") as fh:
            data = fh.read()
        item = _decode_image(data, f"Generated image {generated.pk}")
        decoded.append(dataclasses.replace(item, generated_image_id=generated.pk))

    with transaction.atomic():
        post = Post.objects.create(
            workspace_id=persona.workspace_id,
            persona=persona,
            platform=platform,
            caption=caption,
            hashtags=tags,
            disclosure_label=label,
            is_sponsored=bool(is_sponsored),
            scheduled_at=scheduled_at,
            status=PostStatus.DRAFT,
            created_by=actor,
        )
        _save_images(post, decoded)
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
        locked = _lock(post.pk)
        role_require(user=actor, workspace_id=locked.workspace_id, roles=AUTHOR_ROLES, not_found=POST_NOT_FOUND)
        if locked.status not in EDITABLE_STATUSES:
            what = "its caption" if "caption" in fields else "it"
            raise Conflict(
                f"Post {locked.pk} is {_status_label(locked.status)}; you cannot edit {what}. "
                "Only drafts and posts with changes requested can be edited.",
                code="invalid_state",
                extra={"status": locked.status, "allowed_from": list(EDITABLE_STATUSES)},
            )
        if "platform" in fields and fields["platform"] not in Platform.values:
            raise ValidationFailed(
                f"Unknown platform '{fields['platform']}'; choose one of: {', '.join(Platform.values)}."
            )
        if "hashtags" in fields:
            fields["hashtags"] = _normalise_hashtags(fields["hashtags"])
        if fields.get("scheduled_at") is not None:
            _require_aware_future(fields["scheduled_at"])
        if "caption" in fields:
            # The disclosure label cannot be edited away: it is put back, as post_create adds it.
            caption, label = (fields["caption"] or "").strip(), _persona_label(locked.persona)
            if label.lower() not in caption.lower():
                caption = f"{caption}\n\n{label}" if caption else label
            fields["caption"] = caption
            _check_caption_size(fields["caption"])
            # Record the label the caption now carries: exports append the recorded one when it is missing,
            # so a stale one (the persona's label changed since creation) would be added a second time.
            fields["disclosure_label"] = label
        if "is_sponsored" in fields:
            fields["is_sponsored"] = bool(fields["is_sponsored"])
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*fields, "updated_at"])
    post.refresh_from_db()
    return locked


# --- Shared transition machinery -------------------------------------------------------------------


def _lock(post_id: int) -> Post:
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


def _check_platform_rules(post: Post, when: str) -> None:
    errors = validate_post_for_platform(post=post)
    if errors:
        raise ValidationFailed(
            f"Post {post.pk} cannot be {when} for {post.get_platform_display()}: " + " ".join(errors),
            code="platform_rules",
            extra={"errors": errors},
        )


def _check_compliance(post: Post, when: str) -> None:
    """AI-disclosure label in the caption; #ad on sponsored posts."""
    label = _persona_label(post.persona)
    if label.lower() not in (post.caption or "").lower():
        raise ValidationFailed(
            f'Post {post.pk} cannot be {when}: its caption must include the AI-disclosure label "{label}".',
            code="disclosure_missing",
        )
    if post.is_sponsored:
        tags = {t.lower().lstrip("#") for t in post.hashtags or []}
        if "ad" not in tags and not _AD_TAG.search(post.caption or ""):
            raise ValidationFailed(
                f"Post {post.pk} is sponsored and cannot be {when} without #ad in its caption or hashtags.",
                code="sponsored_without_ad",
            )


def _require_comment(comment: str, action: str) -> str:
    comment = (comment or "").strip()
    if not comment:
        raise ValidationFailed(f"A comment is required to {action}: tell the author what to change and why.")
    return comment


def _transition(
    *,
    actor: AbstractBaseUser | None,
    post_id: int,
    sources: Sequence[str],
    target: str,
    verb: str,
    roles: Sequence[str] | None,
    comment: str = "",
    checks: Callable[[Post], None] | None = None,
    changes: dict | None = None,
) -> Post:
    """Lock the post, check role and source state, run `checks`, set the new status, write the audit row.

    `roles=None` is a system transition (no actor, e.g. the export worker or the expiry sweep).
    """
    with transaction.atomic():
        post = _lock(post_id)
        if roles is not None:
            role_require(user=actor, workspace_id=post.workspace_id, roles=roles, not_found=POST_NOT_FOUND)
        _check_source(post, sources, verb)
        if checks is not None:
            checks(post)
        from_status = post.status
        post.status = target
        update_fields = ["status", "updated_at"]
        for name, value in (changes or {}).items():
            setattr(post, name, value)
            update_fields.append(name)
        post.save(update_fields=update_fields)
        PostTransition.objects.create(
            post=post,
            actor=actor if actor is not None and actor.is_authenticated else None,
            from_status=from_status,
            to_status=target,
            comment=comment,
        )
    return post


# --- Transitions -----------------------------------------------------------------------------------


def post_submit(*, actor: AbstractBaseUser, post_id: int, comment: str = "") -> Post:
    """draft | changes_requested -> in_review, once the post meets its platform's rules."""
    return _transition(
        actor=actor,
        post_id=post_id,
        sources=EDITABLE_STATUSES,
        target=PostStatus.IN_REVIEW,
        verb="submitted for review",
        roles=AUTHOR_ROLES,
        comment=(comment or "").strip(),
        checks=lambda post: _check_platform_rules(post, "submitted for review"),
    )


def post_approve(*, actor: AbstractBaseUser, post_id: int, comment: str = "") -> Post:
    """in_review -> approved, by a reviewer who is not the post's author."""

    def checks(post: Post) -> None:
        if post.created_by_id is not None and post.created_by_id == actor.pk:
            raise PermissionDenied(f"You created post {post.pk}; someone else has to approve it.", code="own_post")
        # Whoever sent this version to review (e.g. an admin who rewrote a marketer's draft) is its author too.
        submitted_by = (
            post.transitions.filter(to_status=PostStatus.IN_REVIEW).order_by("-created_at", "-id")
            .values_list("actor_id", flat=True).first()
        )
        if submitted_by is not None and submitted_by == actor.pk:
            raise PermissionDenied(
                f"You submitted post {post.pk} for review; someone else has to approve it.", code="own_post"
            )
        _check_compliance(post, "approved")
        _check_platform_rules(post, "approved")

    return _transition(
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
    comment = _require_comment(comment, "request changes")
    return _transition(
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
    comment = _require_comment(comment, "reject a post")
    return _transition(
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
        _require_aware_future(scheduled_at)
        _check_compliance(post, when)
        _check_platform_rules(post, when)

    return checks


def post_schedule(*, actor: AbstractBaseUser, post_id: int, scheduled_at: dt.datetime, comment: str = "") -> Post:
    """approved -> scheduled at `scheduled_at` (future, timezone-aware; stored in UTC).

    Minimum-gap clashes are warnings, not errors: see scheduler.selectors.calendar_conflicts.
    """
    _require_aware_future(scheduled_at)
    return _transition(
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
    return _transition(
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
    _require_aware_future(scheduled_at)
    with transaction.atomic():
        old = _lock(post_id).scheduled_at
        new = scheduled_at.astimezone(dt.UTC)
        note = f"Rescheduled from {old.isoformat() if old else 'no time'} to {new.isoformat()}."
        return _transition(
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
        post = _lock(post_id)
        if post.status == PostStatus.EXPORTED:
            return post
        return _transition(
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
    return _transition(
        actor=actor,
        post_id=post_id,
        sources=(PostStatus.SCHEDULED, PostStatus.EXPORTED),
        target=PostStatus.PUBLISHED,
        verb="marked published",
        roles=SCHEDULER_ROLES,
        comment=(comment or "").strip(),
    )


def posts_expire_overdue(*, now: dt.datetime | None = None) -> int:
    """Expire posts whose scheduled time passed before they were scheduled. Returns how many expired.

    Safe to run concurrently and repeatedly: each post is re-checked under its row lock.
    """
    now = now or timezone.now()
    candidate_ids = list(
        Post.objects.filter(status__in=EXPIRABLE_STATUSES, scheduled_at__lte=now).values_list("pk", flat=True)
    )
    expired = 0
    for post_id in candidate_ids:
        with transaction.atomic():
            post = Post.objects.select_for_update().filter(pk=post_id).first()
            if post is None or post.status not in EXPIRABLE_STATUSES or post.scheduled_at is None:
                continue
            if post.scheduled_at > now:
                continue
            from_status = post.status
            post.status = PostStatus.EXPIRED
            post.save(update_fields=["status", "updated_at"])
            PostTransition.objects.create(
                post=post,
                actor=None,
                from_status=from_status,
                to_status=PostStatus.EXPIRED,
                comment=(
                    f"Expired: its scheduled time {post.scheduled_at.isoformat()} passed while it was "
                    f"{_status_label(from_status)}."
                ),
            )
            expired += 1
    return expired


def post_text_as_posted(post: Post) -> str:
    """Caption and hashtags exactly as exports and platforms receive them."""
    return text_as_posted(post.caption, post.hashtags)
