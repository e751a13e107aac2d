"""What the GPU workers run: generation jobs (one pipeline call per batch of compatible jobs) and reproduction.
Task bodies never raise: a failure is stored on the row as "<ExceptionType>: <message>". LoRA training runs and
their reviewer samples are in generation.training.runs.

A job's images are saved and the job marked succeeded in one transaction; its posts are drafted after that commit
(announced with generation.signals.job_images_ready), so no post rule can cost a rendered image.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import replace

from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from core.errors import Conflict
from generation.engine import specs
from generation.engine.entries import engine_for, lora_ref_fetch
from generation.jobs.best_of import candidate_fields, candidate_filename
from generation.jobs.likeness import on_commit_score
from generation.models import DraftingStatus, GeneratedImage, GenerationJob, GenerationMode, JobStatus
from generation.selectors import generation_job_render_batch, reproduction_record
from generation.signals import job_images_ready
from generation.transitions import (
    FINISHED,
    error_text,
    generation_job_images_delete,
    lock_job,
    run_attempt_start,
    set_status,
)

logger = logging.getLogger(__name__)

# Generation reports progress and checks for a cancel at most this often (and always on the first and last step):
# a compiled GPU step takes ~10 ms, and two database round trips on every step would idle the GPU between steps.
GENERATION_PROGRESS_INTERVAL_S = 0.5
_progress_clock = time.monotonic  # module-level so tests can drive it


# --- generation ------------------------------------------------------------------------------------


def _lora_shown(job: GenerationJob, lora: specs.LoraRef | None) -> dict[str, str]:
    """Error messages name the LoRA by its stored name, not by this worker's cached copy."""
    return {str(lora.path): job.lora_version.weights_path} if lora is not None and job.lora_version_id else {}


def _png_record(image: GeneratedImage, lora: specs.LoraRef | None) -> dict:
    return reproduction_record(image, lora_adapter=lora.adapter_name if lora is not None else "")


def _stored_image(field, mode: str) -> Image.Image:
    with field.open("rb") as fh, Image.open(fh) as img:
        return img.convert(mode)


def _job_request(job: GenerationJob, lora: specs.LoraRef | None) -> specs.GenerationRequest:
    from_init = job.mode != GenerationMode.TXT2IMG
    return specs.GenerationRequest(
        prompt=job.prompt, negative_prompt=job.negative_prompt,
        seeds=[int(job.seed) + i for i in range(job.image_count)], steps=job.steps, guidance=job.guidance,
        scheduler=job.scheduler, width=job.width, height=job.height, lora=lora, mode=job.mode,
        init_image=_stored_image(job.init_image, "RGB") if from_init else None,
        mask=_stored_image(job.mask, "L") if job.mode == GenerationMode.INPAINT else None,
        strength=job.strength if job.strength is not None else 1.0,
        output_size=(job.output_width, job.output_height) if job.upscale else None, face_detail=job.face_detail,
    )


def _attempt_is_current(*, leader_id: int, attempt: dt.datetime | None) -> bool:
    """Lock the call's leader and say whether `attempt` (the leader's started_at when this attempt began) is still
    its latest. A broker that redelivers a message while its first worker still renders (Redis, past the visibility
    timeout) starts a second attempt; the older one then saves and ends nothing, so a call is recorded once, as the
    attempt that rendered it. The leader is locked before any member, in the order _batch_claim locks them."""
    leader = GenerationJob.objects.select_for_update(of=("self",)).filter(pk=leader_id).only("started_at").first()
    return leader is not None and leader.started_at == attempt


