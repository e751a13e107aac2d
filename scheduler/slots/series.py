"""Writes for recurring slot series (e.g. every Tuesday at 18:00 for a persona)."""

from __future__ import annotations

import datetime as dt
import re

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from core.access import AUTHOR_ROLES
from core.errors import Conflict, NotFound, ValidationFailed
from personas.models import Persona
from personas.selectors import role_require
from scheduler.models import SlotSeries
from scheduler.slots.series_selectors import SERIES_NOT_FOUND, WEEKDAYS

NAME_RE = re.compile(r"^[\w][\w .-]{0,63}$")


def weekday_number(value: int | str) -> int:
    """0-6, or a weekday's English name or three-letter abbreviation."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    text = str(value).strip().lower()
    if text.isdigit() and 0 <= int(text) <= 6:
        return int(text)
    for number, name in enumerate(WEEKDAYS):
        if text in (name, name[:3]):
            return number
    raise ValidationFailed(f"Unknown weekday '{value}'; use monday ... sunday, or 0 (Monday) to 6 (Sunday).")


def slot_series_create(
    *,
    actor: AbstractBaseUser,
    persona: Persona,
    name: str,
    weekday: int | str,
    time: dt.time,
    starts_on: dt.date | None = None,
    ends_on: dt.date | None = None,
) -> SlotSeries:
    role_require(user=actor, workspace_id=persona.workspace_id, roles=AUTHOR_ROLES)
    name = " ".join((name or "").split())
    if not NAME_RE.match(name):
        raise ValidationFailed("Name the series in up to 64 letters, digits, spaces, dots or dashes "
                               "(e.g. 'tuesday-evening').")
    if starts_on and ends_on and ends_on < starts_on:
        raise ValidationFailed("The series must end on or after the day it starts.")
    with transaction.atomic():
        if SlotSeries.objects.filter(persona=persona, name__iexact=name).exists():
            raise Conflict(f"{persona.name} already has a slot series called '{name}'.", code="duplicate")
        return SlotSeries.objects.create(
            persona=persona, name=name, weekday=weekday_number(weekday), time=time.replace(second=0, microsecond=0),
            starts_on=starts_on, ends_on=ends_on, created_by=actor,
        )


def slot_series_deactivate(*, actor: AbstractBaseUser, series_id: int) -> SlotSeries:
    """Plans can no longer target it; posts already slotted on it keep their times. Idempotent."""
    with transaction.atomic():
        series = SlotSeries.objects.select_for_update().select_related("persona").filter(pk=series_id).first()
        if series is None:
            raise NotFound(SERIES_NOT_FOUND)
        role_require(user=actor, workspace_id=series.persona.workspace_id, roles=AUTHOR_ROLES,
                     not_found=SERIES_NOT_FOUND)
        if series.is_active:
            series.is_active = False
            series.save(update_fields=["is_active"])
    return series
