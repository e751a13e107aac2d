"""REST API for export bundles: create (queued build), list, detail, download, verification. Thin over services."""

from __future__ import annotations

import zipfile

from django.http import StreamingHttpResponse
from django.urls import NoReverseMatch, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from core.constants import MAX_DB_ID
from core.errors import Conflict, NotFound, ValidationFailed
from core.storage import media_attachment
from personas.models import Workspace
from provenance.bundles.build import MAX_PERSONAS, export_bundle_create
from provenance.bundles.selectors import export_bundle_get, export_bundle_list
from provenance.checks.verify import bundle_verify
from provenance.models import ExportBundle, ExportStatus

# An uploaded bundle larger than this is refused before it is opened (our own bundles are far smaller).
MAX_VERIFY_UPLOAD_BYTES = 500 * 1024 * 1024


class ExportBundleSerializer(serializers.ModelSerializer):
    personas = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    download_url = serializers.SerializerMethodField()
    verified = serializers.SerializerMethodField(
        help_text="Whether the built ZIP passed verification; null while it has not been verified."
    )

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
            "verified",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField(allow_null=True))
    def get_verified(self, obj: ExportBundle) -> bool | None:
        return obj.verification.get("ok") if obj.verification else None

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


class ImageVerificationSerializer(serializers.Serializer):
    path = serializers.CharField()
    ok = serializers.BooleanField()
    size_bytes = serializers.IntegerField()
    sha256 = serializers.CharField()
    sha256_ok = serializers.BooleanField(allow_null=True, help_text="null: the manifest records no sha256.")
    c2pa = serializers.ChoiceField(choices=["trusted", "untrusted_signer", "invalid", "missing"])
    c2pa_ai_declared = serializers.BooleanField()
    iptc_digital_source_type = serializers.CharField(allow_null=True)
    watermark = serializers.CharField(allow_null=True, help_text="Decoded payload, hex.")
    watermark_ok = serializers.BooleanField(allow_null=True)
    problems = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField())


class VerificationReportSerializer(serializers.Serializer):
    """provenance.checks.verify.VerificationReport.as_dict(): every image's labels checked against manifest.json."""

    ok = serializers.BooleanField()
    problems = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField())
    images = ImageVerificationSerializer(many=True)


class BundleUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="An export bundle ZIP.")
    strict_trust = serializers.BooleanField(
        default=False, help_text="Fail (not warn) when the C2PA signer is not on the trust list."
    )


class ExportBundleCreateSerializer(serializers.Serializer):
    workspace = serializers.IntegerField(min_value=1, max_value=MAX_DB_ID)
    personas = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_DB_ID), min_length=1, max_length=MAX_PERSONAS
    )
    start = serializers.DateTimeField(help_text="Inclusive, ISO 8601; naive values are read as UTC.")
    end = serializers.DateTimeField(help_text="Exclusive, ISO 8601; at most 366 days after start.")


class ExportBundleViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Export bundles of the caller's workspaces. Other workspaces' bundles answer 404."""

    queryset = ExportBundle.objects.none()  # schema generation only; get_queryset scopes by user
    serializer_class = ExportBundleSerializer
    filterset_fields = ["workspace", "status"]
    ordering_fields = ["created_at", "start"]

    def get_queryset(self):
        return export_bundle_list(user=self.request.user)

    def get_serializer_class(self):
        if self.action == "create":
            return ExportBundleCreateSerializer
        if self.action == "verify":
            return BundleUploadSerializer
        if self.action == "verification":
            return VerificationReportSerializer
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
    def download(self, request: Request, pk: str) -> StreamingHttpResponse:
        bundle = export_bundle_get(user=request.user, bundle_id=int(pk))
        if bundle.status != ExportStatus.SUCCEEDED or not bundle.file:
            raise Conflict(f"This export is {bundle.status}; it can be downloaded once it has succeeded.")
        response = media_attachment(bundle.file.name, filename=bundle.file.name.rsplit("/", 1)[-1],
                                    content_type="application/zip", storage=bundle.file.storage)
        response["X-Content-SHA256"] = bundle.sha256
        return response

    @extend_schema(
        request={"multipart/form-data": BundleUploadSerializer},
        responses={
            200: VerificationReportSerializer,
            400: OpenApiResponse(description="No file, or the file is not a ZIP."),
        },
        description=(
            "Check an export bundle ZIP: per image, the C2PA manifest (valid, declares AI generation), the IPTC "
            "digital source type, the invisible watermark and sha256 against manifest.json. A failed check is "
            "answered 200 with ok=false and the problems."
        ),
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="verify",
        parser_classes=[MultiPartParser],
        filter_backends=[],
        pagination_class=None,
    )
    def verify(self, request: Request) -> Response:
        data = BundleUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        if upload.size > MAX_VERIFY_UPLOAD_BYTES:
            raise ValidationFailed(f"The file is larger than {MAX_VERIFY_UPLOAD_BYTES // (1024 * 1024)} MB.")
        if not zipfile.is_zipfile(upload):
            raise ValidationFailed(f"'{upload.name}' is not a ZIP file; upload an export bundle (.zip).")
        upload.seek(0)
        report = bundle_verify(zip_path_or_file=upload, strict_trust=data.validated_data["strict_trust"])
        return Response(report.as_dict())

    @extend_schema(
        responses={
            200: VerificationReportSerializer,
            404: OpenApiResponse(description="Not found."),
            409: OpenApiResponse(description="The bundle has not been verified (yet)."),
        },
    )
    @action(detail=True, methods=["get"], url_path="verification", filter_backends=[], pagination_class=None)
    def verification(self, request: Request, pk: str) -> Response:
        """The report stored when the bundle was built (also on a bundle that failed verification)."""
        bundle = export_bundle_get(user=request.user, bundle_id=int(pk))
        if not bundle.verification:
            raise Conflict(f"This export is {bundle.status} and has no verification report.")
        return Response(bundle.verification)
