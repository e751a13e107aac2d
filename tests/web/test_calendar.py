"""The calendar page and the API share one calendar and one minimum-gap rule."""

import datetime as dt

import pytest
from django.urls import reverse

from core.platforms import Platform
from scheduler import selectors
from scheduler.models import PostStatus
from tests.factories import PostFactory

pytestmark = pytest.mark.django_db


def test_the_page_flags_the_conflicts_scheduling_warns_about(client, marketer, persona):
    when = dt.datetime(2031, 1, 15, 10, 0, tzinfo=dt.UTC)
    shown = PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=when)
    # An approved post with a time holds its slot, and a post filtered out by platform still counts.
    approved = PostFactory(persona=persona, status=PostStatus.APPROVED, scheduled_at=when + dt.timedelta(hours=1))
    hidden = PostFactory(persona=persona, status=PostStatus.SCHEDULED, platform=Platform.THREADS,
                         scheduled_at=when - dt.timedelta(minutes=90))
    client.force_login(marketer)

    response = client.get(reverse("calendar"), {"view": "week", "start": "2031-01-15", "platform": "instagram"})

    chip = next(p for p in response.context["posts"] if p.pk == shown.pk)
    assert chip.conflicts == [
        f"Post #{hidden.pk} only 90 min apart (minimum 180 min)",
        f"Post #{approved.pk} only 60 min apart (minimum 180 min)",
    ]
    warned = selectors.calendar_conflicts(persona=persona, scheduled_at=when, exclude_post_id=shown.pk)
    assert len(warned) == len(chip.conflicts)
    assert f"Post #{hidden.pk} only 90 min apart" in response.content.decode()
