import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import NotFound, ValidationFailed
from core.platforms import Platform
from scheduler import selectors, services
from scheduler.models import PostStatus
from scheduler.selectors import validate_post_for_platform
from tests.factories import PersonaFactory, PostFactory, PostImageFactory, aware

pytestmark = pytest.mark.django_db


def scheduled(persona, when, status=PostStatus.SCHEDULED, **kwargs):
    return PostFactory(persona=persona, status=status, scheduled_at=when, **kwargs)


# --- calendar grouping -----------------------------------------------------------------------------


def test_calendar_groups_by_local_date_across_spring_forward_in_paris(persona, marketer):
    # 2026-03-29: Paris goes from UTC+1 to UTC+2 at 02:00 local.
    early = scheduled(persona, aware(2026, 3, 28, 23, 30))  # 00:30 on the 29th in Paris (UTC+1)
    late = scheduled(persona, aware(2026, 3, 29, 21, 30))  # 23:30 on the 29th (UTC+2)
    next_day = scheduled(persona, aware(2026, 3, 29, 22, 30))  # 00:30 on the 30th (UTC+2)
    utc_persona = PersonaFactory(workspace=persona.workspace, timezone="UTC")
    utc_post = scheduled(utc_persona, aware(2026, 3, 28, 23, 30))  # still the 28th in UTC

    buckets = selectors.calendar_posts(user=marketer, start=aware(2026, 3, 27, 0), end=aware(2026, 4, 1, 0))
    assert [(b.period_start, [p.pk for p in b.posts]) for b in buckets] == [
        (dt.date(2026, 3, 28), [utc_post.pk]),
        (dt.date(2026, 3, 29), [early.pk, late.pk]),
        (dt.date(2026, 3, 30), [next_day.pk]),
    ]
    assert [b.count for b in buckets] == [1, 2, 1]


def test_calendar_fall_back_week_and_month_granularity(persona, marketer):
    # 2026-10-25 (Sunday): Paris goes back from UTC+2 to UTC+1.
    sunday_night = scheduled(persona, aware(2026, 10, 25, 22, 30))  # 23:30 Sunday local (UTC+1)
    monday = scheduled(persona, aware(2026, 10, 25, 23, 30))  # 00:30 Monday 26th local
    november = scheduled(persona, aware(2026, 10, 31, 23, 30), platform="x")  # 00:30 Nov 1st local

    weeks = selectors.calendar_posts(
        user=marketer, start=aware(2026, 10, 20), end=aware(2026, 11, 5), granularity="week"
    )
    assert [(b.period_start, [p.pk for p in b.posts]) for b in weeks] == [
        (dt.date(2026, 10, 19), [sunday_night.pk]),
        (dt.date(2026, 10, 26), [monday.pk, november.pk]),
    ]
    months = selectors.calendar_posts(
        user=marketer, start=aware(2026, 10, 1), end=aware(2026, 12, 1), granularity="month"
    )
    assert [(b.period_start, b.count) for b in months] == [(dt.date(2026, 10, 1), 2), (dt.date(2026, 11, 1), 1)]
    only_x = selectors.calendar_posts(user=marketer, start=aware(2026, 10, 1), end=aware(2026, 12, 1), platform="x")
    assert [p.pk for b in only_x for p in b.posts] == [november.pk]


def test_calendar_is_scoped_filtered_and_validated(persona, marketer, outsider):
    mine = scheduled(persona, aware(2026, 5, 1, 10))
    other_persona = PersonaFactory(workspace=persona.workspace)
    scheduled(other_persona, aware(2026, 5, 1, 11))
    scheduled(PersonaFactory(), aware(2026, 5, 1, 12))  # another workspace
    start, end = aware(2026, 5, 1, 0), aware(2026, 5, 2, 0)
    assert sum(b.count for b in selectors.calendar_posts(user=marketer, start=start, end=end)) == 2
    by_persona = selectors.calendar_posts(user=marketer, start=start, end=end, persona_id=persona.pk)
    assert [p.pk for b in by_persona for p in b.posts] == [mine.pk]
    assert selectors.calendar_posts(user=outsider, start=start, end=end, persona_id=persona.pk) == []
    with pytest.raises(ValidationFailed, match="granularity"):
        selectors.calendar_posts(user=marketer, start=start, end=end, granularity="year")
    with pytest.raises(ValidationFailed, match="end after it starts"):
        selectors.calendar_posts(user=marketer, start=end, end=start)


