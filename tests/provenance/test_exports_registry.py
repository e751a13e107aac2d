"""A kept bundle registers every image (payloads, fingerprints, post, bundle) and labels each one with China's
TC260:AIGC beside the IPTC source type; both watermarks are read back before the bundle is kept."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.files.base import ContentFile
from PIL import Image, ImageOps

from bench.samples import sample_photo
from provenance.bundles.build import export_bundle_build, export_bundle_create
from provenance.checks.verify import bundle_verify
from provenance.marks.fingerprint import CROP_SCALES, fingerprint
from provenance.marks.rivagan import rivagan_read
from provenance.marks.xmp import TC260_AI_GENERATED, xmp_labels, xmp_packet_from_image
from provenance.models import ExportedImage, ExportSettings, ExportStatus, VisibleLabelStyle
from scheduler.models import PostStatus
from tests.factories import PostFactory, PostImageFactory, aware, png_bytes
from tests.provenance.test_exports_provenance import rewrite

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

WHEN = aware(2026, 3, 10, 9, 0)


def photo_png() -> bytes:
    buf = io.BytesIO()
    ImageOps.fit(sample_photo("grace_hopper"), (900, 1200)).save(buf, "PNG")
    return buf.getvalue()


def test_kept_bundle_registers_and_labels_every_image(workspace, marketer, persona):
    ExportSettings.objects.create(workspace=workspace, content_producer="CN-AIGC-0042")
    post = PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=WHEN)
    PostImageFactory(post=post, position=0, image=ContentFile(photo_png(), name="photo.png"))
    # A flat colour has no texture for RivaGAN to hide in: it ships with dwtDctSvd and the fingerprint only.
    PostImageFactory(post=post, position=1, image=ContentFile(png_bytes(900, 1200, (40, 100, 200)), name="flat.png"))

    bundle = export_bundle_create(
        actor=marketer, workspace=workspace, persona_ids=[persona.pk], start=aware(2026, 3, 1), end=aware(2026, 4, 1)
    )
    bundle = export_bundle_build(bundle_id=bundle.pk)
    assert bundle.status == ExportStatus.SUCCEEDED, bundle.error

    data = bundle.file.open("rb").read()
    zf = zipfile.ZipFile(io.BytesIO(data))
    entries = json.loads(zf.read("manifest.json"))["posts"][0]["images"]
    rows = {row.position: row for row in ExportedImage.objects.filter(bundle=bundle)}
    assert sorted(rows) == [0, 1]
    photo, flat = rows[0], rows[1]
    for row, entry in zip((photo, flat), entries, strict=True):
        assert (row.workspace_id, row.post_id, row.persona_id, row.platform) == (
            workspace.pk,
            post.pk,
            persona.pk,
            post.platform,
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


def test_workspace_label_style_draws_the_explicit_label(workspace, marketer, persona):
    ExportSettings.objects.create(workspace=workspace, visible_label_style=VisibleLabelStyle.EXPLICIT)
    persona.ai_badge_enabled = True
    persona.ai_badge_position = "bottom-left"
    persona.save()
    post = PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=WHEN)
    PostImageFactory(post=post, position=0, image=ContentFile(png_bytes(1080, 1350, (230, 230, 230)), name="a.png"))
    bundle = export_bundle_create(
        actor=marketer, workspace=workspace, persona_ids=[persona.pk], start=aware(2026, 3, 1), end=aware(2026, 4, 1)
    )
    bundle = export_bundle_build(bundle_id=bundle.pk)
    assert bundle.status == ExportStatus.SUCCEEDED, bundle.error
    zf = zipfile.ZipFile(bundle.file.open("rb"))
    entry = json.loads(zf.read("manifest.json"))["posts"][0]["images"][0]
    assert entry["badge"] is True
    with Image.open(io.BytesIO(zf.read(entry["path"]))) as image:
        dark = [y for y in range(image.height) if image.getpixel((120, y))[0] < 100]
    # The explicit label's white letters sit on a dark pill at least 5% of the 1080 px side tall.
    assert dark and max(dark) - min(dark) >= 0.05 * 1080
