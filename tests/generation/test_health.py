"""/healthz, /readyz (each dependency reported) and /metrics (queue depth per queue, job outcomes and durations,
GPU seconds per persona)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from config.celery import app
from generation.models import JobStatus, WorkerHeartbeat
from generation.runtime import heartbeats
from tests.core.test_health import _send, broker  # noqa: F401 - the private-broker fixture
from tests.factories import GenerationJobFactory, LoraVersionFactory, PersonaFactory
from tests.services import broker_pools_reset

pytestmark = pytest.mark.django_db


def _metric(text: str, name: str, **labels) -> float:
    """The value of one sample of the Prometheus text format (labels in any order)."""
    wanted = {key: str(value) for key, value in labels.items()}
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match and match.group(1) == name and dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or "")) == wanted:
            return float(match.group(3))
    raise AssertionError(f"{name} {labels} not in the metrics:\n" + "\n".join(
        line for line in text.splitlines() if line.startswith(name)))


def test_healthz_answers_without_reaching_anything(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"ok": True}


def test_readyz_reports_each_dependency_and_waits_for_a_gpu_worker(client, broker, settings):  # noqa: F811
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert set(checks) == {"database", "broker", "storage", "gpu_worker"}
    assert checks["database"]["ok"] and checks["broker"]["ok"] and checks["storage"]["ok"]
    assert checks["broker"]["detail"] == broker
    assert checks["gpu_worker"] == {
        "ok": False, "seconds": checks["gpu_worker"]["seconds"],
        "detail": "LookupError: no worker on the 'gpu' queue has sent a heartbeat in the last 60 s",
    }  # fmt: skip

    heartbeats.worker_heartbeat_register(name="default@box", queues=["default"])
    assert client.get("/readyz").status_code == 503  # a default-queue worker renders nothing
    gpu = heartbeats.worker_heartbeat_register(name="gpu0@box", queues=["gpu"])
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["gpu_worker"]["detail"] == "1 on 'gpu': gpu0@box"

    WorkerHeartbeat.objects.filter(pk=gpu.pk).update(last_seen=timezone.now() - dt.timedelta(seconds=61))
    assert client.get("/readyz").status_code == 503  # silent past the timeout


def test_readyz_names_an_unreachable_broker(client, settings):
    heartbeats.worker_heartbeat_register(name="gpu0@box", queues=["gpu"])
    saved = app.conf.broker_url, app.conf.broker_transport_options
    app.conf.update(broker_url="redis://127.0.0.1:9/0", broker_transport_options={})
    broker_pools_reset(app)
    try:
        response = client.get("/readyz")
    finally:
        app.conf.update(broker_url=saved[0], broker_transport_options=saved[1])
        broker_pools_reset(app)
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert not checks["broker"]["ok"] and "Connection refused" in checks["broker"]["detail"]
    assert checks["database"]["ok"] and checks["storage"]["ok"] and checks["gpu_worker"]["ok"]


@pytest.mark.services
def test_readyz_reaches_the_object_store(client, s3_media):
    checks = client.get("/readyz").json()["checks"]
    assert checks["storage"] == {**checks["storage"], "ok": True, "detail": f"s3 bucket {s3_media.bucket}"}


def test_metrics_include_queue_depth_job_outcomes_durations_and_gpu_seconds(client, broker, settings):  # noqa: F811
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    try:
        _send("gpu", 2)
        _send("default", 1)
        persona, other = PersonaFactory(), PersonaFactory()
        start = timezone.now() - dt.timedelta(hours=1)
        GenerationJobFactory(persona=persona, status=JobStatus.SUCCEEDED, started_at=start,
                             finished_at=start + dt.timedelta(seconds=10))
        GenerationJobFactory(persona=persona, status=JobStatus.FAILED, started_at=start,
                             finished_at=start + dt.timedelta(seconds=100))
        GenerationJobFactory(persona=other, status=JobStatus.RUNNING, started_at=start)
        LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED, started_at=start,
                           finished_at=start + dt.timedelta(seconds=600))
        heartbeats.worker_heartbeat_register(name="gpu0@box", queues=["gpu"])
        response = client.get("/metrics")
    finally:
        app.conf.task_always_eager = True
    assert response.status_code == 200
    text = response.content.decode()
    assert _metric(text, "persona_studio_queue_depth", queue="gpu") == 2
    assert _metric(text, "persona_studio_queue_depth", queue="default") == 1
    assert _metric(text, "persona_studio_workers_alive", queue="gpu") == 1
    assert _metric(text, "persona_studio_generation_jobs", status="failed") == 1
    assert _metric(text, "persona_studio_generation_jobs", status="running") == 1
    assert _metric(text, "persona_studio_generation_job_failures_total") == 1
    assert _metric(text, "persona_studio_generation_job_duration_seconds_count") == 2
    assert _metric(text, "persona_studio_generation_job_duration_seconds_sum") == 110
    assert _metric(text, "persona_studio_generation_job_duration_seconds_bucket", le="15.0") == 1
    assert _metric(text, "persona_studio_generation_job_duration_seconds_bucket", le="120.0") == 2
    assert _metric(text, "persona_studio_training_run_duration_seconds_count") == 1
    gpu_seconds = _metric(text, "persona_studio_gpu_seconds_total", workspace_id=persona.workspace_id,
                          persona_id=persona.pk)
    assert gpu_seconds == 710  # both jobs and the training run; the running job counts once it ends
    assert f'persona_id="{other.pk}"' not in text
    assert "django_http_requests_total_by_method_total" in text  # django-prometheus's own request metrics
