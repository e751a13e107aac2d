""" "Was this made here?": the public origin check. No account needed; rate-limited per client."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from provenance.checks.origin import upload_size_check
from provenance.checks.origin_selectors import origin_check


class OriginCheckThrottle(SimpleRateThrottle):
    """ORIGIN_CHECK_RATE checks per client (signed-in user, else IP address): each one runs both decoders."""

    scope = "origin_check"

    def get_rate(self) -> str:
        return settings.ORIGIN_CHECK_RATE

    def get_cache_key(self, request, view) -> str:
        user = request.user
        ident = f"user-{user.pk}" if user and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class OriginUploadSerializer(serializers.Serializer):
    image = serializers.FileField(help_text="The image to check: JPEG, PNG or WebP.")


class OriginCheckView(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [OriginCheckThrottle]
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Was this made here?",
        description=(
            "Reads every provenance layer of an image (C2PA manifest and signer, IPTC digital source type, "
            "TC260 label, RivaGAN and dwtDctSvd watermark payloads, perceptual fingerprint) and looks it up in "
            "the exported-image registry. Free, no account; rate-limited. A match names the persona and the "
            "post's platform; members of the exporting workspace also get the post and export ids."
        ),
        request={"multipart/form-data": OriginUploadSerializer},
        responses={
            200: inline_serializer(
                "OriginReport",
                {
                    "verdict": serializers.ChoiceField(["made_here", "ai_labeled_elsewhere", "nothing_found"]),
                    "match": serializers.DictField(allow_null=True),
                    "matched_by": serializers.ListField(child=serializers.CharField()),
                    "c2pa": serializers.DictField(),
                    "iptc_digital_source_type": serializers.CharField(allow_null=True),
                    "tc260": serializers.DictField(allow_null=True),
                    "watermarks": serializers.DictField(),
                    "fingerprint": serializers.DictField(),
                    "conflicts": serializers.ListField(child=serializers.CharField()),
                },
            ),
            400: OpenApiResponse(description="Not an image we can check (SVG, truncated, decompression bomb)."),
            413: OpenApiResponse(description="Larger than the upload limit."),
            429: OpenApiResponse(description="Too many checks; try again later."),
        },
    )
    def post(self, request: Request) -> Response:
        upload = OriginUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        file = upload.validated_data["image"]
        upload_size_check(file.size)  # before it is read into memory
        return Response(origin_check(data=file.read(), user=request.user))
