"""Status changes of training runs and generation jobs, each saved with its audit row; what the user-facing
services and the worker share."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from core.dispatch import task_send
from core.errors import NotFound
from core.storage import local_paths_hidden
from generation.engine import specs
from generation.engine.families import Family, render_size
from generation.models import BaseModel, GenerationJob, JobStatus, JobTransition, LoraVersion, TrainingStage
from generation.runtime import heartbeats
from personas.models import Persona

FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


def audit(
    *,
    obj: LoraVersion | GenerationJob,
    actor: AbstractBaseUser | None,
    from_status: str,
    to_status: str,
    comment: str = "",
) -> None:
    subject = {"lora_version": obj} if isinstance(obj, LoraVersion) else {"generation_job": obj}
    actor = actor if actor is not None and actor.is_authenticated else None
    JobTransition.objects.create(
        **subject, actor=actor, from_status=from_status, to_status=to_status, comment=comment
    )


def set_status(
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
    stage = []
    if isinstance(obj, LoraVersion) and to_status != JobStatus.RUNNING and obj.progress_stage:
        # A stage describes a running attempt: a sweep that fails or requeues the run must not leave it behind.
        obj.progress_stage = TrainingStage.NONE
        stage = ["progress_stage"]
    obj.save(update_fields=["status", "started_at", "finished_at", *fields, *stage])
    audit(obj=obj, actor=actor, from_status=from_status, to_status=to_status, comment=comment)


def generation_job_images_delete(job: GenerationJob) -> None:
    """Remove a job's images, rows and files (a run that starts over never keeps two sets)."""
    for image in job.images.all():
        image.image.delete(save=False)
        image.delete()


def run_attempt_start(run: LoraVersion | GenerationJob, *, what: str, cancelled: str, reset: dict) -> bool:
    """Start this worker's attempt at a locked, unfinished run, setting `reset`; False when a cancel came first. A
    run found running was interrupted (redelivered after a worker loss): it starts over, and a job's partial images
    go."""
    if run.cancel_requested:
        set_status(run, JobStatus.CANCELLED, comment=cancelled)
        return False
    comment = f"{what} started"
    if run.status == JobStatus.RUNNING:
        comment = f"{what} restarted after the previous attempt was interrupted"
        if isinstance(run, GenerationJob):
            generation_job_images_delete(run)
    reset = {**reset, "worker": heartbeats.current_worker()}
    for name, value in reset.items():
        setattr(run, name, value)
    set_status(run, JobStatus.RUNNING, comment=comment, fields=list(reset))
    return True


def lock_lora_version(lora_version_id: int) -> LoraVersion:
    version = LoraVersion.objects.select_for_update().filter(pk=lora_version_id).first()
    if version is None:
        raise NotFound("LoRA version not found.")
    return version


def lock_job(job_id: int) -> GenerationJob:
    job = GenerationJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None:
        raise NotFound("Generation job not found.")
    return job


def persona_prompt(persona: Persona, scene: str) -> str:
    return specs.prompt_for_persona(
        trigger_token=persona.trigger_token,
        appearance=persona.appearance,
        scene=scene,
        style_keywords=persona.style_keywords or (),
    )


def job_queue(
    *,
    persona: Persona,
    lora_version: LoraVersion | None,
    platform: str,
    scene: str,
    created_by: AbstractBaseUser | None,
    actor: AbstractBaseUser | None,
    comment: str,
    negative_prompt: str = specs.DEFAULT_NEGATIVE_PROMPT,
    base_model_entry: BaseModel | None = None,
    **params,
) -> GenerationJob:
    """A queued job of the persona in `scene`, rendered on `base_model_entry` (default: its LoRA's) and sized for
    `platform` by that model's family, with its audit row. `params`: num_variants, seed, steps and the other
    GenerationJob settings."""
    if base_model_entry is None and lora_version is not None:
        base_model_entry = lora_version.base_model_entry
    if base_model_entry is not None:
        family = Family(name=base_model_entry.family, native_size=base_model_entry.native_size)
        width, height = render_size(platform=platform, family=family)
    else:
        base_model = lora_version.base_model if lora_version is not None else settings.GENERATION_BASE_MODEL
        width, height = render_size(platform=platform, base_model=base_model)
    job = GenerationJob.objects.create(
        persona=persona, lora_version=lora_version, base_model_entry=base_model_entry, platform=platform, scene=scene,
        prompt=persona_prompt(persona, scene), negative_prompt=negative_prompt, width=width, height=height,
        total_steps=params["steps"], created_by=created_by, **params,
    )
    audit(obj=job, actor=actor, from_status="", to_status=JobStatus.QUEUED, comment=comment)
    return job


def error_text(exc: BaseException, *, shown: dict[str, str] | None = None) -> str:
    """"<ExceptionType>: <message>", as stored on a failed row and shown to API users. Files are named by their
    stored names (`shown` maps a worker's local copies to them), never by server path."""
    # The limit can fire inside a library that wraps it (diffusers' lazy imports raise RuntimeError from it).
    cause: BaseException | None = exc
    for _ in range(10):
        if cause is None:
            break
        if isinstance(cause, SoftTimeLimitExceeded):
            return "SoftTimeLimitExceeded: time limit exceeded; the task ran past its soft time limit and was stopped."
        cause = cause.__cause__ or cause.__context__
    message = str(exc).strip() or "(no message)"
    message = local_paths_hidden(message, shown=shown)
    root = settings.BASE_DIR
    message = message.replace(str(Path(root).resolve()), ".").replace(str(root), ".")
    return f"{type(exc).__name__}: {message}"


def family_queue(family: str) -> str | None:
    """The queue of a model family's GPU tasks (GENERATION_FAMILY_QUEUES, e.g. "sdxl=gpu-xl"); None: the task's
    routed queue (GENERATION_QUEUE)."""
    return (getattr(settings, "GENERATION_FAMILY_QUEUES", None) or {}).get(family) or None


def gpu_task_send(name: str, pk: int, *, family: str | None, robust: bool = False) -> None:
    """Send GPU task `name` for a run (or a model's gallery), after commit, to the queue of its model family, so
    SDXL jobs reach the GPUs that fit them."""
    task_send(name, args=(pk,), queue=family_queue(family) if family else None, robust=robust)
