""" "Was this made here?": the public API endpoint and `manage.py detect_origin` over the exported-image
registry: found after platform attacks, nothing found for strangers, nothing private leaked, bad uploads 4xx,
rate-limited."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from PIL import Image, ImageOps

from bench.samples import sample_photo
from provenance.marks.fingerprint import fingerprints
from provenance.models import ExportBundle, ExportedImage
from tests.conftest import client_for
from tests.factories import PostFactory, aware
from tests.provenance.conftest import DWT, PRODUCE_ID, RIVA
from tests.provenance.conftest import ORIGIN_SIZE as SIZE

pytestmark = pytest.mark.django_db

URL = "/api/v1/origin-check/"


@pytest.fixture(scope="module")
def exported(exported_photo) -> bytes:
    """A post image as the export writes it: both watermarks, XMP with the TC260 label (ProduceID PRODUCE_ID),
    C2PA; labeled once per run (conftest.py), with RIVA read back."""
    return exported_photo


@pytest.fixture
def registered(exported, persona):
    post = PostFactory(persona=persona, caption="Private draft caption, not for strangers")
    with Image.open(io.BytesIO(exported)) as image:
        stored = fingerprints(image)
    # Another workspace's image, to be sure lookups pick the right one.
    ExportedImage.objects.create(
        public_id=uuid.uuid4(),
        workspace=PostFactory().workspace,
        platform="x",
        path="images/1_0.jpg",
        sha256="0" * 64,
        dwt_payload="12345678",
        rivagan_payload="3c5a96c3",
        fingerprints=fingerprints(ImageOps.fit(sample_photo("coffee"), SIZE)),
    )
    return ExportedImage.objects.create(
        public_id=PRODUCE_ID,
        workspace=persona.workspace,
        persona=persona,
        post=post,
        bundle=ExportBundle.objects.create(workspace=persona.workspace, start=aware(2026, 3, 1), end=aware(2026, 4, 1)),
        platform=post.platform,
        position=0,
        path=f"images/{post.pk}_0.jpg",
        sha256="1" * 64,
        dwt_payload=DWT.hex(),
        rivagan_payload=RIVA.hex(),
        fingerprints=stored,
    )


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()


def upload(data: bytes, name: str = "image.jpg", content_type: str = "image/jpeg") -> dict:
    return {"image": SimpleUploadedFile(name, data, content_type=content_type)}


def check(client, data: bytes, **kwargs):
    return client.post(URL, upload(data, **kwargs), format="multipart")


def jpeg(image: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def test_exported_image_is_found_by_anyone_without_an_account(api_client, exported, registered):
    response = check(api_client, exported)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["verdict"] == "made_here" and body["matched_by"] == ["rivagan", "dwtDctSvd", "fingerprint"]
    assert body["c2pa"]["present"] and body["c2pa"]["signer"] == "Persona Studio (development)"
    assert body["iptc_digital_source_type"].endswith("/trainedAlgorithmicMedia")
    assert body["tc260"]["ProduceID"] == str(PRODUCE_ID)
    assert body["watermarks"]["rivagan"]["payload"] == RIVA.hex()
    assert body["watermarks"]["dwtDctSvd"] == {"payload": DWT.hex(), "registered": True}
    assert body["fingerprint"]["distance"] == 0
    persona = registered.persona
    # Only what the published image says in public: no ids, no workspace, no caption.
    assert body["match"] == {
        "persona": {"name": persona.name, "handle": persona.handle},
        "post": {"platform": registered.platform, "image_position": 0},
        "produce_id": str(PRODUCE_ID),
    }
    text = response.content.decode()
    assert persona.workspace.name not in text and "Private draft caption" not in text


@pytest.mark.slow
@pytest.mark.parametrize(
    "attack",
    [
        pytest.param(lambda im: png(im.resize((540, 675), Image.Resampling.LANCZOS)), id="resize50"),
        pytest.param(lambda im: png(im.crop((54, 68, 1026, 1282))), id="crop10"),
        pytest.param(lambda im: jpeg(im, 50), id="jpeg50"),
        pytest.param(lambda im: jpeg(im.resize((864, 1080), Image.Resampling.LANCZOS), 85), id="reencode1080"),
    ],
)
def test_origin_is_found_after_platform_attacks(api_client, exported, registered, attack):
    with Image.open(io.BytesIO(exported)) as image:
        attacked = attack(image.convert("RGB"))
    body = check(api_client, attacked).json()
    assert body["verdict"] == "made_here" and body["match"]["produce_id"] == str(PRODUCE_ID)
    assert "fingerprint" in body["matched_by"] and body["conflicts"] == []
    assert body["c2pa"] == {"present": False} and body["tc260"] is None  # metadata gone, as on the platforms


def test_image_we_never_made_is_nothing_found(api_client, registered):
    body = check(api_client, jpeg(ImageOps.fit(sample_photo("astronaut"), SIZE))).json()
    assert body["verdict"] == "nothing_found" and body["match"] is None and body["matched_by"] == []
    assert body["fingerprint"]["distance"] is None


def test_members_see_their_own_ids_and_other_workspaces_do_not(exported, registered, marketer, outsider):
    own = check(client_for(marketer), exported).json()["match"]
    assert own["post"]["id"] == registered.post_id and own["export"]["bundle_id"] == registered.bundle_id
    assert own["workspace_id"] == registered.workspace_id
    other = check(client_for(outsider), exported).json()["match"]
    assert set(other) == {"persona", "post", "produce_id"} and set(other["post"]) == {"platform", "image_position"}


def test_bad_uploads_get_clear_4xx(api_client, settings):
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    response = check(api_client, svg, name="x.svg", content_type="image/svg+xml")
    assert response.status_code == 400 and "HTML/SVG/XML" in response.json()["detail"]

    bomb = check(api_client, png(Image.new("L", (9000, 9000))), name="bomb.png", content_type="image/png")
    assert bomb.status_code == 400 and "decompression bomb" in bomb.json()["detail"]

    whole = jpeg(ImageOps.fit(sample_photo("coffee"), (600, 400)))
    truncated = check(api_client, whole[: len(whole) // 2])
    assert truncated.status_code == 400 and "truncated or damaged" in truncated.json()["detail"]

    settings.REFERENCE_IMAGE_MAX_BYTES = 10_000
    huge = check(api_client, whole)
    assert huge.status_code == 413 and "limit" in huge.json()["detail"]

    assert api_client.post(URL, {}, format="multipart").status_code == 400


def test_checks_are_rate_limited_per_client(api_client, settings):
    settings.ORIGIN_CHECK_RATE = "2/minute"
    for _ in range(2):
        assert check(api_client, b"not an image").status_code == 400
    limited = check(api_client, b"not an image")
    assert limited.status_code == 429 and "Retry-After" in limited.headers


def test_detect_origin_command_prints_every_layer(tmp_path, exported, registered, capsys):
    path = tmp_path / "download.jpg"
    with Image.open(io.BytesIO(exported)) as image:
        path.write_bytes(jpeg(image, 70))
    call_command("detect_origin", str(path), "--json")
    body = json.loads(capsys.readouterr().out)
    assert body["verdict"] == "made_here" and body["match"]["post"]["id"] == registered.post_id
    assert set(body) >= {"c2pa", "iptc_digital_source_type", "tc260", "watermarks", "fingerprint", "matched_by"}

    call_command("detect_origin", str(path))
    text = capsys.readouterr().out
    assert text.startswith("Verdict: made_here") and f"ProduceID {PRODUCE_ID}" in text and "C2PA: no manifest" in text

    svg = tmp_path / "x.svg"
    svg.write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg"/>')
    with pytest.raises(CommandError, match="cannot be checked"):
        call_command("detect_origin", str(svg))
