"""Reads for recurring slot series: a persona's series, their occurrences and the next free one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from core.errors import NotFound, ValidationFailed
from personas.selectors import workspace_ids_for_user
from scheduler.models import Post, PostStatus, SlotSeries
from scheduler.selectors import persona_zone, wall_time_exists

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
HORIZON_WEEKS = 104
# A post in any of these statuses holds its slot; rejected and expired ones leave it free.
SLOT_RELEASING_STATUSES = (PostStatus.REJECTED, PostStatus.EXPIRED)
SERIES_NOT_FOUND = "Slot series not found."


def slot_series_list(*, user: AbstractBaseUser, persona_id: int | None = None) -> QuerySet[SlotSeries]:
    series = SlotSeries.objects.filter(persona__workspace_id__in=workspace_ids_for_user(user=user))
    if persona_id is not None:
        series = series.filter(persona_id=persona_id)
    return series.select_related("persona")


def slot_series_get(*, user: AbstractBaseUser, series_id: int) -> SlotSeries:
    series = slot_series_list(user=user).filter(pk=series_id).first()
    if series is None:
        raise NotFound(SERIES_NOT_FOUND)
    return series


def slot_series_by_name(*, persona_id: int, name: str) -> SlotSeries | None:
    """The persona's active series called `name` (case-insensitive)."""
    return SlotSeries.objects.filter(persona_id=persona_id, name__iexact=name.strip(), is_active=True).first()


def series_occurrences(*, series: SlotSeries, after: dt.datetime) -> Iterator[dt.datetime]:
    """The series' occurrences strictly after `after` (aware), as UTC datetimes, within its dates and the horizon.
    A wall time inside a DST gap does not exist that day and is skipped; in the repeated fall-back hour it is
    the first occurrence."""
    zone = persona_zone(series.persona)
    day = after.astimezone(zone).date()
    if series.starts_on and day < series.starts_on:
        day = series.starts_on
    day += dt.timedelta(days=(series.weekday - day.weekday()) % 7)
    for _ in range(HORIZON_WEEKS + 1):
        if series.ends_on and day > series.ends_on:
            return
        naive = dt.datetime.combine(day, series.time)
        if wall_time_exists(naive, zone):
            when = naive.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
            if when > after:
                yield when
        day += dt.timedelta(days=7)


def series_next_free(
    *, series: SlotSeries, after: dt.datetime, reserved: Collection[dt.datetime] = ()
) -> dt.datetime:
    """The first occurrence after `after` that no post of the persona holds and that is not in `reserved`
    (slots a caller is handing out, e.g. earlier rows of the same plan)."""
    taken = set(
        Post.objects.filter(persona_id=series.persona_id, scheduled_at__gt=after)
        .exclude(status__in=SLOT_RELEASING_STATUSES).values_list("scheduled_at", flat=True)
    )
    reserved = {when.astimezone(dt.UTC) for when in reserved}
    for when in series_occurrences(series=series, after=after):
        if when not in taken and when not in reserved:
            return when
    raise ValidationFailed(
        f"Slot series '{series.name}' of {series.persona.name} has no free occurrence in the next "
        f"{HORIZON_WEEKS} weeks{' before it ends' if series.ends_on else ''}."
    )
