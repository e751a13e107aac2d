"""`make run` and the publishing sandbox: with no real platform app configured, run_studio starts the sandbox and
points the platform settings (in this process and in the environment its workers inherit) at it, keeps a token key
in var/, and the demo persona's Instagram account is connected there once; real settings keep the real endpoints."""

from __future__ import annotations

import os

import pytest
import requests
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.core.management import call_command
from django.urls import reverse

from core.access import Role
from publishing.models import AccountStatus, ConnectedAccount, OAuthState
from publishing.sandbox.server import GraphServer
from publishing.sandbox.wiring import TOKEN_KEY_FILE, WIRED_SETTINGS
from tests.factories import MembershipFactory, PersonaFactory
from tests.publishing.graph_server import sandbox_wire, wiring_saved
from web import demo, tasks
from web.management.commands import run_studio
from web.models import DEMO_PERSONA_HANDLE

pytestmark = pytest.mark.django_db

STUDIO = "http://127.0.0.1:8765"


@pytest.fixture(autouse=True)
def _isolated(settings, monkeypatch, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    wiring_saved(settings, monkeypatch)
    settings.PUBLISHING_SANDBOX, settings.PUBLISHING_SANDBOX_PORT = True, 0
    for name in ("INSTAGRAM_APP_ID", "THREADS_APP_ID", "PUBLIC_BASE_URL", "PUBLISHING_TOKEN_KEYS",
                 "PUBLISHING_SANDBOX_URL"):
        setattr(settings, name, "")
    # The demo's slow part is queued, not run.
    monkeypatch.setattr(tasks.demo_workspace_fill, "delay", lambda pk: None)
    monkeypatch.setattr(tasks.demo_workspace_fill, "apply_async", lambda args, queue: None)


def run_studio_seen(monkeypatch) -> dict:
    """Run the command up to the web server; what the settings, environment and sandbox were when it started."""
    seen: dict = {}

    def call_command_seen(name, *args, **options):
        if name != "runserver":  # migrate: the test database is migrated already
            return
        seen["settings"] = {name: getattr(django_settings, name) for name in WIRED_SETTINGS}
        seen["env"] = {name: os.environ.get(name) for name in WIRED_SETTINGS}
        if django_settings.PUBLISHING_SANDBOX_URL:
            seen["index"] = requests.get(f"{django_settings.PUBLISHING_SANDBOX_URL}/", timeout=5)
        seen["accounts"] = list(ConnectedAccount.objects.values_list("username", "status"))

    monkeypatch.setattr(run_studio, "call_command", call_command_seen)
    call_command("run_studio", "--no-worker", "--port", "8765")
    return seen


def test_with_no_app_configured_run_studio_starts_the_sandbox_and_points_publishing_at_it(monkeypatch, settings,
                                                                                          capsys):
    seen = run_studio_seen(monkeypatch)

    wired = seen["settings"]
    sandbox = wired["PUBLISHING_SANDBOX_URL"]
    assert sandbox.startswith("http://127.0.0.1:")
    assert seen["index"].status_code == 200 and "Publishing sandbox" in seen["index"].text
    assert wired["INSTAGRAM_AUTH_URL"] == f"{sandbox}/instagram/oauth/authorize"
    assert wired["INSTAGRAM_OAUTH_BASE_URL"] == sandbox
    assert wired["INSTAGRAM_GRAPH_BASE_URL"] == f"{sandbox}/v23.0"
    assert wired["THREADS_GRAPH_BASE_URL"] == f"{sandbox}/v1.0"
    assert wired["INSTAGRAM_REDIRECT_URI"] == f"{STUDIO}/publishing/callback/instagram"
    assert wired["THREADS_REDIRECT_URI"] == f"{STUDIO}/publishing/callback/threads"
    assert wired["INSTAGRAM_APP_ID"] and wired["THREADS_APP_SECRET"]
    assert wired["PUBLIC_BASE_URL"] == STUDIO  # the sandbox fetches the images from the studio
    key = (settings.VAR_DIR / TOKEN_KEY_FILE).read_text().strip()
    assert wired["PUBLISHING_TOKEN_KEYS"] == key
    assert seen["env"] == wired  # the workers run_studio starts read the same
    # The demo persona is connected through the sandbox's consent page and the real code exchange.
    assert seen["accounts"] == [("sandbox_user", AccountStatus.CONNECTED)]
    out = capsys.readouterr().out
    assert f"Publishing sandbox: {sandbox}/" in out and f"publishing sandbox at {sandbox}/" in out
    with pytest.raises(requests.ConnectionError):  # stopped with the server
        requests.get(f"{sandbox}/", timeout=5)


def test_a_restart_keeps_the_token_key_and_the_demo_account(monkeypatch, settings):
    first = run_studio_seen(monkeypatch)
    for name in WIRED_SETTINGS:  # a fresh process: nothing of the first run's wiring
        setattr(settings, name, "" if name in ("INSTAGRAM_APP_ID", "THREADS_APP_ID", "PUBLIC_BASE_URL",
                                               "PUBLISHING_TOKEN_KEYS", "PUBLISHING_SANDBOX_URL")
                else getattr(settings, name))

    second = run_studio_seen(monkeypatch)

    assert second["settings"]["PUBLISHING_TOKEN_KEYS"] == first["settings"]["PUBLISHING_TOKEN_KEYS"]
    assert second["accounts"] == [("sandbox_user", AccountStatus.CONNECTED)]
    assert OAuthState.objects.count() == 1  # connected once: the restarted sandbox still knows its token


def test_real_platform_settings_keep_the_real_endpoints(monkeypatch, settings, capsys):
    settings.INSTAGRAM_APP_ID, settings.INSTAGRAM_APP_SECRET = "real-app", "real-secret"
    settings.INSTAGRAM_REDIRECT_URI = "https://studio.example.com/publishing/callback/instagram"
    settings.PUBLISHING_TOKEN_KEYS = "configured-key"
    before = {name: getattr(settings, name) for name in WIRED_SETTINGS}

    seen = run_studio_seen(monkeypatch)

    assert seen["settings"] == before
    assert "index" not in seen and seen["accounts"] == []
    assert "Publishing: real platform endpoints" in capsys.readouterr().out
    assert not (settings.VAR_DIR / TOKEN_KEY_FILE).exists()


def test_a_configured_public_url_is_kept(monkeypatch, settings):
    settings.PUBLIC_BASE_URL = "https://studio.example.com"
    assert run_studio_seen(monkeypatch)["settings"]["PUBLIC_BASE_URL"] == "https://studio.example.com"


def test_demo_seeding_connects_the_sandbox_account_once(settings):
    settings.PUBLISHING_TOKEN_KEYS = Fernet.generate_key().decode()
    sandbox = GraphServer().start()
    try:
        sandbox_wire(settings, sandbox, studio_url=STUDIO)
        demo.demo_workspace_ensure()
        demo.demo_workspace_ensure()
    finally:
        sandbox.stop()

    account = ConnectedAccount.objects.get()
    assert account.persona.handle == DEMO_PERSONA_HANDLE and account.platform == "instagram"
    assert (account.username, account.status) == ("sandbox_user", AccountStatus.CONNECTED)
    assert len(sandbox.calls("POST", "oauth/access_token")) == 1
    assert OAuthState.objects.get().used_at is not None


def test_without_the_sandbox_the_demo_connects_nothing():
    demo.demo_workspace_ensure()
    assert not ConnectedAccount.objects.exists()


def test_the_persona_page_lets_its_connect_forms_go_on_to_the_consent_page(client, settings):
    # Browsers hold a form's whole redirect chain to form-action: without the sandbox's origin "Connect" is blocked.
    sandbox = GraphServer().start()
    sandbox_wire(settings, sandbox, studio_url=STUDIO)
    membership = MembershipFactory(role=Role.MARKETER)
    persona = PersonaFactory(workspace=membership.workspace, created_by=membership.user)
    client.force_login(membership.user)

    response = client.get(reverse("personas:detail", args=[persona.pk]))

    sandbox.stop()
    policy = {part.split()[0]: part.split()[1:] for part in response["Content-Security-Policy"].split(";")}
    assert policy["form-action"] == ["'self'", sandbox.url]
    assert policy["script-src"] == ["'self'"] and policy["frame-ancestors"] == ["'none'"]
