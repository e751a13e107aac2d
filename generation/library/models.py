"""The base-model library's rows: the checkpoints, their sample galleries and each persona's choice. Imported
(and re-exported) by generation.models."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from personas.models import Persona


class BaseModelStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"  # kept for the records that name it; no new persona, training or job


class BaseModelLayout(models.TextChoices):
    BUILTIN = "builtin", "Built-in test model"  # "tiny" / "tiny-sdxl": random weights the worker builds
    FOLDER = "folder", "Diffusers folder"
    SINGLE_FILE = "single_file", "Single-file safetensors + config folder"


class SamplesStatus(models.TextChoices):
    NONE = "none", "Not rendered"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Rendering"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class BaseModel(models.Model):
    """A checkpoint of the installation's model library: what it is (family, native size), where every GPU worker
    finds it, the sha256 of its weights, and its sample gallery. Installation-wide: registered by operators."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    family = models.CharField(max_length=16,
                              help_text="tiny, tiny-sdxl, sd15, sd2 or sdxl (generation.engine.families).")
    native_size = models.PositiveIntegerField(help_text="The resolution its UNet was trained at.")
    sha256 = models.CharField(max_length=64, blank=True,
                              help_text="Of its weights; blank until a worker first loads a built-in model.")
    size_bytes = models.BigIntegerField(default=0)
    layout = models.CharField(max_length=16, choices=BaseModelLayout.choices)
    location = models.CharField(max_length=1000, help_text='"tiny"/"tiny-sdxl", or the path on every GPU worker.')
    config_dir = models.CharField(max_length=1000, blank=True, help_text="A single-file checkpoint's config folder.")
    licence_note = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=BaseModelStatus.choices, default=BaseModelStatus.ACTIVE)
    is_default = models.BooleanField(default=False, help_text="New personas start on it.")
    samples_status = models.CharField(max_length=16, choices=SamplesStatus.choices, default=SamplesStatus.NONE)
    samples_error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-is_default", "name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=BaseModelStatus.values),
                                   name="base_model_status_valid"),
            models.CheckConstraint(condition=models.Q(layout__in=BaseModelLayout.values),
                                   name="base_model_layout_valid"),
            models.CheckConstraint(condition=models.Q(samples_status__in=SamplesStatus.values),
                                   name="base_model_samples_status_valid"),
            models.UniqueConstraint(fields=["is_default"], condition=models.Q(is_default=True),
                                    name="base_model_one_default"),
            models.UniqueConstraint(fields=["sha256"], condition=models.Q(status=BaseModelStatus.ACTIVE) & ~models.Q(
                sha256=""), name="base_model_unique_active_weights"),
        ]

    def __str__(self) -> str:
        return self.name


def base_model_sample_path(instance: BaseModelSample, filename: str) -> str:
    return f"base_models/{instance.base_model_id}/samples/{filename}"


class BaseModelSample(models.Model):
    """One image of a base model's gallery: a fixed prompt and seed, rendered by a GPU worker at registration."""

    base_model = models.ForeignKey(BaseModel, on_delete=models.CASCADE, related_name="samples")
    index = models.PositiveSmallIntegerField()
    image = models.ImageField(upload_to=base_model_sample_path, width_field="width", height_field="height")
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    seed = models.BigIntegerField()
    steps = models.PositiveSmallIntegerField()
    guidance = models.FloatField()
    scheduler = models.CharField(max_length=32)
    base_model_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["base_model", "index"]
        constraints = [models.UniqueConstraint(fields=["base_model", "index"], name="base_model_sample_unique_index")]


class PersonaBaseModel(models.Model):
    """The base model a persona trains and generates on (none yet: the default model)."""

    persona = models.OneToOneField(Persona, on_delete=models.CASCADE, related_name="base_model_choice")
    base_model = models.ForeignKey(BaseModel, on_delete=models.PROTECT, related_name="persona_choices")
    chosen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    chosen_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.persona} on {self.base_model}"


class ClassImagesStatus(models.TextChoices):
    RENDERING = "rendering", "Rendering"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class ClassImageSet(models.Model):
    """Prior-preservation class images of one base model: rendered once by a GPU worker from the base model alone
    (no persona adapter) and reused by every later training run on that model with the same prompt, resolution,
    count and seeds (generation.training.class_images). Deleted with the model."""

    base_model = models.ForeignKey(BaseModel, on_delete=models.CASCADE, related_name="class_image_sets")
    base_model_sha256 = models.CharField(max_length=64, blank=True, help_text="Of the weights that rendered it.")
    class_prompt = models.TextField()
    resolution = models.PositiveIntegerField()
    count = models.PositiveIntegerField()
    seed = models.BigIntegerField(help_text="Image i has seed seed + i.")
    steps = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=ClassImagesStatus.choices, default=ClassImagesStatus.RENDERING)
    error = models.TextField(blank=True)
    render_seconds = models.FloatField(default=0, help_text="What rendering the set took on the worker.")
    # The rendering attempt that holds the set, and its last sign of life: a claim silent past the lease is taken
    # over (its worker died); a live one is waited for, so a set is never rendered twice at once.
    claim = models.CharField(max_length=32, blank=True)
    touched_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["base_model", "base_model_sha256", "class_prompt", "resolution", "count", "seed", "steps"],
                name="class_image_set_unique_key"),
            models.CheckConstraint(condition=models.Q(status__in=ClassImagesStatus.values),
                                   name="class_image_set_status_valid"),
            models.CheckConstraint(condition=models.Q(count__gte=1), name="class_image_set_count_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.count} class images of {self.base_model} at {self.resolution} px ({self.status})"


def class_image_path(instance: ClassImage, filename: str) -> str:
    return f"base_models/{instance.image_set.base_model_id}/class_images/{instance.image_set_id}/{filename}"


class ClassImage(models.Model):
    image_set = models.ForeignKey(ClassImageSet, on_delete=models.CASCADE, related_name="images")
    index = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    image = models.FileField(upload_to=class_image_path)
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["image_set", "index"]
        constraints = [models.UniqueConstraint(fields=["image_set", "index"], name="class_image_unique_index")]
