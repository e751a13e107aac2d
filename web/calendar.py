"""The publishing calendar (month, week and day) and the schedule, reschedule and unschedule actions."""

from __future__ import annotations

import calendar as pycalendar
import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.text import Truncator
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError, ValidationFailed
from core.platforms import Platform
from personas.selectors import workspace_personas
from publishing.selectors import post_publications
from scheduler import selectors
from scheduler import services as post_services
from scheduler.calendar_grid import calendar_grid_entries
from scheduler.workspace_selectors import approved_posts
from web.fragments import render_fragments
from web.presenters import CalendarPost, calendar_days, calendar_range, parse_date, url_format
from web.publishing import publication_line, retry_url_format
from web.shell import (
    error_response,
    page_url,
    persona_tz,
    run_action,
    safe_next,
    scoped_post,
    view_of_next,
    workspace_context,
    workspace_page,
)

CALENDAR_POSTS_LIMIT = selectors.CALENDAR_ENTRIES_LIMIT
MONTH_CHIPS_PER_DAY = 4  # a busier day shows its counts in the month and its posts in the day view
CALENDAR_CAPTION_PREVIEW = 121  # the chips show 120 characters
WEEK_CHIPS_PER_DAY = 12
DAY_CHIPS_LIMIT = 200
CHIPS_PER_DAY = {"month": MONTH_CHIPS_PER_DAY, "week": WEEK_CHIPS_PER_DAY, "day": DAY_CHIPS_LIMIT}
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


def chip_publications_set(chips: list[CalendarPost]) -> None:
    """Each chip's publication status line: the publications of every chip shown, in one query."""
    publications = post_publications(post_ids=[chip.pk for chip in chips])
    retry = retry_url_format()
    for chip in chips:
        chip.publication = publication_line(publications.get(chip.pk), persona=chip.persona,
                                            platform_label=chip.get_platform_display(),
                                            retry_url=retry.format(pk=chip.pk))


def calendar_context(request: HttpRequest) -> dict:
    ctx = workspace_context(request)
    view = request.GET.get("view") if request.GET.get("view") in ("week", "day") else "month"
    persona_id = request.GET.get("persona") or ""
    persona_id = int(persona_id) if persona_id.isdigit() else None
    platform = request.GET.get("platform") or None
    if platform not in Platform.values:
        platform = None
    personas = workspace_personas(workspace_id=ctx.workspace.pk)
    selected = next((p for p in personas if p.pk == persona_id), None)
    now = timezone.now()
    today = now.astimezone(persona_tz(selected)).date() if selected else now.date()
    start = parse_date(request.GET.get("start"), today)
    first, last, previous, following = calendar_range(view, start)

    # The API's calendar (same posts, same local-date rule), as light rows: every post of the period is counted
    # per day and checked for conflicts (the rule scheduling warns with, scheduler.selectors.gap_conflicts, read
    # from the same rows), and only the chips shown are rendered, so a busy month stays cheap.
    # A day of slack on each side: each post is placed on its persona's local date.
    entries, conflicts = calendar_grid_entries(
        user=request.user,
        workspace_id=ctx.workspace.pk,
        start=dt.datetime.combine(first - dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC),
        end=dt.datetime.combine(last + dt.timedelta(days=2), dt.time.min, tzinfo=dt.UTC),
        persona_id=selected.pk if selected else None,
        platform=platform,
        personas={p.pk: p for p in personas},
        limit=CALENDAR_POSTS_LIMIT,
        caption_chars=CALENDAR_CAPTION_PREVIEW,
    )
    days = calendar_days(
        entries, conflicts, first=first, last=last, today=today, month=start.month if view == "month" else None,
        per_day=CHIPS_PER_DAY[view], count_only_over=MONTH_CHIPS_PER_DAY if view == "month" else None,
    )  # fmt: skip
    weeks = [days[i : i + 7] for i in range(0, len(days), 7)]
    here = page_url(request, "calendar")
    chips = [chip for day in days for chip in day["posts"]]
    chip_publications_set(chips)
    chip_context = {"here": here, "can_publish": ctx.can_publish}
    for chip, html in zip(chips, render_fragments(request, chips, template="scheduler/_cal_post.html", name="cal-chip",
                                                  context=chip_context, key_parts=CalendarPost.card_key,
                                                  includes=("publishing/_status_line.html",)),
                          strict=True):
        chip.card_html = html

    slot_personas = [selected] if selected else personas[:NEXT_SLOT_PERSONAS_LIMIT]
    free = selectors.next_free_slots(personas=slot_personas, after=now)
    next_slots = {p.pk: free[p.pk].astimezone(persona_tz(p)) if free[p.pk] else None for p in slot_personas}
    approved = approved_posts(workspace_id=ctx.workspace.pk, persona_id=selected.pk if selected else None,
                              platform=platform, limit=SCHEDULE_FORM_LIMIT, personas={p.pk: p for p in personas})
    schedule_url = url_format("post_schedule_page", "pk")
    for post in approved:
        suggestion = next_slots.get(post.persona_id)
        post.suggested_local = suggestion.strftime("%Y-%m-%dT%H:%M") if suggestion else ""
        post.schedule_url = schedule_url.format(pk=post.pk)
        post.caption_preview = Truncator(post.caption).chars(100)  # the truncatechars filter, without the template

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
        "posts": chips,  # the chips shown (a busy day in the month shows only its counts)
        "post_count": len(entries),
        "truncated": len(entries) == CALENDAR_POSTS_LIMIT,
        "conflict_count": sum(1 for entry in entries if entry.pk in conflicts),
        "personas": personas,
        "selected_persona": selected,
        "selected_platform": platform,
        # Each slot as the date filter's "c" and "D j M H:i" would show it, in the persona's zone.
        "next_slots": [(p, slot and slot.isoformat(), slot and f"{slot:%a} {slot.day} {slot:%b %H:%M}")
                       for p, slot in ((p, next_slots.get(p.pk)) for p in slot_personas)],
        "approved": approved,
        "prev_query": query(start=previous.isoformat()),
        "next_query": query(start=following.isoformat()),
        "today_query": query(start=""),
        "month_query": query(view="month"),
        "week_query": query(view="week"),
        "day_query": query(view="day"),
        "filter_query": query(view="", start=""),
        "weekday_names": list(pycalendar.day_abbr),
        "here": here,
        # Week and day views: the selected persona's posting slots are drop targets that set the time as well.
        "slot_times": list(selected.posting_slots or []) if selected and view != "month" else [],
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
    return run_action(
        request,
        lambda: post_services.post_unschedule(actor=request.user, post_id=post.pk,
                                              comment=request.POST.get("comment", "")),
        done=f"Post #{post.pk} taken off the calendar; it is approved again.",
        rerender=lambda status: calendar_render(view_of_next(request), status=status),
        back=reverse("calendar"),
    )
