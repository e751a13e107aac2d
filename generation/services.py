"""User-facing writes for LoRA training and image generation: start, cancel and activate training runs; create
and cancel generation jobs. What the GPU worker runs lives in generation.training.runs and generation.jobs.render;
drafting a job's posts (and "draft again") is scheduler's (scheduler.drafting.services)."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from core.access import AUTHOR_ROLES
from core.errors import Conflict, ValidationFailed
from core.platforms import Platform, platform_target_size
from generation.engine import specs
from generation.engine.families import FAMILY_LABELS
from generation.jobs.inputs import StoredSource, job_inputs_check, job_inputs_store
from generation.jobs.likeness import version_report_worse
from generation.library.services import persona_base_model_pin
from generation.models import (
    BaseModel,
    BaseModelStatus,
    GenerationJob,
    GenerationMode,
    JobStatus,
    LoraVersion,
)
from generation.selectors import base_model_family, lora_version_active, lora_version_family, lora_version_fits
from generation.training.class_image_selectors import class_image_count
from generation.transitions import audit, gpu_task_send, job_queue, lock_job, lock_lora_version, set_status
from personas.identity.reference_qa import training_faces_require
from personas.models import Persona
from personas.selectors import role_require


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValidationFailed(f"{name} must be between {low:g} and {high:g}; got {value:g}.", code="invalid_value")


def _cancel_locked(run: LoraVersion | GenerationJob, *, actor: AbstractBaseUser, refusal: str) -> None:
    """Cancel a locked run: at once while queued; a running one stops at its next progress check."""
    if run.status == JobStatus.QUEUED:
        run.cancel_requested = True
        set_status(
            run, JobStatus.CANCELLED, actor=actor, comment="cancelled while queued", fields=["cancel_requested"]
        )
    elif run.status == JobStatus.RUNNING:
        if not run.cancel_requested:
            run.cancel_requested = True
            run.save(update_fields=["cancel_requested"])
            audit(obj=run, actor=actor, from_status=JobStatus.RUNNING, to_status=JobStatus.RUNNING,
                  comment="cancel requested")
    else:
        raise Conflict(refusal, code="invalid_state")


# --- LoRA training ---------------------------------------------------------------------------------


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
    prior_preservation: bool | None = None,
    prior_loss_weight: float | None = None,
) -> LoraVersion:
    """Queue a training run of the persona's LoRA on its reference images; the gpu worker runs it. With
    prior_preservation, each step also trains on the base model's class images (rendered once per base model,
    then cached: generation.training.class_images), weighted by prior_loss_weight."""
    role_require(user=actor, workspace_id=persona.workspace_id, roles=AUTHOR_ROLES)
    # Lock the persona: two clicks at once must not both pick the same version number.
    persona = Persona.objects.select_for_update().get(pk=persona.pk)

    count = persona.reference_images.count()
    if count < specs.MIN_REFERENCE_IMAGES:
        raise ValidationFailed(
            f"Training needs at least {specs.MIN_REFERENCE_IMAGES} reference images of {persona.name}; "
            f"this persona has {count}. Upload {specs.MIN_REFERENCE_IMAGES - count} more.",
            code="not_enough_reference_images",
        )
    busy = persona.lora_versions.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).first()
    if busy is not None:
        raise Conflict(
            f"LoRA v{busy.version} of {persona.name} is still {busy.status}; wait for it or cancel it first.",
            code="training_in_progress",
        )

    base_model = persona_base_model_pin(persona=persona)
    if base_model.status != BaseModelStatus.ACTIVE:
        raise ValidationFailed(f"{persona.name}'s base model {base_model.name} is archived; choose another one first.",
                               code="base_model_archived")
    defaults = specs.TrainingConfig(**base_model_family(base_model).training_defaults)
    overrides = {"steps": steps, "rank": rank, "learning_rate": learning_rate, "resolution": resolution,
                 "prior_loss_weight": prior_loss_weight}
    values = {}
    for name, value in overrides.items():
        if value is None:
            continue
        _check_range(name, value, *specs.TRAINING_LIMITS[name])
        values[name] = value
    if "resolution" in values and values["resolution"] % 8:
        raise ValidationFailed(f"resolution must be a multiple of 8; got {values['resolution']}.")
    if seed is not None:
        _check_range("seed", seed, 0, specs.MAX_SEED)
        values["seed"] = seed
    if prior_preservation is not None:
        values["prior_preservation"] = bool(prior_preservation)
    config = specs.TrainingConfig(**{**asdict(defaults), **values})
    # A human-face persona trains only on reference photos with one clear face of the same person (reference QA).
    training_faces_require(persona=persona)

    last = persona.lora_versions.order_by("-version").values_list("version", flat=True).first() or 0
    version = LoraVersion.objects.create(
        persona=persona,
        version=last + 1,
        status=JobStatus.QUEUED,
        base_model=base_model.location,
        base_model_entry=base_model,
        base_model_family=base_model.family,
        base_model_sha256=base_model.sha256,
        hyperparameters={**asdict(config), "num_class_images": class_image_count() if config.prior_preservation else 0},
        total_steps=config.steps,
        created_by=actor,
    )
    audit(obj=version, actor=actor, from_status="", to_status=JobStatus.QUEUED, comment="training requested")

    gpu_task_send("generation.runtime.tasks.train_lora", version.pk, family=base_model.family)
    return version


def lora_training_cancel(*, actor: AbstractBaseUser, lora_version_id: int) -> LoraVersion:
    """A queued run is cancelled at once; a running one stops at its next progress check."""
    with transaction.atomic():
        version = lock_lora_version(lora_version_id)
        role_require(user=actor, workspace_id=version.persona.workspace_id, roles=AUTHOR_ROLES,
                     not_found="LoRA version not found.")
        _cancel_locked(
            version,
            actor=actor,
            refusal=f"LoRA v{version.version} is already {version.status}; only queued or running training can be "
            "cancelled.",
        )
    return version


def lora_version_activate(*, actor: AbstractBaseUser, lora_version_id: int, confirm_worse: bool = False) -> LoraVersion:
    """Make a succeeded version the persona's active LoRA (the previous one is deactivated). A version whose
    likeness report is worse than the active one's is refused unless `confirm_worse`."""
    with transaction.atomic():
        version = lock_lora_version(lora_version_id)
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
        worse = next((why for p in previous
                      if (why := version_report_worse(candidate=version.likeness_report, active=p.likeness_report))),
                     "")
        if worse and not confirm_worse:
            raise Conflict(f"LoRA v{version.version} looks less like the persona than the active version: {worse}. "
                           "Confirm to activate it anyway.", code="likeness_worse")
        # Deactivate first: the one-active-per-persona constraint is checked per statement.
        LoraVersion.objects.filter(pk__in=[p.pk for p in previous]).update(is_active=False)
        version.is_active = True
        version.save(update_fields=["is_active"])
        replaced = ", ".join(f"v{p.version}" for p in previous)
        audit(obj=version, actor=actor, from_status=version.status, to_status=version.status,
              comment=f"activated (replaces {replaced})" if replaced else "activated")
    return version


