"""`make run`: migrate, create the demo workspace's accounts and persona, queue the rest of the demo (LoRA, drafts,
galleries: minutes on a CPU) on the GPU worker, then run the web server and two supervised Celery workers (embedded
filesystem broker by default) until Ctrl-C: one for the default queue (exports, drafting, sweeps, with the beat
schedule) and one for the GPU queue, so short work never waits behind a training run. The server answers within
seconds; the dashboard shows the demo's progress until it is ready. A worker that dies is restarted, and what it
held is queued again when it comes back (generation/runtime/sweeps.py, web/tasks.py).

Publishing: while no real platform app is configured, the publishing sandbox (publishing/sandbox/) runs beside the
server on PUBLISHING_SANDBOX_PORT and the platform settings point at it, so the demo persona's account publishes
there; a token key is kept in var/ when PUBLISHING_TOKEN_KEYS is unset."""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from core.supervisor import Supervisor, celery_worker_specs
from publishing.sandbox import wiring
from web.demo import demo_seed_request, demo_workspace_ensure
from web.models import DemoSeedStatus


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

    def _publishing_sandbox(self, *, host: str, port: str):
        """The sandbox, started and wired in (this process and the workers it starts), or None: real endpoints."""
        wiring.settings_apply(wiring.token_key_ensure(var_dir=settings.VAR_DIR))
        if not wiring.sandbox_wanted():
            self.stdout.write("Publishing: real platform endpoints" + (
                " (INSTAGRAM_APP_ID / THREADS_APP_ID are set)." if settings.PUBLISHING_SANDBOX
                else "; the sandbox is off (PUBLISHING_SANDBOX=0)."))
            return None
        try:
            sandbox = wiring.sandbox_start(host=host, var_dir=settings.VAR_DIR)
        except OSError as exc:  # the port is taken (another studio running?): publishing stays unconfigured
            self.stdout.write(self.style.WARNING(
                f"Publishing sandbox not started on port {settings.PUBLISHING_SANDBOX_PORT}: {exc}. "
                "Set PUBLISHING_SANDBOX_PORT to a free port."))
            return None
        studio_url = f"http://{wiring.local_host(host)}:{port}"
        wiring.settings_apply(wiring.sandbox_settings(sandbox_url=sandbox.url, studio_url=studio_url))
        self.stdout.write(self.style.SUCCESS("Publishing sandbox: ") + f"{sandbox.url}/  (what Instagram and Threads "
                          "received; set INSTAGRAM_APP_ID etc. for the real platforms)")
        return sandbox

    def handle(self, *args, host: str, port: str, no_worker: bool, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self._signing_report()
        # Before the demo: its persona's Instagram account is connected through the sandbox's consent page.
        sandbox = self._publishing_sandbox(host=host, port=port)
        creds = demo_workspace_ensure()
        # The slow part goes to the GPU worker, so the server answers now; the dashboard shows how far it got.
        seed = demo_seed_request()
        self.stdout.write(self.style.SUCCESS("Demo workspace: ") + (
            "ready." if seed.status == DemoSeedStatus.READY
            else "its LoRA, drafts and galleries are being made on the GPU worker (progress on the dashboard)."))
        self.stdout.write(f"  Log in as {creds.admin_username} / {creds.admin_password}  (admin: reviews and approves)")
        self.stdout.write(f"  or {creds.marketer_username} / {creds.marketer_password}  (marketer: drafts, generates)")
        if no_worker and seed.status != DemoSeedStatus.READY:
            self.stdout.write("  (--no-worker: it waits in the queue until a GPU worker starts)")
        supervisor = None
        if not no_worker:
            specs = celery_worker_specs(var_dir=settings.VAR_DIR)
            for spec in specs:
                self.stdout.write(f"Starting {spec.name}: {' '.join(spec.argv[2:])}")
            supervisor = Supervisor(specs, log=lambda line: self.stdout.write(f"[supervisor] {line}"))
            supervisor.start()
        url = f"http://{host}:{port}/"
        self.stdout.write(self.style.SUCCESS(f"\nPersona Studio is running at {url}  (Ctrl-C to stop)"))
        if sandbox is not None:
            self.stdout.write(f"Published posts land in the publishing sandbox at {sandbox.url}/")
        self.stdout.write("")
        try:
            call_command("runserver", f"{host}:{port}", use_reloader=False, verbosity=1)
        except KeyboardInterrupt:
            pass
        finally:
            if supervisor is not None:
                supervisor.stop()
            if sandbox is not None:
                sandbox.stop()
