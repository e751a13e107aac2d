"""Posts and their workflow transitions. Thin: reads via selectors, writes via services.

The posts route serves scheduler.api.posts.generated.PostViewSet, this viewset with generated-image ids resolved by
generation, which sits above this app (see config/urls.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from core.constants import MAX_DB_ID
from core.platforms import Platform, text_as_posted
from personas.models import Persona
from personas.selectors import persona_get
from scheduler import selectors, services
from scheduler.models import Post, PostComment, PostImage, PostImageVersion, PostStatus, PostTransition
from scheduler.review.comments import MAX_COMMENT_CHARS, comment_author_name, post_comment_add
from scheduler.selectors import validate_post_for_platform

# --- Time input ------------------------------------------------------------------------------------


class WallDateTimeField(serializers.DateTimeField):
    """Keeps naive input naive so the view can read it in the persona's timezone (DST-aware)."""

    def enforce_timezone(self, value: dt.datetime) -> dt.datetime:
        # DRF's own version turns an OverflowError into a 400; keep that. A week either side covers any UTC
        # offset and the minimum-gap arithmetic done with the value later (the gap is at most 7 days).
        probe = value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # naive: not the server's local zone
        try:
            (probe - dt.timedelta(days=8)).astimezone(dt.UTC), (probe + dt.timedelta(days=8)).astimezone(dt.UTC)
        except OverflowError:
            self.fail("overflow")
        return value


# `scheduled_at_local` of post serializers: the stored UTC time in the persona's timezone. No docstring: the
# schema would show it as the description of every serializer that mixes this in.
class LocalTimeMixin:
    def get_scheduled_at_local(self, obj: Post) -> dt.datetime | None:
        return selectors.local_time(obj.scheduled_at, obj.persona)


# --- Serializers -----------------------------------------------------------------------------------


class PostImageSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = PostImage
        fields = ("id", "url", "width", "height", "sha256", "position", "generated_image")
        read_only_fields = fields

    def get_url(self, obj: PostImage) -> str:
        url = obj.image.url
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class PostTransitionSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    external_reviewer = serializers.CharField(read_only=True, help_text="The review link's reviewer who decided.")
    # Plain strings: a second enum over the post statuses would give the schema two names for one choice set.
    from_status = serializers.CharField(read_only=True, help_text="A post status.")
    to_status = serializers.CharField(read_only=True, help_text="A post status.")

    class Meta:
        model = PostTransition
        fields = ("id", "actor", "external_reviewer", "from_status", "to_status", "comment", "created_at")
        read_only_fields = fields

    def get_actor(self, obj: PostTransition) -> str | None:
        return obj.actor.get_username() if obj.actor_id else None


