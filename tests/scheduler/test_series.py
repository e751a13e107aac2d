"""Recurring slot series: every <weekday> at a local time, and the next free occurrence a plan row takes."""

from __future__ import annotations

import datetime as dt

import pytest

from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from scheduler.models import PostStatus
from scheduler.slots import series
from scheduler.slots.series_selectors import series_next_free, series_occurrences
from tests.conftest import client_for
from tests.factories import PostFactory, aware

pytestmark = pytest.mark.django_db


def tuesdays(persona, marketer, **kwargs):
    return series.slot_series_create(actor=marketer, persona=persona, name="tuesday-evening", weekday="tue",
                                     time=dt.time(18, 0), **kwargs)


def test_occurrences_are_local_wall_times_across_dst(persona, marketer):
    found = tuesdays(persona, marketer)
    assert found.weekday == 1
    after = aware(2030, 3, 19, 0)  # a Tuesday; Paris moves to summer time on Sunday 31 March 2030
    occurrences = series_occurrences(series=found, after=after)
    first, second, third = next(occurrences), next(occurrences), next(occurrences)
    assert first == aware(2030, 3, 19, 17)  # 18:00 CET
    assert second == aware(2030, 3, 26, 17)
    assert third == aware(2030, 4, 2, 16)  # 18:00 CEST


def test_a_dst_gap_occurrence_is_skipped(persona, marketer):
    gap = series.slot_series_create(actor=marketer, persona=persona, name="sunday-night", weekday="sunday",
                                    time=dt.time(2, 30))
    occurrences = list(series_occurrences(series=gap, after=aware(2030, 3, 23, 0)))[:2]
    # 31 March 2030 has no 02:30 in Paris: that week is skipped, not moved.
    assert occurrences == [aware(2030, 3, 24, 1, 30), aware(2030, 4, 7, 0, 30)]


def test_the_series_dates_bound_its_occurrences(persona, marketer):
    bounded = tuesdays(persona, marketer, starts_on=dt.date(2030, 4, 1), ends_on=dt.date(2030, 4, 20))
    assert list(series_occurrences(series=bounded, after=aware(2030, 1, 1))) == [
        aware(2030, 4, 2, 16), aware(2030, 4, 9, 16), aware(2030, 4, 16, 16)]


def test_the_next_free_occurrence_skips_held_and_reserved_slots(persona, marketer):
    found = tuesdays(persona, marketer)
    PostFactory(persona=persona, status=PostStatus.IN_REVIEW, scheduled_at=aware(2030, 4, 2, 16))
    PostFactory(persona=persona, status=PostStatus.REJECTED, scheduled_at=aware(2030, 4, 9, 16))  # frees its slot
    after = aware(2030, 4, 1, 0)
    assert series_next_free(series=found, after=after) == aware(2030, 4, 9, 16)
    assert series_next_free(series=found, after=after, reserved=[aware(2030, 4, 9, 16)]) == aware(2030, 4, 16, 16)


def test_bad_series_are_refused(persona, marketer, reviewer, outsider):
    tuesdays(persona, marketer)
    with pytest.raises(Conflict):
        series.slot_series_create(actor=marketer, persona=persona, name="Tuesday-Evening", weekday=1,
                                  time=dt.time(9))
    with pytest.raises(ValidationFailed, match="Unknown weekday"):
        series.slot_series_create(actor=marketer, persona=persona, name="x", weekday="someday", time=dt.time(9))
    with pytest.raises(ValidationFailed, match="Name the series"):
        series.slot_series_create(actor=marketer, persona=persona, name="<b>", weekday=1, time=dt.time(9))
    with pytest.raises(ValidationFailed, match="end on or after"):
        tuesdays(persona, marketer, starts_on=dt.date(2030, 5, 1), ends_on=dt.date(2030, 4, 1))
    with pytest.raises(PermissionDenied):
        series.slot_series_create(actor=reviewer, persona=persona, name="r", weekday=1, time=dt.time(9))
    with pytest.raises(NotFound):
        series.slot_series_create(actor=outsider, persona=persona, name="o", weekday=1, time=dt.time(9))


def test_the_api_creates_lists_and_deactivates(persona, marketer, outsider):
    client = client_for(marketer)
    created = client.post("/api/v1/slot-series/", {"persona": persona.pk, "name": "tuesday-evening",
                                                   "weekday": "tuesday", "time": "18:00"}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["weekday"] == 1 and body["weekday_name"] == "tuesday" and len(body["next_occurrences"]) == 4
    assert [s["id"] for s in client.get(f"/api/v1/slot-series/?persona={persona.pk}").json()["results"]] == [body["id"]]
    assert client_for(outsider).get(f"/api/v1/slot-series/{body['id']}/").status_code == 404
    assert client_for(outsider).post(f"/api/v1/slot-series/{body['id']}/deactivate/").status_code == 404
    done = client.post(f"/api/v1/slot-series/{body['id']}/deactivate/")
    assert done.status_code == 200 and done.json()["is_active"] is False