# --- generation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRequest:
    """A generation job checked and ready to write: its inputs are stored, nothing is in the database yet."""

    persona: Persona
    lora_version: LoraVersion | None
    platform: str
    scene: str
    actor: AbstractBaseUser
    base_model: BaseModel
    comment: str
    params: dict[str, Any] = field(default_factory=dict)


def generation_job_prepare(
    *,
    actor: AbstractBaseUser,
    persona: Persona,
    scene: str,
    platform: str,
    num_variants: int | None = None,
    best_of: int = 1,
    seed: int | None = None,
    steps: int = 25,
    guidance: float = 7.0,
    scheduler: str = "dpmpp_2m_karras",
    negative_prompt: str | None = None,
    allow_base_model: bool = False,
    base_model_id: int | None = None,
    is_sponsored: bool = False,
    mode: str = GenerationMode.TXT2IMG,
    strength: float | None = None,
    init_image=None,
    source_image_id: int | None = None,
    stored_source: StoredSource | None = None,
    mask=None,
    upscale: bool | None = None,
    face_detail: bool | None = None,
) -> JobRequest:
    """Check a request for one batch of `num_variants` images (default 4) of the persona in `scene`, sized for
    `platform`, and store its init image and mask; generation_job_queue writes and sends it.

    The persona's active LoRA is required unless `allow_base_model` (then the base model alone renders,
    which will not look like the persona). `mode`: txt2img; img2img (variations of an uploaded photo
    `init_image`, a generated image `source_image_id`, or an image stored elsewhere, `stored_source`, such as a
    post's); inpaint (the `mask`'s white part of one of those repainted). `upscale` (hires to the platform's size)
    and `face_detail` default to the GENERATION_HIRES_DEFAULT and GENERATION_FACE_DETAIL_DEFAULT settings.
    `best_of` N renders N candidates of each variant and drafts only the most on-model one (generation.jobs.best_of).
    Every input is checked before anything is written or queued. The job renders on the persona's base model, or
    `base_model_id`; a LoRA trained on another model family is refused here, never on the worker.
    """
    role_require(user=actor, workspace_id=persona.workspace_id, roles=AUTHOR_ROLES)
    scene = (scene or "").strip()
    if not scene:
        raise ValidationFailed("Describe the scene to generate (e.g. 'drinking coffee at a cafe terrace').")
    if len(scene) > 1000:
        raise ValidationFailed(f"The scene is {len(scene)} characters; keep it under 1,000.")
    if platform not in Platform.values:
        raise ValidationFailed(f"Unknown platform '{platform}'; choose one of: {', '.join(Platform.values)}.")
    inputs = job_inputs_check(actor=actor, persona=persona, mode=mode, strength=strength, init_image=init_image,
                              source_image_id=source_image_id, stored_source=stored_source, mask=mask)
    num_variants = 4 if num_variants is None else num_variants
    _check_range("num_variants", num_variants, 1, specs.MAX_VARIANTS)
    _best_of_check(persona=persona, num_variants=num_variants, best_of=best_of)
    _check_range("steps", steps, 1, specs.MAX_STEPS)
    _check_range("guidance", guidance, 0, specs.MAX_GUIDANCE)
    if scheduler not in specs.SCHEDULERS:
        names = ", ".join(specs.SCHEDULERS)
        raise ValidationFailed(f"Unknown scheduler '{scheduler}'; choose one of: {names}.")
    if seed is None:
        seed = random.SystemRandom().randrange(0, specs.MAX_SEED - specs.MAX_JOB_IMAGES)
    _check_range("seed", seed, 0, specs.MAX_SEED - num_variants * best_of + 1)
    if mode == GenerationMode.INPAINT and upscale:
        raise ValidationFailed("Inpainting keeps the image's size; upscale applies to txt2img and img2img.")
    upscale = settings.GENERATION_HIRES_DEFAULT if upscale is None else bool(upscale)
    upscale = upscale and mode != GenerationMode.INPAINT
    # On by default where there is a face to keep on-model (a mascot or product persona has none).
    if face_detail is None:
        face_detail = settings.GENERATION_FACE_DETAIL_DEFAULT and persona.is_human_face
    face_detail = bool(face_detail)
    output_width, output_height = platform_target_size(platform) if upscale else (0, 0)

    lora = lora_version_active(persona_id=persona.pk)
    if lora is None and not allow_base_model:
        raise ValidationFailed(
            f"{persona.name} has no active LoRA yet: train one (and activate it), or generate with the base "
            "model alone (allow_base_model), which will not look like the persona.",
            code="no_active_lora",
        )
    base_model = _job_base_model(persona=persona, base_model_id=base_model_id)
    if lora is not None and not lora_version_fits(version=lora, base_model=base_model):
        trained = FAMILY_LABELS.get(lora_version_family(lora), lora_version_family(lora))
        raise ValidationFailed(
            f"LoRA v{lora.version} of {persona.name} was trained on a {trained} model; {base_model.name} is "
            f"{FAMILY_LABELS.get(base_model.family, base_model.family)}, which it does not fit. Train a new version "
            f"on {base_model.name}, or choose a {trained} model.",
            code="base_model_mismatch",
        )
    stored = job_inputs_store(persona=persona, inputs=inputs)
    return JobRequest(
        persona=persona, lora_version=lora, platform=platform, scene=scene, actor=actor, base_model=base_model,
        comment="generation requested" if mode == GenerationMode.TXT2IMG else f"{mode} requested",
        params=dict(
            negative_prompt=specs.DEFAULT_NEGATIVE_PROMPT if negative_prompt is None else negative_prompt.strip(),
            num_variants=num_variants, best_of=best_of, seed=seed, steps=steps, guidance=guidance,
            scheduler=scheduler, is_sponsored=bool(is_sponsored),
            mode=mode, strength=inputs.strength, init_sha256=inputs.init.sha256 if inputs.init else "",
            init_image=stored.init_image, source_image=inputs.source_image,
            mask_sha256=inputs.mask.sha256 if inputs.mask else "", mask=stored.mask,
            upscale=upscale, output_width=output_width, output_height=output_height, face_detail=face_detail,
        ),
    )


