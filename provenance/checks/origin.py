""" "Was this made here?": every provenance layer read from an uploaded image, and what it identifies.

Layers: the C2PA manifest (state, signer, AI declaration, ingredients), the XMP labels (IPTC digital source
type, TC260 implicit label), both invisible watermarks (RivaGAN, dwtDctSvd) and the perceptual fingerprint.
A registry (the exported-image records; scheduler.selectors in the product, a dict in the bench) says
which payloads and fingerprints are ours. Identification, strongest first: a RivaGAN payload we issued, a
dwtDctSvd payload we issued, then the nearest fingerprint within MATCH_MAX_DISTANCE (each image is stored
with its whole-picture fingerprint and those of centred crops, so a cropped copy still finds it). An image none of them
recognises is "nothing found", whatever random bits its pixels decode to.

Uploads are untrusted: they pass the same checks as reference photos (format sniffed from the bytes, SVG and
markup refused, pixel count checked before decoding, truncation detected) before anything reads them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from django.conf import settings
from PIL import Image

from core.errors import ApplicationError
from personas.image_validation import ImageRejected, human_size, validate_reference_image
from provenance.checks.verify import image_verify
from provenance.labeling import watermark_decode
from provenance.marks.fingerprint import MATCH_MAX_DISTANCE, fingerprint, nearest
from provenance.marks.rivagan import MIN_SIDE, rivagan_read
from provenance.marks.xmp import XmpError, xmp_labels, xmp_packet_from_image

Key = TypeVar("Key")

NOTHING_FOUND = "nothing_found"
MADE_HERE = "made_here"
LABELED_ELSEWHERE = "ai_labeled_elsewhere"  # AI labels present, but no mark or fingerprint of ours


class UploadRejected(ApplicationError):
    status = 400
    code = "invalid_image"


class UploadTooLarge(UploadRejected):
    status = 413
    code = "too_large"


class Registry(Protocol[Key]):
    """What the exported-image registry answers. Keys are whatever the caller resolves to public facts."""

    def by_rivagan(self, payload: bytes) -> Key | None: ...

    def by_dwt(self, payload: bytes) -> Key | None: ...

    def fingerprints(self) -> Iterable[tuple[Key, str]]:
        """Every stored fingerprint with its image's key: several per image (fingerprint.fingerprints)."""
        ...


@dataclass
class OriginReport(Generic[Key]):
    verdict: str = NOTHING_FOUND
    match: Key | None = None  # the registered image, when identified
    matched_by: list[str] = field(default_factory=list)  # layers that named `match`
    c2pa: dict[str, Any] = field(default_factory=dict)
    iptc_digital_source_type: str | None = None
    tc260: dict[str, str] | None = None
    watermarks: dict[str, dict[str, Any]] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)  # layers that named a different registered image

    def as_dict(self, describe: Callable[[Key], dict[str, Any]] | None = None) -> dict[str, Any]:
        """JSON-ready; `describe` turns the matched key into the public facts to show."""
        out = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "match"}
        out["match"] = describe(self.match) if (describe and self.match is not None) else None
        return out


def upload_size_check(size: int) -> None:
    """Refuse an upload larger than the limit before it is read into memory (413)."""
    limit = settings.REFERENCE_IMAGE_MAX_BYTES
    if size > limit:
        raise UploadTooLarge(f"The file is {human_size(size)}; the limit is {human_size(limit)}.")


def upload_read(data: bytes) -> tuple[Image.Image, bytes | None]:
    """The upload's pixels (RGB) and XMP packet, after the reference-photo safety checks; 4xx otherwise."""
    upload_size_check(len(data))
    try:
        validate_reference_image(data, min_side=MIN_SIDE)
    except ImageRejected as exc:
        raise UploadRejected(f"This file cannot be checked: {exc.message}.") from exc
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        return opened.convert("RGB"), xmp_packet_from_image(opened)


def _c2pa_summary(data: bytes) -> dict[str, Any]:
    report = image_verify(data, check_watermark=False).images[0]
    if report.c2pa == "missing":
        return {"present": False}
    return {
        "present": True,
        "state": report.c2pa,
        "signer": report.c2pa_signer,
        "claim_generator": report.c2pa_claim_generator,
        "ai_declared": report.c2pa_ai_declared,
        "ingredients": report.c2pa_ingredients,
        "problems": [p.split(": ", 1)[-1] for p in report.problems if "C2PA" in p],
    }


def origin_detect(data: bytes, registry: Registry[Key]) -> OriginReport[Key]:
    """Read every layer of `data` and identify it against `registry`."""
    image, packet = upload_read(data)
    report: OriginReport[Key] = OriginReport()
    report.c2pa = _c2pa_summary(data)
    if packet:
        try:
            labels = xmp_labels(packet)
            report.iptc_digital_source_type = labels.digital_source_type
            report.tc260 = labels.tc260.as_dict() if labels.tc260 else None
        except XmpError:
            pass

    named: dict[str, Key] = {}
    riva = rivagan_read(image, accept=lambda payload: registry.by_rivagan(payload) is not None)
    riva_key = registry.by_rivagan(riva.payload)
    report.watermarks["rivagan"] = {
        "payload": riva.hex,
        "confidence": round(riva.confidence, 2),
        "registered": riva_key is not None,
    }
    if riva_key is not None:
        named["rivagan"] = riva_key
    if image.width * image.height >= 256 * 256:
        dwt = watermark_decode(image)
        dwt_key = registry.by_dwt(dwt)
        report.watermarks["dwtDctSvd"] = {"payload": dwt.hex(), "registered": dwt_key is not None}
        if dwt_key is not None:
            named["dwtDctSvd"] = dwt_key
    fp = fingerprint(image)
    found = nearest(fp, registry.fingerprints(), max_distance=MATCH_MAX_DISTANCE)
    report.fingerprint = {"hash": fp, "distance": found.distance if found else None, "max_distance": MATCH_MAX_DISTANCE}
    if found is not None:
        named["fingerprint"] = found.key

    if named:
        report.match = next(iter(named.values()))  # insertion order: RivaGAN, dwtDctSvd, fingerprint
        report.verdict = MADE_HERE
        report.matched_by = [layer for layer, key in named.items() if key == report.match]
        report.conflicts = [layer for layer, key in named.items() if key != report.match]
    elif report.c2pa.get("ai_declared") or report.iptc_digital_source_type or report.tc260:
        report.verdict = LABELED_ELSEWHERE
    return report
