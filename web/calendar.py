"""The publishing calendar (month and week) and the schedule, reschedule and unschedule actions."""

from __future__ import annotations

import calendar as pycalendar
import datetime as dt
from collections import defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models.functions import Substr
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from config.exceptions import ApplicationError, ValidationFailed
from core.platforms import Platform
from personas.models import Persona
from scheduler import selectors
from scheduler import services as post_services
from scheduler.models import Post, PostStatus

from .presenters import CalendarPost, calendar_range, flag_conflicts, parse_date
from .shell import (
    error_response,
    page_url,
    persona_tz,
    safe_next,
    scoped_post,
    view_of_next,
    workspace_context,
    workspace_page,
)

CALENDAR_STATUSES = (PostStatus.SCHEDULED, PostStatus.EXPORTED, PostStatus.PUBLISHED)
CALENDAR_POSTS_LIMIT = 5000  # per period shown; tuples, so cheap
MONTH_CHIPS_PER_DAY = 4
CALENDAR_CAPTION_PREVIEW = 121  # the chips show 120 characters
WEEK_CHIPS_PER_DAY = 12
SCHEDULE_FORM_LIMIT = 20
NEXT_SLOT_PERSONAS_LIMIT = 3


def parse_local_datetime(value: str, zone_name: str) -> dt.datetime | None:
    """A datetime-local input ("2026-03-01T09:30") read as wall-clock time in the persona's timezone.

    Raises ValidationFailed for a wall time that a DST change skips.
    """
    try:
        naive = dt.datetime.fromisoformat(value.strip())
    except (AttributeError, ValueError):
        return None
    if naive.tzinfo is not None:
        return naive
    return selectors.localize(naive, zone_name)


