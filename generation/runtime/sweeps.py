"""The beat sweeps (default queue) and worker-start recovery: runs that a dead worker left "running" are queued
again, and runs stuck past their time limit end as failed with a reason. (Drafting whose task message was lost is
sent again by scheduler's drafting sweep.)"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from generation.models import GenerationJob, JobStatus, JobTransition, LoraVersion
from generation.runtime import heartbeats
from generation.transitions import gpu_task_send, set_status

# How long past its soft time limit a run may stay "running" before the sweep fails it.
STALE_GRACE_SECONDS = 300
# A run whose workers keep dying under it (e.g. it runs the machine out of memory) is failed, not queued forever.
MAX_REQUEUES = 3
REQUEUE_COMMENT = "queued again: its worker {worker} stopped while it ran"


def _run_enqueue(model: type[LoraVersion] | type[GenerationJob], pk: int) -> None:
    family = model.objects.filter(pk=pk).values_list("base_model_entry__family", flat=True).first()
    name = "train_lora" if model is LoraVersion else "generate_images"
    gpu_task_send(f"generation.runtime.tasks.{name}", pk, family=family, robust=True)


def generation_runs_requeue_orphaned(*, now: dt.datetime | None = None) -> int:
    """Queue again the training runs and generation jobs left "running" by a worker that is dead (stopped, or
    silent past WORKER_HEARTBEAT_TIMEOUT); returns how many were queued again.

    Called when a worker starts and by the beat sweep, on every broker: the embedded filesystem broker never
    redelivers a killed worker's message. Runs are idempotent (a finished one is left alone, an attempt restarts
    cleanly), so a message the broker does redeliver as well costs at most a second render, never a second set
    of images. A cancel requested meanwhile is honoured; a run requeued MAX_REQUEUES times fails with a reason.
    """
    heartbeats.workers_dead_mark(now=now)
    requeued = 0
    for model in (LoraVersion, GenerationJob):
        orphaned = model.objects.filter(status=JobStatus.RUNNING, worker__stopped_at__isnull=False)
        for pk in list(orphaned.values_list("pk", flat=True)):
            with transaction.atomic():
                run = model.objects.select_for_update(of=("self",)).select_related("worker").filter(
                    pk=pk, status=JobStatus.RUNNING, worker__stopped_at__isnull=False).first()
                if run is None:  # another worker's recovery, or the run itself, got there first
                    continue
                worker = run.worker.name
                subject = {"lora_version": run} if model is LoraVersion else {"generation_job": run}
                earlier = JobTransition.objects.filter(**subject, comment__startswith="queued again:").count()
                if run.cancel_requested:
                    set_status(run, JobStatus.CANCELLED, comment=f"cancelled; its worker {worker} stopped")
                    continue
                if earlier >= MAX_REQUEUES:
                    run.error = (f"Its worker stopped while it ran, {earlier + 1} times (last: {worker}); "
                                 "not queued again.")
                    set_status(run, JobStatus.FAILED, comment="failed: its workers kept stopping", fields=["error"])
                    continue
                reset = {"progress_step": 0, "worker": None}
                if model is GenerationJob:
                    reset |= {"batch_leader": None, "batch_offset": 0, "batch_size": 0}
                for name, value in reset.items():
                    setattr(run, name, value)
                set_status(run, JobStatus.QUEUED, comment=REQUEUE_COMMENT.format(worker=worker), fields=list(reset))
                _run_enqueue(model, pk)  # sent after commit
                requeued += 1
    return requeued


def generation_runs_fail_stale(*, now: dt.datetime | None = None) -> int:
    """Fail training runs and generation jobs still "running" well past their time limit.

    The solo pool of one-GPU workers enforces no Celery time limits, and a worker killed at a hard limit
    does not always get its message redelivered: this sweep is what guarantees such a run ends with a reason.
    A worker that is in fact still rendering finds the row failed when it saves and discards its output.
    """
    now = now or timezone.now()
    limits = (
        (LoraVersion, int(settings.GENERATION_TRAIN_TIME_LIMIT)),
        (GenerationJob, int(settings.GENERATION_GENERATE_TIME_LIMIT)),
    )
    failed = 0
    for model, limit in limits:
        cutoff = now - dt.timedelta(seconds=limit + STALE_GRACE_SECONDS)
        stale_ids = list(
            model.objects.filter(status=JobStatus.RUNNING, started_at__lt=cutoff).values_list("pk", flat=True)
        )
        for pk in stale_ids:
            with transaction.atomic():
                run = (
                    model.objects.select_for_update(of=("self",))
                    .filter(pk=pk, status=JobStatus.RUNNING, started_at__lt=cutoff)
                    .first()
                )
                if run is None:
                    continue
                run.error = (
                    f"Time limit exceeded: running since {run.started_at:%Y-%m-%d %H:%M:%S} UTC, "
                    f"past its {limit} s limit; the worker stopped reporting."
                )
                set_status(run, JobStatus.FAILED, comment="failed by the stale-run sweep", fields=["error"])
                failed += 1
    return failed

