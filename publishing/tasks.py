"""Celery tasks for publishing (default queue). Thin: ids in, publishing.publish does the work and re-checks state,
so a redelivered or duplicated message publishes nothing twice."""

from __future__ import annotations

from celery import shared_task

from core.dispatch import task_send
from publishing import publish


@shared_task(name="publishing.tasks.publish_due_posts")
def publish_due_posts() -> int:
    """Beat tick: send a publish task for each due post; returns how many."""
    due = publish.publications_due()
    for post_id in due:
        task_send("publishing.tasks.publish_post", args=[post_id])
    return len(due)


@shared_task(name="publishing.tasks.publish_post", acks_late=True, reject_on_worker_lost=True)
def publish_post(post_id: int) -> str | None:
    publication = publish.publication_run(post_id=post_id)
    return publication.status if publication is not None else None
