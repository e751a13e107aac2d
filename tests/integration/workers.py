"""Start, watch and kill real `celery -A config worker` processes for the integration tests.

Each worker runs in its own process group (start_new_session), so `kill()` can SIGKILL the parent and its
prefork children at once: that is a machine loss, not a graceful shutdown, and the message it held stays
unacknowledged in Redis until the visibility timeout hands it to another worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_ready(self, timeout: float = 180) -> None:
        """Wait for the 'ready.' line celery prints once it consumes from its queues."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log():
                return
            if not self.alive:
                raise RuntimeError(f"worker {self.name} exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            time.sleep(0.3)
        raise TimeoutError(f"worker {self.name} not ready after {timeout}s:\n{self.log()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group: no ack, no requeue by the dying worker."""
        if self.alive:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 30) -> None:
        """Warm shutdown (SIGTERM); escalates to SIGKILL if the worker does not exit in time."""
        if not self.alive:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def worker_start(
    *, name: str, env: dict[str, str], log_dir: Path, queues: str = "default,gpu", extra_env: dict | None = None,
    concurrency: int = 1,
) -> Worker:
    """One prefork worker with `concurrency` children (the pool that enforces time limits), on `queues`."""
    log_path = log_dir / f"worker-{name}.log"
    full_env = {**env, **(extra_env or {})}
    cmd = [
        CELERY, "-A", "config", "worker", "--loglevel=INFO", "--pool=prefork", f"--concurrency={concurrency}",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", queues, "-n", f"{name}@%h",
    ]  # fmt: skip
    log = log_path.open("ab")
    process = subprocess.Popen(
        cmd, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    return Worker(name=name, process=process, log_path=log_path, extra_env=dict(extra_env or {}))


def wait_for(predicate: Callable[[], object], *, timeout: float, what: str, interval: float = 0.5) -> object:
    """Poll `predicate` (which should read fresh rows) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


PUBLIC_BASE_URL = "https://studio.example.test"


@contextmanager
def graph_serving(server, settings) -> Iterator:
    """A started loopback Graph server, with the token keys and public URL the test process shares with its workers
    (they get them through the environment: see the publishing tests)."""
    from cryptography.fernet import Fernet

    settings.PUBLISHING_TOKEN_KEYS = Fernet.generate_key().decode()
    settings.PUBLIC_BASE_URL = PUBLIC_BASE_URL
    server.start()
    try:
        yield server
    finally:
        server.stop()
