"""Writes for comment threads on posts: by workspace members and by client review link reviewers.

An @username in a comment that names a member of the post's workspace notifies them by email, through Django's
email backend (the console in `make run`, SMTP when EMAIL_HOST is set), from a task run after the comment
commits; each comment's notifications go out once.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.access import Role
from core.dispatch import task_send
from core.errors import NotFound, ValidationFailed
from personas.models import Membership
from personas.selectors import role_require
from scheduler.models import Post, PostComment
from scheduler.review.link_selectors import POST_NOT_FOUND, review_link_from_token, review_link_posts

logger = logging.getLogger(__name__)

MAX_COMMENT_CHARS = 5000
MAX_MENTIONS = 20
# Any member may comment.
COMMENTER_ROLES = tuple(Role.values)
# "@name" not preceded by a word character: "dana@example.com" mentions nobody.
MENTION_RE = re.compile(r"(?<![\w.+-])@([\w.@+-]+)")


def _clean_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise ValidationFailed("Write a comment first.")
    if len(body) > MAX_COMMENT_CHARS:
        raise ValidationFailed(f"The comment is {len(body)} characters; keep it under {MAX_COMMENT_CHARS:,}.")
    return body


def mentioned_members(*, body: str, workspace_id: int, exclude_user_id: int | None = None) -> list[AbstractBaseUser]:
    """Members of the workspace that `body` @mentions by username (case-insensitive), at most MAX_MENTIONS."""
    names = list(dict.fromkeys(name.rstrip(".").lower() for name in MENTION_RE.findall(body)))[:MAX_MENTIONS]
    names = [name for name in names if name]
    if not names:
        return []
    query = Q()
    for name in names:
        query |= Q(username__iexact=name)
    member_ids = Membership.objects.filter(workspace_id=workspace_id).values("user_id")
    users = get_user_model().objects.filter(query, pk__in=member_ids, is_active=True)
    if exclude_user_id is not None:
        users = users.exclude(pk=exclude_user_id)
    return list(users.order_by("username"))


def _comment_insert(*, post: Post, body: str, author=None, link=None) -> PostComment:
    comment = PostComment.objects.create(
        post=post, author=author, review_link=link, external_reviewer=link.reviewer_name if link else "", body=body,
    )
    mentioned = mentioned_members(body=body, workspace_id=post.workspace_id,
                                  exclude_user_id=author.pk if author is not None else None)
    if mentioned:
        comment.mentioned.set(mentioned)
        task_send("scheduler.tasks.notify_comment_mentions", args=(comment.pk,))
    return comment


def post_comment_add(*, actor: AbstractBaseUser, post_id: int, body: str) -> PostComment:
    """A member's comment on a post of their workspace (any role)."""
    body = _clean_body(body)
    with transaction.atomic():
        post = Post.objects.filter(pk=post_id).first()
        if post is None:
            raise NotFound(POST_NOT_FOUND)
        role_require(user=actor, workspace_id=post.workspace_id, roles=COMMENTER_ROLES, not_found=POST_NOT_FOUND)
        return _comment_insert(post=post, body=body, author=actor)


def post_comment_add_for_link(*, token: str, post_id: int, body: str) -> PostComment:
    """The link's external reviewer comments on a post the link shows."""
    body = _clean_body(body)
    link = review_link_from_token(token=token)
    with transaction.atomic():
        post = review_link_posts(link=link).filter(pk=post_id).first()
        if post is None:
            raise NotFound(POST_NOT_FOUND)
        return _comment_insert(post=post, body=body, link=link)


def comment_author_name(comment: PostComment) -> str:
    if comment.review_link_id or comment.external_reviewer:
        return f"{comment.external_reviewer} (client review)"
    return comment.author.get_username() if comment.author_id else "a former member"


def comment_mentions_notify(*, comment_id: int) -> int:
    """Task body: email the members a comment mentions. Idempotent: the comment is claimed under its row lock
    first, so a redelivered task sends nothing twice; a failed send releases the claim and raises (to retry)."""
    with transaction.atomic():
        comment = (PostComment.objects.select_for_update(of=("self",)).select_related("post__persona", "author")
                   .filter(pk=comment_id).first())
        if comment is None or comment.mentions_notified_at is not None:
            return 0
        comment.mentions_notified_at = timezone.now()
        comment.save(update_fields=["mentions_notified_at"])
    members = Membership.objects.filter(workspace_id=comment.post.workspace_id).values("user_id")
    recipients = [user for user in comment.mentioned.filter(pk__in=members, is_active=True) if user.email]
    who, post = comment_author_name(comment), comment.post
    messages = [
        EmailMessage(
            subject=f"{who} mentioned you on post {post.pk} ({post.persona.name})",
            body=(f"Hi {user.get_username()},\n\n{who} mentioned you in a comment on post {post.pk} of "
                  f"{post.persona.name} ({post.platform}):\n\n{comment.body}\n\n-- Persona Studio\n"),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[user.email],
        )
        for user in recipients
    ]
    try:
        sent = get_connection().send_messages(messages) if messages else 0
    except Exception:
        PostComment.objects.filter(pk=comment.pk).update(mentions_notified_at=None)
        logger.exception("Mention emails of comment %s could not be sent", comment.pk)
        raise
    return sent or 0
