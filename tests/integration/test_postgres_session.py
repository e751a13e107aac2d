"""Runs this folder's integration tests in a subprocess pytest session on PostgreSQL + Redis (see conftest)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.integration.conftest import reachable
from tests.integration.workers import ROOT
from tests.services import service_unavailable

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _drop_databases(*names: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
@pytest.mark.services
# Its own PostgreSQL database and Redis database: it may run beside the other services tests.
@pytest.mark.xdist_group("integration")
def test_integration_suite_on_postgres_redis_and_real_workers(tmp_path):
    for name, port in (("PostgreSQL", 5432), ("Redis", 6379)):
        if not reachable("127.0.0.1", port):
            service_unavailable(f"{name} not reachable on 127.0.0.1:{port}")
    db_name = f"persona_it_{os.getpid()}"
    redis_db = 8 + os.getpid() % 8  # 8..15: away from db 0, which a developer's `make run` uses
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db_name}",
        "DATABASE_CONN_MAX_AGE": "60",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{redis_db}",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_VISIBILITY_TIMEOUT": "12",
        "DJANGO_MEDIA_ROOT": str(tmp_path / "media"),
        "GENERATION_BASE_MODEL": "tiny",
    }
    _drop_databases(db_name, f"test_{db_name}")  # a leftover of a killed run
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", "tests/integration"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=840,
        )  # fmt: skip
    finally:
        _drop_databases(db_name, f"test_{db_name}")
    output = result.stdout + result.stderr
    print(output[-20000:])
    assert result.returncode == 0, output[-20000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary, output[-3000:]  # skips (e.g. no local pg_ctlcluster) are listed above
