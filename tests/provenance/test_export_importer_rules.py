"""Importer rules at export and at scheduling: Hootsuite's 5-minute slots (rounded or refused, per workspace),
one post per slot, Sprout Social's 10-minute gap, and files split at 350 rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile

import pytest
from django.utils import timezone

from provenance.bundles import build as exports
from provenance.bundles.build import export_bundle_build, export_bundle_create
from provenance.bundles.files import importer_plan
from provenance.models import ExportSettings, ExportStatus, HootsuiteTimeRule
from scheduler.models import Post, PostStatus
from tests.conftest import client_for
from tests.factories import PostFactory, PostImageFactory, aware

pytestmark = pytest.mark.django_db

RANGE = (aware(2026, 3, 1), aware(2026, 4, 1))


def scheduled(persona, *times: dt.datetime) -> list[Post]:
    # No images: the rules are about times, and a bundle of text posts builds without labeling anything.
    return [PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=at) for at in times]


def build(actor, workspace, persona):
    bundle = export_bundle_create(
        actor=actor, workspace=workspace, persona_ids=[persona.pk], start=RANGE[0], end=RANGE[1]
    )
    return export_bundle_build(bundle_id=bundle.pk)


def rows(zf: zipfile.ZipFile, name: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(zf.read(name).decode())))


def test_rounding_moves_off_slot_times_to_free_slots_and_lists_every_change(workspace, marketer, persona):
    persona.timezone = "UTC"
    persona.save()
    on_slot, near, nearer = scheduled(
        persona, aware(2026, 3, 10, 9, 0), aware(2026, 3, 10, 9, 2), aware(2026, 3, 10, 9, 3) + dt.timedelta(seconds=40)
    )
    bundle = build(marketer, workspace, persona)
    assert bundle.status == ExportStatus.SUCCEEDED, bundle.error

    zf = zipfile.ZipFile(bundle.file.open("rb"))
    hootsuite = rows(zf, f"hootsuite/{persona.handle}_instagram.csv")
    # 09:02 rounds to 09:00, which is taken: the next free slot. 09:03:40 rounds to 09:05, taken by then.
    assert [row[0] for row in hootsuite] == ["10/03/2026 09:00", "10/03/2026 09:05", "10/03/2026 09:10"]
    importer = json.loads(zf.read("manifest.json"))["importer"]
    assert importer["hootsuite_time_rule"] == "round"
    assert importer["hootsuite_changes"] == [
        f"post {near.pk}: 2026-03-10 09:02 -> 09:05 (Hootsuite takes minutes ending in 0 or 5; "
        f"the 09:00 slot is taken by post {on_slot.pk})",
        f"post {nearer.pk}: 2026-03-10 09:03 -> 09:10 (Hootsuite takes minutes ending in 0 or 5; "
        f"the 09:05 slot is taken by post {near.pk})",
    ]
    # Sprout keeps the real times and reports the posts closer than 10 minutes.
    sprout = rows(zf, f"sprout_social/{persona.handle}_instagram.csv")
    assert [row[1] for row in sprout[1:]] == ["09:00", "09:02", "09:03"]
    assert len(importer["sprout_social_warnings"]) == 2
    assert f"post {near.pk} is 2 min after post {on_slot.pk}" in importer["sprout_social_warnings"][0]


def test_refusing_workspace_stops_the_export_and_names_the_posts(workspace, marketer, persona):
    ExportSettings.objects.create(workspace=workspace, hootsuite_time_rule=HootsuiteTimeRule.REFUSE)
    persona.timezone = "UTC"
    persona.save()
    first, second = scheduled(persona, aware(2026, 3, 10, 9, 0), aware(2026, 3, 10, 9, 7))
    PostImageFactory(post=second, position=0)
    bundle = build(marketer, workspace, persona)
    assert bundle.status == ExportStatus.FAILED and not bundle.file
    assert f"post {second.pk} is at" in bundle.error and "minutes ending in 0 or 5" in bundle.error
    assert f"post {first.pk}" not in bundle.error
    assert set(Post.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)) == {"scheduled"}

    second.scheduled_at = aware(2026, 3, 10, 9, 0)
    second.save()
    bundle = build(marketer, workspace, persona)
    assert bundle.status == ExportStatus.FAILED
    assert f"shares the 2026-03-10 09:00 slot with post {first.pk}" in bundle.error


def test_files_are_split_at_350_rows(persona):
    start = aware(2026, 3, 1, 0, 0)
    posts = Post.objects.bulk_create(
        Post(
            workspace=persona.workspace,
            persona=persona,
            platform="instagram",
            caption=f"Post {i}. {persona.disclosure_label}",
            status=PostStatus.SCHEDULED,
            scheduled_at=start + dt.timedelta(minutes=15 * i),
        )
        for i in range(351)
    )
    posts = list(Post.objects.filter(pk__in=[p.pk for p in posts]).select_related("persona").order_by("scheduled_at"))
    files = exports.bulk_csvs(posts, importer_plan(posts))
    key = f"{persona.handle}_instagram"
    assert sorted(files) == [
        f"hootsuite/{key}_part1of2.csv",
        f"hootsuite/{key}_part2of2.csv",
        f"sprout_social/{key}_part1of2.csv",
        f"sprout_social/{key}_part2of2.csv",
    ]
    first = list(csv.reader(io.StringIO(files[f"hootsuite/{key}_part1of2.csv"].decode())))
    second = list(csv.reader(io.StringIO(files[f"sprout_social/{key}_part2of2.csv"].decode())))
    assert len(first) == 350 and second[0] == ["date", "time_24hr", "message_text"] and len(second) == 2
    assert second[1][2].startswith("Post 350.")


def test_scheduling_warns_about_the_importers(persona, marketer, reviewer):
    when = (timezone.now() + dt.timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
    PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=when)
    post = PostFactory(persona=persona, status=PostStatus.APPROVED, created_by=marketer)
    PostImageFactory(post=post, position=0)
    client = client_for(marketer)

    url = f"/api/v1/posts/{post.pk}"
    off = client.post(f"{url}/schedule/", {"scheduled_at": (when + dt.timedelta(minutes=7)).isoformat()}, format="json")
    assert off.status_code == 200, off.json()
    warnings = off.json()["importer_warnings"]
    assert any("minutes ending in 0 or 5" in w and "will write" in w for w in warnings)
    assert any("Sprout Social wants 10 minutes" in w for w in warnings)

    later = (when + dt.timedelta(hours=2)).isoformat()
    clean = client.post(f"{url}/reschedule/", {"scheduled_at": later}, format="json")
    assert clean.status_code == 200 and clean.json()["importer_warnings"] == []
