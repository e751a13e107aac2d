"""Content plan import: a CSV file or pasted spreadsheet rows become generation jobs, one per row, whose drafts
land in review already slotted at the row's planned time.

Columns (a header row names them in any order; without one they come in this order):
persona handle, date (YYYY-MM-DD), time ("HH:MM" in the persona's timezone, "next free slot", or a slot series
of the persona: "series <name>"), platform, scene, caption brief (optional), sponsored (yes/no, optional).

Every row is checked first and each gets its errors. The valid rows then import in one transaction (all of them
or, if anything fails on the way, none); the invalid rows are listed on the plan. A plan with no valid row
imports nothing and answers 400 with the errors.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from core.access import AUTHOR_ROLES
from core.errors import ApplicationError, ValidationFailed
from core.platforms import Platform
from generation.engine import specs
from generation.selectors import lora_version_active
from generation.services import generation_job_create
from personas.models import Persona
from personas.selectors import role_require
from scheduler.models import ContentPlan, ContentPlanItem, SlotSeries
from scheduler.selectors import localize, next_free_slot, persona_zone
from scheduler.slots.series_selectors import series_next_free, slot_series_by_name

COLUMNS = ("persona", "date", "time", "platform", "scene", "caption_brief", "sponsored")
HEADER_NAMES = {
    "persona": "persona", "persona handle": "persona", "handle": "persona", "date": "date", "day": "date",
    "time": "time", "slot": "time", "platform": "platform", "scene": "scene", "caption brief": "caption_brief",
    "brief": "caption_brief", "caption": "caption_brief", "sponsored": "sponsored", "ad": "sponsored",
}  # fmt: skip
REQUIRED = ("persona", "date", "time", "platform", "scene")
NEXT_FREE = {"next free slot", "next free", "next-free-slot", "next_free_slot", "next"}
SERIES_RE = re.compile(r"^series\s*[:\s]\s*(.+)$", re.IGNORECASE)
YES, NO = {"yes", "y", "true", "1", "x", "sponsored", "ad"}, {"", "no", "n", "false", "0", "-"}
MAX_ROWS = 500
MAX_BRIEF_CHARS = 300
MAX_TEXT_BYTES = 1_000_000
NEXT_FREE_TRIES = 500


@dataclass
class PlannedRow:
    row: int
    persona: Persona
    platform: str
    scene: str
    brief: str
    sponsored: bool
    planned_at: dt.datetime
    series: SlotSeries | None = None


@dataclass
class RowCheck:
    row: int
    values: dict[str, str]
    errors: list[str] = field(default_factory=list)


def _normal(cell: str) -> str:
    return " ".join(cell.replace("_", " ").split()).strip().lower()


def plan_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, {column: value}) for every non-blank row of a CSV or pasted (tab-separated) plan."""
    if len(text.encode("utf-8", errors="replace")) > MAX_TEXT_BYTES:
        raise ValidationFailed(f"The plan is over {MAX_TEXT_BYTES // 1_000_000} MB; split it.")
    text = text.lstrip("\ufeff")
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = "\t" if "\t" in first else (";" if ";" in first and "," not in first else ",")
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows, columns = [], None
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if columns is None:
                names = [HEADER_NAMES.get(_normal(cell)) for cell in cells]
                if "persona" in names and "scene" in names:
                    columns = names
                    continue
                columns = list(COLUMNS)
            values = {name: cell.strip() for name, cell in zip(columns, cells, strict=False) if name}
            if len(cells) > len(columns) and any(cell.strip() for cell in cells[len(columns):]):
                values["_extra"] = "yes"
            rows.append((reader.line_num, values))
            if len(rows) > MAX_ROWS:
                raise ValidationFailed(f"A plan can have at most {MAX_ROWS} rows; split it.")
    except csv.Error as exc:
        raise ValidationFailed(f"The plan is not readable CSV (line {reader.line_num}): {exc}.") from None
    if not rows:
        raise ValidationFailed("The plan has no rows. Paste rows or upload a CSV with: " + ", ".join(COLUMNS) + ".")
    return rows


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.replace("/", "-"))
    except ValueError:
        raise ValidationFailed(f"Date '{value}' is not a YYYY-MM-DD date.") from None


def _after_start_of(day: dt.date, persona: Persona, now: dt.datetime) -> dt.datetime:
    """Just before local midnight starting `day` (so a slot at 00:00 counts), and never before now."""
    midnight = dt.datetime.combine(day, dt.time()).replace(tzinfo=persona_zone(persona))
    return max(now, midnight - dt.timedelta(seconds=1))


def _next_free(persona: Persona, after: dt.datetime, reserved: set[dt.datetime]) -> dt.datetime:
    """The persona's next free posting slot that also keeps the minimum gap from slots earlier rows took."""
    gap = dt.timedelta(minutes=persona.min_post_gap_minutes or 0)
    for _ in range(NEXT_FREE_TRIES):
        candidate = next_free_slot(persona=persona, after=after)
        if all(abs(candidate - other) >= gap and candidate != other for other in reserved):
            return candidate
        after = candidate
    raise ValidationFailed(f"No free posting slot for {persona.name} near that date; add slots or pick a time.")


