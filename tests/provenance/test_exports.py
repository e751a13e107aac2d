import csv
import datetime as dt
import hashlib
import io
import json
import zipfile

import icalendar
import pytest
from django.core.files.base import ContentFile

from core.errors import NotFound, ValidationFailed
from provenance.bundles import build as exports
from provenance.bundles.build import export_bundle_build, export_bundle_create
from provenance.bundles.selectors import export_bundle_get, export_bundle_list
from provenance.models import ExportBundle, ExportStatus
from scheduler.models import PostStatus, PostTransition
from tests.factories import (
    PersonaFactory,
    PostFactory,
    PostImageFactory,
    aware,
    png_bytes,
)
from tests.provenance.conftest import AFTER_DST, BEFORE_DST, RANGE  # Paris: +01:00 before DST, +02:00 after

pytestmark = pytest.mark.django_db


def scheduled_post(persona, when, *, images=1, **fields):
    post = PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=when, **fields)
    for position in range(images):
        data = png_bytes(1080, 1350, (position * 40, 100, 200))
        PostImageFactory(
            post=post,
            position=position,
            image=ContentFile(data, name=f"img{position}.png"),
            sha256=hashlib.sha256(data).hexdigest(),
        )
    return post


def build(actor, workspace, personas, capture, start=RANGE[0], end=RANGE[1]):
    with capture(execute=True):
        bundle = export_bundle_create(
            actor=actor, workspace=workspace, persona_ids=[p.pk for p in personas], start=start, end=end
        )
    bundle.refresh_from_db()
    return bundle


def open_zip(bundle):
    with bundle.file.open("rb") as fh:
        data = fh.read()
    return data, zipfile.ZipFile(io.BytesIO(data))


# --- The shared main bundle (tests/provenance/conftest.py): two posts around the DST switch, exported twice ------


def test_bundle_contents_manifest_csvs_and_calendar(shared_exports):
    main = shared_exports.main
    bundle, persona, early, late = main.first, main.persona, main.early_id, main.late_id

    assert bundle.status == ExportStatus.SUCCEEDED, bundle.error
    assert bundle.progress == 100
    assert bundle.post_count == 2
    assert bundle.finished_at is not None
    data, zf = bundle.data, bundle.zip()
    assert hashlib.sha256(data).hexdigest() == bundle.sha256

    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["schema_version"] == "1.1"
    assert manifest["generated_at"].endswith("Z")
    assert manifest["workspace"] == {"id": main.workspace_id, "name": main.workspace_name, "slug": main.workspace_slug}
    assert manifest["range"] == {"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"}
    assert [p["id"] for p in manifest["posts"]] == [early, late]

    first, second = manifest["posts"]
    assert first["persona"] == {
        "id": persona.id,
        "name": persona.name,
        "handle": persona.handle,
        "timezone": "Europe/Paris",
    }
    assert first["platform"] == "instagram"
    assert first["scheduled_at_utc"] == "2026-03-28T08:00:00Z"
    assert first["scheduled_at_local"] == "2026-03-28T09:00:00+01:00"
    assert second["scheduled_at_utc"] == "2026-03-30T16:30:00Z"
    assert second["scheduled_at_local"] == "2026-03-30T18:30:00+02:00"
    assert first["caption"] == "Café morning. AI-generated virtual influencer"
    assert first["hashtags"] == ["#paris"]
    assert first["message"] == "Café morning. AI-generated virtual influencer #paris"
    assert first["disclosure_label"] == persona.disclosure_label
    assert (first["is_sponsored"], second["is_sponsored"]) == (False, True)
    assert (first["paid_partnership"], second["paid_partnership"]) == (False, True)
    assert first["ai_generated"] is True
    assert first["platform_ai_flag"]["field"] == "is_ai_generated"
    assert second["platform_ai_flag"]["field"] is None  # Threads reads the image metadata instead
    # "#ad" is among the sponsored post's hashtags already, so the caption does not repeat it.
    assert second["caption"].endswith(persona.disclosure_label)
    assert second["message"].count("#ad") == 1

    # Every listed image is the labeled JPEG in the ZIP (not the stored original): its sha256 is of those
    # bytes, its watermark payload is recorded, and it is at the platform's size.
    assert [i["path"] for i in first["images"]] == [f"images/{early}_0.jpg", f"images/{early}_1.jpg"]
    for entry in first["images"] + second["images"]:
        blob = zf.read(entry["path"])
        assert hashlib.sha256(blob).hexdigest() == entry["sha256"]
        assert (entry["width"], entry["height"]) == (1080, 1350)
        assert entry["mime_type"] == "image/jpeg" and len(entry["watermark"]) == 8
    assert zf.read(f"images/{early}_1.jpg") != main.originals[(early, 1)]
    assert len({e["watermark"] for e in first["images"] + second["images"]}) == 3
    assert len(second["images"]) == 1
    assert bundle.verification["ok"] is True
    assert [i["path"] for i in bundle.verification["images"]] == [e["path"] for e in first["images"] + second["images"]]

    # Hootsuite: no header; "DD/MM/YYYY HH:mm" in the persona's timezone, message, link.
    hoot = list(csv.reader(io.StringIO(zf.read(f"hootsuite/{persona.handle}_instagram.csv").decode())))
    assert hoot == [["28/03/2026 09:00", "Café morning. AI-generated virtual influencer #paris", ""]]
    hoot_threads = list(csv.reader(io.StringIO(zf.read(f"hootsuite/{persona.handle}_threads.csv").decode())))
    assert hoot_threads[0][0] == "30/03/2026 18:30"
    assert hoot_threads[0][1].endswith("#ad #coffee")

    # Sprout Social: header row with its required columns.
    sprout = list(csv.DictReader(io.StringIO(zf.read(f"sprout_social/{persona.handle}_threads.csv").decode())))
    assert list(sprout[0].keys()) == ["date", "time_24hr", "message_text"]
    assert sprout == [{"date": "30/03/2026", "time_24hr": "18:30", "message_text": second["message"]}]
    assert manifest["files"]["hootsuite"] == [
        f"hootsuite/{persona.handle}_instagram.csv",
        f"hootsuite/{persona.handle}_threads.csv",
    ]

    cal = icalendar.Calendar.from_ical(zf.read("schedule.ics"))
    events = cal.walk("VEVENT")
    assert [str(e["UID"]) for e in events] == [f"post-{early}@personastudio", f"post-{late}@personastudio"]
    assert events[0].decoded("DTSTART") == BEFORE_DST
    assert events[0].decoded("DTSTART").utcoffset() == dt.timedelta(0)
    assert str(events[1]["SUMMARY"]) == f"{persona.name} – Threads"
    assert str(events[0]["DESCRIPTION"]) == first["message"]
    assert "DTSTAMP" in events[0]


