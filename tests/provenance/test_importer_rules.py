"""Hootsuite and Sprout Social bulk-import rules: 5-minute slots, one post per slot, 350-row files, 10-minute gaps."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from provenance.bundles.importer_rules import (
    HOOTSUITE_MAX_ROWS,
    HOOTSUITE_REFUSE,
    HOOTSUITE_ROUND,
    SPROUT_MAX_ROWS,
    PostTime,
    hootsuite_plan,
    nearest_slot,
    on_hootsuite_slot,
    part_names,
    schedule_warnings,
    split_rows,
    sprout_too_close,
)

TZ = zoneinfo.ZoneInfo("Europe/Berlin")


def at(hour: int, minute: int, second: int = 0, day: int = 3) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, second, tzinfo=TZ)


def test_slots_end_in_0_or_5_with_no_seconds():
    assert on_hootsuite_slot(at(9, 0)) and on_hootsuite_slot(at(9, 55))
    assert not on_hootsuite_slot(at(9, 3)) and not on_hootsuite_slot(at(9, 5, 30))
    assert nearest_slot(at(9, 2)) == at(9, 0)
    assert nearest_slot(at(9, 2, 30)) == at(9, 5)  # half-way goes later
    assert nearest_slot(at(9, 58)) == at(10, 0)
    assert nearest_slot(at(23, 58)) == at(0, 0, day=4)


def test_refuse_lists_every_off_slot_post_and_writes_nothing_for_them():
    plan = hootsuite_plan(
        [PostTime(1, at(9, 0)), PostTime(2, at(9, 3)), PostTime(3, at(10, 5, 10))], mode=HOOTSUITE_REFUSE
    )
    assert not plan.ok
    assert [p.key for p in plan.problems] == [2, 3]
    assert "09:03:00" in plan.problems[0].message and "0 or 5" in plan.problems[0].message
    assert plan.times == {1: at(9, 0)} and plan.changes == []


def test_round_moves_to_the_nearest_slot_and_lists_each_change():
    plan = hootsuite_plan([PostTime(1, at(9, 0)), PostTime(2, at(9, 3)), PostTime(3, at(10, 6))], mode=HOOTSUITE_ROUND)
    assert plan.ok
    assert plan.times == {1: at(9, 0), 2: at(9, 5), 3: at(10, 5)}
    assert [(c.key, c.before, c.after) for c in plan.changes] == [(2, at(9, 3), at(9, 5)), (3, at(10, 6), at(10, 5))]
    assert "post 2: 2026-03-03 09:03 -> 09:05" in plan.changes[0].describe()


def test_slot_collisions_are_refused_or_moved_to_the_next_free_slot():
    posts = [PostTime(1, at(9, 0)), PostTime(2, at(9, 0)), PostTime(3, at(9, 4)), PostTime(4, at(9, 5))]
    refused = hootsuite_plan(posts, mode=HOOTSUITE_REFUSE)
    assert [p.key for p in refused.problems] == [2, 3]
    assert "shares the 2026-03-03 09:00 slot with post 1" in refused.problems[0].message

    rounded = hootsuite_plan(posts, mode=HOOTSUITE_ROUND)
    assert rounded.ok
    assert rounded.times == {1: at(9, 0), 2: at(9, 5), 3: at(9, 10), 4: at(9, 15)}
    assert len(set(rounded.times.values())) == 4
    reasons = {c.key: c.reason for c in rounded.changes}
    assert set(reasons) == {2, 3, 4}  # one entry per moved post
    assert "taken by post 1" in reasons[2]
    assert "0 or 5" in reasons[3] and "taken by post 2" in reasons[3]


def test_dst_fall_back_wall_clock_collision_is_one_slot():
    # 2026-10-25 02:30 happens twice in Berlin; the CSV shows the same wall-clock time for both.
    first = dt.datetime(2026, 10, 25, 2, 30, tzinfo=TZ, fold=0)
    second = dt.datetime(2026, 10, 25, 2, 30, tzinfo=TZ, fold=1)
    assert first.utcoffset() != second.utcoffset()  # an hour apart in real time
    assert not hootsuite_plan([PostTime(1, first), PostTime(2, second)], mode=HOOTSUITE_REFUSE).ok


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="refuse, round"):
        hootsuite_plan([], mode="ignore")


def test_sprout_reports_posts_closer_than_ten_minutes():
    posts = [PostTime(1, at(9, 0)), PostTime(2, at(9, 9, 59)), PostTime(3, at(9, 20)), PostTime(4, at(9, 30))]
    problems = sprout_too_close(posts)
    assert [p.key for p in problems] == [2]
    assert "after post 1" in problems[0].message and "10 minutes" in problems[0].message
    assert sprout_too_close([PostTime(1, at(9, 0)), PostTime(2, at(9, 10))]) == []


def test_files_split_at_350_rows():
    assert HOOTSUITE_MAX_ROWS == SPROUT_MAX_ROWS == 350
    rows = list(range(701))
    parts = split_rows(rows, 350)
    assert [len(p) for p in parts] == [350, 350, 1]
    assert [r for p in parts for r in p] == rows
    assert split_rows(rows[:350], 350) == [rows[:350]]
    assert split_rows([], 350) == [[]]
    assert part_names("anna_instagram", 1) == ["anna_instagram.csv"]
    assert part_names("anna_instagram", 3) == [
        "anna_instagram_part1of3.csv",
        "anna_instagram_part2of3.csv",
        "anna_instagram_part3of3.csv",
    ]


def test_schedule_warnings_name_each_rule():
    others = [PostTime(7, at(9, 0)), PostTime(8, at(12, 0))]
    assert schedule_warnings(at(15, 0), others, mode=HOOTSUITE_REFUSE) == []

    refuse = schedule_warnings(at(9, 3), others, mode=HOOTSUITE_REFUSE)
    assert any("09:03 will be refused" in w for w in refuse)
    assert any("post 7 is less than 10" in w for w in refuse)

    rounded = schedule_warnings(at(9, 2), others, mode=HOOTSUITE_ROUND)
    assert any("will write 09:00 instead of 09:02" in w for w in rounded)
    assert any("one post per time slot: post 7" in w for w in rounded)

    clash = schedule_warnings(at(12, 0), others, mode=HOOTSUITE_REFUSE)
    assert len(clash) == 2 and "post 8" in clash[0]
