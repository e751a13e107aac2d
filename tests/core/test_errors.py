"""Every error the API raises answers in its one documented shape, {detail, code, extra}: core.errors'
api_exception_handler, one mapping per kind of error."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from rest_framework import exceptions as drf

from core import errors
from core.errors import api_exception_handler
from generation.models import GenerationJob, JobStatus
from scheduler.models import Post
from tests.conftest import client_for
from tests.factories import LoraVersionFactory


def answer(exc: Exception) -> tuple[int, dict, dict]:
    response = api_exception_handler(exc, {})
    assert response is not None, f"{exc!r} was not mapped"
    assert set(response.data) == {"detail", "code", "extra"}, response.data
    assert isinstance(response.data["detail"], str) and isinstance(response.data["extra"], dict)
    return response.status_code, response.data, dict(response.items())


def test_field_errors_keep_their_messages_per_field_in_extra():
    status, body, _ = answer(drf.ValidationError({"name": ["This field is required."], "age": ["Too young."]}))
    assert status == 400
    assert body == {
        "detail": "name: This field is required.; age: Too young.",
        "code": "invalid",
        "extra": {"fields": {"name": ["This field is required."], "age": ["Too young."]}},
    }


def test_nested_field_errors_are_plain_json_with_the_first_message_in_detail():
    # A list serializer's errors: one entry per item, empty for the valid ones; keys of nested dicts are strings.
    status, body, _ = answer(drf.ValidationError({"slots": [{}, {"time": ["Bad time."]}], "tags": {0: ["Too long."]}}))
    assert status == 400 and body["code"] == "invalid"
    assert body["detail"] == "slots: time: Bad time.; tags: 0: Too long."
    assert body["extra"] == {"fields": {"slots": [{}, {"time": ["Bad time."]}], "tags": {"0": ["Too long."]}}}


def test_non_field_errors_are_the_detail():
    status, body, _ = answer(drf.ValidationError(["Pick a persona or posts, not both."]))
    assert (status, body) == (400, {"detail": "Pick a persona or posts, not both.", "code": "invalid", "extra": {}})
    status, body, _ = answer(drf.ValidationError({"non_field_errors": ["Start must come before end."]}))
    assert status == 400 and body["detail"] == "Start must come before end."
    assert body["extra"] == {"fields": {"non_field_errors": ["Start must come before end."]}}


def test_djangos_validation_errors_map_like_drfs():
    status, body, _ = answer(DjangoValidationError({"handle": ["Already used."]}))
    assert (status, body["code"], body["extra"]) == (400, "invalid", {"fields": {"handle": ["Already used."]}})
    status, body, _ = answer(DjangoValidationError("Not a number."))
    assert (status, body["detail"], body["extra"]) == (400, "Not a number.", {})


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (errors.ValidationFailed("Bad."), 400, "invalid"),
        (errors.ValidationFailed("Bad.", code="no_active_lora"), 400, "no_active_lora"),
        (errors.PermissionDenied("No."), 403, "permission_denied"),
        (errors.NotFound("Gone."), 404, "not_found"),
        (errors.Conflict("Busy."), 409, "conflict"),
        (errors.Gone("Expired."), 410, "gone"),
        (Http404("Nope"), 404, "not_found"),
        (DjangoPermissionDenied(), 403, "permission_denied"),
        (drf.NotAuthenticated(), 401, "not_authenticated"),
        (drf.AuthenticationFailed(), 401, "authentication_failed"),
        (drf.PermissionDenied(), 403, "permission_denied"),
        (drf.NotFound(), 404, "not_found"),
        (drf.MethodNotAllowed("PUT"), 405, "method_not_allowed"),
        (drf.NotAcceptable(), 406, "not_acceptable"),
        (drf.UnsupportedMediaType("text/plain"), 415, "unsupported_media_type"),
        (drf.ParseError(), 400, "parse_error"),
        (SuspiciousOperation("Too many fields."), 400, "parse_error"),
    ],
)  # fmt: skip
def test_each_error_maps_to_its_status_and_code(exc, status, code):
    got_status, body, _ = answer(exc)
    assert (got_status, body["code"]) == (status, code)
    assert body["detail"]


def test_application_errors_keep_their_extra():
    _, body, _ = answer(errors.ValidationFailed("Rows failed.", extra={"errors": [{"row": 2}]}))
    assert body == {"detail": "Rows failed.", "code": "invalid", "extra": {"errors": [{"row": 2}]}}


def test_rate_limits_say_when_to_come_back():
    status, body, headers = answer(drf.Throttled(wait=12.2))
    assert (status, body["code"], body["extra"]) == (429, "throttled", {"retry_after": 13})
    assert headers["Retry-After"] == "13"
    status, body, headers = answer(errors.TooManyRequests("Slow down.", extra={"retry_after": 60}))
    assert (status, body["extra"], headers["Retry-After"]) == (429, {"retry_after": 60}, "60")


def test_a_protected_or_restricted_delete_is_a_409_counting_what_blocks_it():
    blocking = {Post(pk=1), Post(pk=2), GenerationJob(pk=1)}  # as the delete collector gives them: a set of rows
    status, body, _ = answer(ProtectedError("protected", blocking))
    assert (status, body["code"]) == (409, "in_use")
    assert body["extra"] == {"in_use_by": {"posts": 2, "generation_jobs": 1}}
    assert "2 posts" in body["detail"] and "1 generation job " in body["detail"]
    status, body, _ = answer(RestrictedError("restricted", {GenerationJob(pk=1)}))
    assert (status, body["extra"]) == (409, {"in_use_by": {"generation_jobs": 1}})


def test_anything_else_stays_a_server_error():
    assert api_exception_handler(ValueError("bug"), {}) is None


@pytest.mark.django_db
def test_a_real_request_answers_field_errors_in_the_documented_shape(workspace, marketer):
    response = client_for(marketer).post("/api/v1/personas/", {"workspace": workspace.pk, "age": "old"}, format="json")
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail", "code", "extra"} and body["code"] == "invalid"
    assert {"name", "handle", "age", "trigger_token"} <= set(body["extra"]["fields"])
    assert body["extra"]["fields"]["age"] == ["A valid integer is required."]


@pytest.mark.django_db
def test_a_body_that_is_not_an_object_is_a_400_not_a_server_error(persona, marketer):
    version = LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED)
    for body in ([None, None], True, "x"):
        for url in (f"/api/v1/lora-versions/{version.pk}/activate/", "/api/v1/personas/"):
            response = client_for(marketer).post(url, body, format="json")
            assert response.status_code == 400, response.content
            assert response.json()["code"] == "invalid" and response.json()["detail"], response.content
