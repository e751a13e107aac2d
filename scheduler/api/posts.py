"""The posts API: posts with their images and likeness, workflow transitions, comments and caption
alternatives. Thin: reads via selectors, writes via services; serializers are in scheduler.api.serializers."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from core.platforms import Platform
from generation.selectors import generated_images_for_persona
from personas.selectors import persona_get
from scheduler import selectors, services
from scheduler.api.serializers import (
    CaptionAlternativeSerializer,
    CaptionRewriteSerializer,
    CommentCreateSerializer,
    PostActionResultSerializer,
    PostCommentSerializer,
    PostCreateSerializer,
    PostDetailSerializer,
    PostImageLikenessSerializer,
    PostListQuerySerializer,
    PostSerializer,
    PostTransitionSerializer,
    PostUpdateSerializer,
    ScheduleSerializer,
    TransitionSerializer,
    post_generated_images,
)
from scheduler.captions import alternatives as captioning
from scheduler.captions.alternative_selectors import caption_alternatives_for_post
from scheduler.models import Post
from scheduler.review.comments import post_comment_add

_LIST_PARAMS = [
    OpenApiParameter("persona", OpenApiTypes.INT, description="Persona id."),
    OpenApiParameter("platform", OpenApiTypes.STR, enum=Platform.values),
    OpenApiParameter("status", OpenApiTypes.STR, description="One status or several, comma-separated."),
    OpenApiParameter("scheduled_from", OpenApiTypes.DATETIME, description="Inclusive."),
    OpenApiParameter("scheduled_to", OpenApiTypes.DATETIME, description="Exclusive."),
]


class PostViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Posts of your workspaces. Another workspace's post answers 404; a wrong role answers 403."""

    queryset = Post.objects.none()  # for schema introspection; reads go through selectors
    serializer_class = PostSerializer
    filter_backends: list = []
    parser_classes = (JSONParser, MultiPartParser, FormParser)

    def get_queryset(self):
        query = PostListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        return selectors.post_list(
            user=self.request.user,
            persona_id=params.get("persona"),
            platform=params.get("platform"),
            status=params.get("status"),
            scheduled_from=params.get("scheduled_from"),
            scheduled_to=params.get("scheduled_to"),
        ).prefetch_related("images__generated_image")

    def _detail(
        self,
        post_id: int,
        *,
        code: int = status.HTTP_200_OK,
        warnings: list[str] | None = None,
        importer_warnings: list[str] | None = None,
    ) -> Response:
        post = selectors.post_get(user=self.request.user, post_id=post_id)
        context = {
            **self.get_serializer_context(),
            "warnings": warnings or [],
            "importer_warnings": importer_warnings or [],
        }
        serializer_class = PostActionResultSerializer if warnings is not None else PostDetailSerializer
        return Response(serializer_class(post, context=context).data, status=code)

    @extend_schema(parameters=_LIST_PARAMS)
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request={"application/json": PostCreateSerializer, "multipart/form-data": PostCreateSerializer},
        responses={201: PostDetailSerializer},
    )
    def create(self, request: Request) -> Response:
        data = PostCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        persona = persona_get(user=request.user, persona_id=values["persona"])
        post = services.post_create(
            actor=request.user,
            persona=persona,
            platform=values["platform"],
            caption=values["caption"],
            hashtags=values["hashtags"],
            images=values["images"],
            generated_images=generated_images_for_persona(persona=persona, ids=values["generated_images"]),
            is_sponsored=values["is_sponsored"],
            scheduled_at=selectors.in_persona_zone(values["scheduled_at"], persona),
        )
        return self._detail(post.pk, code=status.HTTP_201_CREATED)

    @extend_schema(responses=PostDetailSerializer)
    def retrieve(self, request: Request, pk: int) -> Response:
        return self._detail(pk)

    @extend_schema(request=PostUpdateSerializer, responses=PostDetailSerializer)
    def partial_update(self, request: Request, pk: int) -> Response:
        post = selectors.post_get(user=request.user, post_id=pk)
        data = PostUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        if "scheduled_at" in fields:
            fields["scheduled_at"] = selectors.in_persona_zone(fields["scheduled_at"], post.persona)
        services.post_update(actor=request.user, post=post, **fields)
        return self._detail(post.pk)

    # Transitions: each maps to one service.
    def _simple(self, request: Request, pk: int, service, **extra) -> Response:
        post = selectors.post_get(user=request.user, post_id=pk)
        data = TransitionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        service(actor=request.user, post_id=post.pk, comment=data.validated_data["comment"], **extra)
        return self._detail(post.pk)

    def _timed(self, request: Request, pk: int, service) -> Response:
        post = selectors.post_get(user=request.user, post_id=pk)
        data = ScheduleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        when = selectors.in_persona_zone(data.validated_data["scheduled_at"], post.persona)
        service(actor=request.user, post_id=post.pk, scheduled_at=when, comment=data.validated_data["comment"])
        warnings = selectors.calendar_conflicts(persona=post.persona, scheduled_at=when, exclude_post_id=post.pk)
        importer = selectors.importer_warnings(post=post, scheduled_at=when)
        return self._detail(post.pk, warnings=warnings, importer_warnings=importer)

    @extend_schema(request=TransitionSerializer, responses=PostDetailSerializer, summary="Submit for review")
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: int) -> Response:
        return self._simple(request, pk, services.post_submit)

    @extend_schema(request=TransitionSerializer, responses=PostDetailSerializer, summary="Approve (reviewer)")
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: int) -> Response:
        return self._simple(request, pk, services.post_approve)

    @extend_schema(request=TransitionSerializer, responses=PostDetailSerializer, summary="Request changes")
    @action(detail=True, methods=["post"], url_path="request-changes", url_name="request-changes")
    def request_changes(self, request: Request, pk: int) -> Response:
        return self._simple(request, pk, services.post_request_changes)

    @extend_schema(request=TransitionSerializer, responses=PostDetailSerializer, summary="Reject (reviewer)")
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: int) -> Response:
        return self._simple(request, pk, services.post_reject)

    @extend_schema(request=ScheduleSerializer, responses=PostActionResultSerializer, summary="Schedule")
    @action(detail=True, methods=["post"])
    def schedule(self, request: Request, pk: int) -> Response:
        return self._timed(request, pk, services.post_schedule)

    @extend_schema(request=TransitionSerializer, responses=PostDetailSerializer, summary="Unschedule")
    @action(detail=True, methods=["post"])
    def unschedule(self, request: Request, pk: int) -> Response:
        return self._simple(request, pk, services.post_unschedule)

    @extend_schema(request=ScheduleSerializer, responses=PostActionResultSerializer, summary="Reschedule")
    @action(detail=True, methods=["post"])
    def reschedule(self, request: Request, pk: int) -> Response:
        return self._timed(request, pk, services.post_reschedule)

    @extend_schema(request=TransitionSerializer, responses=PostDetailSerializer, summary="Mark published")
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: int) -> Response:
        return self._simple(request, pk, services.post_mark_published)

    @extend_schema(request=None, responses=PostTransitionSerializer(many=True), summary="Audit trail")
    @action(detail=True, methods=["get"], pagination_class=None)
    def transitions(self, request: Request, pk: int) -> Response:
        rows = selectors.post_transitions(user=request.user, post_id=pk)
        return Response(PostTransitionSerializer(rows, many=True).data)

    @extend_schema(methods=["get"], request=None, responses=PostCommentSerializer(many=True), summary="Comments")
    @extend_schema(methods=["post"], request=CommentCreateSerializer, responses={201: PostCommentSerializer},
                   summary="Add a comment")
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def comments(self, request: Request, pk: int) -> Response:
        if request.method == "GET":
            rows = selectors.post_comments(user=request.user, post_id=pk)
            return Response(PostCommentSerializer(rows, many=True).data)
        post = selectors.post_get(user=request.user, post_id=pk)
        data = CommentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        comment = post_comment_add(actor=request.user, post_id=post.pk, body=data.validated_data["body"])
        return Response(PostCommentSerializer(selectors.comments_of(post_id=post.pk).get(pk=comment.pk)).data,
                        status=status.HTTP_201_CREATED)

    # Likeness and captions. Each lists everything at once (a post has a handful), so no pagination.

    @extend_schema(summary="Likeness to the persona of the post's generated images",
                   responses=PostImageLikenessSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="likeness", url_name="likeness", pagination_class=None)
    def likeness(self, request: Request, pk: int) -> Response:
        post = selectors.post_get(user=request.user, post_id=pk)  # someone else's post is a 404
        return Response(PostImageLikenessSerializer(post_generated_images(post), many=True).data)

    @extend_schema(summary="Captions offered for the post: drafted alternatives and rewrites",
                   responses=CaptionAlternativeSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="caption-alternatives", url_name="caption-alternatives",
            pagination_class=None)
    def caption_alternatives(self, request: Request, pk: int) -> Response:
        rows = caption_alternatives_for_post(user=request.user, post_id=pk)
        return Response(CaptionAlternativeSerializer(rows, many=True).data)

    @extend_schema(
        summary="Ask for a rewrite of the caption (marketer)",
        description="Written on the worker: the answer is the pending alternative (202); poll caption-alternatives "
        "until it is ready, then use it.",
        request=CaptionRewriteSerializer, responses={202: CaptionAlternativeSerializer},
    )
    @action(detail=True, methods=["post"], url_path="caption-rewrite", url_name="caption-rewrite")
    def caption_rewrite(self, request: Request, pk: int) -> Response:
        selectors.post_get(user=request.user, post_id=pk)  # someone else's post is a 404 whatever the body says
        data = CaptionRewriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alternative = captioning.caption_rewrite_request(
            actor=request.user, post_id=pk, instruction=data.validated_data["instruction"],
            language=data.validated_data.get("language", ""),
        )
        alternative.refresh_from_db()  # written already when tasks run eagerly
        return Response(CaptionAlternativeSerializer(alternative).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="Use a caption alternative as the post's caption (marketer)", request=None,
                   responses=PostDetailSerializer)
    @action(detail=True, methods=["post"], url_path="caption-alternatives/<id:alternative_id>/use",
            url_name="caption-alternative-use")
    def caption_alternative_use(self, request: Request, pk: int, alternative_id: int) -> Response:
        post = captioning.caption_alternative_use(actor=request.user, post_id=pk, alternative_id=alternative_id)
        return self._detail(post.pk)
