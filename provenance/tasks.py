"""Celery tasks for provenance (default queue). Thin: they take ids and call services, which re-check state."""

from __future__ import annotations

from celery import shared_task

from provenance.bundles import build as exports


@shared_task(name="provenance.tasks.export_bundle_build", acks_late=True)
def export_bundle_build(bundle_id: int) -> str:
    """Build one export bundle. A bundle that already succeeded is left as it is."""
    return exports.export_bundle_build(bundle_id=bundle_id).status


@shared_task(name="provenance.tasks.export_sweep")
def export_sweep() -> int:
    """Re-queue bundles stuck in pending (their message was lost); returns how many."""
    return exports.export_bundles_requeue_stale()
