"""The AI-disclosure labeling chain: fit, badge, watermark, XMP, C2PA; dev CA; caption helper."""

from __future__ import annotations

import hashlib
import io
import json
import stat

import c2pa
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.core.management import call_command
from imwatermark import WatermarkDecoder, WatermarkEncoder
from PIL import Image

from core.platforms import Platform
from provenance import labeling as provenance
from provenance.labeling import (
    IPTC_TRAINED_ALGORITHMIC_MEDIA,
    PLATFORM_AI_FLAGS,
    BadgeOptions,
    LabelingFailed,
    badge_draw,
    caption_with_disclosure,
    image_fit,
    image_label,
    post_image_label,
    watermark_payload,
)
from provenance.marks.watermark import watermark_decode, watermark_embed
from provenance.signing import SigningNotConfigured, dev_ca_ensure, signing_credentials_get
from tests.factories import GeneratedImageFactory, PostImageFactory
from tests.provenance.helpers import PAYLOAD, label, photo_bytes


def c2pa_store(data: bytes, mime: str, trust_anchors_pem: bytes) -> dict:
    context = c2pa.Context.from_dict(
        {"verify": {"remote_manifest_fetch": False}, "trust": {"trust_anchors": trust_anchors_pem.decode()}}
    )
    with context, c2pa.Reader(mime, io.BytesIO(data), context=context) as reader:
        return json.loads(reader.json())


@pytest.fixture(scope="module")
def labeled(credentials):
    return label(credentials, badge=BadgeOptions(), description="AI-generated virtual influencer")


# --- The full chain --------------------------------------------------------------------------------


def test_chain_produces_platform_sized_jpeg_with_every_label(labeled, credentials):
    assert labeled.image_format == "jpeg" and labeled.extension == ".jpg"
    assert labeled.sha256 == hashlib.sha256(labeled.data).hexdigest()
    assert labeled.watermark == PAYLOAD.hex()
    assert list(labeled.timings) == ["fit", "badge", "watermark", "encode", "watermark_check", "c2pa"]

    with Image.open(io.BytesIO(labeled.data)) as image:
        assert image.format == "JPEG"
        assert image.size == (1080, 1350) == (labeled.width, labeled.height)
        xmp = image.info["xmp"].decode()
        assert "exif" not in image.info
    assert f'Iptc4xmpExt:DigitalSourceType="{IPTC_TRAINED_ALGORITHMIC_MEDIA}"' in xmp
    assert 'xmp:CreatorTool="Persona Studio' in xmp
    assert "stabilityai/stable-diffusion-xl-base-1.0" in xmp
    assert "AI-generated virtual influencer" in xmp

    # The watermark is read back from the final signed file, not just from the pixels before encoding.
    assert watermark_decode(labeled.data) == PAYLOAD


def test_chain_c2pa_manifest_is_trusted_and_declares_ai_generation(labeled, credentials):
    store = c2pa_store(labeled.data, "image/jpeg", credentials.trust_anchors_pem)
    assert store["validation_state"] == "Trusted"
    manifest = store["manifests"][store["active_manifest"]]
    assert manifest["claim_generator_info"][0]["name"] == "Persona Studio"
    assert manifest["claim_generator_info"][0]["version"]
    assert "thumbnail" not in manifest
    assert manifest["signature_info"]["alg"].upper() == "ES256"
    actions = [a for assertion in manifest["assertions"] for a in assertion["data"].get("actions", [])]
    created = [a for a in actions if a["action"] == "c2pa.created"]
    assert created and created[0]["digitalSourceType"] == IPTC_TRAINED_ALGORITHMIC_MEDIA
    assert created[0]["softwareAgent"]["name"] == "Persona Studio"


def test_chain_png_output_carries_xmp_chunk_and_c2pa(credentials):
    result = label(credentials, seed=3, image_format="png", title="12_1.png")
    with Image.open(io.BytesIO(result.data)) as image:
        assert image.format == "PNG" and image.size == (1080, 1350)
        assert IPTC_TRAINED_ALGORITHMIC_MEDIA in image.info["XML:com.adobe.xmp"]
    assert c2pa_store(result.data, "image/png", credentials.trust_anchors_pem)["validation_state"] == "Trusted"
    assert watermark_decode(result.data) == PAYLOAD


def test_chain_refuses_to_ship_when_watermark_does_not_read_back(credentials, monkeypatch):
    monkeypatch.setattr(provenance, "watermark_decode", lambda data: b"\x00\x00\x00\x00")
    with pytest.raises(LabelingFailed, match="did not survive encoding"):
        label(credentials)


