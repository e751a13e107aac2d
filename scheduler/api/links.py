"""REST API for client review links.

Members (session or token auth) create, list and revoke links under /review-links/. The client side, under
/client-review/<token>/, needs no account: the token is the credential, every route passes the rate-limited gate
in link_access, and reads go through link_selectors, which show only the link's own posts.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import posixpath

from django.core.files.storage import default_storage
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.captions import text_as_posted
from core.constants import MAX_DB_ID
from core.errors import NotFound
from personas.auth import client_ip
from personas.selectors import persona_get
from scheduler import selectors
from scheduler.api.serializers import CommentCreateSerializer, PostCommentSerializer, TransitionSerializer
from scheduler.models import Post, PostImage, PostStatus, ReviewLink
from scheduler.review import link_selectors, links
from scheduler.review.comments import post_comment_add_for_link
from scheduler.review.link_access import review_link_for_request

# --- Members ---------------------------------------------------------------------------------------


class ReviewLinkSerializer(serializers.ModelSerializer):
    posts = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    state = serializers.SerializerMethodField(help_text="active, expired or revoked.")
    # A plain string: blank when no address was given, which the `email` format would not allow.
    reviewer_email = serializers.CharField(read_only=True, help_text="The reviewer's email address, or blank.")
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = ReviewLink
        fields = ("id", "workspace", "scope", "persona", "start", "end", "posts", "reviewer_name", "reviewer_email",
                  "expires_at", "revoked_at", "state", "created_by", "created_at")
        read_only_fields = fields

    def get_state(self, obj: ReviewLink) -> str:
        return link_selectors.review_link_state(obj)

    def get_created_by(self, obj: ReviewLink) -> str | None:
        return obj.created_by.get_username() if obj.created_by_id else None


class ReviewLinkCreatedSerializer(ReviewLinkSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once: only a digest of it is stored.")
    client_api_url = serializers.CharField(read_only=True, help_text="The client's view of the link (no account).")
    page_url = serializers.CharField(read_only=True, help_text="The page to send the client (no account).")

    class Meta(ReviewLinkSerializer.Meta):
        fields = (*ReviewLinkSerializer.Meta.fields, "token", "client_api_url", "page_url")
        read_only_fields = fields


class ReviewLinkCreateSerializer(serializers.Serializer):
    reviewer_name = serializers.CharField(max_length=120)
    reviewer_email = serializers.EmailField(required=False, allow_blank=True, default="")
    expires_at = serializers.DateTimeField(help_text="When the link stops working; without an offset it is UTC.")
    persona = serializers.IntegerField(min_value=1, max_value=MAX_DB_ID, required=False)
    start = serializers.DateTimeField(required=False, help_text="With persona: the range's start (inclusive).")
    end = serializers.DateTimeField(required=False, help_text="With persona: the range's end (exclusive).")
    posts = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_DB_ID), required=False, default=list,
        max_length=links.MAX_LINK_POSTS, help_text="Chosen post ids (instead of a date range).",
    )


class ReviewLinkViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Client review links of your workspaces. Another workspace's link answers 404."""

    queryset = ReviewLink.objects.none()  # for schema introspection; reads go through selectors
    serializer_class = ReviewLinkSerializer
    filter_backends: list = []

    def get_queryset(self):
        return link_selectors.review_link_list(user=self.request.user)

    @extend_schema(responses=ReviewLinkSerializer)
    def retrieve(self, request: Request, pk: int) -> Response:
        return Response(ReviewLinkSerializer(link_selectors.review_link_get(user=request.user, link_id=int(pk))).data)

    @extend_schema(request=ReviewLinkCreateSerializer, responses={201: ReviewLinkCreatedSerializer})
    def create(self, request: Request) -> Response:
        data = ReviewLinkCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        persona = persona_get(user=request.user, persona_id=values["persona"]) if "persona" in values else None
        posts = []
        if values["posts"]:
            found = {post.pk: post for post in selectors.post_list(user=request.user).filter(pk__in=values["posts"])}
            missing = [pk for pk in values["posts"] if pk not in found]
            if missing:
                raise NotFound(f"Post not found: {', '.join(map(str, missing))}.")
            posts = [found[pk] for pk in dict.fromkeys(values["posts"])]
        link, token = links.review_link_create(
            actor=request.user, expires_at=values["expires_at"], reviewer_name=values["reviewer_name"],
            reviewer_email=values["reviewer_email"], persona=persona, start=values.get("start"),
            end=values.get("end"), posts=posts,
        )
        link.token = token
        link.client_api_url = request.build_absolute_uri(reverse("client-review", kwargs={"token": token}))
        # The client page lives in the web layer, above this app: its address is built, not reversed.
        link.page_url = request.build_absolute_uri(f"/r/{token}/")
        return Response(ReviewLinkCreatedSerializer(link).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ReviewLinkSerializer, summary="Revoke")
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: int) -> Response:
        link = link_selectors.review_link_get(user=request.user, link_id=int(pk))
        links.review_link_revoke(actor=request.user, link_id=link.pk)
        return Response(ReviewLinkSerializer(link_selectors.review_link_get(user=request.user, link_id=link.pk)).data)


# --- The client (no account) -----------------------------------------------------------------------


class ClientImageSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = PostImage
        fields = ("id", "url", "width", "height", "position")
        read_only_fields = fields

    def get_url(self, obj: PostImage) -> str:
        url = reverse("client-review-image", kwargs={"token": self.context["token"], "post_image_id": obj.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class ClientPostSerializer(serializers.ModelSerializer):
    persona_name = serializers.CharField(source="persona.name", read_only=True)
    persona_handle = serializers.CharField(source="persona.handle", read_only=True)
    timezone = serializers.CharField(source="persona.timezone", read_only=True)
    scheduled_at_local = serializers.SerializerMethodField(help_text="The calendar slot in the persona's timezone.")
    text_as_posted = serializers.SerializerMethodField()
    can_decide = serializers.SerializerMethodField(help_text="In review: the client can approve or request changes.")
    images = serializers.SerializerMethodField()

    class Meta:
        model = Post
        fields = ("id", "persona_name", "persona_handle", "platform", "status", "caption", "hashtags",
                  "text_as_posted", "disclosure_label", "is_sponsored", "scheduled_at", "scheduled_at_local",
                  "timezone", "can_decide", "images")
        read_only_fields = fields

    def get_scheduled_at_local(self, obj: Post) -> dt.datetime | None:
        return selectors.local_time(obj.scheduled_at, obj.persona)

    def get_text_as_posted(self, obj: Post) -> str:
        return text_as_posted(obj.caption, obj.hashtags)

    def get_can_decide(self, obj: Post) -> bool:
        return obj.status == PostStatus.IN_REVIEW

    @extend_schema(responses=ClientImageSerializer(many=True))
    def get_images(self, obj: Post) -> list[dict]:
        return ClientImageSerializer(obj.images.all(), many=True, context=self.context).data


class ClientReviewSerializer(serializers.Serializer):
    reviewer_name = serializers.CharField()
    persona_name = serializers.CharField(allow_null=True)
    start = serializers.DateTimeField(allow_null=True)
    end = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField()
    posts = ClientPostSerializer(many=True)


class _ClientView(APIView):
    # The token in the address is the credential: no session (so no CSRF exposure) and no account.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    error_statuses = (410, 429)  # an expired or revoked link; too many requests or bad tokens from one address

    def link(self, request: Request, token: str) -> ReviewLink:
        return review_link_for_request(token=token, ip=client_ip(request))


class ClientReviewView(_ClientView):
    """The posts a review link shows: images, captions, disclosure label, calendar slot and status."""

    @extend_schema(responses=ClientReviewSerializer, summary="A review link's posts (no account)")
    def get(self, request: Request, token: str) -> Response:
        link = self.link(request, token)
        context = {"request": request, "token": token}
        return Response({
            "reviewer_name": link.reviewer_name,
            "persona_name": link.persona.name if link.persona_id else None,
            "start": link.start, "end": link.end, "expires_at": link.expires_at,
            "posts": ClientPostSerializer(link_selectors.review_link_posts(link=link), many=True, context=context).data,
        })


class _ClientDecisionView(_ClientView):
    service = None

    def post(self, request: Request, token: str, post_id: int) -> Response:
        link = self.link(request, token)
        link_selectors.review_link_post(link=link, post_id=int(post_id))  # outside the link: 404 before anything
        data = TransitionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        type(self).service(token=token, post_id=int(post_id), comment=data.validated_data["comment"])
        post = link_selectors.review_link_post(link=link, post_id=int(post_id))
        return Response(ClientPostSerializer(post, context={"request": request, "token": token}).data)


class ClientApproveView(_ClientDecisionView):
    service = links.review_link_approve

    @extend_schema(request=TransitionSerializer, responses=ClientPostSerializer, summary="Approve (review link)")
    def post(self, request: Request, token: str, post_id: int) -> Response:
        return super().post(request, token, post_id)


class ClientRequestChangesView(_ClientDecisionView):
    service = links.review_link_request_changes

    @extend_schema(request=TransitionSerializer, responses=ClientPostSerializer, summary="Request changes (link)")
    def post(self, request: Request, token: str, post_id: int) -> Response:
        return super().post(request, token, post_id)


class ClientImageView(_ClientView):
    @extend_schema(responses={(200, "image/*"): bytes}, summary="A post image of a review link")
    def get(self, request: Request, token: str, post_image_id: int) -> FileResponse:
        image = link_selectors.review_link_image(link=self.link(request, token), image_id=int(post_image_id))
        name = image.image.name
        if not name or not default_storage.exists(name):
            raise NotFound("Image not found.")
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        response = FileResponse(default_storage.open(name, "rb"), content_type=content_type,
                                filename=posixpath.basename(name))
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, max-age=3600"
        return response


class ClientCommentsView(_ClientView):
    """A post's comment thread, read and added to by the link's reviewer."""

    @extend_schema(responses=PostCommentSerializer(many=True), summary="Comments (review link)")
    def get(self, request: Request, token: str, post_id: int) -> Response:
        rows = link_selectors.review_link_comments(link=self.link(request, token), post_id=int(post_id))
        return Response(PostCommentSerializer(rows, many=True).data)

    @extend_schema(request=CommentCreateSerializer, responses={201: PostCommentSerializer},
                   summary="Add a comment (review link)")
    def post(self, request: Request, token: str, post_id: int) -> Response:
        link = self.link(request, token)
        link_selectors.review_link_post(link=link, post_id=int(post_id))  # outside the link: 404 before anything
        data = CommentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        comment = post_comment_add_for_link(token=token, post_id=int(post_id), body=data.validated_data["body"])
        row = link_selectors.review_link_comments(link=link, post_id=int(post_id)).get(pk=comment.pk)
        return Response(PostCommentSerializer(row).data, status=status.HTTP_201_CREATED)
