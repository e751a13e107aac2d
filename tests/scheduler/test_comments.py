"""Comment threads on posts, by members and by review link reviewers; @mentions notify by email."""

from __future__ import annotations

import datetime as dt
import email

import pytest
from django.core import mail
from django.utils import timezone

from core.access import Role
from core.errors import Gone, NotFound, ValidationFailed
from scheduler.models import PostComment, PostStatus
from scheduler.review import comments, links
from tests.conftest import client_for
from tests.factories import MembershipFactory, PostFactory, PostImageFactory, UserFactory, aware
from tests.smtp import LoopbackSMTPServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def post(persona, marketer):
    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.IN_REVIEW,
                       scheduled_at=aware(2030, 3, 10, 9))
    PostImageFactory(post=post, position=0)
    return post


def test_members_comment_and_mentions_email_the_named_members(post, marketer, reviewer, outsider,
                                                             django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        comment = comments.post_comment_add(
            actor=reviewer, post_id=post.pk,
            body=f"@{marketer.username.upper()} the light is off; cc @{outsider.username} @nobody "
                 f"and me@{reviewer.username}",
        )
    assert list(comment.mentioned.all()) == [marketer]  # not the outsider, not an unknown name, not an email
    assert [m.to for m in mail.outbox] == [[marketer.email]]
    assert reviewer.username in mail.outbox[0].subject and "the light is off" in mail.outbox[0].body
    comment.refresh_from_db()
    assert comment.mentions_notified_at is not None
    # A redelivered task sends nothing twice.
    assert comments.comment_mentions_notify(comment_id=comment.pk) == 0 and len(mail.outbox) == 1


def test_outsiders_cannot_comment_or_read(post, outsider):
    with pytest.raises(NotFound):
        comments.post_comment_add(actor=outsider, post_id=post.pk, body="hi")
    assert client_for(outsider).get(f"/api/v1/posts/{post.pk}/comments/").status_code == 404
    assert client_for(outsider).post(f"/api/v1/posts/{post.pk}/comments/", {"body": "x"}).status_code == 404
    assert not PostComment.objects.exists()


def test_an_empty_or_huge_comment_is_refused(post, reviewer):
    for body in ("  ", "x" * 5001):
        with pytest.raises(ValidationFailed):
            comments.post_comment_add(actor=reviewer, post_id=post.pk, body=body)


def test_the_thread_through_the_api(post, marketer, reviewer, django_capture_on_commit_callbacks):
    client = client_for(reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(f"/api/v1/posts/{post.pk}/comments/", {"body": f"@{marketer.username} nice"},
                              format="json")
    assert created.status_code == 201 and created.json()["mentioned"] == [marketer.username]
    client_for(marketer).post(f"/api/v1/posts/{post.pk}/comments/", {"body": "thanks"}, format="json")
    thread = client.get(f"/api/v1/posts/{post.pk}/comments/").json()
    assert [(c["author"], c["body"]) for c in thread] == [(reviewer.username, f"@{marketer.username} nice"),
                                                          (marketer.username, "thanks")]
    assert len(mail.outbox) == 1


def test_a_link_reviewer_comments_and_mentions_notify(post, marketer, admin_member,
                                                      django_capture_on_commit_callbacks):
    link, token = links.review_link_create(
        actor=admin_member, expires_at=timezone.now() + dt.timedelta(days=2), reviewer_name="Dana at Acme",
        posts=[post],
    )
    with django_capture_on_commit_callbacks(execute=True):
        comment = comments.post_comment_add_for_link(token=token, post_id=post.pk,
                                                     body=f"@{marketer.username} can we try a warmer tone?")
    assert comment.review_link == link and comment.external_reviewer == "Dana at Acme" and comment.author is None
    assert mail.outbox[0].subject.startswith("Dana at Acme (client review) mentioned you")
    links.review_link_revoke(actor=admin_member, link_id=link.pk)
    with pytest.raises(Gone):
        comments.post_comment_add_for_link(token=token, post_id=post.pk, body="still there?")
    assert PostComment.objects.count() == 1


def test_mentions_go_out_over_smtp_when_configured(post, marketer, reviewer, settings,
                                                   django_capture_on_commit_callbacks):
    with LoopbackSMTPServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        with django_capture_on_commit_callbacks(execute=True):
            comments.post_comment_add(actor=reviewer, post_id=post.pk, body=f"@{marketer.username} ping")
    assert len(server.messages) == 1
    sender, recipients, data = server.messages[0]
    assert recipients == [marketer.email] and sender.endswith("@localhost")
    message = email.message_from_bytes(data)
    assert "mentioned you on post" in message["Subject"] and "ping" in message.get_payload(decode=True).decode()


def test_a_failed_send_releases_the_claim_to_retry(post, marketer, reviewer, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens
    comment = comments.post_comment_add(actor=reviewer, post_id=post.pk, body=f"@{marketer.username} ping")
    with pytest.raises(OSError):
        comments.comment_mentions_notify(comment_id=comment.pk)
    comment.refresh_from_db()
    assert comment.mentions_notified_at is None


def test_members_without_an_email_or_who_left_get_nothing(post, reviewer, workspace,
                                                          django_capture_on_commit_callbacks):
    silent = MembershipFactory(workspace=workspace, role=Role.MARKETER, user=UserFactory(email="")).user
    with django_capture_on_commit_callbacks(execute=True):
        comments.post_comment_add(actor=reviewer, post_id=post.pk, body=f"@{silent.username} hello")
    assert mail.outbox == []
