"""Service-backed tests skip on a developer's machine without the service, and fail in CI (CI=true)."""

import pytest

from tests.services import service_unavailable


@pytest.mark.parametrize("value", ["", "false", "0"])
def test_outside_ci_a_missing_service_skips(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="Redis is not reachable"):
        service_unavailable("Redis is not reachable")


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_in_ci_a_missing_service_fails(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="Redis is not reachable; CI=true expects every service"):
        service_unavailable("Redis is not reachable")
