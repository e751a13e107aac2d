"""Reaching the services a process depends on: the database, the Celery broker and the media storage, each
timed and reported on its own (readiness), and the depth of the broker's queues (metrics)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection

BROKER_TIMEOUT_S = 3


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float

    def as_dict(self) -> dict:
        return {"ok": self.ok, "detail": self.detail, "seconds": round(self.seconds, 4)}


def check_run(name: str, probe: Callable[[], str]) -> CheckResult:
    """Run one probe; any exception is a failed check whose detail names the error (never raised)."""
    started = time.monotonic()
    try:
        detail = probe()
        ok = True
    except Exception as exc:
        detail = f"{type(exc).__name__}: {str(exc).strip()[:300] or '(no message)'}"
        ok = False
    return CheckResult(name=name, ok=ok, detail=detail, seconds=time.monotonic() - started)


def database_probe() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _celery_app():
    from config.celery import app

    return app


def broker_probe() -> str:
    with _celery_app().connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
        return conn.transport_cls if isinstance(conn.transport_cls, str) else type(conn.transport).__name__


def queue_depths(queues: list[str]) -> dict[str, int]:
    """Messages waiting in each queue (not those a worker holds unacknowledged), read from the broker."""
    depths: dict[str, int] = {}
    with _celery_app().connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
        channel = conn.default_channel
        for queue in queues:
            try:
                depths[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
            except conn.channel_errors:
                # Never declared (Redis drops an empty list's key): nothing waits there. AMQP closes the channel
                # on this error, so the next queue gets a fresh one.
                depths[queue] = 0
                channel = conn.channel()
    return depths