def test_chain_rejects_low_jpeg_quality(credentials):
    with pytest.raises(ValueError, match="at least 90"):
        label(credentials, quality=80)


def test_chain_rejects_unreadable_source(credentials):
    with pytest.raises(LabelingFailed, match="Cannot read the image"):
        image_label(source=b"not an image", size=(1080, 1350), watermark=PAYLOAD, title="x", credentials=credentials)


def test_post_image_label_uses_platform_size_post_watermark_and_base_model(db, credentials):
    generated = GeneratedImageFactory(base_model="tiny-sd-test")
    post_image = PostImageFactory(post__platform=Platform.X, generated_image=generated, position=2)
    result = post_image_label(post_image=post_image, credentials=credentials)
    assert (result.width, result.height) == (1600, 900)
    assert result.watermark == watermark_payload(post_id=post_image.post_id, position=2).hex()
    with Image.open(io.BytesIO(result.data)) as image:
        assert "tiny-sd-test" in image.info["xmp"].decode()


# --- Individual steps ------------------------------------------------------------------------------


def test_image_fit_covers_and_crops_to_exact_size_and_flattens_alpha():
    wide = Image.new("RGBA", (3000, 1000), (10, 20, 30, 0))
    fitted = image_fit(wide, (1080, 1350))
    assert fitted.size == (1080, 1350) and fitted.mode == "RGB"
    assert fitted.getpixel((540, 675)) == (255, 255, 255)  # transparent pixels land on white


def test_badge_is_drawn_only_in_its_corner_and_scales_with_width():
    base = Image.new("RGB", (1080, 1350), (240, 240, 240))
    badged = badge_draw(base, BadgeOptions(position="top-right"))
    diff = np.any(np.asarray(badged) != np.asarray(base), axis=-1)
    ys, xs = np.nonzero(diff)
    assert xs.min() > 1080 // 2 and ys.max() < 1350 // 4  # top-right corner only
    # High contrast: the pill is dark and the text is near-white.
    pill = np.asarray(badged)[ys.min() : ys.max(), xs.min() : xs.max()]
    assert pill.min() < 80 and pill.max() > 200

    big = badge_draw(Image.new("RGB", (2160, 2700), (240, 240, 240)), BadgeOptions(position="top-right"))
    big_xs = np.nonzero(np.any(np.asarray(big) != 240, axis=-1))[1]
    assert 1.8 < (big_xs.max() - big_xs.min()) / (xs.max() - xs.min()) < 2.2


def test_badge_options_reject_unknown_position():
    with pytest.raises(ValueError, match="not one of"):
        BadgeOptions(position="middle")


