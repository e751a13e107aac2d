from __future__ import annotations

from django.conf import settings
from django.db import models

from generation.library.models import (  # noqa: F401  (re-exported: the app's models live in generation.models)
    BaseModel,
    BaseModelLayout,
    BaseModelSample,
    BaseModelStatus,
    ClassImage,
    ClassImageSet,
    ClassImagesStatus,
    PersonaBaseModel,
    SamplesStatus,
    base_model_sample_path,
)
from personas.models import Persona


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class DraftingStatus(models.TextChoices):
    """The draft posts of a succeeded job's images, made after its images are saved."""

    NOT_NEEDED = "not_needed", "Not needed"  # nothing to draft (yet): not succeeded, or reviewer samples
    PENDING = "pending", "Pending"
    DRAFTED = "drafted", "Drafted"
    FAILED = "failed", "Failed"


class CaptionMode(models.TextChoices):
    """How the caption model answered for a job's posts: structured output (JSON with the caption, its hashtags and
    language), plain text (a server without structured output, or one that ignored it), or no model at all."""

    NONE = "", "Not captioned yet"
    STRUCTURED = "structured", "Model, structured output"
    PLAIN = "plain", "Model, plain text"
    TEMPLATE = "template", "Templates (no model answered)"


class TrainingStage(models.TextChoices):
    """What a running training attempt does now; while it renders class images, progress_step / total_steps count
    them (like kohya's "generating class images" bar), otherwise training steps."""

    NONE = "", "Not running"
    CLASS_IMAGES = "class_images", "Generating class images"
    WAITING_FOR_CLASS_IMAGES = "waiting_for_class_images", "Waiting for another run's class images"
    TRAINING = "training", "Training"


class GenerationMode(models.TextChoices):
    TXT2IMG = "txt2img", "Text to image"
    IMG2IMG = "img2img", "Variations of an image"
    INPAINT = "inpaint", "Inpaint a masked part"


def generation_input_name(workspace_id: int, filename: str) -> str:
    return f"workspaces/{workspace_id}/generation-inputs/{filename}"


def generation_input_path(instance: GenerationJob, filename: str) -> str:
    return generation_input_name(instance.persona.workspace_id, filename)


