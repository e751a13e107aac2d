"""Server-rendered pages: dashboard, review queue, calendar and exports.

Views stay thin: parse the form, call a service, turn an ApplicationError into a message and a 4xx.
Every list is bounded so that each page costs a fixed number of queries whatever the number of posts.
"""

from __future__ import annotations

import calendar as pycalendar
import datetime as dt
import json
import zipfile
import zoneinfo
from collections import defaultdict
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Substr
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from config.exceptions import ApplicationError, ValidationFailed
from core import platforms
from core.platforms import Platform
from generation.models import GenerationJob, JobStatus, LoraVersion
from personas.models import Persona
from personas.views import error_response, int_or_404, render_page, use_workspace, workspace_context

from . import export_selectors, exports, selectors, services
from .models import ExportStatus, Post, PostStatus, PostTransition

try:  # helper G's provenance checker; the page falls back to the manifest summary without it
    from .verify import bundle_verify
except ImportError:  # pragma: no cover - depends on the optional module being present
    bundle_verify = None

ACTIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
CALENDAR_STATUSES = (PostStatus.SCHEDULED, PostStatus.EXPORTED, PostStatus.PUBLISHED)
DASHBOARD_PERSONAS_LIMIT = 50
REVIEW_PAGE_SIZE = 20
DRAFTS_LIMIT = 20
CALENDAR_POSTS_LIMIT = 5000  # per period shown; tuples, so cheap
MONTH_CHIPS_PER_DAY = 4
CALENDAR_CAPTION_PREVIEW = 121  # the chips show 120 characters
WEEK_CHIPS_PER_DAY = 12
SCHEDULE_FORM_LIMIT = 20
NEXT_SLOT_PERSONAS_LIMIT = 3
EXPORTS_LIMIT = 20
BULK_APPROVE_LIMIT = 100


def persona_tz(persona: Persona) -> zoneinfo.ZoneInfo:
    return selectors.persona_zone(persona)


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
    ctx = workspace_context(request)
    post = Post.objects.select_related("persona").filter(pk=post_id, workspace_id__in=ctx.workspace_ids).first()
    if post is None:
        raise Http404("Post not found.")
    use_workspace(request, post.workspace_id)
    return post


def platform_limits() -> dict:
    """The caption rules the live counters read (core.platforms is the single source; the server re-validates)."""
    return {
        value: {
            "label": rule.label,
            "caption_max": rule.caption_max,
            "hashtags_max": rule.hashtags_max,
            "weighted": rule.weighted,
            "url_weight": platforms.X_URL_WEIGHT,
        }
        for value, rule in platforms.PLATFORM_RULES.items()
    }


def caption_stats(post: Post) -> None:
    """Length and hashtag count as published (caption + hashtags), for the counters' first paint."""
    text = platforms.text_as_posted(post.caption, post.hashtags)
    rule = platforms.rule_for(post.platform)
    post.caption_length = platforms.caption_length(post.platform, text)
    post.caption_max = rule.caption_max
    post.hashtag_count = len(platforms.hashtags_in(text))
    post.hashtags_max = rule.hashtags_max
    post.hashtags_text = " ".join(post.hashtags or [])


# --- dashboard -----------------------------------------------------------------------------------------------


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


# --- review queue --------------------------------------------------------------------------------------------


