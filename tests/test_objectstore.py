"""Stopping the tests' object store leaves nothing running, even a server that ignores SIGTERM: SIGTERM to its
process group, a bounded wait, then SIGKILL until every member is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests import objectstore

ROOT = Path(__file__).resolve().parents[1]

# A stand-in server: it and a helper child (same process group, SIG_IGN is inherited) ignore SIGTERM, as the
# SeaweedFS server that outlived a failed CI run did. It says it is ready only once the handler is in place.
STUBBORN = textwrap.dedent("""
    import signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(sys.argv[1], "w") as ready:
        ready.write(str(helper.pid))
    time.sleep(600)
""")
# Recorded as `python -m tests.objectstore start` records weed: started in a session of its own by a launcher
# that writes DIR/weed.pid and exits, so the server is an orphan and `stop` is not its parent.
LAUNCHER = textwrap.dedent("""
    import subprocess, sys, time
    from pathlib import Path
    data_dir = Path(sys.argv[1])
    ready = data_dir / "ready"
    server = subprocess.Popen([sys.executable, "-c", sys.argv[2], str(ready)], start_new_session=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not (ready.exists() and ready.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    (data_dir / "weed.pid").write_text(str(server.pid))
""")


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


@pytest.fixture
def stubborn_server(tmp_path):
    """(data dir, server pid, helper pid) of a recorded SIGTERM-ignoring server; SIGKILLed afterwards if a
    failing test left it running."""
    subprocess.run([sys.executable, "-c", LAUNCHER, str(tmp_path), STUBBORN], check=True, timeout=60)
    pid = int((tmp_path / "weed.pid").read_text())
    helper = int((tmp_path / "ready").read_text())
    assert _alive(pid) and _alive(helper) and os.getpgid(helper) == pid
    yield tmp_path, pid, helper
    if objectstore.group_members(pid):
        os.killpg(pid, signal.SIGKILL)


@pytest.mark.slow
def test_stop_kills_a_recorded_server_that_ignores_sigterm_within_the_bounded_time(stubborn_server):
    data_dir, pid, helper = stubborn_server
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "tests.objectstore", "stop", "--dir", str(data_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    # It waited out the grace period (SIGTERM was ignored), then SIGKILL ended it, all within the bound.
    assert "SIGKILL" in result.stdout, result.stdout
    assert objectstore.STOP_GRACE_S <= elapsed < objectstore.STOP_GRACE_S + objectstore.KILL_WAIT_S + 5
    assert not _alive(pid) and not _alive(helper)
    assert objectstore.group_members(pid) == []
    assert not (data_dir / "weed.pid").exists()
    # A second stop has nothing left to do.
    again = subprocess.run(
        [sys.executable, "-m", "tests.objectstore", "stop", "--dir", str(data_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert again.returncode == 0 and "nothing to stop" in again.stdout


def test_a_server_that_exits_on_sigterm_is_not_killed():
    """SIGKILL is only the fallback: a server that exits on SIGTERM gets to shut down cleanly."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    try:
        outcome = objectstore.process_stop(process, grace=10)
        assert "exited on SIGTERM" in outcome and process.returncode == -signal.SIGTERM
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_the_sessions_own_server_is_killed_when_it_ignores_sigterm(tmp_path):
    """The object_store fixture's path (process_stop on the Popen it started) escalates the same way and reaps
    its child."""
    ready = tmp_path / "ready"
    process = subprocess.Popen([sys.executable, "-c", STUBBORN, str(ready)], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (ready.exists() and ready.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        helper = int(ready.read_text())
        started = time.monotonic()
        outcome = objectstore.process_stop(process, grace=1, kill_wait=10)
        assert "SIGKILL" in outcome, outcome
        assert 1 <= time.monotonic() - started < 1 + 10
        assert process.returncode == -signal.SIGKILL
        assert not _alive(helper) and objectstore.group_members(process.pid) == []
    finally:
        if objectstore.group_members(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
