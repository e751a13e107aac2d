"""The publishing routes the pages' buttons post to: disconnect, retry, and connect on an installation without the
platform's app settings. POST only, CSRF checked, 404 (never 403) for another workspace's objects."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from publishing.models import AccountStatus, ConnectedAccount, OAuthState, Publication, PublicationStatus
from tests.factories import PostFactory
from tests.publishing.factories import ConnectedAccountFactory

pytestmark = pytest.mark.django_db

BACK = "/calendar/?view=day"


@pytest.fixture
def account(persona):
    return ConnectedAccountFactory(persona=persona, platform="instagram", username="ava.virtual")


def failed_publication(persona, **fields) -> Publication:
    post = PostFactory(persona=persona, status="scheduled", scheduled_at=timezone.now() - dt.timedelta(minutes=5))
    defaults = {"status": PublicationStatus.FAILED, "last_error": "The media could not be fetched from the URI.",
                "attempts": 3}
    return Publication.objects.create(post=post, **{**defaults, **fields})


def test_disconnect_erases_the_token_and_goes_back(client, marketer, persona, account):
    client.force_login(marketer)
    response = client.post(f"/publishing/accounts/{account.pk}/disconnect", {"next": f"/personas/{persona.pk}/"})
    assert response.status_code == 302 and response["Location"] == f"/personas/{persona.pk}/"
    account.refresh_from_db()
    assert account.status == AccountStatus.REVOKED and bytes(account.access_token_encrypted) == b""
    assert account.status_reason == "Disconnected."


def test_a_member_of_another_workspace_gets_404_and_changes_nothing(client, outsider, account):
    client.force_login(outsider)
    assert client.post(f"/publishing/accounts/{account.pk}/disconnect").status_code == 404
    assert client.post("/publishing/accounts/999999/disconnect").status_code == 404
    account.refresh_from_db()
    assert account.status == AccountStatus.CONNECTED and bytes(account.access_token_encrypted) != b""


def test_disconnect_and_retry_are_post_only(client, marketer, persona, account):
    publication = failed_publication(persona)
    client.force_login(marketer)
    assert client.get(f"/publishing/accounts/{account.pk}/disconnect").status_code == 405
    assert client.get(f"/publishing/posts/{publication.post_id}/retry").status_code == 405
    account.refresh_from_db()
    publication.refresh_from_db()
    assert account.status == AccountStatus.CONNECTED and publication.status == PublicationStatus.FAILED


def test_disconnect_and_retry_check_the_csrf_token(marketer, persona, account):
    publication = failed_publication(persona)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(marketer)
    assert browser.post(f"/publishing/accounts/{account.pk}/disconnect").status_code == 403
    assert browser.post(f"/publishing/posts/{publication.post_id}/retry").status_code == 403
    account.refresh_from_db()
    publication.refresh_from_db()
    assert account.status == AccountStatus.CONNECTED and publication.status == PublicationStatus.FAILED


def test_anonymous_users_are_sent_to_log_in(client, account):
    response = client.post(f"/publishing/accounts/{account.pk}/disconnect")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("status", [PublicationStatus.FAILED, PublicationStatus.WAITING])
def test_retry_requeues_a_failed_or_waiting_publication(client, reviewer, persona, status):
    publication = failed_publication(persona, status=status, next_attempt_at=timezone.now() + dt.timedelta(hours=1))
    client.force_login(reviewer)  # publishing's rule: any scheduling role
    response = client.post(f"/publishing/posts/{publication.post_id}/retry", {"next": BACK})
    assert response.status_code == 302 and response["Location"] == BACK
    publication.refresh_from_db()
    assert (publication.status, publication.attempts, publication.next_attempt_at) == (PublicationStatus.QUEUED, 0,
                                                                                        None)


def test_retry_leaves_a_published_one_alone_and_says_so(client, marketer, persona):
    publication = failed_publication(persona, status=PublicationStatus.PUBLISHED, last_error="", attempts=1,
                                     permalink="https://www.instagram.com/p/X/")
    client.force_login(marketer)
    response = client.post(f"/publishing/posts/{publication.post_id}/retry", {"next": BACK}, follow=True)
    assert "is published: nothing to retry" in response.content.decode()
    publication.refresh_from_db()
    assert (publication.status, publication.attempts) == (PublicationStatus.PUBLISHED, 1)


def test_retry_of_another_workspaces_or_a_missing_publication_is_404(client, outsider, marketer, persona):
    publication = failed_publication(persona)
    client.force_login(outsider)
    assert client.post(f"/publishing/posts/{publication.post_id}/retry").status_code == 404
    publication.refresh_from_db()
    assert (publication.status, publication.attempts) == (PublicationStatus.FAILED, 3)
    client.force_login(marketer)
    never_sent = PostFactory(persona=persona, status="scheduled")
    assert client.post(f"/publishing/posts/{never_sent.pk}/retry").status_code == 404


def test_an_open_redirect_in_next_is_ignored(client, marketer, persona):
    publication = failed_publication(persona)
    client.force_login(marketer)
    response = client.post(f"/publishing/posts/{publication.post_id}/retry", {"next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_connect_without_the_platforms_app_settings_says_so(client, settings, marketer, persona):
    settings.INSTAGRAM_APP_ID = settings.INSTAGRAM_APP_SECRET = ""
    settings.INSTAGRAM_REDIRECT_URI = "https://studio.example.test/publishing/callback/instagram"
    client.force_login(marketer)
    back = f"/personas/{persona.pk}/"
    response = client.post(f"/publishing/connect/{persona.pk}/instagram", {"next": back}, follow=True)
    assert response.redirect_chain[0] == (back, 302)  # back to the page, not off to a broken consent screen
    assert ("Connecting Instagram is not set up on this installation: INSTAGRAM_APP_ID, INSTAGRAM_APP_SECRET are "
            "empty.") in response.content.decode()
    assert not OAuthState.objects.exists() and not ConnectedAccount.objects.exists()
