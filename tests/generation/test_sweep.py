import datetime as dt

import pytest
from django.utils import timezone

from config.celery import app
from generation import tasks, worker
from generation.models import GenerationJob, JobStatus, JobTransition, LoraVersion
from generation.sweeps import (
    DRAFTING_RESEND_AFTER_S,
    STALE_GRACE_SECONDS,
    generation_drafts_resend,
    generation_runs_fail_stale,
)
from scheduler.models import Post
from tests.factories import GenerationJobFactory, LoraVersionFactory
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures
from tests.generation.workflow_fixtures import _job

pytestmark = pytest.mark.django_db


def _started(seconds_ago: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=seconds_ago)


def test_sweep_fails_runs_stuck_past_their_limit_and_leaves_fresh_ones(settings):
    settings.GENERATION_GENERATE_TIME_LIMIT = 60
    settings.GENERATION_TRAIN_TIME_LIMIT = 600
    past_generate = 60 + STALE_GRACE_SECONDS + 5
    stuck_job = GenerationJobFactory(status=JobStatus.RUNNING, started_at=_started(past_generate))
    fresh_job = GenerationJobFactory(status=JobStatus.RUNNING, started_at=_started(30))
    done_job = GenerationJobFactory(status=JobStatus.SUCCEEDED, started_at=_started(10_000))
    # Past the generation limit but inside the (longer) training limit: still running.
    training = LoraVersionFactory(status=JobStatus.RUNNING, started_at=_started(past_generate))
    stuck_training = LoraVersionFactory(status=JobStatus.RUNNING, started_at=_started(600 + STALE_GRACE_SECONDS + 5))

    assert generation_runs_fail_stale() == 2

    stuck_job.refresh_from_db()
    assert stuck_job.status == JobStatus.FAILED
    assert stuck_job.error.startswith("Time limit exceeded")
    assert stuck_job.finished_at is not None
    assert JobTransition.objects.filter(
        generation_job=stuck_job, from_status=JobStatus.RUNNING, to_status=JobStatus.FAILED
    ).count() == 1
    assert LoraVersion.objects.get(pk=stuck_training.pk).status == JobStatus.FAILED
    assert GenerationJob.objects.get(pk=fresh_job.pk).status == JobStatus.RUNNING
    assert GenerationJob.objects.get(pk=done_job.pk).status == JobStatus.SUCCEEDED
    assert LoraVersion.objects.get(pk=training.pk).status == JobStatus.RUNNING
    # A second sweep finds nothing more to do.
    assert generation_runs_fail_stale() == 0


def test_sweep_runs_on_the_default_queue_from_beat(settings):
    route = app.amqp.router.route({}, "generation.tasks.fail_stale_runs")
    assert route["queue"].name == "default"
    assert app.amqp.router.route({}, "generation.tasks.generate_images")["queue"].name == "gpu"
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "generation.tasks.fail_stale_runs" in tasks


def test_lost_drafting_messages_are_sent_again_by_the_sweep(persona, marketer, fake_engine, monkeypatch):
    job = _job(persona, marketer)
    worker.generation_job_run(job_id=job.pk)  # never committed here: as if the message was lost
    sent = []
    monkeypatch.setattr(tasks.draft_posts, "delay", lambda *args: sent.append(args))
    assert generation_drafts_resend() == 0  # too recent: its message may still be on its way
    later = timezone.now() + dt.timedelta(seconds=DRAFTING_RESEND_AFTER_S + 1)
    assert generation_drafts_resend(now=later) == 1 and sent == [(job.pk,)]
    assert not Post.objects.exists()
