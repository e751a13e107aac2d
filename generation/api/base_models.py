"""REST API of the base-model library: every signed-in user browses it and moves their personas between models;
operators (superusers) register, archive and delete models."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from generation import selectors
from generation.engine import specs
from generation.engine.families import FAMILY_LABELS
from generation.library import services as base_models
from generation.models import BaseModel, BaseModelSample
from generation.training.class_image_selectors import persona_class_images_plan
from personas.selectors import persona_get


class BaseModelSampleSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = BaseModelSample
        fields = ["index", "url", "width", "height", "prompt", "seed", "steps", "guidance", "scheduler", "sha256"]
        read_only_fields = fields

    def get_url(self, obj: BaseModelSample) -> str:
        return obj.image.url


class BaseModelSerializer(serializers.ModelSerializer):
    family_label = serializers.SerializerMethodField()
    samples = BaseModelSampleSerializer(many=True, read_only=True)
    personas = serializers.SerializerMethodField(help_text="Ids of your personas on this model.")

    class Meta:
        model = BaseModel
        fields = ["id", "name", "description", "family", "family_label", "native_size", "sha256", "size_bytes",
                  "layout", "licence_note", "status", "is_default", "samples_status", "samples_error", "samples",
                  "personas", "created_at"]
        read_only_fields = fields

    def get_family_label(self, obj: BaseModel) -> str:
        return FAMILY_LABELS.get(obj.family, obj.family)

    def get_personas(self, obj: BaseModel) -> list[int]:
        request = self.context.get("request")
        if request is None:
            return []
        return list(selectors.base_model_personas(user=request.user, base_model=obj).values_list("pk", flat=True))


class BaseModelRegisterSerializer(serializers.Serializer):
    path = serializers.CharField(max_length=1000, help_text='A diffusers folder or a .safetensors file on the '
                                 'workers, or "tiny" / "tiny-sdxl" (built-in test models).')
    name = serializers.CharField(max_length=120)
    config_dir = serializers.CharField(max_length=1000, required=False, allow_blank=True,
                                       help_text="The diffusers config folder of a single-file checkpoint.")
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    licence_note = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class PersonaBaseModelSerializer(serializers.Serializer):
    base_model = serializers.IntegerField(help_text="Id of an active base model.")


@extend_schema_view(
    list=extend_schema(summary="The base-model library: families, sizes, samples, your personas on each"),
    retrieve=extend_schema(summary="One base model"),
    create=extend_schema(summary="Register a base model (operator): its files are checked, its samples rendered",
                         request=BaseModelRegisterSerializer, responses={201: BaseModelSerializer}),
    destroy=extend_schema(summary="Delete an unused base model (operator)"),
)
class BaseModelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                       mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = BaseModelSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[BaseModel]:
        return selectors.base_model_list()

    def get_object(self) -> BaseModel:
        return selectors.base_model_get(base_model_id=self.kwargs["pk"])

    def create(self, request: Request, *args, **kwargs) -> Response:
        data = BaseModelRegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = base_models.base_model_register(actor=request.user, **data.validated_data)
        return Response(self.get_serializer(entry).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        base_models.base_model_delete(actor=request.user, base_model_id=self.kwargs["pk"])
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Archive a base model no persona uses (operator)", request=None,
                   responses=BaseModelSerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: int) -> Response:
        entry = base_models.base_model_archive(actor=request.user, base_model_id=pk)
        return Response(self.get_serializer(entry).data)


class PersonaBaseModelView(APIView):
    @extend_schema(summary="The persona's base model", responses=BaseModelSerializer)
    def get(self, request: Request, persona_id: int) -> Response:
        persona = persona_get(user=request.user, persona_id=persona_id)
        entry = selectors.persona_base_model(persona=persona)
        return Response(BaseModelSerializer(entry, context={"request": request}).data if entry else None)

    @extend_schema(summary="Move the persona to another base model (marketer); LoRA versions of another family "
                   "stay, marked incompatible", request=PersonaBaseModelSerializer, responses=BaseModelSerializer)
    def put(self, request: Request, persona_id: int) -> Response:
        persona = persona_get(user=request.user, persona_id=persona_id)
        data = PersonaBaseModelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        choice = base_models.persona_base_model_set(actor=request.user, persona=persona,
                                                    base_model_id=data.validated_data["base_model"])
        return Response(BaseModelSerializer(choice.base_model, context={"request": request}).data)


class ClassImagesPlanSerializer(serializers.Serializer):
    base_model = serializers.IntegerField(allow_null=True)
    base_model_name = serializers.CharField()
    class_prompt = serializers.CharField()
    count = serializers.IntegerField(help_text="Class images a run with prior preservation trains with.")
    resolution = serializers.IntegerField()
    cached = serializers.BooleanField(help_text="Rendered already: the run reuses them and renders nothing.")
    class_image_set = serializers.IntegerField(allow_null=True)
    render_seconds = serializers.FloatField(allow_null=True, help_text="What rendering the cached set took.")
    estimated_seconds = serializers.FloatField(
        allow_null=True, help_text="What the run spends rendering them first (0 when cached; null: not known yet).")
    estimated_from = serializers.CharField()


class PersonaClassImagesView(APIView):
    @extend_schema(
        summary="Prior preservation's class images for the persona's base model: cached, or rendered first by the "
        "next training run that asks for prior preservation, with the measured or estimated seconds",
        parameters=[OpenApiParameter("resolution", int, required=False,
                                     description="The training resolution (default: the model family's).")],
        responses=ClassImagesPlanSerializer,
    )
    def get(self, request: Request, persona_id: int) -> Response:
        persona = persona_get(user=request.user, persona_id=persona_id)
        field = serializers.IntegerField(min_value=specs.TRAINING_LIMITS["resolution"][0],
                                         max_value=specs.TRAINING_LIMITS["resolution"][1])
        raw = request.query_params.get("resolution")
        try:
            resolution = field.run_validation(raw) if raw not in (None, "") else None
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"resolution": exc.detail}) from exc
        plan = persona_class_images_plan(persona=persona, resolution=resolution)
        return Response(ClassImagesPlanSerializer(plan).data)
