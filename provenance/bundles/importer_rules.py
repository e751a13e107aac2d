"""What the bulk importers of Hootsuite and Sprout Social accept, as pure functions over post times.

Hootsuite's Bulk Composer takes times whose minutes end in 0 or 5, one post per time slot in a file (the
file is imported into the profile(s) picked at upload) and at most 350 rows per file. Sprout Social's bulk
scheduler takes at most 350 rows per file and wants posts to one profile at least 10 minutes apart.

Exports group posts per persona and platform (one file per profile); these rules apply within a group.
Times are handled in the persona's local time, as the CSVs are written. A workspace chooses what an
off-slot Hootsuite time does: HOOTSUITE_REFUSE stops the export and lists the posts; HOOTSUITE_ROUND moves
each to the nearest free 5-minute slot and lists every change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

HOOTSUITE_MAX_ROWS = 350
SPROUT_MAX_ROWS = 350
HOOTSUITE_SLOT = dt.timedelta(minutes=5)
SPROUT_MIN_GAP = dt.timedelta(minutes=10)

HOOTSUITE_REFUSE = "refuse"
HOOTSUITE_ROUND = "round"
HOOTSUITE_MODES = (HOOTSUITE_REFUSE, HOOTSUITE_ROUND)

Row = TypeVar("Row")


@dataclass(frozen=True)
class PostTime:
    key: Hashable  # the post id
    at: dt.datetime  # timezone-aware, in the time zone the CSV is written in


@dataclass(frozen=True)
class TimeChange:
    key: Hashable
    before: dt.datetime
    after: dt.datetime
    reason: str

    def describe(self) -> str:
        return f"post {self.key}: {self.before:%Y-%m-%d %H:%M} -> {self.after:%H:%M} ({self.reason})"


@dataclass(frozen=True)
class RuleProblem:
    key: Hashable
    message: str


@dataclass
class HootsuitePlan:
    times: dict[Hashable, dt.datetime] = field(default_factory=dict)  # what each post's row will say
    changes: list[TimeChange] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)  # non-empty: the file cannot be written

    @property
    def ok(self) -> bool:
        return not self.problems


def on_hootsuite_slot(at: dt.datetime) -> bool:
    """Minutes ending in 0 or 5, and nothing below the minute (the CSV has no seconds)."""
    return at.minute % 5 == 0 and at.second == 0 and at.microsecond == 0


def nearest_slot(at: dt.datetime) -> dt.datetime:
    """`at` rounded to the nearest 5-minute mark; exactly half-way (x:x2:30) goes to the later one."""
    floor = at.replace(minute=at.minute - at.minute % 5, second=0, microsecond=0)
    return floor + HOOTSUITE_SLOT if at - floor >= HOOTSUITE_SLOT / 2 else floor


def _slot_key(at: dt.datetime) -> tuple[int, int, int, int, int]:
    # Wall-clock minute as written in the CSV: two posts an hour apart across a DST fall-back would
    # print the same and are one slot to the importer.
    return (at.year, at.month, at.day, at.hour, at.minute)


def hootsuite_plan(posts: Iterable[PostTime], *, mode: str) -> HootsuitePlan:
    """Times to write for one Hootsuite file, the changes made, and what stops the export."""
    if mode not in HOOTSUITE_MODES:
        raise ValueError(f"Hootsuite time rule must be one of {', '.join(HOOTSUITE_MODES)}, not {mode!r}.")
    plan = HootsuitePlan()
    taken: dict[tuple[int, ...], Hashable] = {}
    for post in sorted(posts, key=lambda p: (p.at, str(p.key))):
        at, reasons = post.at, []
        if not on_hootsuite_slot(at):
            if mode == HOOTSUITE_REFUSE:
                message = f"post {post.key} is at {at:%H:%M:%S}; Hootsuite takes minutes ending in 0 or 5"
                plan.problems.append(RuleProblem(post.key, message))
                continue
            at = nearest_slot(at)
            reasons.append("Hootsuite takes minutes ending in 0 or 5")
        if _slot_key(at) in taken:
            other = taken[_slot_key(at)]
            if mode == HOOTSUITE_REFUSE:
                plan.problems.append(
                    RuleProblem(post.key, f"post {post.key} shares the {at:%Y-%m-%d %H:%M} slot with post {other}")
                )
                continue
            reasons.append(f"the {at:%H:%M} slot is taken by post {other}")
            while _slot_key(at) in taken:
                at += HOOTSUITE_SLOT
        if reasons:
            plan.changes.append(TimeChange(post.key, post.at, at, "; ".join(reasons)))
        taken[_slot_key(at)] = post.key
        plan.times[post.key] = at
    return plan


def sprout_too_close(posts: Iterable[PostTime]) -> list[RuleProblem]:
    """Each post that follows the previous one in the same file by less than 10 minutes."""
    ordered = sorted(posts, key=lambda p: (p.at, str(p.key)))
    problems = []
    for before, after in zip(ordered, ordered[1:], strict=False):
        gap = after.at - before.at
        if gap < SPROUT_MIN_GAP:
            minutes = gap.total_seconds() / 60
            problems.append(
                RuleProblem(
                    after.key,
                    f"post {after.key} is {minutes:g} min after post {before.key}; "
                    "Sprout Social wants 10 minutes between posts to one profile",
                )
            )
    return problems


def split_rows(rows: Sequence[Row], limit: int) -> list[list[Row]]:
    """Rows in files of at most `limit` (never an empty file list for no rows: one empty file)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    return [list(rows[i : i + limit]) for i in range(0, len(rows), limit)] or [[]]


def part_names(stem: str, count: int, suffix: str = ".csv") -> list[str]:
    """`stem.csv` for one file; `stem_part1of3.csv`, ... when split."""
    if count == 1:
        return [f"{stem}{suffix}"]
    return [f"{stem}_part{i}of{count}{suffix}" for i in range(1, count + 1)]


def schedule_warnings(at: dt.datetime, others: Iterable[PostTime], *, mode: str) -> list[str]:
    """What the importers will say about a post scheduled at `at`, given the other posts of its file.

    Shown when the post is scheduled, so a marketer can move it before the export stops on it.
    """
    warnings = []
    others = list(others)
    if not on_hootsuite_slot(at):
        if mode == HOOTSUITE_REFUSE:
            warnings.append(f"Hootsuite takes minutes ending in 0 or 5: exporting {at:%H:%M} will be refused.")
        else:
            warnings.append(
                f"Hootsuite takes minutes ending in 0 or 5: the export will write {nearest_slot(at):%H:%M} "
                f"instead of {at:%H:%M}."
            )
    slot = _slot_key(nearest_slot(at) if mode == HOOTSUITE_ROUND else at)
    clashes = [o.key for o in others if _slot_key(nearest_slot(o.at) if mode == HOOTSUITE_ROUND else o.at) == slot]
    if clashes:
        warnings.append(
            f"Hootsuite takes one post per time slot: post {clashes[0]} is already in this one"
            + (" (the export will move this post to the next free slot)." if mode == HOOTSUITE_ROUND else ".")
        )
    near = [o.key for o in others if abs(o.at - at) < SPROUT_MIN_GAP]
    if near:
        warnings.append(
            f"Sprout Social wants 10 minutes between posts to one profile: post {near[0]} is less than 10 minutes away."
        )
    return warnings
