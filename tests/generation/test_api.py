from __future__ import annotations

import pytest
from django.urls import include, path

from generation.models import GenerationJob, JobStatus, LoraVersion
from scheduler.models import Post
from tests.conftest import client_for
from tests.factories import (
    GeneratedImageFactory,
    GenerationJobFactory,
    LoraVersionFactory,
    PostFactory,
    PostImageFactory,
)
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures


@pytest.fixture
def no_enqueue(monkeypatch):
    """Record what would be sent to the gpu queue instead of running it."""
    from generation.runtime import tasks

    sent = []
    monkeypatch.setattr(tasks.train_lora, "delay", lambda *a: sent.append(("train", *a)))
    monkeypatch.setattr(tasks.generate_images, "delay", lambda *a: sent.append(("generate", *a)))
    return sent


# --- LoRA versions ---------------------------------------------------------------------------------


def test_start_training_and_list_versions(persona_with_refs, marketer, no_enqueue,
                                          django_capture_on_commit_callbacks):
    client = client_for(marketer)
    url = f"/api/v1/personas/{persona_with_refs.pk}/lora-versions/"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"steps": 40, "rank": 8, "learning_rate": 0.0002}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["version"] == 1 and body["status"] == "queued"
    assert body["hyperparameters"]["steps"] == 40 and body["hyperparameters"]["rank"] == 8
    assert body["total_steps"] == 40 and body["progress"] == 0.0
    assert no_enqueue == [("train", body["id"])]

    listing = client.get(url).json()
    assert [v["id"] for v in listing["results"]] == [body["id"]]


