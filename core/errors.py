"""The project's one exception type, and the one mapping of every error to the API's error shape.

Services raise ApplicationError (or a subclass); views and the API never invent their own errors. Every error an
API view raises is answered as {"detail": str, "code": str, "extra": object} by `api_exception_handler`: field
errors (DRF's or Django's) go to extra["fields"], a delete that other rows still use is a 409 naming them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, ProtectedError, RestrictedError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback


class ApplicationError(Exception):
    """A request that cannot be carried out as asked. `status` is the HTTP code it maps to."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    status = 400
    code = "invalid"


class PermissionDenied(ApplicationError):
    status = 403
    code = "permission_denied"


class NotFound(ApplicationError):
    status = 404
    code = "not_found"


class Conflict(ApplicationError):
    """The object changed under the caller (e.g. two reviewers deciding at once), or others still use it."""

    status = 409
    code = "conflict"


class Gone(ApplicationError):
    """The object existed but can no longer be used (an expired or revoked review link)."""

    status = 410
    code = "gone"


class TooManyRequests(ApplicationError):
    status = 429
    code = "rate_limited"


def error_body(detail: str, code: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The API's one error shape (core.api.ApiErrorSerializer documents it)."""
    return {"detail": detail, "code": code, "extra": extra or {}}


def _field_errors_summary(fields: dict[str, Any]) -> str:
    """One line from per-field messages (the first of each), e.g. 'name: This field is required.; age: ...'."""
    parts = []
    for name, messages in fields.items():
        first = _first_message(messages)
        parts.append(f"{name}: {first}" if name != "non_field_errors" else first)
    return "; ".join(parts) or "Invalid input."


def _first_message(messages: Any) -> str:
    # DRF nests errors for list and nested serializers: {"items": {0: {"name": [...]}}} or [[...], {}].
    if isinstance(messages, dict):
        for key, value in messages.items():
            found = _first_message(value)
            if found:
                return f"{key}: {found}"
        return ""
    if isinstance(messages, list | tuple):
        for value in messages:
            found = _first_message(value)
            if found:
                return found
        return ""
    return str(messages)


def _plain(value: Any) -> Any:
    """DRF's ErrorDetail strings and nested containers as plain JSON values (integer keys become strings)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return str(value)


def _validation_body(exc: drf_exceptions.ValidationError) -> dict[str, Any]:
    """Code "invalid", as ValidationFailed's: the messages say what each field needs."""
    detail = exc.detail
    if isinstance(detail, dict):
        fields = _plain(detail)
        return error_body(_field_errors_summary(fields), ValidationFailed.code, {"fields": fields})
    messages = _plain(detail if isinstance(detail, list) else [detail])
    return error_body(_first_message(messages) or "Invalid input.", ValidationFailed.code)


def in_use(what: str, rows: Mapping[type[Model], int]) -> Conflict:
    """The Conflict (code in_use) of a delete that other rows block: extra.in_use_by counts them by kind, e.g.
    {"posts": 3, "generation_jobs": 1}, and the detail names them."""
    counts = {model: count for model, count in rows.items() if count}
    listed = ", ".join(
        f"{count} {model._meta.verbose_name if count == 1 else model._meta.verbose_name_plural}"
        for model, count in counts.items()
    )
    extra = {"in_use_by": {str(model._meta.verbose_name_plural).replace(" ", "_"): n for model, n in counts.items()}}
    return Conflict(f"{what} cannot be deleted: {listed} still use it.", code="in_use", extra=extra)


def _as_drf(exc: Exception) -> Exception:
    """Django's own exceptions as the DRF exception with the same meaning."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return drf_exceptions.ValidationError(detail=detail)
    if isinstance(exc, Http404):
        return drf_exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return drf_exceptions.PermissionDenied()
    if isinstance(exc, SuspiciousOperation):  # e.g. too many form fields in a multipart body
        return drf_exceptions.ParseError(str(exc) or None)
    return exc


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER. Anything it does not know stays a server error (None: DRF re-raises it)."""
    if isinstance(exc, ApplicationError):
        set_rollback()
        response = Response(error_body(exc.message, exc.code, exc.extra), status=exc.status)
        if isinstance(exc, TooManyRequests) and "retry_after" in exc.extra:
            response["Retry-After"] = str(exc.extra["retry_after"])
        return response
    if isinstance(exc, ProtectedError | RestrictedError):  # a delete that rows of another kind still refer to
        rows = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        return api_exception_handler(in_use("It", Counter(type(row) for row in rows)), context)
    exc = _as_drf(exc)
    response = exception_handler(exc, context)  # sets the headers: WWW-Authenticate, Retry-After, Allow
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        response.data = _validation_body(exc)
        return response
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    wait = getattr(exc, "wait", None)  # Throttled: seconds until the next request is allowed
    extra = {"retry_after": math.ceil(wait)} if wait is not None else {}
    response.data = error_body(_first_message(_plain(exc.detail)), str(code), extra)
    return response
