"""Celery tasks for the scheduler app. Thin: they take ids and call services, which re-check state."""

from __future__ import annotations

from celery import shared_task

from provenance.bundles import build as exports
from scheduler import services
from scheduler.review import comments


@shared_task(name="scheduler.tasks.export_bundle_build", acks_late=True)
def export_bundle_build(bundle_id: int) -> str:
    """Build one export bundle. A bundle that already succeeded is left as it is."""
    return exports.export_bundle_build(bundle_id=bundle_id).status


@shared_task(name="scheduler.tasks.export_sweep")
def export_sweep() -> int:
    """Re-queue bundles stuck in pending (their message was lost); returns how many."""
    return exports.export_bundles_requeue_stale()


@shared_task(name="scheduler.tasks.expire_overdue_posts")
def expire_overdue_posts() -> int:
    """Expire posts whose scheduled time passed before they were approved; returns how many."""
    return services.posts_expire_overdue()


@shared_task(name="scheduler.tasks.notify_comment_mentions", acks_late=True)
def notify_comment_mentions(comment_id: int) -> int:
    """Email the members a comment @mentions; returns how many emails went out."""
    return comments.comment_mentions_notify(comment_id=comment_id)
