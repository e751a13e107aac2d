"""The API contract under a full property-based run: no server error, and no answer the published schema does not
describe.

The product runs as deployed: gunicorn and a real Celery worker on PostgreSQL and Redis, with the data of
contract_world.py (the demo workspace, and an outsider who is a marketer of another workspace). Schemathesis reads
the running product's own schema (/api/v1/schema/) and runs every phase (examples, coverage, fuzzing, stateful) with
the checks below, as the demo admin and as the outsider at once (the outsider with valid data only). Before that,
the outsider is walked over every route with the demo workspace's real ids: each answer must be 401, 403 or 404
(and the admin must reach them).

API_CONTRACT_EXAMPLES sets the examples per operation (fuzzing, stateful; default 25) and API_CONTRACT_SEED the
seed (default 1); a longer run needs a longer --timeout than the suite's 900 s, e.g.
    API_CONTRACT_EXAMPLES=200 API_CONTRACT_SEED=7 .venv/bin/pytest --timeout 3600 tests/security/test_schemathesis.py
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import reachable
from tests.integration.workers import ROOT, Worker, worker_start
from tests.services import service_unavailable

EXAMPLES = int(os.environ.get("API_CONTRACT_EXAMPLES", "25"))
SEED = int(os.environ.get("API_CONTRACT_SEED", "1"))
PHASES = "examples,coverage,fuzzing,stateful"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_DB = 7  # away from `make run` (0, 1), the health and lockout tests (5, 6) and the integration session (8-15)
SCHEMATHESIS = str(Path(sys.executable).with_name("st"))
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
# A path parameter named <thing>_id names an object of this collection; `id` names one of the collection before it.
PARAMETER_COLLECTIONS = {"persona_id": "personas", "post_id": "posts", "alternative_id": "caption-alternatives"}
SHARED_COLLECTIONS = {"base-models"}  # the model library belongs to no workspace: everyone reads it
OUTSIDER_STATUSES = {401, 403, 404}

# Its own PostgreSQL and Redis databases: it may run beside the other services tests.
pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.xdist_group("contract")]


@dataclass
class Studio:
    base: str
    tokens: dict[str, str]
    ids: dict[str, list[int]]
    server_log: Path
    worker: Worker


def test_the_api_keeps_its_published_contract(studio, tmp_path):
    schema = requests.get(f"{studio.base}/api/v1/schema/?format=json", timeout=60).json()
    assert len(_operations(schema)) >= 70  # a floor: a routing change that loses the API must not pass unnoticed

    problems = _outsider_walk(schema, studio)
    assert not problems, "\n".join(problems)

    started = time.monotonic()
    runs = {who: _schemathesis_start(studio, who, tmp_path) for who in ("admin", "outsider")}
    try:
        for process, _log in runs.values():
            process.wait()  # bounded by pytest's --timeout (900 s unless told otherwise)
    finally:
        for process, _log in runs.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    failures = [
        f"--- schemathesis as {who}: exit {process.returncode}\n{_report(log.read_text(errors='replace'))}"
        for who, (process, log) in runs.items()
        if process.returncode != 0
    ]
    assert not failures, "\n\n".join(failures) + f"\n(server log: {studio.server_log})"
    print(f"schemathesis: both runs passed in {time.monotonic() - started:.0f}s ({EXAMPLES} examples, seed {SEED})")
    assert studio.worker.alive, studio.worker.log()[-3000:]


# --- the outsider's walk -------------------------------------------------------------------------------


def _operations(schema: dict) -> list[tuple[str, str, dict]]:
    methods = {"get", "post", "put", "patch", "delete"}
    paths = schema["paths"].items()
    return [(path, method, op) for path, ops in paths for method, op in ops.items() if method in methods]


def _collection(path: str, parameter: str) -> str:
    if parameter == "id":
        return path.split("/{id}")[0].rsplit("/", 1)[-1]
    assert parameter in PARAMETER_COLLECTIONS, f"{path}: map the path parameter {parameter!r} to its collection"
    return PARAMETER_COLLECTIONS[parameter]


def _outsider_walk(schema: dict, studio: Studio) -> list[str]:
    """Every operation on a demo-workspace object, as the outsider: 401, 403 or 404 only. GETs must reach the object
    as the admin, so the ids are real and the walk checks something."""
    outsider = {"Authorization": f"Token {studio.tokens['outsider']}"}
    admin = {"Authorization": f"Token {studio.tokens['admin']}"}
    problems, walked = [], 0
    for path, method, operation in _operations(schema):
        parameters = re.findall(r"{(\w+)}", path)
        if not parameters or "token" in parameters:
            continue  # a collection, or a client review link (the token is the credential)
        collections = [_collection(path, name) for name in parameters]
        if SHARED_COLLECTIONS & set(collections):
            continue
        missing = [name for name in collections if name not in studio.ids]
        assert not missing, f"{path}: contract_world.py holds no {missing}; add one so the walk covers it"
        values = {name: studio.ids[collection][0] for name, collection in zip(parameters, collections, strict=True)}
        url = studio.base + path.format(**values)
        body = {"json": {}} if "application/json" in operation.get("requestBody", {}).get("content", {}) else {}
        answer = requests.request(method, url, headers=outsider, timeout=60, **body)
        walked += 1
        if answer.status_code not in OUTSIDER_STATUSES:
            problems.append(f"outsider {method.upper()} {url}: {answer.status_code} {answer.text[:300]}")
        if method == "get" and (status := requests.get(url, headers=admin, timeout=60).status_code) not in (200, 409):
            problems.append(f"admin GET {url}: {status} (the walk's ids must be real)")
    assert walked >= 40, f"only {walked} operations on a demo-workspace object were walked"
    return problems


# --- schemathesis --------------------------------------------------------------------------------------


def _schemathesis_start(studio: Studio, who: str, tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"schemathesis-{who}.log"
    command = [
        SCHEMATHESIS, "run", f"{studio.base}/api/v1/schema/?format=json",
        "--header", f"Authorization: Token {studio.tokens[who]}",
        "--phases", PHASES, "--checks", CHECKS, "--max-examples", str(EXAMPLES), "--seed", str(SEED),
        # One thread each: the two runs already keep both cores busy, and Python 3.11's ast module (which
        # Hypothesis uses to describe strategies) is not safe to use from several threads at once.
        "--workers", "1", "--request-timeout", "60", "--suppress-health-check", "all",
        "--generation-database", "none", "--no-color",
        # The outsider's point is reaching others' objects with requests that would otherwise succeed; what
        # invalid input does is the admin's run (all modes), whose requests get past the 404s to the validation.
        "--mode", "all" if who == "admin" else "positive",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    return process, log


def _report(output: str, limit: int = 12000) -> str:
    """The failures and the summary of a schemathesis run, without its progress lines."""
    start = min((i for i in (output.find("= FAILURES ="), output.find("= ERRORS =")) if i >= 0), default=-1)
    text = output[output.rfind("\n", 0, start) + 1 :] if start >= 0 else output
    return text if len(text) <= limit else text[: limit // 2] + "\n[...]\n" + text[-limit // 2 :]


# --- the product, as deployed --------------------------------------------------------------------------


@pytest.fixture
def studio(tmp_path) -> Iterator[Studio]:
    for name, port in (("PostgreSQL", 5432), ("Redis", 6379)):
        if not reachable("127.0.0.1", port):
            service_unavailable(f"{name} not reachable on 127.0.0.1:{port}")
    database = f"persona_contract_{os.getpid()}"
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env |= {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}", "CELERY_TASK_ALWAYS_EAGER": "0",
        "PERSONA_STUDIO_VAR_DIR": str(tmp_path / "var"), "DJANGO_MEDIA_ROOT": str(tmp_path / "media"),
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"), "DJANGO_DEBUG": "0", "DJANGO_SECURE_SSL_REDIRECT": "0",
        "GENERATION_BASE_MODEL": "tiny", "GENERATION_HIRES_DEFAULT": "0", "GENERATION_FACE_DETAIL_DEFAULT": "0",
        "PYTHONUNBUFFERED": "1",
    }  # fmt: skip
    _database_recreate(database)
    _broker_flush()
    worker = server = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
        seeded = subprocess.run([sys.executable, "-m", "tests.security.contract_world"], cwd=ROOT, env=env,
                                check=True, timeout=300, capture_output=True, text=True)  # fmt: skip
        world = json.loads(seeded.stdout.strip().splitlines()[-1])
        worker = worker_start(name="contract", env=env, log_dir=tmp_path)
        worker.wait_ready()
        # The worker really renders what the run queues (reproductions, a training), but only on spare CPU time:
        # the web server answering the run comes first.
        os.setpriority(os.PRIO_PGRP, worker.process.pid, 19)
        # The worker has a session of its own, so where the kernel groups CPU time by session (autogroup), its
        # nice value only ranks it inside that session: the session's own nice puts it behind everything else.
        with contextlib.suppress(OSError):
            Path(f"/proc/{worker.process.pid}/autogroup").write_text("19")
        port = _free_port()
        server_log = tmp_path / "gunicorn.log"
        with server_log.open("wb") as out:
            server = subprocess.Popen(
                [GUNICORN, "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "120"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base, server, server_log)
        yield Studio(base=base, tokens=world["tokens"], ids=world["ids"], server_log=server_log, worker=worker)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if worker is not None:
            worker.kill()
        _broker_flush()
        _database_drop(database)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(base: str, server: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or its first answer is slow
            pass
        assert server.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-4000:]
        time.sleep(0.5)


def _database_recreate(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # a leftover of a killed run
        conn.execute(f'CREATE DATABASE "{name}"')


def _database_drop(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _broker_flush() -> None:
    import redis

    redis.Redis.from_url(f"redis://127.0.0.1:6379/{REDIS_DB}").flushdb()