def test_watermark_survives_white_backgrounds_and_is_invisible_enough():
    white = Image.new("RGB", (1080, 1350), (255, 255, 255))
    assert watermark_decode(watermark_embed(white, PAYLOAD)) == PAYLOAD
    with Image.open(io.BytesIO(photo_bytes(1, (1080, 1350)))) as image:
        original = image.convert("RGB")
    marked = watermark_embed(original, PAYLOAD)
    mse = np.mean((np.asarray(original, np.float64) - np.asarray(marked, np.float64)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 36  # PSNR in dB


def test_watermark_is_interoperable_with_stock_invisible_watermark():
    """Our vectorised dwtDctSvd writes and reads the library's format (float32 BGR on both sides)."""
    with Image.open(io.BytesIO(photo_bytes(2, (1080, 1350)))) as image:
        original = image.convert("RGB")

    def bgr(img: Image.Image) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(img, dtype=np.float32)[..., ::-1])

    assert WatermarkDecoder("bytes", 32).decode(bgr(watermark_embed(original, PAYLOAD)), "dwtDctSvd") == PAYLOAD

    encoder = WatermarkEncoder()
    encoder.set_watermark("bytes", PAYLOAD)
    stock = encoder.encode(bgr(original), "dwtDctSvd")
    stock_rgb = Image.fromarray(np.clip(np.rint(stock[..., ::-1]), 0, 255).astype(np.uint8))
    assert watermark_decode(stock_rgb) == PAYLOAD


def test_watermark_payload_is_four_stable_bytes_per_post_and_position():
    first = watermark_payload(post_id=12, position=0)
    assert len(first) == 4
    assert first == watermark_payload(post_id=12, position=0)
    assert first != watermark_payload(post_id=12, position=1)
    assert first != watermark_payload(post_id=13, position=0)


# --- Caption side ----------------------------------------------------------------------------------


def test_caption_with_disclosure_appends_label_and_ad_once():
    text = caption_with_disclosure("Sunset run.", "AI-generated virtual influencer", sponsored=True)
    assert text == "Sunset run.\n\nAI-generated virtual influencer #ad"
    assert caption_with_disclosure(text, "AI-generated virtual influencer", sponsored=True) == text


def test_caption_with_disclosure_keeps_existing_label_and_ad_tag():
    caption = "ai-generated virtual influencer. New drop #AD"
    assert caption_with_disclosure(caption, "AI-generated virtual influencer", sponsored=True) == caption


def test_caption_with_disclosure_does_not_count_lookalike_tags_and_skips_ad_when_organic():
    assert caption_with_disclosure("Kicks #adidas", "AI", sponsored=True) == "Kicks #adidas\n\nAI #ad"
    assert caption_with_disclosure("Kicks", "AI", sponsored=False) == "Kicks\n\nAI"
    assert caption_with_disclosure("", "AI", sponsored=False) == "AI"


def test_platform_ai_flags_cover_every_platform():
    assert set(Platform.values) <= set(PLATFORM_AI_FLAGS)
    assert PLATFORM_AI_FLAGS["instagram"]["field"] == "is_ai_generated"
    assert PLATFORM_AI_FLAGS["youtube"]["field"] == "status.containsSyntheticMedia"


# --- Dev CA and credentials ------------------------------------------------------------------------


def test_dev_ca_leaf_follows_c2pa_signer_profile(tmp_path):
    paths = dev_ca_ensure(directory=tmp_path)
    assert paths.created
    assert stat.S_IMODE(paths.private_key.stat().st_mode) == 0o600
    leaf, root = x509.load_pem_x509_certificates(paths.chain.read_bytes())
    assert root.public_bytes(Encoding.PEM) == paths.ca_cert.read_bytes()
    assert leaf.issuer == root.subject and leaf.issuer != leaf.subject
    key_usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert key_usage.critical and key_usage.value.digital_signature and not key_usage.value.key_cert_sign
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.public_key().curve.name == "secp256r1"


def test_dev_ca_is_kept_unless_forced(tmp_path):
    first = dev_ca_ensure(directory=tmp_path)
    chain = first.chain.read_bytes()
    assert not dev_ca_ensure(directory=tmp_path).created
    assert first.chain.read_bytes() == chain
    assert dev_ca_ensure(directory=tmp_path, force=True).created
    assert first.chain.read_bytes() != chain


def test_signing_credentials_default_to_dev_ca(settings, tmp_path):
    settings.C2PA_CERT_CHAIN_PATH = ""
    settings.C2PA_PRIVATE_KEY_PATH = ""
    settings.C2PA_DEV_CA_DIR = tmp_path / "c2pa"
    credentials = signing_credentials_get()
    assert credentials.is_development
    assert credentials.trust_anchors_pem == (tmp_path / "c2pa" / "dev-root-ca.pem").read_bytes()


def test_signing_credentials_use_configured_chain_and_key(settings, tmp_path):
    paths = dev_ca_ensure(directory=tmp_path / "prod")
    settings.C2PA_CERT_CHAIN_PATH = str(paths.chain)
    settings.C2PA_PRIVATE_KEY_PATH = str(paths.private_key)
    settings.C2PA_DEV_CA_DIR = tmp_path / "unused"
    credentials = signing_credentials_get()
    assert not credentials.is_development
    assert credentials.cert_chain_pem == paths.chain.read_bytes()
    assert not (tmp_path / "unused").exists()


def test_signing_credentials_need_both_paths(settings, tmp_path):
    settings.C2PA_CERT_CHAIN_PATH = str(tmp_path / "chain.pem")
    settings.C2PA_PRIVATE_KEY_PATH = ""
    with pytest.raises(SigningNotConfigured, match="both"):
        signing_credentials_get()


def test_signing_credentials_report_unreadable_files(settings, tmp_path):
    settings.C2PA_CERT_CHAIN_PATH = str(tmp_path / "missing-chain.pem")
    settings.C2PA_PRIVATE_KEY_PATH = str(tmp_path / "missing-key.pem")
    with pytest.raises(SigningNotConfigured, match="Cannot read the C2PA certificate chain"):
        signing_credentials_get()


def test_provenance_dev_ca_command_creates_files(tmp_path):
    out = io.StringIO()
    call_command("provenance_dev_ca", "--dir", str(tmp_path / "ca"), stdout=out)
    assert "Created C2PA development CA" in out.getvalue()
    assert (tmp_path / "ca" / "signer-chain.pem").exists()
    call_command("provenance_dev_ca", "--dir", str(tmp_path / "ca"), stdout=out)
    assert "Kept existing" in out.getvalue()