def test_start_training_errors_are_clear(persona, marketer):
    client = client_for(marketer)
    response = client.post(f"/api/v1/personas/{persona.pk}/lora-versions/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "not_enough_reference_images"
    assert "at least 3 reference images" in response.json()["detail"]

    response = client.post(f"/api/v1/personas/{persona.pk}/lora-versions/", {"steps": 0}, format="json")
    assert response.status_code == 400
    assert "steps" in response.json()["extra"]["fields"]


def test_lora_version_detail_shows_progress_loss_and_error(persona, marketer):
    version = LoraVersionFactory(
        persona=persona, status=JobStatus.FAILED, progress_step=30, total_steps=120,
        loss_curve=[0.9, 0.7], error="RuntimeError: CUDA out of memory", sha256="",
    )
    body = client_for(marketer).get(f"/api/v1/lora-versions/{version.pk}/").json()
    assert body["status"] == "failed"
    assert body["progress_step"] == 30 and body["total_steps"] == 120 and body["progress"] == 25.0
    assert body["loss_curve"] == [0.9, 0.7]
    assert body["error"] == "RuntimeError: CUDA out of memory"
    assert body["sample_job"] is None


def test_cancel_and_activate_lora_versions(persona, marketer):
    client = client_for(marketer)
    queued = LoraVersionFactory(persona=persona, version=1, status=JobStatus.QUEUED)
    response = client.post(f"/api/v1/lora-versions/{queued.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    response = client.post(f"/api/v1/lora-versions/{queued.pk}/cancel/")
    assert response.status_code == 409

    response = client.post(f"/api/v1/lora-versions/{queued.pk}/activate/")
    assert response.status_code == 409
    done = LoraVersionFactory(persona=persona, version=2, status=JobStatus.SUCCEEDED)
    response = client.post(f"/api/v1/lora-versions/{done.pk}/activate/")
    assert response.status_code == 200 and response.json()["is_active"] is True


# --- generation jobs -------------------------------------------------------------------------------


def test_create_generation_job(persona, marketer, active_lora, no_enqueue, django_capture_on_commit_callbacks):
    client = client_for(marketer)
    payload = {"persona": persona.pk, "scene": "hiking at sunrise", "platform": "tiktok", "num_variants": 2,
               "seed": 77, "steps": 12, "guidance": 6.5, "scheduler": "euler_a"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/generation-jobs/", payload, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert no_enqueue == [("generate", body["id"])]
    assert body["status"] == "queued" and body["lora_version"] == active_lora.pk
    assert body["lora_version_number"] == active_lora.version
    assert (body["width"], body["height"]) == (72, 128)
    assert body["seed"] == 77 and body["steps"] == 12 and body["scheduler"] == "euler_a"
    assert body["total_steps"] == 12 and body["images"] == [] and body["post_ids"] == []


def test_create_generation_job_errors(persona, marketer, no_enqueue):
    client = client_for(marketer)
    response = client.post(
        "/api/v1/generation-jobs/", {"persona": persona.pk, "scene": "x", "platform": "instagram"}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "no_active_lora"
    response = client.post(
        "/api/v1/generation-jobs/",
        {"persona": persona.pk, "scene": "x", "platform": "myspace", "scheduler": "ddim"},
        format="json",
    )
    assert response.status_code == 400
    assert {"platform", "scheduler"} <= set(response.json()["extra"]["fields"])
    assert not GenerationJob.objects.exists() and no_enqueue == []


def test_job_detail_shows_images_records_posts_and_error(persona, marketer):
    lora = LoraVersionFactory(persona=persona, version=3, status=JobStatus.SUCCEEDED, sha256="a" * 64)
    job = GenerationJobFactory(persona=persona, lora_version=lora, status=JobStatus.SUCCEEDED, seed=10,
                               num_variants=2, progress_step=4, total_steps=4)
    first = GeneratedImageFactory(job=job, index=0, seed=10, lora_sha256="a" * 64, base_model_hash="b" * 64)
    GeneratedImageFactory(job=job, index=1, seed=11, lora_sha256="a" * 64)
    post = PostFactory(persona=persona)
    PostImageFactory(post=post, generated_image=first)
    failed = GenerationJobFactory(persona=persona, status=JobStatus.FAILED, error="EngineError: LoRA file missing")

    client = client_for(marketer)
    body = client.get(f"/api/v1/generation-jobs/{job.pk}/").json()
    assert body["progress"] == 100.0 and body["post_ids"] == [post.pk]
    image = body["images"][0]
    assert image["url"].startswith("/media/workspaces/") and image["url"].endswith(".png")
    assert image["post_ids"] == [post.pk]
    record = image["reproduction"]
    assert record["seed"] == 10 and record["lora_sha256"] == "a" * 64 and record["base_model_hash"] == "b" * 64
    assert record["lora_version"] == 3 and record["batch_size"] == 2 and record["batch_pos"] == 0
    assert record["prompt"] == first.prompt and record["scheduler"] == "dpmpp_2m_karras"

    body = client.get(f"/api/v1/generation-jobs/{failed.pk}/").json()
    assert body["status"] == "failed" and body["error"] == "EngineError: LoRA file missing"

    listing = client.get("/api/v1/generation-jobs/", {"status": "failed"}).json()
    assert [j["id"] for j in listing["results"]] == [failed.pk]
    listing = client.get("/api/v1/generation-jobs/", {"persona": persona.pk}).json()
    assert {j["id"] for j in listing["results"]} == {job.pk, failed.pk}


def test_batched_jobs_show_their_render_batch_with_one_lookup_per_job(persona, marketer):
    leader = GenerationJobFactory(persona=persona, status=JobStatus.SUCCEEDED, seed=10, num_variants=2, batch_size=6)
    leader.batch_leader = leader
    leader.save()
    companion = GenerationJobFactory(persona=persona, status=JobStatus.SUCCEEDED, seed=50, num_variants=4,
                                     batch_leader=leader, batch_offset=2, batch_size=6)
    for job in (leader, companion):
        for index in range(job.num_variants):
            GeneratedImageFactory(job=job, index=index, seed=job.seed + index)

    client = client_for(marketer)
    body = client.get(f"/api/v1/generation-jobs/{companion.pk}/").json()
    assert (body["batch_leader"], body["batch_size"]) == (leader.pk, 6)
    records = [image["reproduction"] for image in body["images"]]
    assert [r["batch_job_ids"] for r in records] == [[leader.pk, companion.pk]] * 4
    assert [(r["batch_size"], r["batch_pos"]) for r in records] == [(6, 2), (6, 3), (6, 4), (6, 5)]

    def listed_queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/generation-jobs/").status_code == 200
        return len(captured)

    baseline = listed_queries()
    for _ in range(3):  # three more batched jobs of four images: one batch lookup each, not one per image
        extra = GenerationJobFactory(persona=persona, status=JobStatus.SUCCEEDED, seed=90, num_variants=4,
                                     batch_leader=leader, batch_offset=6, batch_size=10)
        for index in range(4):
            GeneratedImageFactory(job=extra, index=index, seed=90 + index)
    assert listed_queries() <= baseline + 3


def test_cancel_generation_job(persona, marketer):
    job = GenerationJobFactory(persona=persona, status=JobStatus.QUEUED)
    client = client_for(marketer)
    response = client.post(f"/api/v1/generation-jobs/{job.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    running = GenerationJobFactory(persona=persona, status=JobStatus.RUNNING)
    response = client.post(f"/api/v1/generation-jobs/{running.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "running" and response.json()["cancel_requested"] is True


@pytest.mark.slow
def test_generation_through_the_api_runs_eagerly_and_reports_progress(
    persona, marketer, active_lora, django_capture_on_commit_callbacks
):
    client = client_for(marketer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/generation-jobs/",
            {"persona": persona.pk, "scene": "coffee at a cafe", "platform": "instagram", "num_variants": 2,
             "steps": 2, "seed": 5},
            format="json",
        )
    assert response.status_code == 201
    body = client.get(f"/api/v1/generation-jobs/{response.json()['id']}/").json()
    assert body["status"] == "succeeded", body["error"]
    assert body["progress_step"] == 2 and body["progress"] == 100.0
    assert len(body["images"]) == 2 and len(body["post_ids"]) == 2
    assert set(Post.objects.values_list("pk", flat=True)) == set(body["post_ids"])


# --- permission boundaries -------------------------------------------------------------------------


def test_other_workspace_gets_404_everywhere(persona_with_refs, outsider, no_enqueue):
    persona = persona_with_refs
    version = LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED)
    job = GenerationJobFactory(persona=persona, status=JobStatus.QUEUED)
    client = client_for(outsider)
    assert client.get(f"/api/v1/personas/{persona.pk}/lora-versions/").status_code == 404
    assert client.post(f"/api/v1/personas/{persona.pk}/lora-versions/", {}, format="json").status_code == 404
    assert client.get(f"/api/v1/lora-versions/{version.pk}/").status_code == 404
    assert client.post(f"/api/v1/lora-versions/{version.pk}/cancel/").status_code == 404
    assert client.post(f"/api/v1/lora-versions/{version.pk}/activate/").status_code == 404
    assert client.get(f"/api/v1/generation-jobs/{job.pk}/").status_code == 404
    assert client.post(f"/api/v1/generation-jobs/{job.pk}/cancel/").status_code == 404
    response = client.post(
        "/api/v1/generation-jobs/",
        {"persona": persona.pk, "scene": "x", "platform": "instagram", "allow_base_model": True},
        format="json",
    )
    assert response.status_code == 404
    assert client.get("/api/v1/generation-jobs/").json()["results"] == []
    assert LoraVersion.objects.count() == 1 and GenerationJob.objects.count() == 1 and no_enqueue == []


def test_reviewer_can_read_but_not_start_training_or_generation(persona_with_refs, reviewer, no_enqueue):
    persona = persona_with_refs
    version = LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED)
    job = GenerationJobFactory(persona=persona, status=JobStatus.QUEUED)
    client = client_for(reviewer)
    assert client.get(f"/api/v1/personas/{persona.pk}/lora-versions/").status_code == 200
    assert client.get(f"/api/v1/generation-jobs/{job.pk}/").status_code == 200
    assert client.post(f"/api/v1/personas/{persona.pk}/lora-versions/", {}, format="json").status_code == 403
    response = client.post(
        "/api/v1/generation-jobs/",
        {"persona": persona.pk, "scene": "x", "platform": "instagram", "allow_base_model": True},
        format="json",
    )
    assert response.status_code == 403
    assert client.post(f"/api/v1/generation-jobs/{job.pk}/cancel/").status_code == 403
    assert client.post(f"/api/v1/lora-versions/{version.pk}/activate/").status_code == 403
    assert no_enqueue == []


def test_anonymous_is_rejected(persona, api_client):
    assert api_client.get("/api/v1/generation-jobs/").status_code in (401, 403)


# --- OpenAPI ---------------------------------------------------------------------------------------


def test_openapi_schema_for_generation_views_has_no_warnings():
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/v1/", include("generation.api.urls"))])
    schema = generator.get_schema(request=None, public=True)
    validate_schema(schema)
    assert not GENERATOR_STATS._warn_cache and not GENERATOR_STATS._error_cache
    assert "/api/v1/generation-jobs/{id}/cancel/" in schema["paths"]
    assert "/api/v1/personas/{persona_id}/lora-versions/" in schema["paths"]
