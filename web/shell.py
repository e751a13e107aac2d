"""The page shell every page module shares: the current workspace, rendering, errors shown as a message and a
4xx, objects scoped to the user's workspaces (404, never 403), and the `next` URL of a page's forms.

Pages stay thin: parse the form, call a service, turn an ApplicationError into a message and a 4xx.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from core.access import AUTHOR_ROLES, REVIEWER_ROLES, SCHEDULER_ROLES, role_allows
from core.errors import ApplicationError, NotFound
from core.platforms import Platform
from generation import selectors as generation_selectors
from personas.models import Membership, Persona
from personas.selectors import memberships_for_user, persona_in_workspaces
from scheduler.models import Post
from scheduler.selectors import persona_zone
from scheduler.workspace_selectors import post_in_workspaces

WORKSPACE_SESSION_KEY = "workspace_id"


@dataclass
class WorkspaceContext:
    """The user's memberships (one query) and the workspace the pages currently show."""

    memberships: list[Membership] = field(default_factory=list)
    membership: Membership | None = None
    user: Any = None

    @property
    def workspace(self):
        return self.membership.workspace if self.membership else None

    @property
    def workspace_ids(self) -> list[int]:
        return [m.workspace_id for m in self.memberships]

    @property
    def role(self) -> str | None:
        return self.membership.role if self.membership else None

    @property
    def can_review(self) -> bool:  # what the page offers; the services decide again by the same rule
        return role_allows(user=self.user, role=self.role, roles=REVIEWER_ROLES)

    @property
    def can_create(self) -> bool:
        return role_allows(user=self.user, role=self.role, roles=AUTHOR_ROLES)

    @property
    def can_publish(self) -> bool:  # connect and disconnect accounts, retry a publication (publishing's rule)
        return role_allows(user=self.user, role=self.role, roles=SCHEDULER_ROLES)

    def membership_for(self, workspace_id: int) -> Membership | None:
        return next((m for m in self.memberships if m.workspace_id == workspace_id), None)


def workspace_context(request: HttpRequest) -> WorkspaceContext:
    """Resolve the current workspace: ?workspace=<id> (remembered in the session), else the session's, else the first.

    Cached on the request so a view and its helpers share one query.
    """
    cached = getattr(request, "_workspace_context", None)
    if cached is not None:
        return cached
    memberships = memberships_for_user(user=request.user)
    ctx = WorkspaceContext(memberships=memberships, user=request.user)
    wanted = request.GET.get("workspace")
    chosen = None
    if wanted and wanted.isdigit():
        chosen = ctx.membership_for(int(wanted))
        if chosen is not None and request.session.get(WORKSPACE_SESSION_KEY) != chosen.workspace_id:
            request.session[WORKSPACE_SESSION_KEY] = chosen.workspace_id
    if chosen is None:
        stored = request.session.get(WORKSPACE_SESSION_KEY)
        chosen = ctx.membership_for(stored) if isinstance(stored, int) else None
    if chosen is None and memberships:
        chosen = memberships[0]
    ctx.membership = chosen
    request._workspace_context = ctx
    return ctx


def use_workspace(request: HttpRequest, workspace_id: int) -> WorkspaceContext:
    """Switch the current workspace to the one an object lives in (the caller already checked membership)."""
    ctx = workspace_context(request)
    membership = ctx.membership_for(workspace_id)
    if membership is not None and ctx.membership != membership:
        ctx.membership = membership
        request.session[WORKSPACE_SESSION_KEY] = workspace_id
    return ctx


def render_page(request: HttpRequest, template: str, context: dict | None = None, *, status: int = 200):
    page_context = {"ws": workspace_context(request), "platforms": Platform.choices}
    page_context.update(context or {})
    return render(request, template, page_context, status=status)


def error_response(request: HttpRequest, exc: ApplicationError, rerender) -> HttpResponse:
    """Show the service's message on the page the form came from, with the error's 4xx status."""
    if isinstance(exc, NotFound):
        raise Http404(exc.message)
    messages.error(request, exc.message)
    return rerender(status=exc.status)


def form_errors_from(form: forms.Form, exc: ApplicationError) -> None:
    """Attach a service's per-field messages (extra={"fields": {name: [...]}}) to the form's fields."""
    for name, problems in (exc.extra.get("fields") or {}).items():
        for problem in problems if isinstance(problems, list | tuple) else [problems]:
            form.add_error(name if name in form.fields else None, str(problem))


def int_or_404(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("Not found.") from None


def scoped_persona(request: HttpRequest, persona_id: int, *, with_base_model: bool = False) -> Persona:
    """A persona of one of the user's workspaces, else 404; the page then shows that workspace. `with_base_model`:
    with its `current_base_model` loaded in the same query."""
    find = generation_selectors.persona_with_base_model if with_base_model else persona_in_workspaces
    persona = find(persona_id=persona_id, workspace_ids=workspace_context(request).workspace_ids)
    return _shown(request, persona, "Persona")


def _shown(request: HttpRequest, row, what: str):
    """`row` (a persona or a post of the user's, or None), else 404; the page then shows its workspace."""
    if row is None:
        raise Http404(f"{what} not found.")
    use_workspace(request, row.workspace_id)
    return row


def persona_tz(persona: Persona) -> zoneinfo.ZoneInfo:
    return persona_zone(persona)


def safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


def page_url(request: HttpRequest, name: str) -> str:
    """This page with its current filters: the `next` of its forms, also when it is re-rendered by a POST."""
    query = request.GET.urlencode()
    return reverse(name) + (f"?{query}" if query else "")


def view_of_next(request: HttpRequest) -> HttpRequest:
    """Read the page's filters (calendar week, persona, review layout...) from the form's `next` URL.

    A failed POST re-renders the page it came from with its 4xx status; without this the page would
    fall back to its defaults and lose the marketer's place.
    """
    target = safe_next(request, "")
    if target:
        request.GET = QueryDict(urlsplit(target).query)
    return request


def scoped_post(request: HttpRequest, post_id: int) -> Post:
    """A post of one of the user's workspaces (with its persona), else 404."""
    return _shown(request, post_in_workspaces(post_id=post_id, workspace_ids=workspace_context(request).workspace_ids),
                  "Post")


def current_workspace(request: HttpRequest):
    """The workspace the pages show; 404 for a user in none (a partial or an action needs one)."""
    workspace = workspace_context(request).workspace
    if workspace is None:
        raise Http404("No workspace.")
    return workspace


def run_action(request: HttpRequest, call, *, done: str, rerender, back: str) -> HttpResponse:
    """A form's action: `call()` runs its service; then the message `done` and back to the form's `next` (else
    `back`), or on an ApplicationError `rerender(status=...)` shows the page again with the message and its 4xx."""
    try:
        call()
    except ApplicationError as exc:
        return error_response(request, exc, rerender)
    messages.success(request, done)
    return redirect(safe_next(request, back))


def workspace_page(request: HttpRequest, template: str, context_for, *, status: int) -> HttpResponse:
    """A page that needs a current workspace: without one, say so instead of rendering empty lists."""
    if workspace_context(request).workspace is None:
        return render_page(request, "scheduler/no_workspace.html")
    return render_page(request, template, context_for(request), status=status)
