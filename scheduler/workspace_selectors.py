"""Reads of one workspace's posts for a caller already scoped to it (the pages' current workspace): the review
page's lists, the dashboard's counts, posts waiting to be scheduled. Callers have checked membership; reads
scoped to a user live in selectors.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, F, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce

from personas.models import Persona
from personas.selectors import workspace_ids_query
from scheduler.models import Post, PostStatus, PostTransition
from scheduler.selectors import REVIEW_ORDER, images_prefetch, submitted_at, validate_post_for_platform

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
    *, workspace_id: int, persona_id: int | None = None, platform: str | None = None, limit: int = 20,
    personas: Mapping[int, Persona] | None = None,
) -> list[Post]:
    """Approved posts waiting to be scheduled, oldest first, with their personas (see posts_with_personas;
    internal: the caller has checked membership)."""
    qs = Post.objects.filter(workspace_id=workspace_id, status=PostStatus.APPROVED)
    if persona_id is not None:
        qs = qs.filter(persona_id=persona_id)
    if platform:
        qs = qs.filter(platform=platform)
    return posts_with_personas(list(qs.order_by("created_at", "id")[:limit]), personas)


def post_ids_in_workspaces(*, post_ids: Iterable[int], workspace_ids: Iterable[int]) -> set[int]:
    """Which of these posts belong to these workspaces (the caller's)."""
    return set(
        Post.objects.filter(pk__in=list(post_ids), workspace_id__in=list(workspace_ids)).values_list("pk", flat=True)
    )


def posts_with_personas(posts: list[Post], personas: Mapping[int, Persona] | None) -> list[Post]:
    """Set each post's persona from rows the caller already holds (a page lists its workspace's personas anyway),
    reading only the others (one query, when there are any): no join, no persona row per post."""
    by_id = dict(personas or {})
    missing = {post.persona_id for post in posts} - by_id.keys()
    if missing:
        by_id.update({p.pk: p for p in Persona.objects.filter(pk__in=missing)})
    for post in posts:
        post.persona = by_id[post.persona_id]
    return posts


def _username_of(relation: str) -> F:
    return F(f"{relation}__{get_user_model().USERNAME_FIELD}")


def review_page(
    *, user: AbstractBaseUser, workspace_id: int, persona_id: int | None = None, offset: int = 0, limit: int = 20,
    refine=None, annotate=None, personas: Mapping[int, Persona] | None = None,
) -> list[Post]:
    """A page of the review queue of one workspace, with each post's persona (see posts_with_personas), author's
    name (`author_name`), images (`image_list`) and transitions (`history`, each with its actor's name,
    `actor_name`). `refine` (queryset -> queryset) filters, annotates or orders the whole queue before paging, and
    `annotate` (the same, for what only adds annotations) the page's posts: what the layers above know about
    posts, such as their images' likeness."""
    # selectors.review_queue's posts and order, for one workspace. The whole queue is ordered, but as ids only: the
    # page's rows and annotations are then read for its posts alone, in the same query (the ids are a subquery), and
    # the user's membership is checked on them, so a queue of thousands costs about what 20 do.
    queue = Post.objects.filter(workspace_id=workspace_id, status=PostStatus.IN_REVIEW)
    if persona_id is not None:
        queue = queue.filter(persona_id=persona_id)
    queue = queue.annotate(submitted_at=submitted_at()).order_by(*REVIEW_ORDER)
    if refine is not None:
        queue = refine(queue)
    page = Post.objects.filter(pk__in=queue.values("pk")[offset : offset + limit],
                               workspace_id__in=workspace_ids_query(user=user))
    page = page.annotate(submitted_at=submitted_at(), author_name=_username_of("created_by")).order_by(*REVIEW_ORDER)
    if refine or annotate:
        page = (refine or annotate)(page)  # the annotations, and the order if it sorts
    transitions = PostTransition.objects.annotate(actor_name=_username_of("actor")).order_by("created_at")
    # As lists (to_attr): a prefetch into the related managers builds a queryset per post just to hold them.
    page = page.prefetch_related(Prefetch("images", queryset=images_prefetch().queryset, to_attr="image_list"),
                                 Prefetch("transitions", queryset=transitions, to_attr="history"))
    return posts_with_personas(list(page), personas)


def drafts_with_change_requests(
    *, workspace_id: int, persona_id: int | None = None, limit: int = 20, personas: Mapping[int, Persona] | None = None
) -> list[Post]:
    """Drafts and posts sent back, latest first, each with its persona (see posts_with_personas) and the reviewer's
    last "request changes" comment (`change_comment`, `change_by`) in the same query."""
    change_request = PostTransition.objects.filter(
        post=OuterRef("pk"), to_status=PostStatus.CHANGES_REQUESTED
    ).order_by("-created_at", "-id")
    drafts = Post.objects.filter(workspace_id=workspace_id, status__in=DRAFT_STATUSES)
    if persona_id is not None:
        drafts = drafts.filter(persona_id=persona_id)
    # The latest ids first (a subquery), then the comments of those posts only, not of every draft.
    latest = drafts.order_by("-updated_at", "-id").values("pk")[:limit]
    return posts_with_personas(list(
        Post.objects.filter(pk__in=latest)
        .annotate(
            change_comment=Subquery(change_request.values("comment")[:1]),
            change_by=Subquery(change_request.values("actor__username")[:1]),
        )
        .order_by("-updated_at", "-id")
    ), personas)


def _persona_posts_count(statuses: Iterable[str]):
    """How many of the persona's posts have one of these statuses (a subquery on its own posts)."""
    posts = Post.objects.filter(persona=OuterRef("pk"), status__in=list(statuses)).order_by()
    # COUNT(*), not of a column: the (persona, status) index answers it alone.
    return Coalesce(Subquery(posts.values("persona").annotate(n=Count("*")).values("n")[:1]), 0)


def persona_post_counts(*, workspace_id: int, limit: int = 50) -> list[Persona]:
    """The workspace's personas by name, each with `in_review`, `drafts` and `approved` post counts.

    Each count is a subquery over the persona's own posts: a join with every post of the workspace grouped by
    every persona column cost several times more."""
    return list(
        Persona.objects.filter(workspace_id=workspace_id)
        .annotate(
            in_review=_persona_posts_count([PostStatus.IN_REVIEW]),
            drafts=_persona_posts_count(DRAFT_STATUSES),
            approved=_persona_posts_count([PostStatus.APPROVED]),
        )
        .order_by("name")[:limit]
    )
