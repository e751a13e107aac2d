"""Writes: an author swaps a post's caption for another (a caption alternative) without moving it through the
review workflow; the swap is a same-status transition, so it has its audit row."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from core.access import AUTHOR_ROLES
from core.captions import caption_with_label, hashtags_normalise
from personas.selectors import role_require
from scheduler.models import Post, PostStatus
from scheduler.posts.rules import persona_label
from scheduler.services import EDITABLE_STATUSES, POST_NOT_FOUND, post_lock, post_transition


def post_caption_replace(
    *,
    actor: AbstractBaseUser,
    post_id: int,
    caption: str,
    hashtags: Iterable[str],
    paid_partnership: bool = False,
    comment: str = "",
    language: str = "",
) -> Post:
    """An author swaps the caption of a draft, a post in review or one with changes requested (e.g. for a caption
    alternative). The post keeps its status; the audit row records the swap, and whoever swapped a caption under
    review becomes one of its authors (they cannot approve it). The language's label is put back if missing."""
    with transaction.atomic():
        post = post_lock(post_id)
        role_require(user=actor, workspace_id=post.workspace_id, roles=AUTHOR_ROLES, not_found=POST_NOT_FOUND)
        language = language or post.language  # a translation changes the post's language, and so its label
        label = persona_label(post.persona, language)
        status = post.status
        sources = (*EDITABLE_STATUSES, PostStatus.IN_REVIEW)
        return post_transition(
            actor=actor,
            post_id=post_id,
            sources=(status,) if status in sources else sources,
            target=status,
            verb="given another caption",
            roles=AUTHOR_ROLES,
            comment=comment,
            changes={
                "caption": caption_with_label(caption, label),
                "hashtags": hashtags_normalise(hashtags),
                "disclosure_label": label,
                "language": language,
                "paid_partnership": bool(paid_partnership or post.is_sponsored),
            },
        )
