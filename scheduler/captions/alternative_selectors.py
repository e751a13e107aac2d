"""Reads of the caption alternatives offered for posts."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from scheduler.models import CaptionAlternative
from scheduler.selectors import post_get


def caption_alternatives_for_post(*, user: AbstractBaseUser, post_id: int) -> QuerySet[CaptionAlternative]:
    """The captions offered for a post the user can see, oldest first (404 for anyone else's)."""
    post = post_get(user=user, post_id=post_id)
    return CaptionAlternative.objects.filter(post=post).order_by("created_at", "id")


def caption_alternatives_by_post(*, post_ids: Iterable[int]) -> dict[int, list[CaptionAlternative]]:
    """The captions offered for each of these (already scoped) posts, oldest first, in one query."""
    by_post: dict[int, list[CaptionAlternative]] = {}
    for alternative in CaptionAlternative.objects.filter(post_id__in=list(post_ids)).order_by("created_at", "id"):
        by_post.setdefault(alternative.post_id, []).append(alternative)
    return by_post
