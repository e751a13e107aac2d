"""Content plan import: per-row validation with clear errors, all-or-nothing import of the valid rows, one
generation job per row, drafts slotted at the planned time, and the plan's progress."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.errors import NotFound, PermissionDenied, ValidationFailed
from generation.models import DraftingStatus, GenerationJob, JobStatus
from scheduler.drafting import plan_selectors, plans
from scheduler.drafting import services as drafting
from scheduler.models import ContentPlan, ContentPlanItem, Post, PostStatus
from scheduler.slots import series
from tests.conftest import client_for
from tests.factories import GeneratedImageFactory, LoraVersionFactory, PersonaFactory, PostFactory, aware

pytestmark = pytest.mark.django_db

HEADER = "persona handle,date,time,platform,scene,caption brief,sponsored"


@pytest.fixture
def trained(persona):
    LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED, is_active=True)
    return persona


def plan_of_50(handle: str) -> tuple[str, list[int]]:
    """50 rows, 5 of them bad (their line numbers returned)."""
    lines, bad = [HEADER], []
    start = dt.date(2030, 4, 1)
    for n in range(50):
        day = (start + dt.timedelta(days=n)).isoformat()
        row = f"@{handle},{day},{9 + n % 9:02d}:15,instagram,coffee at a cafe terrace {n},,no"
        if n % 10 == 3:
            row = [f"@ghost,{day},10:00,instagram,coffee,,no",  # unknown persona
                   f"@{handle},2030-02-30,10:00,instagram,coffee,,no",  # no such date
                   f"@{handle},{day},25:00,instagram,coffee,,no",  # no such time
                   f"@{handle},{day},10:00,myspace,coffee,,no",  # unknown platform
                   f"@{handle},{day},10:00,instagram,,,maybe"][n // 10]  # no scene, bad sponsored
            bad.append(len(lines) + 1)
        lines.append(row)
    return "\n".join(lines) + "\n", bad


def test_a_plan_of_50_rows_with_5_bad_imports_45_and_lists_5(trained, marketer):
    text, bad_lines = plan_of_50(trained.handle)
    plan = plans.content_plan_import(actor=marketer, workspace_id=trained.workspace_id, text=text, name="April")
    assert plan.rows_total == 50 and plan.items.count() == 45
    assert GenerationJob.objects.filter(persona=trained).count() == 45
    assert [error["row"] for error in plan.errors] == bad_lines
    messages = [" ".join(error["errors"]) for error in plan.errors]
    assert "No persona @ghost in this workspace." in messages[0]
    assert "Date '2030-02-30' is not a YYYY-MM-DD date." in messages[1]
    assert "Time '25:00' is not HH:MM" in messages[2]
    assert "Unknown platform 'myspace'" in messages[3]
    assert "Missing scene." in messages[4] and "Sponsored 'maybe' is not yes or no." in messages[4]
    first = plan.items.order_by("row_number").first()
    assert first.row_number == 2 and first.planned_at == aware(2030, 4, 1, 7, 15)  # 09:15 in Paris (CEST)
    assert first.job.num_variants == 1 and first.job.scene == "coffee at a cafe terrace 0"


def test_a_plan_with_no_valid_row_imports_nothing(trained, marketer):
    with pytest.raises(ValidationFailed, match="None of the plan's 2 rows") as refused:
        plans.content_plan_import(actor=marketer, workspace_id=trained.workspace_id,
                                  text=f"{HEADER}\n@ghost,2030-04-01,10:00,x,a,,\n@{trained.handle},2020-01-01,10:00,x,a,,")
    assert [e["row"] for e in refused.value.extra["errors"]] == [2, 3]
    assert "is in the past" in refused.value.extra["errors"][1]["errors"][0]
    assert not ContentPlan.objects.exists() and not GenerationJob.objects.exists()


def test_nothing_is_half_imported_when_a_row_fails_on_the_way(trained, marketer, monkeypatch):
    created = []
    real = plans.generation_job_create

    def third_fails(**kwargs):
        if len(created) == 2:
            raise ValidationFailed("The queue is closed.")
        created.append(1)
        return real(**kwargs)

    monkeypatch.setattr(plans, "generation_job_create", third_fails)
    text = HEADER + "".join(f"\n@{trained.handle},2030-04-0{n},10:00,instagram,coffee,," for n in range(1, 5))
    with pytest.raises(ValidationFailed, match="Row 4: The queue is closed. Nothing was imported."):
        plans.content_plan_import(actor=marketer, workspace_id=trained.workspace_id, text=text)
    assert not ContentPlan.objects.exists() and not GenerationJob.objects.exists()
    assert not ContentPlanItem.objects.exists()


def test_pasted_rows_without_header_tab_separated(trained, marketer):
    text = f"{trained.handle}\t2030-04-02\t18:30\ttiktok\tgym session\tnew shoes\tyes\n"
    plan = plans.content_plan_import(actor=marketer, workspace_id=trained.workspace_id, text=text)
    item = plan.items.get()
    assert (item.platform, item.scene, item.caption_brief, item.is_sponsored) == (
        "tiktok", "gym session", "new shoes", True)
    assert item.planned_at == aware(2030, 4, 2, 16, 30)


def test_next_free_slot_rows_take_distinct_slots_keeping_the_gap(trained, marketer):
    PostFactory(persona=trained, status=PostStatus.SCHEDULED, scheduled_at=aware(2030, 4, 1, 7))  # 09:00 Paris
    text = HEADER + f"\n@{trained.handle},2030-04-01,next free slot,instagram,a,," * 3
    plan = plans.content_plan_import(actor=marketer, workspace_id=trained.workspace_id, text=text)
    # Slots 09:00, 12:30, 18:00 (Paris): 09:00 is taken, then each row takes the next slot the others left.
    assert [i.planned_at for i in plan.items.order_by("row_number")] == [
        aware(2030, 4, 1, 10, 30), aware(2030, 4, 1, 16), aware(2030, 4, 2, 7)]


def test_rows_target_a_slot_series(trained, marketer):
    series.slot_series_create(actor=marketer, persona=trained, name="tuesday-evening", weekday="tuesday",
                              time=dt.time(18))
    text = (HEADER + f"\n@{trained.handle},2030-04-01,series tuesday-evening,instagram,a,,"
            f"\n@{trained.handle},2030-04-01,tuesday-evening,instagram,b,,"
            f"\n@{trained.handle},2030-04-01,series friday,instagram,c,,")
    plan = plans.content_plan_import(actor=marketer, workspace_id=trained.workspace_id, text=text)
    items = list(plan.items.order_by("row_number"))
    assert [i.planned_at for i in items] == [aware(2030, 4, 2, 16), aware(2030, 4, 9, 16)]
    assert items[0].slot_series.name == "tuesday-evening"
    assert plan.errors[0]["row"] == 4 and "no active slot series 'friday'" in plan.errors[0]["errors"][0]


def test_a_persona_without_an_active_lora_is_a_row_error_unless_the_base_model_is_allowed(persona, marketer):
    text = f"{HEADER}\n@{persona.handle},2030-04-01,10:00,instagram,a,,"
    with pytest.raises(ValidationFailed) as refused:
        plans.content_plan_import(actor=marketer, workspace_id=persona.workspace_id, text=text)
    assert "has no active LoRA yet" in refused.value.extra["errors"][0]["errors"][0]
    plan = plans.content_plan_import(actor=marketer, workspace_id=persona.workspace_id, text=text,
                                     allow_base_model=True)
    assert plan.items.count() == 1


def test_only_authors_of_the_workspace_import(trained, reviewer, outsider):
    text = f"{HEADER}\n@{trained.handle},2030-04-01,10:00,instagram,a,,"
    with pytest.raises(PermissionDenied):
        plans.content_plan_import(actor=reviewer, workspace_id=trained.workspace_id, text=text)
    with pytest.raises(NotFound):
        plans.content_plan_import(actor=outsider, workspace_id=trained.workspace_id, text=text)
    # Another workspace's handle is unknown here.
    other = PersonaFactory()
    plan_text = f"{HEADER}\n@{other.handle},2030-04-01,10:00,instagram,a,,"
    with pytest.raises(ValidationFailed):
        plans.content_plan_import(actor=outsider, workspace_id=outsider.memberships.get().workspace_id,
                                  text=plan_text)


def test_the_drafts_land_in_review_slotted_with_the_brief_and_ad(trained, marketer):
    text = f"{HEADER}\n@{trained.handle},2030-04-02,18:30,instagram,coffee at a cafe,Try our autumn latte,yes"
    plan = plans.content_plan_import(actor=marketer, workspace_id=trained.workspace_id, text=text)
    job = plan.items.get().job
    GeneratedImageFactory(job=job, index=0)
    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED,
                                                   drafting_status=DraftingStatus.PENDING)
    drafting.generation_job_posts_draft(job_id=job.pk)
    post = Post.objects.get(persona=trained)
    assert post.status == PostStatus.IN_REVIEW and post.scheduled_at == aware(2030, 4, 2, 16, 30)
    assert post.is_sponsored and "#ad" in [*post.hashtags, *post.caption.split()]
    assert "Try our autumn latte" in post.caption
    progress = plan_selectors.content_plan_progress(plan=plan)
    assert (progress.imported, progress.done, progress.percent, progress.slotted) == (1, 1, 100, 1)
    assert progress.posts == {"in_review": 1} and progress.items[0].posts[0].id == post.pk


def test_the_api_imports_a_csv_upload_and_shows_progress(trained, marketer, outsider):
    text, _bad = plan_of_50(trained.handle)
    client = client_for(marketer)
    upload = SimpleUploadedFile("april.csv", text.encode(), content_type="text/csv")
    response = client.post("/api/v1/content-plans/", {"workspace": trained.workspace_id, "file": upload},
                           format="multipart")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["name"], body["rows_total"], body["imported"], len(body["errors"])) == ("april.csv", 50, 45, 5)
    assert body["progress"]["jobs"] == {"queued": 45} and body["progress"]["percent"] == 0
    assert client.get(f"/api/v1/content-plans/{body['id']}/").json()["progress"]["imported"] == 45
    assert client_for(outsider).get(f"/api/v1/content-plans/{body['id']}/").status_code == 404
    assert [p["id"] for p in client.get("/api/v1/content-plans/").json()["results"]] == [body["id"]]

    pasted = client.post("/api/v1/content-plans/", {"workspace": trained.workspace_id,
                                                    "rows": "@ghost,2030-04-01,10:00,x,a"}, format="json")
    assert pasted.status_code == 400 and pasted.json()["code"] == "plan_invalid"
    assert pasted.json()["extra"]["errors"][0]["errors"] == ["No persona @ghost in this workspace."]
