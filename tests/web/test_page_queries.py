"""Every page of bench/pages.py reads a fixed number of queries, whatever the size of the workspace: the same
number for 20 posts (a few cards, chips and jobs) as for 500 (full pages), and no more than it read before the
pages were made to scale. A page that goes back to a query per post, per card, per chip or per day fails here."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bench.page_data import build_workspace

pytestmark = pytest.mark.django_db

# The page's queries: session, user and memberships, then the page's own (see each view). Publishing added one
# each to the dashboard (the latest publications), the calendar (the shown chips' publications, all in one) and the
# persona page (its connected accounts).
PAGE_QUERIES = {
    "dashboard": 8,
    "review queue": 10,
    "review queue (grid)": 10,
    "calendar month": 8,
    "calendar week (persona)": 8,
    "calendar day": 8,
    "persona page": 10,
    "exports": 6,
}


def page_urls(persona, day: dt.date) -> dict[str, str]:
    calendar = reverse("calendar")
    return {
        "dashboard": reverse("dashboard"),
        "review queue": reverse("review_queue"),
        "review queue (grid)": reverse("review_queue") + "?layout=grid",
        "calendar month": f"{calendar}?start={day.isoformat()}",
        "calendar week (persona)": f"{calendar}?view=week&persona={persona.pk}&start={day.isoformat()}",
        "calendar day": f"{calendar}?view=day&start={day.isoformat()}",
        "persona page": reverse("personas:detail", args=[persona.pk]),
        "exports": reverse("export_list"),
    }


def queries_of(client, url: str) -> int:
    client.get(url)  # the first request may store the workspace in the session
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured.captured_queries)


@pytest.fixture
def workspaces():
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    small = build_workspace(name="Few Posts", personas=1, posts_per_persona=20, start=now)
    large = build_workspace(name="Many Posts", personas=2, posts_per_persona=250, start=now)
    return small, large, (now + dt.timedelta(days=3)).date()


@pytest.mark.parametrize("page", list(PAGE_QUERIES))
def test_a_page_reads_as_many_queries_for_500_posts_as_for_20(client, workspaces, page):
    small, large, day = workspaces
    counts = []
    for _workspace, reviewer, persona in (small, large):
        client.force_login(reviewer)
        counts.append(queries_of(client, page_urls(persona, day)[page]))
    assert counts[0] == counts[1], f"{page}: {counts[0]} queries for 20 posts, {counts[1]} for 500"
    assert counts[1] <= PAGE_QUERIES[page], f"{page}: {counts[1]} queries, more than {PAGE_QUERIES[page]}"


def test_the_cached_cards_cost_no_query_and_a_cold_cache_none_either(client, workspaces):
    """Rendering the cards (from the cache or not) reads nothing: every query is the page's data."""
    from django.core.cache import cache

    _, (_, reviewer, persona), day = workspaces
    client.force_login(reviewer)
    for url in (reverse("review_queue"), reverse("personas:detail", args=[persona.pk]), reverse("dashboard"),
                f"{reverse('calendar')}?view=day&start={day.isoformat()}"):
        warm = queries_of(client, url)
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        # The cleared cache held the session too: reading it again from the database is not the cards' doing.
        page_queries = [q for q in captured.captured_queries if "django_session" not in q["sql"]]
        assert len(page_queries) == warm, url
