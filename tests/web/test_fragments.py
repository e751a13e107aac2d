"""Cached cards (web/fragments.py) show an edit at once, whatever was edited and however, and their forms carry
the token of the session that loads the page."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bench.page_data import build_workspace
from generation.models import GeneratedImage, GenerationJob, JobStatus
from personas.models import Persona
from scheduler.models import CaptionAlternative, Post, PostStatus, PostTransition
from tests.factories import MembershipFactory, UserFactory
from web.fragments import CSRF_PLACEHOLDER

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    workspace, reviewer, persona = build_workspace(name="Card Brand", personas=1, posts_per_persona=20, start=now)
    # The second post with a generated image (best of 3, on-model: the first is off-model, bench/page_data.py).
    post = Post.objects.filter(workspace=workspace, status=PostStatus.IN_REVIEW,
                               images__generated_image__isnull=False).order_by("pk")[1]
    return {"workspace": workspace, "reviewer": reviewer, "persona": persona, "post": post, "now": now}


def card(client, post) -> str:
    page = client.get(reverse("review_queue")).content.decode()
    assert str(CSRF_PLACEHOLDER) not in page
    return page.split(f'id="post-{post.pk}"', 1)[1].split("</article>", 1)[0]


def test_a_review_card_shows_every_kind_of_edit_at_once(client, team):
    post, persona = team["post"], team["persona"]
    client.force_login(team["reviewer"])
    before = card(client, post)
    assert "coffee, light and a city walk" in before and "On-model · 0.82" in before
    def tokenless(html: str) -> str:
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)

    assert tokenless(card(client, post)) == tokenless(before)  # from the cache: the same card, a fresh token

    # Edits that do not touch the post row's updated_at (a queryset update, a related row) show all the same.
    Post.objects.filter(pk=post.pk).update(caption="A new caption, written elsewhere.")
    assert "A new caption, written elsewhere." in card(client, post)
    kept = GeneratedImage.objects.get(post_images__post=post, candidate=0)
    GeneratedImage.objects.filter(pk=kept.pk).update(likeness_score=0.31, on_model=False)
    shown = card(client, post)
    assert "Off-model · 0.31" in shown and "likeness 0.31" in shown
    CaptionAlternative.objects.create(post=post, instruction="playful", caption="Coffee time, yay!")
    assert "Coffee time, yay!" in card(client, post)
    PostTransition.objects.create(post=post, actor=team["reviewer"], from_status="in_review", to_status="in_review",
                                  comment="Looked at the light again.")
    assert "Looked at the light again." in card(client, post)
    Persona.objects.filter(pk=persona.pk).update(name="Renamed Persona")
    assert "Renamed Persona" in card(client, post)


def test_a_cached_card_carries_the_token_of_each_session(team):
    post = team["post"]
    second = UserFactory()
    MembershipFactory(workspace=team["workspace"], user=second, role="reviewer")
    tokens = []
    for user in (team["reviewer"], second):  # the same rights: the second gets the card the first one's request cached
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(user)
        shown = card(browser, post)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', shown).group(1)
        tokens.append(token)
        if user == second:
            response = browser.post(reverse("review_decide", args=[post.pk]),
                                    {"action": "approve", "csrfmiddlewaretoken": token})
            assert response.status_code == 302  # the token is valid for this session
    assert tokens[0] != tokens[1]
    assert Post.objects.get(pk=post.pk).status == PostStatus.APPROVED


def test_job_chip_and_dashboard_cards_show_edits_at_once(client, team):
    persona, workspace = team["persona"], team["workspace"]
    client.force_login(team["reviewer"])
    job = GenerationJob.objects.filter(persona=persona).order_by("-created_at", "-id").first()
    page = reverse("personas:detail", args=[persona.pk])
    assert f'id="job-{job.pk}"' in client.get(page).content.decode()
    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, error="The GPU went away.")
    assert "The GPU went away." in client.get(page).content.decode()

    scheduled = Post.objects.filter(workspace=workspace, status=PostStatus.SCHEDULED).order_by("scheduled_at").first()
    when = scheduled.scheduled_at
    local_date = when.astimezone(ZoneInfo(scheduled.persona.timezone)).date()  # the calendar's day for this post
    day = f"{reverse('calendar')}?view=day&start={local_date.isoformat()}"
    assert f'datetime="{when.isoformat()}"' in client.get(day).content.decode()
    moved = when + dt.timedelta(minutes=7)
    Post.objects.filter(pk=scheduled.pk).update(scheduled_at=moved)
    assert f'datetime="{moved.isoformat()}"' in client.get(day).content.decode()

    dashboard = client.get(reverse("dashboard")).content.decode()
    assert re.search(r"<dt>Approved</dt><dd>3</dd>", dashboard)
    Post.objects.filter(workspace=workspace, status=PostStatus.APPROVED).update(status=PostStatus.DRAFT)
    assert re.search(r"<dt>Approved</dt><dd>0</dd>", client.get(reverse("dashboard")).content.decode())
