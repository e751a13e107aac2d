"""REST API for LoRA training and image generation (thin: selectors read, services write)."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.filters import IdFilter
from core.platforms import Platform
from generation import selectors, services
from generation.engine import specs
from generation.models import (
    CandidateStatus,
    DraftingStatus,
    GeneratedImage,
    GenerationJob,
    GenerationMode,
    JobStatus,
    LoraVersion,
)
from generation.training.class_image_selectors import lora_version_prior_cost
from personas.selectors import persona_get

# --- serializers -----------------------------------------------------------------------------------


def _percent(step: int, total: int) -> float:
    return round(min(100.0, 100.0 * step / total), 1) if total else 0.0


class LoraVersionSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField(help_text="Percent of training steps done (of class images "
                                                 "rendered while progress_stage is class_images).")
    base_model_family = serializers.SerializerMethodField(help_text="Family of the model it was trained on.")
    compatible = serializers.SerializerMethodField(
        help_text="Whether it fits the persona's current base model (same family); an incompatible version needs "
        "a new training run on that model.")
    sample_job = serializers.SerializerMethodField(help_text="Generation job with the reviewer samples, if any.")
    prior_preservation_cost = serializers.SerializerMethodField(
        help_text="What prior preservation cost (null when trained without it): class images, whether the base "
        "model's cached set was reused, seconds spent rendering them (0 when reused), training seconds and the extra "
        "training seconds (each step also trains on class images; estimated as half the training time).")

    class Meta:
        model = LoraVersion
        fields = [
            "id", "persona", "version", "status", "is_active", "base_model", "base_model_entry", "base_model_family",
            "base_model_sha256", "compatible", "hyperparameters",
            "progress_stage", "progress_step", "total_steps", "progress", "loss_curve", "sha256", "error",
            "cancel_requested", "sample_job", "likeness_report", "prior_preservation_cost", "created_by", "created_at",
            "started_at", "finished_at",
        ]
        read_only_fields = fields

    def get_progress(self, obj: LoraVersion) -> float:
        return _percent(obj.progress_step, obj.total_steps)

    def get_base_model_family(self, obj: LoraVersion) -> str:
        return selectors.lora_version_family(obj)

    def get_compatible(self, obj: LoraVersion) -> bool:
        current = self.context.setdefault("persona_models", {}) if isinstance(self.context, dict) else {}
        if obj.persona_id not in current:
            current[obj.persona_id] = selectors.persona_base_model(persona=obj.persona)
        return selectors.lora_version_fits(version=obj, base_model=current[obj.persona_id])

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_sample_job(self, obj: LoraVersion) -> int | None:
        job = selectors.lora_version_sample_job(lora_version=obj)
        return job.pk if job is not None else None

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_prior_preservation_cost(self, obj: LoraVersion) -> dict | None:
        return lora_version_prior_cost(obj)


def _limits(name: str) -> dict:
    low, high = specs.TRAINING_LIMITS[name]
    return {"required": False, "min_value": low, "max_value": high}


class LoraTrainingStartSerializer(serializers.Serializer):
    steps = serializers.IntegerField(**_limits("steps"))
    rank = serializers.IntegerField(**_limits("rank"))
    learning_rate = serializers.FloatField(**_limits("learning_rate"))
    resolution = serializers.IntegerField(**_limits("resolution"))
    prior_preservation = serializers.BooleanField(
        required=False, help_text="Also train on the base model's class images so the LoRA keeps the model's idea of "
        "a person (less drift and overfitting). The first run on a base model renders them (GET "
        "personas/{id}/class-images/ says whether they are cached); later runs reuse them.")
    prior_loss_weight = serializers.FloatField(**_limits("prior_loss_weight"),
                                               help_text="Weight of the class images' loss (default 1).")


class LoraActivateSerializer(serializers.Serializer):
    confirm = serializers.BooleanField(
        required=False, default=False, help_text="Activate even when its likeness report scores worse."
    )


class ReproductionRecordSerializer(serializers.Serializer):
    prompt = serializers.CharField()
    negative_prompt = serializers.CharField()
    seed = serializers.IntegerField()
    steps = serializers.IntegerField()
    guidance = serializers.FloatField()
    scheduler = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    base_model = serializers.CharField()
    base_model_hash = serializers.CharField()
    lora_sha256 = serializers.CharField()
    lora_adapter = serializers.CharField()
    lora_version = serializers.IntegerField(allow_null=True)
    batch_job_ids = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="The jobs whose variants were rendered in the same pipeline call, in call order...",
    )
    batch_size = serializers.IntegerField(help_text="...the images that call rendered...")
    batch_pos = serializers.IntegerField(help_text="...and this image's position among them.")
    mode = serializers.ChoiceField(choices=GenerationMode.choices)
    strength = serializers.FloatField(allow_null=True, help_text="img2img / inpaint denoising strength.")
    init_sha256 = serializers.CharField(help_text="sha256 of the init image it was rendered from ('' for txt2img).")
    mask_sha256 = serializers.CharField(help_text="sha256 of the inpaint mask ('' unless inpaint).")
    source_image = serializers.IntegerField(allow_null=True, help_text="The generated image it was derived from.")
    stages = serializers.DictField(help_text="What the finishing stages did: hires (refine size, output size, "
                                   "strength), inpaint (region, UNet), face_detail (faces found, boxes, strength).")
    environment = serializers.DictField(help_text="Device, dtype, torch/diffusers/peft/transformers versions and "
                                        "speed options it was rendered with: byte-identical re-renders need the "
                                        "same device class, dtype and versions.")
    likeness = serializers.JSONField(
        help_text="Likeness to the persona when scored: status, score (0-1), distance, face_found, on_model, threshold."
    )


class GeneratedImageSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    post_ids = serializers.SerializerMethodField()
    reproduction = serializers.SerializerMethodField()
    variant = serializers.IntegerField(read_only=True, help_text="The variant it renders (0-based).")
    candidate = serializers.IntegerField(read_only=True, help_text="Its best-of-N candidate number (0-based).")
    rejected = serializers.SerializerMethodField(help_text="A best-of-N candidate another one of its variant beat.")
    rejection_reason = serializers.SerializerMethodField(help_text="Why it was rejected ('' unless rejected).")

    class Meta:
        model = GeneratedImage
        fields = ["id", "index", "variant", "candidate", "candidate_status", "rejected", "rejection_reason",
                  "selection_reason", "url", "width", "height", "sha256", "seed", "mode", "strength", "source_image",
                  "post_ids", "reproduction", "likeness_status", "likeness_score", "likeness_distance", "face_found",
                  "on_model", "likeness_threshold", "likeness_reason", "created_at"]
        read_only_fields = fields

    def get_rejected(self, obj: GeneratedImage) -> bool:
        return obj.candidate_status == CandidateStatus.REJECTED

    def get_rejection_reason(self, obj: GeneratedImage) -> str:
        return obj.selection_reason if obj.candidate_status == CandidateStatus.REJECTED else ""

    def get_url(self, obj: GeneratedImage) -> str:
        return obj.image.url

    def get_post_ids(self, obj: GeneratedImage) -> list[int]:
        return sorted({pi.post_id for pi in obj.post_images.all()})

    @extend_schema_field(ReproductionRecordSerializer)
    def get_reproduction(self, obj: GeneratedImage) -> dict:
        # A job's images share one pipeline call: look it up once per job, not once per image.
        batches = self.context.setdefault("render_batches", {}) if isinstance(self.context, dict) else {}
        if obj.job_id not in batches:
            batches[obj.job_id] = selectors.generation_job_render_batch(job=obj.job)
        return selectors.generated_image_record(generated_image=obj, batch=batches[obj.job_id])


class GenerationJobSerializer(serializers.ModelSerializer):
    lora_version_number = serializers.IntegerField(source="lora_version.version", read_only=True, allow_null=True)
    progress = serializers.SerializerMethodField(help_text="Percent of denoising steps done.")
    images = GeneratedImageSerializer(many=True, read_only=True)
    post_ids = serializers.SerializerMethodField(help_text="Draft posts made from the images (one per variant: its "
                                                 "kept candidate).")

    class Meta:
        model = GenerationJob
        fields = [
            "id", "persona", "lora_version", "lora_version_number", "base_model_entry", "platform", "scene", "prompt",
            "negative_prompt", "num_variants", "best_of", "seed", "steps", "guidance", "scheduler", "width", "height",
            "status", "progress_step", "total_steps", "progress", "error", "cancel_requested", "is_sample",
            "batch_leader", "batch_size", "images", "post_ids", "drafting_status", "drafting_error", "created_by",
            "created_at", "started_at", "finished_at", "is_sponsored", "caption_error", "caption_mode", "mode",
            "strength", "init_sha256", "source_image", "mask_sha256", "upscale",
            "output_width", "output_height", "face_detail",
        ]
        read_only_fields = fields

    def get_progress(self, obj: GenerationJob) -> float:
        return _percent(obj.progress_step, obj.total_steps)

    def get_post_ids(self, obj: GenerationJob) -> list[int]:
        return selectors.generation_job_post_ids(job=obj)


class GenerationJobCreateSerializer(serializers.Serializer):
    persona = serializers.IntegerField()
    scene = serializers.CharField(max_length=1000)
    platform = serializers.ChoiceField(choices=Platform.choices)
    num_variants = serializers.IntegerField(default=4, min_value=1, max_value=specs.MAX_VARIANTS)
    best_of = serializers.IntegerField(
        default=1, min_value=1, max_value=specs.MAX_BEST_OF,
        help_text=f"Best-of-N: render N candidates of each variant (N times the render time) and draft the most "
        f"on-model one; the others stay visible as rejected candidates. num_variants x best_of is at most "
        f"{specs.MAX_JOB_IMAGES}; a persona that is not a human face takes 1 only.")
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=specs.MAX_SEED)
    steps = serializers.IntegerField(default=25, min_value=1, max_value=specs.MAX_STEPS)
    guidance = serializers.FloatField(default=7.0, min_value=0, max_value=specs.MAX_GUIDANCE)
    scheduler = serializers.ChoiceField(choices=list(specs.SCHEDULERS), default="dpmpp_2m_karras")
    negative_prompt = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    allow_base_model = serializers.BooleanField(
        default=False, help_text="Generate with the base model alone when the persona has no active LoRA."
    )
    base_model = serializers.IntegerField(
        required=False, allow_null=True, source="base_model_id",
        help_text="A base model of the library (default: the persona's). The persona's LoRA must fit its family.")
    is_sponsored = serializers.BooleanField(default=False, help_text="Paid partnership: the drafted posts carry #ad.")
    mode = serializers.ChoiceField(choices=GenerationMode.choices, default=GenerationMode.TXT2IMG,
                                   help_text="txt2img; img2img (variations of a source); inpaint (repaint the "
                                   "mask's white part of a source).")
    strength = serializers.FloatField(required=False, allow_null=True, help_text="img2img / inpaint: in (0, 1], "
                                      f"default {specs.DEFAULT_STRENGTH}; lower stays closer to the source.")
    init_image = serializers.FileField(required=False, help_text="Source: an uploaded photo (multipart).")
    source_image = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                            help_text="Source: a generated image of this persona.")
    mask = serializers.FileField(required=False, help_text="inpaint: PNG the source's size, white repaints; "
                                 "transparent counts as black.")
    upscale = serializers.BooleanField(required=False, allow_null=True, default=None,
                                       help_text="Hires: render at the model's size, upscale and refine to exactly "
                                       "the platform's size (default on, except for inpaint).")
    face_detail = serializers.BooleanField(required=False, allow_null=True, default=None,
                                           help_text="Re-render detected faces with the persona's LoRA (default on).")


class GenerationJobFilter(django_filters.FilterSet):
    persona = IdFilter(field_name="persona_id")
    status = django_filters.ChoiceFilter(choices=JobStatus.choices)
    drafting_status = django_filters.ChoiceFilter(choices=DraftingStatus.choices)
    platform = django_filters.ChoiceFilter(choices=Platform.choices)
    is_sample = django_filters.BooleanFilter()

    class Meta:
        model = GenerationJob
        fields = ["persona", "status", "drafting_status", "platform", "is_sample"]


# --- views -----------------------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(summary="LoRA versions (training runs) of a persona, newest first"),
    post=extend_schema(
        summary="Start training a new LoRA version on the persona's reference images (marketer)",
        request=LoraTrainingStartSerializer,
        responses={201: LoraVersionSerializer},
    ),
)
class PersonaLoraVersionListCreateView(generics.ListCreateAPIView):
    serializer_class = LoraVersionSerializer
    ordering_fields = ["version", "created_at"]

    def get_queryset(self) -> QuerySet[LoraVersion]:
        if getattr(self, "swagger_fake_view", False):
            return LoraVersion.objects.none()
        persona = persona_get(user=self.request.user, persona_id=self.kwargs["persona_id"])
        return selectors.lora_version_list(user=self.request.user, persona_id=persona.pk)

    def create(self, request: Request, *args, **kwargs) -> Response:
        persona = persona_get(user=request.user, persona_id=self.kwargs["persona_id"])
        data = LoraTrainingStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.lora_training_start(actor=request.user, persona=persona, **data.validated_data)
        return Response(LoraVersionSerializer(version).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    retrieve=extend_schema(summary="One LoRA version: status, progress, loss curve, sha256, error"),
)
class LoraVersionViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = LoraVersionSerializer

    def get_object(self) -> LoraVersion:
        return selectors.lora_version_get(user=self.request.user, lora_version_id=self.kwargs["pk"])

    def get_queryset(self) -> QuerySet[LoraVersion]:
        return selectors.lora_version_list(user=self.request.user)

    @extend_schema(summary="Cancel a queued or running training (marketer)", request=None,
                   responses=LoraVersionSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: int) -> Response:
        version = services.lora_training_cancel(actor=request.user, lora_version_id=pk)
        return Response(LoraVersionSerializer(version).data)

    @extend_schema(
        summary="Make this succeeded version the persona's active LoRA (marketer)",
        description="A version whose likeness report scores worse than the active version's answers 409 "
        "(code likeness_worse) unless `confirm` is true.",
        request=LoraActivateSerializer,
        responses=LoraVersionSerializer,
    )
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: int) -> Response:
        self.get_object()  # another workspace's version: 404 whatever the body says
        data = LoraActivateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.lora_version_activate(
            actor=request.user, lora_version_id=pk, confirm_worse=data.validated_data["confirm"]
        )
        return Response(LoraVersionSerializer(version).data)


@extend_schema_view(
    list=extend_schema(summary="Generation jobs of your workspaces, newest first"),
    retrieve=extend_schema(summary="One generation job: progress, status, error, images, drafted posts"),
    create=extend_schema(
        summary="Generate variants of a persona in a scene for a platform (marketer)",
        request=GenerationJobCreateSerializer,
        responses={201: GenerationJobSerializer},
    ),
)
class GenerationJobViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    serializer_class = GenerationJobSerializer
    filterset_class = GenerationJobFilter
    ordering_fields = ["created_at", "id"]

    def get_queryset(self) -> QuerySet[GenerationJob]:
        return selectors.generation_job_list(user=self.request.user)

    def get_object(self) -> GenerationJob:
        return selectors.generation_job_get(user=self.request.user, job_id=self.kwargs["pk"])

    def create(self, request: Request, *args, **kwargs) -> Response:
        data = GenerationJobCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = dict(data.validated_data)
        persona = persona_get(user=request.user, persona_id=params.pop("persona"))
        params["source_image_id"] = params.pop("source_image", None)
        job = services.generation_job_create(actor=request.user, persona=persona, **params)
        job = selectors.generation_job_get(user=request.user, job_id=job.pk)
        return Response(GenerationJobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Cancel a queued or running job (marketer)", request=None,
                   responses=GenerationJobSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: int) -> Response:
        services.generation_job_cancel(actor=request.user, job_id=pk)
        job = selectors.generation_job_get(user=request.user, job_id=pk)
        return Response(GenerationJobSerializer(job).data)
