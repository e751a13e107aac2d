"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright against pytest-django's live server.

The live server runs in a thread of this process, so with CELERY_TASK_ALWAYS_EAGER generation and export
bundles are built inline during the request that queues them; the pages then find the jobs finished.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.services import service_unavailable

# Playwright's sync API keeps an asyncio loop in this thread; the ORM calls the tests make are still sync.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("PERSONA_STUDIO_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright import sync_api
    except ImportError:
        service_unavailable("playwright is missing: pip install -e '.[test]' installs it")
    if not CHROMIUM.exists():
        service_unavailable(f"{CHROMIUM} is missing: `make browser-deps` installs Debian's chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900},
                                  accept_downloads=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Chromium reports each Content-Security-Policy violation (a blocked inline script, style or origin) here.
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the pages: {errors}"
    assert not violations, f"Content-Security-Policy violations on the pages: {violations}"


@pytest.fixture
def shoot():
    """shoot(page, "name") saves a full-page screenshot into test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