def generation_job_queue(*, request: JobRequest) -> GenerationJob:
    """Write a prepared request's job (and its audit row) and send it to the GPU queue once the transaction
    commits. Only database writes: callers may run it inside their own transaction (a post's image job does)."""
    with transaction.atomic():
        job = job_queue(
            persona=request.persona, lora_version=request.lora_version, platform=request.platform,
            scene=request.scene, created_by=request.actor, actor=request.actor, comment=request.comment,
            base_model_entry=request.base_model, **request.params,
        )
        gpu_task_send("generation.runtime.tasks.generate_images", job.pk, family=request.base_model.family)
    return job


def generation_job_create(*, actor: AbstractBaseUser, persona: Persona, scene: str, platform: str,
                          **settings_: Any) -> GenerationJob:
    """Queue one batch of images of the persona in `scene` (generation_job_prepare says what `settings_` may be).
    Every input is checked, and an init image or mask stored, before the job's row is written in a short
    transaction: no upload or storage read happens while it is open."""
    request = generation_job_prepare(actor=actor, persona=persona, scene=scene, platform=platform, **settings_)
    return generation_job_queue(request=request)


def _best_of_check(*, persona: Persona, num_variants: int, best_of: int) -> None:
    _check_range("best_of", best_of, 1, specs.MAX_BEST_OF)
    if num_variants * best_of > specs.MAX_JOB_IMAGES:
        raise ValidationFailed(
            f"{num_variants} variants x best of {best_of} is {num_variants * best_of} images; a job renders at most "
            f"{specs.MAX_JOB_IMAGES} in its pipeline call. Ask for fewer variants or a smaller best-of.",
            code="too_many_images",
        )
    # Candidates are chosen by likeness: without a face to compare, N-1 of every N renders would be wasted.
    if best_of > 1 and not persona.is_human_face:
        raise ValidationFailed(
            f"Best-of-N keeps the candidate that looks most like {persona.name}, and {persona.name} is marked as not "
            "a human face: there is no likeness to choose by. Use best_of 1.",
            code="best_of_not_applicable",
        )


def _job_base_model(*, persona: Persona, base_model_id: int | None) -> BaseModel:
    if base_model_id is None:
        return persona_base_model_pin(persona=persona)
    entry = BaseModel.objects.filter(pk=base_model_id, status=BaseModelStatus.ACTIVE).first()
    if entry is None:
        raise ValidationFailed(f"Base model {base_model_id} does not exist or is archived.", code="unknown_base_model")
    return entry


def generation_job_cancel(*, actor: AbstractBaseUser, job_id: int) -> GenerationJob:
    """A queued job is cancelled at once; a running one stops at its next progress check (within about
    GENERATION_PROGRESS_INTERVAL_S), or, in a batch with jobs still wanted, drops its images when the batch ends."""
    with transaction.atomic():
        job = lock_job(job_id)
        role_require(user=actor, workspace_id=job.persona.workspace_id, roles=AUTHOR_ROLES,
                     not_found="Generation job not found.")
        _cancel_locked(
            job,
            actor=actor,
            refusal=f"Generation job {job.pk} is already {job.status}; only queued or running jobs can be cancelled.",
        )
    return job
