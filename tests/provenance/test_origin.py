""" "Was this made here?": identification after platform attacks, nothing found for strangers, bad uploads."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest
from PIL import Image, ImageOps

from bench.samples import sample_photo
from provenance.checks.origin import (
    LABELED_ELSEWHERE,
    MADE_HERE,
    NOTHING_FOUND,
    UploadRejected,
    UploadTooLarge,
    origin_detect,
)
from provenance.marks.fingerprint import fingerprint, fingerprints
from tests.provenance.conftest import DWT, RIVA
from tests.provenance.conftest import ORIGIN_SIZE as SIZE


@dataclass
class MemoryRegistry:
    rivagan: dict[bytes, str] = field(default_factory=dict)
    dwt: dict[bytes, str] = field(default_factory=dict)
    prints: list[tuple[str, str]] = field(default_factory=list)

    def by_rivagan(self, payload):
        return self.rivagan.get(payload)

    def by_dwt(self, payload):
        return self.dwt.get(payload)

    def fingerprints(self):
        return self.prints


def jpeg(image: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def exported(exported_photo) -> bytes:
    """A post image as the export writes it: both watermarks, XMP, C2PA (built once per run: conftest.py)."""
    return exported_photo


@pytest.fixture(scope="module")
def registry(exported) -> MemoryRegistry:
    with Image.open(io.BytesIO(exported)) as image:
        fp = fingerprint(image)
    other = fingerprint(ImageOps.fit(sample_photo("coffee"), SIZE))
    return MemoryRegistry(
        rivagan={RIVA: "post 12 image 0", bytes.fromhex("3c5a96c3"): "post 13 image 0"},
        dwt={DWT: "post 12 image 0"},
        prints=[("post 13 image 0", other), ("post 12 image 0", fp)],
    )


def pixels(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_exported_image_is_identified_by_every_layer(exported, registry):
    report = origin_detect(exported, registry)
    assert report.verdict == MADE_HERE and report.match == "post 12 image 0"
    assert report.matched_by == ["rivagan", "dwtDctSvd", "fingerprint"] and report.conflicts == []
    assert report.c2pa["present"] and report.c2pa["ai_declared"]
    assert report.c2pa["signer"] == "Persona Studio (development)"
    assert report.c2pa["claim_generator"].startswith("Persona Studio")
    assert report.iptc_digital_source_type.endswith("trainedAlgorithmicMedia")
    assert report.watermarks["rivagan"]["payload"] == RIVA.hex() and report.watermarks["rivagan"]["registered"]
    assert report.watermarks["dwtDctSvd"] == {"payload": DWT.hex(), "registered": True}
    assert report.fingerprint["distance"] == 0
    shown = report.as_dict(describe=lambda key: {"post": key})
    assert shown["match"] == {"post": "post 12 image 0"} and shown["verdict"] == MADE_HERE


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param(lambda im: png(im.resize((540, 675), Image.Resampling.LANCZOS)), id="resize50"),
        pytest.param(lambda im: png(im.crop((54, 68, 1026, 1282))), id="crop10"),
        pytest.param(lambda im: jpeg(im, 50), id="jpeg50"),
        pytest.param(lambda im: jpeg(im.resize((1080, 1350)), 85), id="reencode1080"),
    ],
)
def test_origin_found_after_platform_attacks(exported, registry, attack):
    report = origin_detect(attack(pixels(exported)), registry)
    assert report.verdict == MADE_HERE and report.match == "post 12 image 0"
    assert "rivagan" in report.matched_by
    assert report.c2pa == {"present": False}  # the re-encode dropped the manifest, as platforms do
    assert report.conflicts == []


@pytest.mark.parametrize("box", [(54, 68, 1026, 1282), (81, 101, 999, 1249)], ids=["crop10", "crop15"])
def test_cropped_copy_is_found_by_its_stored_crop_fingerprints(box):
    """Without any watermark: the crops stored with the image identify a copy whose borders were cut."""
    photo = ImageOps.fit(sample_photo("coffee"), SIZE)
    registry = MemoryRegistry(
        prints=[("coffee", fp) for fp in fingerprints(photo)]
        + [("astronaut", fp) for fp in fingerprints(ImageOps.fit(sample_photo("astronaut"), SIZE))]
    )
    report = origin_detect(jpeg(photo.crop(box), 80), registry)
    assert report.verdict == MADE_HERE and report.match == "coffee" and report.matched_by == ["fingerprint"]
    assert report.fingerprint["distance"] <= report.fingerprint["max_distance"]


def test_image_we_never_made_is_nothing_found(registry):
    stranger = jpeg(ImageOps.fit(sample_photo("astronaut"), SIZE), 90)
    report = origin_detect(stranger, registry)
    assert report.verdict == NOTHING_FOUND and report.match is None and report.matched_by == []
    assert not report.watermarks["rivagan"]["registered"] and not report.watermarks["dwtDctSvd"]["registered"]
    assert report.fingerprint["distance"] is None
    assert report.as_dict()["match"] is None


def test_ai_labels_without_our_marks_are_reported_as_labeled_elsewhere(registry):
    from provenance.labeling import image_encode, xmp_packet

    other_tool = image_encode(ImageOps.fit(sample_photo("coffee"), (900, 600)), xmp=xmp_packet())
    report = origin_detect(other_tool, registry)
    assert report.verdict == LABELED_ELSEWHERE and report.match is None


def test_bad_uploads_get_clear_4xx(settings):
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    with pytest.raises(UploadRejected, match="HTML/SVG/XML") as excinfo:
        origin_detect(svg, MemoryRegistry())
    assert excinfo.value.status == 400

    bomb = png(Image.new("L", (9000, 9000)))  # 81 Mpx in a few hundred KB
    with pytest.raises(UploadRejected, match="decompression bomb"):
        origin_detect(bomb, MemoryRegistry())

    whole = jpeg(ImageOps.fit(sample_photo("coffee"), (600, 400)))
    with pytest.raises(UploadRejected, match="truncated or damaged"):
        origin_detect(whole[: len(whole) // 2], MemoryRegistry())

    with pytest.raises(UploadRejected, match="only JPEG, PNG or WebP"):
        origin_detect(b"GIF89a" + b"\x00" * 100, MemoryRegistry())

    settings.REFERENCE_IMAGE_MAX_BYTES = 10_000
    with pytest.raises(UploadTooLarge, match="limit") as excinfo:
        origin_detect(whole, MemoryRegistry())
    assert excinfo.value.status == 413