def test_export_marks_posts_exported_once_and_reexport_is_idempotent(shared_exports):
    main = shared_exports.main
    first, second = main.first, main.again
    posts = [main.early_id, main.late_id]

    for post_id in posts:
        assert main.statuses_after_first[post_id] == PostStatus.EXPORTED
        rows = [row for row in main.transitions_after_first if row.post_id == post_id]
        assert [(r.from_status, r.to_status, r.actor_id) for r in rows] == [("scheduled", "exported", main.marketer_id)]
        assert str(first.pk) in rows[0].comment

    assert second.status == ExportStatus.SUCCEEDED
    assert len(main.transitions_after_again) == 2  # no second transition
    zf1, zf2 = first.zip(), second.zip()
    m1, m2 = json.loads(zf1.read("manifest.json")), json.loads(zf2.read("manifest.json"))
    assert [p["id"] for p in m2["posts"]] == [p["id"] for p in m1["posts"]] == posts
    assert zf1.namelist() == zf2.namelist()
    for name in zf1.namelist():
        if name not in ("manifest.json", "schedule.ics") and not name.startswith("images/"):
            assert zf1.read(name) == zf2.read(name), name
    # Images are signed afresh (C2PA signatures differ), but carry the same watermarks.
    marks = [[i["watermark"] for p in m["posts"] for i in p["images"]] for m in (m1, m2)]
    assert marks[0] == marks[1]


def test_same_content_gives_same_entries_apart_from_signatures(shared_exports):
    # Both builds of the main bundle ran with the clock stopped at MAIN_BUILT_AT.
    first, second = shared_exports.main.first, shared_exports.main.again
    assert first.pk != second.pk
    zf1, zf2 = first.zip(), second.zip()
    m1, m2 = json.loads(zf1.read("manifest.json")), json.loads(zf2.read("manifest.json"))
    assert m1["generated_at"] == m2["generated_at"] == "2026-02-01T10:00:00Z"
    # Only the C2PA signature of each image (ECDSA, fresh instance id) and so its sha256 differ.
    for manifest in (m1, m2):
        for post in manifest["posts"]:
            for image in post["images"]:
                image.pop("sha256")
    assert m1 == m2
    for name in zf1.namelist():
        if not name.startswith("images/") and name != "manifest.json":
            assert zf1.read(name) == zf2.read(name), name
    assert {i.date_time for i in zf1.infolist()} == {(1980, 1, 1, 0, 0, 0)}


