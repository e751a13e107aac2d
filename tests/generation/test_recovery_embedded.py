"""The embedded default (filesystem broker, SQLite) as `make run` starts it: two supervised workers. A GPU worker
killed mid-generation is restarted, and the job, whose message the filesystem broker had already removed, is
queued again at the restart and completes exactly once, with no manual step."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path

import pytest
from django.conf import settings

from core.access import Role
from core.supervisor import Supervisor, celery_worker_specs
from generation import services
from generation.models import DraftingStatus, GeneratedImage, GenerationJob, JobStatus, JobTransition
from scheduler.models import Post
from tests.factories import MembershipFactory, PersonaFactory
from tests.generation.test_worker_integration import broker_dir, shared_database  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow

TIMEOUT_S = 300  # worker start-up loads torch: slow on CI machines with 2 shared cores


def _wait(predicate, what: str, logs: list[str], timeout: float = TIMEOUT_S, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(interval)
    jobs = list(GenerationJob.objects.values("pk", "status", "progress_step", "worker__name", "error"))
    pytest.fail(f"timed out waiting for {what}; jobs: {jobs}; supervisor log:\n" + "\n".join(logs[-40:]))


@pytest.fixture
def supervised_workers(shared_database, broker_dir, tmp_path):  # noqa: F811
    env = {
        "DATABASE_URL": shared_database,
        "PERSONA_STUDIO_VAR_DIR": str(broker_dir),
        "DJANGO_MEDIA_ROOT": str(Path(settings.MEDIA_ROOT).resolve()),
        "GENERATION_MODEL_CACHE": str(Path(settings.GENERATION_MODEL_CACHE).resolve()),
        "WORKER_CACHE_DIR": str(tmp_path / "worker-cache"),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "WORKER_HEARTBEAT_INTERVAL": "1",
    }
    specs = [dataclasses.replace(spec, env=env) for spec in celery_worker_specs(var_dir=broker_dir)]
    assert [spec.name for spec in specs] == ["worker-default", "worker-gpu"]
    logs: list[str] = []
    supervisor = Supervisor(specs, log=logs.append, restart_delay=0.5)
    supervisor.start()
    try:
        yield supervisor, logs
    finally:
        supervisor.stop()


def test_killed_gpu_worker_is_restarted_and_its_job_completes_exactly_once(supervised_workers):
    supervisor, logs = supervised_workers
    marketer = MembershipFactory(role=Role.MARKETER).user
    persona = PersonaFactory(workspace=marketer.memberships.get().workspace, created_by=marketer)
    # Autocommit here: the service's on_commit hook really sends the message to the filesystem broker.
    job = services.generation_job_create(
        actor=marketer, persona=persona, scene="walking a dog in the rain", platform="instagram",
        num_variants=2, steps=30, seed=21, allow_base_model=True,
    )  # fmt: skip
    # Taken by the GPU worker: the filesystem broker has removed its message. Killed before it can finish.
    _wait(lambda: GenerationJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING, worker__isnull=False).exists(),
          "the job to be running", logs)
    job.refresh_from_db()
    gpu_pid = supervisor.pid("worker-gpu")
    assert job.worker is not None and job.worker.pid == gpu_pid
    os.kill(gpu_pid, signal.SIGKILL)  # nothing redelivers the message
    assert GenerationJob.objects.get(pk=job.pk).status == JobStatus.RUNNING

    job = _wait(lambda: GenerationJob.objects.filter(pk=job.pk, status__in=[
        JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED]).exclude(
        drafting_status=DraftingStatus.PENDING).first(), "the job to finish after the restart", logs, timeout=600)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert supervisor.restarts("worker-gpu") == 1 and supervisor.restarts("worker-default") == 0
    assert job.worker.pid == supervisor.pid("worker-gpu") != gpu_pid
    assert sorted(GeneratedImage.objects.filter(job=job).values_list("index", flat=True)) == [0, 1]
    transitions = list(JobTransition.objects.filter(generation_job=job).values_list("to_status", "comment"))
    assert (JobStatus.QUEUED, f"queued again: its worker gpu@{os.uname().nodename} stopped while it ran") in \
        transitions, transitions
    assert [status for status, _ in transitions].count(JobStatus.SUCCEEDED) == 1
    assert Post.objects.filter(persona=persona).count() == 2  # one draft per variant, drafted once
    time.sleep(3)  # nothing runs it a third time
    assert GeneratedImage.objects.filter(job=job).count() == 2
