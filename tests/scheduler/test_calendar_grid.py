"""The calendar page's one query (scheduler.calendar_grid) answers what calendar_entries and
calendar_entry_conflicts answer with two, and next_free_slots reads the whole horizon only when it must."""

import datetime as dt

import pytest

from core.platforms import Platform
from scheduler import selectors
from scheduler.calendar_grid import calendar_grid_entries, scheduled_times
from scheduler.models import Post, PostStatus
from tests.factories import PersonaFactory, PostFactory, aware

pytestmark = pytest.mark.django_db


def scheduled(persona, when, status=PostStatus.SCHEDULED, **kwargs):
    return PostFactory(persona=persona, status=status, scheduled_at=when, **kwargs)


@pytest.fixture
def month(persona):
    """Posts of two personas around June 2026: conflicts inside the period and across its edges, an approved
    post holding its slot, another platform, a draft with a time."""
    persona.min_post_gap_minutes = 180
    persona.save()
    other = PersonaFactory(workspace=persona.workspace, timezone="UTC", min_post_gap_minutes=60)
    scheduled(persona, aware(2026, 5, 31, 23))  # before the period, 60 minutes from the first one in it
    scheduled(persona, aware(2026, 6, 1, 0))
    scheduled(persona, aware(2026, 6, 1, 1), platform=Platform.THREADS)
    scheduled(persona, aware(2026, 6, 3, 10), status=PostStatus.APPROVED)
    scheduled(persona, aware(2026, 6, 3, 11), status=PostStatus.PUBLISHED)
    scheduled(persona, aware(2026, 6, 10, 9), status=PostStatus.DRAFT)
    scheduled(other, aware(2026, 6, 3, 11), platform=Platform.X)
    scheduled(other, aware(2026, 6, 3, 11, 30))
    scheduled(persona, aware(2026, 6, 30, 23))
    scheduled(persona, aware(2026, 7, 1, 1))  # after the period
    return persona, other


@pytest.mark.parametrize("filters", [{}, {"platform": Platform.INSTAGRAM}, {"persona": True}])
def test_the_grid_reads_in_one_query_what_entries_and_conflicts_read_in_two(month, filters,
                                                                               django_assert_num_queries):
    persona, other = month
    user, start, end = persona.created_by, aware(2026, 6, 1, 0), aware(2026, 7, 1, 0)
    persona_id = persona.pk if filters.get("persona") else None
    platform = filters.get("platform")
    personas = {persona.pk: persona, other.pk: other}
    with django_assert_num_queries(1):
        entries, conflicts = calendar_grid_entries(user=user, start=start, end=end, workspace_id=persona.workspace_id,
                                                   personas=personas, persona_id=persona_id, platform=platform)
    expected = selectors.calendar_entries(user=user, start=start, end=end, workspace_id=persona.workspace_id,
                                          persona_id=persona_id, platform=platform)
    assert entries == expected
    assert {pk: [(c.post_id, c.minutes) for c in found] for pk, found in conflicts.items()} == {
        pk: [(c.post_id, c.minutes) for c in found]
        for pk, found in selectors.calendar_entry_conflicts(expected).items()
    }
    assert conflicts  # the fixture has some: across the period's start, across platforms, with an approved post


def test_the_grid_reads_a_persona_the_caller_did_not_pass(month):
    persona, other = month
    entries, _ = calendar_grid_entries(user=persona.created_by, start=aware(2026, 6, 1, 0), end=aware(2026, 7, 1, 0),
                                       workspace_id=persona.workspace_id, personas={persona.pk: persona})
    assert {e.persona.pk for e in entries} == {persona.pk, other.pk}


def test_scheduled_times_are_the_entries_times(month):
    persona, _ = month
    start, end = aware(2026, 6, 1, 0), aware(2026, 7, 1, 0)
    entries = selectors.calendar_entries(user=persona.created_by, start=start, end=end)
    assert scheduled_times(user=persona.created_by, workspace_id=persona.workspace_id, start=start, end=end) == [
        (e.persona_id, e.scheduled_at) for e in entries
    ]


def test_next_free_slots_read_the_whole_horizon_only_for_a_persona_booked_through_two_weeks(
        persona, django_assert_num_queries):
    booked = PersonaFactory(workspace=persona.workspace, timezone="UTC", posting_slots=["09:00"],
                            min_post_gap_minutes=60)
    after = aware(2026, 6, 1, 0)
    Post.objects.bulk_create(
        Post(workspace_id=booked.workspace_id, persona=booked, status=PostStatus.SCHEDULED, platform=Platform.X,
             scheduled_at=aware(2026, 6, 1, 9) + dt.timedelta(days=day), caption="Booked.")
        for day in range(20)
    )
    expected = selectors.next_free_slot(persona=persona, after=after)
    with django_assert_num_queries(1):
        assert selectors.next_free_slots(personas=[persona], after=after) == {persona.pk: expected}
    with django_assert_num_queries(2):
        slots = selectors.next_free_slots(personas=[persona, booked], after=after)
    assert slots[booked.pk] == aware(2026, 6, 21, 9) == selectors.next_free_slot(persona=booked, after=after)
    assert slots[persona.pk] == expected