def review_context(request: HttpRequest) -> dict:
    ctx = workspace_context(request)
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    layout = "grid" if request.GET.get("layout") == "grid" else "single"
    persona_param = request.GET.get("persona") or ""
    persona_id = int(persona_param) if persona_param.isdigit() else None
    offset = (page - 1) * REVIEW_PAGE_SIZE
    queue = (
        selectors.review_queue(user=request.user)
        .filter(workspace=ctx.workspace)
        .prefetch_related(
            Prefetch("transitions", queryset=PostTransition.objects.select_related("actor").order_by("created_at"))
        )
    )
    if persona_id is not None:
        queue = queue.filter(persona_id=persona_id)
    # One row more than the page tells whether a next page exists without a COUNT query.
    posts = list(queue[offset : offset + REVIEW_PAGE_SIZE + 1])
    has_next = len(posts) > REVIEW_PAGE_SIZE
    posts = posts[:REVIEW_PAGE_SIZE]
    for post in posts:
        post.problems = selectors.validate_post_for_platform(post=post)
        post.local_target = selectors.local_time(post.scheduled_at, post.persona)
        caption_stats(post)
    # The reviewer's last "request changes" comment rides along in the same query.
    change_request = PostTransition.objects.filter(
        post=OuterRef("pk"), to_status=PostStatus.CHANGES_REQUESTED
    ).order_by("-created_at", "-id")
    drafts_qs = (
        Post.objects.filter(workspace=ctx.workspace, status__in=[PostStatus.DRAFT, PostStatus.CHANGES_REQUESTED])
        .select_related("persona")
        .annotate(
            change_comment=Subquery(change_request.values("comment")[:1]),
            change_by=Subquery(change_request.values("actor__username")[:1]),
        )
    )
    if persona_id is not None:
        drafts_qs = drafts_qs.filter(persona_id=persona_id)
    drafts = list(drafts_qs.order_by("-updated_at", "-id")[:DRAFTS_LIMIT])
    for post in drafts:
        caption_stats(post)

    def query(**overrides) -> str:
        params = {"layout": layout, "persona": persona_id or "", "page": page}
        params.update(overrides)
        return "&".join(f"{k}={v}" for k, v in params.items() if v)

    return {
        "posts": posts,
        "page": page,
        "has_next": has_next,
        "has_previous": page > 1,
        "drafts": drafts,
        "layout": layout,
        "persona_id": persona_id,
        "review_personas": list(Persona.objects.filter(workspace=ctx.workspace).order_by("name")[:200]),
        "platform_limits": platform_limits(),
        "here": page_url(request, "review_queue"),
        "single_query": query(layout="single"),
        "grid_query": query(layout="grid"),
        "prev_query": query(page=page - 1),
        "next_query": query(page=page + 1),
    }


def _workspace_page(request: HttpRequest, template: str, context_for, *, status: int) -> HttpResponse:
    """A page that needs a current workspace: without one, say so instead of rendering empty lists."""
    if workspace_context(request).workspace is None:
        return render_page(request, "scheduler/no_workspace.html")
    return render_page(request, template, context_for(request), status=status)


def review_render(request: HttpRequest, *, status: int = 200) -> HttpResponse:
    return _workspace_page(request, "scheduler/review_queue.html", review_context, status=status)


@login_required
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    return review_render(request)


REVIEW_ACTIONS = {
    "approve": (services.post_approve, "Post approved."),
    "request_changes": (services.post_request_changes, "Changes requested."),
    "reject": (services.post_reject, "Post rejected."),
}


@login_required
@require_POST
def review_decide(request: HttpRequest, post_id: int) -> HttpResponse:
    post = scoped_post(request, post_id)
    action = REVIEW_ACTIONS.get(request.POST.get("action", ""))
    if action is None:
        messages.error(request, "Choose approve, request changes or reject.")
        return review_render(view_of_next(request), status=400)
    service, done = action
    try:
        service(actor=request.user, post_id=post.pk, comment=request.POST.get("comment", "").strip())
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: review_render(view_of_next(request), status=status))
    messages.success(request, f"{done} (post #{post.pk}, {post.persona.name})")
    return redirect(safe_next(request, reverse("review_queue")))


@login_required
@require_POST
def post_submit(request: HttpRequest, post_id: int) -> HttpResponse:
    post = scoped_post(request, post_id)
    try:
        services.post_submit(actor=request.user, post_id=post.pk, comment=request.POST.get("comment", "").strip())
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: review_render(view_of_next(request), status=status))
    messages.success(request, f"Post #{post.pk} submitted for review.")
    return redirect(safe_next(request, reverse("review_queue")))


