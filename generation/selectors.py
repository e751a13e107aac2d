"""Reads for LoRA versions, generation jobs and their images, scoped to the user's workspaces."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from core.errors import NotFound, ValidationFailed
from generation.engine.families import Family, model_family
from generation.engine.specs import BaseModelRef
from generation.models import (
    BaseModel,
    BaseModelLayout,
    BaseModelStatus,
    GeneratedImage,
    GenerationJob,
    JobStatus,
    LoraVersion,
    PersonaBaseModel,
    ReproductionCheck,
)
from personas.models import Persona
from personas.selectors import workspace_ids_for_user


def lora_version_list(*, user: AbstractBaseUser, persona_id: int | None = None) -> QuerySet[LoraVersion]:
    qs = LoraVersion.objects.filter(persona__workspace_id__in=workspace_ids_for_user(user=user))
    if persona_id is not None:
        qs = qs.filter(persona_id=persona_id)
    return qs.select_related("persona", "base_model_entry")


def lora_version_get(*, user: AbstractBaseUser, lora_version_id: int) -> LoraVersion:
    version = lora_version_list(user=user).filter(pk=lora_version_id).first()
    if version is None:
        raise NotFound("LoRA version not found.")
    return version


def lora_version_active(*, persona_id: int) -> LoraVersion | None:
    """The persona's active, usable LoRA (internal: callers have already scoped the persona)."""
    return LoraVersion.objects.filter(persona_id=persona_id, is_active=True, status=JobStatus.SUCCEEDED).first()


def lora_version_sample_job(*, lora_version: LoraVersion) -> GenerationJob | None:
    return (
        GenerationJob.objects.filter(lora_version=lora_version, is_sample=True)
        .order_by("created_at", "id")
        .prefetch_related("images")
        .first()
    )


def _with_images(qs: QuerySet[GenerationJob]) -> QuerySet[GenerationJob]:
    # The rows that show an image (its posts' images) are another app's: reached through the reverse relation.
    shown_in = GeneratedImage.post_images.rel.related_model
    post_images = shown_in.objects.only("id", "post_id", "generated_image_id").order_by("post_id")
    return qs.select_related("persona", "lora_version").prefetch_related(
        Prefetch("images", queryset=GeneratedImage.objects.prefetch_related(Prefetch("post_images", post_images)))
    )


def generation_job_list(
    *,
    user: AbstractBaseUser,
    persona_id: int | None = None,
    status: str | None = None,
    is_sample: bool | None = None,
) -> QuerySet[GenerationJob]:
    qs = GenerationJob.objects.filter(persona__workspace_id__in=workspace_ids_for_user(user=user))
    if persona_id is not None:
        qs = qs.filter(persona_id=persona_id)
    if status:
        qs = qs.filter(status=status)
    if is_sample is not None:
        qs = qs.filter(is_sample=is_sample)
    return _with_images(qs)


def generation_job_get(*, user: AbstractBaseUser, job_id: int) -> GenerationJob:
    job = generation_job_list(user=user).filter(pk=job_id).first()
    if job is None:
        raise NotFound("Generation job not found.")
    return job


def generated_image_get(*, user: AbstractBaseUser, image_id: int) -> GeneratedImage:
    image = (
        GeneratedImage.objects.filter(pk=image_id, job__persona__workspace_id__in=workspace_ids_for_user(user=user))
        .select_related("job", "job__persona", "job__lora_version")
        .first()
    )
    if image is None:
        raise NotFound("Generated image not found.")
    return image


def generated_image_list(*, user: AbstractBaseUser) -> QuerySet[GeneratedImage]:
    return GeneratedImage.objects.filter(job__persona__workspace_id__in=workspace_ids_for_user(user=user))


def reproduction_check_list(*, user: AbstractBaseUser) -> QuerySet[ReproductionCheck]:
    return ReproductionCheck.objects.filter(
        image__job__persona__workspace_id__in=workspace_ids_for_user(user=user)
    ).select_related("image")


def reproduction_check_get(*, user: AbstractBaseUser, check_id: int) -> ReproductionCheck:
    check = reproduction_check_list(user=user).filter(pk=check_id).first()
    if check is None:
        raise NotFound("Reproduction check not found.")
    return check


