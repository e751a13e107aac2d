"""The process supervisor behind `make run`: restarts a dead child, never leaves an orphan."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.supervisor import ProcessSpec, Supervisor, celery_worker_specs

pytestmark = pytest.mark.slow

# A child that starts a grandchild of its own (as a celery worker starts its beat and pool processes).
CHILD = textwrap.dedent("""
    import os, subprocess, sys, time
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(sys.argv[1], "a") as f:
        f.write(f"{os.getpid()} {grandchild.pid}\\n")
    time.sleep(600)
""")


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def _wait(predicate, timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _pids(path: Path) -> list[tuple[int, int]]:
    if not path.exists():
        return []
    return [tuple(map(int, line.split())) for line in path.read_text().splitlines() if line.strip()]


def test_a_killed_child_is_restarted_and_its_own_children_do_not_outlive_it(tmp_path):
    record = tmp_path / "pids"
    spec = ProcessSpec(name="worker", argv=[sys.executable, "-c", CHILD, str(record)])
    supervisor = Supervisor([spec], log=lambda _msg: None, restart_delay=0.2, poll_interval=0.1)
    supervisor.start()
    try:
        _wait(lambda: len(_pids(record)) == 1, what="the first start")
        (child, grandchild), = _pids(record)
        os.kill(child, signal.SIGKILL)  # as the OOM killer would: no chance to stop its grandchild
        _wait(lambda: len(_pids(record)) == 2, what="the restart")
        assert supervisor.restarts("worker") == 1
        assert supervisor.pid("worker") == _pids(record)[1][0] != child
        _wait(lambda: not _running(grandchild), timeout=10, what="the orphaned grandchild to be killed")
    finally:
        supervisor.stop(timeout=5)
    for pid in (pid for pair in _pids(record) for pid in pair):
        _wait(lambda pid=pid: not _running(pid), timeout=10, what=f"pid {pid} to be gone after stop")


def test_stop_ends_every_child_and_grandchild(tmp_path):
    record = tmp_path / "pids"
    specs = [ProcessSpec(name=f"w{n}", argv=[sys.executable, "-c", CHILD, str(record)]) for n in range(2)]
    supervisor = Supervisor(specs, log=lambda _msg: None, poll_interval=0.1)
    supervisor.start()
    _wait(lambda: len(_pids(record)) == 2, what="both children")
    supervisor.stop(timeout=5)
    for pid in (pid for pair in _pids(record) for pid in pair):
        _wait(lambda pid=pid: not _running(pid), timeout=10, what=f"pid {pid} to be gone")
    assert supervisor.restarts("w0") == supervisor.restarts("w1") == 0  # a stop is not a death to restart


def test_children_are_stopped_when_the_supervisor_itself_is_killed(tmp_path):
    record = tmp_path / "pids"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        import django, os
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        django.setup()
        from core.supervisor import ProcessSpec, Supervisor
        Supervisor([ProcessSpec(name="w", argv=[sys.executable, "-c", {CHILD!r}, {str(record)!r}])]).start()
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        _wait(lambda: len(_pids(record)) == 1, what="the child")
    finally:
        parent.kill()
        parent.wait(timeout=10)
    (child, grandchild), = _pids(record)
    try:
        _wait(lambda: not _running(child), timeout=10, what="the child to get SIGTERM from the kernel")
    finally:
        os.kill(grandchild, signal.SIGKILL)  # this toy child has no warm shutdown to stop it (a worker does)


def test_make_run_supervises_a_default_queue_worker_and_a_gpu_queue_worker(tmp_path, settings):
    settings.GENERATION_QUEUE = "gpu-a100"
    default, gpu = celery_worker_specs(var_dir=tmp_path)
    assert default.argv[default.argv.index("-Q") + 1] == "default"
    assert "-B" in default.argv  # the beat schedule (sweeps) runs beside exports, never behind training
    assert gpu.argv[gpu.argv.index("-Q") + 1] == "gpu-a100"
    assert "--pool=solo" in gpu.argv and "-B" not in gpu.argv
