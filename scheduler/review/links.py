"""Writes for client review links: create, revoke, and the decisions an external reviewer makes through one.

A link is shared by a member who may author posts (marketer or admin) with a named external reviewer, who needs
no account. Decisions go through scheduler.services.post_transition like every status change; their audit rows name
the link and its reviewer, with no actor.

No self-approval through a link: the link acts on its creator's authority, so it cannot approve a post its
creator created or submitted for review (otherwise an author could open their own link and approve their own
post as "the client"). The client can still request changes and comment on such a post; a teammate who did not
author it shares it for approval.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from core.access import AUTHOR_ROLES
from core.errors import NotFound, PermissionDenied, ValidationFailed
from personas.models import Persona
from personas.selectors import role_require
from scheduler.models import Post, PostStatus, ReviewLink, ReviewLinkScope
from scheduler.posts.rules import check_compliance, check_platform_rules, post_authorship
from scheduler.review.link_selectors import (
    LINK_MISSING,
    link_token,
    review_link_from_token,
    review_link_max_days,
    review_link_posts,
    review_link_require_open,
    secret_digest,
)
from scheduler.services import comment_require, post_transition

MAX_LINK_POSTS = 200


def _aware(value: dt.datetime, what: str) -> dt.datetime:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValidationFailed(f"{what} must include a timezone.")
    return value.astimezone(dt.UTC)


def review_link_create(
    *,
    actor: AbstractBaseUser,
    expires_at: dt.datetime,
    reviewer_name: str,
    reviewer_email: str = "",
    persona: Persona | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    posts: Sequence[Post] = (),
) -> tuple[ReviewLink, str]:
    """A link to a persona's posts scheduled in [start, end), or to chosen posts. Returns the link and its token:
    the token is not stored (only its secret's digest), so this is the one time it can be shown."""
    reviewer_name = " ".join((reviewer_name or "").split())
    if not reviewer_name:
        raise ValidationFailed("Name the external reviewer the link is for (e.g. 'Dana at Acme').")
    if len(reviewer_name) > 120:
        raise ValidationFailed("The reviewer's name is over 120 characters.")
    now = timezone.now()
    expires_at = _aware(expires_at, "The expiry")
    if expires_at <= now:
        raise ValidationFailed("The expiry must be in the future.")
    if expires_at > now + dt.timedelta(days=review_link_max_days()):
        raise ValidationFailed(f"A review link can last at most {review_link_max_days()} days.")
    posts = list(posts)
    if posts:
        if start is not None or end is not None:
            raise ValidationFailed("Share either a date range or chosen posts, not both.")
        if len(posts) > MAX_LINK_POSTS:
            raise ValidationFailed(f"A link can share at most {MAX_LINK_POSTS} chosen posts.")
        workspace_ids = {post.workspace_id for post in posts}
        if len(workspace_ids) > 1:
            raise ValidationFailed("The chosen posts belong to different workspaces; share each brand separately.")
        if persona is not None and any(post.persona_id != persona.pk for post in posts):
            raise ValidationFailed(f"Some chosen posts are not {persona.name}'s.")
        workspace_id, scope = workspace_ids.pop(), ReviewLinkScope.POSTS
    else:
        if persona is None or start is None or end is None:
            raise ValidationFailed("Share a persona with a date range (start and end), or choose posts.")
        start, end = _aware(start, "The start"), _aware(end, "The end")
        if end <= start:
            raise ValidationFailed("The date range must end after it starts.")
        workspace_id, scope = persona.workspace_id, ReviewLinkScope.RANGE
    role_require(user=actor, workspace_id=workspace_id, roles=AUTHOR_ROLES)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        link = ReviewLink.objects.create(
            workspace_id=workspace_id, scope=scope, persona=persona, start=start, end=end,
            reviewer_name=reviewer_name, reviewer_email=(reviewer_email or "").strip(),
            secret_sha256=secret_digest(secret), expires_at=expires_at, created_by=actor,
        )
        if posts:
            link.posts.set(posts)
    return link, link_token(link_id=link.pk, secret=secret)


def review_link_revoke(*, actor: AbstractBaseUser, link_id: int) -> ReviewLink:
    """Close a link at once. Idempotent: a revoked link keeps its first revocation."""
    with transaction.atomic():
        link = ReviewLink.objects.select_for_update().filter(pk=link_id).first()
        if link is None:
            raise NotFound(LINK_MISSING)
        role_require(user=actor, workspace_id=link.workspace_id, roles=AUTHOR_ROLES, not_found=LINK_MISSING)
        if link.revoked_at is None:
            link.revoked_at = timezone.now()
            link.revoked_by = actor
            link.save(update_fields=["revoked_at", "revoked_by"])
    return link


def _decide(*, token: str, post_id: int, target: str, verb: str, comment: str, approving: bool) -> Post:
    link = review_link_from_token(token=token)
    with transaction.atomic():
        # Under the link's row lock: a revocation that commits first closes the link for this decision.
        locked = ReviewLink.objects.select_for_update().select_related("created_by").get(pk=link.pk)
        review_link_require_open(locked)

        def checks(post: Post) -> None:
            if not review_link_posts(link=locked).filter(pk=post.pk).exists():
                raise NotFound("Post not found.")
            if approving:
                authorship = post_authorship(post, locked.created_by_id)
                if authorship:
                    raise PermissionDenied(
                        f"Post {post.pk} was {authorship} by the person who shared this link, and nobody approves "
                        "their own post: a teammate has to share it for approval. You can still request changes.",
                        code="own_post",
                    )
                check_compliance(post, "approved")
                check_platform_rules(post, "approved")

        if not review_link_posts(link=locked).filter(pk=post_id).exists():
            raise NotFound("Post not found.")
        return post_transition(
            actor=None, post_id=post_id, sources=(PostStatus.IN_REVIEW,), target=target, verb=verb, roles=None,
            comment=comment, checks=checks,
            audit_fields={"review_link": locked, "external_reviewer": locked.reviewer_name},
        )


def review_link_approve(*, token: str, post_id: int, comment: str = "") -> Post:
    """in_review -> approved by the link's external reviewer."""
    return _decide(token=token, post_id=post_id, target=PostStatus.APPROVED, verb="approved",
                   comment=(comment or "").strip(), approving=True)


def review_link_request_changes(*, token: str, post_id: int, comment: str) -> Post:
    """in_review -> changes_requested by the link's external reviewer; the comment says what to change."""
    comment = comment_require(comment, "request changes")
    return _decide(token=token, post_id=post_id, target=PostStatus.CHANGES_REQUESTED, verb="sent back for changes",
                   comment=comment, approving=False)
