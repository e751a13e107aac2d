"""Exports run every image through the AI-disclosure chain and refuse to keep a bundle that fails verification."""

import hashlib
import io
import json
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import IntegrityError
from PIL import Image

from core.constants import BadgePosition
from core.errors import Conflict, ValidationFailed
from core.platforms import Platform
from personas import services as persona_services
from provenance import labeling as provenance
from provenance.bundles.build import export_bundle_build, export_bundle_create, post_caption
from provenance.checks.verify import C2PA_INVALID, C2PA_MISSING, bundle_verify
from provenance.labeling import BadgeOptions, watermark_payload
from provenance.models import ExportBundle, ExportStatus
from scheduler import services
from scheduler.models import PostStatus, PostTransition
from tests.conftest import client_for
from tests.factories import PostFactory, PostImageFactory, aware, png_bytes
from tests.provenance.helpers import rewrite

pytestmark = pytest.mark.django_db

WHEN = aware(2026, 3, 10, 9, 0)
RANGE = (aware(2026, 3, 1), aware(2026, 4, 1))
URL = "/api/v1/exports/"


def scheduled_post(persona, *, images=1, **fields):
    post = PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=WHEN, **fields)
    for position in range(images):
        data = png_bytes(900, 1200, (30 + position * 60, 90, 160))
        PostImageFactory(post=post, position=position, image=ContentFile(data, name=f"img{position}.png"))
    return post


def built(actor, workspace, persona):
    bundle = export_bundle_create(
        actor=actor, workspace=workspace, persona_ids=[persona.pk], start=RANGE[0], end=RANGE[1]
    )
    return export_bundle_build(bundle_id=bundle.pk)


def zip_bytes(bundle) -> bytes:
    with bundle.file.open("rb") as fh:
        return fh.read()


def flip_one_byte(blob: bytes) -> bytes:
    position = len(blob) * 3 // 4  # inside the JPEG's entropy-coded data, past headers and the C2PA box
    return blob[:position] + bytes([blob[position] ^ 0x01]) + blob[position + 1 :]


def resave_without_metadata(blob: bytes) -> bytes:
    with Image.open(io.BytesIO(blob)) as image:
        buf = io.BytesIO()
        image.convert("RGB").save(buf, "JPEG", quality=95)
    return buf.getvalue()


def image_path(data: bytes) -> str:
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))
    return manifest["posts"][0]["images"][0]["path"]


# --- The built bundle: the shared single-image bundle (tests/provenance/conftest.py) ---------------------------


def test_built_bundle_is_labeled_and_verifies(shared_exports, capsys):
    single = shared_exports.single
    bundle, post_id = single.bundle, single.post_id

    assert bundle.status == ExportStatus.SUCCEEDED, bundle.error
    data = bundle.data
    zf = zipfile.ZipFile(io.BytesIO(data))
    entry = json.loads(zf.read("manifest.json"))["posts"][0]["images"][0]
    assert entry["path"] == f"images/{post_id}_0.jpg"
    assert entry["watermark"] == watermark_payload(post_id=post_id, position=0).hex()
    # Fitted to Instagram's 1080x1350 from the 900x1200 original.
    with Image.open(io.BytesIO(single.original)) as original:
        assert original.size == (900, 1200)
    assert (entry["width"], entry["height"]) == (1080, 1350)
    with Image.open(io.BytesIO(zf.read(entry["path"]))) as image:
        assert image.size == (1080, 1350) and image.format == "JPEG"

    report = bundle_verify(zip_path_or_file=io.BytesIO(data))
    assert report.ok, report.as_text()
    checked = report.images[0]
    assert checked.c2pa_ai_declared and checked.watermark_ok and checked.sha256_ok
    assert checked.iptc_digital_source_type == provenance.IPTC_TRAINED_ALGORITHMIC_MEDIA
    # The stored report is the same verdict on the same file.
    assert bundle.verification["ok"] is True
    assert bundle.verification["images"][0]["sha256"] == hashlib.sha256(zf.read(entry["path"])).hexdigest()

    call_command("verify_bundle", str(bundle.path))
    assert "Verification PASSED: 1 image" in capsys.readouterr().out


def test_one_flipped_byte_fails_verification(shared_exports):
    data = shared_exports.single.bundle.data
    path = image_path(data)

    report = bundle_verify(zip_path_or_file=io.BytesIO(rewrite(data, path, flip_one_byte)))

    assert not report.ok
    assert report.images[0].c2pa == C2PA_INVALID
    assert f"{path}: sha256 differs from manifest (file was modified)" in report.all_problems
    assert any(p.startswith(f"{path}: C2PA manifest is invalid") for p in report.all_problems)


