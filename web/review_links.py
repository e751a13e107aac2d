"""Client review links: share a persona's posts in a date range with a named external reviewer, list the
workspace's links, revoke one. The address is shown once, right after it is created."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError
from personas.selectors import persona_get, persona_list
from scheduler.review import link_selectors, links
from scheduler.selectors import localize
from web.shell import error_response, int_or_404, render_page, workspace_context

LINKS_LIMIT = 50


def _render(request: HttpRequest, *, status: int = 200, form: dict | None = None, shared_url: str = ""):
    ctx = workspace_context(request)
    if ctx.workspace is None:
        return render_page(request, "scheduler/no_workspace.html")
    today = timezone.now().date()
    rows = list(link_selectors.review_link_list(user=request.user, workspace_id=ctx.workspace.pk)
                .order_by("-created_at", "-id")[:LINKS_LIMIT])
    for link in rows:
        link.state = link_selectors.review_link_state(link)
    context = {
        "personas": list(persona_list(user=request.user, workspace_id=ctx.workspace.pk).order_by("name")[:200]),
        "links": rows,
        "shared_url": shared_url,
        "form": form or {"start": today.isoformat(), "end": (today + dt.timedelta(days=30)).isoformat(),
                         "expires": (today + dt.timedelta(days=14)).isoformat(), "reviewer_name": "",
                         "reviewer_email": "", "persona": ""},
    }
    return render_page(request, "web/review_links.html", context, status=status)


@login_required
@require_GET
def review_link_list(request: HttpRequest) -> HttpResponse:
    return _render(request)


@login_required
@require_POST
def review_link_create(request: HttpRequest) -> HttpResponse:
    if workspace_context(request).workspace is None:
        raise Http404("No workspace.")
    form = {name: request.POST.get(name, "").strip()
            for name in ("persona", "start", "end", "expires", "reviewer_name", "reviewer_email")}
    try:
        persona = persona_get(user=request.user, persona_id=int_or_404(form["persona"]))
        try:
            start, end, expires = (dt.date.fromisoformat(form[name]) for name in ("start", "end", "expires"))
        except ValueError:
            messages.error(request, "Enter the range's first and last day, and the day the link expires.")
            return _render(request, status=400, form=form)
        # Whole local days of the persona, the last day included; the link works until the end of its expiry day.
        start_at = localize(dt.datetime.combine(start, dt.time()), persona.timezone)
        end_at = localize(dt.datetime.combine(end + dt.timedelta(days=1), dt.time()), persona.timezone)
        expires_at = dt.datetime.combine(expires, dt.time(23, 59), tzinfo=dt.UTC)
        _link, token = links.review_link_create(
            actor=request.user, persona=persona, start=start_at, end=end_at, expires_at=expires_at,
            reviewer_name=form["reviewer_name"], reviewer_email=form["reviewer_email"],
        )
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: _render(request, status=status, form=form))
    url = request.build_absolute_uri(reverse("client_review", kwargs={"token": token}))
    messages.success(request, "Link created. Copy it now: it is shown only once.")
    return _render(request, status=201, shared_url=url)


@login_required
@require_POST
def review_link_revoke(request: HttpRequest, link_id: int) -> HttpResponse:
    try:
        link = link_selectors.review_link_get(user=request.user, link_id=link_id)
        links.review_link_revoke(actor=request.user, link_id=link.pk)
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: _render(request, status=status))
    messages.success(request, f"Link for {link.reviewer_name} revoked.")
    return redirect("review_link_list")
