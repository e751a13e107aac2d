"""Writes for LoRA training and image generation. The ML itself lives in generation.engine.

Design choices (see also the README):
- Activation: a training run that succeeds becomes the persona's active LoRA only when the persona has none.
  Retraining never silently changes what production generates; a marketer looks at the reviewer samples and
  activates the new version explicitly (lora_version_activate).
- Samples: right after training, SAMPLE_COUNT images of the persona are rendered with the new LoRA in a
  GenerationJob flagged is_sample (fixed seed, so versions can be compared side by side). They make no posts.
- Posts: every variant of a job becomes its own draft post (each variant is a candidate the reviewer picks
  from), with a caption drafted in the persona's voice, then it is submitted to the review queue.
- Sizes: render_size() is the one place that maps a platform's target size to what the engine renders.
- Task bodies (lora_training_run, generation_job_run) never raise: every failure is stored on the row as
  "<ExceptionType>: <message>" and shown by the API.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from PIL import Image

from config.exceptions import Conflict, NotFound, ValidationFailed
from core.access import AUTHOR_ROLES
from core.platforms import Platform, platform_target_size
from personas.models import Persona
from personas.selectors import role_require

from . import specs
from .captions import caption_draft
from .models import GeneratedImage, GenerationJob, JobStatus, JobTransition, LoraVersion
from .selectors import generation_job_render_batch, lora_version_active, lora_version_sample_job

logger = logging.getLogger(__name__)


def _engine():
    """The process's engine. Imported here, not at module level, so the web process never loads torch."""
    from . import engine

    return engine.get_engine()


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)

MIN_REFERENCE_IMAGES = 3
TRAINING_LIMITS = {
    "steps": (1, 20_000),
    "rank": (1, 256),
    "learning_rate": (1e-7, 1e-2),
    "resolution": (64, 2048),
}
MAX_VARIANTS = 8
MAX_STEPS = 150
MAX_SEED = 2**32 - 1
DEFAULT_NEGATIVE_PROMPT = (
    "lowres, blurry, bad anatomy, bad hands, extra fingers, deformed, watermark, text, logo, jpeg artifacts"
)

SAMPLE_COUNT = 2
SAMPLE_SEED = 1234  # fixed: samples of successive versions are directly comparable
SAMPLE_STEPS = 20
SAMPLE_SCENE = "portrait, looking at the camera, soft natural light, neutral background"

# Every N training steps the progress and loss curve reach the DB and a cancel request is honoured.
TRAINING_PROGRESS_EVERY_MAX = 10
# Generation reports progress and checks for a cancel at most this often (and always on the first and last step):
# a compiled GPU step takes ~10 ms, and two database round trips on every step would idle the GPU between steps.
GENERATION_PROGRESS_INTERVAL_S = 0.5
_progress_clock = time.monotonic  # module-level so tests can drive it


# --- helpers ---------------------------------------------------------------------------------------


def _error_text(exc: BaseException) -> str:
    # The limit can fire inside a library that wraps it (diffusers' lazy imports raise RuntimeError from it).
    cause: BaseException | None = exc
    for _ in range(10):
        if cause is None:
            break
        if isinstance(cause, SoftTimeLimitExceeded):
            return "SoftTimeLimitExceeded: time limit exceeded; the task ran past its soft time limit and was stopped."
        cause = cause.__cause__ or cause.__context__
    message = str(exc).strip() or "(no message)"
    # Errors are shown to API users: name stored files relative to the media folder, not by server path.
    for root, shown in ((settings.MEDIA_ROOT, "media"), (settings.BASE_DIR, ".")):
        message = message.replace(str(Path(root).resolve()), shown).replace(str(root), shown)
    return f"{type(exc).__name__}: {message}"


def _actor_or_none(actor: AbstractBaseUser | None) -> AbstractBaseUser | None:
    return actor if actor is not None and actor.is_authenticated else None


def _audit(
    *,
    obj: LoraVersion | GenerationJob,
    actor: AbstractBaseUser | None,
    from_status: str,
    to_status: str,
    comment: str = "",
) -> None:
    subject = {"lora_version": obj} if isinstance(obj, LoraVersion) else {"generation_job": obj}
    JobTransition.objects.create(
        **subject, actor=_actor_or_none(actor), from_status=from_status, to_status=to_status, comment=comment
    )


def _set_status(
    obj: LoraVersion | GenerationJob,
    to_status: str,
    *,
    actor: AbstractBaseUser | None = None,
    comment: str = "",
    fields: Sequence[str] = (),
) -> None:
    """Save a status change of a locked row with its audit row."""
    from_status = obj.status
    obj.status = to_status
    if to_status == JobStatus.RUNNING:
        obj.started_at = timezone.now()
    if to_status in FINISHED:
        obj.finished_at = timezone.now()
    obj.save(update_fields=["status", "started_at", "finished_at", *fields])
    _audit(obj=obj, actor=actor, from_status=from_status, to_status=to_status, comment=comment)


def _media_path(relative: str) -> Path:
    return Path(settings.MEDIA_ROOT) / relative


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValidationFailed(f"{name} must be between {low:g} and {high:g}; got {value:g}.", code="invalid_value")


