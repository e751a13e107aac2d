"""Verification of labeled images and export bundles, including tampering and metadata stripping."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.management import call_command
from PIL import Image

from provenance.checks.verify import (
    C2PA_INVALID,
    C2PA_MISSING,
    C2PA_TRUSTED,
    C2PA_UNTRUSTED_SIGNER,
    bundle_verify,
    image_verify,
)
from tests.provenance.helpers import PAYLOAD, label

OTHER_PAYLOAD = bytes.fromhex("0badf00d")


@pytest.fixture
def ca_dir(_c2pa_dev_ca_dir):
    """Where `credentials` (the session's development CA, conftest.py) keeps its root."""
    return _c2pa_dev_ca_dir


@pytest.fixture(scope="module")
def images(credentials):
    """Two images of post 12 as the export would write them."""
    return [label(credentials, seed=0, payload=PAYLOAD), label(credentials, seed=1, payload=OTHER_PAYLOAD)]


def tamper(data: bytes) -> bytes:
    """Flip one byte in the middle of the JPEG's entropy-coded data (past the headers and the manifest)."""
    position = len(data) * 3 // 4
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


def bundle_bytes(images, *, files: dict[str, bytes] | None = None, manifest: dict | None = None) -> io.BytesIO:
    entries = [
        {"path": f"images/12_{i}.jpg", "sha256": img.sha256, "watermark": img.watermark, "width": 1080}
        for i, img in enumerate(images)
    ]
    if manifest is None:
        manifest = {"schema_version": "1.0", "posts": [{"id": 12, "platform": "instagram", "images": entries}]}
    if files is None:
        files = {entry["path"]: img.data for entry, img in zip(entries, images, strict=True)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        for name, data in files.items():
            zf.writestr(name, data)
    buf.seek(0)
    return buf


# --- Single images ---------------------------------------------------------------------------------


def test_labeled_image_verifies(images, credentials):
    img = images[0]
    report = image_verify(
        img.data,
        expected_sha256=img.sha256,
        expected_watermark=img.watermark,
        path="images/12_0.jpg",
        trust_anchors_pem=credentials.trust_anchors_pem,
    )
    assert report.ok, report.as_text()
    checked = report.images[0]
    assert checked.c2pa == C2PA_TRUSTED and checked.c2pa_ai_declared
    assert checked.iptc_digital_source_type.endswith("/trainedAlgorithmicMedia")
    assert checked.sha256_ok and checked.watermark_ok and checked.watermark == PAYLOAD.hex()
    assert "Verification PASSED" in report.as_text()


def test_one_flipped_byte_fails_with_clear_messages(images, credentials):
    img = images[0]
    report = image_verify(
        tamper(img.data),
        expected_sha256=img.sha256,
        expected_watermark=img.watermark,
        path="images/12_0.jpg",
        trust_anchors_pem=credentials.trust_anchors_pem,
    )
    assert not report.ok
    assert report.images[0].c2pa == C2PA_INVALID
    assert "images/12_0.jpg: sha256 differs from manifest (file was modified)" in report.all_problems
    assert any(p.startswith("images/12_0.jpg: C2PA manifest is invalid") for p in report.all_problems)


def test_tampering_is_caught_by_c2pa_alone_without_a_manifest_hash(images, credentials):
    report = image_verify(
        tamper(images[0].data), trust_anchors_pem=credentials.trust_anchors_pem, check_watermark=False
    )
    assert not report.ok
    assert "dataHash.mismatch" in " ".join(report.all_problems)


def test_resaved_without_metadata_is_reported_unlabeled_but_watermark_survives(images, credentials):
    """Pillow open + save drops XMP and the C2PA segments; the pixel watermark is still readable.

    That is the point of the watermark: a stripped copy can still be traced to the post it came from.
    """
    img = images[0]
    buf = io.BytesIO()
    with Image.open(io.BytesIO(img.data)) as opened:
        opened.save(buf, "JPEG")  # Pillow default quality 75, no metadata carried over
    report = image_verify(
        buf.getvalue(),
        expected_watermark=img.watermark,
        path="images/12_0.jpg",
        trust_anchors_pem=credentials.trust_anchors_pem,
    )
    assert not report.ok
    assert report.images[0].c2pa == C2PA_MISSING
    assert "images/12_0.jpg: has no C2PA manifest (unlabeled)" in report.all_problems
    assert "images/12_0.jpg: has no IPTC digital source type (XMP Iptc4xmpExt:DigitalSourceType)" in report.all_problems
    assert report.images[0].watermark_ok is True


def test_unknown_signer_is_a_warning_unless_strict(images):
    img = images[0]
    lenient = image_verify(img.data, expected_watermark=img.watermark, trust_anchors_pem=b"")
    assert lenient.ok
    assert lenient.images[0].c2pa == C2PA_UNTRUSTED_SIGNER
    assert "not on the trust list" in lenient.all_warnings[0]

    strict = image_verify(img.data, trust_anchors_pem=b"", strict_trust=True, check_watermark=False)
    assert not strict.ok
    assert "not on the trust list" in strict.all_problems[0]


def test_wrong_expected_watermark_is_reported(images, credentials):
    report = image_verify(
        images[0].data, expected_watermark=OTHER_PAYLOAD.hex(), trust_anchors_pem=credentials.trust_anchors_pem
    )
    assert not report.ok
    assert f"manifest records {OTHER_PAYLOAD.hex()}" in report.all_problems[0]


def test_non_image_bytes_are_reported_not_raised(credentials):
    report = image_verify(b"%PDF-1.7 not an image", trust_anchors_pem=credentials.trust_anchors_pem)
    assert not report.ok
    assert any("cannot be decoded as an image" in p for p in report.all_problems)


# --- Bundles ---------------------------------------------------------------------------------------


def test_bundle_with_chained_images_verifies(images, credentials):
    report = bundle_verify(zip_path_or_file=bundle_bytes(images), trust_anchors_pem=credentials.trust_anchors_pem)
    assert report.ok, report.as_text()
    assert [i.path for i in report.images] == ["images/12_0.jpg", "images/12_1.jpg"]
    assert all(i.watermark_ok and i.sha256_ok and i.c2pa == C2PA_TRUSTED for i in report.images)
    # Trusted here because the test trusts the dev root, but the report still says it is the dev CA.
    assert all("signed with the development CA" in i.warnings[0] for i in report.images)


def test_bundle_with_a_modified_image_fails(images, credentials):
    files = {"images/12_0.jpg": images[0].data, "images/12_1.jpg": tamper(images[1].data)}
    report = bundle_verify(
        zip_path_or_file=bundle_bytes(images, files=files), trust_anchors_pem=credentials.trust_anchors_pem
    )
    assert not report.ok
    assert report.images[0].ok
    assert "images/12_1.jpg: sha256 differs from manifest (file was modified)" in report.all_problems


def test_bundle_with_swapped_images_fails_on_watermark_and_sha(images, credentials):
    files = {"images/12_0.jpg": images[1].data, "images/12_1.jpg": images[0].data}
    report = bundle_verify(
        zip_path_or_file=bundle_bytes(images, files=files), trust_anchors_pem=credentials.trust_anchors_pem
    )
    assert not report.ok
    assert all(i.watermark_ok is False and i.sha256_ok is False for i in report.images)


def test_bundle_missing_and_unlisted_images_are_reported(images, credentials):
    files = {"images/12_0.jpg": images[0].data, "images/99_0.jpg": images[1].data}
    report = bundle_verify(
        zip_path_or_file=bundle_bytes(images, files=files), trust_anchors_pem=credentials.trust_anchors_pem
    )
    assert not report.ok
    assert "images/12_1.jpg: listed in manifest.json but missing from the bundle" in report.all_problems
    assert "images/99_0.jpg: in the bundle but not listed in manifest.json" in report.all_problems


def test_bundle_without_manifest_or_not_a_zip_fails(images, credentials):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("images/12_0.jpg", images[0].data)
    buf.seek(0)
    no_manifest = bundle_verify(zip_path_or_file=buf, trust_anchors_pem=credentials.trust_anchors_pem)
    assert not no_manifest.ok and "no manifest.json" in no_manifest.problems[0]

    not_zip = bundle_verify(zip_path_or_file=io.BytesIO(b"plain text"), trust_anchors_pem=b"")
    assert not not_zip.ok and "Not a readable ZIP bundle" in not_zip.problems[0]


def test_bundle_manifest_without_watermark_warns(images, credentials):
    entries = [{"path": "images/12_0.jpg", "sha256": images[0].sha256}]
    manifest = {"posts": [{"id": 12, "images": entries}]}
    report = bundle_verify(
        zip_path_or_file=bundle_bytes(images[:1], manifest=manifest),
        trust_anchors_pem=credentials.trust_anchors_pem,
    )
    assert report.ok
    assert any("records no watermark payload" in w for w in report.all_warnings)


# --- Command ---------------------------------------------------------------------------------------


def test_verify_bundle_command_exit_status(images, ca_dir, settings, tmp_path):
    settings.C2PA_DEV_CA_DIR = ca_dir  # verification trusts the local dev root, as on the exporting machine
    settings.C2PA_TRUST_ANCHORS_PATH = ""
    good = tmp_path / "good.zip"
    good.write_bytes(bundle_bytes(images).getvalue())
    out = io.StringIO()
    call_command("verify_bundle", str(good), stdout=out)
    assert "Verification PASSED: 2 images" in out.getvalue()

    bad = tmp_path / "bad.zip"
    files = {"images/12_0.jpg": tamper(images[0].data), "images/12_1.jpg": images[1].data}
    bad.write_bytes(bundle_bytes(images, files=files).getvalue())
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify_bundle", str(bad), "--json", stdout=out)
    assert exit_info.value.code == 1
    result = json.loads(out.getvalue())
    assert result["ok"] is False
    assert "images/12_0.jpg: sha256 differs from manifest (file was modified)" in result["problems"]


def test_verify_bundle_command_checks_a_single_image(images, ca_dir, settings, tmp_path):
    settings.C2PA_DEV_CA_DIR = ca_dir
    path = tmp_path / "12_0.jpg"
    path.write_bytes(images[0].data)
    out = io.StringIO()
    call_command("verify_bundle", str(path), "--watermark", images[0].watermark, stdout=out)
    assert "OK   12_0.jpg: c2pa=trusted iptc=yes watermark=a55ac33c (matches)" in out.getvalue()