@login_required
@require_POST
def review_bulk_approve(request: HttpRequest) -> HttpResponse:
    """Approve each ticked post through post_approve; one bad post never blocks the others."""
    ctx = workspace_context(request)
    ids = list(dict.fromkeys(int(v) for v in request.POST.getlist("posts") if v.isdigit()))[:BULK_APPROVE_LIMIT]
    if not ids:
        messages.error(request, "Tick at least one post to approve.")
        return review_render(view_of_next(request), status=400)
    # Only posts of the user's workspaces are tried; any other id reads as "not found", like a 404.
    known = set(Post.objects.filter(pk__in=ids, workspace_id__in=ctx.workspace_ids).values_list("pk", flat=True))
    approved, failed = [], []
    comment = request.POST.get("comment", "").strip()
    for post_id in ids:
        if post_id not in known:
            failed.append(f"Post #{post_id}: not found.")
            continue
        try:
            services.post_approve(actor=request.user, post_id=post_id, comment=comment)
        except ApplicationError as exc:
            failed.append(f"Post #{post_id}: {exc.message}")
        else:
            approved.append(post_id)
    if approved:
        messages.success(request, f"Approved {len(approved)} of {len(ids)} post(s): " + ", ".join(
            f"#{pk}" for pk in approved) + ".")
    for problem in failed:
        messages.error(request, problem)
    return redirect(safe_next(request, reverse("review_queue")))


@login_required
@require_POST
def post_caption(request: HttpRequest, post_id: int) -> HttpResponse:
    """Save a draft's caption and hashtags (post_update validates state and role)."""
    post = scoped_post(request, post_id)
    hashtags = [tag for tag in request.POST.get("hashtags", "").replace(",", " ").split() if tag]
    try:
        services.post_update(actor=request.user, post=post, caption=request.POST.get("caption", ""),
                             hashtags=hashtags)
        problems = selectors.validate_post_for_platform(post=Post.objects.get(pk=post.pk))
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: review_render(view_of_next(request), status=status))
    messages.success(request, f"Caption of post #{post.pk} saved.")
    for problem in problems:
        messages.warning(request, f"Post #{post.pk}: {problem}")
    return redirect(safe_next(request, reverse("review_queue")))


# --- calendar ------------------------------------------------------------------------------------------------


def parse_date(value: str | None, default: dt.date) -> dt.date:
    try:
        parsed = dt.date.fromisoformat(value) if value else default
    except ValueError:
        return default
    # Far-off years would overflow the grid arithmetic; nobody plans posts there.
    return parsed if 1900 <= parsed.year <= 9000 else default


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


def calendar_range(view: str, start: dt.date) -> tuple[dt.date, dt.date, dt.date, dt.date]:
    """(first, last) day shown and the (previous, next) period starts."""
    if view == "week":
        first = start - dt.timedelta(days=start.weekday())
        return first, first + dt.timedelta(days=6), first - dt.timedelta(days=7), first + dt.timedelta(days=7)
    month_first = start.replace(day=1)
    days_in_month = pycalendar.monthrange(month_first.year, month_first.month)[1]
    month_last = month_first.replace(day=days_in_month)
    first = month_first - dt.timedelta(days=month_first.weekday())
    last = month_last + dt.timedelta(days=6 - month_last.weekday())
    previous = (month_first - dt.timedelta(days=1)).replace(day=1)
    return first, last, previous, month_last + dt.timedelta(days=1)


PLATFORM_LABELS = dict(Platform.choices)
STATUS_LABELS = dict(PostStatus.choices)


