"""A kept bundle registers every image (payloads, fingerprints, post, bundle) and labels each one with China's
TC260:AIGC beside the IPTC source type; both watermarks are read back before the bundle is kept."""

from __future__ import annotations

import io
import json
import zipfile

from PIL import Image

from core.constants import BadgePosition
from personas.models import Persona
from provenance.checks.verify import bundle_verify
from provenance.labeling import badge_for_persona, image_label
from provenance.marks.fingerprint import CROP_SCALES, fingerprint
from provenance.marks.rivagan import rivagan_read
from provenance.marks.xmp import TC260_AI_GENERATED, xmp_labels, xmp_packet_from_image
from provenance.models import ExportStatus, VisibleLabelStyle
from tests.factories import png_bytes
from tests.provenance.helpers import PAYLOAD, rewrite

# The bundles are the shared ones (tests/provenance/conftest.py): the registry workspace (TC260 content producer
# CN-AIGC-0042; one post, a photo then a flat colour) and the single-image one (explicit label style).


def test_kept_bundle_registers_and_labels_every_image(shared_exports):
    registry = shared_exports.registry
    bundle = registry.bundle
    assert bundle.status == ExportStatus.SUCCEEDED, bundle.error

    data = bundle.data
    zf = zipfile.ZipFile(io.BytesIO(data))
    entries = json.loads(zf.read("manifest.json"))["posts"][0]["images"]
    assert {row.bundle_id for row in bundle.registered} == {bundle.pk}
    rows = {row.position: row for row in bundle.registered}
    assert sorted(rows) == [0, 1]
    photo, flat = rows[0], rows[1]
    for row, entry in zip((photo, flat), entries, strict=True):
        assert (row.workspace_id, row.post_id, row.persona_id, row.platform) == (
            registry.workspace_id,
            registry.post_id,
            registry.persona_id,
            registry.platform,
        )
        assert row.path == entry["path"] and row.sha256 == entry["sha256"] and row.dwt_payload == entry["watermark"]
        assert entry["produce_id"] == str(row.public_id)
        with Image.open(io.BytesIO(zf.read(entry["path"]))) as image:
            image.load()
            labels = xmp_labels(xmp_packet_from_image(image))
            assert row.fingerprints[0] == fingerprint(image) and len(row.fingerprints) == len(CROP_SCALES)
        # Read back with the XMP parser: both labels, side by side.
        assert labels.digital_source_type.endswith("/trainedAlgorithmicMedia")
        assert labels.tc260.as_dict() == {
            "Label": TC260_AI_GENERATED,
            "ContentProducer": "CN-AIGC-0042",
            "ProduceID": str(row.public_id),
            "ReservedCode1": "",
            "ContentPropagator": "",
            "PropagateID": "",
            "ReservedCode2": "",
        }

    assert len(photo.rivagan_payload) == 8 and entries[0]["rivagan"] == photo.rivagan_payload
    assert rivagan_read(zf.read(entries[0]["path"])).hex == photo.rivagan_payload
    assert flat.rivagan_payload == "" and entries[1]["rivagan"] is None

    # What the bundle was kept on: C2PA still verifies (signing last), both watermarks and the TC260 label read.
    checked = bundle.verification["images"]
    assert bundle.verification["ok"] and [i["c2pa"] for i in checked] == ["trusted", "trusted"]
    assert checked[0]["rivagan_ok"] is True and checked[0]["tc260"]["ProduceID"] == str(photo.public_id)
    assert any("RivaGAN watermark did not take" in w for w in bundle.verification["warnings"])

    def manifest_with(**changes):
        def change(blob):
            manifest = json.loads(blob)
            manifest["posts"][0]["images"][0].update(changes)
            return json.dumps(manifest).encode()

        return rewrite(data, "manifest.json", change)

    other = "3c5a96c3" if photo.rivagan_payload != "3c5a96c3" else "a55ac33c"
    report = bundle_verify(zip_path_or_file=io.BytesIO(manifest_with(rivagan=other)))
    expected = f"RivaGAN watermark reads {photo.rivagan_payload}, manifest records {other}"
    assert any(expected in problem for problem in report.all_problems)
    report = bundle_verify(zip_path_or_file=io.BytesIO(manifest_with(produce_id="not-this-image")))
    assert any("TC260:AIGC says Label 1" in p and "not-this-image" in p for p in report.all_problems)


def test_workspace_label_style_draws_the_explicit_label(shared_exports):
    # The workspace's style reaches the labeler with the persona's badge position, and the manifest says so.
    bundle = shared_exports.single.bundle
    assert bundle.status == ExportStatus.SUCCEEDED, bundle.error
    entry = bundle.manifest()["posts"][0]["images"][0]
    assert entry["badge"] is True
    assert bundle.badge_calls == (("bottom-left", "explicit"),)


def test_explicit_label_in_the_labeled_file_is_at_least_5_percent_tall(credentials):
    """The explicit style's pixels, through the labeling chain: a light flat picture shows the pill alone.

    Without RivaGAN, which an export adds: on this picture it does not take (the label's edges give it just enough
    texture to try every payload, ~25 s of CPU), and the chain then ships the pixels it would have without it.
    """
    persona = Persona(ai_badge_enabled=True, ai_badge_position=BadgePosition.BOTTOM_LEFT)
    labeled = image_label(
        source=png_bytes(1080, 1350, (230, 230, 230)),
        size=(1080, 1350),
        watermark=PAYLOAD,
        title="1_0.jpg",
        badge=badge_for_persona(persona, style=VisibleLabelStyle.EXPLICIT),
        credentials=credentials,
    )
    assert labeled.badge is True
    with Image.open(io.BytesIO(labeled.data)) as image:
        dark = [y for y in range(image.height) if image.getpixel((120, y))[0] < 100]
    # The explicit label's white letters sit on a dark pill at least 5% of the 1080 px side tall.
    assert dark and max(dark) - min(dark) >= 0.05 * 1080
