"""Worker heartbeats: every Celery worker process records itself in WorkerHeartbeat when it is ready and beats
every WORKER_HEARTBEAT_INTERVAL seconds from a background thread, on any broker (the embedded filesystem one
has no worker heartbeats of its own).

What they are for: a run that a worker held is known to be orphaned once that worker is dead, i.e. silent for
WORKER_HEARTBEAT_TIMEOUT seconds or replaced by a new start of the same node name, and readiness can tell
whether a GPU worker is around at all. Writes are here; reads are in selectors.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from generation.models import WorkerHeartbeat

logger = logging.getLogger(__name__)


def heartbeat_interval() -> float:
    return float(getattr(settings, "WORKER_HEARTBEAT_INTERVAL", 10))


def heartbeat_timeout() -> float:
    return float(getattr(settings, "WORKER_HEARTBEAT_TIMEOUT", 60))


def worker_heartbeat_register(*, name: str, queues: Iterable[str], instance: str | None = None) -> WorkerHeartbeat:
    """Record a worker process that has just started. Earlier starts of the same node name are dead by
    definition (a node name runs once), so they are marked stopped now rather than after the timeout."""
    now = timezone.now()
    WorkerHeartbeat.objects.filter(name=name, stopped_at__isnull=True).update(stopped_at=now)
    return WorkerHeartbeat.objects.create(
        instance=instance or uuid.uuid4().hex,
        name=name,
        hostname=socket.gethostname(),
        pid=os.getpid(),
        queues=sorted(set(queues)),
        started_at=now,
        last_seen=now,
    )


def worker_heartbeat_beat(*, instance: str) -> bool:
    """Say the worker is alive. A worker found dead while it was in fact only cut off (its runs may have been
    queued again meanwhile, which the runs' own checks make safe) comes back to life. False if the row is gone."""
    return bool(WorkerHeartbeat.objects.filter(instance=instance).update(last_seen=timezone.now(), stopped_at=None))


def worker_heartbeat_stop(*, instance: str) -> None:
    WorkerHeartbeat.objects.filter(instance=instance, stopped_at__isnull=True).update(stopped_at=timezone.now())


def workers_dead_mark(*, now: dt.datetime | None = None) -> list[str]:
    """Mark workers silent for longer than the timeout as stopped; returns their instance ids."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=heartbeat_timeout())
    silent = WorkerHeartbeat.objects.filter(stopped_at__isnull=True, last_seen__lt=cutoff)
    instances = list(silent.values_list("instance", flat=True))
    if instances:
        WorkerHeartbeat.objects.filter(instance__in=instances, stopped_at__isnull=True).update(stopped_at=now)
    return instances


class HeartbeatThread(threading.Thread):
    """Beats for one worker process until stopped. A failed beat (database briefly away) is logged and retried
    at the next interval; the thread uses its own database connection and closes it when it ends."""

    def __init__(self, *, instance: str, interval: float) -> None:
        super().__init__(name=f"heartbeat-{instance[:8]}", daemon=True)
        self.instance = instance
        self.interval = interval
        self._stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopped.wait(self.interval):
                try:
                    close_old_connections()
                    worker_heartbeat_beat(instance=self.instance)
                except Exception:
                    logger.exception("Worker heartbeat failed; retrying in %.0f s", self.interval)
        finally:
            connection.close()

    def stop(self, timeout: float = 5) -> None:
        self._stopped.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)


# --- the current process ---------------------------------------------------------------------------

# The instance id is chosen when the worker process initialises, before a prefork pool forks its children, so a
# task running in a child knows which worker holds it (current_worker_instance()).
_instance: str | None = None
_thread: HeartbeatThread | None = None


def current_worker_instance() -> str | None:
    """The WorkerHeartbeat.instance of the worker this code runs in; None outside a worker."""
    return _instance


def current_worker() -> WorkerHeartbeat | None:
    """The WorkerHeartbeat row of the worker this code runs in (what a run it starts records); None outside a
    worker, or when its registration could not be written."""
    if _instance is None:
        return None
    return WorkerHeartbeat.objects.filter(instance=_instance).first()


def worker_process_init() -> str:
    global _instance
    _instance = uuid.uuid4().hex
    return _instance


def worker_process_ready(*, name: str, queues: Iterable[str]) -> WorkerHeartbeat:
    """Register this worker and start beating."""
    global _thread
    instance = _instance or worker_process_init()
    heartbeat = worker_heartbeat_register(name=name, queues=queues, instance=instance)
    _thread = HeartbeatThread(instance=instance, interval=heartbeat_interval())
    _thread.start()
    logger.info("Worker %s registered (instance %s, queues %s)", name, instance, ", ".join(heartbeat.queues))
    return heartbeat


def worker_process_shutdown() -> None:
    global _thread
    if _thread is not None:
        _thread.stop()
        _thread = None
    if _instance is not None:
        try:
            worker_heartbeat_stop(instance=_instance)
        except Exception:
            logger.exception("Could not record the worker's stop; its heartbeat will time out instead")
