"""Reads for export bundles, scoped to the user's workspace memberships, and the export rules' warnings on a
post's scheduled time."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from core.errors import NotFound
from personas.selectors import workspace_ids_for_user
from provenance.bundles.importer_rules import HOOTSUITE_SLOT, SPROUT_MIN_GAP, PostTime, schedule_warnings
from provenance.models import ExportBundle, ExportSettings, ExportStatus
from scheduler.models import Post
from scheduler.selectors import BUSY_STATUSES, persona_zone


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


def post_importer_warnings(*, post: Post, scheduled_at: dt.datetime, **kwargs) -> list[str]:
    """What the Hootsuite and Sprout Social importers will make of `post` at `scheduled_at`, beside the persona's
    other posts on that platform (one CSV file): off-slot minutes (refused or moved, per the workspace's export
    rule), a shared slot, a neighbour closer than 10 minutes. Receiver of scheduler.signals.post_schedule_check."""
    window = max(SPROUT_MIN_GAP, HOOTSUITE_SLOT) + HOOTSUITE_SLOT
    zone = persona_zone(post.persona)
    nearby = (
        Post.objects.filter(
            persona_id=post.persona_id,
            platform=post.platform,
            status__in=BUSY_STATUSES,
            scheduled_at__gte=scheduled_at - window,
            scheduled_at__lte=scheduled_at + window,
        )
        .exclude(pk=post.pk)
        .order_by("scheduled_at", "id")
        .values_list("pk", "scheduled_at")
    )
    others = [PostTime(key=pk, at=at.astimezone(zone)) for pk, at in nearby]
    rule = export_settings_get(workspace_id=post.workspace_id).hootsuite_time_rule
    return schedule_warnings(scheduled_at.astimezone(zone), others, mode=rule)
