"""Liveness and readiness endpoints for load balancers and orchestrators (no session, no sign-in)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from generation.runtime.health import readiness


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers requests. Reaches nothing else, so a database outage never restarts it."""
    return JsonResponse({"ok": True})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database, broker, media storage and a recent GPU worker heartbeat are all there,
    else 503; each check is reported with its detail and how long it took."""
    checks = readiness()
    ok = all(check.ok for check in checks)
    return JsonResponse({"ok": ok, "checks": {check.name: check.as_dict() for check in checks}},
                        status=200 if ok else 503)
