"""Faults with real workers: a killed worker, a job past its time limit, database connections ended by the server
(as a restart ends them), a lost message."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.db import connection
from django.utils import timezone

from core.access import Role
from generation import services as generation_services
from generation.models import DraftingStatus, GeneratedImage, GenerationJob, JobStatus, JobTransition
from provenance import tasks as provenance_tasks
from provenance.bundles import build as exports
from provenance.models import ExportBundle, ExportStatus
from scheduler import tasks
from scheduler.models import Post, PostStatus
from tests.factories import MembershipFactory, PersonaFactory, PostFactory, PostImageFactory, WorkspaceFactory
from tests.integration.workers import wait_for

pytestmark = [pytest.mark.services, pytest.mark.slow]

FINISHED = [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED]


@pytest.fixture
def studio(transactional_db):
    workspace = WorkspaceFactory()
    marketer = MembershipFactory(workspace=workspace, role=Role.MARKETER).user
    persona = PersonaFactory(workspace=workspace, created_by=marketer)
    return workspace, marketer, persona


def _job(marketer, persona, *, steps: int, variants: int = 1) -> GenerationJob:
    return generation_services.generation_job_create(
        actor=marketer, persona=persona, scene="walking a dog in the rain", platform="instagram",
        num_variants=variants, steps=steps, seed=5, allow_base_model=True,
    )  # fmt: skip


def _finished(job_id: int) -> GenerationJob | None:
    """The job once it finished and its posts, if any, were drafted."""
    return GenerationJob.objects.filter(pk=job_id, status__in=FINISHED).exclude(
        drafting_status=DraftingStatus.PENDING).first()


def test_killed_worker_mid_generation_is_redelivered_and_completes_once(studio, workers):
    _workspace, marketer, persona = studio
    first = workers("doomed")
    job = _job(marketer, persona, steps=12, variants=2)
    wait_for(
        lambda: GenerationJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING, progress_step__gte=1).exists(),
        timeout=240, what="the job to be mid-run", interval=0.2,
    )  # fmt: skip
    first.kill()  # SIGKILL, no ack: the message stays unacked in Redis
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert not GeneratedImage.objects.filter(job=job).exists()

    workers("rescuer")  # picks the message up once the visibility timeout passed
    job = wait_for(lambda: _finished(job.pk), timeout=300, what="the redelivered job")
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert sorted(GeneratedImage.objects.filter(job=job).values_list("index", flat=True)) == [0, 1]
    assert Post.objects.filter(persona=persona).count() == 2  # one draft per variant, not two sets
    comments = list(JobTransition.objects.filter(generation_job=job).values_list("comment", flat=True))
    assert "generation restarted after the previous attempt was interrupted" in comments
    assert JobTransition.objects.filter(generation_job=job, to_status=JobStatus.SUCCEEDED).count() == 1
    # Nothing runs the job a third time.
    time.sleep(3)
    assert GeneratedImage.objects.filter(job=job).count() == 2


def test_killed_worker_mid_batch_renders_every_job_of_the_batch_once(studio, workers):
    from django.db import transaction

    _workspace, marketer, persona = studio
    first = workers("doomed", GENERATION_MAX_BATCH="8")
    with transaction.atomic():  # all three queued before the worker takes the first: one pipeline call
        jobs = [_job(marketer, persona, steps=12, variants=2) for _ in range(3)]
    leader = jobs[0]
    wait_for(
        lambda: GenerationJob.objects.filter(batch_leader=leader, status=JobStatus.RUNNING,
                                             progress_step__gte=1).count() == 3,
        timeout=240, what="the batch to be mid-run", interval=0.2,
    )  # fmt: skip
    first.kill()

    # The companions' own messages find them running under the leader; the leader's redelivery renders all three.
    workers("rescuer", GENERATION_MAX_BATCH="8")
    for job in jobs:
        done = wait_for(lambda job=job: _finished(job.pk), timeout=300, what=f"job {job.pk}")
        assert done.status == JobStatus.SUCCEEDED, done.error
        assert (done.batch_leader_id, done.batch_size) == (leader.pk, 6)
        assert sorted(GeneratedImage.objects.filter(job=done).values_list("index", flat=True)) == [0, 1]
        assert JobTransition.objects.filter(generation_job=done, to_status=JobStatus.SUCCEEDED).count() == 1
    assert Post.objects.filter(persona=persona).count() == 6  # one draft per variant, not two sets
    assert "generation restarted after the previous attempt was interrupted" in JobTransition.objects.filter(
        generation_job=leader).values_list("comment", flat=True)
    time.sleep(3)
    assert GeneratedImage.objects.filter(job__in=jobs).count() == 6


def test_job_past_its_time_limit_is_failed_with_a_reason(studio, workers, monkeypatch):
    from generation.runtime import tasks as generation_tasks

    _workspace, marketer, persona = studio
    workers("strict", GENERATION_GENERATE_TIME_LIMIT="3")
    # Warm the worker with a short job under the default limit, so the limit below fires inside rendering
    # rather than inside a library's import machinery (which may swallow it).
    warm = _job(marketer, persona, steps=1)
    assert wait_for(lambda: _finished(warm.pk), timeout=240, what="the warm-up job").status == JobStatus.SUCCEEDED
    # Celery stamps the SENDER's limits on the message, so web and worker share GENERATION_*_TIME_LIMIT;
    # this process imported its tasks with the default, hence the patch on our side of the broker.
    task = generation_tasks.generate_images
    monkeypatch.setattr(task, "soft_time_limit", 3)
    monkeypatch.setattr(task, "time_limit", 3 + generation_tasks.HARD_LIMIT_GRACE)
    monkeypatch.setattr(task, "_exec_options", None)
    job = _job(marketer, persona, steps=150, variants=8)
    job = wait_for(lambda: _finished(job.pk), timeout=180, what="the time limit")
    assert job.status == JobStatus.FAILED
    assert "time limit" in job.error
    assert not GeneratedImage.objects.filter(job=job).exists()
    assert Post.objects.filter(persona=persona).count() == 1  # the warm-up job's draft only


def _drop_database_connections() -> None:
    """What a database restart does to its clients: the server ends every connection to this database (the test
    database only, so tests that share the PostgreSQL server run on beside this one)."""
    import psycopg

    name = connection.settings_dict["NAME"]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()) AS ended", [name],
        ).fetchone()[0]  # fmt: skip
    assert ended >= 1  # at least the idle worker's pooled connection


def _scheduled_post(persona, marketer, when):
    post = PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=when, created_by=marketer)
    PostImageFactory(post=post, position=0)
    return post


def _bundle(workspace, marketer, persona, when) -> ExportBundle:
    return exports.export_bundle_create(
        actor=marketer, workspace=workspace, persona_ids=[persona.pk],
        start=when - dt.timedelta(hours=1), end=when + dt.timedelta(hours=1),
    )  # fmt: skip


def _bundle_done(bundle_id: int) -> ExportBundle | None:
    return ExportBundle.objects.filter(pk=bundle_id, status__in=[ExportStatus.SUCCEEDED, ExportStatus.FAILED]).first()


def test_worker_survives_its_database_connections_ending(studio, workers):
    workspace, marketer, persona = studio
    first_when = timezone.now() + dt.timedelta(days=1)
    second_when = timezone.now() + dt.timedelta(days=3)
    _scheduled_post(persona, marketer, first_when)
    _scheduled_post(persona, marketer, second_when)
    workers("w1")
    before = _bundle(workspace, marketer, persona, first_when)
    assert wait_for(lambda: _bundle_done(before.pk), timeout=120, what="the first bundle").status == "succeeded"

    _drop_database_connections()  # the idle worker's pooled connection (CONN_MAX_AGE) is now dead
    connection.close()  # so is ours
    wait_for(_db_answers, timeout=60, what="PostgreSQL to accept queries")

    after = _bundle(workspace, marketer, persona, second_when)
    done = wait_for(lambda: _bundle_done(after.pk), timeout=120, what="the bundle after the restart")
    assert done.status == ExportStatus.SUCCEEDED, done.error
    assert done.post_count == 1


def _db_answers() -> bool:
    from django.db import OperationalError

    try:
        connection.ensure_connection()
        return True
    except OperationalError:
        connection.close()
        return False


def test_sweeps_pick_up_a_lost_export_and_overdue_posts(studio, workers):
    import redis
    from django.conf import settings

    workspace, marketer, persona = studio
    when = timezone.now() + dt.timedelta(days=1)
    post = _scheduled_post(persona, marketer, when)
    bundle = _bundle(workspace, marketer, persona, when)  # no worker runs: the message waits in Redis
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()  # ...and is lost
    ExportBundle.objects.filter(pk=bundle.pk).update(created_at=timezone.now() - dt.timedelta(minutes=30))
    overdue = PostFactory(
        persona=persona, status=PostStatus.IN_REVIEW, created_by=marketer,
        scheduled_at=timezone.now() - dt.timedelta(hours=1),
    )  # fmt: skip

    workers("w1")
    time.sleep(2)
    assert ExportBundle.objects.get(pk=bundle.pk).status == ExportStatus.PENDING  # nothing left to consume
    provenance_tasks.export_sweep.delay()
    tasks.expire_overdue_posts.delay()

    done = wait_for(lambda: _bundle_done(bundle.pk), timeout=120, what="the swept bundle")
    assert done.status == ExportStatus.SUCCEEDED, done.error
    post.refresh_from_db()
    assert post.status == PostStatus.EXPORTED
    wait_for(lambda: Post.objects.filter(pk=overdue.pk, status=PostStatus.EXPIRED).exists(), timeout=60,
             what="the overdue post to expire")  # fmt: skip
