"""How far the demo workspace's seeding got, for the dashboard: read from the demo's own rows (its LoRA version's
steps, its jobs' steps, the galleries), so it cannot go stale; the DemoSeed row only says whether it is asked for,
running, ready or stopped. The stages follow web.demo.demo_workspace_fill's order."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q

from generation.models import (
    BaseModel,
    BaseModelStatus,
    DraftingStatus,
    GenerationJob,
    JobStatus,
    LoraVersion,
    SamplesStatus,
    TrainingStage,
)
from generation.selectors import lora_version_sample_job
from generation.transitions import FINISHED
from personas.models import Persona, Workspace
from web.models import DEMO_BUILTIN_MODELS, DEMO_PERSONA_HANDLE, DEMO_SCENES, DEMO_WORKSPACE_SLUG, DemoSeed
from web.models import DemoSeedStatus as Status


@dataclass(frozen=True)
class DemoProgress:
    status: str  # a DemoSeedStatus
    stage: str
    done: int | None = None
    total: int | None = None
    unit: str = "steps"
    error: str = ""


def demo_progress(*, workspace: Workspace) -> DemoProgress | None:
    """The demo's stage and step counts while it is seeded; None for any other workspace and once it is ready.
    No query for a workspace other than the demo's."""
    if workspace.slug != DEMO_WORKSPACE_SLUG:
        return None
    seed = DemoSeed.objects.filter(workspace=workspace).first()
    if seed is None or seed.status == Status.READY:
        return None
    if seed.status == Status.FAILED:
        return DemoProgress(seed.status, "seeding stopped", error=seed.error)
    if seed.status == Status.QUEUED:
        return DemoProgress(seed.status, "waiting for the GPU worker")
    persona = Persona.objects.filter(workspace=workspace, handle=DEMO_PERSONA_HANDLE).first()
    if persona is None:
        return DemoProgress(seed.status, "creating the demo persona")
    return _lora_stage(persona, seed) or _drafts_stage(persona) or _galleries_stage() or DemoProgress(
        Status.RUNNING, "finishing")


def _lora_stage(persona: Persona, seed: DemoSeed) -> DemoProgress | None:
    versions = LoraVersion.objects.filter(persona=persona).order_by("-version")
    succeeded = versions.filter(status=JobStatus.SUCCEEDED).first()
    if succeeded is None:
        version = versions.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).first()
        if version is None:
            return DemoProgress(Status.RUNNING, "training the demo LoRA", 0, seed.training_steps)
        if version.progress_stage == TrainingStage.CLASS_IMAGES:
            return DemoProgress(Status.RUNNING, "rendering the demo LoRA's class images", version.progress_step,
                                version.total_steps, "images")
        return DemoProgress(Status.RUNNING, "training the demo LoRA", version.progress_step, version.total_steps)
    samples = lora_version_sample_job(lora_version=succeeded)
    if samples is None:
        return DemoProgress(Status.RUNNING, "rendering the demo LoRA's reviewer samples", 0, None)
    if samples.status not in FINISHED:
        return DemoProgress(Status.RUNNING, "rendering the demo LoRA's reviewer samples", samples.progress_step,
                            samples.total_steps)
    return None


def _drafts_stage(persona: Persona) -> DemoProgress | None:
    scenes = [scene for scene, _ in DEMO_SCENES]
    jobs = list(
        GenerationJob.objects.filter(persona=persona, is_sample=False, scene__in=scenes)
        .exclude(status__in=[JobStatus.FAILED, JobStatus.CANCELLED])
        .only("scene", "status", "drafting_status", "progress_step", "total_steps")
    )
    drafted = {job.scene for job in jobs
               if job.status == JobStatus.SUCCEEDED and job.drafting_status != DraftingStatus.PENDING}
    if len(drafted) == len(scenes):
        return None
    return DemoProgress(Status.RUNNING, "rendering the demo drafts", sum(job.progress_step for job in jobs),
                        sum(job.total_steps for job in jobs) or None)


def _galleries_stage() -> DemoProgress | None:
    counts = BaseModel.objects.filter(location__in=DEMO_BUILTIN_MODELS, status=BaseModelStatus.ACTIVE).aggregate(
        total=Count("pk"), ready=Count("pk", filter=Q(samples_status=SamplesStatus.READY)))
    if counts["ready"] >= counts["total"]:
        return None
    return DemoProgress(Status.RUNNING, "rendering the built-in models' sample galleries", counts["ready"],
                        counts["total"], "galleries")
