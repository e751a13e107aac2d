"""Thin routes: the OAuth connect start and callback, disconnecting an account, retrying a publication, and the
signed, expiring media route platforms fetch published images from (no session there: the signature is the key)."""

from __future__ import annotations

import mimetypes

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError, NotFound
from publishing.media import media_name_from_token
from publishing.models import PublicationStatus
from publishing.publish import publication_retry
from publishing.services import account_connect_finish, account_connect_start, account_disconnect

_RETURN_TO = "publishing_return_to"


@require_GET
def media(request: HttpRequest, signed: str) -> FileResponse:
    name = media_name_from_token(signed)
    if name is None or not default_storage.exists(name):
        raise Http404("Not found.")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse(default_storage.open(name, "rb"), content_type=content_type)


def _return_to(request: HttpRequest, value: str | None) -> str:
    if value and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}):
        return value
    return "/"


@login_required
@require_POST
def connect_start(request: HttpRequest, persona_id: int, platform: str) -> HttpResponse:
    """The persona page's "Connect" button: off to the platform's consent screen."""
    back = _return_to(request, request.POST.get("next"))
    try:
        url = account_connect_start(actor=request.user, persona_id=persona_id, platform=platform)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    request.session[_RETURN_TO] = back
    return redirect(url)


@login_required
@require_GET
def connect_callback(request: HttpRequest, platform: str) -> HttpResponse:
    """Where the platform sends the browser back, with `code` and `state` (or `error` when the user declined)."""
    back = _return_to(request, request.session.pop(_RETURN_TO, None))
    if request.GET.get("error"):
        messages.error(request, f"Not connected: {request.GET.get('error_description') or request.GET['error']}.")
        return redirect(back)
    try:
        account = account_connect_finish(actor=request.user, state=request.GET.get("state", ""),
                                         code=request.GET.get("code", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    messages.success(request, f"Connected {account.get_platform_display()} account @{account.username}.")
    return redirect(back)


@login_required
@require_POST
def disconnect(request: HttpRequest, account_id: int) -> HttpResponse:
    """The persona page's "Disconnect" button (after its confirmation): the token is erased here."""
    back = _return_to(request, request.POST.get("next"))
    try:
        account = account_disconnect(actor=request.user, account_id=account_id)
    except NotFound as exc:  # another workspace's account: not found, never forbidden
        raise Http404(exc.message) from None
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    messages.success(request, f"Disconnected {account.get_platform_display()} account @{account.username}; "
                              "nothing publishes through it any more.")
    return redirect(back)


@login_required
@require_POST
def retry(request: HttpRequest, post_id: int) -> HttpResponse:
    """A failed or waiting publication's "Retry" button (calendar, dashboard, post page)."""
    back = _return_to(request, request.POST.get("next"))
    try:
        publication = publication_retry(post_id=post_id, actor=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from None
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    if publication.status == PublicationStatus.QUEUED:
        messages.success(request, f"Post #{post_id} is queued for publishing again; the next run sends it.")
    else:
        messages.info(request, f"Post #{post_id} is {publication.get_status_display().lower()}: nothing to retry.")
    return redirect(back)
