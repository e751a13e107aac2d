"""What a post must satisfy: its platform, scheduled time, the persona's AI-disclosure label, "#ad" on sponsored
posts and the platform's publishing rules (the caption, label and hashtag rules themselves live in core.captions).

Each check raises ValidationFailed naming the problem; the services in scheduler.services decide when each
one applies (on every edit, or only at review and scheduling).
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from core.captions import mentions_ad, validate_content
from core.errors import ValidationFailed
from core.platforms import Platform
from personas.models import Persona
from personas.selectors import disclosure_label_for
from scheduler.models import Post, PostStatus
from scheduler.selectors import validate_post_for_platform


def require_platform(platform: str) -> None:
    if platform not in Platform.values:
        raise ValidationFailed(f"Unknown platform '{platform}'; choose one of: {', '.join(Platform.values)}.")


def require_aware_future(value: dt.datetime, *, what: str = "Scheduled time") -> None:
    if not isinstance(value, dt.datetime):
        raise ValidationFailed(f"{what} must be a date and time.")
    if timezone.is_naive(value):
        raise ValidationFailed(f"{what} must include a timezone (e.g. 2026-03-29T09:00:00+02:00).")
    now = timezone.now()
    if value <= now:
        raise ValidationFailed(f"{what} {value.isoformat()} is in the past; pick a time after {now.isoformat()}.")


def persona_label(persona: Persona, language: str = "en") -> str:
    """The disclosure label a caption of `persona` in `language` carries."""
    return disclosure_label_for(persona, language)


def check_compliance(post: Post, when: str) -> None:
    """AI-disclosure label in the caption; #ad on sponsored posts."""
    label = persona_label(post.persona, post.language)
    if label.lower() not in (post.caption or "").lower():
        raise ValidationFailed(
            f'Post {post.pk} cannot be {when}: its caption must include the AI-disclosure label "{label}".',
            code="disclosure_missing",
        )
    if post.is_sponsored:
        tags = {t.lower().lstrip("#") for t in post.hashtags or []}
        if "ad" not in tags and not mentions_ad(post.caption):
            raise ValidationFailed(
                f"Post {post.pk} is sponsored and cannot be {when} without #ad in its caption or hashtags.",
                code="sponsored_without_ad",
            )


def check_platform_rules(post: Post, when: str) -> None:
    _refuse(validate_post_for_platform(post=post), subject=f"Post {post.pk}", when=when,
            platform_label=post.get_platform_display())


def check_content_rules(
    *, platform: str, caption: str, hashtags: list[str], image_sizes: list[tuple[int, int]], when: str
) -> None:
    """check_platform_rules for a post not written yet, so that a refused one leaves nothing behind."""
    errors = validate_content(platform=platform, caption=caption, hashtags=hashtags, image_sizes=image_sizes)
    _refuse(errors, subject="The post", when=when, platform_label=Platform(platform).label)


def _refuse(errors: list[str], *, subject: str, when: str, platform_label: str) -> None:
    if errors:
        raise ValidationFailed(
            f"{subject} cannot be {when} for {platform_label}: " + " ".join(errors),
            code="platform_rules",
            extra={"errors": errors},
        )


def post_authorship(post: Post, user_id: int | None) -> str:
    """How `user_id` authored this version of the post ("created", "submitted"; "" when they did not): an author
    never approves their own post."""
    if user_id is None:
        return ""
    if post.created_by_id is not None and post.created_by_id == user_id:
        return "created"
    # Whoever sent this version to review (e.g. an admin who rewrote a marketer's draft) is its author too.
    submitted_by = (
        post.transitions.filter(to_status=PostStatus.IN_REVIEW).order_by("-created_at", "-id")
        .values_list("actor_id", flat=True).first()
    )
    return "submitted" if submitted_by is not None and submitted_by == user_id else ""
