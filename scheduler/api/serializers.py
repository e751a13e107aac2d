"""Serializers of the posts API (scheduler.api.posts): posts with their images, likeness and history, the
workflow actions' inputs, comments and caption alternatives. Calendar and review-link views reuse some."""

from __future__ import annotations

import datetime as dt

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.captions import text_as_posted
from core.constants import MAX_DB_ID
from core.platforms import Platform
from generation.models import GeneratedImage
from scheduler import selectors
from scheduler.captions.prompts import REWRITES
from scheduler.models import (
    CaptionAlternative,
    Post,
    PostComment,
    PostImage,
    PostImageVersion,
    PostStatus,
    PostTransition,
)
from scheduler.review.comments import MAX_COMMENT_CHARS, comment_author_name
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


# --- Likeness of a post's generated images ---------------------------------------------------------


class PostImageLikenessSerializer(serializers.ModelSerializer):
    generated_image = serializers.IntegerField(source="pk")

    class Meta:
        model = GeneratedImage
        fields = ("generated_image", "likeness_status", "likeness_score", "likeness_distance", "face_found",
                  "on_model", "likeness_threshold", "likeness_reason")
        read_only_fields = fields


def post_generated_images(post: Post) -> list[GeneratedImage]:
    """The generated images a post shows, in position order (uploaded images have none)."""
    return [pi.generated_image for pi in post.images.all() if pi.generated_image_id]


# A post's likeness: each generated image's (as GET /posts/{id}/likeness/) and the summary the review queue shows.
# No docstring: the schema would show it as the description of every post serializer.
class PostLikenessFields(serializers.Serializer):
    likeness = serializers.SerializerMethodField(help_text="Likeness to the persona of each generated image.")
    likeness_score = serializers.SerializerMethodField(
        help_text="The lowest likeness score (0-1) of its generated images; null when none has one.")
    on_model = serializers.SerializerMethodField(
        help_text="false when an image is off-model, true when every scored image is on-model; null when none was "
        "scored (no face found, pending, not applicable).")

    @extend_schema_field(PostImageLikenessSerializer(many=True))
    def get_likeness(self, obj: Post) -> list[dict]:
        return PostImageLikenessSerializer(post_generated_images(obj), many=True).data

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_likeness_score(self, obj: Post) -> float | None:
        scores = [image.likeness_score for image in post_generated_images(obj) if image.likeness_score is not None]
        return min(scores) if scores else None

    @extend_schema_field(serializers.BooleanField(allow_null=True))
    def get_on_model(self, obj: Post) -> bool | None:
        judged = [image.on_model for image in post_generated_images(obj) if image.on_model is not None]
        return all(judged) if judged else None


# --- Posts -----------------------------------------------------------------------------------------


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


class PostSerializer(LocalTimeMixin, PostLikenessFields, serializers.ModelSerializer):
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
            "likeness",
            "likeness_score",
            "on_model",
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


# --- Caption alternatives --------------------------------------------------------------------------


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
