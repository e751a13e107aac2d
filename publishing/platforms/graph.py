"""HTTP for the Meta Graph-style APIs (Instagram, Threads): one request function and the typed errors their error
bodies map to: {"error": {"message", "type", "code", "error_subcode", "fbtrace_id", "is_transient"}}.

Tokens travel as the `access_token` parameter (in the form body for POSTs); they never appear in an error message.
"""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings

from core.errors import ApplicationError


class PlatformError(ApplicationError):
    """A platform refused or failed a call. `retryable`: the same call may succeed later."""

    retryable = False

    def __init__(self, message: str, *, status: int = 0, code: int | None = None, subcode: int | None = None):
        super().__init__(message)
        self.http_status, self.platform_code, self.subcode = status, code, subcode


class TokenExpired(PlatformError):
    """OAuth error 190: the token expired or was revoked; the account must be reconnected."""


class PermissionMissing(PlatformError):
    """The token lacks a permission the call needs (codes 10, 200-299)."""


class MediaRejected(PlatformError):
    """The platform refused the content itself (bad image, caption, aspect ratio): retrying will not help."""


class Transient(PlatformError):
    """5xx, timeouts, connection errors, or an error the platform marks transient."""

    retryable = True


class RateLimited(Transient):
    """429 or the platform's throttling codes (4, 17, 32, 613) and publishing-limit code 9."""


_RATE_CODES = {4, 9, 17, 32, 613}


def error_from_response(response: requests.Response) -> PlatformError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    message = str(error.get("error_user_msg") or error.get("message") or f"HTTP {response.status_code}")
    code, subcode = error.get("code"), error.get("error_subcode")
    kwargs = {"status": response.status_code, "code": code, "subcode": subcode}
    text = f"{message} (code {code}{f', subcode {subcode}' if subcode else ''})" if code is not None else message
    if code == 190:
        return TokenExpired(text, **kwargs)
    if code == 10 or (isinstance(code, int) and 200 <= code <= 299):
        return PermissionMissing(text, **kwargs)
    if response.status_code == 429 or code in _RATE_CODES:
        return RateLimited(text, **kwargs)
    if response.status_code >= 500 or error.get("is_transient") or code in (1, 2):
        return Transient(text, **kwargs)
    return MediaRejected(text, **kwargs)


def graph_call(method: str, url: str, *, token: str | None = None, params: dict[str, Any] | None = None) -> dict:
    """One call; the JSON answer, or a PlatformError."""
    params = {key: value for key, value in (params or {}).items() if value is not None}
    if token is not None:
        params["access_token"] = token
    try:
        if method == "GET":
            response = requests.get(url, params=params, timeout=settings.PUBLISHING_HTTP_TIMEOUT)
        else:
            response = requests.post(url, data=params, timeout=settings.PUBLISHING_HTTP_TIMEOUT)
    except requests.RequestException as exc:
        # The request may have reached the platform: callers read state back before repeating a write.
        raise Transient(f"No answer from {url.split('?')[0]}: {type(exc).__name__}") from exc
    if response.status_code >= 400:
        raise error_from_response(response)
    try:
        return response.json()
    except ValueError as exc:
        where = url.split("?")[0]
        raise Transient(f"{where} answered HTTP {response.status_code} with a body that is not JSON") from exc


def flag(value: bool) -> str:
    return "true" if value else "false"
