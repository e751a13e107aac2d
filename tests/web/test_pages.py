"""Server-rendered pages: access, workspace isolation, forms that call services, query budgets, escaping."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from core.access import Role
from core.platforms import Platform
from generation.models import JobStatus
from provenance.models import ExportBundle, ExportStatus
from scheduler.models import Post, PostStatus, PostTransition
from tests.factories import (
    GeneratedImageFactory,
    GenerationJobFactory,
    LoraVersionFactory,
    MembershipFactory,
    PersonaFactory,
    PostFactory,
    PostImageFactory,
    ReferenceImageFactory,
    WorkspaceFactory,
    png_bytes,
)

pytestmark = pytest.mark.django_db

QUERY_BUDGET = 9  # "under 10 queries" per page, whatever the number of posts


@pytest.fixture
def other_persona(db):
    """A persona of a workspace the test users are not members of."""
    return PersonaFactory()


def login(client, user):
    client.force_login(user)
    return client


def future(days: int, hour: int = 10) -> dt.datetime:
    base = timezone.now().replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=days)
    return base.replace(hour=hour)


def bulk_posts(persona, count: int, *, status: str, start: dt.datetime | None = None, spacing_hours: int = 4):
    """Many posts in one INSERT: the pages must not run a query per post."""
    posts = [
        Post(
            workspace_id=persona.workspace_id,
            persona=persona,
            platform=Platform.INSTAGRAM,
            caption=f"Post {i}. {persona.disclosure_label}",
            hashtags=["#travel"],
            disclosure_label=persona.disclosure_label,
            status=status,
            scheduled_at=(start + dt.timedelta(hours=spacing_hours * i)) if start else None,
        )
        for i in range(count)
    ]
    return Post.objects.bulk_create(posts)


# --- access ---------------------------------------------------------------------------------------------------

PAGE_NAMES = ["dashboard", "review_queue", "calendar", "export_list", "personas:create"]


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_pages_redirect_anonymous_users_to_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_persona_pages_redirect_anonymous_users_to_login(client, persona):
    for url in (reverse("personas:detail", args=[persona.pk]), reverse("personas:edit", args=[persona.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_pages_render_for_members(client, marketer, persona, name):
    response = login(client, marketer).get(reverse(name))
    assert response.status_code == 200
    assert b"Persona Studio" in response.content


def test_login_page_renders_and_logs_in(client, marketer):
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": marketer.username, "password": "pw-Correct-Horse-1"})
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")


def test_logout_is_a_post_form(client, marketer):
    content = login(client, marketer).get(reverse("dashboard")).content.decode()
    assert f'action="{reverse("logout")}"' in content
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("dashboard")).status_code == 302


def test_persona_pages_render_for_members(client, marketer, persona):
    login(client, marketer)
    assert client.get(reverse("personas:detail", args=[persona.pk])).status_code == 200
    assert client.get(reverse("personas:edit", args=[persona.pk])).status_code == 200


def test_other_workspaces_objects_are_404(client, marketer, persona, other_persona):
    login(client, marketer)
    other_post = PostFactory(persona=other_persona, status=PostStatus.IN_REVIEW)
    other_job = GenerationJobFactory(persona=other_persona)
    other_lora = LoraVersionFactory(persona=other_persona)
    other_bundle = ExportBundle.objects.create(
        workspace=other_persona.workspace, start=future(1), end=future(2), status=ExportStatus.SUCCEEDED
    )
    assert client.get(reverse("personas:detail", args=[other_persona.pk])).status_code == 404
    assert client.get(reverse("personas:edit", args=[other_persona.pk])).status_code == 404
    assert client.get(reverse("generation:job_partial", args=[other_job.pk])).status_code == 404
    assert client.get(reverse("generation:lora_partial", args=[other_lora.pk])).status_code == 404
    assert client.get(reverse("export_download", args=[other_bundle.pk])).status_code == 404
    posts = [
        reverse("review_decide", args=[other_post.pk]),
        reverse("post_submit_page", args=[other_post.pk]),
        reverse("post_schedule_page", args=[other_post.pk]),
        reverse("post_reschedule_page", args=[other_post.pk]),
        reverse("post_unschedule_page", args=[other_post.pk]),
        reverse("generation:lora_train", args=[other_persona.pk]),
        reverse("generation:generate", args=[other_persona.pk]),
        reverse("generation:job_cancel", args=[other_job.pk]),
        reverse("generation:lora_cancel", args=[other_lora.pk]),
        reverse("personas:references_upload", args=[other_persona.pk]),
    ]
    for url in posts:
        assert client.post(url, {"action": "approve", "scheduled_at": "2030-01-01T09:00"}).status_code == 404, url
    other_post.refresh_from_db()
    assert other_post.status == PostStatus.IN_REVIEW


def test_pages_show_only_the_current_workspace(client, marketer, persona, other_persona):
    content = login(client, marketer).get(reverse("dashboard")).content.decode()
    assert persona.name in content
    assert other_persona.name not in content


def test_workspace_switcher_changes_the_shown_workspace(client, marketer, persona):
    second = WorkspaceFactory(name="Second Brand")
    MembershipFactory(workspace=second, user=marketer, role=Role.REVIEWER)
    second_persona = PersonaFactory(workspace=second, name="Zed Second")
    login(client, marketer)
    content = client.get(reverse("dashboard"), {"workspace": second.pk}).content.decode()
    assert 'id="workspace-select"' in content
    assert second_persona.name in content and persona.name not in content
    # The choice sticks for the next pages.
    assert second_persona.name in client.get(reverse("calendar")).content.decode()


def test_workspace_switcher_ignores_workspaces_the_user_is_not_in(client, marketer, persona, other_persona):
    content = login(client, marketer).get(reverse("dashboard"), {"workspace": other_persona.workspace_id})
    assert persona.name in content.content.decode()
    assert other_persona.name not in content.content.decode()


def test_user_without_workspace_sees_an_explanation(client, user_factory):
    response = login(client, user_factory()).get(reverse("dashboard"))
    assert response.status_code == 200
    assert b"not a member of any workspace" in response.content


# --- dashboard ------------------------------------------------------------------------------------------------


def test_dashboard_counts_review_and_running_jobs(client, marketer, persona):
    bulk_posts(persona, 3, status=PostStatus.IN_REVIEW)
    LoraVersionFactory(persona=persona, status=JobStatus.RUNNING, progress_step=30, total_steps=120)
    GenerationJobFactory(persona=persona, status=JobStatus.RUNNING, progress_step=2, total_steps=8)
    response = login(client, marketer).get(reverse("dashboard"))
    content = response.content.decode()
    assert f'<dt>In review</dt><dd><a href="/review/?persona={persona.pk}">3</a></dd>' in content
    assert 'max="120" value="30"' in content
    assert 'max="8" value="2"' in content
    assert 'hx-trigger="every 2s"' in content


def test_dashboard_jobs_partial_slows_down_when_nothing_runs(client, marketer, persona):
    LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED)
    response = login(client, marketer).get(reverse("dashboard_jobs"))
    assert response.status_code == 200
    assert b'hx-trigger="every 15s"' in response.content
    assert b"No training or generation job is running" in response.content


def test_dashboard_shows_this_weeks_gaps(client, marketer, persona):
    response = login(client, marketer).get(reverse("dashboard"))
    assert b"Gaps:" in response.content
    assert response.context["rows"][0]["scheduled_this_week"] == 0


# --- review queue ---------------------------------------------------------------------------------------------


@pytest.fixture
def in_review_post(persona, marketer):
    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.IN_REVIEW)
    PostImageFactory(post=post, position=0)
    PostTransition.objects.create(post=post, actor=marketer, from_status="draft", to_status="in_review")
    return post


def test_review_queue_shows_post_with_images_disclosure_and_history(client, reviewer, in_review_post):
    content = login(client, reviewer).get(reverse("review_queue")).content.decode()
    image_url = reverse("media", args=[in_review_post.images.get().image.name])
    assert image_url in content
    assert in_review_post.disclosure_label in content
    assert "Draft → In review" in content
    assert 'value="approve"' in content


def test_review_queue_shows_the_planned_time_in_the_personas_timezone(client, reviewer, persona, marketer):
    PostFactory(persona=persona, created_by=marketer, status=PostStatus.IN_REVIEW,
                scheduled_at=dt.datetime(2031, 7, 1, 7, 30, tzinfo=dt.UTC))
    content = login(client, reviewer).get(reverse("review_queue")).content.decode()
    assert "Planned for Tue 1 Jul 2031 09:30 Europe/Paris" in content


def test_review_queue_lists_platform_problems(client, reviewer, persona, marketer):
    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.IN_REVIEW)  # no image
    content = login(client, reviewer).get(reverse("review_queue")).content.decode()
    assert f"post-{post.pk}" in content
    assert "Platform rule problems" in content


def test_review_queue_is_read_only_for_marketers(client, marketer, in_review_post):
    content = login(client, marketer).get(reverse("review_queue")).content.decode()
    assert f"post-{in_review_post.pk}" in content
    assert 'value="approve"' not in content
    assert "read-only" in content


def test_approve_via_review_form_writes_a_transition(client, reviewer, in_review_post):
    response = login(client, reviewer).post(
        reverse("review_decide", args=[in_review_post.pk]), {"action": "approve", "comment": "Lovely light."}
    )
    assert response.status_code == 302
    in_review_post.refresh_from_db()
    assert in_review_post.status == PostStatus.APPROVED
    transition = in_review_post.transitions.order_by("-id").first()
    assert (transition.actor, transition.to_status, transition.comment) == (reviewer, "approved", "Lovely light.")


def test_reject_without_comment_shows_the_error_with_4xx(client, reviewer, in_review_post):
    response = login(client, reviewer).post(
        reverse("review_decide", args=[in_review_post.pk]), {"action": "reject", "comment": ""}
    )
    assert response.status_code == 400
    assert b"A comment is required" in response.content
    in_review_post.refresh_from_db()
    assert in_review_post.status == PostStatus.IN_REVIEW


def test_marketer_cannot_approve_via_form(client, marketer, in_review_post):
    response = login(client, marketer).post(reverse("review_decide", args=[in_review_post.pk]), {"action": "approve"})
    assert response.status_code == 403
    in_review_post.refresh_from_db()
    assert in_review_post.status == PostStatus.IN_REVIEW


def test_submit_draft_for_review_from_the_page(client, marketer, persona):
    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.DRAFT)
    PostImageFactory(post=post, position=0)
    login(client, marketer)
    submit_url = reverse("post_submit_page", args=[post.pk])
    assert submit_url in client.get(reverse("review_queue")).content.decode()
    response = client.post(submit_url)
    assert response.status_code == 302
    post.refresh_from_db()
    assert post.status == PostStatus.IN_REVIEW


def test_review_queue_paginates(client, reviewer, persona):
    bulk_posts(persona, 25, status=PostStatus.IN_REVIEW)
    login(client, reviewer)
    first = client.get(reverse("review_queue"))
    assert len(first.context["posts"]) == 20 and first.context["has_next"]
    second = client.get(reverse("review_queue"), {"page": 2})
    assert len(second.context["posts"]) == 5 and not second.context["has_next"]


# --- calendar -------------------------------------------------------------------------------------------------


def test_calendar_shows_posts_in_the_personas_local_time_with_conflicts(client, marketer, persona):
    # Paris is UTC+1 in January: 10:00 UTC is 11:00 local.
    when = dt.datetime(2031, 1, 15, 10, 0, tzinfo=dt.UTC)
    first, second = bulk_posts(persona, 2, status=PostStatus.SCHEDULED, start=when, spacing_hours=1)
    login(client, marketer)
    for view in ("month", "week"):
        content = client.get(reverse("calendar"), {"view": view, "start": "2031-01-15"}).content.decode()
        assert '<time datetime="2031-01-15T10:00:00+00:00">11:00</time>' in content, view
        assert f"Post #{second.pk} only 60 min apart (minimum 180 min)" in content
        assert f'action="{reverse("post_reschedule_page", args=[first.pk])}"' in content


def test_calendar_filters_by_persona_and_platform(client, marketer, persona):
    other = PersonaFactory(workspace=persona.workspace, name="Other Local")
    when = dt.datetime(2031, 1, 15, 10, 0, tzinfo=dt.UTC)
    bulk_posts(persona, 1, status=PostStatus.SCHEDULED, start=when)
    bulk_posts(other, 1, status=PostStatus.SCHEDULED, start=when)
    response = login(client, marketer).get(
        reverse("calendar"), {"start": "2031-01-15", "persona": other.pk, "platform": "instagram"}
    )
    assert [p.persona_id for p in response.context["posts"]] == [other.pk]
    response = client.get(reverse("calendar"), {"start": "2031-01-15", "platform": "tiktok"})
    assert response.context["posts"] == []


def test_schedule_form_reads_the_time_in_the_personas_timezone(client, admin_member, persona, marketer):
    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.APPROVED)
    PostImageFactory(post=post, position=0)
    login(client, admin_member)
    content = client.get(reverse("calendar")).content.decode()
    assert f'id="schedule-{post.pk}"' in content
    response = client.post(reverse("post_schedule_page", args=[post.pk]), {"scheduled_at": "2031-07-01T09:30"})
    assert response.status_code == 302
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED
    # Paris is UTC+2 in July.
    assert post.scheduled_at == dt.datetime(2031, 7, 1, 7, 30, tzinfo=dt.UTC)


def test_schedule_form_refuses_a_past_or_missing_time(client, admin_member, persona, marketer):
    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.APPROVED)
    PostImageFactory(post=post, position=0)
    login(client, admin_member)
    assert client.post(reverse("post_schedule_page", args=[post.pk]), {"scheduled_at": ""}).status_code == 400
    response = client.post(reverse("post_schedule_page", args=[post.pk]), {"scheduled_at": "2001-01-01T09:00"})
    assert response.status_code == 400
    post.refresh_from_db()
    assert post.status == PostStatus.APPROVED


def test_reschedule_and_unschedule_from_the_calendar(client, admin_member, persona, marketer):
    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.SCHEDULED, scheduled_at=future(3))
    PostImageFactory(post=post, position=0)
    login(client, admin_member)
    response = client.post(reverse("post_reschedule_page", args=[post.pk]), {"scheduled_at": "2031-01-10T18:00"})
    assert response.status_code == 302
    post.refresh_from_db()
    assert post.scheduled_at == dt.datetime(2031, 1, 10, 17, 0, tzinfo=dt.UTC)
    assert client.post(reverse("post_unschedule_page", args=[post.pk])).status_code == 302
    post.refresh_from_db()
    assert post.status == PostStatus.APPROVED


def test_calendar_shows_next_free_slot(client, marketer, persona):
    content = login(client, marketer).get(reverse("calendar"), {"persona": persona.pk}).content.decode()
    assert "Next free slot" in content
    assert persona.timezone in content


# --- persona pages --------------------------------------------------------------------------------------------


def test_upload_form_stores_good_files_and_lists_per_file_errors(client, marketer, persona):
    good = SimpleUploadedFile("good.png", png_bytes(768, 768), content_type="image/png")
    bad = SimpleUploadedFile("notes.png", b"this is not an image", content_type="image/png")
    response = login(client, marketer).post(
        reverse("personas:references_upload", args=[persona.pk]), {"images": [good, bad]}, follow=True
    )
    assert response.status_code == 200
    assert persona.reference_images.count() == 1
    content = response.content.decode()
    assert "notes.png" in content
    assert "Uploaded 1 of 2" in content


def test_upload_with_only_bad_files_is_a_400(client, marketer, persona):
    bad = SimpleUploadedFile("notes.png", b"nope", content_type="image/png")
    response = login(client, marketer).post(reverse("personas:references_upload", args=[persona.pk]), {"images": [bad]})
    assert response.status_code == 400
    assert b"notes.png" in response.content
    assert persona.reference_images.count() == 0


def test_persona_detail_shows_versions_jobs_samples_and_posts(client, marketer, persona):
    ReferenceImageFactory(persona=persona)
    LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED, is_active=True, sha256="ab" * 32,
                       loss_curve=[0.5, 0.25, 0.125], progress_step=100, total_steps=100)
    running = LoraVersionFactory(persona=persona, status=JobStatus.RUNNING, progress_step=10, total_steps=100)
    job = GenerationJobFactory(persona=persona, status=JobStatus.SUCCEEDED)
    image = GeneratedImageFactory(job=job, index=0)
    post = PostFactory(persona=persona, caption="Hello from the persona page")
    content = login(client, marketer).get(reverse("personas:detail", args=[persona.pk])).content.decode()
    assert "abababababab" in content and "0.1250" in content
    assert reverse("generation:lora_partial", args=[running.pk]) in content
    assert reverse("media", args=[image.image.name]) in content
    assert reverse("generation:draft_from_images", args=[job.pk]) in content
    assert post.caption in content
    assert 'name="scene"' in content and 'name="num_variants"' in content and 'name="seed"' in content


def test_generation_partials_poll_only_while_running(client, marketer, persona):
    running = GenerationJobFactory(persona=persona, status=JobStatus.RUNNING, progress_step=1, total_steps=4)
    done = GenerationJobFactory(persona=persona, status=JobStatus.SUCCEEDED)
    login(client, marketer)
    assert b'hx-trigger="every 2s"' in client.get(reverse("generation:job_partial", args=[running.pk])).content
    assert b"hx-trigger" not in client.get(reverse("generation:job_partial", args=[done.pk])).content


def test_training_without_enough_references_shows_the_reason(client, marketer, persona):
    response = login(client, marketer).post(reverse("generation:lora_train", args=[persona.pk]))
    assert response.status_code == 400
    assert b"reference images" in response.content
    assert not persona.lora_versions.exists()


def test_generate_form_rejects_bad_numbers_without_creating_a_job(client, marketer, persona):
    response = login(client, marketer).post(
        reverse("generation:generate", args=[persona.pk]),
        {"scene": "at the beach", "platform": "instagram", "num_variants": "99"},
    )
    assert response.status_code == 400
    assert b"Variants must be between" in response.content
    assert not persona.generation_jobs.exists()


def test_generate_form_queues_a_job_with_the_active_lora(client, marketer, persona):
    lora = LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED, is_active=True, sha256="cd" * 32)
    response = login(client, marketer).post(
        reverse("generation:generate", args=[persona.pk]),
        {"scene": "reading in a Lisbon cafe", "platform": "instagram", "num_variants": "3", "seed": "42"},
    )
    assert response.status_code == 302
    job = persona.generation_jobs.get()
    assert (job.scene, job.num_variants, job.seed, job.lora_version) == ("reading in a Lisbon cafe", 3, 42, lora)
    assert job.status == JobStatus.QUEUED


def test_generate_without_active_lora_explains_why(client, marketer, persona):
    response = login(client, marketer).post(
        reverse("generation:generate", args=[persona.pk]), {"scene": "at the beach", "platform": "instagram"}
    )
    assert response.status_code == 400
    assert b"no active LoRA" in response.content
    assert not persona.generation_jobs.exists()


def test_cancel_and_activate_lora_versions_from_the_page(client, marketer, persona):
    queued = LoraVersionFactory(persona=persona, status=JobStatus.QUEUED)
    done = LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED, sha256="ef" * 32)
    login(client, marketer)
    assert client.post(reverse("generation:lora_cancel", args=[queued.pk])).status_code == 302
    queued.refresh_from_db()
    assert queued.status == JobStatus.CANCELLED
    # Cancelling again is a conflict, shown on the page.
    assert client.post(reverse("generation:lora_cancel", args=[queued.pk])).status_code == 409
    assert client.post(reverse("generation:lora_activate", args=[done.pk])).status_code == 302
    done.refresh_from_db()
    assert done.is_active


def test_reviewer_cannot_start_training(client, reviewer, persona):
    response = login(client, reviewer).post(reverse("generation:lora_train", args=[persona.pk]))
    assert response.status_code == 403
    assert not persona.lora_versions.exists()


def test_delete_reference_image(client, marketer, persona):
    ref = ReferenceImageFactory(persona=persona)
    response = login(client, marketer).post(reverse("personas:reference_delete", args=[persona.pk, ref.pk]))
    assert response.status_code == 302
    assert not persona.reference_images.exists()


def test_draft_post_from_generated_images(client, marketer, persona):
    job = GenerationJobFactory(persona=persona, status=JobStatus.SUCCEEDED)
    image = GeneratedImageFactory(
        job=job, index=0, image=ContentFile(png_bytes(1080, 1350), name="gen.png")
    )
    response = login(client, marketer).post(
        reverse("generation:draft_from_images", args=[job.pk]),
        {"images": [image.pk], "platform": "instagram", "caption": "New look"},
    )
    assert response.status_code == 302
    post = persona.posts.get()
    assert post.status == PostStatus.DRAFT
    assert post.images.get().generated_image_id == image.pk


def test_reviewers_cannot_open_the_persona_forms(client, reviewer, persona):
    login(client, reviewer)
    assert client.get(reverse("personas:create")).status_code == 403
    response = client.post(reverse("personas:edit", args=[persona.pk]), {"name": "Hijack"})
    assert response.status_code == 403
    persona.refresh_from_db()
    assert persona.name != "Hijack"


def test_persona_create_and_edit_forms(client, marketer, workspace):
    login(client, marketer)
    data = {
        "name": "Nova", "handle": "nova", "age": "27", "trigger_token": "nvx", "timezone": "Asia/Tokyo",
        "target_platforms": ["instagram", "x"], "min_post_gap_minutes": "120", "posting_slots": "09:00, 19:30",
        "default_hashtags": "#nova, #tokyo", "style_keywords": "neon, film",
    }
    response = client.post(reverse("personas:create"), data)
    assert response.status_code == 302
    persona = workspace.personas.get(handle="nova")
    assert persona.posting_slots == ["09:00", "19:30"]
    assert persona.target_platforms == ["instagram", "x"]
    response = client.post(reverse("personas:edit", args=[persona.pk]), {**data, "age": "28"})
    assert response.status_code == 302
    persona.refresh_from_db()
    assert persona.age == 28
    assert persona.age_changes.get().new_age == 28


def test_persona_form_shows_errors_and_keeps_minors_out(client, marketer, workspace):
    response = login(client, marketer).post(
        reverse("personas:create"),
        {"name": "Kid", "handle": "kid", "age": "16", "trigger_token": "k", "timezone": "UTC",
         "min_post_gap_minutes": "60"},
    )
    assert response.status_code == 400
    assert not workspace.personas.exists()
    assert b"errorlist" in response.content


def test_persona_form_shows_the_services_field_errors(client, marketer, workspace):
    response = login(client, marketer).post(
        reverse("personas:create"),
        {"name": "Nova", "handle": "nova", "age": "30", "trigger_token": "nvx", "timezone": "Mars/Olympus",
         "min_post_gap_minutes": "60"},
    )
    assert response.status_code == 400
    assert "is not a known IANA timezone" in response.content.decode()
    assert not workspace.personas.exists()


# --- exports --------------------------------------------------------------------------------------------------


def test_export_form_creates_a_pending_bundle_shown_with_progress(client, marketer, persona):
    login(client, marketer)
    response = client.post(
        reverse("export_create"), {"start": "2031-01-01", "end": "2031-01-31", "personas": [persona.pk]}
    )
    assert response.status_code == 302
    bundle = ExportBundle.objects.get()
    assert bundle.start == dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
    assert bundle.end == dt.datetime(2031, 2, 1, tzinfo=dt.UTC)
    assert list(bundle.personas.all()) == [persona]
    content = client.get(reverse("export_list")).content.decode()
    assert f'id="export-progress-{bundle.pk}"' in content
    assert 'hx-trigger="every 2s"' in content


def test_export_form_errors_are_4xx(client, marketer, persona, other_persona):
    login(client, marketer)
    assert client.post(reverse("export_create"), {"start": "x", "end": "", "personas": [persona.pk]}).status_code == 400
    backwards = {"start": "2031-01-31", "end": "2031-01-01", "personas": [persona.pk]}
    response = client.post(reverse("export_create"), backwards)
    assert response.status_code == 400
    assert client.post(
        reverse("export_create"), {"start": "2031-01-01", "end": "2031-01-02", "personas": [other_persona.pk]}
    ).status_code == 404
    assert not ExportBundle.objects.exists()


def test_export_download_for_members_only(client, marketer, persona, outsider):
    bundle = ExportBundle.objects.create(
        workspace=persona.workspace, start=future(1), end=future(2), status=ExportStatus.SUCCEEDED, progress=100
    )
    bundle.file.save("bundle.zip", ContentFile(b"PK\x05\x06" + b"\0" * 18), save=True)
    response = login(client, marketer).get(reverse("export_download", args=[bundle.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert b"".join(response.streaming_content).startswith(b"PK")
    client.force_login(outsider)
    assert client.get(reverse("export_download", args=[bundle.pk])).status_code == 404


# --- protected media ------------------------------------------------------------------------------------------


def test_media_is_served_to_members_only(client, marketer, persona, outsider):
    ref = ReferenceImageFactory(persona=persona)
    url = reverse("media", args=[ref.image.name])
    assert url == f"/media/{ref.image.name}"
    assert client.get(url).status_code == 404  # anonymous
    response = login(client, marketer).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline")
    assert hashlib.sha256(b"".join(response.streaming_content)).hexdigest()
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_media_rejects_traversal_and_paths_outside_workspaces(client, marketer, persona, settings):
    ReferenceImageFactory(persona=persona)
    (settings.MEDIA_ROOT / "secret.txt").write_text("top secret")
    login(client, marketer)
    ws = persona.workspace_id
    for path in (
        f"workspaces/{ws}/../secret.txt",
        f"workspaces/{ws}/personas/../../../secret.txt",
        "secret.txt",
        f"workspaces/{ws}/%2e%2e/secret.txt",
        f"workspaces/{ws}//secret.txt",
    ):
        assert client.get(f"/media/{path}").status_code == 404, path
    assert client.get(f"/media/workspaces/{ws}/missing.png").status_code == 404


# --- query budgets --------------------------------------------------------------------------------------------


@pytest.fixture
def busy_workspace(persona, marketer):
    """A persona with 1,000 posts across the states that pages list, a few images and jobs."""
    soon = future(1)
    bulk_posts(persona, 300, status=PostStatus.SCHEDULED, start=soon, spacing_hours=1)
    in_review = bulk_posts(persona, 300, status=PostStatus.IN_REVIEW)
    bulk_posts(persona, 300, status=PostStatus.APPROVED)
    bulk_posts(persona, 100, status=PostStatus.DRAFT)
    PostTransition.objects.bulk_create(
        PostTransition(post=p, actor=marketer, from_status="draft", to_status="in_review") for p in in_review
    )
    for post in in_review[:3]:
        PostImageFactory(post=post, position=0)
    PersonaFactory(workspace=persona.workspace)
    LoraVersionFactory(persona=persona, status=JobStatus.RUNNING)
    GenerationJobFactory(persona=persona, status=JobStatus.RUNNING)
    for _ in range(5):
        ExportBundle.objects.create(workspace=persona.workspace, start=soon, end=future(9)).personas.add(persona)
    assert Post.objects.filter(persona=persona).count() == 1000
    return persona


@pytest.mark.parametrize(
    "url_name",
    ["dashboard", "dashboard_jobs", "review_queue", "calendar", "export_list", "export_rows"],
)
def test_pages_stay_under_the_query_budget(client, reviewer, busy_workspace, django_assert_max_num_queries, url_name):
    login(client, reviewer)
    client.get(reverse(url_name))  # the first request may store the workspace choice in the session
    with django_assert_max_num_queries(QUERY_BUDGET):
        response = client.get(reverse(url_name))
    assert response.status_code == 200


def test_calendar_week_view_stays_under_the_query_budget(client, reviewer, busy_workspace,
                                                         django_assert_max_num_queries):
    login(client, reviewer)
    with django_assert_max_num_queries(QUERY_BUDGET):
        response = client.get(reverse("calendar"), {"view": "week", "persona": busy_workspace.pk})
    assert response.status_code == 200
    assert len(response.context["posts"]) > 0


def test_review_grid_and_persona_filter_stay_under_the_query_budget(client, reviewer, busy_workspace,
                                                                   django_assert_max_num_queries):
    login(client, reviewer)
    client.get(reverse("review_queue"))
    with django_assert_max_num_queries(QUERY_BUDGET):
        response = client.get(reverse("review_queue"), {"layout": "grid", "persona": busy_workspace.pk, "page": 3})
    assert response.status_code == 200
    assert len(response.context["posts"]) == 20


def test_persona_detail_stays_under_the_query_budget(client, reviewer, busy_workspace, django_assert_max_num_queries):
    for _ in range(3):
        GeneratedImageFactory(job=GenerationJobFactory(persona=busy_workspace, status=JobStatus.SUCCEEDED))
    for version in range(3):  # trained versions with loss curves and reviewer samples
        lora = LoraVersionFactory(persona=busy_workspace, status=JobStatus.SUCCEEDED, loss_curve=[0.5] * 500,
                                  version=10 + version)
        GeneratedImageFactory(job=GenerationJobFactory(persona=busy_workspace, lora_version=lora, is_sample=True,
                                                       status=JobStatus.SUCCEEDED))
    login(client, reviewer)
    # One over the budget: the persona's connected accounts (publishing), one query whatever the posts.
    with django_assert_max_num_queries(QUERY_BUDGET + 1):
        response = client.get(reverse("personas:detail", args=[busy_workspace.pk]))
    assert response.status_code == 200


# --- escaping -------------------------------------------------------------------------------------------------


def test_user_content_is_escaped(client, reviewer, workspace, marketer):
    evil = PersonaFactory(workspace=workspace, name="<script>alert('name')</script>")
    post = PostFactory(persona=evil, created_by=marketer, status=PostStatus.IN_REVIEW,
                       caption="<script>alert('caption')</script>", scheduled_at=None)
    PostFactory(persona=evil, status=PostStatus.SCHEDULED, caption="<img src=x onerror=alert(1)>",
                scheduled_at=future(1))
    login(client, reviewer)
    pages = [
        reverse("dashboard"),
        reverse("review_queue"),
        reverse("calendar") + f"?view=week&start={future(1).date().isoformat()}",
        reverse("personas:detail", args=[evil.pk]),
        reverse("export_list"),
    ]
    for url in pages:
        content = client.get(url).content.decode()
        assert "<script>alert(" not in content, url
        assert "<img src=x" not in content, url
    review = client.get(reverse("review_queue")).content.decode()
    assert "&lt;script&gt;alert(&#x27;caption&#x27;)&lt;/script&gt;" in review
    assert post.pk


# --- review queue: layouts, counters, bulk approve, caption editor --------------------------------------------


def test_review_queue_renders_platform_limits_and_counters(client, reviewer, in_review_post):
    content = login(client, reviewer).get(reverse("review_queue")).content.decode()
    assert '<script id="platform-limits" type="application/json">' in content
    assert '"caption_max": 280' in content and '"weighted": true' in content  # X, from core/platforms.py
    assert 'data-caption-counter data-platform="instagram"' in content
    assert f"{len(in_review_post.caption + ' ' + ' '.join(in_review_post.hashtags))} / 2200 characters" in content
    assert "<kbd>a</kbd> approve" in content and "<kbd>j</kbd>/<kbd>k</kbd>" in content
    assert f'name="posts" value="{in_review_post.pk}"' in content


def test_review_queue_layout_toggle_and_persona_filter(client, reviewer, persona, marketer):
    other = PersonaFactory(workspace=persona.workspace)
    mine = PostFactory(persona=persona, created_by=marketer, status=PostStatus.IN_REVIEW)
    theirs = PostFactory(persona=other, created_by=marketer, status=PostStatus.IN_REVIEW)
    login(client, reviewer)
    grid = client.get(reverse("review_queue"), {"layout": "grid"})
    assert grid.context["layout"] == "grid" and 'class="review-list layout-grid"' in grid.content.decode()
    assert client.get(reverse("review_queue")).context["layout"] == "single"
    filtered = client.get(reverse("review_queue"), {"persona": persona.pk})
    assert [p.pk for p in filtered.context["posts"]] == [mine.pk]
    assert theirs.pk not in [p.pk for p in filtered.context["posts"]]


def test_bulk_approve_approves_each_post_and_reports_per_post_errors(client, reviewer, persona, marketer,
                                                                     other_persona):
    good = [PostFactory(persona=persona, created_by=marketer, status=PostStatus.IN_REVIEW) for _ in range(2)]
    for post in good:
        PostImageFactory(post=post, position=0)
    no_image = PostFactory(persona=persona, created_by=marketer, status=PostStatus.IN_REVIEW)
    draft = PostFactory(persona=persona, created_by=marketer, status=PostStatus.DRAFT)
    foreign = PostFactory(persona=other_persona, status=PostStatus.IN_REVIEW)
    ids = [good[0].pk, no_image.pk, draft.pk, foreign.pk, good[1].pk]
    response = login(client, reviewer).post(reverse("review_bulk_approve"), {"posts": ids}, follow=True)
    assert response.status_code == 200
    statuses = dict(Post.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert statuses[good[0].pk] == statuses[good[1].pk] == PostStatus.APPROVED
    assert statuses[no_image.pk] == PostStatus.IN_REVIEW and statuses[draft.pk] == PostStatus.DRAFT
    assert statuses[foreign.pk] == PostStatus.IN_REVIEW
    texts = [str(m) for m in response.context["messages"]]
    assert any(t.startswith("Approved 2 of 5") for t in texts), texts
    for post in (no_image, draft, foreign):
        assert any(t.startswith(f"Post #{post.pk}:") for t in texts), (post.pk, texts)
    # Each approval went through post_approve: one audit row each, by the reviewer.
    assert PostTransition.objects.filter(post__in=good, to_status="approved", actor=reviewer).count() == 2


def test_bulk_approve_needs_a_ticked_post_and_a_reviewer(client, reviewer, marketer, in_review_post):
    assert login(client, reviewer).post(reverse("review_bulk_approve"), {}).status_code == 400
    client.force_login(marketer)
    response = client.post(reverse("review_bulk_approve"), {"posts": [in_review_post.pk]}, follow=True)
    in_review_post.refresh_from_db()
    assert in_review_post.status == PostStatus.IN_REVIEW
    assert any(str(m).startswith(f"Post #{in_review_post.pk}:") for m in response.context["messages"])


def test_caption_editor_saves_drafts_and_warns_about_platform_limits(client, marketer, persona):
    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.DRAFT, platform=Platform.X)
    PostImageFactory(post=post, position=0)
    login(client, marketer)
    assert reverse("post_caption_page", args=[post.pk]) in client.get(reverse("review_queue")).content.decode()
    long_caption = "word " * 80 + persona.disclosure_label
    response = client.post(reverse("post_caption_page", args=[post.pk]),
                           {"caption": long_caption, "hashtags": "#one, #two"}, follow=True)
    assert response.status_code == 200
    post.refresh_from_db()
    assert post.caption == long_caption.strip() and post.hashtags == ["#one", "#two"]
    assert any("280" in str(m) for m in response.context["messages"])  # over X's limit: warned, not lost


def test_caption_editor_refuses_posts_in_review(client, marketer, in_review_post):
    before = in_review_post.caption
    response = login(client, marketer).post(reverse("post_caption_page", args=[in_review_post.pk]),
                                            {"caption": "changed"})
    assert response.status_code == 409
    in_review_post.refresh_from_db()
    assert in_review_post.caption == before


# --- calendar drag and drop -----------------------------------------------------------------------------------


def test_calendar_chips_are_draggable_onto_days_and_slots(client, admin_member, persona, marketer):
    when = future(2, hour=9)
    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.SCHEDULED, scheduled_at=when)
    login(client, admin_member)
    local = when.astimezone(selectors_zone(persona))
    content = client.get(reverse("calendar"), {"start": local.date().isoformat()}).content.decode()
    assert f'data-post-id="{post.pk}" data-time="{local:%H:%M}"' in content
    assert f'data-drop-date="{local.date().isoformat()}"' in content
    assert 'id="drag-form"' in content
    week = client.get(reverse("calendar"), {"view": "week", "persona": persona.pk,
                                            "start": local.date().isoformat()}).content.decode()
    for slot in persona.posting_slots:
        assert f'data-drop-time="{slot}"' in week


def test_drop_on_a_day_that_breaks_a_rule_shows_the_error(client, admin_member, persona, marketer):
    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.SCHEDULED, scheduled_at=future(3))
    PostImageFactory(post=post, position=0)
    past_day = (timezone.now() - dt.timedelta(days=3)).astimezone(selectors_zone(persona))
    response = login(client, admin_member).post(
        reverse("post_reschedule_page", args=[post.pk]), {"scheduled_at": f"{past_day:%Y-%m-%d}T10:00"}
    )
    assert response.status_code == 400
    assert b"message error" in response.content
    post.refresh_from_db()
    assert post.scheduled_at > timezone.now()
    # The page it came from is shown again, filters kept.
    back = f"{reverse('calendar')}?view=week&persona={persona.pk}&start=2031-01-06"
    response = client.post(reverse("post_reschedule_page", args=[post.pk]),
                           {"scheduled_at": f"{past_day:%Y-%m-%d}T10:00", "next": back})
    assert response.status_code == 400
    assert response.context["view"] == "week" and response.context["selected_persona"] == persona
    assert response.context["first"] == dt.date(2031, 1, 6)
    # ...and its forms come back to the calendar, not to the POST-only URL that rendered it.
    nexts = [chunk.split('"', 1)[0] for chunk in response.content.decode().split('name="next" value="')[1:]]
    assert nexts and all(n.startswith("/calendar/?view=week&amp;persona=") for n in nexts), nexts


# --- persona page: loss curve, samples, drop zone -------------------------------------------------------------


def test_persona_page_plots_the_loss_curve_and_shows_samples(client, marketer, persona):
    lora = LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED, loss_curve=[1.0, 0.5, 0.25, 0.2])
    sample = GeneratedImageFactory(job=GenerationJobFactory(persona=persona, lora_version=lora, is_sample=True,
                                                            status=JobStatus.SUCCEEDED))
    content = login(client, marketer).get(reverse("personas:detail", args=[persona.pk])).content.decode()
    assert '<polyline points="4.0,4.0 ' in content  # the first (highest) loss at the top left
    assert "from 1.0000 (highest) to 0.2000 (lowest)" in content
    assert reverse("media", args=[sample.image.name]) in content
    assert "data-dropzone" in content and 'type="file"' in content


def test_loss_plot_handles_odd_curves():
    from web.presenters import final_loss, loss_plot

    assert loss_plot([]) is None and loss_plot([0.3]) is None
    assert loss_plot([[1, 0.4], {"loss": 0.2}, "bad", float("nan")])["count"] == 2
    flat = loss_plot([0.5] * 3)
    assert flat["low"] == flat["high"] == 0.5
    assert len(loss_plot(list(range(1000, 0, -1)))["points"].split()) <= 201
    assert final_loss([{"loss": 0.1}, {"loss": "x"}]) == 0.1


# --- exports: verification ------------------------------------------------------------------------------------


def test_export_verify_page_shows_the_report(client, marketer, admin_member, persona,
                                             django_capture_on_commit_callbacks):
    from provenance.bundles import build as exports

    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.SCHEDULED, scheduled_at=future(2))
    PostImageFactory(post=post, position=0)
    with django_capture_on_commit_callbacks(execute=True):
        bundle = exports.export_bundle_create(actor=admin_member, workspace=persona.workspace,
                                              persona_ids=[persona.pk], start=future(1), end=future(5))
    bundle.refresh_from_db()
    assert bundle.status == ExportStatus.SUCCEEDED, bundle.error
    login(client, marketer)
    assert reverse("export_verify", args=[bundle.pk]) in client.get(reverse("export_list")).content.decode()
    response = client.get(reverse("export_verify", args=[bundle.pk]))
    assert response.status_code == 200
    assert response.context["summary"]["post_count"] == 1 and response.context["summary"]["image_count"] == 1
    report = response.context["report"]
    assert report is not None and len(report.images) == 1
    assert report.images[0].path in response.content.decode()


def test_export_verify_is_404_for_outsiders_and_unfinished_bundles(client, marketer, persona, outsider):
    pending = ExportBundle.objects.create(workspace=persona.workspace, start=future(1), end=future(2))
    login(client, marketer)
    assert client.get(reverse("export_verify", args=[pending.pk])).status_code == 404
    done = ExportBundle.objects.create(workspace=persona.workspace, start=future(1), end=future(2),
                                       status=ExportStatus.SUCCEEDED, progress=100)
    done.file.save("bundle.zip", ContentFile(b"not a zip"), save=True)
    response = client.get(reverse("export_verify", args=[done.pk]))
    assert response.status_code == 200 and "Cannot read manifest.json" in response.content.decode()
    client.force_login(outsider)
    assert client.get(reverse("export_verify", args=[done.pk])).status_code == 404


def selectors_zone(persona):
    from scheduler.selectors import persona_zone

    return persona_zone(persona)


def test_rescheduling_next_to_another_post_warns_about_the_conflict(client, admin_member, persona, marketer):
    base = dt.datetime(2031, 3, 4, 9, 0, tzinfo=dt.UTC)
    first = PostFactory(persona=persona, created_by=marketer, status=PostStatus.SCHEDULED, scheduled_at=base)
    second = PostFactory(persona=persona, created_by=marketer, status=PostStatus.SCHEDULED,
                         scheduled_at=base + dt.timedelta(days=2))
    for post in (first, second):
        PostImageFactory(post=post, position=0)
    local = (base + dt.timedelta(minutes=30)).astimezone(selectors_zone(persona))
    response = login(client, admin_member).post(
        reverse("post_reschedule_page", args=[second.pk]), {"scheduled_at": f"{local:%Y-%m-%dT%H:%M}"}, follow=True
    )
    texts = [str(m) for m in response.context["messages"]]
    assert any(t.startswith(f"Post #{second.pk} scheduled for") for t in texts), texts
    assert any(t.startswith("Conflict: ") and f"Post {first.pk}" in t for t in texts), texts
    second.refresh_from_db()
    assert second.scheduled_at == base + dt.timedelta(minutes=30)


def test_drafts_show_the_reviewers_change_request(client, marketer, reviewer, persona):
    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.CHANGES_REQUESTED)
    PostTransition.objects.create(post=post, actor=reviewer, from_status="in_review", to_status="changes_requested",
                                  comment="Crop tighter on the face.")
    content = login(client, marketer).get(reverse("review_queue")).content.decode()
    assert "Crop tighter on the face." in content and f"{reviewer.username} asked:" in content


def test_job_card_says_which_gpu_batch_rendered_the_job(client, marketer, persona):
    leader = GenerationJobFactory(persona=persona, status=JobStatus.SUCCEEDED, num_variants=2, batch_size=6)
    leader.batch_leader = leader
    leader.save()
    companion = GenerationJobFactory(persona=persona, status=JobStatus.RUNNING, num_variants=4, batch_leader=leader,
                                     batch_offset=2, batch_size=6, cancel_requested=True, created_by=marketer)
    alone = GenerationJobFactory(persona=persona, status=JobStatus.SUCCEEDED, num_variants=2, batch_size=2)
    alone.batch_leader = alone
    alone.save()
    session = login(client, marketer)

    def card(job) -> str:
        return session.get(reverse("generation:job_partial", args=[job.pk])).content.decode()

    assert "rendered in one GPU batch of 6 images" in card(leader) and "led by job" not in card(leader)
    companion_card = card(companion)
    assert f"rendered in one GPU batch of 6 images led by job {leader.pk}" in companion_card
    assert "Cancelling… (its images are dropped when the batch ends)" in companion_card
    assert "GPU batch" not in card(alone)
