"""What pages show of direct publishing: a persona's connected accounts and a post's publication status line,
computed from rows the publishing selectors read (no queries here).

A status line is a dict of plain strings and flags: calendar chips are cached fragments keyed on their values
(web/fragments.py), so a publication that changes is a new key and shows at once.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone

from core.csp import HEADER, policy_header
from publishing.models import AccountPlatform, AccountStatus, ConnectedAccount, Publication, PublicationStatus
from publishing.selectors import platform_authorize_origins, platform_setup_missing
from scheduler.selectors import persona_zone
from web.presenters import url_format

IN_FLIGHT = (PublicationStatus.CREATING, PublicationStatus.CONTAINER_CREATED, PublicationStatus.PUBLISHING)


def local_label(when: dt.datetime, persona) -> str:
    local = when.astimezone(persona_zone(persona))
    return f"{local:%a} {local.day} {local:%b %H:%M} {persona.timezone}"


def ai_label(publication: Publication, platform_label: str) -> str:
    """What the platform reported of the AI label, as the publication recorded it."""
    if publication.ai_flag_reported is True:
        return "AI label: set"
    if publication.ai_flag_reported is False:
        return f"AI label: NOT set ({platform_label} reports it missing)"
    if publication.ai_flag_note:  # the platform has no field for it (publishing.platforms.threads)
        return f"AI label: not set ({platform_label} has no API flag)"
    return "AI label: not reported"


def publication_line(publication: Publication | None, *, persona, platform_label: str, retry_url: str) -> dict | None:
    """The status line of a post's publication (None: never sent to publishing). Only what the row records:
    its status, the platform's message (last_error), the permalink, the AI label read back, the next attempt."""
    if publication is None:
        return None
    status = publication.status
    next_attempt = local_label(publication.next_attempt_at, persona) if publication.next_attempt_at else ""
    line = {"state": status, "text": "", "detail": "", "permalink": "", "ai_label": "", "ai_note": "",
            "retry": status in (PublicationStatus.FAILED, PublicationStatus.WAITING), "retry_url": retry_url}
    if status == PublicationStatus.PUBLISHED:
        line["text"] = "Published"
        # Only a web address becomes a link; the platform wrote it, not us.
        if publication.permalink.startswith(("https://", "http://")):
            line["permalink"] = publication.permalink
        elif publication.platform_media_id:
            line["detail"] = f"media {publication.platform_media_id} (no link returned)"
        line["ai_label"], line["ai_note"] = ai_label(publication, platform_label), publication.ai_flag_note
    elif status == PublicationStatus.FAILED:
        line["text"] = f"Failed: {publication.last_error or 'no message from the platform'}"
    elif status == PublicationStatus.WAITING:
        line["text"] = f"Waiting: {publication.last_error or 'no reason recorded'}"
        line["detail"] = f"next attempt {next_attempt}" if next_attempt else ""
    elif status in IN_FLIGHT:
        line["text"] = "Publishing…"
        if publication.last_error and next_attempt:  # a transient error: the run tries again by itself
            line["detail"] = f"attempt {publication.attempts}: {publication.last_error}; next attempt {next_attempt}"
    else:  # queued: the next publishing run picks it up
        line["text"] = "Queued for publishing"
        if next_attempt:
            line["detail"] = f"next attempt {next_attempt}"
    return line


def retry_url_format() -> str:
    return url_format("publishing-retry", "pk")


def account_rows(persona, accounts: dict[str, ConnectedAccount], *, now: dt.datetime | None = None) -> list[dict]:
    """One row per platform: its live account (connected, or waiting for a reconnect, with why) or, without one,
    what connecting needs (the settings missing on this installation)."""
    now = now or timezone.now()
    disconnect = url_format("publishing-disconnect", "pk")
    rows = []
    for platform, label in AccountPlatform.choices:
        account = accounts.get(platform)
        row = {"platform": platform, "label": label, "account": account, "missing": [], "reason": "",
               "needs_reconnect": False, "expired": False,
               "connect_url": reverse("publishing-connect", args=[persona.pk, platform])}
        if account is None:
            row["missing"] = platform_setup_missing(platform=platform)
        else:
            row["disconnect_url"] = disconnect.format(pk=account.pk)
            row["expired"] = bool(account.token_expires_at and account.token_expires_at <= now)
            if account.status == AccountStatus.RECONNECT_NEEDED:
                row["needs_reconnect"] = True
                row["reason"] = account.status_reason or "The platform refused its token."
            elif row["expired"]:  # not refused yet, but an expired token cannot be refreshed
                row["needs_reconnect"] = True
                row["reason"] = "Its token expired; the platform will refuse it."
            if row["needs_reconnect"]:
                row["missing"] = platform_setup_missing(platform=platform)
        rows.append(row)
    return rows


def connect_forms_allow(response: HttpResponse) -> HttpResponse:
    """A page with Connect buttons: its forms post here and are redirected on to a platform's consent page, and
    browsers hold the whole redirect chain to form-action, so the policy names those origins too."""
    policy = dict(settings.CONTENT_SECURITY_POLICY)
    policy["form-action"] = [*policy.get("form-action", ["'self'"]), *platform_authorize_origins()]
    response[HEADER] = policy_header(policy)
    return response
