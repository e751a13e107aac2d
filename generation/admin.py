"""Admin for LoRA versions and generation jobs, scoped to the staff user's workspaces.

Read-only views of what the worker did; status changes go through generation.services (the actions below).
Runs are started from the product (API, pages), never from here.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from core.access import Role, is_operator
from core.errors import ApplicationError
from generation import services
from generation.library import services as base_models
from generation.models import (
    BaseModel,
    BaseModelSample,
    ClassImageSet,
    GeneratedImage,
    GenerationJob,
    JobTransition,
    LoraVersion,
)
from personas.admin import ReadOnlyInline, WorkspaceScopedAdminMixin


class LoraTransitionInline(ReadOnlyInline):
    model = JobTransition
    fk_name = "lora_version"
    fields = ("created_at", "actor", "from_status", "to_status", "comment")
    readonly_fields = fields


class JobTransitionInline(LoraTransitionInline):
    fk_name = "generation_job"


class GeneratedImageInline(ReadOnlyInline):
    model = GeneratedImage
    fields = ("index", "variant", "candidate", "candidate_status", "image", "width", "height", "seed", "sha256",
              "lora_sha256", "base_model_hash", "likeness_status", "likeness_score", "on_model", "likeness_reason",
              "selection_reason")
    readonly_fields = fields


def _run_action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, func, what: str) -> None:
    done = 0
    for obj in queryset:
        try:
            func(obj)
            done += 1
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", level=messages.ERROR)
    if done:
        modeladmin.message_user(request, f"{what}: {done}.", level=messages.SUCCESS)


@admin.register(LoraVersion)
class LoraVersionAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    workspace_path = "persona__workspace"
    write_roles = (Role.MARKETER,)
    list_display = ("persona", "version", "status", "is_active", "progress_step", "total_steps", "created_at")
    list_filter = ("status", "is_active")
    search_fields = ("persona__name", "persona__handle", "sha256")
    list_select_related = ("persona",)
    readonly_fields = (
        "persona", "version", "status", "is_active", "base_model", "base_model_entry", "base_model_family",
        "base_model_sha256", "hyperparameters", "loss_curve",
        "progress_stage", "progress_step", "total_steps", "weights_path", "sha256", "error", "cancel_requested",
        "created_by", "created_at", "started_at", "finished_at", "worker", "likeness_report",
    )
    inlines = (LoraTransitionInline,)
    actions = ("cancel_training", "activate_version")

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # weights are referenced by generated images' reproduction records

    @admin.action(description="Cancel selected queued/running trainings")
    def cancel_training(self, request: HttpRequest, queryset: QuerySet[LoraVersion]) -> None:
        _run_action(self, request, queryset,
                    lambda v: services.lora_training_cancel(actor=request.user, lora_version_id=v.pk), "Cancelled")

    @admin.action(description="Activate selected version (one per persona)")
    def activate_version(self, request: HttpRequest, queryset: QuerySet[LoraVersion]) -> None:
        _run_action(self, request, queryset,
                    lambda v: services.lora_version_activate(actor=request.user, lora_version_id=v.pk), "Activated")


@admin.register(GenerationJob)
class GenerationJobAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    workspace_path = "persona__workspace"
    write_roles = (Role.MARKETER,)
    list_display = ("id", "persona", "platform", "status", "drafting_status", "num_variants", "best_of", "is_sample",
                    "created_by", "created_at")
    list_filter = ("status", "drafting_status", "platform", "is_sample")
    search_fields = ("scene", "prompt", "persona__name", "persona__handle")
    list_select_related = ("persona", "created_by")
    readonly_fields = (
        "persona", "lora_version", "base_model_entry", "platform", "scene", "prompt", "negative_prompt",
        "num_variants", "best_of", "seed",
        "steps", "guidance", "scheduler", "width", "height", "status", "progress_step", "total_steps", "error",
        "cancel_requested", "is_sample", "batch_leader", "batch_offset", "batch_size", "drafting_status",
        "drafting_error", "created_by", "created_at", "started_at", "finished_at", "is_sponsored", "caption_error",
        "caption_mode", "worker", "mode", "strength", "init_image", "init_sha256", "source_image", "mask",
        "mask_sha256", "upscale", "output_width", "output_height", "face_detail",
    )
    inlines = (GeneratedImageInline, JobTransitionInline)
    actions = ("cancel_jobs",)

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return False

    @admin.action(description="Cancel selected queued/running jobs")
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[GenerationJob]) -> None:
        _run_action(self, request, queryset,
                    lambda j: services.generation_job_cancel(actor=request.user, job_id=j.pk), "Cancelled")


class BaseModelSampleInline(ReadOnlyInline):
    model = BaseModelSample
    fields = ("index", "image", "prompt", "seed", "width", "height", "sha256")
    readonly_fields = fields


class ClassImageSetInline(ReadOnlyInline):
    """Prior preservation's class image sets of the model (rendered once by a training run, then reused)."""

    model = ClassImageSet
    fields = ("resolution", "count", "seed", "steps", "status", "render_seconds", "error", "finished_at")
    readonly_fields = fields