def _persona_prompt(persona: Persona, scene: str) -> str:
    return specs.prompt_for_persona(
        trigger_token=persona.trigger_token,
        appearance=persona.appearance,
        scene=scene,
        style_keywords=persona.style_keywords or (),
    )


def _local_pipeline_class(base_model: str) -> str | None:
    """The pipeline class a local base model declares in its model_index.json (for a single-file checkpoint: its
    GENERATION_BASE_MODEL_CONFIG folder's), so an SDXL fine-tune is sized as SDXL whatever its name; None when
    that cannot be read here (a hub id, or a path only the GPU workers have)."""
    path = Path(base_model).expanduser()
    single_file_config = str(getattr(settings, "GENERATION_BASE_MODEL_CONFIG", "") or "")
    if path.is_dir():
        config_dir = path
    elif path.is_file() and single_file_config:
        config_dir = Path(single_file_config)
    else:
        return None
    try:
        return str(json.loads((config_dir / "model_index.json").read_text())["_class_name"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def render_size(*, platform: str, base_model: str | None = None) -> tuple[int, int]:
    """(width, height) the engine renders for `platform`: the platform's aspect ratio, multiples of 8.

    The long side sits near the base model's comfortable size (tiny test model ~80 px, SD 1.x ~768,
    SDXL ~1024); among nearby long sides the first whose multiple-of-8 short side keeps the ratio within
    0.5 % wins, so the image passes the platform's aspect-ratio check (TikTok's 9:16 is exact, for example).
    """
    if platform not in Platform.values:
        raise ValidationFailed(f"Unknown platform '{platform}'; choose one of: {', '.join(Platform.values)}.")
    base_model = base_model or settings.GENERATION_BASE_MODEL
    target_w, target_h = platform_target_size(platform)
    name = str(base_model).lower()
    pipeline = _local_pipeline_class(str(base_model))
    if name == specs.TINY_MODEL_ID:
        preferred = 80
    elif pipeline == "StableDiffusionXLPipeline" or (pipeline is None and "xl" in name):
        preferred = 1024
    else:
        preferred = 768
    landscape = target_w >= target_h
    ratio = min(target_w, target_h) / max(target_w, target_h)
    candidates = sorted(range(preferred * 3 // 4 // 8 * 8, preferred * 8 // 5 + 1, 8), key=lambda s: abs(s - preferred))
    best: tuple[float, int, int] | None = None
    for long_side in candidates:
        short_side = max(8, round(long_side * ratio / 8) * 8)
        error = abs(short_side / long_side - ratio) / ratio
        if best is None or error < best[0] - 1e-9:
            best = (error, long_side, short_side)
        if error <= 0.005:
            break
    assert best is not None
    _error, long_side, short_side = best
    return (long_side, short_side) if landscape else (short_side, long_side)


# --- LoRA training ---------------------------------------------------------------------------------


def _lock_lora_version(lora_version_id: int) -> LoraVersion:
    version = LoraVersion.objects.select_for_update().filter(pk=lora_version_id).first()
    if version is None:
        raise NotFound("LoRA version not found.")
    return version


def lora_weights_dir(version: LoraVersion) -> str:
    """Folder of a version's weights, relative to MEDIA_ROOT."""
    persona = version.persona
    return f"workspaces/{persona.workspace_id}/personas/{persona.pk}/loras/v{version.version}"


@transaction.atomic
def lora_training_start(
    *,
    actor: AbstractBaseUser,
    persona: Persona,
    steps: int | None = None,
    rank: int | None = None,
    learning_rate: float | None = None,
    resolution: int | None = None,
    seed: int | None = None,
) -> LoraVersion:
    """Queue a training run of the persona's LoRA on its reference images; the gpu worker runs it."""
    role_require(user=actor, workspace_id=persona.workspace_id, roles=AUTHOR_ROLES)
    # Lock the persona: two clicks at once must not both pick the same version number.
    persona = Persona.objects.select_for_update().get(pk=persona.pk)

    count = persona.reference_images.count()
    if count < MIN_REFERENCE_IMAGES:
        raise ValidationFailed(
            f"Training needs at least {MIN_REFERENCE_IMAGES} reference images of {persona.name}; "
            f"this persona has {count}. Upload {MIN_REFERENCE_IMAGES - count} more.",
            code="not_enough_reference_images",
        )
    busy = persona.lora_versions.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).first()
    if busy is not None:
        raise Conflict(
            f"LoRA v{busy.version} of {persona.name} is still {busy.status}; wait for it or cancel it first.",
            code="training_in_progress",
        )

    base_model = str(settings.GENERATION_BASE_MODEL)
    defaults = specs.TrainingConfig()
    if base_model == specs.TINY_MODEL_ID:
        # The tiny development model is 64 px native; 512 px training would only waste CPU time.
        defaults = specs.TrainingConfig(resolution=64, steps=100)
    elif "xl" in base_model.lower():
        defaults = specs.TrainingConfig(resolution=1024)
    overrides = {"steps": steps, "rank": rank, "learning_rate": learning_rate, "resolution": resolution}
    values = {}
    for name, value in overrides.items():
        if value is None:
            continue
        _check_range(name, value, *TRAINING_LIMITS[name])
        values[name] = value
    if "resolution" in values and values["resolution"] % 8:
        raise ValidationFailed(f"resolution must be a multiple of 8; got {values['resolution']}.")
    if seed is not None:
        _check_range("seed", seed, 0, MAX_SEED)
        values["seed"] = seed
    config = specs.TrainingConfig(**{**asdict(defaults), **values})

    last = persona.lora_versions.order_by("-version").values_list("version", flat=True).first() or 0
    version = LoraVersion.objects.create(
        persona=persona,
        version=last + 1,
        status=JobStatus.QUEUED,
        base_model=base_model,
        hyperparameters=asdict(config),
        total_steps=config.steps,
        created_by=actor,
    )
    _audit(obj=version, actor=actor, from_status="", to_status=JobStatus.QUEUED, comment="training requested")

    from .tasks import train_lora

    transaction.on_commit(lambda: train_lora.delay(version.pk))
    return version


def _training_inputs(persona: Persona) -> tuple[list[Image.Image], list[str]]:
    images: list[Image.Image] = []
    captions: list[str] = []
    default_caption = specs.prompt_for_persona(
        trigger_token=persona.trigger_token, appearance=persona.appearance
    )
    for reference in persona.reference_images.all():
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


def lora_training_run(*, lora_version_id: int) -> LoraVersion | None:
    """Task body: train one queued version. Safe to call again after a redelivery or a crash."""
    with transaction.atomic():
        version = (
            LoraVersion.objects.select_for_update(of=("self",))
            .select_related("persona")
            .filter(pk=lora_version_id)
            .first()
        )
        if version is None:
            logger.warning("LoRA version %s no longer exists; nothing to train.", lora_version_id)
            return None
        if version.status == JobStatus.SUCCEEDED:
            done = True
        elif version.status in (JobStatus.FAILED, JobStatus.CANCELLED):
            return version
        else:
            done = False
            if version.cancel_requested:
                _set_status(version, JobStatus.CANCELLED, comment="cancelled before training started")
                return version
            comment = "training started"
            if version.status == JobStatus.RUNNING:
                # Redelivered after a worker loss: throw away the partial run and start over.
                comment = "training restarted after the previous attempt was interrupted"
            version.progress_step = 0
            version.loss_curve = []
            version.error = ""
            _set_status(version, JobStatus.RUNNING, comment=comment, fields=["progress_step", "loss_curve", "error"])
    if done:
        _training_samples_ensure(version)
        return version

    persona = version.persona
    output_dir = _media_path(lora_weights_dir(version))
    # Each attempt trains into its own folder: a redelivered attempt racing one that is still alive must not
    # overwrite (or delete) the weights of the other. The attempt that succeeds first moves its file into place
    # and clears the leftovers of the others.
    attempt_dir = output_dir / f"attempt-{uuid.uuid4().hex}"
    hyper = dict(version.hyperparameters)
    known = set(specs.TrainingConfig.__dataclass_fields__)
    config = specs.TrainingConfig(**{k: v for k, v in hyper.items() if k in known})
    on_step, losses = _training_progress_callback(version.pk, config.steps)
    try:
        images, captions = _training_inputs(persona)
        if len(images) < MIN_REFERENCE_IMAGES:
            raise ValidationFailed(
                f"Training needs at least {MIN_REFERENCE_IMAGES} reference images; {len(images)} are left."
            )
        result = _engine().train_lora(
            images=images, captions=captions, output_dir=attempt_dir, config=config, on_step=on_step
        )
        weights = Path(result.weights_path).resolve()
        final = output_dir / weights.name
        relative = final.resolve().relative_to(Path(settings.MEDIA_ROOT).resolve()).as_posix()
    except specs.EngineCancelled:
        with transaction.atomic():
            version = _lock_lora_version(lora_version_id)
            if version.status != JobStatus.RUNNING:  # another attempt (or the stale sweep) already ended it
                shutil.rmtree(attempt_dir, ignore_errors=True)
                return version
            shutil.rmtree(output_dir, ignore_errors=True)
            version.loss_curve = list(losses)
            _set_status(version, JobStatus.CANCELLED, comment="cancelled during training", fields=["loss_curve"])
        return version
    except Exception as exc:
        logger.exception("Training LoRA version %s failed", lora_version_id)
        with transaction.atomic():
            version = _lock_lora_version(lora_version_id)
            if version.status != JobStatus.RUNNING:  # another attempt (or the stale sweep) already ended it
                shutil.rmtree(attempt_dir, ignore_errors=True)
                return version
            shutil.rmtree(output_dir, ignore_errors=True)
            version.error = _error_text(exc)
            version.loss_curve = list(losses)
            _set_status(version, JobStatus.FAILED, comment="training failed", fields=["error", "loss_curve"])
        return version

    with transaction.atomic():
        version = _lock_lora_version(lora_version_id)
        if version.status != JobStatus.RUNNING:  # another attempt (or the stale sweep) already ended it
            shutil.rmtree(attempt_dir, ignore_errors=True)
            return version
        weights.replace(final)
        for leftover in output_dir.iterdir():
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            elif leftover != final:
                leftover.unlink(missing_ok=True)
        version.weights_path = relative
        version.sha256 = result.sha256
        version.loss_curve = [round(float(x), 6) for x in result.loss_curve]
        version.hyperparameters = {**hyper, **result.hyperparameters}
        version.progress_step = version.total_steps = config.steps
        fields = ["weights_path", "sha256", "loss_curve", "hyperparameters", "progress_step", "total_steps"]
        # Activation rule: the first successful version becomes active; later ones wait for a human.
        if not LoraVersion.objects.filter(persona_id=version.persona_id, is_active=True).exists():
            version.is_active = True
            fields.append("is_active")
        _set_status(version, JobStatus.SUCCEEDED, comment="training succeeded", fields=fields)
    _training_samples_ensure(version)
    return version


def _training_samples_ensure(version: LoraVersion) -> GenerationJob | None:
    """Render the reviewer samples of a succeeded version, once (a redelivered task reuses the job)."""
    job = lora_version_sample_job(lora_version=version)
    if job is None:
        persona = version.persona
        platform = next((p for p in persona.target_platforms or [] if p in Platform.values), Platform.INSTAGRAM)
        width, height = render_size(platform=platform, base_model=version.base_model)
        job = GenerationJob.objects.create(
            persona=persona,
            lora_version=version,
            platform=platform,
            scene=SAMPLE_SCENE,
            prompt=_persona_prompt(persona, SAMPLE_SCENE),
            negative_prompt=DEFAULT_NEGATIVE_PROMPT,
            num_variants=SAMPLE_COUNT,
            seed=SAMPLE_SEED,
            steps=SAMPLE_STEPS,
            width=width,
            height=height,
            total_steps=SAMPLE_STEPS,
            is_sample=True,
            created_by=version.created_by,
        )
        _audit(obj=job, actor=None, from_status="", to_status=JobStatus.QUEUED,
               comment=f"reviewer samples of v{version.version}")
    if job.status not in FINISHED:
        # Already on the gpu worker with the adapter warm: render inline rather than queueing again.
        generation_job_run(job_id=job.pk)
    return job


def lora_training_cancel(*, actor: AbstractBaseUser, lora_version_id: int) -> LoraVersion:
    """A queued run is cancelled at once; a running one stops at its next progress check."""
    with transaction.atomic():
        version = _lock_lora_version(lora_version_id)
        role_require(user=actor, workspace_id=version.persona.workspace_id, roles=AUTHOR_ROLES,
                     not_found="LoRA version not found.")
        _cancel_locked(
            version,
            actor=actor,
            refusal=f"LoRA v{version.version} is already {version.status}; only queued or running training can be "
            "cancelled.",
        )
    return version


def _cancel_locked(run: LoraVersion | GenerationJob, *, actor: AbstractBaseUser, refusal: str) -> None:
    """Cancel a locked run: at once while queued; a running one stops at its next progress check."""
    if run.status == JobStatus.QUEUED:
        run.cancel_requested = True
        _set_status(
            run, JobStatus.CANCELLED, actor=actor, comment="cancelled while queued", fields=["cancel_requested"]
        )
    elif run.status == JobStatus.RUNNING:
        if not run.cancel_requested:
            run.cancel_requested = True
            run.save(update_fields=["cancel_requested"])
            _audit(obj=run, actor=actor, from_status=JobStatus.RUNNING, to_status=JobStatus.RUNNING,
                   comment="cancel requested")
    else:
        raise Conflict(refusal, code="invalid_state")


def lora_version_activate(*, actor: AbstractBaseUser, lora_version_id: int) -> LoraVersion:
    """Make a succeeded version the persona's active LoRA (the previous one is deactivated)."""
    with transaction.atomic():
        version = _lock_lora_version(lora_version_id)
        role_require(user=actor, workspace_id=version.persona.workspace_id, roles=AUTHOR_ROLES,
                     not_found="LoRA version not found.")
        if version.status != JobStatus.SUCCEEDED:
            raise Conflict(
                f"LoRA v{version.version} is {version.status}; only a succeeded version can be activated.",
                code="invalid_state",
            )
        if version.is_active:
            return version
        previous = list(
            LoraVersion.objects.select_for_update().filter(persona_id=version.persona_id, is_active=True)
        )
        # Deactivate first: the one-active-per-persona constraint is checked per statement.
        LoraVersion.objects.filter(pk__in=[p.pk for p in previous]).update(is_active=False)
        version.is_active = True
        version.save(update_fields=["is_active"])
        replaced = ", ".join(f"v{p.version}" for p in previous)
        _audit(obj=version, actor=actor, from_status=version.status, to_status=version.status,
               comment=f"activated (replaces {replaced})" if replaced else "activated")
    return version


# --- generation ------------------------------------------------------------------------------------


def _lock_job(job_id: int) -> GenerationJob:
    job = GenerationJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None:
        raise NotFound("Generation job not found.")
    return job


@transaction.atomic
def generation_job_create(
    *,
    actor: AbstractBaseUser,
    persona: Persona,
    scene: str,
    platform: str,
    num_variants: int = 4,
    seed: int | None = None,
    steps: int = 25,
    guidance: float = 7.0,
    scheduler: str = "dpmpp_2m_karras",
    negative_prompt: str | None = None,
    allow_base_model: bool = False,
) -> GenerationJob:
    """Queue one batch of `num_variants` images of the persona in `scene`, sized for `platform`.

    The persona's active LoRA is required unless `allow_base_model` (then the base model alone renders,
    which will not look like the persona).
    """
    role_require(user=actor, workspace_id=persona.workspace_id, roles=AUTHOR_ROLES)
    scene = (scene or "").strip()
    if not scene:
        raise ValidationFailed("Describe the scene to generate (e.g. 'drinking coffee at a cafe terrace').")
    if len(scene) > 1000:
        raise ValidationFailed(f"The scene is {len(scene)} characters; keep it under 1,000.")
    if platform not in Platform.values:
        raise ValidationFailed(f"Unknown platform '{platform}'; choose one of: {', '.join(Platform.values)}.")
    _check_range("num_variants", num_variants, 1, MAX_VARIANTS)
    _check_range("steps", steps, 1, MAX_STEPS)
    _check_range("guidance", guidance, 0, 30)
    if scheduler not in specs.SCHEDULERS:
        names = ", ".join(specs.SCHEDULERS)
        raise ValidationFailed(f"Unknown scheduler '{scheduler}'; choose one of: {names}.")
    if seed is None:
        seed = random.SystemRandom().randrange(0, MAX_SEED - MAX_VARIANTS)
    _check_range("seed", seed, 0, MAX_SEED - num_variants + 1)

    lora = lora_version_active(persona_id=persona.pk)
    if lora is None and not allow_base_model:
        raise ValidationFailed(
            f"{persona.name} has no active LoRA yet: train one (and activate it), or generate with the base "
            "model alone (allow_base_model), which will not look like the persona.",
            code="no_active_lora",
        )
    base_model = lora.base_model if lora is not None else settings.GENERATION_BASE_MODEL
    width, height = render_size(platform=platform, base_model=base_model)
    job = GenerationJob.objects.create(
        persona=persona,
        lora_version=lora,
        platform=platform,
        scene=scene,
        prompt=_persona_prompt(persona, scene),
        negative_prompt=DEFAULT_NEGATIVE_PROMPT if negative_prompt is None else negative_prompt.strip(),
        num_variants=num_variants,
        seed=seed,
        steps=steps,
        guidance=guidance,
        scheduler=scheduler,
        width=width,
        height=height,
        total_steps=steps,
        created_by=actor,
    )
    _audit(obj=job, actor=actor, from_status="", to_status=JobStatus.QUEUED, comment="generation requested")

    from .tasks import generate_images

    transaction.on_commit(lambda: generate_images.delay(job.pk))
    return job


def generation_job_cancel(*, actor: AbstractBaseUser, job_id: int) -> GenerationJob:
    """A queued job is cancelled at once; a running one stops at its next progress check (within about
    GENERATION_PROGRESS_INTERVAL_S), or, in a batch with jobs still wanted, drops its images when the batch ends."""
    with transaction.atomic():
        job = _lock_job(job_id)
        role_require(user=actor, workspace_id=job.persona.workspace_id, roles=AUTHOR_ROLES,
                     not_found="Generation job not found.")
        _cancel_locked(
            job,
            actor=actor,
            refusal=f"Generation job {job.pk} is already {job.status}; only queued or running jobs can be cancelled.",
        )
    return job


def _lora_ref(version: LoraVersion) -> specs.LoraRef:
    if not version.weights_path:
        raise ValidationFailed(f"LoRA v{version.version} has no weights file.")
    return specs.LoraRef(
        path=_media_path(version.weights_path),
        sha256=version.sha256,
        adapter_name=_adapter_name(version),
    )


def _reproduction_record(image: GeneratedImage, *, lora: specs.LoraRef | None) -> dict:
    """Everything that reproduces `image`, also written into the PNG's "parameters" chunk."""
    return {
        "prompt": image.prompt,
        "negative_prompt": image.negative_prompt,
        "seed": image.seed,
        "steps": image.steps,
        "guidance": image.guidance,
        "scheduler": image.scheduler,
        "width": image.width,
        "height": image.height,
        "base_model": image.base_model,
        "base_model_hash": image.base_model_hash,
        "lora_sha256": image.lora_sha256,
        "lora_adapter": lora.adapter_name if lora is not None else "",
    }


def _adapter_name(version: LoraVersion) -> str:
    return f"persona{version.persona_id}_v{version.version}"


def generated_image_record(
    *, generated_image: GeneratedImage, batch: Sequence[GenerationJob] | None = None
) -> dict:
    """The reproduction record of an image, as the API shows it (`batch`: its job's render batch, if known)."""
    job = generated_image.job
    record = _reproduction_record(generated_image, lora=None)
    if job.lora_version_id and generated_image.lora_sha256:
        record["lora_adapter"] = _adapter_name(job.lora_version)
    record["lora_version"] = job.lora_version.version if job.lora_version_id else None
    # The pipeline call that rendered it (these jobs' seeds and prompts, in order) and its position there
    # reproduce it exactly; rendered alone it differs by batched-matmul rounding.
    batch = list(batch) if batch is not None else generation_job_render_batch(job=job)
    record["batch_job_ids"] = [member.pk for member in batch]
    record["batch_size"] = sum(member.num_variants for member in batch)
    record["batch_pos"] = (job.batch_offset if len(batch) > 1 else 0) + generated_image.index
    return record


def _delete_images(job: GenerationJob) -> None:
    for image in job.images.all():
        image.image.delete(save=False)
        image.delete()


def _drafts_create(job: GenerationJob, images: list[GeneratedImage]) -> list[int]:
    """One draft post per variant, captioned in the persona's voice, submitted to the review queue."""
    from scheduler import services as scheduler_services

    if job.created_by is None:
        raise ValidationFailed("The job has no author left to draft its posts for.")
    post_ids = []
    for image in images:
        draft = caption_draft(persona=job.persona, scene=job.scene, platform=job.platform, seed=image.seed)
        post = scheduler_services.post_create(
            actor=job.created_by,
            persona=job.persona,
            platform=job.platform,
            caption=draft.caption,
            hashtags=draft.hashtags,
            generated_images=[image],
        )
        scheduler_services.post_submit(
            actor=job.created_by,
            post_id=post.pk,
            comment=f"Drafted from generation job {job.pk}, variant {image.index + 1} of {job.num_variants}.",
        )
        post_ids.append(post.pk)
    return post_ids


def _job_request(job: GenerationJob, lora: specs.LoraRef | None) -> specs.GenerationRequest:
    return specs.GenerationRequest(
        prompt=job.prompt,
        negative_prompt=job.negative_prompt,
        seeds=[int(job.seed) + i for i in range(job.num_variants)],
        steps=job.steps,
        guidance=job.guidance,
        scheduler=job.scheduler,
        width=job.width,
        height=job.height,
        lora=lora,
    )


def _batch_claim(*, leader_id: int, max_images: int) -> list[GenerationJob]:
    """Lock the leader and fill its pipeline call: [leader, *companions], offsets and size recorded on each.

    Companions are queued jobs of the same persona that one pipeline call can render with the leader (same LoRA
    version, size, steps, scheduler, guidance), oldest first, while the call stays within max_images. Jobs a
    previous attempt of this leader claimed (found running under it after a worker loss) are taken again first.
    Their own task messages, when they arrive, see them running under this leader and leave them to it.
    Returns [] when the leader is no longer this attempt's to run.
    """
    leader = _lock_job(leader_id)
    if leader.status != JobStatus.RUNNING or leader.batch_leader_id != leader.pk:
        return []
    same_call = GenerationJob.objects.select_for_update(of=("self",)).exclude(pk=leader.pk)
    readopted = list(same_call.filter(batch_leader_id=leader.pk, status=JobStatus.RUNNING).order_by("batch_offset",
                                                                                                      "id"))
    members = [leader, *readopted]
    images = sum(job.num_variants for job in members)
    if images < max_images:
        candidates = same_call.select_for_update(of=("self",), skip_locked=True).filter(
            status=JobStatus.QUEUED,
            cancel_requested=False,
            persona_id=leader.persona_id,
            lora_version_id=leader.lora_version_id,
            width=leader.width,
            height=leader.height,
            steps=leader.steps,
            scheduler=leader.scheduler,
            guidance=leader.guidance,
        ).order_by("created_at", "id")[: max_images - images]
        for job in candidates:
            if images + job.num_variants > max_images:
                continue  # first fit: a smaller job further back may still fit; this one keeps its own task
            job.progress_step = 0
            job.total_steps = job.steps
            job.error = ""
            job.batch_leader = leader
            _set_status(job, JobStatus.RUNNING, comment=f"generation started in one batch with job {leader.pk}",
                        fields=["progress_step", "total_steps", "error", "batch_leader"])
            members.append(job)
            images += job.num_variants
    offset = 0
    for job in members:
        if job is not leader and job in readopted:
            _delete_images(job)  # never keep two sets (nothing should be there: images are saved with the status)
        job.batch_offset, job.batch_size = offset, images
        job.save(update_fields=["batch_offset", "batch_size"])
        offset += job.num_variants
    return members


def _batch_end(*, job_ids: Sequence[int], leader_id: int, to_status: str, comment: str, error: str = "") -> None:
    """End every job of the call still running under this leader (another attempt may have ended some)."""
    for job_id in job_ids:
        with transaction.atomic():
            job = GenerationJob.objects.select_for_update(of=("self",)).filter(pk=job_id).first()
            if job is None or job.status != JobStatus.RUNNING or job.batch_leader_id != leader_id:
                continue
            job.error = error
            _set_status(job, to_status, comment=comment, fields=["error"])


def _job_images_save(
    *, job_id: int, leader_id: int, pictures: list[Image.Image], lora: specs.LoraRef | None, engine
) -> None:
    """Store one job's images and draft its posts, atomically; a failure here fails this job only."""
    saved_files: list[str] = []
    try:
        with transaction.atomic():
            job = GenerationJob.objects.select_for_update(of=("self",)).select_related("persona").filter(
                pk=job_id).first()
            if job is None or job.status != JobStatus.RUNNING or job.batch_leader_id != leader_id:
                return  # cancelled, finished or re-run by another attempt meanwhile
            if job.cancel_requested:  # asked during the batch or after its last step: honoured, nothing is saved
                _set_status(job, JobStatus.CANCELLED, comment="cancelled before its images were saved")
                return
            seeds = _job_request(job, lora).seeds
            if len(pictures) != len(seeds):
                raise RuntimeError(f"The engine returned {len(pictures)} images for {len(seeds)} seeds.")
            _delete_images(job)  # nothing should be there; never keep two sets
            created = []
            for index, (seed, picture) in enumerate(zip(seeds, pictures, strict=True)):
                image = GeneratedImage(
                    job=job,
                    index=index,
                    seed=seed,
                    width=picture.width,
                    height=picture.height,
                    base_model=engine.base_model_id,
                    base_model_hash=engine.base_model_hash,
                    lora_sha256=lora.sha256 if lora is not None else "",
                    prompt=job.prompt,
                    negative_prompt=job.negative_prompt,
                    steps=job.steps,
                    guidance=job.guidance,
                    scheduler=job.scheduler,
                )
                data = specs.png_bytes_with_parameters(picture, record=_reproduction_record(image, lora=lora))
                image.sha256 = hashlib.sha256(data).hexdigest()
                image.image.save(f"v{index + 1}-seed{seed}.png", ContentFile(data), save=False)
                image.width, image.height = picture.width, picture.height  # the file assignment resets them
                saved_files.append(image.image.name)
                image.save()
                created.append(image)
            if not job.is_sample:
                _drafts_create(job, created)
            job.progress_step = job.steps
            _set_status(job, JobStatus.SUCCEEDED, comment=f"{len(created)} images", fields=["progress_step"])
    except Exception as exc:
        logger.exception("Saving the images of generation job %s failed", job_id)
        storage = GeneratedImage._meta.get_field("image").storage
        for name in saved_files:  # rolled-back rows leave files behind
            storage.delete(name)
        _batch_end(job_ids=[job_id], leader_id=leader_id, to_status=JobStatus.FAILED,
                   comment="generation failed", error=_error_text(exc))


def generation_job_run(*, job_id: int) -> GenerationJob | None:
    """Task body: render the job's variants in one pipeline call, store them and draft their posts.

    The call is filled with other queued jobs of the same persona and settings, up to the engine's max_batch
    images (GENERATION_MAX_BATCH: 8 on CUDA, where a batch of 8 renders several times the images per second of
    batch 1; 1 on CPU). Each job still gets exactly its own seeds, prompt and posts, and records the call it was
    rendered in, which reproduces its bytes. A cancel stops the call only when every job in it asked; otherwise
    the cancelled job's images are dropped at the end.

    Idempotent: a finished job is left alone, and so is a job running in another job's batch (that job's task
    renders it, again if its worker is lost). A job found running under its own task (redelivered after a worker
    loss) is rendered again with its batch, and its partial images are removed, so a job never has two sets.
    """
    with transaction.atomic():
        job = GenerationJob.objects.select_for_update(of=("self",)).select_related("persona").filter(pk=job_id).first()
        if job is None:
            logger.warning("Generation job %s no longer exists.", job_id)
            return None
        if job.status in FINISHED:
            return job
        if job.status == JobStatus.RUNNING and job.batch_leader_id not in (None, job.pk):
            return job
        if job.cancel_requested:
            _set_status(job, JobStatus.CANCELLED, comment="cancelled before it started")
            return job
        comment = "generation started"
        if job.status == JobStatus.RUNNING:
            comment = "generation restarted after the previous attempt was interrupted"
            _delete_images(job)
        job.progress_step = 0
        job.total_steps = job.steps
        job.error = ""
        job.batch_leader = job
        job.batch_offset, job.batch_size = 0, job.num_variants
        _set_status(job, JobStatus.RUNNING, comment=comment,
                    fields=["progress_step", "total_steps", "error", "batch_leader", "batch_offset", "batch_size"])

    job_ids = [job_id]
    try:
        lora = _lora_ref(job.lora_version) if job.lora_version_id else None
        engine = _engine()
        with transaction.atomic():
            batch = _batch_claim(leader_id=job_id, max_images=engine.max_batch)
        if not batch:
            return GenerationJob.objects.filter(pk=job_id).first()
        job_ids = [member.pk for member in batch]
        in_this_call = GenerationJob.objects.filter(pk__in=job_ids, status=JobStatus.RUNNING, batch_leader_id=job_id)

        last_report = [-float("inf")]

        def on_step(step: int, total: int) -> bool:
            now = _progress_clock()
            if step < total and now - last_report[0] < GENERATION_PROGRESS_INTERVAL_S:
                return True
            last_report[0] = now
            in_this_call.update(progress_step=step, total_steps=total)
            # Go on while any job of the call still wants its images.
            return in_this_call.filter(cancel_requested=False).exists()

        pictures = engine.generate_batch([_job_request(member, lora) for member in batch], on_step=on_step)
        if len(pictures) != len(batch):
            raise RuntimeError(f"The engine returned {len(pictures)} image sets for {len(batch)} jobs.")
    except specs.EngineCancelled:
        _batch_end(job_ids=job_ids, leader_id=job_id, to_status=JobStatus.CANCELLED,
                   comment="cancelled during generation")
        return GenerationJob.objects.filter(pk=job_id).first()
    except Exception as exc:
        logger.exception("Generation job %s failed", job_id)
        _batch_end(job_ids=job_ids, leader_id=job_id, to_status=JobStatus.FAILED, comment="generation failed",
                   error=_error_text(exc))
        return GenerationJob.objects.filter(pk=job_id).first()
    for member, member_pictures in zip(batch, pictures, strict=True):
        _job_images_save(job_id=member.pk, leader_id=job_id, pictures=member_pictures, lora=lora, engine=engine)
    return GenerationJob.objects.filter(pk=job_id).first()


def generated_image_reproduce(*, generated_image: GeneratedImage) -> bytes:
    """Render `generated_image` again from its stored record; the PNG bytes match the stored file."""
    job = generated_image.job
    engine = _engine()
    if generated_image.base_model_hash and engine.base_model_hash != generated_image.base_model_hash:
        raise Conflict(
            f"Image {generated_image.pk} was rendered with base model {generated_image.base_model} "
            f"(hash {generated_image.base_model_hash[:10]}); this worker has {engine.base_model_id} "
            f"(hash {engine.base_model_hash[:10]}).",
            code="base_model_mismatch",
        )
    lora = None
    if generated_image.lora_sha256:
        if job.lora_version_id is None:
            raise Conflict(f"The LoRA that rendered image {generated_image.pk} no longer exists.")
        lora = _lora_ref(job.lora_version)
        if lora.sha256 != generated_image.lora_sha256:
            raise Conflict(f"The LoRA weights of image {generated_image.pk} changed since it was rendered.")
    # Batched rendering is not bit-identical to rendering one seed alone (different kernel blocking), so the
    # whole pipeline call is rendered again, with every job that shared it, and this image's position is picked.
    if job.seed is None or generated_image.index >= job.num_variants or \
            int(job.seed) + generated_image.index != generated_image.seed:
        requests = [specs.GenerationRequest(
            prompt=generated_image.prompt, negative_prompt=generated_image.negative_prompt,
            seeds=[generated_image.seed], steps=generated_image.steps, guidance=generated_image.guidance,
            scheduler=generated_image.scheduler, width=generated_image.width, height=generated_image.height,
            lora=lora,
        )]
        position = (0, 0)
    else:
        batch = generation_job_render_batch(job=job)
        requests = [_job_request(member, lora) for member in batch]
        position = (batch.index(job), generated_image.index)
    pictures = engine.generate_batch(requests)
    picture = pictures[position[0]][position[1]]
    return specs.png_bytes_with_parameters(picture, record=_reproduction_record(generated_image, lora=lora))


# How long past its soft time limit a run may stay "running" before the sweep fails it.
STALE_GRACE_SECONDS = 300


def generation_runs_fail_stale(*, now: dt.datetime | None = None) -> int:
    """Fail training runs and generation jobs still "running" well past their time limit.

    The solo pool of one-GPU workers enforces no Celery time limits, and a worker killed at a hard limit
    does not always get its message redelivered: this sweep is what guarantees such a run ends with a reason.
    A worker that is in fact still rendering finds the row failed when it saves and discards its output.
    """
    now = now or timezone.now()
    limits = (
        (LoraVersion, int(settings.GENERATION_TRAIN_TIME_LIMIT)),
        (GenerationJob, int(settings.GENERATION_GENERATE_TIME_LIMIT)),
    )
    failed = 0
    for model, limit in limits:
        cutoff = now - dt.timedelta(seconds=limit + STALE_GRACE_SECONDS)
        stale_ids = list(
            model.objects.filter(status=JobStatus.RUNNING, started_at__lt=cutoff).values_list("pk", flat=True)
        )
        for pk in stale_ids:
            with transaction.atomic():
                run = (
                    model.objects.select_for_update(of=("self",))
                    .filter(pk=pk, status=JobStatus.RUNNING, started_at__lt=cutoff)
                    .first()
                )
                if run is None:
                    continue
                run.error = (
                    f"Time limit exceeded: running since {run.started_at:%Y-%m-%d %H:%M:%S} UTC, "
                    f"past its {limit} s limit; the worker stopped reporting."
                )
                _set_status(run, JobStatus.FAILED, comment="failed by the stale-run sweep", fields=["error"])
                failed += 1
    return failed
