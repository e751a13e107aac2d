"""Drafting a job's posts after its images are saved: a drafting problem never costs an image, is shown on the job
(API and page), and "draft again" makes the missing posts exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from core.access import Role
from core.errors import Conflict, NotFound, PermissionDenied
from generation.jobs import render as worker
from generation.models import DraftingStatus, GenerationJob, JobStatus, JobTransition
from personas.models import Membership
from scheduler import tasks
from scheduler.drafting import services as drafting
from scheduler.models import Post, PostStatus, PostTransition
from tests.conftest import client_for
from tests.factories import MembershipFactory
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures
from tests.generation.workflow_fixtures import _job

# Two hashtags in the label itself: Threads allows one per post, so every drafted caption breaks its rule.
TWO_TAG_LABEL = "#AIgenerated #virtualhuman"


def _run(job: GenerationJob, after_commit) -> GenerationJob:
    with after_commit():  # the drafting task is enqueued on commit and runs eagerly here
        worker.generation_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def _images_kept(job: GenerationJob) -> bool:
    images = list(job.images.all())
    return len(images) == job.num_variants and all(Path(image.image.path).is_file() for image in images)


def _page(client, user, job: GenerationJob) -> str:
    client.force_login(user)
    return client.get(reverse("generation:job_partial", args=[job.pk])).content.decode()


def test_posts_are_drafted_after_the_images_are_saved(persona, marketer, fake_engine, after_commit):
    job = _run(_job(persona, marketer), after_commit)
    assert job.status == JobStatus.SUCCEEDED and job.drafting_status == DraftingStatus.DRAFTED
    assert not job.drafting_error
    posts = list(Post.objects.filter(persona=persona).order_by("id"))
    assert [p.images.get().generated_image_id for p in posts] == list(job.images.values_list("pk", flat=True))
    assert all(p.status == PostStatus.IN_REVIEW and p.created_by == marketer for p in posts)
    # A system action on behalf of the author: the submission has no acting user.
    assert set(PostTransition.objects.filter(post__in=posts).values_list("actor", "to_status")) == {
        (None, PostStatus.IN_REVIEW)}
    # The job's own history stays its status changes: succeeded once.
    assert list(JobTransition.objects.filter(generation_job=job).values_list("to_status", flat=True)) == [
        JobStatus.RUNNING, JobStatus.SUCCEEDED]


def test_drafting_waits_for_the_commit_and_runs_on_the_default_queue(persona, marketer, fake_engine, monkeypatch):
    from config.celery import app

    sent = []
    monkeypatch.setattr(tasks.draft_posts, "delay", lambda *args: sent.append(args))
    job = _job(persona, marketer)
    worker.generation_job_run(job_id=job.pk)  # the test's transaction never commits: nothing is sent
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.drafting_status == DraftingStatus.PENDING
    assert sent == [] and not Post.objects.exists()
    assert app.amqp.router.route({}, tasks.draft_posts.name)["queue"].name == "default"


def test_drafting_task_is_idempotent(persona, marketer, fake_engine, after_commit):
    job = _run(_job(persona, marketer), after_commit)
    assert tasks.draft_posts.delay(job.pk).get() == DraftingStatus.DRAFTED  # a redelivered message
    assert drafting.generation_job_posts_draft(job_id=job.pk).drafting_status == DraftingStatus.DRAFTED
    assert Post.objects.count() == 2
    assert tasks.draft_posts.delay(999_999).get() is None


def test_reviewer_samples_make_no_posts_and_need_no_drafting(persona, marketer, fake_engine, after_commit):
    job = _run(_job(persona, marketer, is_sample=True), after_commit)
    assert job.status == JobStatus.SUCCEEDED and job.drafting_status == DraftingStatus.NOT_NEEDED
    assert not Post.objects.exists()
    with pytest.raises(Conflict, match="reviewer samples make no posts"):
        drafting.generation_job_draft_again(actor=marketer, job_id=job.pk)


def test_a_job_whose_author_lost_the_marketer_role_keeps_its_images(persona, marketer, fake_engine, after_commit,
                                                                     client):
    job = _job(persona, marketer)
    Membership.objects.filter(user=marketer).update(role=Role.REVIEWER)
    job = _run(job, after_commit)

    assert job.status == JobStatus.SUCCEEDED and not job.error
    assert _images_kept(job)
    assert job.drafting_status == DraftingStatus.FAILED
    assert "can no longer author posts in this workspace" in job.drafting_error
    assert marketer.get_username() in job.drafting_error
    assert not Post.objects.exists()
    # Shown in the API and on the job card, with the way out.
    body = client_for(marketer).get(f"/api/v1/generation-jobs/{job.pk}/").json()
    assert (body["status"], body["drafting_status"]) == ("succeeded", "failed")
    assert body["drafting_error"] == job.drafting_error and len(body["images"]) == 2
    colleague = MembershipFactory(workspace=persona.workspace, role=Role.MARKETER).user
    page = _page(client, colleague, job)
    assert "could not be drafted" in page and "can no longer author posts" in page
    assert reverse("generation:job_draft_again", args=[job.pk]) in page
    assert "every 2s" not in page  # nothing left to wait for

    # The reviewer who started it may not draft posts; a marketer drafts them, once, as their author.
    with pytest.raises(PermissionDenied):
        drafting.generation_job_draft_again(actor=marketer, job_id=job.pk)
    for _ in range(2):  # a double click drafts nothing twice
        with after_commit():  # the queued drafting task runs eagerly at the commit
            drafting.generation_job_draft_again(actor=colleague, job_id=job.pk)
    job.refresh_from_db()
    assert job.drafting_status == DraftingStatus.DRAFTED and not job.drafting_error
    posts = list(Post.objects.all())
    assert len(posts) == 2 and {p.created_by for p in posts} == {colleague}
    assert sorted(p.images.get().generated_image_id for p in posts) == sorted(job.images.values_list("pk", flat=True))
    assert set(PostTransition.objects.values_list("actor", "to_status")) == {(colleague.pk, PostStatus.IN_REVIEW)}
    assert "Draft again" not in _page(client, colleague, job)


def test_a_job_whose_drafted_caption_breaks_a_platform_rule_keeps_its_images(
    persona, marketer, fake_engine, after_commit, client
):
    persona.disclosure_label = TWO_TAG_LABEL
    persona.save()
    job = _run(_job(persona, marketer, platform="threads"), after_commit)

    assert job.status == JobStatus.SUCCEEDED and _images_kept(job)
    assert job.drafting_status == DraftingStatus.FAILED
    assert "Variant 1:" in job.drafting_error and "Variant 2:" in job.drafting_error
    assert "Threads allows at most 1 hashtag per post" in job.drafting_error
    assert not Post.objects.exists()
    body = client_for(marketer).get(f"/api/v1/generation-jobs/{job.pk}/").json()
    assert body["drafting_status"] == "failed" and "Threads allows at most 1 hashtag" in body["drafting_error"]
    listed = client_for(marketer).get("/api/v1/generation-jobs/?drafting_status=failed").json()["results"]
    assert [row["id"] for row in listed] == [job.pk]
    page = _page(client, marketer, job)
    assert "Threads allows at most 1 hashtag" in page and reverse("generation:job_draft_again", args=[job.pk]) in page

    # Still broken: queued and answered at once; the task records the reason, nothing drafted.
    with after_commit():
        response = client_for(marketer).post(f"/api/v1/generation-jobs/{job.pk}/draft-again/")
    assert response.status_code == 202 and response.json()["drafting_status"] == "pending"
    job.refresh_from_db()
    assert job.drafting_status == DraftingStatus.FAILED and "Threads allows at most 1 hashtag" in job.drafting_error
    assert not Post.objects.exists()

    # Fixed: the posts are drafted exactly once, however often it is asked.
    persona.disclosure_label = "#AIgenerated"
    persona.save()
    with after_commit():
        response = client_for(marketer).post(f"/api/v1/generation-jobs/{job.pk}/draft-again/")
    assert response.status_code == 202, response.json()
    assert response.json()["drafting_status"] == "pending" and not response.json()["drafting_error"]
    response = client_for(marketer).post(f"/api/v1/generation-jobs/{job.pk}/draft-again/")
    assert response.status_code == 202 and response.json()["drafting_status"] == "drafted"
    assert len(response.json()["post_ids"]) == 2
    assert Post.objects.filter(status=PostStatus.IN_REVIEW, platform="threads").count() == 2


def test_draft_again_from_the_page(persona, marketer, fake_engine, after_commit, client):
    persona.disclosure_label = TWO_TAG_LABEL
    persona.save()
    job = _run(_job(persona, marketer, platform="threads"), after_commit)
    client.force_login(marketer)
    url = reverse("generation:job_draft_again", args=[job.pk])
    persona.disclosure_label = "#AIgenerated"
    persona.save()
    with after_commit():  # queued: back to the persona page at once, the task drafts on commit
        response = client.post(url)
    assert response.status_code == 302 and response["Location"].endswith("#generation")
    assert "posts again; they join the review queue" in client.get(response["Location"]).content.decode()
    assert client.post(url).status_code == 302  # a second click finds nothing left to draft
    assert Post.objects.count() == 2


def test_only_images_without_a_post_are_drafted_again(persona, marketer, fake_engine, after_commit):
    from scheduler import services as scheduler_services

    persona.disclosure_label = TWO_TAG_LABEL
    persona.save()
    job = _run(_job(persona, marketer, platform="threads"), after_commit)
    persona.disclosure_label = "#AIgenerated"
    persona.save()
    # Meanwhile a marketer made a post of the first image by hand.
    first = job.images.get(index=0)
    scheduler_services.post_create(actor=marketer, persona=persona, platform="threads", generated_images=[first])
    with after_commit():
        drafting.generation_job_draft_again(actor=marketer, job_id=job.pk)
    assert Post.objects.count() == 2
    assert Post.objects.filter(images__generated_image=job.images.get(index=1)).count() == 1


def test_draft_again_needs_a_job_with_drafting_left(persona, marketer, outsider, fake_engine, after_commit):
    queued = _job(persona, marketer)
    with pytest.raises(Conflict, match="the job is queued"):
        drafting.generation_job_draft_again(actor=marketer, job_id=queued.pk)
    with pytest.raises(NotFound):
        drafting.generation_job_draft_again(actor=outsider, job_id=queued.pk)
    done = _run(_job(persona, marketer, seed=500), after_commit)
    assert drafting.generation_job_draft_again(actor=marketer, job_id=done.pk).drafting_status == "drafted"
    assert Post.objects.count() == 2


def test_a_batch_companion_whose_author_lost_the_role_keeps_its_images(persona, marketer, fake_engine, after_commit):
    from tests.factories import UserFactory

    fake_engine.max_batch = 4
    colleague = UserFactory()
    Membership.objects.create(user=colleague, workspace=persona.workspace, role=Role.MARKETER)
    leader, companion = _job(persona, marketer), _job(persona, colleague, seed=50)
    Membership.objects.filter(user=colleague).update(role=Role.REVIEWER)  # lost the right to draft posts
    leader = _run(leader, after_commit)
    companion.refresh_from_db()
    assert leader.status == JobStatus.SUCCEEDED and leader.drafting_status == DraftingStatus.DRAFTED
    assert companion.status == JobStatus.SUCCEEDED and _images_kept(companion)
    assert companion.drafting_status == DraftingStatus.FAILED and Post.objects.count() == 2


def test_a_job_whose_author_was_deleted_can_be_drafted_again(persona, marketer, fake_engine, after_commit):
    from tests.factories import UserFactory

    gone = UserFactory()
    Membership.objects.create(user=gone, workspace=persona.workspace, role=Role.MARKETER)
    job = _job(persona, gone)
    gone.delete()
    job = _run(job, after_commit)
    assert job.drafting_status == DraftingStatus.FAILED and "author no longer exists" in job.drafting_error
    with after_commit():
        drafting.generation_job_draft_again(actor=marketer, job_id=job.pk)
    assert Post.objects.filter(created_by=marketer).count() == 2
