"""Service-backed tests (PostgreSQL, Redis, SeaweedFS, Chromium): skip with a reason on a developer's machine
where a service is missing, but fail in CI (CI=true), where every service is expected to run."""

from __future__ import annotations

import os

import pytest
from kombu import pools


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def service_unavailable(reason: str) -> None:
    """Skip (or, in CI, fail) the current test because a service it needs cannot be reached."""
    if in_ci():
        pytest.fail(f"{reason}; CI=true expects every service to be reachable", pytrace=False)
    pytest.skip(reason)


def broker_pools_reset(app) -> None:
    """Drop every pooled broker connection and producer. kombu keeps them in process-wide registries keyed by
    the broker URL, so closing only the app's pool would leave a closed pool there for the next test to acquire."""
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
