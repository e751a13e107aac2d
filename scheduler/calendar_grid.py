"""The calendar's reads at scale: the calendar page's posts and their minimum-gap conflicts from one query, and
the dashboard's scheduled times.

calendar_entries and calendar_entry_conflicts (selectors.py) read the same posts twice: the period's posts, then
every busy post around them. A month of 2,000 posts spends most of its time converting those rows, so the page
reads the busy posts of the period and its margins once (any platform, as the rule wants) and keeps the ones the
calendar shows.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models.functions import Substr

from personas.models import Persona
from scheduler.selectors import (
    BUSY_STATUSES,
    CALENDAR_ENTRIES_LIMIT,
    CALENDAR_STATUSES,
    CalendarEntry,
    GapConflict,
    gap_conflicts,
    post_list,
)


def calendar_grid_entries(
    *,
    user: AbstractBaseUser,
    start: dt.datetime,
    end: dt.datetime,
    workspace_id: int,
    personas: Mapping[int, Persona],
    persona_id: int | None = None,
    platform: str | None = None,
    statuses: Iterable[str] = CALENDAR_STATUSES,
    limit: int = CALENDAR_ENTRIES_LIMIT,
    caption_chars: int = 121,
) -> tuple[list[CalendarEntry], dict[int, list[GapConflict]]]:
    """calendar_entries(...) and calendar_entry_conflicts(...) of them, in one query. `personas`: the workspace's
    personas (every post read is one of theirs)."""
    personas = dict(personas)
    # The margins: the widest minimum gap of the personas passed (a workspace's first 200; the posts of any other
    # are read too, with their persona, but its conflicts at the period's very edges may be missed).
    widest = max((dt.timedelta(minutes=p.min_post_gap_minutes or 0) for pk, p in personas.items()
                  if persona_id is None or pk == persona_id), default=dt.timedelta(0))
    statuses = set(statuses)
    rows = list(
        post_list(user=user, workspace_id=workspace_id, persona_id=persona_id, status=statuses | set(BUSY_STATUSES),
                  scheduled_from=start - widest, scheduled_to=end + widest)
        .prefetch_related(None)  # rows, not instances
        .order_by("scheduled_at", "id")
        .annotate(caption_head=Substr("caption", 1, caption_chars))
        .values_list("id", "persona_id", "platform", "status", "scheduled_at", "caption_head")[: limit * 2]
    )
    missing = {row[1] for row in rows} - personas.keys()
    if missing:
        personas.update({p.pk: p for p in Persona.objects.filter(pk__in=missing)})
    gaps = {pk: dt.timedelta(minutes=p.min_post_gap_minutes or 0) for pk, p in personas.items()}
    entries = [
        CalendarEntry(*row, persona=personas[row[1]]) for row in rows
        if row[3] in statuses and start <= row[4] < end and (not platform or row[2] == platform)
    ][:limit]
    busy: dict[int, list[tuple[int, str, dt.datetime]]] = {}
    for pk, persona, post_platform, status, when, _ in rows:
        if status in BUSY_STATUSES:
            busy.setdefault(persona, []).append((pk, post_platform, when))
    times = {persona: [when for _, _, when in rows] for persona, rows in busy.items()}
    conflicts = {}
    for entry in entries:
        gap = gaps[entry.persona_id]
        if not gap or entry.persona_id not in busy:
            continue
        near = busy[entry.persona_id][bisect_left(times[entry.persona_id], entry.scheduled_at - gap):
                                      bisect_right(times[entry.persona_id], entry.scheduled_at + gap)]
        if not near or (len(near) == 1 and near[0][0] == entry.pk):  # nothing else near it
            continue
        found = gap_conflicts(persona=entry.persona, scheduled_at=entry.scheduled_at,
                              busy=[row for row in near if row[0] != entry.pk])
        if found:
            conflicts[entry.pk] = found
    return entries, conflicts


def scheduled_times(
    *, user: AbstractBaseUser, workspace_id: int, start: dt.datetime, end: dt.datetime,
    statuses: Iterable[str] = CALENDAR_STATUSES, limit: int = CALENDAR_ENTRIES_LIMIT,
) -> list[tuple[int, dt.datetime]]:
    """(persona id, scheduled time) of calendar_entries' posts: what counting them per local day needs, no more."""
    return list(
        post_list(user=user, workspace_id=workspace_id, status=list(statuses), scheduled_from=start, scheduled_to=end)
        .prefetch_related(None)
        .order_by("scheduled_at", "id")
        .values_list("persona_id", "scheduled_at")[:limit]
    )