def generated_images_with_last_check(qs: QuerySet[GeneratedImage]) -> QuerySet[GeneratedImage]:
    """Annotate each image with its latest reproduction check (in the same query): see reproduce_verdict()."""
    latest = ReproductionCheck.objects.filter(image_id=OuterRef("pk")).order_by("-created_at", "-id")
    return qs.annotate(**{f"check_{name}": Subquery(latest.values(name)[:1])
                          for name in ("status", "identical", "differing_pixels", "max_delta", "error")})


def reproduce_verdict(image: GeneratedImage) -> str:
    """The latest reproduce verdict of an image annotated by generated_images_with_last_check ("" when none)."""
    status = getattr(image, "check_status", None)
    if not status:
        return ""
    return ReproductionCheck(status=status, identical=image.check_identical,
                             differing_pixels=image.check_differing_pixels, max_delta=image.check_max_delta,
                             error=image.check_error or "").verdict


def generated_image_last_checks(*, image_ids: Iterable[int]) -> dict[int, ReproductionCheck]:
    """The latest reproduction check of each image (internal: callers have scoped the images)."""
    latest: dict[int, ReproductionCheck] = {}
    for check in ReproductionCheck.objects.filter(image_id__in=list(image_ids)).order_by("created_at", "id"):
        latest[check.image_id] = check
    return latest


def generation_job_post_ids(*, job: GenerationJob) -> list[int]:
    """Ids of the posts drafted from this job's images, in image order (uses prefetched rows when present)."""
    ids: list[int] = []
    for image in job.images.all():
        for post_image in image.post_images.all():
            if post_image.post_id not in ids:
                ids.append(post_image.post_id)
    return ids


def generation_job_render_batch(*, job: GenerationJob) -> list[GenerationJob]:
    """The jobs of the pipeline call that rendered `job`, in call order; [job] when it ran alone, or when that
    call can no longer be rebuilt (a job of it was deleted)."""
    if job.batch_leader_id is None or job.batch_size <= job.image_count:
        return [job]
    # Every job of the call counts, cancelled ones too: their prompts and seeds took their places in it.
    members = list(GenerationJob.objects.filter(batch_leader_id=job.batch_leader_id, batch_size=job.batch_size)
                   .order_by("batch_offset", "id"))
    offset = 0
    for member in members:
        if member.batch_offset != offset:
            return [job]
        offset += member.image_count
    return members if offset == job.batch_size and job in members else [job]


def lora_adapter_name(version: LoraVersion) -> str:
    return f"persona{version.persona_id}_v{version.version}"


def reproduction_record(image: GeneratedImage, *, lora_adapter: str = "") -> dict:
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
        "lora_adapter": lora_adapter,
        "mode": image.mode,
        "strength": image.strength,
        "init_sha256": image.init_sha256,
        "mask_sha256": image.mask_sha256,
        "source_image": image.source_image_id,
        "stages": image.stages or {},
        "environment": image.environment or {},
    }


def generated_image_record(
    *, generated_image: GeneratedImage, batch: Sequence[GenerationJob] | None = None
) -> dict:
    """The reproduction record of an image, as the API shows it (`batch`: its job's render batch, if known)."""
    job = generated_image.job
    adapter = lora_adapter_name(job.lora_version) if job.lora_version_id and generated_image.lora_sha256 else ""
    record = reproduction_record(generated_image, lora_adapter=adapter)
    record["lora_version"] = job.lora_version.version if job.lora_version_id else None
    # The pipeline call that rendered it (these jobs' seeds and prompts, in order) and its position there
    # reproduce it exactly; rendered alone it differs by batched-matmul rounding.
    batch = list(batch) if batch is not None else generation_job_render_batch(job=job)
    record["batch_job_ids"] = [member.pk for member in batch]
    record["batch_size"] = sum(member.image_count for member in batch)
    record["batch_pos"] = (job.batch_offset if len(batch) > 1 else 0) + generated_image.index
    record["likeness"] = {
        "status": generated_image.likeness_status, "score": generated_image.likeness_score,
        "distance": generated_image.likeness_distance, "face_found": generated_image.face_found,
        "on_model": generated_image.on_model, "threshold": generated_image.likeness_threshold,
        "backend": generated_image.likeness_backend, "reason": generated_image.likeness_reason,
    }
    return record