def _batch_claim(*, leader_id: int, attempt: dt.datetime | None, max_images: int) -> list[GenerationJob]:
    """Lock the leader and fill its pipeline call: [leader, *companions], offsets and size recorded on each.

    Companions are queued jobs of the same persona that one pipeline call can render with the leader (same base
    model, LoRA version, size, steps, scheduler, guidance), oldest first, while the call stays within max_images. Jobs a
    previous attempt of this leader claimed (found running under it after a worker loss) are taken again first.
    Their own task messages, when they arrive, see them running under this leader and leave them to it.
    Returns [] when the leader is no longer this attempt's to run.
    """
    leader = lock_job(leader_id)
    if leader.status != JobStatus.RUNNING or leader.batch_leader_id != leader.pk or leader.started_at != attempt:
        return []
    same_call = GenerationJob.objects.select_for_update(of=("self",)).exclude(pk=leader.pk)
    readopted = list(same_call.filter(batch_leader_id=leader.pk, status=JobStatus.RUNNING).order_by("batch_offset",
                                                                                                      "id"))
    members = [leader, *readopted]
    images = sum(job.image_count for job in members)
    # A job rendered from an init image renders alone; text-only jobs share a call with the same finishing stages.
    if images < max_images and leader.mode == GenerationMode.TXT2IMG:
        candidates = same_call.select_for_update(of=("self",), skip_locked=True).filter(
            status=JobStatus.QUEUED,
            cancel_requested=False,
            persona_id=leader.persona_id,
            lora_version_id=leader.lora_version_id,
            base_model_entry_id=leader.base_model_entry_id,
            width=leader.width,
            height=leader.height,
            steps=leader.steps,
            scheduler=leader.scheduler,
            guidance=leader.guidance,
            mode=GenerationMode.TXT2IMG,
            upscale=leader.upscale,
            output_width=leader.output_width,
            output_height=leader.output_height,
            face_detail=leader.face_detail,
        ).order_by("created_at", "id")[: max_images - images]
        for job in candidates:
            if images + job.image_count > max_images:
                continue  # first fit: a smaller job further back may still fit; this one keeps its own task
            job.progress_step = 0
            job.total_steps = job.steps
            job.error = ""
            job.batch_leader = leader
            job.worker_id = leader.worker_id
            set_status(job, JobStatus.RUNNING, comment=f"generation started in one batch with job {leader.pk}",
                       fields=["progress_step", "total_steps", "error", "batch_leader", "worker"])
            members.append(job)
            images += job.image_count
    offset = 0
    for job in members:
        if job is not leader and job in readopted:
            # Never keep two sets (nothing should be there: images are saved with the status).
            generation_job_images_delete(job)
        job.batch_offset, job.batch_size, job.worker_id = offset, images, leader.worker_id
        job.save(update_fields=["batch_offset", "batch_size", "worker"])
        offset += job.image_count
    return members


def _batch_end(*, job_ids: Sequence[int], leader_id: int, attempt: dt.datetime | None, to_status: str, comment: str,
               error: str = "") -> None:
    """End every job of the call still running under this leader (another attempt may have ended some)."""
    for job_id in job_ids:
        with transaction.atomic():
            if not _attempt_is_current(leader_id=leader_id, attempt=attempt):
                return
            job = GenerationJob.objects.select_for_update(of=("self",)).filter(pk=job_id).first()
            if job is None or job.status != JobStatus.RUNNING or job.batch_leader_id != leader_id:
                continue
            job.error = error
            set_status(job, to_status, comment=comment, fields=["error"])


