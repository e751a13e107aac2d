"""REST API for export bundles: create (queued build), list, detail, download. Thin over services."""

from __future__ import annotations

from django.http import FileResponse
from django.urls import NoReverseMatch, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from config.exceptions import Conflict, NotFound
from personas.models import Workspace

from .export_selectors import export_bundle_get, export_bundle_list
from .exports import MAX_PERSONAS, export_bundle_create
from .models import ExportBundle, ExportStatus


class ExportBundleSerializer(serializers.ModelSerializer):
    personas = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportBundle
        fields = [
            "id",
            "workspace",
            "personas",
            "start",
            "end",
            "status",
            "progress",
            "post_count",
            "sha256",
            "error",
            "created_at",
            "finished_at",
            "download_url",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_download_url(self, obj: ExportBundle) -> str | None:
        if obj.status != ExportStatus.SUCCEEDED or not obj.file:
            return None
        try:
            path = reverse("export-download", kwargs={"pk": obj.pk})
        except NoReverseMatch:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class ExportBundleCreateSerializer(serializers.Serializer):
    workspace = serializers.IntegerField(min_value=1)
    personas = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=MAX_PERSONAS)
    start = serializers.DateTimeField(help_text="Inclusive, ISO 8601; naive values are read as UTC.")
    end = serializers.DateTimeField(help_text="Exclusive, ISO 8601; at most 366 days after start.")


class ExportBundleViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Export bundles of the caller's workspaces. Other workspaces' bundles answer 404."""

    queryset = ExportBundle.objects.none()  # schema generation only; get_queryset scopes by user
    serializer_class = ExportBundleSerializer
    filterset_fields = ["workspace", "status"]
    ordering_fields = ["created_at", "start"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return export_bundle_list(user=self.request.user)

    def get_serializer_class(self):
        if self.action == "create":
            return ExportBundleCreateSerializer
        return ExportBundleSerializer

    @extend_schema(
        request=ExportBundleCreateSerializer,
        responses={
            202: ExportBundleSerializer,
            400: OpenApiResponse(description="Invalid range or personas."),
            403: OpenApiResponse(description="Your role may not export."),
            404: OpenApiResponse(description="Workspace or persona not found."),
        },
    )
    def create(self, request: Request) -> Response:
        data = ExportBundleCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workspace = Workspace.objects.filter(pk=data.validated_data["workspace"]).first()
        if workspace is None:
            raise NotFound("Not found.")
        bundle = export_bundle_create(
            actor=request.user,
            workspace=workspace,
            persona_ids=data.validated_data["personas"],
            start=data.validated_data["start"],
            end=data.validated_data["end"],
        )
        bundle.refresh_from_db()  # an eager build may already have finished
        body = ExportBundleSerializer(bundle, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: ExportBundleSerializer, 404: OpenApiResponse(description="Not found.")})
    def retrieve(self, request: Request, pk: str) -> Response:
        bundle = export_bundle_get(user=request.user, bundle_id=int(pk))
        return Response(ExportBundleSerializer(bundle, context=self.get_serializer_context()).data)

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="Not found."),
            409: OpenApiResponse(description="The bundle is not built (yet)."),
        },
    )
    @action(detail=True, methods=["get"], url_path="download", filter_backends=[], pagination_class=None)
    def download(self, request: Request, pk: str) -> FileResponse:
        bundle = export_bundle_get(user=request.user, bundle_id=int(pk))
        if bundle.status != ExportStatus.SUCCEEDED or not bundle.file:
            raise Conflict(f"This export is {bundle.status}; it can be downloaded once it has succeeded.")
        response = FileResponse(
            bundle.file.open("rb"),
            as_attachment=True,
            filename=bundle.file.name.rsplit("/", 1)[-1],
            content_type="application/zip",
        )
        response["X-Content-SHA256"] = bundle.sha256
        return response