class CalendarPost:
    """What a calendar chip shows of a post, built from one values_list row (no model instance)."""

    __slots__ = ("pk", "persona_id", "platform", "status", "scheduled_at", "caption", "persona", "local_at",
                 "conflicts", "local_hm", "local_input", "local_label", "utc_iso", "caption_preview",
                 "reschedule_url", "unschedule_url")

    def __init__(self, pk, persona_id, platform, status, scheduled_at, caption, *, persona):
        self.pk, self.persona_id, self.platform, self.status = pk, persona_id, platform, status
        self.scheduled_at, self.caption, self.persona = scheduled_at, caption, persona
        self.local_at = None
        self.conflicts = []

    def prepare(self, urls: tuple[str, str]) -> None:
        """The strings a shown chip needs, formatted once in Python."""
        local = self.local_at
        self.local_hm = local.strftime("%H:%M")
        self.local_input = local.strftime("%Y-%m-%dT%H:%M")
        self.local_label = f"{local:%a} {local.day} {local:%b %H:%M}"
        self.utc_iso = self.scheduled_at.isoformat()
        caption = self.caption or ""
        self.caption_preview = caption if len(caption) <= 120 else caption[:119] + "…"
        self.reschedule_url = urls[0].format(pk=self.pk)
        self.unschedule_url = urls[1].format(pk=self.pk)

    def get_platform_display(self) -> str:
        return PLATFORM_LABELS.get(self.platform, self.platform)

    def get_status_display(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


def flag_conflicts(posts: list) -> None:
    """Mark posts of one persona closer together than its minimum gap (scheduling allows it, with a warning).

    Works on the posts already fetched for the page, so it costs no query.
    """
    by_persona = defaultdict(list)
    for post in posts:
        post.conflicts = []
        by_persona[post.persona_id].append(post)
    for persona_posts in by_persona.values():
        persona_posts.sort(key=lambda p: p.scheduled_at)
        for earlier, later in zip(persona_posts, persona_posts[1:], strict=False):
            gap = (later.scheduled_at - earlier.scheduled_at).total_seconds() / 60
            minimum = later.persona.min_post_gap_minutes
            if gap < minimum:
                note = f"only {int(gap)} min apart (minimum {minimum} min)"
                earlier.conflicts.append(f"Post #{later.pk} {note}")
                later.conflicts.append(f"Post #{earlier.pk} {note}")


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
    return _workspace_page(request, "scheduler/calendar.html", calendar_context, status=status)


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
            services.post_reschedule(actor=request.user, post_id=post.pk, scheduled_at=when)
        else:
            services.post_schedule(
                actor=request.user, post_id=post.pk, scheduled_at=when, comment=request.POST.get("comment", "")
            )
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: calendar_render(view_of_next(request), status=status))
    local = when.astimezone(tz).strftime("%a %d %b %Y %H:%M")
    messages.success(request, f"Post #{post.pk} scheduled for {local} ({post.persona.timezone}).")
    # Closer than the persona's minimum gap is allowed, but said out loud.
    for warning in selectors.calendar_conflicts(persona=post.persona, scheduled_at=when, exclude_post_id=post.pk):
        messages.warning(request, f"Conflict: {warning}")
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
        services.post_unschedule(actor=request.user, post_id=post.pk, comment=request.POST.get("comment", ""))
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: calendar_render(view_of_next(request), status=status))
    messages.success(request, f"Post #{post.pk} taken off the calendar; it is approved again.")
    return redirect(safe_next(request, reverse("calendar")))


# --- exports -------------------------------------------------------------------------------------------------


def exports_list_context(request: HttpRequest) -> dict:
    ctx = workspace_context(request)
    bundles = list(
        export_selectors.export_bundle_list(user=request.user, workspace_id=ctx.workspace.pk)
        .select_related("created_by")
        .order_by("-created_at", "-id")[:EXPORTS_LIMIT]
    )
    active = any(b.status in (ExportStatus.PENDING, ExportStatus.RUNNING) for b in bundles)
    return {"bundles": bundles, "exports_active": active}


def exports_render(request: HttpRequest, *, status: int = 200, form: dict | None = None) -> HttpResponse:
    ctx = workspace_context(request)
    if ctx.workspace is None:
        return render_page(request, "scheduler/no_workspace.html")
    today = timezone.now().date()
    context = {
        "personas": list(Persona.objects.filter(workspace=ctx.workspace).order_by("name")[:200]),
        "form": form
        or {"start": today.isoformat(), "end": (today + dt.timedelta(days=6)).isoformat(), "persona_ids": []},
        **exports_list_context(request),
    }
    return render_page(request, "scheduler/exports.html", context, status=status)


