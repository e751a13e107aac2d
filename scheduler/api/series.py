"""REST API for recurring slot series. Thin over series (writes) and series_selectors (reads)."""

from __future__ import annotations

import datetime as dt
import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.constants import MAX_DB_ID
from personas.selectors import persona_get
from scheduler.models import SlotSeries
from scheduler.slots import series, series_selectors

NEXT_SHOWN = 4
WALL_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"


# Not OpenAPI's `time` format: that is RFC 3339's full-time, which carries a UTC offset, and a slot has none.
@extend_schema_field({"type": "string", "pattern": WALL_TIME, "example": "18:00:00"})
class WallTimeField(serializers.TimeField):
    """A wall-clock time in the persona's timezone: HH:MM or HH:MM:SS, no offset (answered as HH:MM:SS)."""

    def to_internal_value(self, value) -> dt.time:
        if not isinstance(value, str) or not re.fullmatch(WALL_TIME, value.strip()):
            self.fail("invalid", format="HH:MM")
        return super().to_internal_value(value.strip())


class SlotSeriesSerializer(serializers.ModelSerializer):
    time = WallTimeField(read_only=True, help_text="HH:MM:SS, the persona's local time.")
    weekday_name = serializers.SerializerMethodField()
    next_occurrences = serializers.SerializerMethodField(help_text="The next few occurrences, UTC.")

    class Meta:
        model = SlotSeries
        fields = ("id", "persona", "name", "weekday", "weekday_name", "time", "starts_on", "ends_on", "is_active",
                  "next_occurrences", "created_at")
        read_only_fields = fields

    def get_weekday_name(self, obj: SlotSeries) -> str:
        return series_selectors.WEEKDAYS[obj.weekday]

    def get_next_occurrences(self, obj: SlotSeries) -> list[dt.datetime]:
        found = []
        for when in series_selectors.series_occurrences(series=obj, after=dt.datetime.now(dt.UTC)):
            found.append(when)
            if len(found) == NEXT_SHOWN:
                break
        return found


class SlotSeriesCreateSerializer(serializers.Serializer):
    persona = serializers.IntegerField(min_value=1, max_value=MAX_DB_ID)
    name = serializers.CharField(max_length=64)
    weekday = serializers.CharField(max_length=16, help_text="monday ... sunday, or 0 (Monday) to 6 (Sunday).")
    time = WallTimeField(help_text="HH:MM, the persona's local time.")
    starts_on = serializers.DateField(required=False, allow_null=True, default=None)
    ends_on = serializers.DateField(required=False, allow_null=True, default=None)


class SlotSeriesListQuerySerializer(serializers.Serializer):
    persona = serializers.IntegerField(required=False, min_value=1, max_value=MAX_DB_ID)


class SlotSeriesViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Recurring posting slots of your workspaces' personas (e.g. every Tuesday 18:00)."""

    queryset = SlotSeries.objects.none()  # for schema introspection; reads go through selectors
    serializer_class = SlotSeriesSerializer
    filter_backends: list = []

    def get_queryset(self):
        query = SlotSeriesListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)  # a persona that is not an id is a 400, not a filter left out
        persona_id = query.validated_data.get("persona")
        return series_selectors.slot_series_list(user=self.request.user, persona_id=persona_id)

    @extend_schema(parameters=[OpenApiParameter("persona", OpenApiTypes.INT, description="Persona id.")])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=SlotSeriesSerializer)
    def retrieve(self, request: Request, pk: int) -> Response:
        found = series_selectors.slot_series_get(user=request.user, series_id=int(pk))
        return Response(SlotSeriesSerializer(found).data)

    @extend_schema(request=SlotSeriesCreateSerializer, responses={201: SlotSeriesSerializer})
    def create(self, request: Request) -> Response:
        data = SlotSeriesCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        persona = persona_get(user=request.user, persona_id=values["persona"])
        created = series.slot_series_create(
            actor=request.user, persona=persona, name=values["name"], weekday=values["weekday"],
            time=values["time"], starts_on=values["starts_on"], ends_on=values["ends_on"],
        )
        return Response(SlotSeriesSerializer(created).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=SlotSeriesSerializer, summary="Deactivate")
    @action(detail=True, methods=["post"])
    def deactivate(self, request: Request, pk: int) -> Response:
        found = series_selectors.slot_series_get(user=request.user, series_id=int(pk))
        series.slot_series_deactivate(actor=request.user, series_id=found.pk)
        return Response(SlotSeriesSerializer(series_selectors.slot_series_get(user=request.user,
                                                                              series_id=found.pk)).data)
