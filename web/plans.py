"""Content plans: import a CSV or pasted rows, see which rows did not import and why, and follow one plan's
progress from queued jobs to drafts slotted in review."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError, ValidationFailed
from scheduler.drafting import plan_selectors, plans
from web.shell import error_response, render_page, use_workspace, workspace_context

PLANS_LIMIT = 30


def _render(request: HttpRequest, *, status: int = 200, rows: str = "", row_errors: list | None = None):
    ctx = workspace_context(request)
    if ctx.workspace is None:
        return render_page(request, "scheduler/no_workspace.html")
    recent = list(plan_selectors.content_plan_list(user=request.user, workspace_id=ctx.workspace.pk)[:PLANS_LIMIT])
    return render_page(request, "web/plans.html", {"plans": recent, "rows": rows, "row_errors": row_errors or [],
                                                   "columns": plans.COLUMNS}, status=status)


@login_required
@require_GET
def plan_list(request: HttpRequest) -> HttpResponse:
    return _render(request)


@login_required
@require_POST
def plan_import(request: HttpRequest) -> HttpResponse:
    ctx = workspace_context(request)
    if ctx.workspace is None:
        raise Http404("No workspace.")
    rows, upload = request.POST.get("rows", ""), request.FILES.get("file")
    try:
        if upload is not None:
            if upload.size > plans.MAX_TEXT_BYTES:
                raise ValidationFailed("The file is over 1 MB; split the plan.")
            try:
                text, name = upload.read().decode("utf-8-sig"), upload.name
            except UnicodeDecodeError:
                raise ValidationFailed("The file is not UTF-8 text; export the sheet as CSV (UTF-8).") from None
        else:
            text, name = rows, request.POST.get("name", "") or "Pasted rows"
        plan = plans.content_plan_import(actor=request.user, workspace_id=ctx.workspace.pk, text=text, name=name)
    except ApplicationError as exc:
        errors = exc.extra.get("errors", [])
        return error_response(request, exc, lambda status: _render(request, status=status, rows=rows,
                                                                   row_errors=errors))
    imported = plan_selectors.content_plan_imported(plan=plan)
    messages.success(request, f"{imported} of {plan.rows_total} rows imported"
                              + (f"; {len(plan.errors)} rows need fixing (listed below)." if plan.errors else "."))
    return redirect("plan_detail", plan_id=plan.pk)


@login_required
@require_GET
def plan_detail(request: HttpRequest, plan_id: int) -> HttpResponse:
    try:
        plan = plan_selectors.content_plan_get(user=request.user, plan_id=plan_id)
    except ApplicationError:
        raise Http404("Content plan not found.") from None
    use_workspace(request, plan.workspace_id)
    progress = plan_selectors.content_plan_progress(plan=plan)
    return render_page(request, "web/plan_detail.html", {"plan": plan, "progress": progress})
