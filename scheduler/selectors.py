"""Reads for posts and the calendar, scoped to the user's workspace memberships."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import F, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce, Substr

from core.captions import validate_content
from core.errors import NotFound, ValidationFailed
from personas.models import Persona
from personas.selectors import workspace_ids_query
from scheduler.models import Post, PostComment, PostImage, PostStatus, PostTransition
from scheduler.signals import post_schedule_check

# Posts that occupy a slot on the calendar for the minimum-gap rule.
BUSY_STATUSES = (PostStatus.APPROVED, PostStatus.SCHEDULED, PostStatus.EXPORTED, PostStatus.PUBLISHED)
# What the calendar grid shows unless asked for other statuses.
CALENDAR_STATUSES = (PostStatus.SCHEDULED, PostStatus.EXPORTED, PostStatus.PUBLISHED)
CALENDAR_ENTRIES_LIMIT = 5000  # per period shown; light rows, so cheap
GRANULARITIES = ("day", "week", "month")
NEXT_SLOT_HORIZON_DAYS = 366
NEXT_SLOT_NEAR_DAYS = 14


def zone_or_utc(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone `name`; UTC for an empty or unknown name."""
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def persona_zone(persona: Persona) -> zoneinfo.ZoneInfo:
    return zone_or_utc(persona.timezone)


def local_time(value: dt.datetime | None, persona: Persona) -> dt.datetime | None:
    """A stored (UTC) time shown in the persona's timezone."""
    return value.astimezone(persona_zone(persona)) if value is not None else None


def wall_time_exists(naive: dt.datetime, zone: zoneinfo.ZoneInfo) -> bool:
    """False for wall times inside a DST gap (e.g. 02:30 on the spring-forward night in Paris)."""
    aware = naive.replace(tzinfo=zone)
    return aware.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) == naive


def localize(naive: dt.datetime, zone_name: str) -> dt.datetime:
    """A naive wall time in `zone_name` as an aware datetime. Ambiguous times (DST fall-back) take the
    first occurrence; times inside a DST gap are refused rather than silently moved."""
    zone = zone_or_utc(zone_name)
    naive = naive.replace(tzinfo=None, fold=0)
    if not wall_time_exists(naive, zone):
        raise ValidationFailed(f"{naive:%Y-%m-%d %H:%M} does not exist in {zone_name} (clocks skip it for DST).")
    return naive.replace(tzinfo=zone)


def in_persona_zone(value: dt.datetime | None, persona: Persona) -> dt.datetime | None:
    """An input time as given when it carries an offset; a naive one read as the persona's wall time."""
    if value is None or not timezone_naive(value):
        return value
    return localize(value, persona.timezone)


# --- Posts -----------------------------------------------------------------------------------------


def images_prefetch() -> Prefetch:
    """A post's images, in order."""
    return Prefetch("images", queryset=PostImage.objects.order_by("position", "id"))


def post_list(
    *,
    user: AbstractBaseUser,
    workspace_id: int | None = None,
    persona_id: int | None = None,
    platform: str | None = None,
    status: str | Iterable[str] | None = None,
    scheduled_from: dt.datetime | None = None,
    scheduled_to: dt.datetime | None = None,
) -> QuerySet[Post]:
    """Posts of the user's workspaces (optionally one of them). `status` takes one value, a comma-separated
    string or a list. The scheduled range is [scheduled_from, scheduled_to)."""
    qs = Post.objects.filter(workspace_id__in=workspace_ids_query(user=user))
    if workspace_id is not None:
        qs = qs.filter(workspace_id=workspace_id)
    if persona_id is not None:
        qs = qs.filter(persona_id=persona_id)
    if platform:
        qs = qs.filter(platform=platform)
    if status:
        statuses = status.split(",") if isinstance(status, str) else list(status)
        qs = qs.filter(status__in=[s.strip() for s in statuses if s.strip()])
    if scheduled_from is not None:
        qs = qs.filter(scheduled_at__gte=scheduled_from)
    if scheduled_to is not None:
        qs = qs.filter(scheduled_at__lt=scheduled_to)
    return qs.select_related("persona", "workspace", "created_by").prefetch_related(images_prefetch())


