"""Jobs with the finishing stages and from init images, end to end with the tiny engine on CPU: hires at exactly the
platform's size (the export does not resize it), variations of a generated image, an inpainted fix that becomes a
new version of its post, and byte-identical reproduction of each."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.platforms import platform_target_size
from generation import services
from generation.jobs import render as worker
from generation.models import GenerationJob, JobStatus
from provenance.labeling import image_fit
from scheduler.models import Post, PostImageJob, PostImageVersion
from scheduler.posts.jobs import post_image_job_create
from tests.conftest import client_for
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures

pytestmark = pytest.mark.slow


def run(django_capture_on_commit_callbacks, **kwargs) -> GenerationJob:
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery: the task (and drafting) run here
        job = services.generation_job_create(scene="reading in a park", platform="instagram", steps=3,
                                             face_detail=False, **kwargs)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


def pixels(field) -> np.ndarray:
    with field.open("rb") as fh, Image.open(fh) as img:
        return np.asarray(img.convert("RGB"), dtype=np.int16)


def test_hires_job_is_exactly_the_platform_size_the_export_keeps_and_it_reproduces(
        persona, marketer, active_lora, django_capture_on_commit_callbacks):
    job = run(django_capture_on_commit_callbacks, actor=marketer, persona=persona, num_variants=1, seed=31,
              upscale=True)
    image = job.images.get()
    target = platform_target_size("instagram")
    assert (image.width, image.height) == target == (job.output_width, job.output_height)
    assert (job.width, job.height) == (64, 80)  # rendered at the tiny model's size, then upscaled and refined
    assert image.stages["hires"]["strength"] == 0.35 and image.stages["hires"]["width"] == 1080
    assert image.environment["device"] == "cpu" and image.environment["torch"]
    with image.image.open("rb") as fh, Image.open(fh) as png:
        assert "Hires resize: 1080x1350" in png.text["parameters"]
        stored = png.convert("RGB")
    assert np.array_equal(np.asarray(image_fit(stored, target)), np.asarray(stored))  # the export does not resize
    with image.image.open("rb") as fh:
        assert worker.generated_image_reproduce(generated_image=image) == fh.read()


def test_variations_of_a_generated_image_record_their_source(persona, marketer, active_lora,
                                                             django_capture_on_commit_callbacks):
    first = run(django_capture_on_commit_callbacks, actor=marketer, persona=persona, num_variants=1, seed=3)
    source = first.images.get()
    job = run(django_capture_on_commit_callbacks, actor=marketer, persona=persona, num_variants=2, seed=8,
              mode="img2img", source_image_id=source.pk, strength=0.5)
    with source.image.open("rb") as fh:
        source_sha = hashlib.sha256(fh.read()).hexdigest()
    images = list(job.images.all())
    assert len(images) == 2
    for image in images:
        assert image.mode == "img2img" and image.strength == 0.5 and image.source_image_id == source.pk
        assert image.init_sha256 == source_sha == job.init_sha256
    assert worker.generated_image_reproduce(generated_image=images[1]) == images[1].image.open("rb").read()
    assert Post.objects.count() == 3  # one draft per variant, as for txt2img


def test_inpainting_a_draft_makes_a_new_version_and_keeps_the_old_one(persona, marketer, active_lora,
                                                                      django_capture_on_commit_callbacks):
    first = run(django_capture_on_commit_callbacks, actor=marketer, persona=persona, num_variants=1, seed=5)
    post = Post.objects.get()
    old = post.images.get()
    old_sha, old_pixels = old.sha256, pixels(old.image)
    mask = Image.new("L", (old.width, old.height), 0)
    ImageDraw.Draw(mask).rectangle((16, 20, 47, 59), fill=255)
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery: the render and the new version run here
        job = post_image_job_create(actor=marketer, persona=persona, post_id=post.pk, position=0, mode="inpaint",
                                    scene="reading in a park", mask=buffer.getvalue(), strength=1.0, seed=6, steps=3,
                                    face_detail=False)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.num_variants == 1 and PostImageJob.objects.get(job=job).post_id == post.pk
    fixed = job.images.get()
    assert fixed.mask_sha256 == job.mask_sha256 and fixed.source_image_id == first.images.get().pk
    current = post.images.get()
    assert current.pk == old.pk and current.generated_image_id == fixed.pk and current.sha256 != old_sha
    version = PostImageVersion.objects.get(post=post)
    assert version.sha256 == old_sha and version.generated_image_id == first.images.get().pk
    assert np.array_equal(pixels(version.image), old_pixels)  # the old file is kept
    inside = np.asarray(mask) == 255
    diff = np.abs(pixels(current.image) - old_pixels).max(axis=2)
    assert diff[~inside].max() == 0 and diff[inside].mean() > 5
    assert Post.objects.count() == 1  # a new version, not a new post

    body = client_for(marketer).get(f"/api/v1/posts/{post.pk}/").json()
    assert [i["sha256"] for i in body["images"]] == [current.sha256]
    assert [v["sha256"] for v in body["image_versions"]] == [old_sha]
    assert any("new version" in t["comment"] for t in body["transitions"])
    assert worker.generated_image_reproduce(generated_image=fixed) == fixed.image.open("rb").read()


def test_reproduce_through_the_api_reports_identical_for_a_cpu_render(persona, marketer, active_lora,
                                                                     django_capture_on_commit_callbacks):
    job = run(django_capture_on_commit_callbacks, actor=marketer, persona=persona, num_variants=1, seed=13)
    image = job.images.get()
    client = client_for(marketer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/generated-images/{image.pk}/reproduce/")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    check = client.get(f"/api/v1/reproduction-checks/{response.json()['id']}/").json()
    assert check["status"] == "succeeded", check["error"]
    assert check["verdict"] == "identical" and check["identical"] is True and check["differing_pixels"] == 0
    assert check["environment"]["device"] == "cpu" and check["environment"]["diffusers"]
    record = client.get(f"/api/v1/generated-images/{image.pk}/").json()["reproduction"]
    assert record["environment"]["dtype"] == "float32" and record["environment"]["torch"]
