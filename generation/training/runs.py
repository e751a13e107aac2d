"""What a GPU worker runs for LoRA training: one queued version, trained on the persona's reference images (with
the base model's cached class images when it asks for prior preservation), then its reviewer samples and likeness
report. Task bodies never raise: a failure is stored on the row as "<ExceptionType>: <message>".

A version that succeeds becomes the persona's active LoRA only when it has none: retraining never silently changes
what production generates (a marketer compares the reviewer samples, rendered with a fixed seed, and activates).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import transaction
from PIL import Image

from core.errors import ValidationFailed
from core.platforms import Platform
from core.storage import media_delete_tree, media_save_file
from generation.engine import specs
from generation.engine.entries import engine_for, lora_ref_fetch
from generation.jobs.render import generation_job_run
from generation.models import GenerationJob, JobStatus, LoraVersion, TrainingStage
from generation.selectors import lora_version_sample_job
from generation.training.class_images import class_images_ensure
from generation.training.reports import version_report_ensure
from generation.transitions import FINISHED, error_text, job_queue, lock_lora_version, run_attempt_start, set_status
from personas.models import FaceFinding, Persona

logger = logging.getLogger(__name__)

SAMPLE_COUNT = 2
SAMPLE_SEED = 1234  # fixed: samples of successive versions are directly comparable
SAMPLE_STEPS = 20
SAMPLE_SCENE = "portrait, looking at the camera, soft natural light, neutral background"

# Every N training steps the progress and loss curve reach the DB and a cancel request is honoured.
TRAINING_PROGRESS_EVERY_MAX = 10


def _work_root() -> Path:
    root = Path(settings.WORKER_CACHE_DIR) / "work"
    root.mkdir(parents=True, exist_ok=True)
    return root


def lora_weights_dir(version: LoraVersion) -> str:
    """Folder of a version's weights in media storage."""
    persona = version.persona
    return f"workspaces/{persona.workspace_id}/personas/{persona.pk}/loras/v{version.version}"


def _training_inputs(persona: Persona) -> tuple[list[Image.Image], list[str]]:
    images: list[Image.Image] = []
    captions: list[str] = []
    default_caption = specs.prompt_for_persona(trigger_token=persona.trigger_token, appearance=persona.appearance)
    references = persona.reference_images.all()
    if persona.is_human_face:  # photos that reference QA found unusable (no face, another person...) are left out
        references = references.filter(face_finding=FaceFinding.USABLE)
    for reference in references:
        with reference.image.open("rb") as fh, Image.open(fh) as img:
            images.append(img.convert("RGB"))
        caption = reference.caption.strip()
        if caption and persona.trigger_token not in caption:
            caption = f"{persona.trigger_token} person, {caption}"
        captions.append(caption or default_caption)
    return images, captions