def test_image_resaved_without_metadata_is_reported_unlabeled(shared_exports):
    data = shared_exports.single.bundle.data
    path = image_path(data)

    report = bundle_verify(zip_path_or_file=io.BytesIO(rewrite(data, path, resave_without_metadata)))

    assert not report.ok
    assert report.images[0].c2pa == C2PA_MISSING
    assert f"{path}: has no C2PA manifest (unlabeled)" in report.all_problems
    assert any("has no IPTC digital source type" in p for p in report.all_problems)


def test_export_failing_verification_is_refused_and_nothing_is_exported(
    workspace, marketer, persona, monkeypatch, settings
):
    post = scheduled_post(persona)
    # A labeler that skips the C2PA step: everything else is in place, so only that check fails.
    monkeypatch.setattr(provenance, "c2pa_sign", lambda data, **kwargs: data)

    bundle = built(marketer, workspace, persona)

    assert bundle.status == ExportStatus.FAILED
    assert bundle.error.startswith("The export did not pass verification")
    assert f"images/{post.pk}_0.jpg: has no C2PA manifest (unlabeled)" in bundle.error
    assert not bundle.file and bundle.sha256 == ""
    assert bundle.verification["ok"] is False and bundle.verification["problems"]
    export_dir = settings.MEDIA_ROOT / "workspaces" / str(workspace.pk) / "exports"
    assert not export_dir.exists() or not any(export_dir.iterdir())
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED
    assert not PostTransition.objects.filter(post=post).exists()

    # Once the labeler is whole again, a retry succeeds and clears the failure.
    monkeypatch.undo()
    bundle = export_bundle_build(bundle_id=bundle.pk)
    assert bundle.status == ExportStatus.SUCCEEDED and bundle.verification["ok"] is True


def test_persona_badge_is_drawn_and_recorded(shared_exports):
    # The main persona's badge is top-left; the shared build spied on provenance.labeling.badge_draw.
    bundle = shared_exports.main.first
    assert bundle.status == ExportStatus.SUCCEEDED, bundle.error
    manifest = bundle.manifest()
    assert manifest["posts"][0]["images"][0]["badge"] is True
    assert [image["badge"] for post in manifest["posts"] for image in post["images"]] == [True, True, True]
    assert [position for position, _style in bundle.badge_calls] == ["top-left", "top-left", "top-left"]


def test_persona_badge_settings_give_the_labelers_badge(persona):
    """What the build hands the labeler for a persona (badge_for_persona), in the workspace's style."""
    persona.ai_badge_enabled, persona.ai_badge_position = True, BadgePosition.TOP_LEFT
    assert provenance.badge_for_persona(persona) == BadgeOptions(position="top-left", style="pill")
    assert provenance.badge_for_persona(persona, style="explicit") == BadgeOptions(
        position="top-left", style="explicit"
    )
    persona.ai_badge_enabled = False
    assert provenance.badge_for_persona(persona) is None


# --- Manifest captions and flags -------------------------------------------------------------------


def test_manifest_caption_always_carries_label_and_ad(persona):
    # Rows written before the rules existed: no label, sponsored without #ad anywhere.
    post = PostFactory(persona=persona, caption="Sunset run", hashtags=["#run"], is_sponsored=True)
    assert post_caption(post) == f"Sunset run\n\n{persona.disclosure_label} #ad"
    # #ad among the hashtags already discloses the partnership: not repeated in the caption.
    tagged = PostFactory(persona=persona, caption="Sunset run", hashtags=["#ad"], is_sponsored=True)
    assert post_caption(tagged) == f"Sunset run\n\n{persona.disclosure_label}"
    plain = PostFactory(persona=persona, platform=Platform.TIKTOK)
    assert post_caption(plain) == plain.caption  # label present, not sponsored: unchanged


def test_manifest_lists_the_platform_ai_flag(workspace, marketer, persona):
    PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=WHEN, platform=Platform.TIKTOK)
    bundle = built(marketer, workspace, persona)
    post = json.loads(zipfile.ZipFile(io.BytesIO(zip_bytes(bundle))).read("manifest.json"))["posts"][0]
    assert post["platform_ai_flag"]["field"] == "post_info.is_aigc"
    assert post["ai_generated"] is True and post["paid_partnership"] is False
    # No images: nothing to check, but the report is stored.
    assert bundle.verification == {
        "ok": True,
        "problems": [],
        "warnings": ["manifest.json lists no images."],
        "images": [],
    }


# --- Caption rules in the workflow ------------------------------------------------------------------


def test_update_cannot_remove_the_disclosure_label(persona, marketer):
    post = services.post_create(actor=marketer, persona=persona, platform=Platform.INSTAGRAM, caption="Hello")
    assert post.caption == f"Hello\n\n{persona.disclosure_label}"
    updated = services.post_update(actor=marketer, post=post, caption="Label removed")
    assert updated.caption == f"Label removed\n\n{persona.disclosure_label}"
    assert services.post_update(actor=marketer, post=post, caption="").caption == persona.disclosure_label