def calendar_context(request: HttpRequest) -> dict:
    ctx = workspace_context(request)
    view = "week" if request.GET.get("view") == "week" else "month"
    persona_id = request.GET.get("persona") or ""
    persona_id = int(persona_id) if persona_id.isdigit() else None
    platform = request.GET.get("platform") or None
    if platform not in Platform.values:
        platform = None
    personas = list(Persona.objects.filter(workspace=ctx.workspace).order_by("name")[:200])
    selected = next((p for p in personas if p.pk == persona_id), None)
    now = timezone.now()
    today = now.astimezone(persona_tz(selected)).date() if selected else now.date()
    start = parse_date(request.GET.get("start"), today)
    first, last, previous, following = calendar_range(view, start)

    # Fetch a day of slack on each side: each post is placed on its persona's local date.
    window_start = dt.datetime.combine(first - dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    window_end = dt.datetime.combine(last + dt.timedelta(days=2), dt.time.min, tzinfo=dt.UTC)
    qs = Post.objects.filter(
        workspace=ctx.workspace,
        status__in=CALENDAR_STATUSES,
        scheduled_at__gte=window_start,
        scheduled_at__lt=window_end,
    )
    if selected:
        qs = qs.filter(persona=selected)
    if platform:
        qs = qs.filter(platform=platform)
    # Plain tuples with a caption preview, not model instances: every post of the period is counted per day and
    # checked for conflicts, and only the chips shown are rendered, so a busy month stays cheap.
    rows = list(
        qs.order_by("scheduled_at", "id")
        .annotate(caption_head=Substr("caption", 1, CALENDAR_CAPTION_PREVIEW))
        .values_list("id", "persona_id", "platform", "status", "scheduled_at", "caption_head")[:CALENDAR_POSTS_LIMIT]
    )
    truncated = len(rows) == CALENDAR_POSTS_LIMIT
    by_id = {p.pk: p for p in personas}
    missing = {row[1] for row in rows} - by_id.keys()
    if missing:  # only for workspaces with more personas than the filter lists
        by_id.update({p.pk: p for p in Persona.objects.filter(pk__in=missing)})
    posts = [CalendarPost(*row, persona=by_id[row[1]]) for row in rows]
    flag_conflicts(posts)
    by_day = defaultdict(list)
    zones = {}
    for post in posts:
        zone = zones.get(post.persona_id) or zones.setdefault(post.persona_id, persona_tz(post.persona))
        post.local_at = post.scheduled_at.astimezone(zone)
        by_day[post.local_at.date()].append(post)
    # A day cell shows a bounded number of chips (like Later or Planable) and links to the rest: what a
    # page renders stays bounded however many posts a workspace schedules.
    per_day = WEEK_CHIPS_PER_DAY if view == "week" else MONTH_CHIPS_PER_DAY
    marker = "987654321"  # reversed once; each chip fills in its id
    chip_urls = tuple(
        reverse(name, args=[int(marker)]).replace(marker, "{pk}")
        for name in ("post_reschedule_page", "post_unschedule_page")
    )
    days = []
    day = first
    while day <= last:
        day_posts = by_day.get(day, [])
        for post in day_posts[:per_day]:
            post.prepare(chip_urls)
        days.append({"date": day, "posts": day_posts[:per_day], "more": max(0, len(day_posts) - per_day),
                     "in_period": view == "week" or day.month == start.month, "today": day == today})
        day += dt.timedelta(days=1)
    weeks = [days[i : i + 7] for i in range(0, len(days), 7)]

    slot_personas = [selected] if selected else personas[:NEXT_SLOT_PERSONAS_LIMIT]
    next_slots = {}
    for persona in slot_personas:
        try:
            slot = selectors.next_free_slot(persona=persona, after=now)
        except ApplicationError:
            slot = None
        next_slots[persona.pk] = slot.astimezone(persona_tz(persona)) if slot else None

    approved_qs = Post.objects.filter(workspace=ctx.workspace, status=PostStatus.APPROVED).select_related("persona")
    if selected:
        approved_qs = approved_qs.filter(persona=selected)
    if platform:
        approved_qs = approved_qs.filter(platform=platform)
    approved = list(approved_qs.order_by("created_at", "id")[:SCHEDULE_FORM_LIMIT])
    for post in approved:
        suggestion = next_slots.get(post.persona_id)
        post.suggested_local = suggestion.strftime("%Y-%m-%dT%H:%M") if suggestion else ""

    def query(**overrides):
        params = {"view": view, "start": start.isoformat(), "persona": persona_id or "", "platform": platform or ""}
        params.update(overrides)
        return "&".join(f"{k}={v}" for k, v in params.items() if v)

    return {
        "view": view,
        "start": start,
        "first": first,
        "last": last,
        "weeks": weeks,
        "days": days,
        "posts": posts,
        "truncated": truncated,
        "conflict_count": sum(1 for p in posts if p.conflicts),
        "personas": personas,
        "selected_persona": selected,
        "selected_platform": platform,
        "next_slots": [(p, next_slots.get(p.pk)) for p in slot_personas],
        "approved": approved,
        "prev_query": query(start=previous.isoformat()),
        "next_query": query(start=following.isoformat()),
        "today_query": query(start=""),
        "month_query": query(view="month"),
        "week_query": query(view="week"),
        "filter_query": query(view="", start=""),
        "weekday_names": list(pycalendar.day_abbr),
        "here": page_url(request, "calendar"),
        # Week view: the selected persona's posting slots are drop targets that set the time as well.
        "slot_times": list(selected.posting_slots or []) if selected and view == "week" else [],
    }


def calendar_render(request: HttpRequest, *, status: int = 200) -> HttpResponse:
    return workspace_page(request, "scheduler/calendar.html", calendar_context, status=status)


@login_required
@require_GET
def calendar_page(request: HttpRequest) -> HttpResponse:
    return calendar_render(request)


def _schedule_action(request: HttpRequest, post_id: int, *, reschedule: bool) -> HttpResponse:
    post = scoped_post(request, post_id)
    tz = persona_tz(post.persona)
    try:
        when = parse_local_datetime(request.POST.get("scheduled_at", ""), post.persona.timezone)
        if when is None:
            raise ValidationFailed("Enter a date and time, e.g. 2026-03-01 09:30.")
        if reschedule:
            post_services.post_reschedule(actor=request.user, post_id=post.pk, scheduled_at=when)
        else:
            post_services.post_schedule(
                actor=request.user, post_id=post.pk, scheduled_at=when, comment=request.POST.get("comment", "")
            )
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: calendar_render(view_of_next(request), status=status))
    local = when.astimezone(tz).strftime("%a %d %b %Y %H:%M")
    messages.success(request, f"Post #{post.pk} scheduled for {local} ({post.persona.timezone}).")
    # Closer than the persona's minimum gap is allowed, but said out loud.
    for warning in selectors.calendar_conflicts(persona=post.persona, scheduled_at=when, exclude_post_id=post.pk):
        messages.warning(request, f"Conflict: {warning}")
    # What the bulk importers will make of this time, before an export stops on it.
    for warning in selectors.importer_warnings(post=post, scheduled_at=when):
        messages.warning(request, f"Export: {warning}")
    return redirect(safe_next(request, reverse("calendar")))


@login_required
@require_POST
def post_schedule(request: HttpRequest, post_id: int) -> HttpResponse:
    return _schedule_action(request, post_id, reschedule=False)


@login_required
@require_POST
def post_reschedule(request: HttpRequest, post_id: int) -> HttpResponse:
    return _schedule_action(request, post_id, reschedule=True)


@login_required
@require_POST
def post_unschedule(request: HttpRequest, post_id: int) -> HttpResponse:
    post = scoped_post(request, post_id)
    try:
        post_services.post_unschedule(actor=request.user, post_id=post.pk, comment=request.POST.get("comment", ""))
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: calendar_render(view_of_next(request), status=status))
    messages.success(request, f"Post #{post.pk} taken off the calendar; it is approved again.")
    return redirect(safe_next(request, reverse("calendar")))
