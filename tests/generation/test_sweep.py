import datetime as dt

import pytest
from django.utils import timezone

from config.celery import app
from generation.jobs import render as worker
from generation.models import (
    GeneratedImage,
    GenerationJob,
    JobStatus,
    JobTransition,
    LoraVersion,
    TrainingStage,
    WorkerHeartbeat,
)
from generation.runtime import heartbeats, tasks
from generation.runtime.sweeps import (
    MAX_REQUEUES,
    STALE_GRACE_SECONDS,
    generation_runs_fail_stale,
    generation_runs_requeue_orphaned,
)
from scheduler.models import Post
from tests.factories import GenerationJobFactory, LoraVersionFactory
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures
from tests.generation.workflow_fixtures import _job, _queued_version

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
    stuck_training = LoraVersionFactory(status=JobStatus.RUNNING, started_at=_started(600 + STALE_GRACE_SECONDS + 5),
                                        progress_stage=TrainingStage.CLASS_IMAGES)

    assert generation_runs_fail_stale() == 2

    stuck_job.refresh_from_db()
    assert stuck_job.status == JobStatus.FAILED
    assert stuck_job.error.startswith("Time limit exceeded")
    assert stuck_job.finished_at is not None
    assert JobTransition.objects.filter(
        generation_job=stuck_job, from_status=JobStatus.RUNNING, to_status=JobStatus.FAILED
    ).count() == 1
    assert LoraVersion.objects.values_list("status", "progress_stage").get(pk=stuck_training.pk) == (
        JobStatus.FAILED, TrainingStage.NONE)
    assert GenerationJob.objects.get(pk=fresh_job.pk).status == JobStatus.RUNNING
    assert GenerationJob.objects.get(pk=done_job.pk).status == JobStatus.SUCCEEDED
    assert LoraVersion.objects.get(pk=training.pk).status == JobStatus.RUNNING
    # A second sweep finds nothing more to do.
    assert generation_runs_fail_stale() == 0


def test_sweep_runs_on_the_default_queue_from_beat(settings):
    route = app.amqp.router.route({}, "generation.runtime.tasks.fail_stale_runs")
    assert route["queue"].name == "default"
    assert app.amqp.router.route({}, "generation.runtime.tasks.generate_images")["queue"].name == "gpu"
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "generation.runtime.tasks.fail_stale_runs" in tasks


# --- runs of dead workers ---------------------------------------------------------------------------


@pytest.fixture
def in_worker(monkeypatch):
    """Run the worker functions as a registered worker process named `gpu@box` would."""
    monkeypatch.setattr(heartbeats, "_instance", None)

    def start(name: str = "gpu@box") -> WorkerHeartbeat:
        instance = heartbeats.worker_process_init()
        return heartbeats.worker_heartbeat_register(name=name, queues=["gpu"], instance=instance)

    return start


def _comments(**subject) -> list[str]:
    return list(JobTransition.objects.filter(**subject).values_list("comment", flat=True))


def test_a_started_job_records_the_worker_that_holds_it(persona, marketer, fake_engine, in_worker):
    held = {}
    job = _job(persona, marketer)
    fake_engine.steps_hook = lambda step: held.setdefault("worker", GenerationJob.objects.get(pk=job.pk).worker)
    running = in_worker()
    worker.generation_job_run(job_id=job.pk)
    assert held["worker"] == running
    assert GenerationJob.objects.get(pk=job.pk).worker == running