def post_get(*, user: AbstractBaseUser, post_id: int) -> Post:
    """One post with its images and transitions; another workspace's post is NotFound."""
    post = (
        post_list(user=user)
        .prefetch_related(Prefetch("transitions", queryset=PostTransition.objects.select_related("actor")),
                          "image_versions")
        .filter(pk=post_id)
        .first()
    )
    if post is None:
        raise NotFound("Post not found.")
    return post


def post_transitions(*, user: AbstractBaseUser, post_id: int) -> QuerySet[PostTransition]:
    post = post_get(user=user, post_id=post_id)
    return PostTransition.objects.filter(post=post).select_related("actor").order_by("created_at", "id")


def post_comments(*, user: AbstractBaseUser, post_id: int) -> QuerySet[PostComment]:
    """A post's comment thread, oldest first; another workspace's post is NotFound."""
    post = post_list(user=user).filter(pk=post_id).first()
    if post is None:
        raise NotFound("Post not found.")
    return comments_of(post_id=post.pk)


def comments_of(*, post_id: int) -> QuerySet[PostComment]:
    """The thread of a post the caller already may see."""
    return (PostComment.objects.filter(post_id=post_id).select_related("author")
            .prefetch_related("mentioned").order_by("created_at", "id"))


REVIEW_ORDER = ("submitted_at", "created_at", "id")  # longest-waiting first


def submitted_at():
    """When a post was last submitted for review, as an annotation: stored on the post by the transition to "in
    review" (and by an image replaced while in review). Posts put in review without a transition (imports,
    fixtures) fall back to their creation time."""
    return Coalesce(F("last_submitted_at"), F("created_at"))


def review_queue(*, user: AbstractBaseUser) -> QuerySet[Post]:
    """Posts waiting for review in the user's workspaces, longest-waiting first (by submission time).

    Two queries whatever the size: the posts (with persona, workspace, author) and their images.
    """
    return (
        post_list(user=user, status=PostStatus.IN_REVIEW).annotate(submitted_at=submitted_at()).order_by(*REVIEW_ORDER)
    )


def validate_post_for_platform(*, post: Post, images: Iterable[PostImage] | None = None) -> list[str]:
    """Messages for every platform rule `post` breaks (uses the post's saved images, or `images` when the caller
    holds them)."""
    sizes = [(img.width, img.height) for img in (post.images.all() if images is None else images)]
    return validate_content(platform=post.platform, caption=post.caption, hashtags=post.hashtags, image_sizes=sizes)


# --- Calendar --------------------------------------------------------------------------------------


@dataclass
class CalendarBucket:
    """Posts whose local scheduled date (in their persona's timezone) falls in one day/week/month."""

    period_start: dt.date
    granularity: str
    posts: list = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.posts)


def period_start(local_date: dt.date, granularity: str) -> dt.date:
    if granularity == "day":
        return local_date
    if granularity == "week":  # ISO weeks start on Monday
        return local_date - dt.timedelta(days=local_date.weekday())
    if granularity == "month":
        return local_date.replace(day=1)
    raise ValidationFailed(f"Unknown granularity '{granularity}'; use one of: {', '.join(GRANULARITIES)}.")


def _calendar_query(
    *,
    user: AbstractBaseUser,
    start: dt.datetime,
    end: dt.datetime,
    workspace_id: int | None,
    persona_id: int | None,
    platform: str | None,
    status: str | Iterable[str] | None,
) -> QuerySet[Post]:
    """The one calendar query: posts of the user's workspaces with a scheduled time in [start, end)."""
    if end <= start:
        raise ValidationFailed("The calendar range must end after it starts.")
    return post_list(
        user=user, workspace_id=workspace_id, persona_id=persona_id, platform=platform, status=status,
        scheduled_from=start, scheduled_to=end,
    ).order_by("scheduled_at", "id")  # fmt: skip


def _local_buckets(posts: Iterable, granularity: str) -> list[CalendarBucket]:
    """Posts grouped by the local wall date in each one's persona's timezone, so a post at 23:30 Paris time on
    the night clocks change lands on the right day whatever the UTC offset. Empty periods are omitted."""
    buckets: dict[dt.date, CalendarBucket] = {}
    for post in posts:
        local_date = post.scheduled_at.astimezone(persona_zone(post.persona)).date()
        key = period_start(local_date, granularity)
        buckets.setdefault(key, CalendarBucket(period_start=key, granularity=granularity)).posts.append(post)
    return [buckets[key] for key in sorted(buckets)]


