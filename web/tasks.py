"""Celery tasks of the web app: the demo workspace's slow part, on the GPU queue (settings.CELERY_TASK_ROUTES) since
it trains and renders in its own process. Sent by name through core.dispatch (web.demo.demo_seed_request)."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready

from web import demo

logger = logging.getLogger(__name__)


@shared_task(name="web.tasks.demo_workspace_fill", acks_late=True, reject_on_worker_lost=True)
def demo_workspace_fill(demo_seed_id: int) -> str | None:
    """The demo's LoRA, drafts, scheduled post and galleries; resumes where an interrupted run stopped."""
    seed = demo.demo_workspace_fill(demo_seed_id=demo_seed_id)
    return seed.status if seed is not None else None


@worker_ready.connect
def _demo_seed_resume(**kwargs) -> None:
    # A worker killed mid-seed loses its message on the embedded broker: the seed is sent again when one starts.
    try:
        demo.demo_seeds_resend()
    except Exception:
        logger.exception("Sending the demo seeding again failed; the next `make run` queues it")
