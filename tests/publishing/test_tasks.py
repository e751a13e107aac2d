import datetime as dt

import pytest
from django.utils import timezone

from publishing.models import Publication, PublicationStatus
from publishing.tasks import publish_due_posts, publish_post
from publishing.tokens import token_decrypt
from tests.publishing.factories import ConnectedAccountFactory, scheduled_post

USER = "17841400000000001"


@pytest.fixture
def account(graph, persona):
    graph.token_for(USER, "token-ig")
    return ConnectedAccountFactory(persona=persona, token="token-ig", platform_user_id=USER)


def test_the_beat_tick_sends_due_posts_once_and_the_task_publishes_them(
    graph, account, persona, django_capture_on_commit_callbacks
):
    due = scheduled_post(persona=persona)
    later = scheduled_post(persona=persona)
    later.scheduled_at = timezone.now() + dt.timedelta(hours=1)
    later.save(update_fields=["scheduled_at"])

    with django_capture_on_commit_callbacks(execute=True):
        assert publish_due_posts() == 1

    assert Publication.objects.get(post=due).status == PublicationStatus.PUBLISHED
    assert not Publication.objects.filter(post=later).exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert publish_due_posts() == 0  # done: nothing is sent again
    assert publish_post(due.pk) == PublicationStatus.PUBLISHED  # a redelivered message publishes nothing twice
    assert len(graph.published()) == 1


def test_a_post_whose_persona_has_no_connected_account_is_not_picked(graph, persona):
    scheduled_post(persona=persona)
    assert publish_due_posts() == 0


def test_a_token_close_to_expiry_is_refreshed_before_publishing(graph, account, persona):
    account.token_expires_at = timezone.now() + dt.timedelta(days=2)
    account.save(update_fields=["token_expires_at"])
    post = scheduled_post(persona=persona, images=0, hashtags=["#lisbon"])  # Threads: one topic tag
    post.platform = "threads"  # text: no image to label
    post.save(update_fields=["platform"])
    account.platform = "threads"
    account.save(update_fields=["platform"])

    assert publish_post(post.pk) == PublicationStatus.PUBLISHED

    account.refresh_from_db()
    assert token_decrypt(account.access_token_encrypted).startswith(f"long-{USER}")
    assert account.token_expires_at > timezone.now() + dt.timedelta(days=50)
    assert graph.calls("GET", "refresh_access_token")[0]["grant_type"] == "th_refresh_token"
