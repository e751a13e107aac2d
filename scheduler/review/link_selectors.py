"""Reads for client review links: a link from its token, and the posts, images and comments one link shows.

A link shows only its own set: a persona's posts scheduled in its date range, or the posts chosen for it, in a
status a client may see. Everything a link route reads goes through here, so nothing outside that set is
reachable with a token, whatever ids the request names.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core import signing
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from core.access import AUTHOR_ROLES
from core.errors import Gone, NotFound, PermissionDenied
from personas.selectors import role_require, workspace_ids_for_user
from scheduler.models import Post, PostComment, PostImage, PostStatus, ReviewLink, ReviewLinkScope

LINK_SALT = "scheduler.review-link"
LINK_NOT_FOUND = "This review link does not exist. Check that you copied the whole address."
LINK_MISSING = "Review link not found."
POST_NOT_FOUND = "Post not found."
# Drafts are not ready to show, rejected and expired posts are no longer on the table.
CLIENT_VISIBLE_STATUSES = (
    PostStatus.IN_REVIEW, PostStatus.CHANGES_REQUESTED, PostStatus.APPROVED, PostStatus.SCHEDULED,
    PostStatus.EXPORTED, PostStatus.PUBLISHED,
)  # fmt: skip


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def link_token(*, link_id: int, secret: str) -> str:
    """The token in a link's address: its id and random secret, signed with the project's SECRET_KEY. A forged
    or altered token fails the signature before any database read; the secret makes it unguessable."""
    return signing.Signer(salt=LINK_SALT).sign(f"{link_id}.{secret}")


def _token_parse(token: str) -> tuple[int, str] | None:
    try:
        value = signing.Signer(salt=LINK_SALT).unsign(str(token or ""))
    except signing.BadSignature:
        return None
    link_id, _, secret = value.partition(".")
    if not link_id.isdigit() or not secret or len(link_id) > 18:
        return None
    return int(link_id), secret


def review_link_state(link: ReviewLink, *, now=None) -> str:
    """active, expired or revoked."""
    if link.revoked_at is not None:
        return "revoked"
    return "expired" if link.expires_at <= (now or timezone.now()) else "active"


def review_link_require_open(link: ReviewLink, *, now=None) -> None:
    """Gone (410) with a clear reason for a revoked or expired link, or one whose sharer lost their access: a
    link acts on its creator's authority, so removing a member closes the links they shared."""
    state = review_link_state(link, now=now)
    if state == "revoked":
        raise Gone(f"This review link was revoked on {link.revoked_at:%Y-%m-%d}. Ask the team that shared it for a "
                   "new one.", code="link_revoked")
    if state == "expired":
        raise Gone(f"This review link expired on {link.expires_at:%Y-%m-%d %H:%M} UTC. Ask the team that shared it "
                   "for a new one.", code="link_expired")
    try:
        if link.created_by is None:
            raise NotFound(LINK_MISSING)
        role_require(user=link.created_by, workspace_id=link.workspace_id, roles=AUTHOR_ROLES)
    except (NotFound, PermissionDenied):
        raise Gone("The person who shared this review link no longer has access to these posts. Ask the team for "
                   "a new link.", code="link_inactive") from None


def review_link_from_token(*, token: str) -> ReviewLink:
    """The link a token names, open for review. NotFound for a bad token, Gone for a closed link."""
    parsed = _token_parse(token)
    link = None
    if parsed is not None:
        link = ReviewLink.objects.select_related("persona", "workspace", "created_by").filter(pk=parsed[0]).first()
    if link is None or not constant_time_compare(link.secret_sha256, secret_digest(parsed[1])):
        raise NotFound(LINK_NOT_FOUND, code="link_not_found")
    review_link_require_open(link)
    return link


def _images_prefetch() -> Prefetch:
    return Prefetch("images", queryset=PostImage.objects.order_by("position", "id"))


def review_link_posts(*, link: ReviewLink) -> QuerySet[Post]:
    """The posts the link shows, in calendar order."""
    posts = Post.objects.filter(workspace_id=link.workspace_id, status__in=CLIENT_VISIBLE_STATUSES)
    if link.scope == ReviewLinkScope.RANGE:
        posts = posts.filter(persona_id=link.persona_id, scheduled_at__gte=link.start, scheduled_at__lt=link.end)
    else:
        posts = posts.filter(review_links=link)
    return posts.select_related("persona").prefetch_related(_images_prefetch()).order_by("scheduled_at", "id")


def review_link_post(*, link: ReviewLink, post_id: int) -> Post:
    post = review_link_posts(link=link).filter(pk=post_id).first()
    if post is None:
        raise NotFound(POST_NOT_FOUND)
    return post


def review_link_image(*, link: ReviewLink, image_id: int) -> PostImage:
    image = PostImage.objects.filter(pk=image_id, post__in=review_link_posts(link=link).values("pk")).first()
    if image is None:
        raise NotFound("Image not found.")
    return image


def review_link_comments(*, link: ReviewLink, post_id: int) -> QuerySet[PostComment]:
    """The comment thread of a post the link shows."""
    post = review_link_post(link=link, post_id=post_id)
    return (PostComment.objects.filter(post_id=post.pk).select_related("author")
            .prefetch_related("mentioned").order_by("created_at", "id"))


def review_link_max_days() -> int:
    return int(getattr(settings, "REVIEW_LINK_MAX_DAYS", 90))


# --- Members' reads --------------------------------------------------------------------------------


def review_link_list(
    *, user: AbstractBaseUser, persona_id: int | None = None, workspace_id: int | None = None
) -> QuerySet[ReviewLink]:
    links = ReviewLink.objects.filter(workspace_id__in=workspace_ids_for_user(user=user))
    if workspace_id is not None:
        links = links.filter(workspace_id=workspace_id)
    if persona_id is not None:
        links = links.filter(persona_id=persona_id)
    return links.select_related("persona", "created_by", "revoked_by").prefetch_related("posts")


def review_link_get(*, user: AbstractBaseUser, link_id: int) -> ReviewLink:
    link = review_link_list(user=user).filter(pk=link_id).first()
    if link is None:
        raise NotFound(LINK_MISSING)
    return link