# --- conflicts -------------------------------------------------------------------------------------


def test_calendar_conflicts_warn_inside_the_minimum_gap(persona):
    persona.min_post_gap_minutes = 180
    existing = scheduled(persona, aware(2026, 6, 1, 10))
    scheduled(persona, aware(2026, 6, 1, 11), status=PostStatus.DRAFT)  # drafts do not hold a slot
    scheduled(PersonaFactory(workspace=persona.workspace), aware(2026, 6, 1, 11))  # other persona

    warnings = selectors.calendar_conflicts(persona=persona, scheduled_at=aware(2026, 6, 1, 11))
    assert len(warnings) == 1
    assert f"Post {existing.pk} (instagram) is at 2026-06-01 12:00 Europe/Paris, 60 minutes" in warnings[0]
    assert "at least 180 minutes" in warnings[0]
    assert selectors.calendar_conflicts(persona=persona, scheduled_at=aware(2026, 6, 1, 13)) == []
    assert selectors.calendar_conflicts(persona=persona, scheduled_at=aware(2026, 6, 1, 7, 1)) != []
    assert (
        selectors.calendar_conflicts(persona=persona, scheduled_at=aware(2026, 6, 1, 10), exclude_post_id=existing.pk)
        == []
    )


def test_approved_posts_with_a_time_count_as_busy(persona):
    scheduled(persona, aware(2026, 6, 1, 10), status=PostStatus.APPROVED)
    assert selectors.calendar_conflicts(persona=persona, scheduled_at=aware(2026, 6, 1, 10, 30))


# --- next free slot --------------------------------------------------------------------------------


def test_next_free_slot_is_strictly_after_and_respects_the_gap(persona):
    # Slots 09:00, 12:30, 18:00 Paris; June is UTC+2; gap 180 minutes.
    after = aware(2026, 6, 1, 7)  # exactly 09:00 local: that slot is not "after"
    assert selectors.next_free_slot(persona=persona, after=after) == aware(2026, 6, 1, 10, 30)
    scheduled(persona, aware(2026, 6, 1, 10))  # 12:00 local blocks 12:30 (30 minutes away)
    assert selectors.next_free_slot(persona=persona, after=after) == aware(2026, 6, 1, 16)
    scheduled(persona, aware(2026, 6, 1, 18), status=PostStatus.APPROVED)  # 20:00 local blocks 18:00
    assert selectors.next_free_slot(persona=persona, after=after) == aware(2026, 6, 2, 7)


def test_next_free_slot_skips_a_slot_inside_the_spring_forward_gap(persona):
    persona.posting_slots = ["02:30", "10:00"]
    # 01:00 Paris on 2026-03-29: 02:30 does not exist that night, so the next slot is 10:00 (UTC+2).
    assert selectors.next_free_slot(persona=persona, after=aware(2026, 3, 29, 0)) == aware(2026, 3, 29, 8)
    # The day before (UTC+1), 02:30 exists.
    assert selectors.next_free_slot(persona=persona, after=aware(2026, 3, 27, 23)) == aware(2026, 3, 28, 1, 30)


def test_next_free_slot_uses_the_first_occurrence_of_a_repeated_hour(persona):
    persona.posting_slots = ["02:30"]
    # 2026-10-25 02:30 Paris happens twice; the first is at UTC+2 = 00:30 UTC.
    assert selectors.next_free_slot(persona=persona, after=aware(2026, 10, 24, 22)) == aware(2026, 10, 25, 0, 30)


def test_next_free_slot_needs_slots_and_an_aware_time(persona):
    persona.posting_slots = []
    with pytest.raises(ValidationFailed, match="no posting slots"):
        selectors.next_free_slot(persona=persona, after=aware(2026, 6, 1))
    persona.posting_slots = ["9am"]
    with pytest.raises(ValidationFailed, match="not a HH:MM time"):
        selectors.next_free_slot(persona=persona, after=aware(2026, 6, 1))
    persona.posting_slots = ["09:00"]
    with pytest.raises(ValidationFailed, match="timezone"):
        selectors.next_free_slot(persona=persona, after=dt.datetime(2026, 6, 1))


