"""`make run` from a fresh var/: seconds to the first page, to the demo's dashboard and to the demo being ready.

Starts `manage.py run_studio` (what `make run` runs once dependencies are installed) on a temporary var dir and a
free port, polls the login page until it answers 200, signs in as the demo admin (its password from the var dir's
demo-credentials.txt) and polls the dashboard until its demo block (#demo-progress) is gone: the demo is ready.
Each stage the block shows is timed from its first sighting. Everything started is stopped at the end (Ctrl-C to
run_studio, which stops its workers; then their process groups are killed if anything is left).

    .venv/bin/python bench/first_page.py                  # first page, dashboard, every demo stage, demo ready
    .venv/bin/python bench/first_page.py --no-wait-demo   # stop once the dashboard answers
    .venv/bin/python bench/first_page.py --timeout 300 --keep-var
    .venv/bin/python bench/first_page.py --root /tmp/baseline   # another checkout (git archive), same venv
"""

from __future__ import annotations

import argparse
import contextlib
import html
import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POLL_S = 0.25
# The dashboard's demo block: its state, and the line "demo workspace: <stage>, N / M steps".
DEMO_BLOCK = re.compile(
    r'id="demo-progress"[^>]*data-demo-state="(?P<state>[^"]*)".*?class="demo-line"[^>]*>(?P<body>.*?)</span>', re.S)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    """Cookies and CSRF like a browser, enough to sign in and read the dashboard."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=30) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return error.code, ""

    def sign_in(self, username: str, password: str) -> bool:
        status, _ = self.get("/accounts/login/")
        token = next((c.value for c in self.jar if c.name == "csrftoken"), "")
        data = urllib.parse.urlencode({"username": username, "password": password,
                                       "csrfmiddlewaretoken": token, "next": "/"}).encode()
        request = urllib.request.Request(self.base + "/accounts/login/", data=data,  # noqa: S310 - http://127.0.0.1
                                         headers={"Referer": self.base + "/accounts/login/"})
        try:
            with self.opener.open(request, timeout=30) as response:
                return status == 200 and not response.url.rstrip("/").endswith("/accounts/login")
        except urllib.error.HTTPError:
            return False


def demo_state(page: str) -> tuple[str, str] | None:
    """(state, text) of the dashboard's demo block, None when the page has none (the demo is ready)."""
    match = DEMO_BLOCK.search(page)
    if match is None:
        return None
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match["body"])).split())
    return match["state"], text


def worker_pids(log: Path) -> list[int]:
    text = log.read_text(errors="replace") if log.exists() else ""
    return [int(pid) for pid in re.findall(r"(?:re)?started worker-\S+ \(pid (\d+)\)", text)]


def stop(process: subprocess.Popen, log: Path) -> None:
    """Ctrl-C as a person would (run_studio stops its workers), then kill whatever group is left."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=40)
    for pid in [process.pid, *worker_pids(log)]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


Row = tuple[str, float | None, str]  # event, seconds since the start (None: not reached), detail


def run(*, root: Path, timeout: float, wait_demo: bool, var_dir: Path, port: int) -> list[Row]:
    env = {**os.environ, "PERSONA_STUDIO_VAR_DIR": str(var_dir), "DJANGO_DEBUG": "1",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    log = var_dir / "run_studio.log"
    var_dir.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    started = time.monotonic()
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "manage.py", "run_studio", "--host", "127.0.0.1", "--port", str(port)],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    browser = Browser(f"http://127.0.0.1:{port}")

    def elapsed() -> float:
        return time.monotonic() - started

    def timed_out() -> bool:
        return elapsed() > timeout or process.poll() is not None

    try:
        while not timed_out():
            with contextlib.suppress(OSError):
                if browser.get("/accounts/login/")[0] == 200:
                    rows.append(("first page (login, 200)", elapsed(), ""))
                    break
            time.sleep(POLL_S)
        else:
            return [*rows, ("first page (login, 200)", None, "timed out or run_studio exited")]
        creds = var_dir / "demo-credentials.txt"
        while not creds.exists() and not timed_out():
            time.sleep(POLL_S)
        lines = dict(line.split(" ", 1) for line in creds.read_text().splitlines() if line.strip())
        if not browser.sign_in("demo", lines["demo"]):
            return [*rows, ("dashboard", None, "sign-in failed")]
        seen: set[str] = set()
        while not timed_out():
            status, page = browser.get("/")
            if status == 200:
                if "dashboard (200)" not in seen:
                    seen.add("dashboard (200)")
                    rows.append(("dashboard (200)", elapsed(), ""))
                    if not wait_demo:
                        break
                block = demo_state(page)
                if block is None:
                    rows.append(("demo ready (block gone)", elapsed(), ""))
                    break
                state, text = block
                stage = re.sub(r"\d+ / \d+", "N / M", text)
                if stage not in seen:
                    seen.add(stage)
                    rows.append((f"  {state}", elapsed(), text))
                if state == "failed":
                    rows.append(("demo ready", None, "demo seeding failed: see " + str(log)))
                    break
            time.sleep(1.0)
        else:
            rows.append(("demo ready", None, "timed out or run_studio exited"))
    finally:
        stop(process, log)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    parser.add_argument("--no-wait-demo", action="store_true", help="stop once the dashboard answers")
    parser.add_argument("--port", type=int, default=0, help="default: a free one")
    parser.add_argument("--keep-var", action="store_true", help="keep the temporary var dir (and its log)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose manage.py runs (default: this one)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="persona-studio-first-page-"))
    machine = f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start; {args.root.resolve()}"
    try:
        rows = run(root=args.root.resolve(), timeout=args.timeout, wait_demo=not args.no_wait_demo, var_dir=tmp / "var",
                   port=args.port or free_port())
    finally:
        if args.keep_var:
            print(f"var dir kept: {tmp / 'var'} (log: run_studio.log)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(machine)
    print(f"{'event':<34} {'seconds':>8}  detail")
    for name, seconds, detail in rows:
        print(f"{name:<34} {'-' if seconds is None else f'{seconds:8.1f}':>8}  {detail}")
    return 0 if rows and all(seconds is not None for _, seconds, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
