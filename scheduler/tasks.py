"""Celery tasks for the scheduler app (default queue). Thin: they take ids and call services, which re-check state.
Each task's name is its module path and function name: core.dispatch sends them by that name."""

from __future__ import annotations

from celery import shared_task

from scheduler import services
from scheduler.captions import alternatives as captioning
from scheduler.drafting import queue as drafting_queue
from scheduler.drafting import services as drafting
from scheduler.review import comments


@shared_task(name="scheduler.tasks.expire_overdue_posts")
def expire_overdue_posts() -> int:
    """Expire posts whose scheduled time passed before they were approved; returns how many."""
    return services.posts_expire_overdue()


@shared_task(name="scheduler.tasks.notify_comment_mentions", acks_late=True)
def notify_comment_mentions(comment_id: int) -> int:
    """Email the members a comment @mentions; returns how many emails went out."""
    return comments.comment_mentions_notify(comment_id=comment_id)


@shared_task(name="scheduler.tasks.draft_posts", acks_late=True, reject_on_worker_lost=True)
def draft_posts(job_id: int, author_id: int | None = None) -> str | None:
    """The posts of a job whose images were just saved (or, after "draft again", for `author_id`)."""
    job = drafting.generation_job_posts_draft(job_id=job_id, author_id=author_id)
    return job.drafting_status if job is not None else None


@shared_task(name="scheduler.tasks.drafting_sweep", acks_late=True)
def drafting_sweep() -> int:
    """Beat sweep: send the drafting of succeeded jobs again where its message was lost; returns how many."""
    return drafting_queue.generation_drafts_resend()


@shared_task(name="scheduler.tasks.write_caption", acks_late=True, reject_on_worker_lost=True)
def write_caption(alternative_id: int) -> str | None:
    """A caption rewrite asked for on the review page or in the API."""
    alternative = captioning.caption_alternative_write(alternative_id=alternative_id)
    return alternative.status if alternative is not None else None
