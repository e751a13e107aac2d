"""REST API for generated images: one image with its reproduction record, and "reproduce" (re-render it from the
record on a GPU worker and compare it with the stored file)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from generation import selectors
from generation.api.jobs import GeneratedImageSerializer
from generation.jobs import reproduction
from generation.models import GeneratedImage, ReproductionCheck


class ReproductionCheckSerializer(serializers.ModelSerializer):
    verdict = serializers.CharField(read_only=True, help_text='"identical", or "differs in N pixels, max Δ D" once '
                                    "done; the error when it failed.")

    class Meta:
        model = ReproductionCheck
        fields = ["id", "image", "status", "verdict", "identical", "differing_pixels", "max_delta", "environment",
                  "error", "requested_by", "created_at", "finished_at"]
        read_only_fields = fields


class GeneratedImageViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = GeneratedImageSerializer

    def get_queryset(self) -> QuerySet[GeneratedImage]:
        return selectors.generated_image_list(user=self.request.user)

    def get_object(self) -> GeneratedImage:
        return selectors.generated_image_get(user=self.request.user, image_id=self.kwargs["pk"])

    @extend_schema(
        summary="Reproduce: render the image again from its record and compare (marketer)",
        description="Queued on a GPU worker; poll the check. Byte-identical output holds on the same device class, "
        "dtype and torch/diffusers/peft versions as the image's `reproduction.environment`.",
        request=None,
        responses={202: ReproductionCheckSerializer},
    )
    @action(detail=True, methods=["post"])
    def reproduce(self, request: Request, pk: int) -> Response:
        check = reproduction.reproduction_check_request(actor=request.user, image_id=pk)
        return Response(ReproductionCheckSerializer(check).data, status=status.HTTP_202_ACCEPTED)


class ReproductionCheckViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ReproductionCheckSerializer

    def get_queryset(self) -> QuerySet[ReproductionCheck]:
        return selectors.reproduction_check_list(user=self.request.user)

    def get_object(self) -> ReproductionCheck:
        return selectors.reproduction_check_get(user=self.request.user, check_id=self.kwargs["pk"])