@login_required
@require_GET
def export_list(request: HttpRequest) -> HttpResponse:
    return exports_render(request)


@login_required
@require_GET
def export_list_partial(request: HttpRequest) -> HttpResponse:
    if workspace_context(request).workspace is None:
        raise Http404("No workspace.")
    return render_page(request, "scheduler/_export_rows.html", exports_list_context(request))


@login_required
@require_POST
def export_create(request: HttpRequest) -> HttpResponse:
    ctx = workspace_context(request)
    if ctx.workspace is None:
        raise Http404("No workspace.")
    persona_ids = [int_or_404(value) for value in request.POST.getlist("personas")]
    form = {"start": request.POST.get("start", ""), "end": request.POST.get("end", ""), "persona_ids": persona_ids}
    try:
        start = dt.date.fromisoformat(form["start"])
        end = dt.date.fromisoformat(form["end"])
    except ValueError:
        messages.error(request, "Enter a start and an end date.")
        return exports_render(request, status=400, form=form)
    # Whole UTC days, the end day included.
    start_at = dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
    end_at = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    try:
        bundle = exports.export_bundle_create(
            actor=request.user, workspace=ctx.workspace, persona_ids=persona_ids, start=start_at, end=end_at
        )
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: exports_render(request, status=status, form=form))
    messages.success(request, f"Export #{bundle.pk} queued; it appears below when ready.")
    return redirect("export_list")


@login_required
@require_GET
def export_download(request: HttpRequest, bundle_id: int) -> FileResponse:
    ctx = workspace_context(request)
    bundle = (
        export_selectors.export_bundle_list(user=request.user).filter(pk=bundle_id, workspace_id__in=ctx.workspace_ids)
    ).first()
    if bundle is None or bundle.status != ExportStatus.SUCCEEDED or not bundle.file:
        raise Http404("Export not found or not ready.")
    response = FileResponse(
        bundle.file.open("rb"),
        as_attachment=True,
        filename=bundle.file.name.rsplit("/", 1)[-1],
        content_type="application/zip",
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


def manifest_summary(bundle) -> dict:
    """What the bundle's manifest.json says (posts, images, personas), read without decoding any image."""
    try:
        with bundle.file.open("rb") as handle, zipfile.ZipFile(handle) as archive:
            manifest = json.loads(archive.read("manifest.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        return {"error": f"Cannot read manifest.json: {exc}"}
    posts = manifest.get("posts") or [] if isinstance(manifest, dict) else []
    return {
        "schema_version": manifest.get("schema_version", "") if isinstance(manifest, dict) else "",
        "post_count": len(posts),
        "image_count": sum(len(p.get("images") or []) for p in posts if isinstance(p, dict)),
        "personas": sorted({(p.get("persona") or {}).get("name", "") for p in posts if isinstance(p, dict)}),
        "platforms": sorted({p.get("platform", "") for p in posts if isinstance(p, dict)}),
    }


@login_required
@require_GET
def export_verify(request: HttpRequest, bundle_id: int) -> HttpResponse:
    """The bundle's provenance check (C2PA, IPTC, watermark, hashes) per image, run on demand."""
    ctx = workspace_context(request)
    bundle = (
        export_selectors.export_bundle_list(user=request.user).filter(pk=bundle_id, workspace_id__in=ctx.workspace_ids)
    ).first()
    if bundle is None or bundle.status != ExportStatus.SUCCEEDED or not bundle.file:
        raise Http404("Export not found or not ready.")
    use_workspace(request, bundle.workspace_id)
    report = None
    if bundle_verify is not None:
        with bundle.file.open("rb") as handle:
            report = bundle_verify(zip_path_or_file=handle)
    context = {"bundle": bundle, "report": report, "summary": manifest_summary(bundle)}
    return render_page(request, "scheduler/export_verify.html", context)