class PostSerializer(LocalTimeMixin, serializers.ModelSerializer):
    persona_name = serializers.CharField(source="persona.name", read_only=True)
    timezone = serializers.CharField(source="persona.timezone", read_only=True)
    scheduled_at_local = serializers.SerializerMethodField(help_text="scheduled_at in the persona's timezone.")
    text_as_posted = serializers.SerializerMethodField(help_text="Caption and hashtags as they will be published.")
    platform_issues = serializers.SerializerMethodField(help_text="Platform rules the post currently breaks.")
    created_by = serializers.SerializerMethodField()
    images = PostImageSerializer(many=True, read_only=True)

    class Meta:
        model = Post
        fields = (
            "id",
            "workspace",
            "persona",
            "persona_name",
            "timezone",
            "platform",
            "status",
            "caption",
            "hashtags",
            "text_as_posted",
            "disclosure_label",
            "is_sponsored",
            "paid_partnership",
            "language",
            "scheduled_at",
            "scheduled_at_local",
            "platform_issues",
            "images",
            "created_by",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_text_as_posted(self, obj: Post) -> str:
        return text_as_posted(obj.caption, obj.hashtags)

    def get_platform_issues(self, obj: Post) -> list[str]:
        return validate_post_for_platform(post=obj)

    def get_created_by(self, obj: Post) -> str | None:
        return obj.created_by.get_username() if obj.created_by_id else None


class PostImageVersionSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = PostImageVersion
        fields = ("id", "position", "url", "width", "height", "sha256", "generated_image", "replaced_by", "comment",
                  "replaced_at")
        read_only_fields = fields

    def get_url(self, obj: PostImageVersion) -> str:
        return obj.image.url


class PostDetailSerializer(PostSerializer):
    transitions = PostTransitionSerializer(many=True, read_only=True)
    image_versions = PostImageVersionSerializer(
        many=True, read_only=True, help_text="Earlier images the post no longer shows (replaced by a new version, "
        "e.g. an inpainted fix); `images` holds the current ones.",
    )

    class Meta(PostSerializer.Meta):
        fields = (*PostSerializer.Meta.fields, "transitions", "image_versions")
        read_only_fields = fields


class PostActionResultSerializer(PostDetailSerializer):
    warnings = serializers.SerializerMethodField(help_text="Calendar conflicts (minimum gap); not errors.")
    importer_warnings = serializers.SerializerMethodField(
        help_text="What the Hootsuite / Sprout Social bulk importers will make of this time (off-slot minutes, "
        "a shared slot, posts less than 10 minutes apart); the export rounds or refuses per the workspace."
    )

    class Meta(PostDetailSerializer.Meta):
        fields = (*PostDetailSerializer.Meta.fields, "warnings", "importer_warnings")
        read_only_fields = fields

    def get_warnings(self, obj: Post) -> list[str]:
        return self.context.get("warnings", [])

    def get_importer_warnings(self, obj: Post) -> list[str]:
        return self.context.get("importer_warnings", [])


class PostCommentSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField(help_text="A member's username, or the link reviewer's name.")
    via_review_link = serializers.SerializerMethodField(help_text="Written through a client review link.")
    mentioned = serializers.SerializerMethodField(help_text="Usernames of the members it notified.")

    class Meta:
        model = PostComment
        fields = ("id", "author", "via_review_link", "body", "mentioned", "created_at")
        read_only_fields = fields

    def get_author(self, obj: PostComment) -> str:
        return comment_author_name(obj)

    def get_via_review_link(self, obj: PostComment) -> bool:
        return bool(obj.review_link_id or obj.external_reviewer)

    def get_mentioned(self, obj: PostComment) -> list[str]:
        return [user.get_username() for user in obj.mentioned.all()]


class CommentCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=MAX_COMMENT_CHARS, help_text="@username notifies that member by email.")


class PostCreateSerializer(serializers.Serializer):
    persona = serializers.IntegerField(min_value=1, max_value=MAX_DB_ID)
    platform = serializers.ChoiceField(choices=Platform.choices)
    caption = serializers.CharField(required=False, allow_blank=True, default="")
    hashtags = serializers.ListField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        allow_null=True,
        default=None,
        help_text="Omit to use the persona's default hashtags; [] for none.",
    )
    is_sponsored = serializers.BooleanField(required=False, default=False)
    scheduled_at = WallDateTimeField(
        required=False, allow_null=True, default=None, help_text="Target time; without an offset it is local."
    )
    generated_images = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_DB_ID), required=False, default=list,
        help_text="GeneratedImage ids.",
    )
    images = serializers.ListField(
        child=serializers.FileField(), required=False, default=list, help_text="PNG or JPEG files (multipart)."
    )


class PostUpdateSerializer(serializers.Serializer):
    platform = serializers.ChoiceField(choices=Platform.choices, required=False)
    caption = serializers.CharField(required=False, allow_blank=True)
    hashtags = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)
    is_sponsored = serializers.BooleanField(required=False)
    scheduled_at = WallDateTimeField(required=False, allow_null=True)


class TransitionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class ScheduleSerializer(TransitionSerializer):
    scheduled_at = WallDateTimeField(help_text="ISO 8601; without an offset it is read in the persona's timezone.")


