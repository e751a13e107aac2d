"""Worker heartbeats: registration, beating, death by silence or by a new start of the same node name."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from generation.models import WorkerHeartbeat
from generation.runtime import heartbeats


@pytest.fixture(autouse=True)
def _short_timeouts(settings):
    settings.WORKER_HEARTBEAT_INTERVAL = 0.05
    settings.WORKER_HEARTBEAT_TIMEOUT = 30


def test_register_records_the_worker_and_retires_earlier_starts_of_its_name(db):
    old = heartbeats.worker_heartbeat_register(name="gpu0@box", queues=["gpu"])
    other = heartbeats.worker_heartbeat_register(name="default@box", queues=["default"])
    new = heartbeats.worker_heartbeat_register(name="gpu0@box", queues=["gpu", "gpu"])
    old.refresh_from_db()
    other.refresh_from_db()
    assert old.stopped_at is not None  # that process is gone: a node name runs once
    assert other.stopped_at is None
    assert new.stopped_at is None and new.queues == ["gpu"] and new.instance != old.instance


def test_beat_moves_last_seen_and_revives_a_worker_wrongly_found_dead(db):
    worker = heartbeats.worker_heartbeat_register(name="gpu0@box", queues=["gpu"])
    WorkerHeartbeat.objects.filter(pk=worker.pk).update(
        last_seen=timezone.now() - dt.timedelta(minutes=5), stopped_at=timezone.now()
    )
    assert heartbeats.worker_heartbeat_beat(instance=worker.instance)
    worker.refresh_from_db()
    assert worker.stopped_at is None
    assert timezone.now() - worker.last_seen < dt.timedelta(seconds=5)
    assert not heartbeats.worker_heartbeat_beat(instance="f" * 32)


def test_workers_silent_past_the_timeout_are_marked_dead(db):
    now = timezone.now()
    silent = heartbeats.worker_heartbeat_register(name="gpu0@a", queues=["gpu"])
    fresh = heartbeats.worker_heartbeat_register(name="gpu0@b", queues=["gpu"])
    WorkerHeartbeat.objects.filter(pk=silent.pk).update(last_seen=now - dt.timedelta(seconds=31))
    WorkerHeartbeat.objects.filter(pk=fresh.pk).update(last_seen=now - dt.timedelta(seconds=29))
    assert heartbeats.workers_dead_mark(now=now) == [silent.instance]
    assert WorkerHeartbeat.objects.get(pk=silent.pk).stopped_at == now
    assert WorkerHeartbeat.objects.get(pk=fresh.pk).stopped_at is None
    assert heartbeats.workers_dead_mark(now=now) == []  # already marked


def test_the_heartbeat_thread_beats_until_stopped(transactional_db):
    worker = heartbeats.worker_heartbeat_register(name="gpu0@box", queues=["gpu"])
    first_seen = worker.last_seen
    thread = heartbeats.HeartbeatThread(instance=worker.instance, interval=0.05)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while WorkerHeartbeat.objects.get(pk=worker.pk).last_seen == first_seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert WorkerHeartbeat.objects.get(pk=worker.pk).last_seen > first_seen
    finally:
        thread.stop()
    assert not thread.is_alive()


def test_process_lifecycle_registers_beats_and_stops(transactional_db, monkeypatch):
    monkeypatch.setattr(heartbeats, "_instance", None)
    monkeypatch.setattr(heartbeats, "_thread", None)
    instance = heartbeats.worker_process_init()
    assert heartbeats.current_worker_instance() == instance
    row = heartbeats.worker_process_ready(name="default@box", queues=["default"])
    assert row.instance == instance and row.stopped_at is None
    heartbeats.worker_process_shutdown()
    row.refresh_from_db()
    assert row.stopped_at is not None
