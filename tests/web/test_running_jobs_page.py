"""The running-jobs card of the dashboard names the worker that holds each run."""

from __future__ import annotations

import pytest
from django.urls import reverse

from generation.models import JobStatus
from generation.runtime import heartbeats
from tests.factories import GenerationJobFactory, LoraVersionFactory

pytestmark = pytest.mark.django_db


def test_running_jobs_show_the_worker_holding_each(client, marketer, persona):
    gpu = heartbeats.worker_heartbeat_register(name="gpu0@render-1", queues=["gpu"])
    LoraVersionFactory(persona=persona, status=JobStatus.RUNNING, worker=gpu)
    GenerationJobFactory(persona=persona, status=JobStatus.RUNNING, worker=gpu)
    GenerationJobFactory(persona=persona, status=JobStatus.QUEUED)
    client.force_login(marketer)
    content = client.get(reverse("dashboard_jobs")).content.decode()
    assert content.count("on worker gpu0@render-1") == 2
