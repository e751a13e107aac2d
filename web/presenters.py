"""What pages show, computed in Python from rows already fetched: the loss plot, caption counters, calendar
chips and the calendar grid. No queries here."""

from __future__ import annotations

import calendar as pycalendar
import datetime as dt
from collections import defaultdict

from core import platforms
from core.platforms import Platform
from generation.models import GeneratedImage, LoraVersion
from scheduler.models import Post, PostStatus


def loss_values(curve) -> list[float]:
    """Loss values of a curve of numbers, [step, loss] pairs or {"loss": ...} dicts; unreadable points are skipped."""
    values = []
    for point in curve or []:
        if isinstance(point, dict):
            point = point.get("loss")
        elif isinstance(point, list | tuple):
            point = point[-1] if point else None
        try:
            value = float(point)
        except (TypeError, ValueError):
            continue
        if value == value and abs(value) != float("inf"):  # NaN and inf would break the plot
            values.append(value)
    return values


def final_loss(curve) -> float | None:
    """The last recorded loss, whether the curve holds numbers, [step, loss] pairs or {"loss": ...} dicts."""
    values = loss_values(curve)
    return values[-1] if values else None


LOSS_PLOT_WIDTH = 280


LOSS_PLOT_HEIGHT = 80


LOSS_PLOT_POINTS = 200


def loss_plot(curve) -> dict | None:
    """An inline-SVG polyline of the loss curve, computed here so the page needs no chart library."""
    values = loss_values(curve)
    if len(values) < 2:
        return None
    if len(values) > LOSS_PLOT_POINTS:  # thin long runs to a fixed number of points
        stride = len(values) / LOSS_PLOT_POINTS
        values = [values[int(i * stride)] for i in range(LOSS_PLOT_POINTS)] + [values[-1]]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    pad = 4
    width, height = LOSS_PLOT_WIDTH - 2 * pad, LOSS_PLOT_HEIGHT - 2 * pad
    points = " ".join(
        f"{pad + width * i / (len(values) - 1):.1f},{pad + height * (1 - (v - low) / span):.1f}"
        for i, v in enumerate(values)
    )
    return {"points": points, "low": low, "high": high, "count": len(loss_values(curve)),
            "width": LOSS_PLOT_WIDTH, "height": LOSS_PLOT_HEIGHT}


def decorate_lora_versions(versions: list[LoraVersion], images: list[GeneratedImage] | None = None) -> None:
    """Final loss, loss plot and reviewer sample images of each version.

    `images` may already hold the samples (persona_jobs_context fetches them with the jobs' images);
    otherwise one query fetches them.
    """
    if images is None:
        ids = [v.pk for v in versions]
        images = list(
            GeneratedImage.objects.filter(job__lora_version_id__in=ids, job__is_sample=True)
            .select_related("job")
            .order_by("job__created_at", "index")
        )
    samples: dict[int, list[GeneratedImage]] = {}
    for image in images:
        if image.job.is_sample:
            samples.setdefault(image.job.lora_version_id, []).append(image)
    for version in versions:
        version.final_loss = final_loss(version.loss_curve)
        version.loss_plot = loss_plot(version.loss_curve)
        version.sample_images = samples.get(version.pk, [])


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


def parse_date(value: str | None, default: dt.date) -> dt.date:
    try:
        parsed = dt.date.fromisoformat(value) if value else default
    except ValueError:
        return default
    # Far-off years would overflow the grid arithmetic; nobody plans posts there.
    return parsed if 1900 <= parsed.year <= 9000 else default


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