@pytest.mark.parametrize("status", [PostStatus.APPROVED, PostStatus.SCHEDULED])
def test_approved_and_scheduled_posts_cannot_be_edited(persona, marketer, status):
    post = PostFactory(persona=persona, status=status, created_by=marketer)
    with pytest.raises(Conflict, match="Only drafts and posts with changes requested can be edited"):
        services.post_update(actor=marketer, post=post, caption="no label")
    post.refresh_from_db()
    assert persona.disclosure_label in post.caption


def test_sponsored_post_needs_ad_before_approval(persona, marketer, reviewer):
    post = PostFactory(
        persona=persona, status=PostStatus.IN_REVIEW, created_by=marketer, is_sponsored=True, hashtags=["#run"]
    )
    PostImageFactory(post=post, position=0)
    with pytest.raises(ValidationFailed, match="sponsored and cannot be approved without #ad"):
        services.post_approve(actor=reviewer, post_id=post.pk)
    post.hashtags = ["#run", "#ad"]
    post.save()
    assert services.post_approve(actor=reviewer, post_id=post.pk).status == PostStatus.APPROVED


# --- Persona badge settings -------------------------------------------------------------------------


def test_the_labeler_takes_every_persona_badge_position():
    assert [BadgeOptions(position=position).position for position in BadgePosition.values] == BadgePosition.values
    with pytest.raises(ValueError, match="not one of: top-left, top-right, bottom-left, bottom-right"):
        BadgeOptions(position="middle")


def test_badge_position_is_constrained_in_the_database(persona):
    with pytest.raises(IntegrityError):
        type(persona).objects.filter(pk=persona.pk).update(ai_badge_position="middle")


def test_badge_settings_through_service_and_api(persona, marketer):
    updated = persona_services.persona_update(
        actor=marketer, persona=persona, ai_badge_enabled=True, ai_badge_position="top_right"
    )
    assert (updated.ai_badge_enabled, updated.ai_badge_position) == (True, "top-right")
    with pytest.raises(ValidationFailed, match="Badge position must be one of"):
        persona_services.persona_update(actor=marketer, persona=persona, ai_badge_position="centre")

    client = client_for(marketer)
    response = client.patch(f"/api/v1/personas/{persona.pk}/", {"ai_badge_position": "bottom-left"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["ai_badge_enabled"], response.json()["ai_badge_position"]) == (True, "bottom-left")
    bad = client.patch(f"/api/v1/personas/{persona.pk}/", {"ai_badge_position": "centre"}, format="json")
    assert bad.status_code == 400


# --- API --------------------------------------------------------------------------------------------


def upload(client, data: bytes, name: str = "bundle.zip"):
    return client.post(f"{URL}verify/", {"file": SimpleUploadedFile(name, data, "application/zip")}, format="multipart")


def test_api_verifies_an_uploaded_bundle(marketer, shared_exports):
    data = shared_exports.single.bundle.data
    client = client_for(marketer)

    good = upload(client, data)
    assert good.status_code == 200, good.content
    assert good.json()["ok"] is True and good.json()["images"][0]["watermark_ok"] is True

    tampered = upload(client, rewrite(data, image_path(data), flip_one_byte))
    assert tampered.status_code == 200
    assert tampered.json()["ok"] is False
    assert any("sha256 differs" in p for p in tampered.json()["problems"])

    not_zip = upload(client, b"just some text", name="notes.txt")
    assert not_zip.status_code == 400
    assert "not a ZIP" in not_zip.json()["detail"]
    assert client.post(f"{URL}verify/", {}, format="multipart").status_code == 400


def test_api_returns_the_stored_report(workspace, marketer, persona, outsider, shared_exports):
    # The row as a build leaves it, with the report the shared single-image bundle's build stored.
    built_single = shared_exports.single.bundle
    bundle = ExportBundle.objects.create(
        workspace=workspace,
        start=RANGE[0],
        end=RANGE[1],
        created_by=marketer,
        status=ExportStatus.SUCCEEDED,
        progress=100,
        post_count=built_single.post_count,
        sha256=built_single.sha256,
        verification=built_single.verification,
        finished_at=built_single.finished_at,
    )
    bundle.personas.set([persona])
    assert bundle.verification["ok"] is True and len(bundle.verification["images"]) == 1
    client = client_for(marketer)

    response = client.get(f"{URL}{bundle.pk}/verification/")
    assert response.status_code == 200
    assert response.json() == bundle.verification
    assert client.get(f"{URL}{bundle.pk}/").json()["verified"] is True
    assert client_for(outsider).get(f"{URL}{bundle.pk}/verification/").status_code == 404

    pending = export_bundle_create(
        actor=marketer, workspace=workspace, persona_ids=[persona.pk], start=RANGE[0], end=RANGE[1]
    )
    assert client.get(f"{URL}{pending.pk}/verification/").status_code == 409
    assert client.get(f"{URL}{pending.pk}/").json()["verified"] is None