def _check_row(
    check: RowCheck, *, personas: dict[str, Persona], allow_base_model: bool, now: dt.datetime,
    reserved: dict[int, set[dt.datetime]],
) -> PlannedRow | None:
    values, errors = check.values, check.errors
    missing = [name.replace("_", " ") for name in REQUIRED if not values.get(name)]
    if missing:
        errors.append(f"Missing {', '.join(missing)}.")
    if values.get("_extra"):
        errors.append(f"Too many columns; expected {', '.join(COLUMNS)}.")
    handle = values.get("persona", "").lstrip("@").lower()
    persona = personas.get(handle) if handle else None
    if handle and persona is None:
        errors.append(f"No persona @{handle} in this workspace.")
    if persona is not None and not allow_base_model and lora_version_active(persona_id=persona.pk) is None:
        errors.append(f"{persona.name} has no active LoRA yet: train one first.")
    platform = values.get("platform", "").lower()
    if platform and platform not in Platform.values:
        errors.append(f"Unknown platform '{values['platform']}'; use one of: {', '.join(Platform.values)}.")
    scene = " ".join(values.get("scene", "").split())
    if len(scene) > 1000:
        errors.append(f"The scene is {len(scene)} characters; keep it under 1,000.")
    brief = " ".join(values.get("caption_brief", "").split())
    if len(brief) > MAX_BRIEF_CHARS:
        errors.append(f"The caption brief is {len(brief)} characters; keep it under {MAX_BRIEF_CHARS}.")
    sponsored_text = values.get("sponsored", "").strip().lower()
    if sponsored_text not in YES | NO:
        errors.append(f"Sponsored '{values['sponsored']}' is not yes or no.")
    day = None
    if values.get("date"):
        try:
            day = _date(values["date"])
        except ValidationFailed as exc:
            errors.append(exc.message)
    planned_at, series = None, None
    if persona is not None and day is not None and values.get("time"):
        planned_at, series = _resolve_time(values["time"], persona=persona, day=day, now=now,
                                           reserved=reserved.setdefault(persona.pk, set()), errors=errors)
    if errors:
        return None
    reserved[persona.pk].add(planned_at)
    return PlannedRow(row=check.row, persona=persona, platform=platform, scene=scene, brief=brief,
                      sponsored=sponsored_text in YES, planned_at=planned_at, series=series)


def _resolve_time(
    text: str, *, persona: Persona, day: dt.date, now: dt.datetime, reserved: set[dt.datetime], errors: list[str]
) -> tuple[dt.datetime | None, SlotSeries | None]:
    wanted = " ".join(text.split())
    try:
        if wanted.lower() in NEXT_FREE:
            return _next_free(persona, _after_start_of(day, persona, now), reserved), None
        match = SERIES_RE.match(wanted)
        series = slot_series_by_name(persona_id=persona.pk, name=match.group(1) if match else wanted)
        if series is not None:
            return series_next_free(series=series, after=_after_start_of(day, persona, now), reserved=reserved), series
        if match:
            errors.append(f"{persona.name} has no active slot series '{match.group(1)}'.")
            return None, None
        try:
            hours, minutes = (int(part) for part in wanted.split(":"))
            wall = dt.datetime.combine(day, dt.time(hours, minutes))
        except ValueError:
            errors.append(f"Time '{text}' is not HH:MM, 'next free slot' or 'series <name>'.")
            return None, None
        planned = localize(wall, persona.timezone).astimezone(dt.UTC)
    except ValidationFailed as exc:
        errors.append(exc.message)
        return None, None
    if planned <= now:
        errors.append(f"{wanted} on {day.isoformat()} ({persona.timezone}) is in the past.")
        return None, None
    return planned, None


def content_plan_import(
    *,
    actor: AbstractBaseUser,
    workspace_id: int,
    text: str,
    name: str = "",
    num_variants: int = 1,
    steps: int = 25,
    allow_base_model: bool = False,
) -> ContentPlan:
    """Check every row, then import the valid ones (one generation job each) in one transaction and list the
    invalid ones on the plan. ValidationFailed, with every row's errors in `extra`, when no row is valid."""
    role_require(user=actor, workspace_id=workspace_id, roles=AUTHOR_ROLES)
    if not 1 <= num_variants <= specs.MAX_VARIANTS:
        raise ValidationFailed(f"num_variants must be between 1 and {specs.MAX_VARIANTS}.")
    rows = plan_rows(text or "")
    personas = {p.handle.lower(): p for p in Persona.objects.filter(workspace_id=workspace_id)}
    now = timezone.now()
    reserved: dict[int, set[dt.datetime]] = {}
    checks = [RowCheck(row=line, values=values) for line, values in rows]
    planned = [p for check in checks
               if (p := _check_row(check, personas=personas, allow_base_model=allow_base_model, now=now,
                                   reserved=reserved)) is not None]
    errors = [{"row": c.row, "errors": c.errors, "values": {k: v for k, v in c.values.items() if k != "_extra"}}
              for c in checks if c.errors]
    if not planned:
        raise ValidationFailed(f"None of the plan's {len(checks)} rows can be imported; fix them and try again.",
                               code="plan_invalid", extra={"errors": errors})
    with transaction.atomic():
        plan = ContentPlan.objects.create(workspace_id=workspace_id, name=(name or "").strip()[:200],
                                          rows_total=len(checks), errors=errors, created_by=actor)
        for row in planned:
            try:
                job = generation_job_create(
                    actor=actor, persona=row.persona, scene=row.scene, platform=row.platform,
                    num_variants=num_variants, steps=steps, allow_base_model=allow_base_model,
                    is_sponsored=row.sponsored,
                )
            except ApplicationError as exc:
                raise ValidationFailed(f"Row {row.row}: {exc.message} Nothing was imported.", code=exc.code) from None
            ContentPlanItem.objects.create(
                plan=plan, row_number=row.row, persona=row.persona, platform=row.platform, scene=row.scene,
                caption_brief=row.brief, is_sponsored=row.sponsored, planned_at=row.planned_at,
                slot_series=row.series, job=job,
            )
    return plan
