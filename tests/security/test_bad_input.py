"""Hostile and malformed input gets a clear 4xx, never a 500, and nothing half-written."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from core.access import Role
from personas.models import Persona, ReferenceImage
from scheduler.models import Post, PostStatus
from tests.conftest import client_for
from tests.factories import MembershipFactory, PersonaFactory, PostFactory, PostImageFactory, UserFactory, png_bytes

SCRIPT = "<script>alert('xss')</script>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(1)</script></svg>'
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


def _refs_url(persona) -> str:
    return f"/api/v1/personas/{persona.pk}/reference-images/"


# --- uploads -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "content", "content_type"),
    [("logo.svg", SVG, "image/svg+xml"), ("page.html", HTML, "text/html"), ("fake.png", SVG, "image/png"),
     ("fake.jpg", HTML, "image/jpeg"), ("empty.png", b"", "image/png")],
)  # fmt: skip
def test_markup_and_disguised_uploads_are_refused_by_name(marketer, persona, filename, content, content_type):
    upload = SimpleUploadedFile(filename, content, content_type=content_type)
    response = client_for(marketer).post(_refs_url(persona), {"files": [upload]}, format="multipart")
    assert response.status_code == 400, response.content
    errors = response.json()["extra"]["errors"]
    assert [e["filename"] for e in errors] == [filename]
    assert errors[0]["message"]
    assert not ReferenceImage.objects.filter(persona=persona).exists()


def test_an_oversized_upload_is_refused_and_the_good_file_kept(marketer, persona, settings):
    settings.REFERENCE_IMAGE_MAX_BYTES = 200_000
    big = SimpleUploadedFile("huge.png", png_bytes(1400, 1400) + b"\0" * 250_000, content_type="image/png")
    good = SimpleUploadedFile("good.png", png_bytes(640, 640), content_type="image/png")
    response = client_for(marketer).post(_refs_url(persona), {"files": [big, good]}, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert [e["filename"] for e in body["errors"]] == ["huge.png"]
    assert [c["original_filename"] for c in body["created"]] == ["good.png"]


def test_a_request_body_over_the_upload_limit_is_a_4xx(marketer, persona, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = Client(raise_request_exception=False)
    response.force_login(marketer)
    body = {"persona": persona.pk, "platform": "instagram", "caption": "x" * 20_000}
    answer = response.post("/api/v1/posts/", body, content_type="application/json")
    assert 400 <= answer.status_code < 500


def test_svg_or_html_as_a_post_image_is_refused(marketer, persona):
    upload = SimpleUploadedFile("pic.svg", SVG, content_type="image/svg+xml")
    body = {"persona": persona.pk, "platform": "instagram", "caption": "hi", "images": [upload]}
    response = client_for(marketer).post("/api/v1/posts/", body, format="multipart")
    assert response.status_code == 400, response.content
    assert not Post.objects.filter(persona=persona).exists()


# --- captions --------------------------------------------------------------------------------------


def test_non_utf8_json_is_a_clear_400(marketer, persona):
    client = Client()
    client.force_login(marketer)
    raw = b'{"persona": %d, "platform": "instagram", "caption": "caf\xe9 \xff\xfe"}' % persona.pk
    response = client.post("/api/v1/posts/", raw, content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()
    assert not Post.objects.exists()


def test_non_utf8_form_field_does_not_crash(marketer, persona):
    client = Client()
    client.force_login(marketer)
    boundary = "XBOUNDARY"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="persona"\r\n\r\n{persona.pk}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="platform"\r\n\r\ninstagram\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="caption"\r\n\r\n'
        ).encode()
        + b"caf\xe9 \xff\xfe\r\n"
        + f"--{boundary}--\r\n".encode()
    )
    response = client.post("/api/v1/posts/", body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code in (201, 400), response.content
    if response.status_code == 201:
        assert "\ufffd" in Post.objects.get().caption or "caf" in Post.objects.get().caption


def test_a_huge_caption_is_a_clear_400(marketer, persona):
    body = {"persona": persona.pk, "platform": "instagram", "caption": "word " * 200_000}
    response = client_for(marketer).post("/api/v1/posts/", body, format="json")
    assert response.status_code == 400, response.status_code
    assert "caption" in response.content.decode().lower()
    assert not Post.objects.exists()


def test_nul_bytes_and_control_characters_do_not_crash(marketer, persona):
    body = {"persona": persona.pk, "platform": "instagram", "caption": "a\x00b\x07c", "hashtags": ["#ok\x00"]}
    response = client_for(marketer).post("/api/v1/posts/", body, format="json")
    assert response.status_code in (201, 400), response.content


# --- XSS ---------------------------------------------------------------------------------------------


@pytest.fixture
def hostile(workspace, marketer, reviewer):
    persona = PersonaFactory(workspace=workspace, name=f"Nova {SCRIPT}", bio=SCRIPT, created_by=marketer)
    post = PostFactory(
        persona=persona, caption=f"{SCRIPT} {persona.disclosure_label}", status=PostStatus.IN_REVIEW,
        created_by=marketer, scheduled_at=dt.datetime(2031, 5, 4, 10, tzinfo=dt.UTC),
    )  # fmt: skip
    PostImageFactory(post=post, position=0)
    return persona, post


def test_names_and_captions_are_escaped_in_pages(hostile, marketer, reviewer):
    persona, post = hostile
    pages = {
        marketer: ["/", f"/personas/{persona.pk}/", "/personas/", "/calendar/?start=2031-05-01&end=2031-05-31"],
        reviewer: ["/review/", "/"],
    }
    rendered = 0
    for user, urls in pages.items():
        client = Client()
        client.force_login(user)
        for url in urls:
            response = client.get(url)
            assert response.status_code in (200, 302, 404), f"{url}: {response.status_code}"
            if response.status_code != 200:
                continue
            html = response.content.decode()
            assert SCRIPT not in html, f"raw <script> from user data in {url}"
            if "Nova" in html or "xss" in html:
                assert "&lt;script&gt;" in html, f"{url} shows the hostile text without escaping it"
                rendered += 1
    assert rendered >= 2  # the hostile values really were on the pages checked


def test_names_and_captions_are_escaped_in_the_admin(hostile):
    persona, post = hostile
    staff = UserFactory(is_staff=True)
    MembershipFactory(user=staff, workspace=persona.workspace, role=Role.ADMIN)
    staff.user_permissions.set(Permission.objects.all())
    client = Client()
    client.force_login(staff)
    for url in ("/admin/personas/persona/", f"/admin/personas/persona/{persona.pk}/change/",
                "/admin/scheduler/post/", f"/admin/scheduler/post/{post.pk}/change/"):  # fmt: skip
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert SCRIPT not in html, f"raw <script> in {url}"
        assert "&lt;script&gt;" in html, f"{url} does not show the hostile value at all"


def test_hostile_names_come_back_verbatim_as_json_data(hostile, marketer):
    persona, _post = hostile
    response = client_for(marketer).get(f"/api/v1/personas/{persona.pk}/")
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["name"] == f"Nova {SCRIPT}"  # data, not markup: JSON clients escape on display


# --- time zones ------------------------------------------------------------------------------------


def _persona_body(workspace, **extra) -> dict:
    return {"workspace": workspace.pk, "name": "Zed", "handle": "zed_tz", "age": 30, "trigger_token": "zzd", **extra}


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "UTC+25", "../../etc/localtime", "", "Europe/Paris\x00"])
def test_an_unknown_timezone_is_a_clear_400(workspace, marketer, zone):
    response = client_for(marketer).post("/api/v1/personas/", _persona_body(workspace, timezone=zone), format="json")
    assert response.status_code == 400, response.content
    assert not Persona.objects.filter(handle="zed_tz").exists()


@pytest.fixture
def approved_post(workspace, marketer, reviewer):
    persona = PersonaFactory(workspace=workspace, timezone="Europe/Paris", created_by=marketer)
    post = PostFactory(persona=persona, status=PostStatus.APPROVED, created_by=marketer)
    PostImageFactory(post=post, position=0)
    return post


@pytest.mark.parametrize("local", ["2027-03-28T02:30:00", "2026-03-29T02:30:00"])
def test_scheduling_inside_a_dst_gap_is_refused_with_a_clear_message(approved_post, reviewer, local):
    url = f"/api/v1/posts/{approved_post.pk}/schedule/"
    response = client_for(reviewer).post(url, {"scheduled_at": local}, format="json")
    assert response.status_code == 400, response.content
    assert "does not exist in Europe/Paris" in response.json()["detail"]
    approved_post.refresh_from_db()
    assert approved_post.status == PostStatus.APPROVED


def test_an_ambiguous_fall_back_time_takes_the_first_occurrence(approved_post, reviewer):
    url = f"/api/v1/posts/{approved_post.pk}/schedule/"
    response = client_for(reviewer).post(url, {"scheduled_at": "2027-10-31T02:30:00"}, format="json")
    assert response.status_code == 200, response.content
    approved_post.refresh_from_db()
    assert approved_post.scheduled_at == dt.datetime(2027, 10, 31, 0, 30, tzinfo=dt.UTC)  # CEST, +02:00


@pytest.mark.parametrize("value", ["2027-01-01T10:00:00+25:00", "2027-02-30T10:00:00", "next tuesday", "9" * 40])
def test_malformed_times_are_a_clear_400(approved_post, reviewer, value):
    url = f"/api/v1/posts/{approved_post.pk}/schedule/"
    response = client_for(reviewer).post(url, {"scheduled_at": value}, format="json")
    assert response.status_code == 400, response.content


# --- ids out of range --------------------------------------------------------------------------------

HUGE = "9" * 30


@pytest.mark.parametrize(
    "url",
    [f"/api/v1/personas/?workspace={HUGE}", "/api/v1/personas/?workspace=1.5", f"/api/v1/posts/?persona={HUGE}",
     f"/api/v1/personas/{HUGE}/", f"/api/v1/posts/{HUGE}/", f"/api/v1/exports/{HUGE}/",
     f"/api/v1/reference-images/{HUGE}/", f"/api/v1/personas/{HUGE}/next-free-slot/",
     f"/api/v1/calendar/?start=2030-01-01&end=2030-01-31&persona={HUGE}", f"/api/v1/generation-jobs/{HUGE}/",
     f"/api/v1/lora-versions/{HUGE}/", f"/api/v1/personas/{HUGE}/lora-versions/", "/api/v1/posts/-1/",
     f"/api/v1/generation-jobs/?persona={HUGE}", f"/api/v1/generation-jobs/?persona={2**63}",
     "/api/v1/generation-jobs/?persona=1.5", f"/api/v1/exports/?workspace={HUGE}",
     f"/api/v1/exports/?workspace={2**63}"],
)  # fmt: skip
def test_ids_past_64_bits_are_a_4xx_not_a_crash(marketer, url):
    response = client_for(marketer).get(url)
    assert 400 <= response.status_code < 500, (url, response.status_code)


@pytest.mark.parametrize(
    ("path", "param"),
    [("/api/v1/generation-jobs/", "persona"), ("/api/v1/personas/", "workspace"), ("/api/v1/exports/", "workspace")],
)
@pytest.mark.parametrize("value", [HUGE, str(2**63), "0", "1.5"])
def test_id_filters_out_of_range_are_a_400_naming_the_filter(marketer, path, param, value):
    response = client_for(marketer).get(path, {param: value})
    assert response.status_code == 400, (path, param, value, response.status_code, response.content)
    assert param in response.content.decode(), response.content


@pytest.mark.parametrize(
    ("url", "body"),
    [("/api/v1/posts/", {"persona": int(HUGE), "platform": "instagram"}),
     ("/api/v1/posts/", {"persona": 1, "platform": "instagram", "generated_images": [int(HUGE)]}),
     ("/api/v1/exports/", {"workspace": int(HUGE), "personas": [1], "start": "2030-01-01T00:00:00Z",
                           "end": "2030-01-02T00:00:00Z"}),
     ("/api/v1/exports/", {"workspace": 1, "personas": [int(HUGE)], "start": "2030-01-01T00:00:00Z",
                           "end": "2030-01-02T00:00:00Z"})],
)  # fmt: skip
def test_ids_past_64_bits_in_payloads_are_a_400(marketer, url, body):
    response = client_for(marketer).post(url, body, format="json")
    assert response.status_code == 400, (url, response.status_code, response.content)