# --- Bundles of their own: what the filter picks, failures, retries, progress ------------------------------


def test_only_matching_posts_are_included(workspace, marketer, persona, django_capture_on_commit_callbacks):
    included = scheduled_post(persona, BEFORE_DST, images=0)  # which posts, not their images: nothing to label
    other_persona = PersonaFactory(workspace=workspace)
    scheduled_post(other_persona, BEFORE_DST)  # persona not chosen
    scheduled_post(persona, RANGE[1])  # end is exclusive
    scheduled_post(persona, RANGE[0] - dt.timedelta(minutes=1))  # before start
    scheduled_post(PersonaFactory(), BEFORE_DST)  # another workspace
    for status in (PostStatus.APPROVED, PostStatus.PUBLISHED, PostStatus.DRAFT):
        PostFactory(persona=persona, status=status, scheduled_at=BEFORE_DST)

    bundle = build(marketer, workspace, [persona], django_capture_on_commit_callbacks)

    manifest = json.loads(open_zip(bundle)[1].read("manifest.json"))
    assert [p["id"] for p in manifest["posts"]] == [included.pk]
    assert bundle.post_count == 1
    assert PostTransition.objects.count() == 1


def test_failure_stores_error_and_leaves_no_file(
    workspace, marketer, persona, django_capture_on_commit_callbacks, settings
):
    post = scheduled_post(persona, BEFORE_DST, images=2)
    broken = post.images.get(position=1)
    broken.image.storage.delete(broken.image.name)

    bundle = build(marketer, workspace, [persona], django_capture_on_commit_callbacks)

    assert bundle.status == ExportStatus.FAILED
    assert f"post {post.pk}" in bundle.error and "missing" in bundle.error
    assert not bundle.file
    assert bundle.sha256 == ""
    export_dir = settings.MEDIA_ROOT / "workspaces" / str(workspace.pk) / "exports"
    assert not export_dir.exists() or not any(export_dir.iterdir())
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED
    assert not PostTransition.objects.filter(post=post).exists()


def test_failed_bundle_can_be_retried(workspace, marketer, persona, django_capture_on_commit_callbacks):
    post = scheduled_post(persona, BEFORE_DST, images=1)
    image = post.images.get()
    saved = image.image.read()
    image.image.close()
    image.image.storage.delete(image.image.name)
    bundle = build(marketer, workspace, [persona], django_capture_on_commit_callbacks)
    assert bundle.status == ExportStatus.FAILED

    image.image.storage.save(image.image.name, ContentFile(saved))
    bundle = export_bundle_build(bundle_id=bundle.pk)
    assert bundle.status == ExportStatus.SUCCEEDED
    assert bundle.error == ""
    assert bundle.progress == 100


def test_building_a_succeeded_bundle_is_a_noop(workspace, marketer, persona, django_capture_on_commit_callbacks):
    scheduled_post(persona, BEFORE_DST, images=0)  # a text post: the no-op does not depend on what is labeled
    bundle = build(marketer, workspace, [persona], django_capture_on_commit_callbacks)
    name, sha, finished = bundle.file.name, bundle.sha256, bundle.finished_at
    scheduled_post(persona, AFTER_DST)  # would change the content if it were rebuilt

    again = export_bundle_build(bundle_id=bundle.pk)
    assert (again.file.name, again.sha256, again.finished_at, again.post_count) == (name, sha, finished, 1)


def test_progress_is_reported_per_post(workspace, marketer, persona, django_capture_on_commit_callbacks, monkeypatch):
    for day in (2, 3, 4, 5):
        scheduled_post(persona, aware(2026, 3, day, 9), images=0)  # progress is per post
    seen = []
    original = exports._set_progress

    def spy(bundle_id, progress):
        original(bundle_id, progress)
        seen.append(ExportBundle.objects.get(pk=bundle_id).progress)

    monkeypatch.setattr(exports, "_set_progress", spy)
    bundle = build(marketer, workspace, [persona], django_capture_on_commit_callbacks)
    assert seen == sorted(seen) and len(seen) == 4 and 0 < seen[0] < seen[-1] < 100
    assert bundle.progress == 100


