"""Reads for export bundles, scoped to the user's workspace memberships."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from core.errors import NotFound
from personas.selectors import workspace_ids_for_user
from provenance.models import ExportBundle, ExportSettings, ExportStatus


def export_bundle_list(*, user: AbstractBaseUser, workspace_id: int | None = None) -> QuerySet[ExportBundle]:
    qs = ExportBundle.objects.filter(workspace_id__in=workspace_ids_for_user(user=user))
    if workspace_id is not None:
        qs = qs.filter(workspace_id=workspace_id)
    return qs.select_related("workspace").prefetch_related("personas")


def export_bundle_get(*, user: AbstractBaseUser, bundle_id: int) -> ExportBundle:
    """The bundle if it belongs to one of the user's workspaces; NotFound otherwise (never 403)."""
    bundle = export_bundle_list(user=user).filter(pk=bundle_id).first()
    if bundle is None:
        raise NotFound("Export not found.")
    return bundle


def export_bundle_recent(*, user: AbstractBaseUser, workspace_id: int, limit: int = 20) -> list[ExportBundle]:
    """A workspace's latest bundles, newest first, with who asked for each."""
    return list(
        export_bundle_list(user=user, workspace_id=workspace_id)
        .select_related("created_by")
        .order_by("-created_at", "-id")[:limit]
    )


def export_bundle_ready(*, user: AbstractBaseUser, bundle_id: int) -> ExportBundle | None:
    """The bundle if the user may see it and its archive is ready to download, else None."""
    bundle = export_bundle_list(user=user).filter(pk=bundle_id, status=ExportStatus.SUCCEEDED).first()
    return bundle if bundle is not None and bundle.file else None


def export_settings_get(*, workspace_id: int) -> ExportSettings:
    """The workspace's export settings; the defaults (unsaved) when it never changed them."""
    found = ExportSettings.objects.filter(workspace_id=workspace_id).first()
    return found or ExportSettings(workspace_id=workspace_id)
