""" "Was this made here?" from the command line: every provenance layer of an image, and its registry match."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from provenance.checks.origin_selectors import origin_check


class Command(BaseCommand):
    help = (
        "Read an image's C2PA manifest and signer, IPTC digital source type, TC260 label, RivaGAN and dwtDctSvd "
        "watermark payloads and perceptual fingerprint, and look it up among the images this installation "
        "exported. Exits 1 when the file cannot be checked."
    )

    def add_arguments(self, parser):
        parser.add_argument("image", type=Path, help="A JPEG, PNG or WebP image.")
        parser.add_argument("--json", dest="as_json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, image: Path, as_json: bool, **options):
        try:
            data = image.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {image}: {exc}") from exc
        try:
            # The operator runs this on the server: the match is described as a member of its workspace sees it.
            result = origin_check(data=data, user=None, operator=True)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if as_json:
            self.stdout.write(json.dumps(result, indent=2))
            return
        self.stdout.write(_text(result))


def _text(result: dict) -> str:
    match = result["match"]
    lines = [f"Verdict: {result['verdict']}"]
    if match:
        persona = match["persona"] or {}
        lines.append(
            f"Match: {persona.get('name', '?')} (@{persona.get('handle', '?')}), {match['post']['platform']} post "
            f"{match['post'].get('id', '?')}, image {match['post']['image_position']}, "
            f"ProduceID {match['produce_id']}; identified by {', '.join(result['matched_by'])}"
        )
    c2pa = result["c2pa"]
    lines.append(
        f"C2PA: {c2pa.get('state')} (signer: {c2pa.get('signer')}, AI declared: {c2pa.get('ai_declared')})"
        if c2pa.get("present")
        else "C2PA: no manifest"
    )
    lines.append(f"IPTC digital source type: {result['iptc_digital_source_type'] or '-'}")
    lines.append(f"TC260:AIGC: {json.dumps(result['tc260'], ensure_ascii=False) if result['tc260'] else '-'}")
    for name, mark in result["watermarks"].items():
        lines.append(f"Watermark {name}: {mark['payload']} ({'registered' if mark['registered'] else 'not ours'})")
    fp = result["fingerprint"]
    distance = f"{fp['distance']} bits" if fp["distance"] is not None else f"none within {fp['max_distance']} bits"
    lines.append(f"Fingerprint: {fp['hash']} (nearest: {distance})")
    return "\n".join(lines)