class RunFields(models.Model):
    """What a training run (LoraVersion) and a generation job (GenerationJob) both record about running on a GPU
    worker: status, progress, error, cancel request, the worker holding it, who asked and when."""

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress_step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    # The worker process holding the run (its last attempt's): a run left running by a worker that died is queued
    # again (generation/runtime/sweeps.py), and the running-jobs page names it.
    worker = models.ForeignKey(
        "WorkerHeartbeat", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The worker process that runs (or last ran) this attempt.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class LoraVersion(RunFields):
    """One training run of a persona's LoRA and, when it succeeds, its weights. One is active."""

    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="lora_versions")
    version = models.PositiveIntegerField()
    is_active = models.BooleanField(default=False)
    base_model = models.CharField(max_length=255)
    # The library entry it was trained on, and that model's family and weights hash at the time: a LoRA only fits
    # base models of its family.
    base_model_entry = models.ForeignKey(BaseModel, null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="lora_versions")
    base_model_family = models.CharField(max_length=16, blank=True)
    base_model_sha256 = models.CharField(max_length=64, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    loss_curve = models.JSONField(default=list, blank=True)
    likeness_report = models.JSONField(
        default=dict, blank=True,
        help_text="Validation renders with this version and with the base model: mean / min likeness, face-found "
        "rate (generation/jobs/likeness.py).",
    )
    progress_stage = models.CharField(
        max_length=32, choices=TrainingStage.choices, default=TrainingStage.NONE, blank=True,
        help_text="What the running attempt does now; during class_images the progress counts class images.")
    weights_path = models.CharField(max_length=500, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["persona", "version"], name="lora_version_unique_number"),
            models.UniqueConstraint(
                fields=["persona"], condition=models.Q(is_active=True), name="lora_version_one_active_per_persona"
            ),
            models.CheckConstraint(condition=models.Q(status__in=JobStatus.values), name="lora_version_status_valid"),
            models.CheckConstraint(condition=models.Q(progress_stage__in=TrainingStage.values),
                                   name="lora_version_progress_stage_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.persona} LoRA v{self.version} ({self.status})"


class GenerationJob(RunFields):
    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="generation_jobs")
    lora_version = models.ForeignKey(LoraVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    base_model_entry = models.ForeignKey(BaseModel, null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="generation_jobs", help_text="The base model it renders with.")
    platform = models.CharField(max_length=16)
    scene = models.TextField()
    prompt = models.TextField(blank=True, help_text="Full prompt, built from the persona and scene.")
    negative_prompt = models.TextField(blank=True)
    num_variants = models.PositiveSmallIntegerField(default=4)
    best_of = models.PositiveSmallIntegerField(
        default=1, help_text="Best-of-N: candidates rendered per variant; the most on-model one is kept and drafted, "
        "the others stay as rejected candidates (generation/jobs/best_of.py).",
    )
    seed = models.BigIntegerField(null=True, blank=True)
    steps = models.PositiveSmallIntegerField(default=25)
    guidance = models.FloatField(default=7.0)
    scheduler = models.CharField(max_length=32, default="dpmpp_2m_karras")
    width = models.PositiveIntegerField(default=512)
    height = models.PositiveIntegerField(default=512)
    is_sample = models.BooleanField(
        default=False, help_text="Reviewer samples rendered right after a LoRA training run; they make no posts."
    )
    # The pipeline call that rendered the job: the job whose task ran it (itself when it led), where this job's
    # images sit in it, and how many images it rendered. Re-rendering that whole call reproduces the bytes.
    batch_leader = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The job whose worker task rendered this job, in one pipeline call (itself when it led).",
    )
    batch_offset = models.PositiveSmallIntegerField(default=0)
    batch_size = models.PositiveSmallIntegerField(default=0, help_text="Images in that pipeline call (0: not yet).")
    drafting_status = models.CharField(
        max_length=16, choices=DraftingStatus.choices, default=DraftingStatus.NOT_NEEDED,
        help_text="The draft posts of the images, made after the job succeeded: not_needed (nothing to draft yet, "
        "or reviewer samples), pending, drafted, or failed (see drafting_error; draft-again retries).",
    )
    drafting_error = models.TextField(blank=True, help_text="Why drafting failed; 'draft again' retries.")
    # What the job renders from (img2img, inpaint) and the stages after the render (hires, face detail).
    mode = models.CharField(max_length=16, choices=GenerationMode.choices, default=GenerationMode.TXT2IMG)
    strength = models.FloatField(null=True, blank=True, help_text="img2img / inpaint: how far from the init image "
                                 "the result may move, in (0, 1].")
    init_image = models.FileField(upload_to=generation_input_path, blank=True, help_text="The init image as rendered "
                                  "from (a generated image's PNG or the uploaded photo's sanitised re-encode).")
    init_sha256 = models.CharField(max_length=64, blank=True)
    source_image = models.ForeignKey(
        "GeneratedImage", null=True, blank=True, on_delete=models.SET_NULL, related_name="derived_jobs",
        help_text="The generated image the init image is (none for an uploaded photo).",
    )
    mask = models.FileField(upload_to=generation_input_path, blank=True, help_text="inpaint: white repaints.")
    mask_sha256 = models.CharField(max_length=64, blank=True)
    upscale = models.BooleanField(default=False, help_text="Hires: upscale and refine to the platform's size.")
    output_width = models.PositiveIntegerField(default=0, help_text="Hires output size (0: the render size).")
    output_height = models.PositiveIntegerField(default=0)
    face_detail = models.BooleanField(default=False, help_text="Re-render detected faces with the persona LoRA.")
    is_sponsored = models.BooleanField(default=False, help_text="Paid partnership: its posts carry #ad.")
    caption_error = models.TextField(
        blank=True, help_text="Why the caption model could not write the captions (the posts keep template captions)."
    )
    caption_mode = models.CharField(
        max_length=16, choices=CaptionMode.choices, default=CaptionMode.NONE, blank=True,
        help_text="How the caption model answered in the last drafting: structured (JSON output), plain (text: a "
        "server without structured output, or one that ignored it), or template (no model, or it was down). Each "
        "caption's fallback reason says why one was refused.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=JobStatus.values), name="generation_job_status_valid"),
            models.CheckConstraint(
                condition=models.Q(mode__in=GenerationMode.values), name="generation_job_mode_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(strength__isnull=True) | models.Q(strength__gt=0, strength__lte=1),
                name="generation_job_strength_in_range",
            ),
            models.CheckConstraint(
                condition=models.Q(mode=GenerationMode.TXT2IMG) | ~models.Q(init_sha256=""),
                name="generation_job_init_image_recorded",
            ),
            models.CheckConstraint(
                condition=~models.Q(mode=GenerationMode.INPAINT) | ~models.Q(mask_sha256=""),
                name="generation_job_inpaint_mask_recorded",
            ),
            models.CheckConstraint(
                condition=models.Q(drafting_status__in=DraftingStatus.values),
                name="generation_job_drafting_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(drafting_status=DraftingStatus.NOT_NEEDED) | models.Q(status=JobStatus.SUCCEEDED),
                name="generation_job_drafts_only_when_succeeded",
            ),
            models.CheckConstraint(condition=models.Q(best_of__gte=1), name="generation_job_best_of_positive"),
            models.CheckConstraint(
                condition=models.Q(caption_mode__in=CaptionMode.values), name="generation_job_caption_mode_valid"
            ),
        ]

    @property
    def image_count(self) -> int:
        """Images the job renders: each variant's best-of candidates."""
        return self.num_variants * self.best_of


class LikenessStatus(models.TextChoices):
    """A generated image's likeness to its persona (generation/jobs/likeness.py), scored on the default queue."""

    PENDING = "pending", "Not scored yet"
    SCORED = "scored", "Scored"
    NO_FACE = "no_face", "No face"
    FACE_TOO_SMALL = "face_too_small", "Face too small"
    UNREADABLE = "unreadable", "Unreadable"
    NO_REFERENCE = "no_reference", "No usable reference faces"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


class CandidateStatus(models.TextChoices):
    """A generated image as a best-of-N candidate (generation/jobs/best_of.py)."""

    KEPT = "kept", "Kept"  # the variant's image: the only candidate, or the most on-model one
    PENDING = "pending", "Awaiting selection"
    REJECTED = "rejected", "Rejected candidate"


def generated_image_path(instance: GeneratedImage, filename: str) -> str:
    return f"workspaces/{instance.job.persona.workspace_id}/generated/{instance.job_id}/{filename}"


class GeneratedImage(models.Model):
    """One rendered image (a variant, or one of its best-of candidates), with everything needed to reproduce it
    byte for byte."""

    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="images")
    index = models.PositiveSmallIntegerField(help_text="Position among the job's images (its seed: the job's + index).")
    # Best-of-N: image `index` is candidate index // num_variants of variant index % num_variants.
    variant = models.PositiveSmallIntegerField(default=0)
    candidate = models.PositiveSmallIntegerField(default=0)
    candidate_status = models.CharField(max_length=16, choices=CandidateStatus.choices, default=CandidateStatus.KEPT)
    selection_reason = models.TextField(blank=True, help_text="Why best-of-N kept or rejected this candidate.")
    image = models.ImageField(upload_to=generated_image_path, width_field="width", height_field="height")
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    seed = models.BigIntegerField()
    base_model = models.CharField(max_length=255)
    base_model_hash = models.CharField(max_length=64, blank=True)
    lora_sha256 = models.CharField(max_length=64, blank=True)
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    steps = models.PositiveSmallIntegerField()
    guidance = models.FloatField()
    scheduler = models.CharField(max_length=32)
    # Derivation: what it was rendered from, and what the stages after the render did (hires, inpaint box, faces).
    mode = models.CharField(max_length=16, choices=GenerationMode.choices, default=GenerationMode.TXT2IMG)
    strength = models.FloatField(null=True, blank=True)
    init_sha256 = models.CharField(max_length=64, blank=True)
    mask_sha256 = models.CharField(max_length=64, blank=True)
    source_image = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="derived_images")
    stages = models.JSONField(default=dict, blank=True)
    # What besides the record decides the bytes: device, dtype, torch/diffusers/peft versions, speed options.
    environment = models.JSONField(default=dict, blank=True)
    # Likeness to the persona's reference faces: score 0-1 (0.5 at the model's threshold), the raw distance, and
    # on-model against the persona's threshold. None while pending, and whenever no face could be judged.
    likeness_status = models.CharField(max_length=16, choices=LikenessStatus.choices, default=LikenessStatus.PENDING)
    likeness_score = models.FloatField(null=True, blank=True)
    likeness_distance = models.FloatField(null=True, blank=True)
    face_found = models.BooleanField(null=True, blank=True)
    on_model = models.BooleanField(null=True, blank=True)
    likeness_threshold = models.FloatField(null=True, blank=True)
    likeness_reason = models.TextField(blank=True)
    likeness_backend = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="generated_image_unique_index"),
            models.CheckConstraint(
                condition=models.Q(likeness_status__in=LikenessStatus.values), name="generated_image_likeness_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(candidate_status__in=CandidateStatus.values), name="generated_image_candidate_valid"
            ),
        ]