def test_empty_range_builds_an_empty_bundle(workspace, marketer, persona, django_capture_on_commit_callbacks):
    bundle = build(marketer, workspace, [persona], django_capture_on_commit_callbacks)
    assert bundle.status == ExportStatus.SUCCEEDED
    zf = open_zip(bundle)[1]
    assert json.loads(zf.read("manifest.json"))["posts"] == []
    assert icalendar.Calendar.from_ical(zf.read("schedule.ics")).walk("VEVENT") == []


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (aware(2026, 3, 2), aware(2026, 3, 1), "after its start"),
        (aware(2026, 3, 1), aware(2026, 3, 1), "after its start"),
        (aware(2026, 1, 1), aware(2027, 1, 3), "at most 366 days"),
        (dt.datetime(2026, 3, 1), dt.datetime(2026, 3, 2), "timezone"),
    ],
)
def test_create_rejects_bad_ranges(workspace, marketer, persona, start, end, message):
    with pytest.raises(ValidationFailed, match=message):
        export_bundle_create(actor=marketer, workspace=workspace, persona_ids=[persona.pk], start=start, end=end)
    assert not ExportBundle.objects.exists()


def test_create_allows_a_full_leap_year(workspace, reviewer, persona):
    bundle = export_bundle_create(
        actor=reviewer, workspace=workspace, persona_ids=[persona.pk], start=aware(2028, 1, 1), end=aware(2029, 1, 1)
    )
    assert bundle.status == ExportStatus.PENDING
    assert list(bundle.personas.all()) == [persona]


def test_create_refuses_personas_of_another_workspace_and_outsiders(workspace, marketer, persona, outsider):
    foreign = PersonaFactory()
    with pytest.raises(NotFound, match=str(foreign.pk)):
        export_bundle_create(
            actor=marketer, workspace=workspace, persona_ids=[persona.pk, foreign.pk], start=RANGE[0], end=RANGE[1]
        )
    with pytest.raises(NotFound):
        export_bundle_create(
            actor=outsider, workspace=workspace, persona_ids=[persona.pk], start=RANGE[0], end=RANGE[1]
        )
    with pytest.raises(ValidationFailed):
        export_bundle_create(actor=marketer, workspace=workspace, persona_ids=[], start=RANGE[0], end=RANGE[1])
    assert not ExportBundle.objects.exists()


def test_create_enqueues_only_on_commit(workspace, admin_member, persona, django_capture_on_commit_callbacks):
    scheduled_post(persona, BEFORE_DST, images=0)  # a text post: the queued build, not the labeling
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        bundle = export_bundle_create(
            actor=admin_member, workspace=workspace, persona_ids=[persona.pk], start=RANGE[0], end=RANGE[1]
        )
    bundle.refresh_from_db()
    assert bundle.status == ExportStatus.PENDING
    assert len(callbacks) == 1
    callbacks[0]()
    bundle.refresh_from_db()
    assert bundle.status == ExportStatus.SUCCEEDED


def test_selectors_scope_bundles_to_memberships(workspace, marketer, persona, outsider):
    mine = export_bundle_create(
        actor=marketer, workspace=workspace, persona_ids=[persona.pk], start=RANGE[0], end=RANGE[1]
    )
    other_ws = outsider.memberships.get().workspace
    theirs = export_bundle_create(
        actor=outsider,
        workspace=other_ws,
        persona_ids=[PersonaFactory(workspace=other_ws).pk],
        start=RANGE[0],
        end=RANGE[1],
    )
    assert list(export_bundle_list(user=marketer)) == [mine]
    assert list(export_bundle_list(user=outsider)) == [theirs]
    assert export_bundle_get(user=marketer, bundle_id=mine.pk) == mine
    with pytest.raises(NotFound):
        export_bundle_get(user=marketer, bundle_id=theirs.pk)


def test_csv_messages_stay_verbatim_and_the_readme_warns_about_formulas(persona):
    # A leading ' would be posted as part of the text, so formula-like captions are not escaped;
    # the bundle's README tells people not to open the CSVs in a spreadsheet app instead.
    caption = f'=HYPERLINK("http://evil.example","x") {persona.disclosure_label}'
    post = PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=BEFORE_DST, caption=caption)
    files = exports.bulk_csvs([post])
    hootsuite = next(csv.reader(io.StringIO(files[f"hootsuite/{persona.handle}_instagram.csv"].decode())))
    sprout = list(csv.reader(io.StringIO(files[f"sprout_social/{persona.handle}_instagram.csv"].decode())))[1]
    assert hootsuite[1] == sprout[2] == exports.post_message(post)
    assert hootsuite[1].startswith("=HYPERLINK(")
    readme = exports.readme_text()
    assert "=, +, - or @" in readme and "formula" in readme
