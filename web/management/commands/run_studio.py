"""`make run`: migrate, seed the demo workspace, then run the web server and two supervised Celery workers
(embedded filesystem broker by default) until Ctrl-C: one for the default queue (exports, drafting, sweeps, with
the beat schedule) and one for the GPU queue, so short work never waits behind a training run. A worker that
dies is restarted, and what it held is queued again when it comes back (generation/runtime/sweeps.py)."""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from core.supervisor import Supervisor, celery_worker_specs


class Command(BaseCommand):
    help = "Start Persona Studio with a demo workspace: web server + two supervised Celery workers."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--no-worker", action="store_true", help="Do not start the Celery workers.")

    def _signing_report(self) -> None:
        # Exports sign every image (C2PA); without a configured certificate they use a local dev CA.
        from provenance.signing import dev_ca_ensure_unless_configured

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
        supervisor = None
        if not no_worker:
            specs = celery_worker_specs(var_dir=settings.VAR_DIR)
            for spec in specs:
                self.stdout.write(f"Starting {spec.name}: {' '.join(spec.argv[2:])}")
            supervisor = Supervisor(specs, log=lambda line: self.stdout.write(f"[supervisor] {line}"))
            supervisor.start()
        url = f"http://{host}:{port}/"
        self.stdout.write(self.style.SUCCESS(f"\nPersona Studio is running at {url}  (Ctrl-C to stop)\n"))
        try:
            call_command("runserver", f"{host}:{port}", use_reloader=False, verbosity=1)
        except KeyboardInterrupt:
            pass
        finally:
            if supervisor is not None:
                supervisor.stop()
