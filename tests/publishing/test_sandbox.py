"""The publishing sandbox as a person meets it: its consent page connects an account through the studio's own
connect and callback routes, it fetches the image from the studio's signed media URL (or says why it could not), and
its index and permalink pages show what it received: caption, image, alt text, the AI flag."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.core.files.storage import default_storage
from django.urls import reverse

from core.access import Role
from publishing.models import AccountStatus, ConnectedAccount, PublicationStatus
from publishing.platforms import instagram
from publishing.platforms.base import MediaItem
from publishing.publish import publication_run
from publishing.sandbox.server import SANDBOX_USERS, GraphServer
from tests.factories import MembershipFactory, PersonaFactory
from tests.publishing.factories import ConnectedAccountFactory, scheduled_post
from tests.publishing.graph_server import sandbox_wire

STUDIO = "http://testserver"


@pytest.fixture
def sandbox(settings):
    server = GraphServer(fetch_media=True).start()
    yield server
    server.stop()


@pytest.fixture
def marketer_persona(client):
    membership = MembershipFactory(role=Role.MARKETER)
    persona = PersonaFactory(workspace=membership.workspace, created_by=membership.user)
    client.force_login(membership.user)
    return persona


def consent_form(html: str) -> dict[str, str]:
    """The hidden fields of the consent page's form, as a browser would send them."""
    return {name: unescape(value) for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                                                                  html)}


def connect_through_consent(client, persona, decision: str) -> tuple[requests.Response, str]:
    start = client.post(reverse("publishing-connect", args=[persona.pk, "instagram"]), {"next": "/"})
    assert start.status_code == 302
    authorize_url = start["Location"]
    page = requests.get(authorize_url, timeout=5)
    answer = requests.post(authorize_url.split("?")[0], data={**consent_form(page.text), "decision": decision},
                           allow_redirects=False, timeout=5)
    return page, answer.headers["Location"]


@pytest.mark.django_db
def test_the_consent_page_round_trip_connects_the_sandbox_account(client, settings, sandbox, marketer_persona):
    sandbox_wire(settings, sandbox, studio_url=STUDIO)

    page, back = connect_through_consent(client, marketer_persona, "allow")

    assert page.status_code == 200 and "Allow Persona Studio to publish as @sandbox_user?" in page.text
    assert back.startswith(f"{STUDIO}/publishing/callback/instagram?")
    assert set(parse_qs(urlparse(back).query)) == {"code", "state"}
    finished = client.get(back.removeprefix(STUDIO))
    assert finished.status_code == 302
    account = ConnectedAccount.objects.get(persona=marketer_persona)
    assert (account.username, account.platform_user_id, account.status) == (
        "sandbox_user", SANDBOX_USERS["instagram"], AccountStatus.CONNECTED)
    # The code went through the real exchange, PKCE verifier and redirect_uri checked; it works once.
    assert client.get(back.removeprefix(STUDIO)).status_code == 302
    assert ConnectedAccount.objects.filter(persona=marketer_persona).count() == 1


@pytest.mark.django_db
def test_deny_on_the_consent_page_connects_nothing(client, settings, sandbox, marketer_persona):
    sandbox_wire(settings, sandbox, studio_url=STUDIO)

    _, back = connect_through_consent(client, marketer_persona, "deny")

    assert parse_qs(urlparse(back).query)["error"] == ["access_denied"]
    response = client.get(back.removeprefix(STUDIO), follow=True)
    assert "Not connected: The user denied your request." in response.content.decode()
    assert not ConnectedAccount.objects.exists()


def test_a_code_exchanged_with_the_wrong_verifier_is_refused(sandbox):
    code = sandbox.consent_grant(platform="instagram", params={"code_challenge": "abc", "redirect_uri": "https://x"})
    answer = requests.post(f"{sandbox.url}/oauth/access_token", timeout=5,
                           data={"code": code, "code_verifier": "wrong", "redirect_uri": "https://x"})
    assert answer.status_code == 400 and "code_verifier" in answer.json()["error"]["message"]


@pytest.mark.django_db(transaction=True)
def test_a_published_post_is_fetched_from_the_signed_media_url_and_shown(settings, sandbox, live_server):
    sandbox_wire(settings, sandbox, studio_url=live_server.url)
    persona = PersonaFactory()
    ConnectedAccountFactory(persona=persona, platform_user_id=SANDBOX_USERS["instagram"], username="sandbox_user",
                            token=sandbox.token_for(SANDBOX_USERS["instagram"]))
    post = scheduled_post(persona=persona, caption="Golden hour in Lisbon <3")

    publication = publication_run(post_id=post.pk)

    assert publication.status == PublicationStatus.PUBLISHED, publication.last_error
    assert publication.permalink == f"{sandbox.url}/p/{publication.platform_media_id}"
    assert publication.ai_flag_reported is True
    (image,) = sandbox.received("instagram")[0]["images"]
    assert image["url"].startswith(f"{live_server.url}/publishing/media/") and image["fetched"]
    with default_storage.open(publication.media_files[0], "rb") as labelled:
        assert requests.get(f"{sandbox.url}/images/{image['container']}", timeout=5).content == labelled.read()
    index = requests.get(f"{sandbox.url}/", timeout=5).text
    card = index.split('data-platform="instagram"', 1)[1].split("</section>", 1)[0]
    assert "Golden hour in Lisbon &lt;3" in card
    assert f'<img src="{sandbox.url}/images/{image["container"]}"' in card
    assert "<dd data-ai-flag>true</dd>" in card and f'href="{publication.permalink}"' in card
    permalink_page = requests.get(publication.permalink, timeout=5)
    assert permalink_page.status_code == 200 and "Golden hour in Lisbon &lt;3" in permalink_page.text


@pytest.mark.django_db(transaction=True)
def test_an_image_url_that_does_not_serve_the_image_fails_the_container(settings, sandbox, live_server):
    settings.INSTAGRAM_GRAPH_BASE_URL = f"{sandbox.url}/v23.0"
    token = sandbox.token_for("17841400000000001")
    forged = f"{live_server.url}/publishing/media/not-a-signature"

    container, _ = instagram.containers_create(token=token, user_id="17841400000000001", caption="Forged",
                                               items=[MediaItem(image_url=forged, alt_text="A portrait")])

    status, detail = instagram.container_status(token=token, container_id=container)
    assert status == "ERROR" and "could not be fetched" in detail and "HTTP 404" in detail
    index = requests.get(f"{sandbox.url}/", timeout=5).text
    assert "data-fetch-error" in index and "HTTP 404" in index and "A portrait" in index


def test_a_stopped_and_restarted_sandbox_keeps_its_tokens_and_posts(tmp_path):
    first = GraphServer(state_dir=tmp_path).start()
    token = first.token_for("17841400000000001")
    requests.post(f"{first.url}/v23.0/17841400000000001/media", timeout=5,
                  data={"access_token": token, "image_url": "https://x.test/a.jpg", "caption": "Kept"})
    first.stop()
    second = GraphServer(state_dir=tmp_path).start()
    try:
        me = requests.get(f"{second.url}/v23.0/me", params={"access_token": token}, timeout=5)
        assert me.status_code == 200
        assert [row["caption"] for row in second.received("instagram")] == ["Kept"]
    finally:
        second.stop()
