"""REST API for generation jobs made from a post's image (scheduler.posts.jobs): POST posts/{id}/image-jobs/."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from generation.api.jobs import GenerationJobSerializer
from generation.engine import specs
from generation.models import GenerationJob, GenerationMode
from generation.selectors import generation_job_get
from scheduler.models import PostImageJob
from scheduler.posts.jobs import post_image_job_create
from scheduler.selectors import post_get


class PostImageJobCreateSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=[GenerationMode.IMG2IMG, GenerationMode.INPAINT],
                                   help_text="img2img: variations of the post's image, drafted as new posts; "
                                   "inpaint: repaint the mask's white part, the result becomes the post's new image "
                                   "(the old one stays in its image_versions).")
    position = serializers.IntegerField(required=False, default=0, min_value=0, max_value=34,
                                        help_text="Which of the post's images (0: the first).")
    scene = serializers.CharField(max_length=1000)
    platform = serializers.CharField(required=False, help_text="Default: the post's platform.")
    num_variants = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                            max_value=specs.MAX_VARIANTS, help_text="Default 4; inpaint: 1 only.")
    strength = serializers.FloatField(required=False, allow_null=True, help_text="In (0, 1], default "
                                      f"{specs.DEFAULT_STRENGTH}; lower stays closer to the source.")
    mask = serializers.FileField(required=False, help_text="inpaint: PNG the image's size, white repaints; "
                                 "transparent counts as black.")
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=specs.MAX_SEED)
    steps = serializers.IntegerField(required=False, min_value=1, max_value=specs.MAX_STEPS)
    guidance = serializers.FloatField(required=False, min_value=0, max_value=specs.MAX_GUIDANCE)
    scheduler = serializers.ChoiceField(choices=list(specs.SCHEDULERS), required=False)
    negative_prompt = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    allow_base_model = serializers.BooleanField(required=False, help_text="Render with the base model alone when "
                                                "the persona has no active LoRA.")
    is_sponsored = serializers.BooleanField(required=False)
    upscale = serializers.BooleanField(required=False, allow_null=True, default=None)
    face_detail = serializers.BooleanField(required=False, allow_null=True, default=None)


class PostImageJobSerializer(GenerationJobSerializer):
    target_post = serializers.SerializerMethodField(help_text="The post whose image the result replaces (inpaint).")
    target_position = serializers.SerializerMethodField(help_text="The position of that image.")

    class Meta(GenerationJobSerializer.Meta):
        fields = [*GenerationJobSerializer.Meta.fields, "target_post", "target_position"]
        read_only_fields = fields

    def _row(self, obj: GenerationJob) -> PostImageJob | None:
        return PostImageJob.objects.filter(job=obj, replaces=True).first()

    def get_target_post(self, obj: GenerationJob) -> int | None:
        row = self._row(obj)
        return row.post_id if row is not None else None

    def get_target_position(self, obj: GenerationJob) -> int | None:
        row = self._row(obj)
        return row.position if row is not None else None


class PostImageJobCreateView(APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        summary="Render from one of a post's images: variations, or an inpainted fix as its new version (marketer)",
        request=PostImageJobCreateSerializer,
        responses={201: PostImageJobSerializer},
        tags=["posts"],
    )
    def post(self, request: Request, post_id: int) -> Response:
        post_get(user=request.user, post_id=post_id)  # another workspace's post: 404 whatever the body says
        data = PostImageJobCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = post_image_job_create(actor=request.user, post_id=post_id, **data.validated_data)
        job = generation_job_get(user=request.user, job_id=job.pk)
        return Response(PostImageJobSerializer(job).data, status=status.HTTP_201_CREATED)
