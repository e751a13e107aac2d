"""Queueing a job's drafting: when generation announces a job's images are ready (generation.signals, connected in
scheduler.apps), and again from the beat sweep when that message was lost (the broker was down at commit, say)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from core.dispatch import task_send
from generation.models import DraftingStatus, GenerationJob, JobStatus

DRAFT_POSTS_TASK = "scheduler.tasks.draft_posts"
# A job still waiting for its drafting task this long after it succeeded has lost its message.
DRAFTING_RESEND_AFTER_S = 600


def job_images_ready_receive(sender=None, *, job_id: int, **kwargs) -> None:
    """Receiver of generation.signals.job_images_ready: draft the job's posts on the default queue."""
    task_send(DRAFT_POSTS_TASK, args=(job_id,))


def generation_drafts_resend(*, now: dt.datetime | None = None) -> int:
    """Send the drafting task again for jobs whose message was lost; returns how many. The task re-checks that
    drafting is still pending, so a message that was only late drafts nothing twice."""
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=DRAFTING_RESEND_AFTER_S)
    job_ids = list(GenerationJob.objects.filter(
        status=JobStatus.SUCCEEDED, drafting_status=DraftingStatus.PENDING, finished_at__lt=cutoff,
    ).values_list("pk", flat=True))
    for job_id in job_ids:
        task_send(DRAFT_POSTS_TASK, args=(job_id,))
    return len(job_ids)
