"""Reaching the database, the broker and the storage, and reading queue depths from the embedded filesystem
broker and from a real Redis."""

from __future__ import annotations

import socket

import pytest

from config.celery import app
from core.health import broker_probe, check_run, database_probe, queue_depths
from tests.services import broker_pools_reset, service_unavailable

REDIS_BROKER = "redis://127.0.0.1:6379/5"  # away from `make run` (0, 1) and the integration session (8-15)


@pytest.fixture(params=["filesystem", pytest.param("redis", marks=pytest.mark.services)])
def broker(request, tmp_path):
    """Point the Celery app at a private filesystem broker, or at a Redis database of its own."""
    saved = {"broker_url": app.conf.broker_url, "broker_transport_options": app.conf.broker_transport_options}
    if request.param == "redis":
        try:
            socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        except OSError:
            service_unavailable("Redis is not reachable on 127.0.0.1:6379")
        app.conf.update(broker_url=REDIS_BROKER, broker_transport_options={})
    else:
        folders = {sub: tmp_path / "broker" / sub for sub in ("queue", "processed", "control")}
        for folder in folders.values():
            folder.mkdir(parents=True)
        app.conf.update(broker_url="filesystem://", broker_transport_options={
            "data_folder_in": str(folders["queue"]), "data_folder_out": str(folders["queue"]),
            "processed_folder": str(folders["processed"]), "control_folder": str(folders["control"]),
            "store_processed": False,
        })  # fmt: skip
    broker_pools_reset(app)
    try:
        yield request.param
        with app.connection_for_write() as conn:
            for queue in ("default", "gpu"):
                conn.default_channel.queue_purge(queue)
    finally:
        app.conf.update(**saved)
        broker_pools_reset(app)


def _send(queue: str, count: int) -> None:
    for n in range(count):
        app.send_task("provenance.tasks.export_sweep", args=(), queue=queue, routing_key=queue, task_id=f"{queue}-{n}")


def test_queue_depth_counts_the_messages_waiting_in_each_queue(broker, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    try:
        assert queue_depths(["default", "gpu"]) == {"default": 0, "gpu": 0}
        _send("gpu", 3)
        _send("default", 1)
        assert queue_depths(["default", "gpu", "never-used"]) == {"default": 1, "gpu": 3, "never-used": 0}
    finally:
        app.conf.task_always_eager = True


def test_broker_probe_names_the_transport(broker):
    assert broker_probe() == {"filesystem": "filesystem", "redis": "redis"}[broker]


def test_probes_report_failure_instead_of_raising():
    def unreachable() -> str:
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    result = check_run("broker", unreachable)
    assert (result.name, result.ok) == ("broker", False)
    assert result.detail == "ConnectionRefusedError: [Errno 111] Connection refused"
    assert result.as_dict()["ok"] is False


def test_database_probe_answers(db):
    assert check_run("database", database_probe).as_dict() | {"seconds": 0} == {
        "ok": True, "detail": "sqlite", "seconds": 0,
    }  # fmt: skip
