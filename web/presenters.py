"""What pages show, computed in Python from rows already fetched: the loss plot, caption counters, calendar
chips and the calendar grid. No queries here."""

from __future__ import annotations

import calendar as pycalendar
import datetime as dt
from collections import defaultdict
from urllib.parse import quote

from django.urls import reverse
from django.utils.timezone import localtime

from core import captions, platforms
from core.platforms import Platform
from generation import selectors as generation_selectors
from generation.engine.families import FAMILY_LABELS
from generation.models import BaseModel, GeneratedImage, LoraVersion
from generation.training.class_image_selectors import lora_version_prior_cost
from scheduler.models import Post, PostStatus
from scheduler.selectors import persona_zone


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


def decorate_lora_versions(versions: list[LoraVersion], images: list[GeneratedImage], *,
                           base_model: BaseModel | None = None) -> None:
    """Final loss, loss plot, reviewer sample images and prior preservation's cost of each version (`images` holds
    the samples, fetched with generation.selectors.job_and_sample_images; other images are ignored), and why a
    version does not fit `base_model`, the persona's current model (versions come with their base_model_entry)."""
    samples: dict[int, list[GeneratedImage]] = {}
    for image in images:
        if image.job.is_sample:
            samples.setdefault(image.job.lora_version_id, []).append(image)
    for version in versions:
        version.final_loss = final_loss(version.loss_curve)
        version.loss_plot = loss_plot(version.loss_curve)
        version.sample_images = samples.get(version.pk, [])
        version.prior_cost = lora_version_prior_cost(version)
        trained = generation_selectors.lora_version_family(version)
        version.trained_family = FAMILY_LABELS.get(trained, trained)
        version.incompatible_reason = "" if generation_selectors.lora_version_fits(
            version=version, base_model=base_model) else (
            f"Trained on a {version.trained_family} model; the persona now uses {base_model.name} "
            f"({FAMILY_LABELS.get(base_model.family, base_model.family)}), which it does not fit. "
            "Train a new version to use it.")


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
    text = captions.text_as_posted(post.caption, post.hashtags)
    rule = platforms.rule_for(post.platform)
    post.caption_length = captions.caption_length(post.platform, text)
    post.caption_max = rule.caption_max
    post.hashtag_count = len(captions.hashtags_in(text))
    post.hashtags_max = rule.hashtags_max
    post.hashtags_text = " ".join(post.hashtags or [])


URL_MARKER = 987654321


def url_format(name: str, *fields: str) -> str:
    """reverse(name) with a {field} in place of each (integer) argument, for str.format: a URL reversed once for a
    page, not once per row ({% url %} costs tens of microseconds)."""
    url = reverse(name, args=[URL_MARKER + i for i in range(len(fields))])
    for i, field in enumerate(fields):
        url = url.replace(str(URL_MARKER + i), "{" + field + "}")
    return url


def media_url_prefix() -> str:
    """What {% url 'media' name %} puts before the name (reversed once for a page)."""
    return reverse("media", args=["-"])[:-1]


def media_url(prefix: str, name: str) -> str:
    """{% url 'media' name %} without the resolver: the prefix and the name quoted as reverse() quotes a path."""
    return prefix + quote(name, safe="!$&'()*+,;=/~:@")


def short_datetime(value: dt.datetime) -> str:
    """The date filter's "j M Y H:i" (e.g. "5 Jan 2026 09:03") in the current timezone, at a tenth of its cost."""
    local = localtime(value)
    return f"{local.day} {local:%b %Y %H:%M}"


def parse_date(value: str | None, default: dt.date) -> dt.date:
    try:
        parsed = dt.date.fromisoformat(value) if value else default
    except ValueError:
        return default
    # Far-off years would overflow the grid arithmetic; nobody plans posts there.
    return parsed if 1900 <= parsed.year <= 9000 else default


