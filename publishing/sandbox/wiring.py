"""Pointing a development installation at the sandbox (`make run`): which settings change, a token key kept in the
var/ directory, and answering the consent page as a person would (the demo connects its account that way).

The sandbox is used only while no real platform app is configured: set INSTAGRAM_APP_ID (or THREADS_APP_ID) and
its secret and redirect URI, and the real endpoints are used; PUBLISHING_SANDBOX=0 turns it off altogether."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import requests
from cryptography.fernet import Fernet
from django.conf import settings

from publishing.sandbox.server import GraphServer

# Every setting the wiring may change (a test saves and restores them all).
WIRED_SETTINGS = (
    "PUBLISHING_SANDBOX_URL", "PUBLIC_BASE_URL", "PUBLISHING_TOKEN_KEYS",
    "INSTAGRAM_APP_ID", "INSTAGRAM_APP_SECRET", "INSTAGRAM_REDIRECT_URI", "INSTAGRAM_AUTH_URL",
    "INSTAGRAM_OAUTH_BASE_URL", "INSTAGRAM_GRAPH_BASE_URL",
    "THREADS_APP_ID", "THREADS_APP_SECRET", "THREADS_REDIRECT_URI", "THREADS_AUTH_URL", "THREADS_GRAPH_BASE_URL",
)
TOKEN_KEY_FILE = "publishing-token-key"
STATE_DIR = "publishing-sandbox"


def sandbox_wanted() -> bool:
    """True while no real platform app is configured (and the sandbox is not turned off)."""
    return bool(settings.PUBLISHING_SANDBOX) and not (settings.INSTAGRAM_APP_ID or settings.THREADS_APP_ID)


def local_host(host: str) -> str:
    # A server bound to every interface is still reached on the loopback address from this machine.
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host  # noqa: S104 - compared, not bound


def sandbox_start(*, host: str, var_dir: Path) -> GraphServer:
    """The sandbox on PUBLISHING_SANDBOX_PORT, fetching media as the platforms do, its state kept in var/."""
    return GraphServer(host=host, port=int(settings.PUBLISHING_SANDBOX_PORT), public_host=local_host(host),
                       fetch_media=True, state_dir=Path(var_dir) / STATE_DIR).start()


def sandbox_settings(*, sandbox_url: str, studio_url: str) -> dict[str, str]:
    """The settings that point both platforms at the sandbox and its callbacks at this studio."""
    values = {"PUBLISHING_SANDBOX_URL": sandbox_url}
    for platform, graph in (("INSTAGRAM", f"{sandbox_url}/v23.0"), ("THREADS", f"{sandbox_url}/v1.0")):
        values.update({
            f"{platform}_APP_ID": f"sandbox-{platform.lower()}-app", f"{platform}_APP_SECRET": "sandbox-secret",
            f"{platform}_REDIRECT_URI": f"{studio_url}/publishing/callback/{platform.lower()}",
            f"{platform}_AUTH_URL": f"{sandbox_url}/{platform.lower()}/oauth/authorize",
            f"{platform}_GRAPH_BASE_URL": graph,
        })
    values["INSTAGRAM_OAUTH_BASE_URL"] = sandbox_url
    if not settings.PUBLIC_BASE_URL:  # the sandbox fetches images from the studio itself
        values["PUBLIC_BASE_URL"] = studio_url
    return values


def token_key_ensure(*, var_dir: Path) -> dict[str, str]:
    """Without PUBLISHING_TOKEN_KEYS, a Fernet key kept in var/ (made once, so a restart still decrypts the tokens
    stored before it); the setting to apply, or nothing when one is configured."""
    if settings.PUBLISHING_TOKEN_KEYS:
        return {}
    path = Path(var_dir) / TOKEN_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Fernet.generate_key().decode() + "\n")
        path.chmod(0o600)
    return {"PUBLISHING_TOKEN_KEYS": path.read_text().strip()}


def settings_apply(values: dict[str, str]) -> None:
    """In this process and in the environment the workers it starts inherit (they read their settings from it)."""
    for name, value in values.items():
        setattr(settings, name, value)
        os.environ[name] = value


def consent_answer(*, authorize_url: str, allow: bool = True) -> dict[str, str]:
    """Open the sandbox's consent page and press Allow (or Deny): the query it sends the browser back with."""
    page = requests.get(authorize_url, timeout=settings.PUBLISHING_HTTP_TIMEOUT)
    page.raise_for_status()
    form = {name: values[-1] for name, values in parse_qs(urlparse(authorize_url).query).items()}
    form["decision"] = "allow" if allow else "deny"
    answer = requests.post(authorize_url.split("?")[0], data=form, allow_redirects=False,
                           timeout=settings.PUBLISHING_HTTP_TIMEOUT)
    location = answer.headers.get("Location", "")
    if answer.status_code != 302 or not location:
        raise ValueError(f"The sandbox's consent page answered HTTP {answer.status_code} without a redirect.")
    return {name: values[-1] for name, values in parse_qs(urlparse(location).query).items()}
