"""Verify the AI-disclosure labels of an export bundle (ZIP) or a single image; non-zero exit on failure."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from provenance.checks.verify import bundle_verify, image_verify


class Command(BaseCommand):
    help = (
        "Check every image of an export bundle (or one image file): C2PA manifest present and valid, IPTC "
        "digital source type in XMP, invisible watermark matches manifest.json, sha256 matches manifest.json. "
        "Exits 1 when any check fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="An export bundle .zip, or a single .jpg/.png image.")
        parser.add_argument(
            "--strict-trust",
            action="store_true",
            help="Fail when the C2PA signer is not on the trust list (default: a warning).",
        )
        parser.add_argument("--watermark", default=None, help="Expected watermark (hex) for a single image.")
        parser.add_argument("--sha256", default=None, help="Expected sha256 for a single image.")
        parser.add_argument("--json", dest="as_json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, path: Path, strict_trust: bool, watermark, sha256, as_json: bool, **options):
        if not path.is_file():
            raise CommandError(f"{path} does not exist or is not a file.")
        if zipfile.is_zipfile(path):
            report = bundle_verify(zip_path_or_file=path, strict_trust=strict_trust)
        else:
            report = image_verify(
                path.read_bytes(),
                expected_sha256=sha256,
                expected_watermark=watermark,
                path=path.name,
                strict_trust=strict_trust,
            )
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            self.stdout.write(report.as_text())
        if not report.ok:
            raise SystemExit(1)
