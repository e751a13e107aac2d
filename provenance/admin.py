"""Admin for export bundles, export settings and the provenance registry, scoped to the staff user's workspaces."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from core.access import ADMIN_ROLES
from personas.admin import WorkspaceScopedAdminMixin
from provenance.models import ExportBundle, ExportedImage, ExportSettings


@admin.register(ExportBundle)
class ExportBundleAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    """Bundles are built by the export worker; the admin shows them and lets admins delete old ones."""

    workspace_path = "workspace"
    write_roles = ADMIN_ROLES
    list_display = ("id", "workspace", "status", "progress", "post_count", "start", "end", "created_at")
    list_filter = ("status",)
    readonly_fields = (
        "workspace",
        "personas",
        "start",
        "end",
        "status",
        "progress",
        "file",
        "sha256",
        "post_count",
        "error",
        "created_by",
        "created_at",
        "finished_at",
    )

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(ExportSettings)
class ExportSettingsAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    """A workspace's TC260 producer id, Hootsuite time rule and visible label style (workspace admins)."""

    workspace_path = "workspace"
    write_roles = ADMIN_ROLES
    list_display = ("workspace", "content_producer", "hootsuite_time_rule", "visible_label_style")


@admin.register(ExportedImage)
class ExportedImageAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    """The provenance registry: written only when a bundle is kept; read-only here."""

    workspace_path = "workspace"
    write_roles = ADMIN_ROLES
    list_display = ("public_id", "persona", "post", "bundle", "platform", "rivagan_payload", "created_at")
    list_filter = ("platform",)
    search_fields = ("=public_id", "=rivagan_payload", "=dwt_payload", "=sha256")
    list_select_related = ("persona",)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
