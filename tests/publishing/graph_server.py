"""The publishing tests' platform double is the product's sandbox (publishing/sandbox/server.py): the server that
`make run` starts for people is the one these tests publish to. Helpers wire it in the way run_studio does."""

from __future__ import annotations

import os

from publishing.sandbox.server import GraphServer
from publishing.sandbox.wiring import WIRED_SETTINGS, sandbox_settings

__all__ = ["GraphServer", "sandbox_wire", "wiring_saved"]


def wiring_saved(settings, monkeypatch) -> None:
    """Every setting and environment variable the sandbox wiring may change comes back after the test (run_studio
    writes them into django.conf.settings and os.environ directly)."""
    for name in WIRED_SETTINGS:
        setattr(settings, name, getattr(settings, name, ""))
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)


def sandbox_wire(settings, server: GraphServer, *, studio_url: str) -> None:
    """The settings run_studio chooses for `server`, with callbacks and media URLs on `studio_url`."""
    settings.PUBLIC_BASE_URL = ""
    for name, value in sandbox_settings(sandbox_url=server.url, studio_url=studio_url).items():
        setattr(settings, name, value)
    settings.PUBLISHING_POLL_DELAYS = (0.01, 0.01, 0.01)
