from generation.jobs import render as worker
from generation.api.jobs import GenerationJobSerializer
from tests.generation.workflow_fixtures import *  # noqa
from tests.generation.workflow_fixtures import _job
from generation.models import JobStatus


def test_probe(persona, marketer, active_lora):
    job = _job(persona, marketer, lora=active_lora, steps=50, total_steps=50, upscale=True, output_width=96,
               output_height=120, status=JobStatus.RUNNING)
    worker.generation_job_run(job_id=job.pk)
    job.refresh_from_db()
    print("RESULT", job.status, job.error, job.progress_step, job.total_steps, GenerationJobSerializer(job).data["progress"])
