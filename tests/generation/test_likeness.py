"""Likeness per generated image, on real photographs standing in for renders (tests/faces.py): scored on the default
queue after the render, recorded on the image and in its reproduction record, an off-model draft held in drafts with
its reason, "not applicable" for a persona that is not a human face; the LoRA version report and activation."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.errors import Conflict
from generation import services
from generation.jobs import likeness
from generation.jobs import render as worker
from generation.models import GeneratedImage, JobStatus, LikenessStatus
from generation.runtime import tasks
from personas.services import persona_update, reference_images_upload
from scheduler import tasks as scheduler_tasks
from scheduler.models import Post, PostStatus, PostTransition
from tests import faces
from tests.conftest import client_for
from tests.factories import LoraVersionFactory
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures
from tests.generation.workflow_fixtures import FakeEngine, _job

SIZE = (512, 640)


class PhotoEngine(FakeEngine):
    """Renders the given photos, one per seed in order, instead of noise."""

    def __init__(self, pictures):
        super().__init__()
        self.pictures = pictures

    def generate_batch(self, requests, *, on_step=None):
        super().generate_batch(requests, on_step=on_step)
        return [[faces.on_canvas(self.pictures[i % len(self.pictures)], (r.width, r.height))
                 for i, _seed in enumerate(r.seeds)] for r in requests]


@pytest.fixture
def human(persona, marketer):
    persona_update(actor=marketer, persona=persona, is_human_face=True)
    edits = faces.variants(faces.astronaut())
    files = [SimpleUploadedFile(name, faces.jpeg_bytes(faces.at_least(img)), content_type="image/jpeg")
             for name, img in (("front.jpg", faces.astronaut()), ("flip.jpg", edits["flip"]),
                               ("dark.jpg", edits["darker"]))]
    reference_images_upload(actor=marketer, persona=persona, files=files)
    persona.refresh_from_db()
    assert persona.face_centroid is not None
    return persona


def _render(job, pictures, monkeypatch, after_commit):
    """Render `pictures` as the job's images; the tasks enqueued on commit (drafting, which scores first, or the
    likeness task for samples) run in-process, as the default-queue worker would run them."""
    monkeypatch.setattr(worker, "engine_for", lambda *args: PhotoEngine(pictures))
    monkeypatch.setattr(scheduler_tasks.draft_posts, "delay", lambda job_id: scheduler_tasks.draft_posts(job_id))
    monkeypatch.setattr(tasks.score_likeness, "delay", lambda job_id: tasks.score_likeness(job_id))
    with after_commit():
        worker.generation_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def test_each_image_is_scored_and_an_off_model_draft_is_held_with_its_reason(human, marketer, monkeypatch,
                                                                              after_commit):
    pictures = [faces.variants(faces.astronaut())["brighter"], faces.grace_hopper(), faces.noise(512)]
    job = _render(_job(human, marketer, num_variants=3, width=SIZE[0], height=SIZE[1]), pictures, monkeypatch,
                  after_commit)
    assert job.status == JobStatus.SUCCEEDED
    same, other, noise = job.images.order_by("index")
    assert same.likeness_status == LikenessStatus.SCORED and same.on_model is True and same.face_found
    assert same.likeness_score > 0.65 and same.likeness_distance < 0.4 and same.likeness_threshold == 0.6
    assert other.likeness_status == LikenessStatus.SCORED and other.on_model is False
    assert other.likeness_score < 0.5 and other.likeness_distance > 0.6
    assert noise.likeness_status == LikenessStatus.NO_FACE and noise.face_found is False
    assert noise.likeness_score is None and noise.on_model is None  # no face is not a likeness of zero

    posts = {p.images.get().generated_image_id: p for p in Post.objects.filter(persona=human)}
    assert posts[same.pk].status == PostStatus.IN_REVIEW and posts[noise.pk].status == PostStatus.IN_REVIEW
    held = posts[other.pk]
    assert held.status == PostStatus.DRAFT
    note = PostTransition.objects.get(post=held).comment
    assert "Held in drafts: off-model (likeness" in note and "threshold 0.60" in note

    # Idempotent: a redelivered task scores nothing again.
    assert tasks.score_likeness(job.pk) == 0
    assert likeness.job_likeness_score(job_id=job.pk, force=True) == 3


def test_a_persona_can_opt_out_of_holding_off_model_drafts(human, marketer, monkeypatch, after_commit):
    persona_update(actor=marketer, persona=human, hold_off_model_drafts=False)
    job = _render(_job(human, marketer, num_variants=1, width=SIZE[0], height=SIZE[1]), [faces.grace_hopper()],
                  monkeypatch, after_commit)
    image = job.images.get()
    assert image.on_model is False
    assert Post.objects.get(persona=human).status == PostStatus.IN_REVIEW


def test_a_stricter_persona_threshold_decides_on_model(human, marketer, monkeypatch, after_commit):
    persona_update(actor=marketer, persona=human, likeness_threshold=0.05)
    job = _render(_job(human, marketer, num_variants=1, width=SIZE[0], height=SIZE[1]),
                  [faces.variants(faces.astronaut())["resize"]], monkeypatch, after_commit)
    image = job.images.get()
    assert image.likeness_threshold == 0.05 and image.on_model is False and image.likeness_score > 0.65


def test_not_a_human_face_is_not_applicable(persona, marketer, monkeypatch, after_commit):
    job = _render(_job(persona, marketer, num_variants=1, width=SIZE[0], height=SIZE[1]), [faces.grace_hopper()],
                  monkeypatch, after_commit)
    image = job.images.get()
    assert image.likeness_status == LikenessStatus.NOT_APPLICABLE and image.on_model is None
    assert image.likeness_reason.startswith("the persona is marked as not a human face")
    assert Post.objects.get(persona=persona).status == PostStatus.IN_REVIEW


def test_reviewer_samples_are_scored_on_the_default_queue(human, marketer, monkeypatch, after_commit):
    from config.celery import app

    assert app.amqp.router.route({}, tasks.score_likeness.name)["queue"].name == "default"
    job = _render(_job(human, marketer, num_variants=1, width=SIZE[0], height=SIZE[1], is_sample=True),
                  [faces.astronaut()], monkeypatch, after_commit)
    assert job.images.get().on_model is True and not Post.objects.exists()


def test_the_api_shows_likeness_on_the_image_and_in_its_record(human, marketer, monkeypatch, after_commit):
    job = _render(_job(human, marketer, num_variants=1, width=SIZE[0], height=SIZE[1]), [faces.astronaut()],
                  monkeypatch, after_commit)
    body = client_for(marketer).get(f"/api/v1/generation-jobs/{job.pk}/").json()
    (image,) = body["images"]
    assert image["likeness_status"] == "scored" and image["on_model"] is True and image["face_found"] is True
    assert 0.65 < image["likeness_score"] <= 1 and image["likeness_distance"] < 0.4
    record = image["reproduction"]["likeness"]
    assert record["score"] == image["likeness_score"] and record["backend"] == "dlib-resnet-v1"
    (post_id,) = image["post_ids"]
    (on_post,) = client_for(marketer).get(f"/api/v1/posts/{post_id}/likeness/").json()
    assert on_post["generated_image"] == image["id"] and on_post["on_model"] is True
    assert on_post["likeness_score"] == image["likeness_score"]


def test_version_report_counts_faces_not_found_as_such(human):
    report = likeness.version_report(
        persona=human, lora_pictures=[faces.astronaut(), faces.noise(256)],
        base_pictures=[faces.grace_hopper(), faces.noise(256, seed=1)],
        prompts=[{"scene": "a", "seed": 1}, {"scene": "b", "seed": 2}],
    )
    version, base = report["version"], report["base_model"]
    assert report["status"] == "scored" and version["images"] == 2 and version["faces_found"] == 1
    assert version["face_found_rate"] == 0.5 and version["scored"] == 1 and version["no_face"] == 1
    # The noise image is not averaged in as zero.
    assert version["mean_likeness"] == version["min_likeness"] > 0.65
    assert base["mean_likeness"] < 0.5 and base["on_model"] == 0
    assert report["images"][1]["version"]["likeness_status"] == "no_face"


def test_activating_a_version_that_looks_less_like_the_persona_asks_for_confirmation(human, marketer):
    def report(mean):
        return {"status": "scored", "version": {"mean_likeness": mean, "face_found_rate": 1.0}}

    LoraVersionFactory(persona=human, version=1, status=JobStatus.SUCCEEDED, is_active=True,
                       likeness_report=report(0.8))
    worse = LoraVersionFactory(persona=human, version=2, status=JobStatus.SUCCEEDED, likeness_report=report(0.6))
    better = LoraVersionFactory(persona=human, version=3, status=JobStatus.SUCCEEDED, likeness_report=report(0.9))
    with pytest.raises(Conflict) as caught:
        services.lora_version_activate(actor=marketer, lora_version_id=worse.pk)
    assert caught.value.code == "likeness_worse" and "0.60 is below the active version's 0.80" in caught.value.message
    client = client_for(marketer)
    assert client.post(f"/api/v1/lora-versions/{worse.pk}/activate/").status_code == 409
    response = client.post(f"/api/v1/lora-versions/{worse.pk}/activate/", {"confirm": True}, format="json")
    assert response.status_code == 200 and response.json()["is_active"] is True
    assert services.lora_version_activate(actor=marketer, lora_version_id=better.pk).is_active


def test_a_failing_likeness_never_costs_a_draft(human, marketer, monkeypatch, after_commit):
    def broken(**kwargs):
        raise RuntimeError("face model crashed")

    monkeypatch.setattr(likeness, "job_likeness_score", broken)
    job = _render(_job(human, marketer, num_variants=1, width=SIZE[0], height=SIZE[1]), [faces.grace_hopper()],
                  monkeypatch, after_commit)
    assert job.images.get().likeness_status == LikenessStatus.PENDING
    assert Post.objects.get(persona=human).status == PostStatus.IN_REVIEW
    assert GeneratedImage.objects.count() == 1