def _job_images_save(*, job_id: int, leader_id: int, attempt: dt.datetime | None, pictures: list,
                     lora: specs.LoraRef | None, engine) -> None:
    """Store one job's images and mark it succeeded, atomically; a failure here fails this job only. Its posts are
    drafted after commit (whoever receives signals.job_images_ready), so no post rule can cost a rendered image."""
    saved_files: list[str] = []
    try:
        with transaction.atomic():
            if not _attempt_is_current(leader_id=leader_id, attempt=attempt):
                return  # a later attempt of this call renders it again and records it
            job = GenerationJob.objects.select_for_update(of=("self",)).select_related("persona").filter(
                pk=job_id).first()
            if job is None or job.status != JobStatus.RUNNING or job.batch_leader_id != leader_id:
                return  # cancelled, finished or re-run by another attempt meanwhile
            if job.cancel_requested:  # asked during the batch or after its last step: honoured, nothing is saved
                set_status(job, JobStatus.CANCELLED, comment="cancelled before its images were saved")
                return
            seeds = _job_request(job, lora).seeds
            if len(pictures) != len(seeds):
                raise RuntimeError(f"The engine returned {len(pictures)} images for {len(seeds)} seeds.")
            generation_job_images_delete(job)  # nothing should be there; never keep two sets
            environment = engine.environment()
            for index, (seed, rendered) in enumerate(zip(seeds, pictures, strict=True)):
                picture = rendered.image
                image = GeneratedImage(
                    job=job, index=index, seed=seed, width=picture.width, height=picture.height,
                    base_model=engine.base_model_id, base_model_hash=engine.base_model_hash,
                    lora_sha256=lora.sha256 if lora is not None else "", prompt=job.prompt,
                    negative_prompt=job.negative_prompt, steps=job.steps, guidance=job.guidance,
                    scheduler=job.scheduler, mode=job.mode, strength=job.strength, init_sha256=job.init_sha256,
                    mask_sha256=job.mask_sha256, source_image_id=job.source_image_id, stages=rendered.stages,
                    environment=environment, **candidate_fields(job=job, index=index),
                )
                data = specs.png_bytes_with_parameters(picture, record=_png_record(image, lora))
                image.sha256 = hashlib.sha256(data).hexdigest()
                image.image.save(candidate_filename(job=job, index=index, seed=seed), ContentFile(data), save=False)
                image.width, image.height = picture.width, picture.height  # the file assignment resets them
                saved_files.append(image.image.name)
                image.save()
            # Done: all of the steps the call reported (at least the job's own denoising steps).
            job.progress_step = job.total_steps = max(job.total_steps, job.steps)
            fields = ["progress_step", "total_steps"]
            if not job.is_sample:
                job.drafting_status = DraftingStatus.PENDING
                fields.append("drafting_status")
                # robust: a broker that is down must not fail a job whose images are saved; the sweep re-sends.
                # Drafting scores the images' likeness first (default queue).
                transaction.on_commit(lambda: job_images_ready.send(sender=GenerationJob, job_id=job_id),
                                      robust=True)
            else:
                on_commit_score(job_id)
            set_status(job, JobStatus.SUCCEEDED, comment=f"{len(pictures)} images", fields=fields)
    except Exception as exc:
        logger.exception("Saving the images of generation job %s failed", job_id)
        storage = GeneratedImage._meta.get_field("image").storage
        for name in saved_files:  # rolled-back rows leave files behind
            storage.delete(name)
        _batch_end(job_ids=[job_id], leader_id=leader_id, attempt=attempt, to_status=JobStatus.FAILED,
                   comment="generation failed", error=error_text(exc))


