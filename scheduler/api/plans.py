"""REST API for content plans: import a CSV or pasted rows, list plans, and follow one plan's progress."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from core.constants import MAX_DB_ID
from core.errors import ValidationFailed
from generation.engine import specs
from scheduler.drafting import plan_selectors, plans
from scheduler.models import ContentPlan


class PlanRowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="Line in the imported text (a header is line 1).")
    errors = serializers.ListField(child=serializers.CharField())
    values = serializers.DictField(child=serializers.CharField())


class PlanPostSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    scheduled_at = serializers.DateTimeField(allow_null=True)


class PlanItemSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    persona_handle = serializers.CharField()
    platform = serializers.CharField()
    scene = serializers.CharField()
    planned_at = serializers.DateTimeField()
    slot_series = serializers.CharField(help_text="The slot series the row targeted, if any.")
    job_id = serializers.IntegerField()
    job_status = serializers.CharField()
    drafting_status = serializers.CharField()
    problem = serializers.CharField(help_text="Why the job or its drafting failed.")
    posts = PlanPostSerializer(many=True)


class PlanProgressSerializer(serializers.Serializer):
    rows_total = serializers.IntegerField()
    imported = serializers.IntegerField()
    invalid = serializers.IntegerField()
    done = serializers.IntegerField(help_text="Imported rows with nothing left to happen by itself.")
    percent = serializers.IntegerField()
    jobs = serializers.DictField(child=serializers.IntegerField(), help_text="Jobs by status.")
    drafting = serializers.DictField(child=serializers.IntegerField(), help_text="Jobs by drafting status.")
    posts = serializers.DictField(child=serializers.IntegerField(), help_text="Drafted posts by status.")
    slotted = serializers.IntegerField(help_text="Drafted posts slotted at their row's planned time.")
    items = PlanItemSerializer(many=True)


class ContentPlanSerializer(serializers.ModelSerializer):
    imported = serializers.IntegerField(read_only=True)
    errors = PlanRowErrorSerializer(many=True, read_only=True)

    class Meta:
        model = ContentPlan
        fields = ("id", "workspace", "name", "rows_total", "imported", "errors", "created_at")
        read_only_fields = fields


class ContentPlanDetailSerializer(ContentPlanSerializer):
    progress = serializers.SerializerMethodField()

    class Meta(ContentPlanSerializer.Meta):
        fields = (*ContentPlanSerializer.Meta.fields, "progress")
        read_only_fields = fields

    @extend_schema(responses=PlanProgressSerializer)
    def get_progress(self, obj: ContentPlan) -> dict:
        return asdict(plan_selectors.content_plan_progress(plan=obj))


class ContentPlanImportSerializer(serializers.Serializer):
    workspace = serializers.IntegerField(min_value=1, max_value=MAX_DB_ID)
    file = serializers.FileField(required=False, help_text="A CSV file (multipart).")
    rows = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False,
                                 help_text="Pasted rows (CSV or tab-separated), instead of a file.")
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    num_variants = serializers.IntegerField(required=False, min_value=1, max_value=specs.MAX_VARIANTS, default=1)
    steps = serializers.IntegerField(required=False, min_value=1, max_value=specs.MAX_STEPS, default=25)
    allow_base_model = serializers.BooleanField(required=False, default=False)


class ContentPlanViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Content plans of your workspaces. Importing answers 201 with the rows that did not import and why; a plan
    with no valid row imports nothing and answers 400 with every row's errors (extra.errors)."""

    queryset = ContentPlan.objects.none()  # for schema introspection; reads go through selectors
    serializer_class = ContentPlanSerializer
    filter_backends: list = []
    parser_classes = (JSONParser, MultiPartParser, FormParser)

    def get_queryset(self):
        return plan_selectors.content_plan_list(user=self.request.user)

    @extend_schema(responses=ContentPlanDetailSerializer)
    def retrieve(self, request: Request, pk: int) -> Response:
        plan = plan_selectors.content_plan_get(user=request.user, plan_id=int(pk))
        return Response(ContentPlanDetailSerializer(plan).data)

    @extend_schema(
        request={"multipart/form-data": ContentPlanImportSerializer, "application/json": ContentPlanImportSerializer},
        responses={201: ContentPlanDetailSerializer},
    )
    def create(self, request: Request) -> Response:
        data = ContentPlanImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        upload = values.get("file")
        if upload is not None:
            if upload.size > plans.MAX_TEXT_BYTES:
                raise ValidationFailed(f"The file is over {plans.MAX_TEXT_BYTES // 1_000_000} MB; split the plan.")
            raw = upload.read()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ValidationFailed("The file is not UTF-8 text; export the sheet as CSV (UTF-8).") from None
            name = values["name"] or upload.name
        else:
            text, name = values.get("rows", ""), values["name"] or "Pasted rows"
        plan = plans.content_plan_import(
            actor=request.user, workspace_id=values["workspace"], text=text, name=name,
            num_variants=values["num_variants"], steps=values["steps"], allow_base_model=values["allow_base_model"],
        )
        plan = plan_selectors.content_plan_get(user=request.user, plan_id=plan.pk)
        return Response(ContentPlanDetailSerializer(plan).data, status=status.HTTP_201_CREATED)
