""" "Was this made here?": the public page of the origin check (no account; shares the API's rate limit)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from core.errors import ApplicationError
from provenance.api.origin import OriginCheckThrottle
from provenance.checks.origin import upload_size_check
from provenance.checks.origin_selectors import origin_check
from web.shell import render_page

TEMPLATE = "scheduler/origin_check.html"


def _render(request: HttpRequest, context: dict, *, status: int = 200) -> HttpResponse:
    if request.user.is_authenticated:
        return render_page(request, TEMPLATE, context, status=status)
    return render(request, TEMPLATE, context, status=status)


@require_http_methods(["GET", "POST"])
def origin_check_page(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _render(request, {})
    throttle = OriginCheckThrottle()
    if not throttle.allow_request(request, None):
        wait = throttle.wait()
        minutes = max(1, round((wait or 60) / 60))
        return _render(request, {"error": f"Too many checks from here; try again in {minutes} min."}, status=429)
    upload = request.FILES.get("image")
    if upload is None:
        return _render(request, {"error": "Choose an image to check."}, status=400)
    try:
        upload_size_check(upload.size)
        result = origin_check(data=upload.read(), user=request.user)
    except ApplicationError as exc:
        return _render(request, {"error": exc.message}, status=exc.status)
    return _render(request, {"result": result, "filename": upload.name})