def _training_progress_callback(version_id: int, total_hint: int) -> tuple[Callable[[int, int, float], bool], list]:
    losses: list[float] = []
    every = max(1, min(TRAINING_PROGRESS_EVERY_MAX, total_hint // 20 or 1))

    def on_step(step: int, total: int, loss: float) -> bool:
        losses.append(round(float(loss), 6))
        if step % every and step < total:
            return True
        LoraVersion.objects.filter(pk=version_id, status=JobStatus.RUNNING).update(
            progress_step=step, total_steps=total, loss_curve=list(losses)
        )
        cancel = LoraVersion.objects.filter(pk=version_id).values_list("cancel_requested", flat=True).first()
        return not cancel

    return on_step, losses


def _cancel_asked(version_id: int) -> bool:
    return bool(LoraVersion.objects.filter(pk=version_id).values_list("cancel_requested", flat=True).first())


def _stage_set(version_id: int, stage: TrainingStage, done: int, total: int) -> None:
    """What the running attempt does now (class images rendered so far, or the start of training)."""
    LoraVersion.objects.filter(pk=version_id, status=JobStatus.RUNNING).update(
        progress_stage=stage, progress_step=done, total_steps=total)


def _train(version: LoraVersion, *, config: specs.TrainingConfig, work_dir: Path, on_step) -> tuple:
    """Train on the references (and the base model's class images when prior preservation is on); returns the
    engine's result and what the run cost: class-image render seconds (0 when the cached set was reused) and the
    training seconds."""
    images, captions = _training_inputs(version.persona)
    if len(images) < specs.MIN_REFERENCE_IMAGES:
        raise ValidationFailed(
            f"Training needs at least {specs.MIN_REFERENCE_IMAGES} reference images; {len(images)} are left."
        )
    engine = engine_for(version.base_model_entry)
    cost: dict = {}
    class_images = None
    if config.prior_preservation:
        found = class_images_ensure(base_model=version.base_model_entry, engine=engine, resolution=config.resolution,
                                    should_stop=lambda: _cancel_asked(version.pk),
                                    on_progress=lambda stage, done, total: _stage_set(version.pk, stage, done, total))
        class_images = found.images
        cost = {"class_image_set": found.image_set.pk, "class_images_reused": not found.rendered,
                "class_render_seconds": round(found.render_seconds, 2)}
    _stage_set(version.pk, TrainingStage.TRAINING, 0, config.steps)
    started = time.monotonic()
    result = engine.train_lora(images=images, captions=captions, output_dir=work_dir, config=config, on_step=on_step,
                               class_images=class_images)
    seconds = time.monotonic() - started
    cost["training_seconds"] = round(seconds, 2)
    if config.prior_preservation:
        # Each step trains on the references and as many class images: about half the step time is the prior's.
        cost["prior_extra_training_seconds"] = round(seconds / 2, 2)
    return result, cost


def lora_training_run(*, lora_version_id: int) -> LoraVersion | None:
    """Task body: train one queued version. Safe to call again after a redelivery or a crash."""
    with transaction.atomic():
        version = (
            LoraVersion.objects.select_for_update(of=("self",)).select_related("persona", "base_model_entry")
            .filter(pk=lora_version_id).first()
        )
        if version is None:
            logger.warning("LoRA version %s no longer exists; nothing to train.", lora_version_id)
            return None
        finished = version.status in FINISHED
        reset = {"progress_step": 0, "progress_stage": TrainingStage.NONE, "loss_curve": [], "error": ""}
        if not finished and not run_attempt_start(version, what="training",
                                                  cancelled="cancelled before training started", reset=reset):
            return version
    if finished:
        if version.status == JobStatus.SUCCEEDED:
            _training_samples_ensure(version)
            version_report_ensure(version, engine=engine_for, lora=lora_ref_fetch)
        return version

    # The worker trains in a folder of its own and puts only the finished weights into media storage (possibly an
    # object store shared with workers on other machines). Each attempt has its own folder: a redelivered attempt
    # racing one that is still alive never touches the other's files; the first to finish stores its weights.
    work_dir = Path(tempfile.mkdtemp(prefix=f"lora-{version.pk}-", dir=_work_root()))
    prefix = lora_weights_dir(version)
    hyper = dict(version.hyperparameters)
    known = set(specs.TrainingConfig.__dataclass_fields__)
    config = specs.TrainingConfig(**{k: v for k, v in hyper.items() if k in known})
    on_step, losses = _training_progress_callback(version.pk, config.steps)
    result = None
    try:
        try:
            result, cost = _train(version, config=config, work_dir=work_dir, on_step=on_step)
            weights = Path(result.weights_path)
        except specs.EngineCancelled:
            result, ending = None, (JobStatus.CANCELLED, "cancelled during training", {})
        except Exception as exc:
            logger.exception("Training LoRA version %s failed", lora_version_id)
            result, ending = None, (JobStatus.FAILED, "training failed", {"error": error_text(exc)})

        with transaction.atomic():
            version = lock_lora_version(lora_version_id)
            if version.status != JobStatus.RUNNING:  # another attempt (or the stale sweep) already ended it
                return version
            # Whatever an earlier, interrupted attempt left under this version's folder goes.
            media_delete_tree(prefix)
            if result is None:  # cancelled or failed: no weights are kept
                to_status, comment, values = ending
                values = {**values, "loss_curve": list(losses), "progress_stage": TrainingStage.NONE}
                if not losses:  # it ended before training: the progress may count class images
                    values |= {"progress_step": 0, "total_steps": config.steps}
                for name, value in values.items():
                    setattr(version, name, value)
                set_status(version, to_status, comment=comment, fields=list(values))
                return version
            version.weights_path = media_save_file(f"{prefix}/{weights.name}", weights)
            version.sha256 = result.sha256
            version.loss_curve = [round(float(x), 6) for x in result.loss_curve]
            version.hyperparameters = {**hyper, **result.hyperparameters, **cost}
            version.progress_step = version.total_steps = config.steps
            version.progress_stage = TrainingStage.NONE
            version.base_model_sha256 = result.hyperparameters.get("base_model_hash") or version.base_model_sha256
            fields = ["weights_path", "sha256", "loss_curve", "hyperparameters", "progress_step", "total_steps",
                      "progress_stage", "base_model_sha256"]
            # Activation rule: the first successful version becomes active; later ones wait for a human.
            if not LoraVersion.objects.filter(persona_id=version.persona_id, is_active=True).exists():
                version.is_active = True
                fields.append("is_active")
            set_status(version, JobStatus.SUCCEEDED, comment="training succeeded", fields=fields)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    _training_samples_ensure(version)
    version_report_ensure(version, engine=engine_for, lora=lora_ref_fetch)
    return version


def _training_samples_ensure(version: LoraVersion) -> GenerationJob | None:
    """Render the reviewer samples of a succeeded version, once (a redelivered task reuses the job)."""
    job = lora_version_sample_job(lora_version=version)
    if job is None:
        persona = version.persona
        platform = next((p for p in persona.target_platforms or [] if p in Platform.values), Platform.INSTAGRAM)
        job = job_queue(
            persona=persona, lora_version=version, platform=platform, scene=SAMPLE_SCENE,
            created_by=version.created_by, actor=None, comment=f"reviewer samples of v{version.version}",
            num_variants=SAMPLE_COUNT, seed=SAMPLE_SEED, steps=SAMPLE_STEPS, is_sample=True,
        )
    if job.status not in FINISHED:
        # Already on the gpu worker with the adapter warm: render inline rather than queueing again.
        generation_job_run(job_id=job.pk)
    return job
