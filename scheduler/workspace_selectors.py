"""Reads of one workspace's posts for a caller already scoped to it (the pages' current workspace): the review
page's lists, the dashboard's counts, posts waiting to be scheduled. Callers have checked membership; reads
scoped to a user live in selectors.py."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, OuterRef, Prefetch, Q, Subquery

from personas.models import Persona
from scheduler.models import Post, PostStatus, PostTransition
from scheduler.selectors import review_queue, validate_post_for_platform

DRAFT_STATUSES = (PostStatus.DRAFT, PostStatus.CHANGES_REQUESTED)


def post_in_workspaces(*, post_id: int, workspace_ids: Iterable[int]) -> Post | None:
    """The post (with its persona) if it belongs to one of these workspaces (the caller's), else None."""
    return Post.objects.select_related("persona").filter(pk=post_id, workspace_id__in=list(workspace_ids)).first()


def persona_recent_posts(*, persona: Persona, limit: int = 20) -> list[Post]:
    """The persona's latest posts (internal: the caller has scoped the persona)."""
    return list(Post.objects.filter(persona=persona).order_by("-created_at", "-id")[:limit])


def post_platform_problems(*, post_id: int) -> list[str]:
    """validate_post_for_platform on the post as stored now (after an edit)."""
    return validate_post_for_platform(post=Post.objects.get(pk=post_id))


def approved_posts(
    *, workspace_id: int, persona_id: int | None = None, platform: str | None = None, limit: int = 20
) -> list[Post]:
    """Approved posts waiting to be scheduled, oldest first (internal: the caller has checked membership)."""
    qs = Post.objects.filter(workspace_id=workspace_id, status=PostStatus.APPROVED).select_related("persona")
    if persona_id is not None:
        qs = qs.filter(persona_id=persona_id)
    if platform:
        qs = qs.filter(platform=platform)
    return list(qs.order_by("created_at", "id")[:limit])


def post_ids_in_workspaces(*, post_ids: Iterable[int], workspace_ids: Iterable[int]) -> set[int]:
    """Which of these posts belong to these workspaces (the caller's)."""
    return set(
        Post.objects.filter(pk__in=list(post_ids), workspace_id__in=list(workspace_ids)).values_list("pk", flat=True)
    )


def review_page(
    *, user: AbstractBaseUser, workspace_id: int, persona_id: int | None = None, offset: int = 0, limit: int = 20,
    refine=None,
) -> list[Post]:
    """A page of the review queue of one workspace, with each post's transitions (and their actors). `refine`
    (queryset -> queryset) filters, annotates or orders it before paging: what the layers above know about posts,
    such as their images' likeness."""
    queue = (
        review_queue(user=user)
        .filter(workspace_id=workspace_id)
        .prefetch_related(
            Prefetch("transitions", queryset=PostTransition.objects.select_related("actor").order_by("created_at"))
        )
    )
    if persona_id is not None:
        queue = queue.filter(persona_id=persona_id)
    if refine is not None:
        queue = refine(queue)
    return list(queue[offset : offset + limit])


def drafts_with_change_requests(*, workspace_id: int, persona_id: int | None = None, limit: int = 20) -> list[Post]:
    """Drafts and posts sent back, latest first, each with the reviewer's last "request changes" comment
    (`change_comment`, `change_by`) in the same query."""
    change_request = PostTransition.objects.filter(
        post=OuterRef("pk"), to_status=PostStatus.CHANGES_REQUESTED
    ).order_by("-created_at", "-id")
    drafts = (
        Post.objects.filter(workspace_id=workspace_id, status__in=DRAFT_STATUSES)
        .select_related("persona")
        .annotate(
            change_comment=Subquery(change_request.values("comment")[:1]),
            change_by=Subquery(change_request.values("actor__username")[:1]),
        )
    )
    if persona_id is not None:
        drafts = drafts.filter(persona_id=persona_id)
    return list(drafts.order_by("-updated_at", "-id")[:limit])


def persona_post_counts(*, workspace_id: int, limit: int = 50) -> list[Persona]:
    """The workspace's personas by name, each with `in_review`, `drafts` and `approved` post counts."""
    return list(
        Persona.objects.filter(workspace_id=workspace_id)
        .annotate(
            in_review=Count("posts", filter=Q(posts__status=PostStatus.IN_REVIEW)),
            drafts=Count("posts", filter=Q(posts__status__in=DRAFT_STATUSES)),
            approved=Count("posts", filter=Q(posts__status=PostStatus.APPROVED)),
        )
        .order_by("name")[:limit]
    )
