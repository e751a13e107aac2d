"""Integration tests against real services: PostgreSQL, Redis and real `celery worker` processes.

How it runs (one design, two sessions):
- pytest-django uses one DATABASES config per session, and the default suite runs on SQLite. So in a default
  session this folder collects only `test_postgres_session.py`, whose one test starts a SUBPROCESS pytest session
  over this folder with DATABASE_URL=postgres://postgres@127.0.0.1:5432/<unique name>,
  CELERY_BROKER_URL=redis://127.0.0.1:6379/<n>, a short CELERY_VISIBILITY_TIMEOUT and a shared media folder,
  and drops that database (and pytest-django's test_<name>) with psycopg afterwards, whatever happened.
- In that PostgreSQL session (DATABASE_URL starts with postgres) the real tests are collected. They use
  `transactional_db`, so what the test process writes is committed and visible to the workers; the workers
  are `celery -A config worker` subprocesses (tests/integration/workers.py) pointed at pytest-django's test
  database. Tasks go through Redis: CELERY_TASK_ALWAYS_EAGER is 0 in both.

To run the PostgreSQL session by hand: DATABASE_URL=postgres://postgres@127.0.0.1:5432/ps_it
CELERY_BROKER_URL=redis://127.0.0.1:6379/9 CELERY_TASK_ALWAYS_EAGER=0 CELERY_VISIBILITY_TIMEOUT=12
DJANGO_MEDIA_ROOT=/tmp/ps-media .venv/bin/pytest tests/integration
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.integration.workers import worker_start
from tests.services import service_unavailable

LAUNCHER = "test_postgres_session.py"


def on_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    if collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    # SQLite session: only the launcher. PostgreSQL session: everything but the launcher (no recursion).
    is_launcher = collection_path.name == LAUNCHER
    return not is_launcher if not on_postgres() else is_launcher


@pytest.fixture(autouse=True)
def _shared_media_root(_test_settings, settings):
    """Undo the root conftest's per-test media folder: the workers read DJANGO_MEDIA_ROOT from the env."""
    if not on_postgres():
        return  # the launcher's session: nothing shared
    settings.MEDIA_ROOT = Path(os.environ["DJANGO_MEDIA_ROOT"]) if "DJANGO_MEDIA_ROOT" in os.environ else None
    if settings.MEDIA_ROOT is None:
        pytest.skip("DJANGO_MEDIA_ROOT must name the folder the test process and the workers share")


@pytest.fixture(scope="session")
def services_up():
    missing = [name for name, port in (("PostgreSQL", 5432), ("Redis", 6379)) if not reachable("127.0.0.1", port)]
    if missing:
        service_unavailable(f"{' and '.join(missing)} not reachable on 127.0.0.1")


@pytest.fixture(autouse=True)
def _empty_broker(request):
    """No message of an earlier test (e.g. one a killed worker left unacked) leaks into the next."""
    import redis
    from django.conf import settings

    if not on_postgres():
        yield  # the launcher's session: its subprocess session empties the broker per test
        return
    request.getfixturevalue("services_up")
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("the integration session needs CELERY_BROKER_URL=redis://127.0.0.1:6379/<n>")
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()
    yield
    client.flushdb()


@pytest.fixture
def worker_env(transactional_db) -> dict[str, str]:
    """The test process's environment, pointed at pytest-django's test database."""
    from django.db import connection

    name = connection.settings_dict["NAME"]
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "0", "PYTHONUNBUFFERED": "1"}
    env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{name}"
    return env


@pytest.fixture
def workers(worker_env, tmp_path):
    """A factory: workers(name, **extra_env) starts a ready worker; all are killed when the test ends
    (before transactional_db flushes the tables, since this fixture depends on it)."""
    started = []

    def start(name: str, *, wait: bool = True, **extra_env: str):
        worker = worker_start(name=name, env=worker_env, log_dir=tmp_path, extra_env=extra_env)
        started.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.kill()
