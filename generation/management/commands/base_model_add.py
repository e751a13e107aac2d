"""manage.py base_model_add PATH --name NAME [--config DIR]: register a base model in the library."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from generation.engine.families import FAMILY_LABELS
from generation.library.services import base_model_register


class Command(BaseCommand):
    help = ("Register a base model: a local diffusers folder, or a single-file .safetensors checkpoint with its "
            "config folder (--config). Pickled .ckpt/.pt files are refused. Its sample gallery is rendered on a "
            "GPU worker.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help='folder, .safetensors file, or "tiny" / "tiny-sdxl"')
        parser.add_argument("--name", required=True)
        parser.add_argument("--config", default="", help="diffusers config folder of a single-file checkpoint")
        parser.add_argument("--description", default="")
        parser.add_argument("--licence", default="", help="licence note shown on the model's card")
        parser.add_argument("--default", action="store_true", help="new personas start on this model")
        parser.add_argument("--no-samples", action="store_true", help="do not render the sample gallery")

    def handle(self, *args, **options) -> None:
        try:
            entry = base_model_register(
                actor=None, path=options["path"], name=options["name"], config_dir=options["config"],
                description=options["description"], licence_note=options["licence"],
                make_default=options["default"], render_samples=not options["no_samples"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        family = FAMILY_LABELS.get(entry.family, entry.family)
        self.stdout.write(f"Registered {entry.name} (id {entry.pk}): {family}, {entry.native_size} px native, "
                          f"sha256 {entry.sha256[:12] or '(recorded at first load)'}.")
