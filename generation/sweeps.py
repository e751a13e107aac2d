"""The beat sweeps (default queue): runs a lost worker left "running" end as failed with a reason, and drafting
whose task message was lost is sent again."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import DraftingStatus, GenerationJob, JobStatus, LoraVersion
from .runs import set_status

# How long past its soft time limit a run may stay "running" before the sweep fails it.
STALE_GRACE_SECONDS = 300
# A job still waiting for its drafting task this long after it succeeded has lost its message.
DRAFTING_RESEND_AFTER_S = 600


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


def generation_drafts_resend(*, now: dt.datetime | None = None) -> int:
    """Send the drafting task again for jobs whose message was lost (e.g. the broker was down at commit)."""
    from .tasks import draft_posts

    cutoff = (now or timezone.now()) - dt.timedelta(seconds=DRAFTING_RESEND_AFTER_S)
    job_ids = list(GenerationJob.objects.filter(
        status=JobStatus.SUCCEEDED, drafting_status=DraftingStatus.PENDING, finished_at__lt=cutoff,
    ).values_list("pk", flat=True))
    for job_id in job_ids:
        draft_posts.delay(job_id)
    return len(job_ids)
