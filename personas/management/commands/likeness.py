"""`manage.py likeness --references R1 R2 ... --images I1 I2 ... [--json]`: each image's likeness to the people
in the references, through the code the product uses (reference QA, profile centroid, per-image score)."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from personas.identity import faces as identity
from personas.identity.backend import default_threshold, likeness_backend


class Command(BaseCommand):
    help = "Score images against reference photos of a face: face found, distance, score (0-1) and on-model."

    def add_arguments(self, parser):
        parser.add_argument("--references", nargs="+", required=True, metavar="PATH", help="Reference photos.")
        parser.add_argument("--images", nargs="+", required=True, metavar="PATH", help="Images to score.")
        parser.add_argument("--threshold", type=float, default=None,
                            help="On-model distance threshold (default: LIKENESS_THRESHOLD, else the model's own).")
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")

    def handle(self, *args, references: list[str], images: list[str], threshold: float | None, **options):
        for path in (*references, *images):
            if not Path(path).is_file():
                raise CommandError(f"{path}: no such file")
        backend = likeness_backend()
        threshold = default_threshold() if threshold is None else threshold
        min_face = settings.LIKENESS_REFERENCE_MIN_FACE_PX
        assessment = identity.references_assess(
            [identity.face_analyse(Path(p), backend=backend, min_face_px=min_face) for p in references],
            backend=backend, threshold=threshold,
        )
        results = []
        for path in images:
            scored = identity.likeness(identity.face_analyse(Path(path), backend=backend),
                                       assessment.profile.centroid, backend=backend, threshold=threshold)
            results.append({"image": path, **scored.as_dict()})
        refs = [{"reference": path, "finding": str(check.finding), "reason": check.reason}
                for path, check in zip(references, assessment.checks, strict=True)]
        if options["json"]:
            body = {"backend": backend.name, "threshold": threshold, "usable_references": assessment.usable,
                    "references": refs, "images": results}
            self.stdout.write(json.dumps(body, indent=2))
            return
        self.stdout.write(f"backend {backend.name}, threshold {threshold:.2f}, "
                          f"{assessment.usable} of {len(references)} references usable")
        for ref in refs:
            self.stdout.write(f"  reference {ref['reference']}: {ref['finding']} ({ref['reason']})")
        self.stdout.write(f"{'image':40} {'face':5} {'distance':>8} {'score':>6} on_model")
        for row in results:
            distance = "-" if row["distance"] is None else f"{row['distance']:.3f}"
            score = "-" if row["score"] is None else f"{row['score']:.3f}"
            on_model = {True: "yes", False: "no", None: "-"}[row["on_model"]]
            self.stdout.write(f"{row['image'][-40:]:40} {'yes' if row['face'] else 'no':5} {distance:>8} {score:>6} "
                              f"{on_model}  {'' if row['face'] else row['reason']}")