def calendar_posts(
    *,
    user: AbstractBaseUser,
    start: dt.datetime,
    end: dt.datetime,
    persona_id: int | None = None,
    platform: str | None = None,
    status: str | Iterable[str] | None = None,
    granularity: str = "day",
    workspace_id: int | None = None,
) -> list[CalendarBucket]:
    """Posts with a scheduled time in [start, end), grouped by local date in each post's persona's timezone."""
    if granularity not in GRANULARITIES:
        raise ValidationFailed(f"Unknown granularity '{granularity}'; use one of: {', '.join(GRANULARITIES)}.")
    query = _calendar_query(user=user, start=start, end=end, workspace_id=workspace_id, persona_id=persona_id,
                            platform=platform, status=status)
    return _local_buckets(query, granularity)


@dataclass(slots=True)
class CalendarEntry:
    """A post as the calendar grid needs it: one values row, not a model instance (a busy month stays cheap)."""

    pk: int
    persona_id: int
    platform: str
    status: str
    scheduled_at: dt.datetime
    caption: str  # its first `caption_chars` characters
    persona: Persona


def calendar_entries(
    *,
    user: AbstractBaseUser,
    start: dt.datetime,
    end: dt.datetime,
    workspace_id: int | None = None,
    persona_id: int | None = None,
    platform: str | None = None,
    status: str | Iterable[str] | None = CALENDAR_STATUSES,
    personas: Mapping[int, Persona] | None = None,
    limit: int = CALENDAR_ENTRIES_LIMIT,
    caption_chars: int = 121,
) -> list[CalendarEntry]:
    """calendar_posts' posts (the same query), oldest first, as light rows with their persona, at most `limit`.

    `personas`: persona rows the caller already holds; only the others are fetched (one query)."""
    rows = list(
        _calendar_query(user=user, start=start, end=end, workspace_id=workspace_id, persona_id=persona_id,
                        platform=platform, status=status)
        .prefetch_related(None)  # rows, not instances: nothing to prefetch (select_related is ignored too)
        .annotate(caption_head=Substr("caption", 1, caption_chars))
        .values_list("id", "persona_id", "platform", "status", "scheduled_at", "caption_head")[:limit]
    )
    by_id = dict(personas or {})
    missing = {row[1] for row in rows} - by_id.keys()
    if missing:
        by_id.update({p.pk: p for p in Persona.objects.filter(pk__in=missing)})
    return [CalendarEntry(*row, persona=by_id[row[1]]) for row in rows]


@dataclass(frozen=True)
class GapConflict:
    """Another busy post of the same persona closer than its minimum gap."""

    post_id: int
    platform: str
    scheduled_at: dt.datetime
    minutes: int  # how far apart, whole minutes
    minimum: int  # the persona's minimum gap, minutes


