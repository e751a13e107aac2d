"""Django admin, scoped to the user's workspaces.

Superusers see everything. Staff users see only objects of workspaces where they are members, and
writes additionally need one of `write_roles` there. Other apps reuse `WorkspaceScopedAdminMixin`:

    class PostAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
        workspace_path = "workspace"            # or "persona__workspace", "job__persona__workspace"
        related_workspace_paths = {"post": "workspace"}   # optional: scope FK choices of other models
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path, unquote
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest

from core.access import ADMIN_ROLES, AUTHOR_ROLES, allowed_roles, is_operator
from core.errors import ApplicationError
from personas import caption_settings, services
from personas.models import Membership, Persona, PersonaAgeChange, ReferenceImage, Workspace


class WorkspaceScopedAdminMixin:
    """Limits a ModelAdmin to the workspaces the requesting staff user belongs to.

    `workspace_path` is the lookup from the model to its Workspace ("" when the model *is* Workspace).
    `write_roles` are the membership roles allowed to add/change/delete (None: any member role);
    Django's model permissions still apply on top.
    FK form choices are limited automatically for Workspace and Persona; other related models can be
    limited through `related_workspace_paths` ({fk field name: lookup from that model to Workspace}).
    """

    workspace_path: str = "workspace"
    write_roles: tuple[str, ...] | None = None
    related_workspace_paths: dict[str, str] = {}  # read-only class configuration

    # --- scope helpers -------------------------------------------------------------------------
    @staticmethod
    def _unrestricted(request: HttpRequest) -> bool:
        return is_operator(request.user)

    def workspace_ids(self, request: HttpRequest, *, write: bool = False) -> list[int]:
        """Workspaces the user may see (or, with write=True, modify) here. Cached per request."""
        cache_name = "_ws_scope_write" if write else "_ws_scope_read"
        cache = getattr(request, "_workspace_admin_scope", None)
        if cache is None:
            cache = {}
            request._workspace_admin_scope = cache
        key = (cache_name, self.write_roles if write else None)
        if key not in cache:
            qs = Membership.objects.filter(user_id=request.user.pk)
            if write and self.write_roles is not None:
                qs = qs.filter(role__in=allowed_roles(self.write_roles))
            cache[key] = list(qs.values_list("workspace_id", flat=True))
        return cache[key]

    def _scope_filter(self, path: str, ids: list[int]) -> dict[str, Any]:
        return {f"{path}__in" if path else "pk__in": ids}

    def scope_queryset(self, qs: QuerySet, request: HttpRequest, *, path: str | None = None) -> QuerySet:
        if self._unrestricted(request):
            return qs
        path = self.workspace_path if path is None else path
        return qs.filter(**self._scope_filter(path, self.workspace_ids(request))).distinct()

    def obj_workspace_id(self, obj: Model) -> int | None:
        if not self.workspace_path:
            return obj.pk
        target: Any = obj
        for part in self.workspace_path.split("__"):
            target = getattr(target, part, None)
            if target is None:
                return None
        return target.pk

    def _obj_in_scope(self, request: HttpRequest, obj: Model | None, *, write: bool) -> bool:
        if self._unrestricted(request):
            return True
        if obj is None:
            # Changelist / add page: allowed when the user has at least one workspace in scope.
            return bool(self.workspace_ids(request, write=write))
        return self.obj_workspace_id(obj) in self.workspace_ids(request, write=write)

    # --- ModelAdmin hooks ----------------------------------------------------------------------
    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.scope_queryset(super().get_queryset(request), request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) and self._obj_in_scope(request, None, write=False)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_view_permission(request, obj) and self._obj_in_scope(request, obj, write=False)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return super().has_add_permission(request, *args) and self._obj_in_scope(request, None, write=True)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._obj_in_scope(request, obj, write=True)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._obj_in_scope(request, obj, write=True)

    def _raise_if_hidden(self, request: HttpRequest, object_id: str | None) -> None:
        # Django would redirect to the index with "doesn't exist"; another workspace's object is a
        # plain 404, as everywhere else in the product.
        if object_id is not None and self.get_object(request, unquote(object_id)) is None:
            raise Http404("Not found.")

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        self._raise_if_hidden(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context=None):
        self._raise_if_hidden(request, object_id)
        return super().delete_view(request, object_id, extra_context)

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None):
        self._raise_if_hidden(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def get_list_filter(self, request: HttpRequest):
        filters = super().get_list_filter(request)
        if self._unrestricted(request):
            return filters
        # A plain related filter lists every row of the related table (other workspaces' names);
        # RelatedOnly lists only the values present in the scoped queryset.
        return tuple(
            (f, admin.RelatedOnlyFieldListFilter)
            if isinstance(f, str) and get_fields_from_path(self.model, f)[-1].is_relation
            else f
            for f in filters
        )

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if not self._unrestricted(request):
            ids = self.workspace_ids(request, write=True)
            model = db_field.related_model
            path = self.related_workspace_paths.get(db_field.name)
            if path is None:
                if model is Workspace:
                    path = ""
                elif model is Persona:
                    path = "workspace"
            if path is not None:
                base = kwargs.get("queryset") or model._default_manager.all()
                kwargs["queryset"] = base.filter(**self._scope_filter(path, ids)).distinct()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class PersonaAdminForm(forms.ModelForm):
    """Runs the service's field rules in the form, so bad input is a form error and not a crash."""

    class Meta:
        model = Persona
        fields = ("workspace", *sorted(services.PERSONA_FIELDS))

    # Caption-writer settings: optional here; left out of a submitted form they keep their current values.
    OPTIONAL_FIELDS = ("banned_words", "must_include", "caption_examples", "caption_languages",
                       "caption_language_mode", "caption_urls_allowed")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.OPTIONAL_FIELDS:
            if name in self.fields:  # absent from a read-only view
                self.fields[name].required = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in self.OPTIONAL_FIELDS:
            if name in self.fields and cleaned.get(name) in (None, "") and name not in self.data:
                cleaned[name] = getattr(self.instance, name)
        given = {name: cleaned[name] for name in services.PERSONA_FIELDS if name in cleaned}
        try:
            cleaned.update(services.persona_fields_clean(given))
        except ApplicationError as exc:
            for name, errors in exc.extra.get("fields", {}).items():
                self.add_error(name if name in self.fields else None, errors)
            if not exc.extra.get("fields"):
                self.add_error(None, exc.message)
            return cleaned
        workspace = cleaned.get("workspace") or getattr(self.instance, "workspace", None)
        handle = cleaned.get("handle")
        if (
            workspace is not None
            and handle
            and services.handle_taken(workspace_id=workspace.pk, handle=handle, exclude_pk=self.instance.pk)
        ):
            self.add_error("handle", f"The handle @{handle} is already used by another persona in this workspace.")
        return cleaned


