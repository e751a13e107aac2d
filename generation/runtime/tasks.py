"""Celery tasks: thin wrappers that pass ids to the worker functions. Training and generation are routed to the
`gpu` queue, likeness and the sweep to `default` (settings.CELERY_TASK_ROUTES). Each task's name is its module
path and function name: core.dispatch sends them by that name.

acks_late + reject_on_worker_lost: a worker that dies mid-run leaves the message to be redelivered, and the
worker functions restart the run cleanly. The soft time limit raises SoftTimeLimitExceeded inside the engine
loop, stored as a failure ("time limit exceeded"). The prefork pool enforces time limits; the solo pool used on
single-GPU machines does not (the sweep covers it).
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_init, worker_ready, worker_shutdown
from django.conf import settings

from generation.jobs import likeness, reproduction
from generation.jobs import render as worker
from generation.library import gallery
from generation.runtime import heartbeats, sweeps
from generation.training import runs as training_runs

TRAIN_SOFT_TIME_LIMIT = int(getattr(settings, "GENERATION_TRAIN_TIME_LIMIT", 6 * 60 * 60))
GENERATE_SOFT_TIME_LIMIT = int(getattr(settings, "GENERATION_GENERATE_TIME_LIMIT", 30 * 60))
HARD_LIMIT_GRACE = 120

logger = logging.getLogger(__name__)


@shared_task(
    name="generation.runtime.tasks.train_lora",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=TRAIN_SOFT_TIME_LIMIT,
    time_limit=TRAIN_SOFT_TIME_LIMIT + HARD_LIMIT_GRACE,
)
def train_lora(self, lora_version_id: int) -> str | None:
    version = training_runs.lora_training_run(lora_version_id=lora_version_id)
    return version.status if version is not None else None


@shared_task(
    name="generation.runtime.tasks.generate_images",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=GENERATE_SOFT_TIME_LIMIT,
    time_limit=GENERATE_SOFT_TIME_LIMIT + HARD_LIMIT_GRACE,
)
def generate_images(self, job_id: int) -> str | None:
    job = worker.generation_job_run(job_id=job_id)
    return job.status if job is not None else None


@shared_task(
    name="generation.runtime.tasks.render_base_model_samples",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=GENERATE_SOFT_TIME_LIMIT,
    time_limit=GENERATE_SOFT_TIME_LIMIT + HARD_LIMIT_GRACE,
)
def render_base_model_samples(base_model_id: int) -> str | None:
    """GPU queue: a base model's sample gallery, rendered at registration."""
    entry = gallery.base_model_samples_render(base_model_id=base_model_id)
    return entry.samples_status if entry is not None else None


@shared_task(name="generation.runtime.tasks.score_likeness", acks_late=True, reject_on_worker_lost=True)
def score_likeness(job_id: int) -> int:
    """Default queue: the likeness of a job's images to its persona, after the render. Idempotent."""
    return likeness.job_likeness_score(job_id=job_id)


@shared_task(name="generation.runtime.tasks.fail_stale_runs", acks_late=True)
def fail_stale_runs() -> int:
    """Beat sweep (default queue): runs a dead worker left running are queued again, and runs stuck past their
    time limit end as failed with a reason. (Drafting whose message was lost: scheduler.tasks.drafting_sweep.)"""
    sweeps.generation_runs_requeue_orphaned()
    return sweeps.generation_runs_fail_stale()


# Worker lifecycle (the signals fire only in `celery worker` processes): heartbeats from start to stop.
@worker_init.connect
def _worker_init(**kwargs) -> None:
    heartbeats.worker_process_init()  # before a prefork pool forks: its children know their worker


@worker_ready.connect
def _worker_ready(sender=None, **kwargs) -> None:
    queues = [queue.name for queue in sender.task_consumer.queues]
    heartbeats.worker_process_ready(name=sender.hostname, queues=queues)
    # What a dead worker left running is queued again now (its earlier start under this name counts as dead),
    # not only at the next sweep: the embedded broker never redelivers a killed worker's message.
    try:
        sweeps.generation_runs_requeue_orphaned()
    except Exception:
        logger.exception("Re-queueing the runs of dead workers failed; the beat sweep retries")


@worker_shutdown.connect
def _worker_shutdown(**kwargs) -> None:
    heartbeats.worker_process_shutdown()


@shared_task(name="generation.runtime.tasks.reproduce_image", acks_late=True, reject_on_worker_lost=True,
             soft_time_limit=GENERATE_SOFT_TIME_LIMIT, time_limit=GENERATE_SOFT_TIME_LIMIT + HARD_LIMIT_GRACE)
def reproduce_image(check_id: int) -> str | None:
    """GPU queue: render a generated image again from its record and compare it with the stored file."""
    check = reproduction.reproduction_check_run(check_id=check_id)
    return check.status if check is not None else None
