"""One calendar and one minimum-gap rule: the grid's light rows, its conflicts and its free slots answer what the
API's calendar_posts, calendar_conflicts and next_free_slot answer."""

import pytest

from core.platforms import Platform
from scheduler import selectors
from scheduler.models import PostStatus
from tests.factories import PersonaFactory, PostFactory, aware

pytestmark = pytest.mark.django_db


def scheduled(persona, when, status=PostStatus.SCHEDULED, **kwargs):
    return PostFactory(persona=persona, status=status, scheduled_at=when, **kwargs)


def test_calendar_entries_are_calendar_posts_as_rows(persona, marketer, outsider):
    other = PersonaFactory(workspace=persona.workspace, timezone="UTC")
    posts = [
        scheduled(persona, aware(2026, 3, 28, 23, 30)),  # the 29th in Paris
        scheduled(other, aware(2026, 3, 28, 23, 30), platform=Platform.X),
        scheduled(persona, aware(2026, 3, 30, 9), status=PostStatus.PUBLISHED),
    ]
    scheduled(persona, aware(2026, 3, 29, 9), status=PostStatus.APPROVED)  # not on the grid by default
    start, end = aware(2026, 3, 27, 0), aware(2026, 4, 1, 0)

    entries = selectors.calendar_entries(user=marketer, start=start, end=end)
    buckets = selectors.calendar_posts(user=marketer, start=start, end=end, status=selectors.CALENDAR_STATUSES)
    assert [e.pk for e in entries] == [p.pk for p in posts]  # by scheduled time, then id
    assert sorted(e.pk for e in entries) == sorted(p.pk for b in buckets for p in b.posts)
    assert {e.pk: e.persona.pk for e in entries} == {p.pk: p.persona_id for p in posts}
    assert [e.pk for e in selectors.calendar_entries(user=marketer, start=start, end=end, platform="x")] == [
        posts[1].pk
    ]
    assert selectors.calendar_entries(user=outsider, start=start, end=end) == []
    assert len(selectors.calendar_entries(user=marketer, start=start, end=end, limit=2)) == 2


def test_the_grid_flags_what_scheduling_warns_about(persona):
    persona.min_post_gap_minutes = 180
    persona.save()
    first = scheduled(persona, aware(2026, 6, 1, 10))
    second = scheduled(persona, aware(2026, 6, 1, 11), platform=Platform.THREADS)
    approved = scheduled(persona, aware(2026, 6, 1, 15), status=PostStatus.APPROVED)  # holds its slot
    lone = scheduled(persona, aware(2026, 6, 2, 10))
    scheduled(PersonaFactory(workspace=persona.workspace), aware(2026, 6, 1, 10, 30))  # another persona
    entries = selectors.calendar_entries(user=persona.created_by, start=aware(2026, 6, 1, 0), end=aware(2026, 6, 3, 0),
                                         persona_id=persona.pk, status=[PostStatus.SCHEDULED])

    conflicts = selectors.calendar_entry_conflicts(entries)

    assert {pk: [(c.post_id, c.minutes, c.minimum) for c in found] for pk, found in conflicts.items()} == {
        first.pk: [(second.pk, 60, 180)],
        second.pk: [(first.pk, 60, 180)],
    }
    for entry in entries:  # the API's warning for the same post names the same others
        warned = selectors.calendar_conflicts(persona=persona, scheduled_at=entry.scheduled_at,
                                              exclude_post_id=entry.pk)
        assert len(warned) == len(conflicts.get(entry.pk, []))
    assert lone.pk not in conflicts and approved.pk not in [e.pk for e in entries]


def test_the_grid_sees_a_busy_post_hidden_by_its_filter(persona):
    persona.min_post_gap_minutes = 120
    persona.save()
    shown = scheduled(persona, aware(2026, 6, 1, 10), platform=Platform.INSTAGRAM)
    hidden = scheduled(persona, aware(2026, 6, 1, 11), platform=Platform.THREADS)
    entries = selectors.calendar_entries(user=persona.created_by, start=aware(2026, 6, 1, 0),
                                         end=aware(2026, 6, 2, 0), platform=Platform.INSTAGRAM)
    assert [e.pk for e in entries] == [shown.pk]
    assert [c.post_id for c in selectors.calendar_entry_conflicts(entries)[shown.pk]] == [hidden.pk]


def test_next_free_slots_answer_like_next_free_slot_in_one_query(persona, django_assert_num_queries):
    busy = PersonaFactory(workspace=persona.workspace, posting_slots=["09:00"], min_post_gap_minutes=60)
    scheduled(busy, aware(2026, 6, 1, 7))  # 09:00 Paris on the 1st is taken
    no_slots = PersonaFactory(workspace=persona.workspace, posting_slots=[])
    after = aware(2026, 6, 1, 0)
    with django_assert_num_queries(1):
        slots = selectors.next_free_slots(personas=[persona, busy, no_slots], after=after)
    assert slots == {
        persona.pk: selectors.next_free_slot(persona=persona, after=after),
        busy.pk: selectors.next_free_slot(persona=busy, after=after),
        no_slots.pk: None,
    }
    assert slots[busy.pk] == aware(2026, 6, 2, 7)
