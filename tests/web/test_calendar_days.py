"""A busy month shows each busy day's counts and links to the day; the day view shows every post of that day."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse

from core.platforms import Platform
from scheduler.models import Post, PostStatus
from tests.factories import PersonaFactory

pytestmark = pytest.mark.django_db

# 10:00 UTC on 15 January 2031 is 11:00 in Paris (the factories' personas).
DAY = dt.date(2031, 1, 15)


def busy_day(persona, count: int, *, day: dt.date = DAY, start_hour: int = 7, spacing_minutes: int = 30) -> list[Post]:
    """`count` scheduled posts on `day` (Paris time), `spacing_minutes` apart."""
    start = dt.datetime.combine(day, dt.time(start_hour), tzinfo=dt.UTC)
    return Post.objects.bulk_create(
        Post(workspace_id=persona.workspace_id, persona=persona, platform=Platform.INSTAGRAM,
             caption=f"Busy {i}. {persona.disclosure_label}", disclosure_label=persona.disclosure_label,
             status=PostStatus.SCHEDULED, scheduled_at=start + dt.timedelta(minutes=spacing_minutes * i))
        for i in range(count)
    )


def cell(content: str, day: dt.date) -> str:
    return content.split(f'data-drop-date="{day.isoformat()}"', 1)[1].split("</td>", 1)[0]


def test_a_busy_day_in_the_month_shows_its_counts_and_links_to_the_day(client, marketer, persona):
    posts = busy_day(persona, 6)  # 30 minutes apart: each closer than the persona's 180-minute gap
    quiet = busy_day(persona, 1, day=DAY + dt.timedelta(days=2), start_hour=10)[0]
    client.force_login(marketer)

    response = client.get(reverse("calendar"), {"start": DAY.isoformat(), "persona": persona.pk})
    content = response.content.decode()

    busy = cell(content, DAY)
    assert "cal-post" not in busy  # no chips: the counts only
    assert 'data-day-count="6"' in busy and ">6 posts</a>" in busy and "6 in conflict" in busy
    assert f'href="?view=day&start={DAY.isoformat()}&persona={persona.pk}"' in busy
    assert "6 posts closer than the persona's minimum gap" in content  # the month's count covers them too
    # A quiet day keeps its chip, with its form and drag handle.
    other = cell(content, DAY + dt.timedelta(days=2))
    assert f'id="cal-post-{quiet.pk}"' in other and 'draggable="true"' in other
    assert [chip.pk for chip in response.context["posts"]] == [quiet.pk]
    assert all(f"cal-post-{post.pk}" not in content for post in posts)


def test_the_day_view_shows_every_post_of_the_day_with_its_forms(client, marketer, persona):
    other = PersonaFactory(workspace=persona.workspace, name="Other Local")
    posts = busy_day(persona, 15) + busy_day(other, 2, start_hour=12)
    client.force_login(marketer)

    content = client.get(reverse("calendar"), {"view": "day", "start": DAY.isoformat()}).content.decode()

    assert "Calendar · Wednesday 15 Jan 2031" in content
    assert "· 17 posts" in content  # more than the week view's 12 chips a day
    for post in posts:
        assert f'id="cal-post-{post.pk}"' in content
        assert f'action="{reverse("post_reschedule_page", args=[post.pk])}"' in content
    assert '<time datetime="2031-01-15T07:00:00+00:00">08:00</time>' in content  # Paris time
    assert 'href="?view=day&amp;start=2031-01-14"' in content and 'href="?view=day&amp;start=2031-01-16"' in content
    # Filtered by persona, only its posts.
    only = client.get(reverse("calendar"), {"view": "day", "start": DAY.isoformat(), "persona": other.pk})
    assert sorted(chip.pk for chip in only.context["posts"]) == sorted(post.pk for post in posts[15:])


def test_the_week_shows_twelve_chips_a_day_and_links_the_rest_to_the_day(client, marketer, persona):
    busy_day(persona, 15)
    client.force_login(marketer)

    content = client.get(reverse("calendar"), {"view": "week", "start": DAY.isoformat(),
                                               "persona": persona.pk}).content.decode()

    section = content.split(f'data-drop-date="{DAY.isoformat()}"', 1)[1].split("</section>", 1)[0]
    assert len(re.findall(r'class="cal-post', section)) == 12
    assert re.search(rf'<a class="more small" href="\?view=day&start={DAY.isoformat()}&[^"]*persona={persona.pk}'
                     r'[^"]*">\+3 more</a>', section)