class BaseModelAddForm(forms.ModelForm):
    """Registration: the files are checked (and hashed) by the service when the form is cleaned."""

    location = forms.CharField(label="Path", max_length=1000, help_text='A diffusers folder or a .safetensors file '
                               'on every GPU worker, or "tiny" / "tiny-sdxl" (built-in test models).')

    class Meta:
        model = BaseModel
        fields = ("name", "location", "config_dir", "description", "licence_note", "is_default")

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.registered: BaseModel | None = None

    def clean(self):
        # Not ModelForm.clean(): its unique check runs after this one and would find the row just registered (the
        # service refuses duplicate names and weights itself).
        data = self.cleaned_data
        if self.errors:
            return data
        try:
            self.registered = base_models.base_model_register(
                actor=self.actor, path=data["location"], name=data["name"], config_dir=data.get("config_dir", ""),
                description=data.get("description", ""), licence_note=data.get("licence_note", ""),
                make_default=bool(data.get("is_default")))
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None
        return data


@admin.register(BaseModel)
class BaseModelAdmin(admin.ModelAdmin):
    """The installation's model library: operators only (a model is a file on every GPU worker)."""

    list_display = ("name", "family", "native_size", "status", "is_default", "samples_status", "created_at")
    list_filter = ("family", "status")
    search_fields = ("name", "description", "sha256")
    readonly_fields = ("family", "native_size", "sha256", "size_bytes", "layout", "location", "config_dir",
                       "status", "is_default", "samples_status", "samples_error", "created_by", "created_at",
                       "archived_at")
    fields = ("name", "description", "licence_note", *readonly_fields)
    inlines = (BaseModelSampleInline, ClassImageSetInline)
    actions = ("archive_models", "render_samples", "make_default")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_operator(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return is_operator(request.user)

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission

    def get_form(self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)
        form = BaseModelAddForm

        class _Form(form):
            def __init__(self, *args, **inner):
                super().__init__(*args, actor=request.user, **inner)

        return _Form

    def get_fields(self, request: HttpRequest, obj: Model | None = None):
        return self.fields if obj is not None else BaseModelAddForm.Meta.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None):
        return self.readonly_fields if obj is not None else ()

    def get_inlines(self, request: HttpRequest, obj: Model | None):
        return self.inlines if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: BaseModel, form, change: bool) -> None:
        if change:
            obj.save(update_fields=["name", "description", "licence_note"])
            return
        obj.pk = form.registered.pk  # registered (and checked) while the form was cleaned
        obj.refresh_from_db()

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        if change:
            super().save_related(request, form, formsets, change)

    def delete_model(self, request: HttpRequest, obj: BaseModel) -> None:
        try:
            base_models.base_model_delete(actor=request.user, base_model_id=obj.pk)
        except ApplicationError as exc:
            self.message_user(request, f"{obj}: {exc.message}", level=messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[BaseModel]) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    @admin.action(description="Archive selected models (no persona may use them)")
    def archive_models(self, request: HttpRequest, queryset: QuerySet[BaseModel]) -> None:
        _run_action(self, request, queryset,
                    lambda m: base_models.base_model_archive(actor=request.user, base_model_id=m.pk), "Archived")

    @admin.action(description="Render the sample gallery again")
    def render_samples(self, request: HttpRequest, queryset: QuerySet[BaseModel]) -> None:
        _run_action(self, request, queryset,
                    lambda m: base_models.base_model_samples_request(actor=request.user, base_model_id=m.pk), "Queued")

    @admin.action(description="Make the selected model the default for new personas")
    def make_default(self, request: HttpRequest, queryset: QuerySet[BaseModel]) -> None:
        _run_action(self, request, queryset[:1],
                    lambda m: base_models.base_model_make_default(actor=request.user, base_model_id=m.pk), "Default")
