"""Supervised child processes for `make run`: each worker is started in its own process group, restarted when it
dies (after a short, growing delay), and stopped with everything it started, so no process is ever orphaned.

A worker killed outright (SIGKILL, the OOM killer) leaves its own children behind (celery's embedded beat, pool
processes): the whole group is killed before the worker starts again. If the supervisor itself is killed, the
kernel sends each direct child SIGTERM (PR_SET_PDEATHSIG), whose warm shutdown stops its own children.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child before exec
    if _libc is not None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    cwd: Path | None = None


@dataclass
class _Child:
    spec: ProcessSpec
    process: subprocess.Popen
    started: float
    restarts: int = 0
    quick_deaths: int = 0  # successive runs that ended within a minute


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(pid, sig)


class Supervisor:
    """Start `specs`, restart any that exits while running, stop them all (and their children) on stop()."""

    def __init__(
        self,
        specs: list[ProcessSpec],
        *,
        log: Callable[[str], None] = print,
        restart_delay: float = 1.0,
        max_restart_delay: float = 30.0,
        poll_interval: float = 0.5,
    ) -> None:
        self.specs = specs
        self.log = log
        self.restart_delay = restart_delay
        self.max_restart_delay = max_restart_delay
        self.poll_interval = poll_interval
        self.children: dict[str, _Child] = {}
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    def _spawn(self, spec: ProcessSpec) -> subprocess.Popen:
        env = {**os.environ, **(spec.env or {})}
        return subprocess.Popen(  # noqa: S603 - argv built by the caller, no shell
            spec.argv, env=env, cwd=spec.cwd, start_new_session=True, preexec_fn=_die_with_parent,  # noqa: PLW1509
        )

    def start(self) -> None:
        with self._lock:
            for spec in self.specs:
                process = self._spawn(spec)
                self.children[spec.name] = _Child(spec=spec, process=process, started=time.monotonic())
                self.log(f"started {spec.name} (pid {process.pid})")
        self._watcher = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._watcher.start()

    def pid(self, name: str) -> int:
        return self.children[name].process.pid

    def restarts(self, name: str) -> int:
        return self.children[name].restarts

    def _watch(self) -> None:
        while not self._stopping.wait(self.poll_interval):
            for child in list(self.children.values()):
                code = child.process.poll()
                if code is None or self._stopping.is_set():
                    continue
                _kill_group(child.process.pid, signal.SIGKILL)  # whatever it started (beat, pool) goes with it
                # Quick successive deaths back off, up to max_restart_delay; a long good run resets the delay.
                child.quick_deaths = child.quick_deaths + 1 if time.monotonic() - child.started < 60 else 0
                delay = min(self.max_restart_delay, self.restart_delay * 2 ** max(0, child.quick_deaths - 1))
                self.log(f"{child.spec.name} (pid {child.process.pid}) exited with {code}; restarting in {delay:.0f}s")
                if self._stopping.wait(delay):
                    return
                with self._lock:
                    if self._stopping.is_set():
                        return
                    child.process = self._spawn(child.spec)
                    child.started = time.monotonic()
                    child.restarts += 1
                    self.log(f"restarted {child.spec.name} (pid {child.process.pid})")

    def stop(self, timeout: float = 20.0) -> None:
        """Warm shutdown (SIGTERM to each group), then SIGKILL whatever is left after `timeout` seconds."""
        self._stopping.set()
        with self._lock:
            children = list(self.children.values())
        for child in children:
            _kill_group(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in children:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"{child.spec.name} did not stop in {timeout:.0f}s; killing it")
            _kill_group(child.process.pid, signal.SIGKILL)
            child.process.wait(timeout=10)
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=5)


def celery_worker_specs(*, var_dir: Path, loglevel: str = "INFO") -> list[ProcessSpec]:
    """The two workers `make run` supervises: the default queue (exports, drafting, sweeps, with the beat
    schedule) and the GPU queue (training and generation, one at a time), so short work never waits behind a
    training run."""
    celery = [sys.executable, "-m", "celery", "-A", "config", "worker", f"--loglevel={loglevel}"]
    default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
    gpu_queue = settings.GENERATION_QUEUE
    return [
        ProcessSpec(
            name="worker-default",
            argv=[*celery, "-Q", default_queue, "--pool=prefork", "--concurrency=2", "-n", "default@%h",
                  "-B", "--schedule", str(Path(var_dir) / "celerybeat-schedule")],
            cwd=settings.BASE_DIR,
        ),
        ProcessSpec(
            name="worker-gpu",
            argv=[*celery, "-Q", gpu_queue, "--pool=solo", "--concurrency=1", "-n", f"{gpu_queue}@%h"],
            cwd=settings.BASE_DIR,
        ),
    ]
