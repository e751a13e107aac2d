"""The production configuration end to end: DEBUG off, static files from `collectstatic` (hashed names, served by
WhiteNoise), gunicorn, and a Content-Security-Policy header on every page."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from core.access import Role
from tests.factories import GeneratedImageFactory, GenerationJobFactory, MembershipFactory, PostFactory

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

PAGES = [
    "dashboard", "dashboard_jobs", "review_queue", "calendar", "export_list", "export_rows", "personas:create",
    "api-docs", "admin:index",
]  # fmt: skip
STATIC_REF = re.compile(r'(?:href|src)="(/static/[^"]+)"')


def _csp(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.fixture(scope="module")
def static_root(tmp_path_factory, django_db_blocker):
    root = tmp_path_factory.mktemp("staticfiles")
    from django.test import override_settings

    with override_settings(STATIC_ROOT=root, STORAGES=_manifest_storages()):
        call_command("collectstatic", interactive=False, verbosity=0)
    return root


def _manifest_storages() -> dict:
    from django.conf import settings

    return {**settings.STORAGES,
            "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}


def test_pages_load_with_hashed_static_files_and_a_strict_csp(settings, static_root, workspace, persona):
    settings.STATIC_ROOT = static_root
    settings.STORAGES = _manifest_storages()
    assert not settings.DEBUG
    admin = MembershipFactory(workspace=workspace, role=Role.ADMIN, user__is_staff=True, user__is_superuser=True).user
    job = GenerationJobFactory(persona=persona, status="succeeded")
    GeneratedImageFactory(job=job)
    PostFactory(persona=persona)
    client = Client()
    client.force_login(admin)
    urls = [reverse(name) for name in PAGES] + [
        reverse("personas:detail", args=[persona.pk]), reverse("login"), "/no-such-page/",
    ]  # fmt: skip
    assets: set[str] = set()
    for url in urls:
        response = client.get(url, secure=True)
        assert response.status_code == (404 if url == "/no-such-page/" else 200), url
        policy = _csp(response)
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"], url
        assert policy["default-src"] == ["'self'"] and policy["frame-ancestors"] == ["'none'"], url
        body = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", body), url
        assert not re.search(r"\sstyle=\"|<style|\son[a-z]+=\"", body), url
        assets.update(STATIC_REF.findall(body))
    assert any(re.fullmatch(r"/static/css/app\.[0-9a-f]{12}\.css", asset) for asset in assets), assets
    for asset in sorted(assets):  # every asset a page names is served (WhiteNoise, from collectstatic's output)
        response = client.get(asset, secure=True)
        assert response.status_code == 200, asset
        b"".join(response.streaming_content) if response.streaming else response.content


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the test looks at the redirect itself


def _get(url: str, **headers) -> tuple[int, dict, bytes]:
    assert url.startswith("http://127.0.0.1:")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_gunicorn_serves_the_production_settings(static_root, tmp_path):
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env |= {
        "DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "kq3$Zp9!vT2@rLx8#Nw5^Bc7&Hm1*Fd4(Gs6)Jy0_Qe-Ua+Ro=Ii",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "DJANGO_STATIC_ROOT": str(static_root), "DJANGO_BEHIND_PROXY": "1",
        "DJANGO_SECURE_SSL_REDIRECT": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "PERSONA_STUDIO_VAR_DIR": str(tmp_path / "var"),
    }  # fmt: skip
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [gunicorn, "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                status, headers, _ = _get(f"{base}/healthz")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
                time.sleep(0.5)
        assert status == 200 and "script-src 'self'" in headers["Content-Security-Policy"]
        # Behind the TLS proxy (X-Forwarded-Proto), as in the reference deployment.
        status, headers, body = _get(f"{base}/accounts/login/", **{"X-Forwarded-Proto": "https"})
        assert status == 200, body[:2000]
        assert "style-src 'self'" in headers["Content-Security-Policy"]
        css = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', body.decode()).group(1)
        status, headers, _ = _get(base + css, **{"X-Forwarded-Proto": "https"})
        assert status == 200 and "immutable" in headers.get("Cache-Control", "")
        status, _, _ = _get(f"{base}/accounts/login/")
        assert status == 301  # plain HTTP is sent to HTTPS
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
