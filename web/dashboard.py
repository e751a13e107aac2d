"""The dashboard: each persona's week and review counts, the latest publications (those that need someone first),
and the polled partial of running jobs."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from generation.selectors import runs_active
from publishing.selectors import workspace_publications
from scheduler.calendar_grid import scheduled_times
from scheduler.workspace_selectors import persona_post_counts
from web.fragments import render_fragments, row_values
from web.presenters import persona_week_rows, url_format
from web.publishing import publication_line, retry_url_format
from web.selectors.demo import demo_progress
from web.shell import current_workspace, render_page, workspace_context

DASHBOARD_PERSONAS_LIMIT = 50
DASHBOARD_PUBLICATIONS_LIMIT = 10


def dashboard_jobs_context(workspace_id: int) -> dict:
    lora, jobs = runs_active(workspace_id=workspace_id)
    return {"training_jobs": lora, "generation_jobs": jobs, "jobs_active": bool(lora or jobs)}


def persona_card_key(row: dict) -> list:
    """Every value a persona's card shows (web/fragments.py keys its cached rendering on them)."""
    return [row_values(row["persona"]), row["persona_url"], row["scheduled_this_week"], row["gaps"],
            [sorted(day.items()) for day in row["days"]]]


def dashboard_publications(workspace_id: int) -> list:
    """The latest publications with their status lines, failed and waiting ones first (one query)."""
    publications = workspace_publications(workspace_id=workspace_id, limit=DASHBOARD_PUBLICATIONS_LIMIT)
    retry, post_url = retry_url_format(), url_format("post_comments", "pk")
    for publication in publications:
        post = publication.post
        publication.line = publication_line(publication, persona=post.persona,
                                            platform_label=post.get_platform_display(),
                                            retry_url=retry.format(pk=post.pk))
        publication.post_url = post_url.format(pk=post.pk)
    return publications


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
    times = scheduled_times(
        user=request.user,
        workspace_id=ctx.workspace.pk,
        start=dt.datetime.combine(utc_today - dt.timedelta(days=8), dt.time.min, tzinfo=dt.UTC),
        end=dt.datetime.combine(utc_today + dt.timedelta(days=9), dt.time.min, tzinfo=dt.UTC),
    )
    rows = persona_week_rows(personas, times, now=now)
    cards = render_fragments(request, rows, template="scheduler/_dashboard_persona.html", name="dashboard-persona",
                             item_name="row", key_parts=persona_card_key,
                             context={"review_url": reverse("review_queue"), "calendar_url": reverse("calendar")})
    for row, html in zip(rows, cards, strict=True):
        row["card_html"] = html
    context = {"rows": rows, "personas_truncated": len(personas) == DASHBOARD_PERSONAS_LIMIT,
               "publications": dashboard_publications(ctx.workspace.pk), "here": reverse("dashboard")}
    context.update(dashboard_jobs_context(ctx.workspace.pk))
    context["demo"] = demo_progress(workspace=ctx.workspace)
    return render_page(request, "scheduler/dashboard.html", context)


@login_required
@require_GET
def dashboard_jobs(request: HttpRequest) -> HttpResponse:
    """The polled partial with running training and generation jobs."""
    workspace = current_workspace(request)
    return render_page(request, "scheduler/_dashboard_jobs.html", dashboard_jobs_context(workspace.pk))


@login_required
@require_GET
def dashboard_demo(request: HttpRequest) -> HttpResponse:
    """The polled demo seeding block; once the demo is ready the dashboard reloads, showing what it made."""
    demo = demo_progress(workspace=current_workspace(request))
    if demo is None:
        return HttpResponse(headers={"HX-Refresh": "true"})
    return render_page(request, "web/_demo_progress.html", {"demo": demo})