def generation_job_run(*, job_id: int) -> GenerationJob | None:
    """Task body: render the job's variants in one pipeline call and store them.

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
        job = (GenerationJob.objects.select_for_update(of=("self",)).select_related("persona", "base_model_entry")
               .filter(pk=job_id).first())
        if job is None:
            logger.warning("Generation job %s no longer exists.", job_id)
            return None
        if job.status in FINISHED:
            return job
        if job.status == JobStatus.RUNNING and job.batch_leader_id not in (None, job.pk):
            return job
        reset = {"progress_step": 0, "total_steps": job.steps, "error": "", "batch_leader": job, "batch_offset": 0,
                 "batch_size": job.image_count}
        if not run_attempt_start(job, what="generation", cancelled="cancelled before it started", reset=reset):
            return job
        attempt = job.started_at

    job_ids = [job_id]
    lora = None
    try:
        lora = lora_ref_fetch(job.lora_version) if job.lora_version_id else None
        engine = engine_for(job.base_model_entry)
        with transaction.atomic():
            batch = _batch_claim(leader_id=job_id, attempt=attempt, max_images=engine.max_batch)
        if not batch:
            return GenerationJob.objects.filter(pk=job_id).first()
        job_ids = [member.pk for member in batch]
        in_this_call = GenerationJob.objects.filter(pk__in=job_ids, status=JobStatus.RUNNING, batch_leader_id=job_id)

        last_report = [-float("inf")]
        # The engine counts each stage's steps from 1 (the render, then hires and face detail with steps of their
        # own): the progress counts the whole call, the stages before this one included, and never passes 100 %.
        stage = {"done": 0, "step": 0, "total": 0}

        def on_step(step: int, total: int) -> bool:
            if step <= stage["step"]:  # a new stage began
                stage["done"] += stage["total"]
            stage["step"], stage["total"] = step, total
            now = _progress_clock()
            if step < total and now - last_report[0] < GENERATION_PROGRESS_INTERVAL_S:
                return True
            last_report[0] = now
            in_this_call.update(progress_step=stage["done"] + min(step, total), total_steps=stage["done"] + total)
            # Go on while any job of the call still wants its images.
            return in_this_call.filter(cancel_requested=False).exists()

        pictures = engine.render_batch([_job_request(member, lora) for member in batch], on_step=on_step)
        if len(pictures) != len(batch):
            raise RuntimeError(f"The engine returned {len(pictures)} image sets for {len(batch)} jobs.")
    except specs.EngineCancelled:
        _batch_end(job_ids=job_ids, leader_id=job_id, attempt=attempt, to_status=JobStatus.CANCELLED,
                   comment="cancelled during generation")
        return GenerationJob.objects.filter(pk=job_id).first()
    except Exception as exc:
        logger.exception("Generation job %s failed", job_id)
        _batch_end(job_ids=job_ids, leader_id=job_id, attempt=attempt, to_status=JobStatus.FAILED,
                   comment="generation failed", error=error_text(exc, shown=_lora_shown(job, lora)))
        return GenerationJob.objects.filter(pk=job_id).first()
    for member, member_pictures in zip(batch, pictures, strict=True):
        _job_images_save(job_id=member.pk, leader_id=job_id, attempt=attempt, pictures=member_pictures, lora=lora,
                         engine=engine)
    return GenerationJob.objects.filter(pk=job_id).first()


def generated_image_reproduce(*, generated_image: GeneratedImage) -> bytes:
    """Render `generated_image` again from its stored record; the PNG bytes match the stored file."""
    job = generated_image.job
    engine = engine_for(job.base_model_entry)
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
        lora = lora_ref_fetch(job.lora_version)
        if lora.sha256 != generated_image.lora_sha256:
            raise Conflict(f"The LoRA weights of image {generated_image.pk} changed since it was rendered.")
    # Batched rendering is not bit-identical to rendering one seed alone (different kernel blocking), so the
    # whole pipeline call is rendered again, with every job that shared it, and this image's position is picked.
    if job.seed is None or generated_image.index >= job.image_count or \
            int(job.seed) + generated_image.index != generated_image.seed:
        # The render size: the job's when a stage resized the output (hires), else the image's own.
        resized = "hires" in (generated_image.stages or {})
        requests = [replace(
            _job_request(job, lora), prompt=generated_image.prompt, negative_prompt=generated_image.negative_prompt,
            seeds=[generated_image.seed], steps=generated_image.steps, guidance=generated_image.guidance,
            scheduler=generated_image.scheduler, width=job.width if resized else generated_image.width,
            height=job.height if resized else generated_image.height,
        )]
        position = (0, 0)
    else:
        batch = generation_job_render_batch(job=job)
        requests = [_job_request(member, lora) for member in batch]
        position = (batch.index(job), generated_image.index)
    pictures = engine.render_batch(requests)
    picture = pictures[position[0]][position[1]].image
    return specs.png_bytes_with_parameters(picture, record=_png_record(generated_image, lora))