class ReadOnlyInline(admin.TabularInline):
    """An inline that only shows rows: audit trails and files written by services."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class MembershipInline(ReadOnlyInline):
    # Members are added on the Membership page, through membership_add.
    model = Membership
    fields = ("user", "role", "created_at")
    readonly_fields = fields


class WorkspaceAdminForm(forms.ModelForm):
    """The brand list and label table keep the service's rules (a bad entry is a form error, not stored)."""

    class Meta:
        model = Workspace
        fields = ("name", "slug", "brand_names", "disclosure_labels")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        given = {name: cleaned.get(name) for name in ("brand_names", "disclosure_labels")}
        try:
            cleaned.update(caption_settings.workspace_caption_fields_clean(given))
        except ApplicationError as exc:
            for name, errors in exc.extra.get("fields", {}).items():
                self.add_error(name, errors)
        return cleaned


@admin.register(Workspace)
class WorkspaceAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    form = WorkspaceAdminForm
    workspace_path = ""
    write_roles = ADMIN_ROLES
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = (MembershipInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A new brand is an operator decision; workspace admins manage their own one.
        return self._unrestricted(request)

    def save_model(self, request: HttpRequest, obj: Workspace, form: Any, change: bool) -> None:
        if change:
            obj.save()
            return
        created = services.workspace_create(name=obj.name, slug=obj.slug, owner=request.user)
        obj.pk = created.pk
        obj.created_at = created.created_at


@admin.register(Membership)
class MembershipAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    write_roles = ADMIN_ROLES
    list_display = ("user", "workspace", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__username", "user__email", "workspace__name")
    list_select_related = ("user", "workspace")

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> tuple[str, ...]:
        return ("workspace", "user") if obj else ()

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        if change:
            services.membership_update(membership=obj, role=obj.role, actor=request.user)
            return
        created = services.membership_add(workspace=obj.workspace, user=obj.user, role=obj.role, actor=request.user)
        obj.pk = created.pk


class PersonaAgeChangeInline(ReadOnlyInline):
    model = PersonaAgeChange
    fields = ("old_age", "new_age", "changed_by", "changed_at")
    readonly_fields = fields


class ReferenceImageInline(ReadOnlyInline):
    # Uploads go through the validating upload service (API / persona page).
    model = ReferenceImage
    fields = ("image", "original_filename", "width", "height", "face_finding", "face_reason", "upload", "created_at")
    readonly_fields = fields
    show_change_link = True


@admin.register(Persona)
class PersonaAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    write_roles = AUTHOR_ROLES
    form = PersonaAdminForm
    list_display = ("name", "handle", "workspace", "age", "timezone", "updated_at")
    list_filter = ("workspace",)
    search_fields = ("name", "handle")
    list_select_related = ("workspace",)
    readonly_fields = ("created_by", "created_at", "updated_at")
    inlines = (PersonaAgeChangeInline, ReferenceImageInline)

    def get_readonly_fields(self, request: HttpRequest, obj: Persona | None = None) -> tuple[str, ...]:
        # Moving a persona between workspaces would carry its posts across a tenant boundary.
        return (*self.readonly_fields, "workspace") if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Persona, form: Any, change: bool) -> None:
        # Writes go through the services so the age audit and validation apply here too.
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        if change:
            fields.pop("workspace", None)
            current = Persona.objects.get(pk=obj.pk)
            services.persona_update(actor=request.user, persona=current, **fields)
            return
        fields.pop("workspace", None)
        created = services.persona_create(actor=request.user, workspace=obj.workspace, **fields)
        obj.pk = created.pk


@admin.register(ReferenceImage)
class ReferenceImageAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    workspace_path = "persona__workspace"
    write_roles = AUTHOR_ROLES
    list_display = ("__str__", "persona", "width", "height", "created_at")
    list_filter = ("persona__workspace",)
    search_fields = ("original_filename", "persona__name", "persona__handle")
    list_select_related = ("persona", "persona__workspace")
    fields = ("persona", "image", "original_filename", "width", "height", "sha256", "caption", "uploaded_by",
              "upload", "face_finding", "face_reason", "face_px", "face_distance")
    readonly_fields = ("persona", "image", "original_filename", "width", "height", "sha256", "uploaded_by",
                       "upload", "face_finding", "face_reason", "face_px", "face_distance")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # uploads go through the validating upload service (API / persona page)

    def delete_model(self, request: HttpRequest, obj: ReferenceImage) -> None:
        services.reference_image_delete(actor=request.user, image=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for image in queryset:
            services.reference_image_delete(actor=request.user, image=image)
