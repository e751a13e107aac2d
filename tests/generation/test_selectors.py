import pytest

from generation import selectors
from generation.models import JobStatus
from tests.factories import GeneratedImageFactory, GenerationJobFactory, LoraVersionFactory, PersonaFactory

pytestmark = pytest.mark.django_db


def test_rows_are_found_only_inside_the_callers_workspaces(persona):
    job = GenerationJobFactory(persona=persona)
    version = LoraVersionFactory(persona=persona)
    mine, theirs = [persona.workspace_id], [PersonaFactory().workspace_id]
    assert selectors.generation_job_in_workspaces(job_id=job.pk, workspace_ids=mine) == job
    assert selectors.generation_job_in_workspaces(job_id=job.pk, workspace_ids=theirs) is None
    assert selectors.lora_version_in_workspaces(lora_version_id=version.pk, workspace_ids=mine) == version
    assert selectors.lora_version_in_workspaces(lora_version_id=version.pk, workspace_ids=theirs) is None


def test_runs_active_lists_queued_and_running_runs_of_the_workspace(persona):
    running = LoraVersionFactory(persona=persona, status=JobStatus.RUNNING)
    LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED)
    queued = GenerationJobFactory(persona=persona, status=JobStatus.QUEUED)
    GenerationJobFactory(persona=persona, status=JobStatus.FAILED)
    GenerationJobFactory(status=JobStatus.RUNNING)  # another workspace
    versions, jobs = selectors.runs_active(workspace_id=persona.workspace_id)
    assert (versions, jobs) == ([running], [queued])


def test_persona_page_reads(persona):
    old, new = LoraVersionFactory(persona=persona, version=1), LoraVersionFactory(persona=persona, version=2)
    sample_job = GenerationJobFactory(persona=persona, lora_version=new, is_sample=True)
    sample = GeneratedImageFactory(job=sample_job, index=0)
    job = GenerationJobFactory(persona=persona)
    second, first = GeneratedImageFactory(job=job, index=1), GeneratedImageFactory(job=job, index=0)
    GeneratedImageFactory(job=GenerationJobFactory(persona=persona))  # a job not asked for

    assert selectors.persona_lora_versions(persona=persona) == [new, old]
    assert selectors.persona_recent_jobs(persona=persona)[-1] == job  # samples left out, newest first
    assert sample_job not in selectors.persona_recent_jobs(persona=persona)
    images = selectors.job_and_sample_images(job_ids=[job.pk], lora_version_ids=[new.pk, old.pk])
    assert set(images) == {sample, first, second}
    assert selectors.job_and_sample_images(lora_version_ids=[new.pk]) == [sample]
    assert selectors.generation_job_images(job=job) == [first, second]
    assert selectors.generation_job_images(job=job, ids=[second.pk]) == [second]
