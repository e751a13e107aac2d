"""C2PA ingredients: an image whose own manifest is valid but one of whose ingredients fails is invalid,
and the report names the ingredient. Fixtures are signed here with the development CA."""

from __future__ import annotations

import io
import json

import c2pa
import pytest
from PIL import Image

from provenance.checks.verify import (
    C2PA_INVALID,
    C2PA_TRUSTED,
    C2PA_UNTRUSTED_SIGNER,
    c2pa_read_context,
    image_verify,
)
from provenance.labeling import C2PA_SIGN_SETTINGS, c2pa_manifest_definition, image_encode, xmp_packet
from tests.provenance.helpers import photo_bytes


def jpeg(seed: int) -> bytes:
    with Image.open(io.BytesIO(photo_bytes(seed, size=(320, 256)))) as image:
        return image_encode(image.convert("RGB"), xmp=xmp_packet())


def sign(credentials, data: bytes, title: str, ingredients: list[tuple[dict, bytes]] = ()) -> bytes:
    manifest = c2pa_manifest_definition(title=title, image_format="jpeg")
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, credentials.cert_chain_pem, credentials.private_key_pem, None)
    with c2pa.Signer.from_info(info) as signer, c2pa.Context.from_dict(C2PA_SIGN_SETTINGS) as context:
        builder = c2pa.Builder(manifest, context)
        for definition, ingredient in ingredients:
            builder.add_ingredient(definition, "image/jpeg", io.BytesIO(ingredient))
        out = io.BytesIO()
        builder.sign(signer, "image/jpeg", io.BytesIO(data), out)
        return out.getvalue()


def flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


def broken_signature(data: bytes) -> bytes:
    """Flip the last byte of the claim signature (the end of the c2pa.signature box's COSE content)."""
    label = data.index(b"c2pa.signature\x00")
    content = data.index(b"cbor", label)
    length = int.from_bytes(data[content - 4 : content], "big")
    return flip(data, content - 4 + length - 1)


def ingredient_manifests(data: bytes, trust) -> list[str]:
    with c2pa_read_context(trust) as context, c2pa.Reader(None, io.BytesIO(data), context=context) as reader:
        store = json.loads(reader.json())
    return [label for label in store["manifests"] if label != store["active_manifest"]]


def without_manifest(data: bytes, label: str) -> bytes:
    """Rename the ingredient's manifest in the store (its JUMBF label, same length): the claim is missing."""
    position = data.index(label.encode() + b"\x00") + len(label) - 1
    return data[:position] + (b"0" if data[position : position + 1] != b"0" else b"1") + data[position + 1 :]


@pytest.fixture(scope="module")
def ingredient(credentials) -> bytes:
    return sign(credentials, jpeg(1), "photo.jpg")


def composite(credentials, *ingredients: tuple[str, bytes]) -> bytes:
    definitions = [({"title": title, "relationship": "componentOf"}, data) for title, data in ingredients]
    return sign(credentials, jpeg(2), "post.jpg", definitions)


def verify(data: bytes, trust: bytes | None):
    report = image_verify(data, trust_anchors_pem=trust if trust is not None else b"", check_watermark=False)
    return report, report.images[0]


def test_valid_ingredients_keep_the_image_valid(credentials, ingredient):
    data = composite(credentials, ("photo.jpg", ingredient), ("logo.jpg", sign(credentials, jpeg(3), "logo.jpg")))
    report, image = verify(data, credentials.trust_anchors_pem)
    assert report.ok, report.as_text()
    assert image.c2pa == C2PA_TRUSTED
    assert [(i["title"], i["ok"]) for i in image.c2pa_ingredients] == [("photo.jpg", True), ("logo.jpg", True)]


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted-signer", "untrusted-signer"])
@pytest.mark.parametrize(
    ("breakage", "code"),
    [
        pytest.param(broken_signature, "claimSignature.mismatch", id="signature"),
        pytest.param(lambda data: flip(data, len(data) * 3 // 4), "assertion.dataHash.mismatch", id="hash"),
    ],
)
def test_failing_ingredient_makes_the_image_invalid_and_is_named(credentials, ingredient, breakage, code, trusted):
    good = sign(credentials, jpeg(3), "logo.jpg")
    data = composite(credentials, ("logo.jpg", good), ("photo.jpg", breakage(ingredient)))
    report, image = verify(data, credentials.trust_anchors_pem if trusted else None)
    assert not report.ok
    assert image.c2pa == C2PA_INVALID  # before: "trusted" / "valid manifest, untrusted signer"
    failing = [i for i in image.c2pa_ingredients if not i["ok"]]
    assert [i["title"] for i in failing] == ["photo.jpg"]
    assert code in [f["code"] for f in failing[0]["failures"]]
    problem = next(p for p in report.all_problems if "ingredient" in p)
    assert "'photo.jpg' (componentOf) fails validation" in problem and code in problem
    assert "logo.jpg" not in problem


def test_ingredient_whose_claim_is_missing_is_named(credentials, ingredient):
    data = composite(credentials, ("photo.jpg", ingredient))
    [label] = ingredient_manifests(data, credentials.trust_anchors_pem)
    report, image = verify(without_manifest(data, label), credentials.trust_anchors_pem)
    assert not report.ok and image.c2pa == C2PA_INVALID
    [entry] = image.c2pa_ingredients
    assert entry["title"] == "photo.jpg" and not entry["ok"]
    assert any("missing" in f["code"] for f in entry["failures"])
    assert any("ingredient 'photo.jpg'" in p for p in report.all_problems)
    # Reported once, under the ingredient's name, not again as an anonymous manifest failure.
    assert not any("file was modified after signing" in p for p in report.all_problems)


def test_untrusted_signer_without_ingredient_problems_is_still_only_a_warning(credentials, ingredient):
    report, image = verify(composite(credentials, ("photo.jpg", ingredient)), None)
    assert report.ok and image.c2pa == C2PA_UNTRUSTED_SIGNER
    assert image.c2pa_ingredients[0]["ok"]
