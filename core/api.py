"""What every API route shares: ids in paths, routers, the JSON 404 for unknown API paths, and the schema class
that documents the error answers.

- `<id:name>` (IdConverter) takes digits within the database's id range only: "null,null", "-1" or a 20-digit
  number match no route, so they are a 404 like any unknown id, never a server error.
- ApiRouter / ApiRootRouter build every viewset's detail routes with that converter.
- api_not_found answers an unknown /api/v1/... path in the API's error shape (JSON), not Django's HTML page.
- ApiAutoSchema documents the error statuses each operation can answer, all with ApiErrorSerializer.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import register_converter
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter, SimpleRouter

from core.constants import MAX_DB_ID
from core.errors import error_body


class IdConverter:
    """A database id in a path: 1 to MAX_DB_ID, digits only."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_DB_ID:
            raise ValueError(value)  # Django reads it as "this route does not match"
        return number

    def to_url(self, value: int | str) -> str:
        return str(int(value))


register_converter(IdConverter, "id")


class ApiRouter(SimpleRouter):
    """A SimpleRouter whose detail routes take `<id:pk>` (a viewset may name another converter)."""

    def __init__(self, *, trailing_slash: bool = True) -> None:
        super().__init__(trailing_slash=trailing_slash, use_regex_path=False)

    def get_lookup_regex(self, viewset, lookup_prefix: str = "") -> str:
        kwarg = getattr(viewset, "lookup_url_kwarg", None) or getattr(viewset, "lookup_field", "pk")
        converter = getattr(viewset, "lookup_value_converter", None) or "id"
        return f"<{converter}:{lookup_prefix}{kwarg}>"


class ApiRootRouter(ApiRouter, DefaultRouter):
    """ApiRouter plus DefaultRouter's API root view (one of the API's routers serves it)."""

    # No `.json` twin of every route: views do not take a `format` argument, and the schema would list them all.
    include_format_suffixes = False


@csrf_exempt  # any method, no session needed: it only ever answers 404
def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    return JsonResponse(error_body("Not found.", "not_found"), status=404)


class ApiErrorSerializer(serializers.Serializer):
    """Every error answer of the API (core.errors.api_exception_handler)."""

    detail = serializers.CharField(help_text="What went wrong, in a sentence a person can read.")
    code = serializers.CharField(help_text='Machine-readable reason, e.g. "invalid", "not_found", "in_use".')
    extra = serializers.DictField(
        help_text='Details: "fields" (messages per field of the request), "in_use_by" (rows that block a delete, '
        'counted by kind), "retry_after" (seconds), or what the error names.'
    )


ERROR_DESCRIPTIONS = {
    "400": "The request is invalid: extra.fields has the messages per field.",
    "401": "Not signed in.",
    "403": "Not signed in, or your role may not do this.",
    "404": "Not found (also another workspace's object, or an id that is not a number).",
    "409": "The object's state does not allow it, or (delete) other rows still use it: extra.in_use_by.",
    "410": "No longer available.",
    "413": "The upload is too large.",
    "415": "The request body's content type is not accepted.",
    "429": "Too many requests: extra.retry_after and the Retry-After header say when to try again.",
}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class ApiAutoSchema(AutoSchema):
    """Adds the error answers an operation can give to its documented responses, each as ApiErrorSerializer.

    A view adds statuses its code raises beyond these with `error_statuses` (e.g. (410, 429)); an explicit 4xx
    response keeps its own description, and gets the error body when it documents none.
    """

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        error_schema = self.resolve_serializer(ApiErrorSerializer, "response").ref
        responses = operation.setdefault("responses", {})
        for status in self._error_statuses(operation):
            responses.setdefault(status, {"description": ERROR_DESCRIPTIONS.get(status, "")})
        for status, response in responses.items():
            if status.startswith("4"):
                response.setdefault("content", {"application/json": {"schema": error_schema}})
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_statuses(self, operation: dict) -> set[str]:
        view = self.view
        statuses = {"404"}  # path ids, ids in the body, a page number past the end
        has_body = "requestBody" in operation
        has_query = any(p.get("in") == "query" for p in operation.get("parameters", []))
        if has_body or has_query:
            statuses.add("400")
        if has_body:
            statuses.add("415")
        if self.method in UNSAFE_METHODS:
            statuses.add("409")
        authenticators = view.get_authenticators()
        if authenticators or any(not isinstance(p, AllowAny) for p in view.get_permissions()):
            statuses.add("403")
        # DRF answers 401 (not 403) only when the first authenticator names a WWW-Authenticate scheme.
        if authenticators and authenticators[0].authenticate_header(view.request):
            statuses.add("401")
        if view.get_throttles():
            statuses.add("429")
        statuses.update(str(status) for status in getattr(view, "error_statuses", ()))
        return statuses