class PostListQuerySerializer(serializers.Serializer):
    persona = serializers.IntegerField(required=False, min_value=1, max_value=MAX_DB_ID)
    platform = serializers.ChoiceField(choices=Platform.choices, required=False)
    status = serializers.CharField(required=False, help_text="One status or several, comma-separated.")
    scheduled_from = serializers.DateTimeField(required=False, help_text="Inclusive; naive values are UTC.")
    scheduled_to = serializers.DateTimeField(required=False, help_text="Exclusive; naive values are UTC.")

    def validate_status(self, value: str) -> str:
        bad = [s for s in value.split(",") if s.strip() and s.strip() not in PostStatus.values]
        if bad:
            raise serializers.ValidationError(f"Unknown status {', '.join(bad)}; use {', '.join(PostStatus.values)}.")
        return value


# --- Posts -----------------------------------------------------------------------------------------

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
    # What a single post answers with: the routed subclass (generation.api_posts) adds its images' likeness.
    detail_serializer_class: type[PostDetailSerializer] = PostDetailSerializer
    action_result_serializer_class: type[PostActionResultSerializer] = PostActionResultSerializer
    filter_backends: list = []
    parser_classes = (JSONParser, MultiPartParser, FormParser)
    # Only numeric ids route here: the actions call int(pk), and "abc" would otherwise be a 500, not a 404.
    lookup_value_regex = r"\d+"

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
        )

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
        serializer_class = self.action_result_serializer_class if warnings is not None else self.detail_serializer_class
        serializer = serializer_class(post, context=context)
        return Response(serializer.data, status=code)

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
        generated = self.generated_images(persona=persona, ids=values["generated_images"])
        post = services.post_create(
            actor=request.user,
            persona=persona,
            platform=values["platform"],
            caption=values["caption"],
            hashtags=values["hashtags"],
            images=values["images"],
            generated_images=generated,
            is_sponsored=values["is_sponsored"],
            scheduled_at=selectors.in_persona_zone(values["scheduled_at"], persona),
        )
        return self._detail(post.pk, code=status.HTTP_201_CREATED)

    def generated_images(self, *, persona: Persona, ids: list[int]) -> Sequence[Any]:
        """The persona's GeneratedImage rows for `ids`. Only generation can look them up: the routed subclass
        (scheduler.api.posts.generated.PostViewSet) does."""
        if ids:
            raise NotImplementedError("Serve posts through scheduler.api.posts.generated.PostViewSet.")
        return []

    @extend_schema(responses=PostDetailSerializer)
    def retrieve(self, request: Request, pk: int) -> Response:
        return self._detail(int(pk))

    @extend_schema(request=PostUpdateSerializer, responses=PostDetailSerializer)
    def partial_update(self, request: Request, pk: int) -> Response:
        post = selectors.post_get(user=request.user, post_id=int(pk))
        data = PostUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        if "scheduled_at" in fields:
            fields["scheduled_at"] = selectors.in_persona_zone(fields["scheduled_at"], post.persona)
        services.post_update(actor=request.user, post=post, **fields)
        return self._detail(post.pk)

    # Transitions: each maps to one service.
    def _simple(self, request: Request, pk: int, service, **extra) -> Response:
        post = selectors.post_get(user=request.user, post_id=int(pk))
        data = TransitionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        service(actor=request.user, post_id=post.pk, comment=data.validated_data["comment"], **extra)
        return self._detail(post.pk)

    def _timed(self, request: Request, pk: int, service) -> Response:
        post = selectors.post_get(user=request.user, post_id=int(pk))
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
        rows = selectors.post_transitions(user=request.user, post_id=int(pk))
        return Response(PostTransitionSerializer(rows, many=True).data)

    @extend_schema(methods=["get"], request=None, responses=PostCommentSerializer(many=True), summary="Comments")
    @extend_schema(methods=["post"], request=CommentCreateSerializer, responses={201: PostCommentSerializer},
                   summary="Add a comment")
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def comments(self, request: Request, pk: int) -> Response:
        if request.method == "GET":
            rows = selectors.post_comments(user=request.user, post_id=int(pk))
            return Response(PostCommentSerializer(rows, many=True).data)
        post = selectors.post_get(user=request.user, post_id=int(pk))
        data = CommentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        comment = post_comment_add(actor=request.user, post_id=post.pk, body=data.validated_data["body"])
        return Response(PostCommentSerializer(selectors.comments_of(post_id=post.pk).get(pk=comment.pk)).data,
                        status=status.HTTP_201_CREATED)
