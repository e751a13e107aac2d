"""Admin for posts, scoped to the staff user's workspaces.

Status is never edited here: transitions happen only through scheduler.services. Content edits of
drafts go through post_update so the same rules apply as in the API.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from core.access import AUTHOR_ROLES
from core.errors import ApplicationError
from personas.admin import ReadOnlyInline, WorkspaceScopedAdminMixin
from scheduler import services
from scheduler.models import Post, PostImage, PostTransition

EDITABLE_FIELDS = ("platform", "caption", "hashtags", "is_sponsored", "scheduled_at")


class PostImageInline(ReadOnlyInline):
    # Images are added by post_create, which hashes and validates them.
    model = PostImage
    fields = ("position", "image", "width", "height", "sha256", "generated_image")
    readonly_fields = fields


class PostTransitionInline(ReadOnlyInline):
    model = PostTransition
    fields = ("created_at", "actor", "from_status", "to_status", "comment")
    readonly_fields = fields


@admin.register(Post)
class PostAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    workspace_path = "workspace"
    write_roles = AUTHOR_ROLES
    list_display = ("id", "persona", "platform", "status", "scheduled_at", "is_sponsored", "created_by", "created_at")
    list_filter = ("status", "platform", "is_sponsored")
    search_fields = ("caption", "persona__name", "persona__handle")
    date_hierarchy = "scheduled_at"
    list_select_related = ("persona", "created_by")
    inlines = (PostImageInline, PostTransitionInline)
    fields = (
        "workspace",
        "persona",
        "status",
        *EDITABLE_FIELDS,
        "disclosure_label",
        "created_by",
        "created_at",
        "updated_at",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Post | None = None) -> tuple[str, ...]:
        fixed = ("workspace", "persona", "status", "disclosure_label", "created_by", "created_at", "updated_at")
        if obj is None or obj.status not in services.EDITABLE_STATUSES:
            return fixed + EDITABLE_FIELDS
        return fixed

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # posts are created through post_create (API, pages), which stores images and labels

    def save_model(self, request: HttpRequest, obj: Post, form: Any, change: bool) -> None:
        changed = {name: form.cleaned_data[name] for name in form.changed_data if name in EDITABLE_FIELDS}
        if not changed:
            return
        try:
            services.post_update(actor=request.user, post=Post.objects.get(pk=obj.pk), **changed)
        except ApplicationError as exc:
            obj.refresh_from_db()
            self.message_user(request, f"Not saved: {exc.message}", level=messages.ERROR)
