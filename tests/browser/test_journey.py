"""The day of a marketer and a reviewer, in a real browser: log in, upload references, generate drafts, approve
with the keyboard, reschedule by dragging on the calendar, export a bundle and download it.

Every page visited is screenshotted into test-artifacts/screenshots/ and checked for unlabelled form fields.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
import zipfile

import pytest
from django.utils import timezone

from core.access import Role
from generation.models import GenerationJob, JobStatus
from provenance.models import ExportBundle, ExportStatus
from scheduler.models import Post, PostStatus, PostTransition
from scheduler.selectors import persona_zone
from tests.browser.conftest import SCREENSHOTS
from tests.factories import LoraVersionFactory, MembershipFactory, PersonaFactory, WorkspaceFactory, png_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Correct-Horse-1"

UNLABELLED_FIELDS_JS = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, textarea'))
  .filter(el => !el.closest('[aria-hidden=true]') && el.labels.length === 0 && !el.getAttribute('aria-label'))
  .map(el => el.outerHTML)"""

DROP_FILES_JS = """([selector, files]) => {
  const zone = document.querySelector(selector);
  const transfer = new DataTransfer();
  for (const f of files) {
    const bytes = Uint8Array.from(atob(f.b64), c => c.charCodeAt(0));
    transfer.items.add(new File([bytes], f.name, {type: f.type}));
  }
  zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: transfer, bubbles: true, cancelable: true}));
  zone.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
}"""


@pytest.fixture
def team():
    workspace = WorkspaceFactory(name="Aurora Brands")
    marketer = MembershipFactory(workspace=workspace, role=Role.MARKETER, user__username="maya").user
    reviewer = MembershipFactory(workspace=workspace, role=Role.REVIEWER, user__username="rui").user
    persona = PersonaFactory(workspace=workspace, created_by=marketer, name="Mira Sol", handle="mirasol")
    # A finished training run, not active: the persona page plots its loss curve; generation below uses the
    # base model (allow_base_model), which needs no weights on disk.
    LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED, version=1, progress_step=60, total_steps=60,
                       loss_curve=[round(0.9 * 0.96**i + 0.05 * (i % 3), 4) for i in range(60)], sha256="c0ffee" * 10)
    return {"workspace": workspace, "marketer": marketer, "reviewer": reviewer, "persona": persona}


def log_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    assert page.url.endswith("/"), page.url


def log_out(page) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Log out").click()


def check_page(page, shoot, name: str) -> None:
    """Screenshot the page and fail on form fields without a label."""
    shoot(page, name)
    unlabelled = page.evaluate(UNLABELLED_FIELDS_JS)
    assert not unlabelled, f"{name}: fields without a label: {unlabelled}"
    assert page.title().endswith("Persona Studio")


def messages_text(page) -> str:
    return page.locator(".messages").inner_text() if page.locator(".messages").count() else ""


def next_weekday(weekday: int, *, weeks_ahead: int = 1) -> dt.date:
    today = timezone.now().date()
    monday = today - dt.timedelta(days=today.weekday()) + dt.timedelta(weeks=weeks_ahead)
    return monday + dt.timedelta(days=weekday)