def gap_conflicts(*, persona: Persona, scheduled_at: dt.datetime, busy: Iterable[tuple]) -> list[GapConflict]:
    """The minimum-gap rule, decided here only: each busy (pk, platform, time) closer to `scheduled_at` than the
    persona's minimum gap. Scheduling allows it, with a warning."""
    gap = dt.timedelta(minutes=persona.min_post_gap_minutes or 0)
    return [
        GapConflict(pk, platform, other, int(abs(other - scheduled_at).total_seconds() // 60),
                    persona.min_post_gap_minutes)
        for pk, platform, other in busy
        if abs(other - scheduled_at) < gap
    ]


def _busy_times(
    persona_ids: Iterable[int], start: dt.datetime, end: dt.datetime, exclude_post_id: int | None = None
) -> dict[int, list[tuple[int, str, dt.datetime]]]:
    """Each persona's posts that occupy a slot in [start, end], by time: (pk, platform, scheduled_at)."""
    qs = Post.objects.filter(
        persona_id__in=list(persona_ids), status__in=BUSY_STATUSES, scheduled_at__gte=start, scheduled_at__lte=end
    ).order_by("scheduled_at", "id")
    if exclude_post_id is not None:
        qs = qs.exclude(pk=exclude_post_id)
    busy: dict[int, list[tuple[int, str, dt.datetime]]] = {}
    for persona_id, pk, platform, when in qs.values_list("persona_id", "pk", "platform", "scheduled_at"):
        busy.setdefault(persona_id, []).append((pk, platform, when))
    return busy


def calendar_conflicts(*, persona: Persona, scheduled_at: dt.datetime, exclude_post_id: int | None = None) -> list[str]:
    """Warnings (not errors) for approved/scheduled posts of `persona` closer than its minimum gap."""
    gap = dt.timedelta(minutes=persona.min_post_gap_minutes or 0)
    if not gap:
        return []
    zone = persona_zone(persona)
    busy = _busy_times([persona.pk], scheduled_at - gap, scheduled_at + gap, exclude_post_id).get(persona.pk, [])
    return [
        f"Post {c.post_id} ({c.platform}) is at {c.scheduled_at.astimezone(zone):%Y-%m-%d %H:%M} {persona.timezone}, "
        f"{c.minutes} minutes from this time; {persona.name} keeps at least {c.minimum} minutes between posts."
        for c in gap_conflicts(persona=persona, scheduled_at=scheduled_at, busy=busy)
    ]


def calendar_entry_conflicts(entries: list[CalendarEntry]) -> dict[int, list[GapConflict]]:
    """For each entry, what calendar_conflicts would warn about it: every other busy post of its persona (any
    platform, shown or not) closer than the minimum gap. One query for the whole grid."""
    gaps = {e.persona_id: dt.timedelta(minutes=e.persona.min_post_gap_minutes or 0) for e in entries}
    widest = max(gaps.values(), default=dt.timedelta(0))
    if not widest:
        return {}
    busy = _busy_times(
        [pid for pid, gap in gaps.items() if gap],
        min(e.scheduled_at for e in entries) - widest,
        max(e.scheduled_at for e in entries) + widest,
    )
    times = {pid: [when for _, _, when in rows] for pid, rows in busy.items()}
    conflicts = {}
    for entry in entries:
        rows, gap = busy.get(entry.persona_id, []), gaps[entry.persona_id]
        near = rows[bisect_left(times[entry.persona_id], entry.scheduled_at - gap):
                    bisect_right(times[entry.persona_id], entry.scheduled_at + gap)] if rows else []
        found = gap_conflicts(persona=entry.persona, scheduled_at=entry.scheduled_at,
                              busy=[row for row in near if row[0] != entry.pk])
        if found:
            conflicts[entry.pk] = found
    return conflicts


def importer_warnings(*, post: Post, scheduled_at: dt.datetime) -> list[str]:
    """What the apps that take posts further say of `post` at `scheduled_at` (provenance: what the Hootsuite and
    Sprout Social importers will make of it), gathered from the receivers of scheduler.signals.post_schedule_check.
    Shown when the post is scheduled; never errors."""
    warnings: list[str] = []
    for _receiver, found in post_schedule_check.send(sender=Post, post=post, scheduled_at=scheduled_at):
        warnings.extend(found or [])
    return warnings


def _parse_slot(value: str) -> dt.time:
    try:
        hours, minutes = str(value).strip().split(":")
        return dt.time(int(hours), int(minutes))
    except ValueError:
        raise ValidationFailed(f"Posting slot '{value}' is not a HH:MM time.") from None


def _slot_search_window(persona: Persona, after: dt.datetime) -> tuple[list[dt.time], dt.datetime, dt.datetime]:
    """The persona's slots and the busy window [start, end] next_free_slot searches; raises what it cannot answer."""
    if timezone_naive(after):
        raise ValidationFailed("'after' must include a timezone.")
    slots = sorted({_parse_slot(s) for s in persona.posting_slots or []})
    if not slots:
        raise ValidationFailed(f"{persona.name} has no posting slots; add some (e.g. 09:00, 18:00) first.")
    gap = dt.timedelta(minutes=persona.min_post_gap_minutes or 0)
    try:
        # The search runs from a gap before `after` to a day past the horizon: near year 1 or 9999 that
        # leaves datetime's range (OverflowError, a 500) instead of answering.
        (after - gap - dt.timedelta(days=1)).astimezone(dt.UTC)
        (after + dt.timedelta(days=NEXT_SLOT_HORIZON_DAYS + 2) + gap).astimezone(dt.UTC)
    except OverflowError:
        raise ValidationFailed(f"'after' ({after.isoformat()}) is out of the supported date range.") from None
    return slots, after - gap, after + dt.timedelta(days=NEXT_SLOT_HORIZON_DAYS) + gap


def _first_free_slot(persona: Persona, after: dt.datetime, slots: list[dt.time], busy: list[tuple],
                     until: dt.datetime | None = None) -> dt.datetime | None:
    """The first free slot after `after`; None when it would be later than `until` (busy covers up to it only)."""
    zone = persona_zone(persona)
    day = after.astimezone(zone).date()
    for _ in range(NEXT_SLOT_HORIZON_DAYS + 1):
        for slot in slots:
            naive = dt.datetime.combine(day, slot)
            if not wall_time_exists(naive, zone):
                continue
            candidate = naive.replace(tzinfo=zone).astimezone(dt.UTC)
            if candidate <= after:
                continue
            if until is not None and candidate > until:
                return None
            if not gap_conflicts(persona=persona, scheduled_at=candidate, busy=busy):
                return candidate
        day += dt.timedelta(days=1)
    raise ValidationFailed(
        f"No free posting slot for {persona.name} in the next {NEXT_SLOT_HORIZON_DAYS} days; "
        "add slots or lower the minimum gap."
    )


def next_free_slot(*, persona: Persona, after: dt.datetime, exclude_post_id: int | None = None) -> dt.datetime:
    """The first posting slot strictly after `after` that keeps the minimum gap from every busy post.

    Slots are local wall times in the persona's timezone. A slot inside a DST gap (it does not exist that
    day) is skipped, not shifted: shifting could land it on, or too close to, the next slot. On the
    fall-back night a slot in the repeated hour means its first occurrence. Returns an aware UTC datetime.
    """
    slots, start, end = _slot_search_window(persona, after)
    busy = _busy_times([persona.pk], start, end, exclude_post_id).get(persona.pk, [])
    return _first_free_slot(persona, after, slots, busy)


def next_free_slots(*, personas: Iterable[Persona], after: dt.datetime) -> dict[int, dt.datetime | None]:
    """next_free_slot for several personas; None for a persona it has no answer for. One query reads the busy posts
    of the next NEXT_SLOT_NEAR_DAYS, where a free slot almost always is; a second, for the whole horizon, only for
    the personas booked through them."""
    windows = {}
    for persona in personas:
        try:
            windows[persona.pk] = (persona, *_slot_search_window(persona, after))
        except ValidationFailed:
            windows[persona.pk] = None
    slots: dict[int, dt.datetime | None] = dict.fromkeys(windows)
    searched = [w for w in windows.values() if w is not None]
    near = after + dt.timedelta(days=NEXT_SLOT_NEAR_DAYS)
    for until in (near, None):
        if not searched:
            break
        gap = max(dt.timedelta(minutes=w[0].min_post_gap_minutes or 0) for w in searched)
        end = near + gap if until else max(w[3] for w in searched)
        busy = _busy_times([w[0].pk for w in searched], min(w[2] for w in searched), end)
        later = []
        for persona, persona_slots, *_ in searched:
            try:
                slots[persona.pk] = _first_free_slot(persona, after, persona_slots, busy.get(persona.pk, []), until)
            except ValidationFailed:
                continue
            if slots[persona.pk] is None:
                later.append(windows[persona.pk])
        searched = later
    return slots


def timezone_naive(value: dt.datetime) -> bool:
    return value.tzinfo is None or value.tzinfo.utcoffset(value) is None


def persona_approved_captions(*, persona: Persona, language: str = "", limit: int = 5) -> list[str]:
    """Caption memory: the captions of the persona's most recently approved posts (in `language` when given),
    newest first. Posts approved and then scheduled, exported or published count too."""
    approved_at = (
        PostTransition.objects.filter(post=OuterRef("pk"), to_status=PostStatus.APPROVED)
        .order_by("-created_at", "-id").values("created_at")[:1]
    )
    posts = Post.objects.filter(persona=persona, status__in=BUSY_STATUSES).exclude(caption="")
    if language:
        posts = posts.filter(language=language)
    posts = posts.annotate(approved_at=Subquery(approved_at)).order_by(F("approved_at").desc(nulls_last=True), "-id")
    return list(posts.values_list("caption", flat=True)[: max(limit, 0)])