def generated_images_for_persona(*, persona: Persona, ids: Iterable[int]) -> list[GeneratedImage]:
    """GeneratedImage rows of `persona` with these ids, in the order given (duplicates once); raises if any id
    is not one of them. Internal: callers have already scoped the persona."""
    wanted = list(dict.fromkeys(int(i) for i in ids))
    found = {
        gi.pk: gi for gi in GeneratedImage.objects.filter(pk__in=wanted, job__persona=persona).select_related("job")
    }
    missing = [i for i in wanted if i not in found]
    if missing:
        raise ValidationFailed(f"Generated image(s) {', '.join(map(str, missing))} not found for persona {persona.pk}.")
    return [found[i] for i in wanted]


# --- For a caller already scoped to the workspace (the pages) ------------------------------------------------

ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


def generation_job_in_workspaces(*, job_id: int, workspace_ids: Iterable[int]) -> GenerationJob | None:
    """The job (with its persona and workspace) if it belongs to one of these workspaces (the caller's)."""
    return (
        GenerationJob.objects.select_related("persona", "persona__workspace")
        .filter(pk=job_id, persona__workspace_id__in=list(workspace_ids))
        .first()
    )


def lora_version_in_workspaces(*, lora_version_id: int, workspace_ids: Iterable[int]) -> LoraVersion | None:
    """The LoRA version (with its persona, workspace and base model) if it belongs to one of these workspaces."""
    return (
        LoraVersion.objects.select_related("persona", "persona__workspace", "base_model_entry")
        .filter(pk=lora_version_id, persona__workspace_id__in=list(workspace_ids))
        .first()
    )


def runs_active(*, workspace_id: int, limit: int = 20) -> tuple[list[LoraVersion], list[GenerationJob]]:
    """The workspace's queued and running trainings and generation jobs, oldest first, with the worker on each."""
    versions = (
        LoraVersion.objects.filter(persona__workspace_id=workspace_id, status__in=ACTIVE_STATUSES)
        .select_related("persona", "worker")
        .order_by("created_at")[:limit]
    )
    jobs = (
        GenerationJob.objects.filter(persona__workspace_id=workspace_id, status__in=ACTIVE_STATUSES)
        .select_related("persona", "worker")
        .order_by("created_at")[:limit]
    )
    return list(versions), list(jobs)


def persona_lora_versions(*, persona: Persona, limit: int = 10) -> list[LoraVersion]:
    """The persona's latest versions, with the base model each was trained on (its family decides the fit)."""
    return list(
        LoraVersion.objects.filter(persona=persona).select_related("base_model_entry").order_by("-version")[:limit]
    )


def persona_recent_jobs(*, persona: Persona, limit: int = 8) -> list[GenerationJob]:
    """The persona's latest generation jobs (reviewer samples left out), with their LoRA versions."""
    return list(
        GenerationJob.objects.filter(persona=persona, is_sample=False)
        .select_related("lora_version")
        .order_by("-created_at", "-id")[:limit]
    )


def job_and_sample_images(
    *, job_ids: Iterable[int] = (), lora_version_ids: Iterable[int] = ()
) -> list[GeneratedImage]:
    """In one query: the images of these jobs and the reviewer sample images of these LoRA versions, by job
    creation then index, each with its job."""
    return list(generated_images_with_last_check(
        GeneratedImage.objects.filter(
            Q(job_id__in=list(job_ids)) | Q(job__is_sample=True, job__lora_version_id__in=list(lora_version_ids))
        )
        .select_related("job")
        .order_by("job__created_at", "index")
    ))


def generation_job_images(*, job: GenerationJob, ids: Iterable[int] | None = None) -> list[GeneratedImage]:
    """The job's images by index (only those with these ids, when given), with their last reproduce check."""
    qs = generated_images_with_last_check(GeneratedImage.objects.filter(job=job).select_related("job"))
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return list(qs.order_by("index"))


# --- the base-model library ------------------------------------------------------------------------


