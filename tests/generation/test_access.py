"""Generation's role checks follow the one rule (core.access): active superusers pass, inactive ones do not."""

import pytest

from core.errors import NotFound
from generation import services
from generation.models import JobStatus
from tests.factories import GenerationJobFactory, LoraVersionFactory
from tests.generation.workflow_fixtures import persona_with_refs  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def test_superusers_pass_every_role_check_and_inactive_ones_none(persona_with_refs, superuser, inactive_superuser):  # noqa: F811
    persona = persona_with_refs
    with pytest.raises(NotFound):
        services.lora_training_start(actor=inactive_superuser, persona=persona)
    with pytest.raises(NotFound):
        services.generation_job_create(
            actor=inactive_superuser, persona=persona, scene="at the beach", platform="x", allow_base_model=True
        )
    version = services.lora_training_start(actor=superuser, persona=persona)
    assert services.lora_training_cancel(actor=superuser, lora_version_id=version.pk).status == JobStatus.CANCELLED
    job = services.generation_job_create(
        actor=superuser, persona=persona, scene="at the beach", platform="x", allow_base_model=True
    )
    assert job.created_by == superuser
    assert services.generation_job_cancel(actor=superuser, job_id=job.pk).status == JobStatus.CANCELLED


def test_an_outsider_cannot_tell_a_foreign_run_from_a_missing_one(persona, marketer, outsider):
    job = GenerationJobFactory(persona=persona, created_by=marketer)
    version = LoraVersionFactory(persona=persona, created_by=marketer)
    for job_id in (job.pk, job.pk + 1000):
        with pytest.raises(NotFound, match="^Generation job not found.$"):
            services.generation_job_cancel(actor=outsider, job_id=job_id)
    for version_id in (version.pk, version.pk + 1000):
        with pytest.raises(NotFound, match="^LoRA version not found.$"):
            services.lora_training_cancel(actor=outsider, lora_version_id=version_id)
