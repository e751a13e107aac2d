"""Admin for LoRA versions and generation jobs, scoped to the staff user's workspaces.

Read-only views of what the worker did; status changes go through generation.services (the actions below).
Runs are started from the product (API, pages), never from here.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from config.exceptions import ApplicationError
from core.access import Role
from personas.admin import ReadOnlyInline, WorkspaceScopedAdminMixin

from . import services
from .models import GeneratedImage, GenerationJob, JobTransition, LoraVersion


class LoraTransitionInline(ReadOnlyInline):
    model = JobTransition
    fk_name = "lora_version"
    fields = ("created_at", "actor", "from_status", "to_status", "comment")
    readonly_fields = fields


class JobTransitionInline(LoraTransitionInline):
    fk_name = "generation_job"


class GeneratedImageInline(ReadOnlyInline):
    model = GeneratedImage
    fields = ("index", "image", "width", "height", "seed", "sha256", "lora_sha256", "base_model_hash",
              "likeness_status", "likeness_score", "on_model", "likeness_reason")
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
        "persona", "version", "status", "is_active", "base_model", "hyperparameters", "loss_curve",
        "progress_step", "total_steps", "weights_path", "sha256", "error", "cancel_requested", "created_by",
        "created_at", "started_at", "finished_at", "worker", "likeness_report",
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
    list_display = ("id", "persona", "platform", "status", "drafting_status", "num_variants", "is_sample",
                    "created_by", "created_at")
    list_filter = ("status", "drafting_status", "platform", "is_sample")
    search_fields = ("scene", "prompt", "persona__name", "persona__handle")
    list_select_related = ("persona", "created_by")
    readonly_fields = (
        "persona", "lora_version", "platform", "scene", "prompt", "negative_prompt", "num_variants", "seed",
        "steps", "guidance", "scheduler", "width", "height", "status", "progress_step", "total_steps", "error",
        "cancel_requested", "is_sample", "batch_leader", "batch_offset", "batch_size", "drafting_status",
        "drafting_error", "created_by", "created_at", "started_at", "finished_at", "is_sponsored", "caption_error",
        "worker",
    )
    inlines = (GeneratedImageInline, JobTransitionInline)
    actions = ("cancel_jobs",)

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return False

    @admin.action(description="Cancel selected queued/running jobs")
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[GenerationJob]) -> None:
        _run_action(self, request, queryset,
                    lambda j: services.generation_job_cancel(actor=request.user, job_id=j.pk), "Cancelled")
