"""The posts API as it is served: scheduler's PostViewSet, with generated-image ids looked up here, and the
caption alternatives and rewrites (written by generation's caption writer).

Scheduler sits below generation and cannot read GeneratedImage rows, so config/urls.py routes /posts/ to
this subclass. Everything else about posts (schema, rules, transitions) stays in scheduler.
"""

from __future__ import annotations

from collections.abc import Sequence

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from generation.models import GeneratedImage
from generation.selectors import caption_alternatives_for_post, generated_images_for_persona
from personas.models import Persona
from scheduler.api import posts as scheduler_api
from scheduler.captions import alternatives as captioning
from scheduler.captions.prompts import REWRITES
from scheduler.models import CaptionAlternative
from scheduler.selectors import post_get


class CaptionAlternativeSerializer(serializers.ModelSerializer):
    class Meta:
        model = CaptionAlternative
        fields = ("id", "post", "language", "instruction", "status", "caption", "hashtags", "paid_partnership",
                  "writer", "fallback_reason", "repairs", "error", "created_at")
        read_only_fields = fields


class CaptionRewriteSerializer(serializers.Serializer):
    instruction = serializers.ChoiceField(choices=list(REWRITES), help_text="How to rewrite the caption.")
    language = serializers.CharField(
        required=False, allow_blank=True, max_length=8,
        help_text="For translate: the language to translate into (a caption language code such as de).",
    )


class PostImageLikenessSerializer(serializers.ModelSerializer):
    generated_image = serializers.IntegerField(source="pk")

    class Meta:
        model = GeneratedImage
        fields = ("generated_image", "likeness_status", "likeness_score", "likeness_distance", "face_found",
                  "on_model", "likeness_threshold", "likeness_reason")
        read_only_fields = fields


def _post_generated_images(post) -> list[GeneratedImage]:
    return [pi.generated_image for pi in post.images.all() if pi.generated_image_id]


class PostLikenessFields(serializers.Serializer):
    """Read-only likeness of a post's generated images (the same as GET /posts/{id}/likeness/), and its summary as
    the review queue shows it."""

    likeness = serializers.SerializerMethodField(help_text="Likeness to the persona of each generated image.")
    likeness_score = serializers.SerializerMethodField(
        help_text="The lowest likeness score (0-1) of its generated images; null when none has one.")
    on_model = serializers.SerializerMethodField(
        help_text="false when an image is off-model, true when every scored image is on-model; null when none was "
        "scored (no face found, pending, not applicable).")

    @extend_schema_field(PostImageLikenessSerializer(many=True))
    def get_likeness(self, obj) -> list[dict]:
        return PostImageLikenessSerializer(_post_generated_images(obj), many=True).data

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_likeness_score(self, obj) -> float | None:
        scores = [image.likeness_score for image in _post_generated_images(obj) if image.likeness_score is not None]
        return min(scores) if scores else None

    @extend_schema_field(serializers.BooleanField(allow_null=True))
    def get_on_model(self, obj) -> bool | None:
        judged = [image.on_model for image in _post_generated_images(obj) if image.on_model is not None]
        return all(judged) if judged else None


_LIKENESS_FIELDS = ("likeness", "likeness_score", "on_model")


class PostSerializer(PostLikenessFields, scheduler_api.PostSerializer):
    class Meta(scheduler_api.PostSerializer.Meta):
        fields = (*scheduler_api.PostSerializer.Meta.fields, *_LIKENESS_FIELDS)
        read_only_fields = fields


class PostDetailSerializer(PostLikenessFields, scheduler_api.PostDetailSerializer):
    class Meta(scheduler_api.PostDetailSerializer.Meta):
        fields = (*scheduler_api.PostDetailSerializer.Meta.fields, *_LIKENESS_FIELDS)
        read_only_fields = fields


class PostActionResultSerializer(PostLikenessFields, scheduler_api.PostActionResultSerializer):
    class Meta(scheduler_api.PostActionResultSerializer.Meta):
        fields = (*scheduler_api.PostActionResultSerializer.Meta.fields, *_LIKENESS_FIELDS)
        read_only_fields = fields


_detail = extend_schema(responses=PostDetailSerializer)
_action_result = extend_schema(responses=PostActionResultSerializer)


@extend_schema_view(
    create=extend_schema(responses={201: PostDetailSerializer}), retrieve=_detail, partial_update=_detail,
    submit=_detail, approve=_detail, request_changes=_detail, reject=_detail, unschedule=_detail, publish=_detail,
    schedule=_action_result, reschedule=_action_result,
)
class PostViewSet(scheduler_api.PostViewSet):
    serializer_class = PostSerializer
    detail_serializer_class = PostDetailSerializer
    action_result_serializer_class = PostActionResultSerializer

    def get_queryset(self):
        return super().get_queryset().prefetch_related("images__generated_image")

    @extend_schema(summary="Likeness to the persona of the post's generated images",
                   responses=PostImageLikenessSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="likeness", url_name="likeness")
    def likeness(self, request: Request, pk: int) -> Response:
        post = post_get(user=request.user, post_id=int(pk))  # someone else's post is a 404
        images = GeneratedImage.objects.filter(post_images__post=post).order_by("post_images__position", "pk")
        return Response(PostImageLikenessSerializer(images, many=True).data)

    def generated_images(self, *, persona: Persona, ids: list[int]) -> Sequence[GeneratedImage]:
        return generated_images_for_persona(persona=persona, ids=ids)

    @extend_schema(summary="Captions offered for the post: drafted alternatives and rewrites",
                   responses=CaptionAlternativeSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="caption-alternatives", url_name="caption-alternatives")
    def caption_alternatives(self, request: Request, pk: int) -> Response:
        rows = caption_alternatives_for_post(user=request.user, post_id=int(pk))
        return Response(CaptionAlternativeSerializer(rows, many=True).data)

    @extend_schema(
        summary="Ask for a rewrite of the caption (marketer)",
        description="Written on the worker: the answer is the pending alternative (202); poll caption-alternatives "
        "until it is ready, then use it.",
        request=CaptionRewriteSerializer, responses={202: CaptionAlternativeSerializer},
    )
    @action(detail=True, methods=["post"], url_path="caption-rewrite", url_name="caption-rewrite")
    def caption_rewrite(self, request: Request, pk: int) -> Response:
        post_get(user=request.user, post_id=int(pk))  # someone else's post is a 404 whatever the body says
        data = CaptionRewriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alternative = captioning.caption_rewrite_request(
            actor=request.user, post_id=int(pk), instruction=data.validated_data["instruction"],
            language=data.validated_data.get("language", ""),
        )
        alternative.refresh_from_db()  # written already when tasks run eagerly
        return Response(CaptionAlternativeSerializer(alternative).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="Use a caption alternative as the post's caption (marketer)", request=None,
                   responses=PostDetailSerializer)
    @action(detail=True, methods=["post"], url_path=r"caption-alternatives/(?P<alternative_id>\d+)/use",
            url_name="caption-alternative-use")
    def caption_alternative_use(self, request: Request, pk: int, alternative_id: str) -> Response:
        post = captioning.caption_alternative_use(actor=request.user, post_id=int(pk),
                                                  alternative_id=int(alternative_id))
        return self._detail(post.pk)
