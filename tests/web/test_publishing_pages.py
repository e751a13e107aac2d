"""Publishing in the pages: the persona page's connected accounts, and a post's publication status on the
calendar chips, the dashboard and the post's page, with its Retry action."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.access import Role
from publishing.models import AccountStatus, Publication, PublicationStatus
from scheduler.models import PostStatus
from tests.factories import PostFactory
from tests.publishing.factories import ConnectedAccountFactory

pytestmark = pytest.mark.django_db

IG_ERROR = "Media upload has failed with error code 2207026: the image's aspect ratio is not supported."
PERMALINK = "https://www.instagram.com/p/DEMO123/"


@pytest.fixture(autouse=True)
def _apps_configured(settings):
    settings.PUBLISHING_TOKEN_KEYS = Fernet.generate_key().decode()
    settings.INSTAGRAM_APP_ID = settings.THREADS_APP_ID = "app-1"
    settings.INSTAGRAM_APP_SECRET = settings.THREADS_APP_SECRET = "secret-1"
    settings.INSTAGRAM_REDIRECT_URI = "https://studio.example.test/publishing/callback/instagram"
    settings.THREADS_REDIRECT_URI = "https://studio.example.test/publishing/callback/threads"


def persona_page(client, user, persona) -> str:
    client.force_login(user)
    response = client.get(reverse("personas:detail", args=[persona.pk]))
    assert response.status_code == 200
    return response.content.decode()


def accounts_section(page: str) -> str:
    return page.split('id="publishing"', 1)[1].split("</section>", 1)[0]


def account_row(page: str, platform: str) -> str:
    return accounts_section(page).split(f'data-account="{platform}"', 1)[1].split("</li>", 1)[0]


# --- the persona page's accounts -----------------------------------------------------------------------------


def test_a_marketer_gets_connect_buttons_that_post_to_the_connect_route(client, marketer, persona):
    page = persona_page(client, marketer, persona)
    section = accounts_section(page)
    assert "Publishing accounts" in page
    for platform, label in (("instagram", "Instagram"), ("threads", "Threads")):
        row = account_row(page, platform)
        assert "not connected" in row and f"Connect {label}" in row
        assert f'action="/publishing/connect/{persona.pk}/{platform}"' in row and 'method="post"' in row
        assert f'name="next" value="/personas/{persona.pk}/#publishing"' in row
        assert 'name="csrfmiddlewaretoken"' in row
    assert "Disconnect" not in section


def test_a_member_whose_role_may_not_publish_sees_no_buttons(client, reviewer, persona, monkeypatch):
    """Every role may connect accounts today (publishing's rule is SCHEDULER_ROLES, admins included): narrowed to
    marketers, a reviewer sees the accounts and no button."""
    monkeypatch.setattr("web.shell.SCHEDULER_ROLES", (Role.MARKETER,))
    ConnectedAccountFactory(persona=persona, platform="instagram", username="ava.virtual")
    section = accounts_section(persona_page(client, reviewer, persona))
    assert "@ava.virtual" in section and "Connected" in section
    assert "Connect Threads" not in section and "Disconnect" not in section and "<form" not in section


def test_an_unconfigured_platform_says_so_instead_of_a_button(client, marketer, persona, settings):
    settings.THREADS_APP_SECRET = settings.THREADS_REDIRECT_URI = ""
    page = persona_page(client, marketer, persona)
    threads = account_row(page, "threads")
    assert "Connect Threads" not in threads and "<form" not in threads
    assert "not set up on this installation (THREADS_APP_SECRET, THREADS_REDIRECT_URI not set)" in threads
    assert "Connect Instagram" in account_row(page, "instagram")


def test_a_connected_account_shows_its_username_dates_and_a_confirmed_disconnect(client, marketer, persona):
    expires = timezone.now() + dt.timedelta(days=50)
    account = ConnectedAccountFactory(persona=persona, platform="instagram", username="ava.virtual",
                                      token_expires_at=expires)
    row = account_row(persona_page(client, marketer, persona), "instagram")
    assert "@ava.virtual" in row and '<span class="badge connected">Connected</span>' in row
    assert f"Connected since</dt><dd>{account.created_at:%-d %b %Y %H:%M} UTC" in row
    assert f"Token expires</dt><dd>{expires:%-d %b %Y %H:%M} UTC" in row
    # Disconnecting sits behind a disclosure that says what it does: a second, deliberate click.
    assert "<details" in row and "erases the stored token" in row
    assert f'action="/publishing/accounts/{account.pk}/disconnect"' in row
    assert "Reconnect" not in row and "Connect Instagram" not in row


def test_an_account_the_platform_refused_shows_reconnect_needed_with_the_reason(client, marketer, persona):
    reason = "Error validating access token: The user has not authorized application 1234."
    ConnectedAccountFactory(persona=persona, platform="threads", username="ava",
                            status=AccountStatus.RECONNECT_NEEDED, status_reason=reason)
    row = account_row(persona_page(client, marketer, persona), "threads")
    assert "Reconnect needed" in row and "The user has not authorized application 1234." in row
    assert "Reconnect Threads" in row and f'action="/publishing/connect/{persona.pk}/threads"' in row


def test_an_expired_token_shows_reconnect_needed_before_the_platform_refuses_it(client, marketer, persona):
    ConnectedAccountFactory(persona=persona, platform="instagram",
                            token_expires_at=timezone.now() - dt.timedelta(hours=2))
    row = account_row(persona_page(client, marketer, persona), "instagram")
    assert "Reconnect needed" in row and "Its token expired" in row and "(expired)" in row
    assert "Reconnect Instagram" in row


def test_a_disconnected_account_is_not_listed(client, marketer, persona):
    ConnectedAccountFactory(persona=persona, platform="instagram", username="gone.account",
                            status=AccountStatus.REVOKED, access_token_encrypted=b"")
    row = account_row(persona_page(client, marketer, persona), "instagram")
    assert "gone.account" not in row and "Connect Instagram" in row


def test_disconnect_from_the_persona_page_round_trip(client, marketer, persona):
    account = ConnectedAccountFactory(persona=persona, platform="instagram", username="ava.virtual")
    client.force_login(marketer)
    back = f"/personas/{persona.pk}/#publishing"
    response = client.post(f"/publishing/accounts/{account.pk}/disconnect", {"next": back}, follow=True)
    assert response.redirect_chain[0] == (back, 302)
    page = response.content.decode()
    assert "Disconnected Instagram account @ava.virtual" in page
    assert "Connect Instagram" in account_row(page, "instagram")


# --- a post's publication status --------------------------------------------------------------------------------


def post_with(persona, *, platform="instagram", post_status=PostStatus.SCHEDULED, **publication):
    when = (timezone.now() + dt.timedelta(days=2)).replace(hour=12, minute=0, second=0, microsecond=0)
    post = PostFactory(persona=persona, platform=platform, status=post_status, scheduled_at=when)
    Publication.objects.create(post=post, **publication)
    return post


def day_page(client, user, post) -> str:
    client.force_login(user)
    local = post.scheduled_at.astimezone(ZoneInfo(post.persona.timezone)).date()
    response = client.get(reverse("calendar"), {"view": "day", "start": local.isoformat()})
    assert response.status_code == 200
    return response.content.decode()


def chip(page: str, post) -> str:
    return page.split(f'id="cal-post-{post.pk}"', 1)[1].split("</details>", 1)[0]


def test_a_failed_publication_shows_the_platforms_message_and_retry_requeues_it(client, marketer, persona):
    post = post_with(persona, status=PublicationStatus.FAILED, last_error=IG_ERROR, attempts=3)
    shown = chip(day_page(client, marketer, post), post)
    assert f"Failed: {IG_ERROR}".replace("'", "&#x27;") in shown and "Publishing failed" in shown
    assert f'action="/publishing/posts/{post.pk}/retry"' in shown and ">Retry</button>" in shown

    here = reverse("calendar") + "?view=day"
    response = client.post(f"/publishing/posts/{post.pk}/retry", {"next": here})
    assert response.status_code == 302 and response["Location"] == here
    publication = Publication.objects.get(post=post)
    assert (publication.status, publication.attempts, publication.next_attempt_at) == (PublicationStatus.QUEUED, 0,
                                                                                        None)
    # The cached chip shows the change at once: its key holds the publication's status.
    shown = chip(day_page(client, marketer, post), post)
    assert "Queued for publishing" in shown and "Failed:" not in shown and ">Retry</button>" not in shown


def test_a_published_post_shows_its_permalink_and_the_ai_label(client, marketer, persona):
    post = post_with(persona, post_status=PostStatus.PUBLISHED, status=PublicationStatus.PUBLISHED,
                     permalink=PERMALINK, ai_flag_reported=True, platform_media_id="1790001")
    shown = chip(day_page(client, marketer, post), post)
    assert f'<a href="{PERMALINK}"' in shown and "Published" in shown and "AI label: set" in shown
    assert "Retry" not in shown


def test_threads_says_it_has_no_ai_flag(client, marketer, persona):
    post = post_with(persona, platform="threads", post_status=PostStatus.PUBLISHED,
                     status=PublicationStatus.PUBLISHED, permalink="https://www.threads.net/@ava/post/XYZ",
                     ai_flag_reported=None, ai_flag_note="Threads' API has no AI label field.")
    shown = chip(day_page(client, marketer, post), post)
    assert "AI label: not set (Threads has no API flag)" in shown


def test_in_flight_and_waiting_publications(client, marketer, persona):
    flying = post_with(persona, status=PublicationStatus.CONTAINER_CREATED, container_id="c-1")
    waiting = post_with(persona, status=PublicationStatus.WAITING,
                        last_error="Instagram allows 50 API-published posts in 24 hours and 50 went out.",
                        next_attempt_at=timezone.now() + dt.timedelta(hours=1))
    page = day_page(client, marketer, flying)
    assert "Publishing…" in chip(page, flying) and "Retry" not in chip(page, flying)
    shown = chip(page, waiting)
    assert "Waiting: Instagram allows 50 API-published posts in 24 hours and 50 went out." in shown
    assert "next attempt" in shown and ">Retry</button>" in shown


def test_a_status_change_shows_on_the_cached_chip_at_once(client, marketer, persona):
    post = post_with(persona, status=PublicationStatus.PUBLISHING, container_id="c-1")
    assert "Publishing…" in chip(day_page(client, marketer, post), post)
    Publication.objects.filter(post=post).update(status=PublicationStatus.PUBLISHED, permalink=PERMALINK,
                                                 ai_flag_reported=True)
    shown = chip(day_page(client, marketer, post), post)
    assert "Publishing…" not in shown and PERMALINK in shown and "AI label: set" in shown


def test_the_dashboard_lists_publications_that_need_someone_first(client, marketer, persona):
    published = post_with(persona, post_status=PostStatus.PUBLISHED, status=PublicationStatus.PUBLISHED,
                          permalink=PERMALINK, ai_flag_reported=True)
    failed = post_with(persona, status=PublicationStatus.FAILED, last_error=IG_ERROR)
    Publication.objects.filter(post=published).update(updated_at=timezone.now() + dt.timedelta(minutes=5))
    client.force_login(marketer)
    page = client.get(reverse("dashboard")).content.decode()
    section = page.split('id="publishing-heading"', 1)[1].split("</section>", 1)[0]
    assert section.index(f'id="publication-{failed.pk}"') < section.index(f'id="publication-{published.pk}"')
    assert "Failed: Media upload has failed" in section and f'action="/publishing/posts/{failed.pk}/retry"' in section
    assert f'name="next" value="{reverse("dashboard")}"' in section
    assert f'href="{PERMALINK}"' in section and "AI label: set" in section


def test_the_dashboard_has_no_publishing_section_without_publications(client, marketer, persona):
    client.force_login(marketer)
    assert 'id="publishing-heading"' not in client.get(reverse("dashboard")).content.decode()


def test_the_post_page_shows_the_status_line(client, marketer, persona):
    post = post_with(persona, status=PublicationStatus.FAILED, last_error=IG_ERROR)
    client.force_login(marketer)
    page = client.get(reverse("post_comments", args=[post.pk])).content.decode()
    assert "Failed: Media upload has failed" in page and f'action="/publishing/posts/{post.pk}/retry"' in page
    assert f'name="next" value="{reverse("post_comments", args=[post.pk])}"' in page


def test_another_workspaces_member_cannot_retry(client, persona, outsider):
    post = post_with(persona, status=PublicationStatus.FAILED, last_error=IG_ERROR, attempts=8)
    client.force_login(outsider)
    assert client.post(f"/publishing/posts/{post.pk}/retry").status_code == 404
    publication = Publication.objects.get(post=post)
    assert (publication.status, publication.attempts) == (PublicationStatus.FAILED, 8)


def test_the_calendar_reads_every_chips_publication_in_one_query(client, marketer, persona):
    """More chips with publications cost no more queries."""
    first = post_with(persona, status=PublicationStatus.FAILED, last_error=IG_ERROR)
    day_page(client, marketer, first)  # the first request may store the workspace in the session
    with CaptureQueriesContext(connection) as one:
        day_page(client, marketer, first)
    for _ in range(3):
        post_with(persona, post_status=PostStatus.PUBLISHED, status=PublicationStatus.PUBLISHED,
                  permalink=PERMALINK, ai_flag_reported=True)
    with CaptureQueriesContext(connection) as four:
        page = day_page(client, marketer, first)
    assert page.count('data-publication="published"') == 3
    assert len(four.captured_queries) == len(one.captured_queries)
