"""`make run`: migrate, seed the demo workspace, then run the web server and a Celery worker
(embedded filesystem broker by default) until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start Persona Studio with a demo workspace: web server + Celery worker."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--no-worker", action="store_true", help="Do not start the Celery worker.")

    def _signing_report(self) -> None:
        # Exports sign every image (C2PA); without a configured certificate they use a local dev CA.
        from scheduler.signing import dev_ca_ensure_unless_configured

        paths = dev_ca_ensure_unless_configured()
        if paths is None:
            self.stdout.write(f"C2PA signing certificate: {settings.C2PA_CERT_CHAIN_PATH}")
        else:
            self.stdout.write(
                f"C2PA signing with the development CA in {paths.directory} (root: {paths.ca_cert}); "
                "set C2PA_CERT_CHAIN_PATH / C2PA_PRIVATE_KEY_PATH for production."
            )

    def handle(self, *args, host: str, port: str, no_worker: bool, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self._signing_report()
        call_command("seed_demo")
        worker = None if no_worker else self._start_worker()
        url = f"http://{host}:{port}/"
        self.stdout.write(self.style.SUCCESS(f"\nPersona Studio is running at {url}  (Ctrl-C to stop)\n"))
        try:
            call_command("runserver", f"{host}:{port}", use_reloader=False, verbosity=1)
        except KeyboardInterrupt:
            pass
        finally:
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    worker.kill()

    def _start_worker(self) -> subprocess.Popen:
        beat_schedule = settings.VAR_DIR / "celerybeat-schedule"
        cmd = [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "-Q", "default,gpu", "--pool=solo", "--concurrency=1", "--loglevel=INFO",
            "-B", "--schedule", str(beat_schedule), "--hostname", "studio@%h",
        ]  # fmt: skip
        self.stdout.write(f"Starting Celery worker: {' '.join(cmd[2:])}")
        return subprocess.Popen(cmd, env=os.environ.copy())
