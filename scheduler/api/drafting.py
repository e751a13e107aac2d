"""REST API for drafting a generation job's posts. The route sits under generation-jobs/ (where a client finds the
job), but drafting is scheduler's, so scheduler serves it."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from generation.api.jobs import GenerationJobSerializer
from generation.selectors import generation_job_get
from scheduler.drafting import services as drafting


class GenerationJobDraftAgainView(APIView):
    serializer_class = GenerationJobSerializer  # what it answers (and the model its `pk` names)

    @extend_schema(
        summary="Draft the posts a job's drafting could not make, with you as their author (marketer)",
        description="Queues the drafting and answers 202 at once with the job (drafting_status pending, or drafted "
        "when there is nothing left to draft); poll the job for the outcome. Only images without a post get one, so "
        "calling it again drafts nothing twice. When a post still breaks a rule, the job ends with drafting_status "
        "failed and says why in drafting_error.",
        request=None,
        responses={202: GenerationJobSerializer},
        tags=["generation-jobs"],
    )
    def post(self, request: Request, pk: int) -> Response:
        drafting.generation_job_draft_again(actor=request.user, job_id=pk)
        job = generation_job_get(user=request.user, job_id=pk)
        return Response(GenerationJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
