from __future__ import annotations

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from config.celery import app
from generation.models import JobStatus
from generation.runtime import tasks
from tests.factories import GenerationJobFactory, LoraVersionFactory, ReferenceImageFactory
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures


@pytest.mark.parametrize("task", [tasks.train_lora, tasks.generate_images])
def test_tasks_are_routed_to_the_gpu_queue_and_survive_worker_loss(task):
    route = app.amqp.router.route({}, task.name, args=(1,), kwargs={})
    assert route["queue"].name == "gpu"
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True
    assert task.soft_time_limit and task.time_limit > task.soft_time_limit


def test_generate_images_task_runs_the_service(persona, marketer, fake_engine):
    job = GenerationJobFactory(persona=persona, created_by=marketer, seed=1, width=64, height=80, steps=2)
    assert tasks.generate_images.delay(job.pk).get() == JobStatus.SUCCEEDED
    job.refresh_from_db()
    assert job.images.count() == job.num_variants


def test_tasks_for_missing_rows_are_no_ops(db, fake_engine):
    assert tasks.generate_images.delay(999_999).get() is None
    assert tasks.train_lora.delay(999_999).get() is None
    assert fake_engine.generate_calls == 0 and fake_engine.train_calls == 0


def test_soft_time_limit_marks_training_failed(persona, marketer, fake_engine):
    for _ in range(3):
        ReferenceImageFactory(persona=persona)
    version = LoraVersionFactory(persona=persona, status=JobStatus.QUEUED, hyperparameters={"steps": 4})
    fake_engine.fail_with = SoftTimeLimitExceeded()
    assert tasks.train_lora.delay(version.pk).get() == JobStatus.FAILED
    version.refresh_from_db()
    assert "time limit exceeded" in version.error


def test_redelivered_generation_task_does_not_make_a_second_set(persona, marketer, fake_engine):
    job = GenerationJobFactory(persona=persona, created_by=marketer, seed=1, width=64, height=80, steps=2)
    tasks.generate_images.delay(job.pk)
    tasks.generate_images.delay(job.pk)
    assert fake_engine.generate_calls == 1
    assert job.images.count() == job.num_variants
