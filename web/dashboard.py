"""The dashboard: each persona's week and review counts, and the polled partial of running jobs."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from generation.selectors import runs_active
from scheduler.selectors import calendar_entries
from scheduler.workspace_selectors import persona_post_counts
from web.presenters import persona_week_rows
from web.shell import current_workspace, render_page, workspace_context

DASHBOARD_PERSONAS_LIMIT = 50


def dashboard_jobs_context(workspace_id: int) -> dict:
    lora, jobs = runs_active(workspace_id=workspace_id)
    return {"training_jobs": lora, "generation_jobs": jobs, "jobs_active": bool(lora or jobs)}


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    ctx = workspace_context(request)
    if ctx.workspace is None:
        return render_page(request, "scheduler/no_workspace.html")
    personas = persona_post_counts(workspace_id=ctx.workspace.pk, limit=DASHBOARD_PERSONAS_LIMIT)
    now = timezone.now()
    # One query for every persona's week (a day of slack each side); each week is then cut in its persona's zone.
    utc_today = now.date()
    entries = calendar_entries(
        user=request.user,
        workspace_id=ctx.workspace.pk,
        start=dt.datetime.combine(utc_today - dt.timedelta(days=8), dt.time.min, tzinfo=dt.UTC),
        end=dt.datetime.combine(utc_today + dt.timedelta(days=9), dt.time.min, tzinfo=dt.UTC),
        personas={p.pk: p for p in personas},
    )
    context = {
        "rows": persona_week_rows(personas, entries, now=now),
        "personas_truncated": len(personas) == DASHBOARD_PERSONAS_LIMIT,
    }
    context.update(dashboard_jobs_context(ctx.workspace.pk))
    return render_page(request, "scheduler/dashboard.html", context)


@login_required
@require_GET
def dashboard_jobs(request: HttpRequest) -> HttpResponse:
    """The polled partial with running training and generation jobs."""
    workspace = current_workspace(request)
    return render_page(request, "scheduler/_dashboard_jobs.html", dashboard_jobs_context(workspace.pk))
