"""Publishing end to end in a browser against the publishing sandbox, as `make run` wires it: connect the persona's
Instagram account on the sandbox's consent page, let the beat tick publish a scheduled post (the sandbox fetches its
image from the live server's signed media URL), and find it published with its permalink and the AI label."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.urls import reverse

from core.access import Role
from publishing.models import ConnectedAccount, PublicationStatus
from publishing.sandbox.server import GraphServer
from publishing.selectors import post_publication
from publishing.tasks import publish_due_posts
from tests.browser.test_journey import log_in, messages_text
from tests.factories import MembershipFactory, PersonaFactory
from tests.publishing.factories import scheduled_post
from tests.publishing.graph_server import sandbox_wire

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sandbox(settings, live_server):
    server = GraphServer(fetch_media=True).start()
    sandbox_wire(settings, server, studio_url=live_server.url)
    settings.PUBLISHING_TOKEN_KEYS = Fernet.generate_key().decode()
    yield server
    server.stop()


def test_connect_publish_and_see_the_post_on_the_sandbox(page, shoot, sandbox):
    from playwright.sync_api import expect

    marketer = MembershipFactory(role=Role.MARKETER, user__username="maya").user
    persona = PersonaFactory(workspace=marketer.memberships.first().workspace, created_by=marketer, name="Mira Sol")
    log_in(page, "maya")
    page.goto(reverse("personas:detail", args=[persona.pk]))

    page.locator('[data-account="instagram"]').get_by_role("button", name="Connect Instagram").click()
    expect(page.get_by_role("heading", name="Allow Persona Studio to publish as @sandbox_user?")).to_be_visible()
    assert page.url.startswith(f"{sandbox.url}/instagram/oauth/authorize?")
    shoot(page, "sandbox-consent")
    with page.expect_navigation():
        page.get_by_role("button", name="Allow").click()
    assert "Connected Instagram account @sandbox_user." in messages_text(page)
    expect(page.locator('[data-account="instagram"]')).to_contain_text("@sandbox_user")
    assert ConnectedAccount.objects.get(persona=persona).username == "sandbox_user"

    post = scheduled_post(persona=persona, caption="Espresso at golden hour. #AI-generated")
    assert publish_due_posts() == 1  # the beat tick; publish_post runs inline (eager tasks)
    publication = post_publication(post_id=post.pk)
    assert publication.status == PublicationStatus.PUBLISHED, publication.last_error

    page.goto(reverse("post_comments", args=[post.pk]))
    line = page.locator('[data-publication="published"]')
    expect(line).to_contain_text("Published")
    expect(line.locator("[data-permalink]")).to_have_attribute("href", publication.permalink)
    expect(line.locator("[data-ai-label]")).to_have_text("AI label: set")

    page.goto(publication.permalink)
    card = page.locator(".card")
    expect(card.locator("[data-caption]")).to_contain_text("Espresso at golden hour. #AI-generated")
    expect(card.locator("[data-ai-flag]")).to_have_text("true")
    image = card.locator("img[data-image]")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    shoot(page, "sandbox-permalink")
