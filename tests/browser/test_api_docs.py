"""The API docs page works on a machine without internet access: Swagger UI is served by the project."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_api_docs_list_the_operations_with_the_network_cut_off(page, live_server, shoot):
    own = urlsplit(live_server.url).netloc
    blocked: list[str] = []

    def only_this_server(route):
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:  # anything beyond this machine: as on an offline host
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    page.context.route("**/*", only_this_server)
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto("/api/v1/docs/")
    page.locator(".opblock").first.wait_for()
    operations = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/posts/" in operations
    assert len(operations) > 20
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("Persona Studio API")
    shoot(page, "api-docs-offline")
    assert blocked == [], f"the docs page asked for third-party resources: {blocked}"
    assert failed == []