def test_localize_refuses_wall_times_that_do_not_exist():
    assert selectors.localize(dt.datetime(2026, 3, 29, 9), "Europe/Paris").utcoffset() == dt.timedelta(hours=2)
    with pytest.raises(ValidationFailed, match="does not exist in Europe/Paris"):
        selectors.localize(dt.datetime(2026, 3, 29, 2, 30), "Europe/Paris")


# --- lists -----------------------------------------------------------------------------------------


def test_post_list_filters_and_post_get_scoping(persona, marketer, outsider):
    a = scheduled(persona, aware(2026, 5, 1), platform="x")
    b = scheduled(persona, aware(2026, 5, 3), status=PostStatus.APPROVED)
    c = PostFactory(persona=persona, status=PostStatus.DRAFT)
    foreign = PostFactory()
    assert set(selectors.post_list(user=marketer)) == {a, b, c}
    assert list(selectors.post_list(user=marketer, platform="x")) == [a]
    assert set(selectors.post_list(user=marketer, status="approved,draft")) == {b, c}
    assert list(
        selectors.post_list(user=marketer, scheduled_from=aware(2026, 5, 2), scheduled_to=aware(2026, 5, 4))
    ) == [b]
    assert selectors.post_get(user=marketer, post_id=a.pk) == a
    with pytest.raises(NotFound):
        selectors.post_get(user=marketer, post_id=foreign.pk)
    with pytest.raises(NotFound):
        selectors.post_get(user=outsider, post_id=a.pk)


def test_review_queue_oldest_submission_first_in_constant_queries(persona, marketer, reviewer, outsider):
    def queue_queries():
        with CaptureQueriesContext(connection) as ctx:
            posts = list(selectors.review_queue(user=reviewer))
            for post in posts:
                list(post.images.all())
                str(post.persona), post.created_by
        return posts, len(ctx.captured_queries)

    first, second = (PostFactory(persona=persona, created_by=marketer) for _ in range(2))
    for post in (first, second):
        PostImageFactory(post=post)
    # Submitted in reverse creation order: the queue follows submission time.
    services.post_submit(actor=marketer, post_id=second.pk)
    services.post_submit(actor=marketer, post_id=first.pk)
    PostFactory(persona=persona, status=PostStatus.DRAFT)
    posts, small = queue_queries()
    assert posts == [second, first]

    for _ in range(4):
        extra = PostFactory(persona=persona, created_by=marketer)
        PostImageFactory(post=extra)
        services.post_submit(actor=marketer, post_id=extra.pk)
    posts, large = queue_queries()
    assert len(posts) == 6 and posts[:2] == [second, first]
    assert small == large
    assert list(selectors.review_queue(user=outsider)) == []


def test_a_post_sent_back_and_resubmitted_waits_behind_the_others(persona, marketer, reviewer):
    first, second = (PostFactory(persona=persona, created_by=marketer) for _ in range(2))
    for post in (first, second):
        PostImageFactory(post=post)
        services.post_submit(actor=marketer, post_id=post.pk)
    assert list(selectors.review_queue(user=reviewer)) == [first, second]
    services.post_request_changes(actor=reviewer, post_id=first.pk, comment="Warmer light.")
    services.post_submit(actor=marketer, post_id=first.pk)
    assert list(selectors.review_queue(user=reviewer)) == [second, first]
    first.refresh_from_db()
    latest = first.transitions.filter(to_status=PostStatus.IN_REVIEW).latest("created_at").created_at
    assert abs(first.last_submitted_at - latest) < dt.timedelta(seconds=1)  # what the audit trail says


def test_validate_post_for_platform_reads_saved_images():
    post = PostFactory(platform=Platform.X, caption="ok")
    assert "at least 1 image" in validate_post_for_platform(post=post)[0]
    for _ in range(5):
        PostImageFactory(post=post)
    assert validate_post_for_platform(post=post) == ["X allows at most 4 images per post; this post has 5."]