def calendar_range(view: str, start: dt.date) -> tuple[dt.date, dt.date, dt.date, dt.date]:
    """(first, last) day shown and the (previous, next) period starts."""
    if view == "day":
        return start, start, start - dt.timedelta(days=1), start + dt.timedelta(days=1)
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
    """What a calendar chip shows of a post (a scheduler.selectors.CalendarEntry), with its minimum-gap conflicts."""

    __slots__ = ("pk", "persona_id", "platform", "status", "scheduled_at", "caption", "persona", "local_at",
                 "conflicts", "local_hm", "local_input", "local_label", "utc_iso", "caption_preview",
                 "reschedule_url", "unschedule_url", "publication", "card_html")

    def __init__(self, entry, conflicts=()):
        self.publication = None  # its publication's status line (web.publishing.publication_line), set by the page
        self.pk, self.persona_id, self.platform, self.status = entry.pk, entry.persona_id, entry.platform, entry.status
        self.scheduled_at, self.caption, self.persona = entry.scheduled_at, entry.caption, entry.persona
        self.local_at = entry.scheduled_at.astimezone(persona_zone(entry.persona))
        self.conflicts = [f"Post #{c.post_id} only {c.minutes} min apart (minimum {c.minimum} min)" for c in conflicts]

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

    def card_key(self) -> tuple:
        """Every value the chip shows (web/fragments.py keys its cached rendering on them)."""
        return (self.pk, self.persona.name, self.persona.timezone, self.platform, self.status, self.local_hm,
                self.local_input, self.local_label, self.utc_iso, self.caption_preview, self.conflicts,
                self.reschedule_url, self.unschedule_url,
                sorted(self.publication.items()) if self.publication else None)

    def get_platform_display(self) -> str:
        return PLATFORM_LABELS.get(self.platform, self.platform)

    def get_status_display(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


def calendar_days(
    entries: list, conflicts: dict, *, first: dt.date, last: dt.date, today: dt.date, month: int | None, per_day: int,
    count_only_over: int | None = None,
) -> list[dict]:
    """The grid's day cells from `first` to `last`, each with the chips (CalendarPost) of its posts (scheduler
    CalendarEntry rows, by local date), its number of posts (`count`) and of posts with a minimum-gap conflict
    (`conflicts`; `conflicts` maps a post to its GapConflicts).

    A cell shows at most `per_day` chips (like Later or Planable) and links to the rest (`more`): what a page
    renders stays bounded however many posts a workspace schedules. With `count_only_over`, a day with more posts
    than that shows none, only its counts, and links to the day (the month view: a busy month costs what a quiet
    one does). `month`: the month shown (its other days are dimmed).
    """
    zones: dict[int, object] = {}
    by_day = defaultdict(list)
    for entry in entries:
        zone = zones.get(entry.persona_id)
        if zone is None:
            zone = zones[entry.persona_id] = persona_zone(entry.persona)
        by_day[entry.scheduled_at.astimezone(zone).date()].append(entry)
    chip_urls = (url_format("post_reschedule_page", "pk"), url_format("post_unschedule_page", "pk"))
    days = []
    day = first
    while day <= last:
        day_entries = by_day.get(day, [])
        count = len(day_entries)
        shown = [] if count_only_over is not None and count > count_only_over else day_entries[:per_day]
        chips = [CalendarPost(entry, conflicts.get(entry.pk, ())) for entry in shown]
        for chip in chips:
            chip.prepare(chip_urls)
        days.append({"date": day, "posts": chips, "count": count, "more": count - len(chips),
                     "conflicts": sum(1 for entry in day_entries if entry.pk in conflicts),
                     "in_period": month is None or day.month == month, "today": day == today,
                     # The date filter's "Y-m-d", "j" and "l j M" / "l j F", at a tenth of its cost per cell.
                     "iso": day.isoformat(), "number": day.day, "label": f"{day:%A} {day.day} {day:%b}",
                     "long_label": f"{day:%A} {day.day} {day:%B}"})
        day += dt.timedelta(days=1)
    return days


def persona_week_rows(personas: list, times: list[tuple[int, dt.datetime]], *, now: dt.datetime) -> list[dict]:
    """Each persona's current week in its own timezone: posts per day, past days, and the days still empty.
    `times`: (persona id, scheduled time) of the posts around this week."""
    scheduled = defaultdict(list)
    for persona_id, when in times:
        scheduled[persona_id].append(when)
    rows = []
    persona_url = url_format("personas:detail", "pk")
    for persona in personas:
        tz = persona_zone(persona)
        today = now.astimezone(tz).date()
        monday = today - dt.timedelta(days=today.weekday())
        week = [monday + dt.timedelta(days=i) for i in range(7)]
        local_days = [when.astimezone(tz).date() for when in scheduled[persona.pk]]
        per_day = {day: local_days.count(day) for day in week}
        # The date filter's "l j M", "D" and "D j", formatted here: the template showed 30 dates a persona.
        days = [{"date": day, "count": per_day[day], "past": day < today, "today": day == today,
                 "label": f"{day:%A} {day.day} {day:%b}", "weekday": f"{day:%a}"} for day in week]
        rows.append(
            {
                "persona": persona,
                "persona_url": persona_url.format(pk=persona.pk),
                "scheduled_this_week": sum(per_day.values()),
                "days": days,
                "gaps": [f"{d['date']:%a} {d['date'].day}" for d in days if d["count"] == 0 and not d["past"]],
            }
        )
    return rows
