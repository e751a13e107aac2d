"""REST API for workspaces, personas and reference images. Thin: serializers check shapes, services decide."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from core.access import Role
from core.constants import BadgePosition
from core.errors import ValidationFailed
from core.filters import IdFilter
from core.languages import LANGUAGES
from core.platforms import Platform
from personas import caption_settings, selectors, services
from personas.models import (
    CONSENT_CONFIRMATION,
    RIGHTS_CONFIRMATION,
    CaptionLanguageMode,
    Persona,
    ReferenceImage,
    ReferenceUpload,
    Workspace,
)

# --- serializers -------------------------------------------------------------------------------


class WorkspaceSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(choices=Role.choices, read_only=True, help_text="Your role in this workspace.")

    class Meta:
        model = Workspace
        fields = ("id", "name", "slug", "role", "created_at", "brand_names", "disclosure_labels")
        read_only_fields = fields


class WorkspaceCaptionSettingsSerializer(serializers.Serializer):
    brand_names = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False,
        help_text="Brands that pay this workspace: a caption naming one gets #ad and the paid-partnership flag.",
    )
    disclosure_labels = serializers.DictField(
        child=serializers.CharField(max_length=100, allow_blank=True), required=False,
        help_text='AI-disclosure label per caption language over the built-in table, e.g. {"de": "KI-generiert"}.',
    )


class PersonaSerializer(serializers.ModelSerializer):
    class Meta:
        model = Persona
        fields = (
            "id",
            "workspace",
            *services.PERSONA_FIELDS,
            "reference_profile",
            "created_by",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    reference_profile = serializers.SerializerMethodField(
        help_text="Reference QA: status (not_applicable for a persona that is not a human face, ready, "
        "too_few_faces), usable faces, faces needed to train, the on-model threshold in use, and counts by finding."
    )

    @extend_schema_field(
        inline_serializer(
            name="ReferenceProfile",
            fields={
                "status": serializers.ChoiceField(choices=["not_applicable", "ready", "too_few_faces"]),
                "usable_faces": serializers.IntegerField(),
                "needed": serializers.IntegerField(),
                "threshold": serializers.FloatField(allow_null=True),
                "findings": serializers.DictField(child=serializers.IntegerField()),
            },
        )
    )
    def get_reference_profile(self, persona: Persona) -> dict:
        return selectors.reference_profile_summary(persona=persona)


class PersonaWriteSerializer(serializers.Serializer):
    """Shapes only; the rules (adult age, IANA timezone, unique handle, slots...) are in the service."""

    name = serializers.CharField(max_length=120)
    handle = serializers.CharField(max_length=65)
    age = serializers.IntegerField()
    pronouns = serializers.CharField(max_length=32, required=False, allow_blank=True)
    bio = serializers.CharField(required=False, allow_blank=True)
    appearance = serializers.CharField(required=False, allow_blank=True)
    style_keywords = serializers.ListField(child=serializers.CharField(max_length=80), required=False)
    voice = serializers.CharField(required=False, allow_blank=True)
    default_hashtags = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    trigger_token = serializers.CharField(max_length=32)
    timezone = serializers.CharField(max_length=64, required=False)
    target_platforms = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, help_text=f"Any of {', '.join(Platform.values)}."
    )
    disclosure_label = serializers.CharField(max_length=200, required=False, allow_blank=True)
    ai_badge_enabled = serializers.BooleanField(
        required=False, help_text='Draw a visible "AI-generated" badge on every exported image.'
    )
    ai_badge_position = serializers.ChoiceField(choices=BadgePosition.choices, required=False)
    min_post_gap_minutes = serializers.IntegerField(required=False)
    posting_slots = serializers.ListField(
        child=serializers.CharField(max_length=5), required=False, help_text='Local times, e.g. ["09:00", "18:30"].'
    )
    banned_words = serializers.ListField(child=serializers.CharField(max_length=100), required=False,
                                         help_text="Words no caption may use.")
    must_include = serializers.ListField(child=serializers.CharField(max_length=100), required=False,
                                         help_text="Phrases every caption carries.")
    caption_examples = serializers.ListField(child=serializers.CharField(max_length=2200), required=False,
                                             help_text="Captions you liked: the writer's examples of the voice.")
    caption_languages = serializers.ListField(
        child=serializers.CharField(max_length=8), required=False,
        help_text=f"Caption languages, main first; any of {', '.join(LANGUAGES)}.",
    )
    caption_language_mode = serializers.ChoiceField(choices=CaptionLanguageMode.choices, required=False)
    caption_urls_allowed = serializers.BooleanField(required=False, help_text="Captions may carry links.")
    is_human_face = serializers.BooleanField(
        required=False, help_text="Off for a mascot, product or stylised character: likeness is then not applicable."
    )
    based_on_real_person = serializers.BooleanField(
        required=False, help_text="Based on a real person's likeness: reference uploads must confirm their consent."
    )
    likeness_threshold = serializers.FloatField(
        required=False, allow_null=True,
        help_text="Face distance at or below which a draft is on-model (0-2]; null: the model's own (0.6 for dlib).",
    )
    hold_off_model_drafts = serializers.BooleanField(
        required=False, help_text="Keep off-model drafts out of the review queue, with the reason."
    )


class PersonaCreateSerializer(PersonaWriteSerializer):
    workspace = serializers.IntegerField(help_text="Id of a workspace where you are a marketer or admin.")


class ReferenceUploadSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReferenceUpload
        fields = ("id", "confirmed_by", "confirmed_by_name", "confirmed_at", "rights_text", "consent_text")
        read_only_fields = fields


class ReferenceImageSerializer(serializers.ModelSerializer):
    upload = ReferenceUploadSerializer(
        read_only=True, allow_null=True, help_text="The rights / consent confirmation given with the upload."
    )

    class Meta:
        model = ReferenceImage
        fields = (
            "id", "persona", "image", "width", "height", "sha256", "original_filename", "caption", "created_at",
            "face_finding", "face_reason", "face_px", "face_distance", "upload",
        )
        read_only_fields = fields


class ReferenceImageUploadSerializer(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(),
        help_text=f"One or more JPEG/PNG/WebP photos (at most {services.MAX_FILES_PER_UPLOAD}).",
    )
    rights_confirmed = serializers.BooleanField(
        required=False, default=False, help_text=f'Confirms: "{RIGHTS_CONFIRMATION}" Stored with the upload.'
    )
    consent_confirmed = serializers.BooleanField(
        required=False, default=False,
        help_text=f'Confirms: "{CONSENT_CONFIRMATION}" Required for a persona based on a real person.',
    )


class FileErrorSerializer(serializers.Serializer):
    filename = serializers.CharField()
    message = serializers.CharField()


class UploadResultSerializer(serializers.Serializer):
    created = ReferenceImageSerializer(many=True)
    errors = FileErrorSerializer(many=True)


# --- filters -------------------------------------------------------------------------------------


class PersonaFilter(django_filters.FilterSet):
    workspace = IdFilter(field_name="workspace_id", help_text="Only this workspace's personas.")
    search = django_filters.CharFilter(method="filter_search", help_text="Part of the name or handle.")

    class Meta:
        model = Persona
        fields = ("workspace", "search")

    def filter_search(self, queryset: QuerySet[Persona], name: str, value: str) -> QuerySet[Persona]:
        value = value.strip().lstrip("@")
        return queryset.filter(Q(name__icontains=value) | Q(handle__icontains=value)) if value else queryset


# --- views -----------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Your workspaces, with your role in each"),
    retrieve=extend_schema(summary="One of your workspaces"),
)
class WorkspaceViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = WorkspaceSerializer
    queryset = Workspace.objects.none()  # for the schema; real reads are scoped in get_queryset
    ordering_fields = ("name", "created_at")

    def get_queryset(self) -> QuerySet[Workspace]:
        return selectors.workspace_list_with_roles(user=self.request.user).order_by("name", "pk")

    @extend_schema(summary="Set the workspace's brand list and disclosure labels per language (admin)",
                   request=WorkspaceCaptionSettingsSerializer, responses=WorkspaceSerializer)
    @action(detail=True, methods=["patch"], url_path="caption-settings", url_name="caption-settings")
    def caption_settings(self, request: Request, pk: int) -> Response:
        data = WorkspaceCaptionSettingsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workspace = selectors.workspace_get(user=request.user, workspace_id=int(pk))
        caption_settings.workspace_caption_settings_update(
            actor=request.user, workspace=workspace, **data.validated_data
        )
        return Response(WorkspaceSerializer(self.get_queryset().get(pk=workspace.pk)).data)


@extend_schema_view(
    list=extend_schema(summary="Personas of your workspaces"),
    retrieve=extend_schema(summary="One persona"),
    create=extend_schema(
        summary="Create a persona (marketer)", request=PersonaCreateSerializer, responses={201: PersonaSerializer}
    ),
    update=extend_schema(
        summary="Replace a persona's fields (marketer)", request=PersonaWriteSerializer, responses=PersonaSerializer
    ),
    partial_update=extend_schema(
        summary="Change some of a persona's fields (marketer)",
        request=PersonaWriteSerializer,
        responses=PersonaSerializer,
    ),
    destroy=extend_schema(
        summary="Delete a persona with its reference images and settings (admin)",
        description="A persona that posts, generation jobs or LoRA versions still use is not deleted: 409 (code "
        "in_use) with their counts in extra.in_use_by.",
        responses={204: None},
    ),
)
class PersonaViewSet(viewsets.ModelViewSet):
    serializer_class = PersonaSerializer
    queryset = Persona.objects.none()  # for the schema; real reads are scoped in get_queryset
    filterset_class = PersonaFilter
    ordering_fields = ("name", "handle", "created_at", "updated_at")

    def get_queryset(self) -> QuerySet[Persona]:
        return selectors.persona_list(user=self.request.user).order_by("name", "pk")

    def create(self, request: Request, *args, **kwargs) -> Response:
        incoming = PersonaCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        fields = dict(incoming.validated_data)
        workspace = selectors.workspace_get(user=request.user, workspace_id=fields.pop("workspace"))
        persona = services.persona_create(actor=request.user, workspace=workspace, **fields)
        return Response(PersonaSerializer(persona).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args, **kwargs) -> Response:
        persona = self.get_object()
        incoming = PersonaWriteSerializer(data=request.data, partial=kwargs.get("partial", False))
        incoming.is_valid(raise_exception=True)
        persona = services.persona_update(actor=request.user, persona=persona, **incoming.validated_data)
        return Response(PersonaSerializer(persona).data)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        services.persona_delete(actor=request.user, persona=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="A persona's reference images", responses=ReferenceImageSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="reference-images", filterset_class=None, ordering_fields=())
    def reference_images(self, request: Request, pk: str | None = None) -> Response:
        persona = self.get_object()
        qs = selectors.reference_image_list(user=request.user, persona_id=persona.pk)
        page = self.paginate_queryset(qs)
        serializer = ReferenceImageSerializer(page if page is not None else qs, many=True, context={"request": request})
        return self.get_paginated_response(serializer.data) if page is not None else Response(serializer.data)

    @extend_schema(
        summary="Upload reference photos (marketer)",
        description=(
            "Multipart upload of one or more files in the field `files`. Each file is validated on its own: "
            "the good ones are stored even when others are rejected. 201 when at least one was stored, with "
            "`errors` listing every rejected file and why; 400 when none was, with that list in extra.errors."
        ),
        request={"multipart/form-data": ReferenceImageUploadSerializer},
        responses={201: UploadResultSerializer},
    )
    @reference_images.mapping.post
    def reference_images_upload(self, request: Request, pk: str | None = None) -> Response:
        persona = self.get_object()
        confirmations = ReferenceImageUploadSerializer(data={
            name: request.data[name] for name in ("rights_confirmed", "consent_confirmed") if name in request.data
        }, partial=True)
        confirmations.is_valid(raise_exception=True)
        result = services.reference_images_upload(
            actor=request.user, persona=persona, files=request.FILES.getlist("files"),
            rights_confirmed=confirmations.validated_data.get("rights_confirmed", False),
            consent_confirmed=confirmations.validated_data.get("consent_confirmed", False),
        )
        errors = [{"filename": e.filename, "message": e.message} for e in result.errors]
        if not result.created:
            raise ValidationFailed(
                "No file was stored: " + "; ".join(e["message"] for e in errors), extra={"errors": errors}
            )
        body = {
            "created": ReferenceImageSerializer(result.created, many=True, context={"request": request}).data,
            "errors": errors,
        }
        return Response(body, status=status.HTTP_201_CREATED)

    def get_parsers(self):
        if getattr(self, "action", None) == "reference_images_upload":
            return [MultiPartParser(), FormParser()]
        return super().get_parsers()


@extend_schema_view(
    retrieve=extend_schema(summary="One reference image"),
    destroy=extend_schema(summary="Delete a reference image (marketer)", responses={204: None}),
)
class ReferenceImageViewSet(mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = ReferenceImageSerializer
    queryset = ReferenceImage.objects.none()  # for the schema; real reads are scoped in get_queryset
    filter_backends = ()

    def get_queryset(self) -> QuerySet[ReferenceImage]:
        return selectors.reference_image_list(user=self.request.user)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        services.reference_image_delete(actor=request.user, image=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
