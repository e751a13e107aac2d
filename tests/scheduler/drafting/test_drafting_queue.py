"""Queueing drafting: generation's job_images_ready signal reaches scheduler's drafting task, on the default queue,
and the beat sweep sends again the drafting whose message was lost."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from config.celery import app
from generation.jobs import render as worker
from generation.models import DraftingStatus, GenerationJob
from generation.signals import job_images_ready
from scheduler import tasks
from scheduler.drafting.queue import DRAFTING_RESEND_AFTER_S, generation_drafts_resend
from scheduler.models import Post
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures
from tests.generation.workflow_fixtures import _job


def test_drafting_tasks_and_sweep_are_scheduler_s_on_the_default_queue(settings):
    for name in ("scheduler.tasks.draft_posts", "scheduler.tasks.drafting_sweep", "scheduler.tasks.write_caption"):
        assert name in app.tasks and app.amqp.router.route({}, name)["queue"].name == "default"
    beat = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "scheduler.tasks.drafting_sweep" in beat
    assert job_images_ready.has_listeners(GenerationJob)  # scheduler.apps connects job_images_ready_receive


def test_a_saved_job_is_drafted_through_the_signal(persona, marketer, fake_engine,
                                                   django_capture_on_commit_callbacks):
    job = _job(persona, marketer)
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery: the drafting task runs here
        worker.generation_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.drafting_status == DraftingStatus.DRAFTED
    assert Post.objects.filter(persona=persona).count() == job.num_variants


def test_lost_drafting_messages_are_sent_again_by_the_sweep(persona, marketer, fake_engine, monkeypatch,
                                                            django_capture_on_commit_callbacks):
    job = _job(persona, marketer)
    worker.generation_job_run(job_id=job.pk)  # never committed here: as if the message was lost
    sent = []
    monkeypatch.setattr(tasks.draft_posts, "delay", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_drafts_resend() == 0  # too recent: its message may still be on its way
    later = timezone.now() + dt.timedelta(seconds=DRAFTING_RESEND_AFTER_S + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_drafts_resend(now=later) == 1
    assert sent == [(job.pk,)]
    assert not Post.objects.exists()