class ReproductionCheck(models.Model):
    """One "reproduce" of a generated image: rendered again from its record on a GPU worker and compared with the
    stored file, pixel by pixel. The worker's environment is kept to qualify the verdict."""

    image = models.ForeignKey(GeneratedImage, on_delete=models.CASCADE, related_name="reproduction_checks")
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    identical = models.BooleanField(null=True, blank=True, help_text="The re-render's PNG bytes equal the stored ones.")
    differing_pixels = models.PositiveIntegerField(null=True, blank=True)
    max_delta = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Largest channel difference, 0-255.")
    environment = models.JSONField(default=dict, blank=True, help_text="The re-rendering worker's environment.")
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=JobStatus.values),
                                   name="reproduction_check_status_valid"),
        ]

    @property
    def verdict(self) -> str:
        if self.status != JobStatus.SUCCEEDED:
            return self.error or self.get_status_display()
        if self.identical:
            return "identical"
        return f"differs in {self.differing_pixels:,} pixels, max Δ {self.max_delta}"


class JobTransition(models.Model):
    """Audit row for every status change of a LoRA training run or a generation job."""

    lora_version = models.ForeignKey(
        LoraVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="transitions"
    )
    generation_job = models.ForeignKey(
        GenerationJob, null=True, blank=True, on_delete=models.CASCADE, related_name="transitions"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(lora_version__isnull=False, generation_job__isnull=True)
                    | models.Q(lora_version__isnull=True, generation_job__isnull=False)
                ),
                name="job_transition_one_subject",
            ),
        ]


class WorkerHeartbeat(models.Model):
    """One run of a Celery worker process: which queues it consumes and when it last said it was alive.

    A worker that has not beaten for WORKER_HEARTBEAT_TIMEOUT seconds, or whose node name has started again,
    is dead; training runs and jobs it held are queued again (they are idempotent). Rows outlive their process
    so that a run's history can name the worker that held it.
    """

    instance = models.CharField(max_length=32, unique=True, help_text="Random id of this process start.")
    name = models.CharField(max_length=255, help_text="Celery node name, e.g. gpu0@host.")
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    queues = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True, help_text="Set on a clean stop, or once found dead.")

    class Meta:
        ordering = ["-last_seen"]
        indexes = [models.Index(fields=["name", "stopped_at"], name="worker_heartbeat_name_live")]

    def __str__(self) -> str:
        return f"{self.name} (pid {self.pid})"
