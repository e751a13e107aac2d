"""The public "Was this made here?" page: no account, clear 4xx for bad uploads, the API's rate limit."""

from __future__ import annotations

import io

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image, ImageOps

from bench.samples import sample_photo

pytestmark = pytest.mark.django_db

URL = "/origin-check/"


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()


def jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def test_anyone_can_check_an_image_and_a_stranger_is_nothing_found():
    client = Client()
    page = client.get(URL)
    assert page.status_code == 200 and b"Was this made here?" in page.content
    photo = jpeg(ImageOps.fit(sample_photo("coffee"), (600, 400)))
    response = client.post(URL, {"image": SimpleUploadedFile("coffee.jpg", photo, content_type="image/jpeg")})
    assert response.status_code == 200
    assert b"Nothing found" in response.content and b"no registered image within 32 bits" in response.content


def test_bad_uploads_and_too_many_checks_get_4xx(settings):
    client = Client()
    svg = SimpleUploadedFile("x.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>', content_type="image/svg+xml")
    refused = client.post(URL, {"image": svg})
    assert refused.status_code == 400 and b"HTML/SVG/XML" in refused.content
    assert client.post(URL, {}).status_code == 400
    settings.ORIGIN_CHECK_RATE = "2/minute"
    limited = client.post(URL, {})
    assert limited.status_code == 429 and b"Too many checks" in limited.content
