"""Reads for pages and the API: a persona's accounts and a post's publication. No token ever leaves here."""

from __future__ import annotations

from django.db.models import QuerySet

from publishing.models import ConnectedAccount, Publication


def persona_accounts(*, persona_id: int) -> QuerySet[ConnectedAccount]:
    return ConnectedAccount.objects.filter(persona_id=persona_id).defer("access_token_encrypted")


def post_publication(*, post_id: int) -> Publication | None:
    return Publication.objects.filter(post_id=post_id).select_related("account").first()