def base_model_list(*, include_archived: bool = False) -> QuerySet[BaseModel]:
    """The installation's base models (every user may see the library), with their samples."""
    qs = BaseModel.objects.all() if include_archived else BaseModel.objects.filter(status=BaseModelStatus.ACTIVE)
    return qs.prefetch_related("samples")


def base_model_get(*, base_model_id: int, include_archived: bool = True) -> BaseModel:
    entry = base_model_list(include_archived=include_archived).filter(pk=base_model_id).first()
    if entry is None:
        raise NotFound("Base model not found.")
    return entry


def base_model_default() -> BaseModel | None:
    return BaseModel.objects.filter(is_default=True).first()


def persona_base_model(*, persona: Persona) -> BaseModel | None:
    """The model a persona trains and generates on: its choice, else the default (None: no library yet)."""
    choice = PersonaBaseModel.objects.filter(persona=persona).select_related("base_model").first()
    return choice.base_model if choice is not None else base_model_default()


# What a page shows of a persona's base model (in the model's field order): persona_with_base_model loads these.
PERSONA_BASE_MODEL_FIELDS = ("id", "name", "family", "native_size", "status", "is_default")


def persona_with_base_model(*, persona_id: int, workspace_ids: Iterable[int]) -> Persona | None:
    """personas.selectors.persona_in_workspaces with `current_base_model`, what persona_base_model answers, set in
    the same query (the persona page has a query budget): PERSONA_BASE_MODEL_FIELDS are loaded, any other field
    loads on access, as with .only()."""
    choice = PersonaBaseModel.objects.filter(persona=OuterRef("pk"))
    default = BaseModel.objects.filter(is_default=True)
    persona = (
        Persona.objects.select_related("workspace")
        .annotate(**{f"current_base_model_{name}": Coalesce(
            Subquery(choice.values(f"base_model__{name}")[:1]), Subquery(default.values(name)[:1]),
            output_field=BaseModel._meta.get_field(name)) for name in PERSONA_BASE_MODEL_FIELDS})
        .filter(pk=persona_id, workspace_id__in=list(workspace_ids))
        .first()
    )
    if persona is None:
        return None
    values = [getattr(persona, f"current_base_model_{name}") for name in PERSONA_BASE_MODEL_FIELDS]
    persona.current_base_model = (
        None if values[0] is None else BaseModel.from_db(persona._state.db, PERSONA_BASE_MODEL_FIELDS, values))
    return persona


def base_model_personas(*, user: AbstractBaseUser, base_model: BaseModel,
                        workspace_id: int | None = None) -> QuerySet[Persona]:
    """The personas of the user's workspaces (or of one of them) on this model (those without a choice are on the
    default)."""
    qs = Persona.objects.filter(workspace_id__in=workspace_ids_for_user(user=user))
    if workspace_id is not None:
        qs = qs.filter(workspace_id=workspace_id)
    if base_model.is_default:
        return qs.exclude(base_model_choice__base_model__is_default=False)
    return qs.filter(base_model_choice__base_model=base_model)


def base_model_family(base_model: BaseModel) -> Family:
    return Family(name=base_model.family, native_size=base_model.native_size)


def base_model_ref(base_model: BaseModel | None) -> BaseModelRef | None:
    """What a worker needs to load the entry (None: the process default, GENERATION_BASE_MODEL)."""
    if base_model is None:
        return None
    # A built-in model is rebuilt from code, not copied: its hash is recorded, not checked.
    sha256 = "" if base_model.layout == BaseModelLayout.BUILTIN else base_model.sha256
    return BaseModelRef(location=base_model.location, config_dir=base_model.config_dir, sha256=sha256)


def lora_version_family(version: LoraVersion) -> str:
    """The family of the base model a version was trained on."""
    if version.base_model_family:
        return version.base_model_family
    if version.base_model_entry_id is not None:
        return version.base_model_entry.family
    return model_family(version.base_model).name


def lora_version_fits(*, version: LoraVersion, base_model: BaseModel | None) -> bool:
    """Whether a LoRA applies to a base model: trained on the same family (a LoRA of one SD 1.5 checkpoint fits
    another SD 1.5 checkpoint; never an SDXL one)."""
    return base_model is None or lora_version_family(version) == base_model.family