def test_a_job_left_running_by_a_killed_worker_is_queued_again_and_completes_once(
    persona, marketer, fake_engine, in_worker, after_commit,
):
    job = _job(persona, marketer, num_variants=3)
    killed = in_worker()

    def die(step):
        if step == 2:
            raise KeyboardInterrupt("SIGKILL")  # nothing after this point runs in a killed worker

    fake_engine.steps_hook = die
    with pytest.raises(KeyboardInterrupt):
        worker.generation_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.worker == killed
    fake_engine.steps_hook = None

    assert generation_runs_requeue_orphaned() == 0  # its worker may still be alive: left alone
    in_worker()  # restarted under the same node name: the killed process is dead now
    with after_commit():  # the re-sent task runs eagerly once the recovery commits
        assert generation_runs_requeue_orphaned() == 1
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert sorted(GeneratedImage.objects.filter(job=job).values_list("index", flat=True)) == [0, 1, 2]
    comments = _comments(generation_job=job)
    assert "queued again: its worker gpu@box stopped while it ran" in comments
    assert JobTransition.objects.filter(generation_job=job, to_status=JobStatus.SUCCEEDED).count() == 1
    assert Post.objects.filter(persona=persona).count() == 3  # one draft per variant, once
    assert generation_runs_requeue_orphaned() == 0


def test_runs_of_a_worker_silent_past_the_timeout_are_queued_again(persona_with_refs, marketer, settings,
                                                                  in_worker, monkeypatch, after_commit):
    settings.WORKER_HEARTBEAT_TIMEOUT = 60
    silent = in_worker("gpu@a")
    alive = in_worker("gpu@b")
    orphan = _queued_version(persona_with_refs, marketer)
    LoraVersion.objects.filter(pk=orphan.pk).update(status=JobStatus.RUNNING, worker=silent, progress_step=3,
                                                      progress_stage=TrainingStage.TRAINING)
    held = _job(persona_with_refs, marketer, status=JobStatus.RUNNING, worker=alive)
    WorkerHeartbeat.objects.filter(pk=silent.pk).update(last_seen=timezone.now() - dt.timedelta(seconds=61))
    sent = []
    monkeypatch.setattr(tasks.train_lora, "delay", lambda *args: sent.append(("train", *args)))
    monkeypatch.setattr(tasks.generate_images, "delay", lambda *args: sent.append(("generate", *args)))

    with after_commit():
        assert generation_runs_requeue_orphaned() == 1
    orphan.refresh_from_db()
    assert (orphan.status, orphan.progress_step, orphan.progress_stage, orphan.worker) == (
        JobStatus.QUEUED, 0, TrainingStage.NONE, None)
    assert sent == [("train", orphan.pk)]
    assert GenerationJob.objects.get(pk=held.pk).status == JobStatus.RUNNING


def test_a_dead_workers_cancelled_run_ends_cancelled_and_a_run_that_keeps_killing_workers_fails(
    persona, marketer, in_worker, monkeypatch,
):
    monkeypatch.setattr(tasks.generate_images, "delay", lambda *args: None)
    dead = in_worker()
    in_worker()
    cancelled = _job(persona, marketer, status=JobStatus.RUNNING, worker=dead, cancel_requested=True)
    doomed = _job(persona, marketer, status=JobStatus.RUNNING, worker=dead)
    for _ in range(MAX_REQUEUES):
        JobTransition.objects.create(generation_job=doomed, from_status=JobStatus.RUNNING,
                                     to_status=JobStatus.QUEUED, comment="queued again: its worker x stopped")
    assert generation_runs_requeue_orphaned() == 0
    assert GenerationJob.objects.get(pk=cancelled.pk).status == JobStatus.CANCELLED
    doomed.refresh_from_db()
    assert doomed.status == JobStatus.FAILED
    assert "stopped while it ran, 4 times" in doomed.error


def test_the_beat_sweep_queues_orphans_again_before_failing_stale_runs(persona, marketer, in_worker, settings,
                                                                       monkeypatch, after_commit):
    settings.GENERATION_GENERATE_TIME_LIMIT = 60
    sent = []
    monkeypatch.setattr(tasks.generate_images, "delay", lambda *args: sent.append(args))
    dead = in_worker()
    in_worker()
    # Past its time limit, but its worker is known dead: it is queued again rather than failed.
    job = _job(persona, marketer, status=JobStatus.RUNNING, worker=dead, started_at=_started(10_000))
    with after_commit():
        tasks.fail_stale_runs()
    assert GenerationJob.objects.get(pk=job.pk).status == JobStatus.QUEUED
    assert sent == [(job.pk,)]