def test_marketer_and_reviewer_journey(page, shoot, team, live_server):
    persona = team["persona"]
    from playwright.sync_api import expect

    # --- marketer: log in, dashboard ------------------------------------------------------------------------
    page.goto("/accounts/login/")
    check_page(page, shoot, "01-login")
    log_in(page, "maya")
    expect(page.get_by_role("heading", name="Aurora Brands")).to_be_visible()
    expect(page.get_by_role("link", name="Mira Sol")).to_be_visible()
    check_page(page, shoot, "02-dashboard")

    # --- persona page: drop reference images onto the drop zone; a bad file is reported on its own ----------
    page.get_by_role("link", name="Mira Sol").click()
    expect(page.get_by_role("heading", name="Reference images")).to_be_visible()
    expect(page.locator(".loss-plot polyline")).to_have_count(1)  # server-rendered SVG, no chart library
    files = [
        {"name": f"mira-{i}.png", "type": "image/png", "b64": base64.b64encode(png_bytes(768, 768, color)).decode()}
        for i, color in enumerate([(200, 120, 90), (90, 140, 200), (120, 200, 110)])
    ]
    files.append({"name": "notes.txt", "type": "text/plain", "b64": base64.b64encode(b"not an image").decode()})
    page.evaluate(DROP_FILES_JS, ["[data-dropzone]", files])
    file_list = page.locator("[data-file-list]")
    expect(file_list).to_contain_text("mira-0.png")
    expect(file_list.locator(".file-error")).to_have_text(re.compile(r"^notes\.txt .*will be refused"))
    shoot(page, "03-persona-files-dropped")
    with page.expect_navigation():
        page.get_by_role("button", name="Upload").click()
    assert "Uploaded 3 of 4 image(s)." in messages_text(page)
    expect(page.locator(".message.error", has_text="notes.txt")).to_be_visible()
    expect(page.locator("#references img")).to_have_count(3)
    assert persona.reference_images.count() == 3

    # --- generate drafts with the tiny model; the job's partial polls until it is finished --------------------
    page.get_by_label("Scene").fill("drinking coffee at a cafe terrace at golden hour")
    page.get_by_label("Platform", exact=True).select_option("instagram")
    page.get_by_label("Variants").fill("2")
    page.get_by_label("Seed").fill("4242")
    page.get_by_label(re.compile("Use the base model")).check()
    # Eager Celery renders inside this request (the tiny model on CPU): allow it time.
    with page.expect_navigation(timeout=180_000):
        page.get_by_role("button", name="Generate").click(timeout=180_000)
    job = GenerationJob.objects.get(persona=persona)
    job_item = page.locator(f"#job-{job.pk}")
    expect(job_item.locator(".badge").first).to_have_text("Succeeded", timeout=60_000)
    expect(job_item.locator("progress")).to_have_count(0)
    expect(job_item.locator("img")).to_have_count(2)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.progress_step == job.total_steps
    check_page(page, shoot, "04-persona-generated")
    drafts = list(Post.objects.filter(persona=persona).order_by("id"))
    assert len(drafts) == 2 and all(p.status == PostStatus.IN_REVIEW for p in drafts)

    page.goto(f"/personas/{persona.pk}/edit/")
    check_page(page, shoot, "05-persona-edit")
    log_out(page)

    # --- reviewer: one post at a time, j/k to move, "a" to approve -------------------------------------------
    log_in(page, "rui")
    page.get_by_role("link", name="Review queue").click()
    current = page.locator(".review-card.current")
    expect(current).to_have_count(1)
    expect(page.locator(".review-card:visible")).to_have_count(1)  # one at a time
    expect(page.locator("#review-keys")).to_contain_text("approve")
    first_id = current.get_attribute("id")
    assert first_id == f"post-{drafts[0].pk}"  # oldest submission first
    expect(current.locator("[data-counter-output]")).to_contain_text("/ 2200 characters")
    expect(current.locator(".disclosure")).to_have_text(persona.disclosure_label)
    page.keyboard.press("j")
    expect(page.locator(".review-card.current")).to_have_id(f"post-{drafts[1].pk}")
    page.keyboard.press("k")
    expect(page.locator(".review-card.current")).to_have_id(first_id)
    check_page(page, shoot, "06-review-single")
    with page.expect_navigation():
        page.keyboard.press("a")
    assert f"Post approved. (post #{drafts[0].pk}" in messages_text(page)
    approved = Post.objects.get(pk=drafts[0].pk)
    assert approved.status == PostStatus.APPROVED
    assert PostTransition.objects.filter(post=approved, to_status=PostStatus.APPROVED, actor=team["reviewer"]).exists()

    page.get_by_role("link", name="Grid").click()
    expect(page.locator(".review-list.layout-grid .review-card")).to_have_count(1)
    check_page(page, shoot, "07-review-grid")

    # --- calendar: schedule the approved post, then drag it to the next day, then onto an evening slot --------
    wednesday = next_weekday(2)
    page.goto(f"/calendar/?view=week&persona={persona.pk}&start={wednesday.isoformat()}")
    schedule_form = page.locator(f"form[action='/posts/{approved.pk}/schedule/']")
    schedule_form.get_by_label(re.compile("Time")).fill(f"{wednesday.isoformat()}T10:00")
    with page.expect_navigation():
        schedule_form.get_by_role("button", name="Schedule").click()
    assert f"Post #{approved.pk} scheduled for" in messages_text(page)
    zone = persona_zone(persona)
    approved.refresh_from_db()
    assert approved.status == PostStatus.SCHEDULED
    assert approved.scheduled_at.astimezone(zone).replace(tzinfo=None) == dt.datetime.combine(wednesday, dt.time(10))
    check_page(page, shoot, "08-calendar-week")

    chip = page.locator(f"#cal-post-{approved.pk}")
    thursday = wednesday + dt.timedelta(days=1)
    day = page.locator(f"section[data-drop-date='{thursday.isoformat()}']")
    box = day.bounding_box()
    with page.expect_navigation():
        chip.drag_to(day, target_position={"x": box["width"] / 2, "y": box["height"] - 12})
    assert f"Post #{approved.pk} scheduled for Thu" in messages_text(page)
    approved.refresh_from_db()
    assert approved.scheduled_at.astimezone(zone).replace(tzinfo=None) == dt.datetime.combine(thursday, dt.time(10))

    friday = thursday + dt.timedelta(days=1)
    with page.expect_navigation():
        page.locator(f"#cal-post-{approved.pk}").drag_to(
            page.locator(f".slot[data-drop-date='{friday.isoformat()}'][data-drop-time='18:00']")
        )
    approved.refresh_from_db()
    assert approved.scheduled_at.astimezone(zone).replace(tzinfo=None) == dt.datetime.combine(friday, dt.time(18))
    expect(page.locator(f"section[data-drop-date='{friday.isoformat()}'] #cal-post-{approved.pk}")).to_be_visible()

    page.goto(f"/calendar/?start={friday.isoformat()}")
    expect(page.locator(f"td[data-drop-date='{friday.isoformat()}'] #cal-post-{approved.pk}")).to_be_visible()
    check_page(page, shoot, "09-calendar-month")

    # --- exports: create a bundle for the week, watch it finish, download it, read its verification ---------
    page.get_by_role("link", name="Exports").click()
    page.get_by_label("From (UTC day)").fill(wednesday.isoformat())
    page.get_by_label("To, included (UTC day)").fill((friday + dt.timedelta(days=2)).isoformat())
    with page.expect_navigation(timeout=120_000):
        page.get_by_role("button", name="Create export").click(timeout=120_000)
    bundle = ExportBundle.objects.get()
    row = page.locator("#export-rows tr", has_text=f"#{bundle.pk}")
    expect(row.locator(".badge")).to_have_text("Succeeded", timeout=60_000)
    check_page(page, shoot, "10-exports")
    with page.expect_download() as download_info:
        row.get_by_role("link", name=re.compile("Download ZIP")).click()
    download = download_info.value
    saved = SCREENSHOTS.parent / "downloads" / download.suggested_filename
    saved.parent.mkdir(parents=True, exist_ok=True)
    download.save_as(saved)
    with zipfile.ZipFile(io.BytesIO(saved.read_bytes())) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert [p["id"] for p in manifest["posts"]] == [approved.pk]
    bundle.refresh_from_db()
    assert bundle.status == ExportStatus.SUCCEEDED

    row.get_by_role("link", name=re.compile("Verify")).click()
    expect(page.get_by_role("heading", name=re.compile("Provenance report|Bundle"))).to_have_count(2)
    expect(page.locator("table tbody tr")).to_have_count(len(manifest["posts"][0]["images"]))
    check_page(page, shoot, "11-export-verify")

    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("#dashboard-jobs")).to_contain_text("No training or generation job is running.")
    check_page(page, shoot, "12-dashboard-reviewer")
