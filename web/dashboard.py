"""The dashboard: each persona's week and review counts, and the polled partial of running jobs."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from generation.models import GenerationJob, JobStatus, LoraVersion
from personas.models import Persona
from scheduler.models import Post, PostStatus

from .shell import persona_tz, render_page, workspace_context

ACTIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
CALENDAR_STATUSES = (PostStatus.SCHEDULED, PostStatus.EXPORTED, PostStatus.PUBLISHED)
DASHBOARD_PERSONAS_LIMIT = 50


def dashboard_jobs_context(workspace_id: int) -> dict:
    lora = list(
        LoraVersion.objects.filter(persona__workspace_id=workspace_id, status__in=ACTIVE_JOB_STATUSES)
        .select_related("persona")
        .order_by("created_at")[:20]
    )
    jobs = list(
        GenerationJob.objects.filter(persona__workspace_id=workspace_id, status__in=ACTIVE_JOB_STATUSES)
        .select_related("persona")
        .order_by("created_at")[:20]
    )
    return {"training_jobs": lora, "generation_jobs": jobs, "jobs_active": bool(lora or jobs)}


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    ctx = workspace_context(request)
    if ctx.workspace is None:
        return render_page(request, "scheduler/no_workspace.html")
    personas = list(
        Persona.objects.filter(workspace=ctx.workspace)
        .annotate(
            in_review=Count("posts", filter=Q(posts__status=PostStatus.IN_REVIEW)),
            drafts=Count("posts", filter=Q(posts__status__in=[PostStatus.DRAFT, PostStatus.CHANGES_REQUESTED])),
            approved=Count("posts", filter=Q(posts__status=PostStatus.APPROVED)),
        )
        .order_by("name")[:DASHBOARD_PERSONAS_LIMIT]
    )
    now = timezone.now()
    # One query for every persona's week; each persona's week is then cut in its own timezone.
    utc_today = now.date()
    window_start = dt.datetime.combine(utc_today - dt.timedelta(days=8), dt.time.min, tzinfo=dt.UTC)
    window_end = dt.datetime.combine(utc_today + dt.timedelta(days=9), dt.time.min, tzinfo=dt.UTC)
    scheduled = defaultdict(list)
    for persona_id, when in Post.objects.filter(
        workspace=ctx.workspace,
        status__in=CALENDAR_STATUSES,
        scheduled_at__gte=window_start,
        scheduled_at__lt=window_end,
    ).values_list("persona_id", "scheduled_at"):
        scheduled[persona_id].append(when)
    rows = []
    for persona in personas:
        tz = persona_tz(persona)
        today = now.astimezone(tz).date()
        monday = today - dt.timedelta(days=today.weekday())
        week = [monday + dt.timedelta(days=i) for i in range(7)]
        local_days = [when.astimezone(tz).date() for when in scheduled[persona.pk]]
        per_day = {day: local_days.count(day) for day in week}
        days = [{"date": day, "count": per_day[day], "past": day < today, "today": day == today} for day in week]
        rows.append(
            {
                "persona": persona,
                "scheduled_this_week": sum(per_day.values()),
                "days": days,
                "gaps": [d["date"] for d in days if d["count"] == 0 and not d["past"]],
            }
        )
    context = {"rows": rows, "personas_truncated": len(personas) == DASHBOARD_PERSONAS_LIMIT}
    context.update(dashboard_jobs_context(ctx.workspace.pk))
    return render_page(request, "scheduler/dashboard.html", context)


@login_required
@require_GET
def dashboard_jobs(request: HttpRequest) -> HttpResponse:
    """The polled partial with running training and generation jobs."""
    ctx = workspace_context(request)
    if ctx.workspace is None:
        raise Http404("No workspace.")
    return render_page(request, "scheduler/_dashboard_jobs.html", dashboard_jobs_context(ctx.workspace.pk))
