"""Calendar and next-free-slot API: scheduled posts by local day/week/month, and a persona's next posting slot.

Thin: reads via selectors. Dates without an offset are read in the persona's timezone (UTC without one).
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ValidationFailed
from core.platforms import Platform
from personas.selectors import persona_get
from scheduler import selectors
from scheduler.api.serializers import LocalTimeMixin
from scheduler.models import Post

MAX_CALENDAR_DAYS = 400


def _parse_bound(raw: str, name: str, zone_name: str, *, end: bool) -> dt.datetime:
    """A calendar bound: an ISO datetime, or a date meaning local midnight (an end date is inclusive)."""
    # Date first: parse_datetime also accepts a bare date (as midnight), which would lose the inclusive end.
    try:
        day = parse_date(raw) if len(raw.strip()) == 10 else None
        value = parse_datetime(raw) if day is None else None
    except ValueError:  # well-formed but impossible, e.g. 2026-02-30
        day = value = None
    out_of_range = ValidationFailed(f"'{name}' is out of the supported date range, got '{raw}'.")
    if day is not None:
        try:
            value = dt.datetime.combine(day + dt.timedelta(days=1) if end else day, dt.time())
        except OverflowError:  # the day after 9999-12-31
            raise out_of_range from None
        # A date means the day's first instant. Where midnight falls in a DST gap (America/Santiago, the
        # spring-forward night) that is the end of the gap, which fold=0 gives; localize() would refuse it.
        value = value.replace(tzinfo=selectors.zone_or_utc(zone_name))
    elif value is None:
        raise ValidationFailed(f"'{name}' must be an ISO 8601 date or date-time, got '{raw}'.")
    if selectors.timezone_naive(value):
        value = selectors.localize(value, zone_name)
    try:
        value.astimezone(dt.UTC)  # the database compares in UTC: years 1 and 9999 can overflow there
    except OverflowError:
        raise out_of_range from None
    return value


# --- Serializers -----------------------------------------------------------------------------------


class CalendarPostSerializer(LocalTimeMixin, serializers.ModelSerializer):
    persona_name = serializers.CharField(source="persona.name", read_only=True)
    scheduled_at_local = serializers.SerializerMethodField()
    thumbnail = serializers.SerializerMethodField()

    class Meta:
        model = Post
        fields = (
            "id",
            "persona",
            "persona_name",
            "platform",
            "status",
            "caption",
            "scheduled_at",
            "scheduled_at_local",
            "thumbnail",
        )
        read_only_fields = fields

    def get_thumbnail(self, obj: Post) -> str | None:
        images = list(obj.images.all())
        return images[0].image.url if images else None


class CalendarBucketSerializer(serializers.Serializer):
    period_start = serializers.DateField()
    count = serializers.IntegerField()
    posts = CalendarPostSerializer(many=True)


class CalendarSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    granularity = serializers.CharField()
    total = serializers.IntegerField()
    buckets = CalendarBucketSerializer(many=True)


# --- Calendar --------------------------------------------------------------------------------------


class CalendarView(APIView):
    """Posts with a scheduled time in a range, grouped by local day/week/month of each persona."""

    @extend_schema(
        parameters=[
            OpenApiParameter("start", OpenApiTypes.STR, required=True, description="ISO date or date-time."),
            OpenApiParameter(
                "end", OpenApiTypes.STR, required=True, description="ISO date (inclusive) or date-time (exclusive)."
            ),
            OpenApiParameter("persona", OpenApiTypes.INT, description="Dates are read in this persona's timezone."),
            OpenApiParameter("platform", OpenApiTypes.STR, enum=Platform.values),
            OpenApiParameter("status", OpenApiTypes.STR, description="One status or several, comma-separated."),
            OpenApiParameter("granularity", OpenApiTypes.STR, enum=list(selectors.GRANULARITIES), default="day"),
        ],
        responses=CalendarSerializer,
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        for name in ("start", "end"):
            if not params.get(name):
                raise ValidationFailed(f"'{name}' is required (ISO 8601 date or date-time).")
        persona = None
        if params.get("persona"):
            try:
                persona = persona_get(user=request.user, persona_id=int(params["persona"]))
            except ValueError:
                raise ValidationFailed("'persona' must be a persona id.") from None
        zone_name = persona.timezone if persona else "UTC"
        start = _parse_bound(params["start"], "start", zone_name, end=False)
        end = _parse_bound(params["end"], "end", zone_name, end=True)
        if end - start > dt.timedelta(days=MAX_CALENDAR_DAYS):
            raise ValidationFailed(f"The calendar range is limited to {MAX_CALENDAR_DAYS} days.")
        platform = params.get("platform") or None
        if platform and platform not in Platform.values:
            raise ValidationFailed(f"Unknown platform '{platform}'; choose one of: {', '.join(Platform.values)}.")
        buckets = selectors.calendar_posts(
            user=request.user,
            start=start,
            end=end,
            persona_id=persona.pk if persona else None,
            platform=platform,
            status=params.get("status") or None,
            granularity=params.get("granularity") or "day",
        )
        body = {
            "start": start,
            "end": end,
            "granularity": params.get("granularity") or "day",
            "total": sum(b.count for b in buckets),
            "buckets": buckets,
        }
        return Response(CalendarSerializer(body, context={"request": request}).data)


class NextFreeSlotView(APIView):
    """The persona's next posting slot after `after` that keeps its minimum gap between posts."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "after", OpenApiTypes.DATETIME, description="Default now; without an offset it is local to the persona."
            )
        ],
        responses=inline_serializer(
            "NextFreeSlot",
            {
                "persona": serializers.IntegerField(),
                "timezone": serializers.CharField(),
                "slot": serializers.DateTimeField(),
                "slot_local": serializers.DateTimeField(),
            },
        ),
    )
    def get(self, request: Request, persona_id: int) -> Response:
        persona = persona_get(user=request.user, persona_id=persona_id)
        after = timezone.now()
        if request.query_params.get("after"):
            try:
                after = parse_datetime(request.query_params["after"])
            except ValueError:
                after = None
            if after is None:
                raise ValidationFailed("'after' must be an ISO 8601 date-time.")
            after = selectors.in_persona_zone(after, persona)
        slot = selectors.next_free_slot(persona=persona, after=after)
        return Response(
            {
                "persona": persona.pk,
                "timezone": persona.timezone,
                "slot": slot.isoformat().replace("+00:00", "Z"),
                "slot_local": selectors.local_time(slot, persona).isoformat(),
            }
        )
