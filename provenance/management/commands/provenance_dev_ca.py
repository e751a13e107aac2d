"""Create the local C2PA development CA and signing certificate (var/c2pa/ by default)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from provenance.signing import dev_ca_ensure


class Command(BaseCommand):
    help = (
        "Create a development root CA and an ES256 C2PA signing certificate, used to sign exported images "
        "when C2PA_CERT_CHAIN_PATH / C2PA_PRIVATE_KEY_PATH are not set. Existing files are kept unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dir", type=Path, default=None, help="Target folder (default: C2PA_DEV_CA_DIR).")
        parser.add_argument("--force", action="store_true", help="Replace an existing development CA.")

    def handle(self, *args, dir: Path | None = None, force: bool = False, **options):
        paths = dev_ca_ensure(directory=dir, force=force)
        verb = "Created" if paths.created else "Kept existing"
        self.stdout.write(self.style.SUCCESS(f"{verb} C2PA development CA in {paths.directory}"))
        self.stdout.write(f"  root CA (trust anchor): {paths.ca_cert}")
        self.stdout.write(f"  signing chain:          {paths.chain}")
        self.stdout.write(f"  signing key:            {paths.private_key}")
        if settings.C2PA_CERT_CHAIN_PATH:
            self.stdout.write(
                self.style.WARNING("C2PA_CERT_CHAIN_PATH is set, so exports sign with that certificate, not this one.")
            )
        else:
            self.stdout.write(
                "Exports sign with this certificate. Public verifiers will call the signer untrusted: for "
                "production, set C2PA_CERT_CHAIN_PATH and C2PA_PRIVATE_KEY_PATH to a certificate from a CA on "
                "the C2PA trust list."
            )
