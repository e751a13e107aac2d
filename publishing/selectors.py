"""Reads for pages and the API: a persona's accounts and a post's publication. No token ever leaves here."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlparse

from django.conf import settings
from django.db.models import BooleanField, Case, QuerySet, Value, When

from publishing.models import LIVE_ACCOUNT_STATUSES, AccountPlatform, ConnectedAccount, Publication, PublicationStatus

# What a status line shows of a publication (pages list many: the rest of the row stays in the database).
PUBLICATION_LINE_FIELDS = ("id", "post", "status", "permalink", "platform_media_id", "ai_flag_reported",
                           "ai_flag_note", "attempts", "last_error", "next_attempt_at")


def persona_accounts(*, persona_id: int) -> QuerySet[ConnectedAccount]:
    return ConnectedAccount.objects.filter(persona_id=persona_id).defer("access_token_encrypted")


def persona_live_accounts(*, persona_id: int) -> dict[str, ConnectedAccount]:
    """The persona's account per platform that publishes or awaits a reconnect (disconnected ones left out)."""
    accounts = persona_accounts(persona_id=persona_id).filter(status__in=LIVE_ACCOUNT_STATUSES).order_by("created_at")
    return {account.platform: account for account in accounts}  # at most one live per platform (a constraint)


def platform_setup_missing(*, platform: str) -> list[str]:
    """The settings connecting `platform` needs that are empty on this installation (app id, secret, callback)."""
    if platform not in AccountPlatform.values:
        return []
    prefix = platform.upper()
    return [name for name in (f"{prefix}_APP_ID", f"{prefix}_APP_SECRET", f"{prefix}_REDIRECT_URI")
            if not getattr(settings, name, "")]


def platform_authorize_origins() -> list[str]:
    """The origins of the platforms' consent pages (the sandbox's under `make run`): a Connect form is sent there."""
    origins = []
    for url in (settings.INSTAGRAM_AUTH_URL, settings.THREADS_AUTH_URL):
        parsed = urlparse(url or "")
        origin = f"{parsed.scheme}://{parsed.netloc}" if parsed.scheme in ("http", "https") and parsed.netloc else ""
        if origin and origin not in origins:
            origins.append(origin)
    return origins


def post_publication(*, post_id: int) -> Publication | None:
    return Publication.objects.filter(post_id=post_id).select_related("account").first()


def post_publications(*, post_ids: Iterable[int]) -> dict[int, Publication]:
    """The publications of these posts by post id, in one query (a page's chips read theirs from here)."""
    post_ids = list(post_ids)
    if not post_ids:
        return {}
    rows = Publication.objects.filter(post_id__in=post_ids).only(*PUBLICATION_LINE_FIELDS)
    return {publication.post_id: publication for publication in rows}


def workspace_publications(*, workspace_id: int, limit: int = 10) -> list[Publication]:
    """The workspace's latest publications, those that need someone (failed, waiting) first, with their posts and
    personas, in one query."""
    needs_attention = Case(When(status__in=(PublicationStatus.FAILED, PublicationStatus.WAITING), then=Value(True)),
                           default=Value(False), output_field=BooleanField())
    return list(
        Publication.objects.filter(post__workspace_id=workspace_id)
        .select_related("post__persona")
        .annotate(needs_attention=needs_attention)
        .order_by("-needs_attention", "-updated_at", "-id")[:limit]
    )
