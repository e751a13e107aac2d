"""Image-to-image and inpaint jobs through the API: the options in the schema, and bad input refused with a clear
4xx before anything is written or queued."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from generation.models import GenerationJob
from scheduler.models import PostImageJob, PostStatus
from tests.conftest import client_for
from tests.factories import GeneratedImageFactory, GenerationJobFactory, PersonaFactory, PostFactory, PostImageFactory
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures


@pytest.fixture
def no_enqueue(monkeypatch):
    from generation.runtime import tasks

    sent = []
    monkeypatch.setattr(tasks.generate_images, "delay", lambda *a: sent.append(a))
    return sent


def png(size=(512, 640), colour=(120, 80, 60), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def mask_png(size=(512, 640), box=(100, 100, 300, 300)) -> bytes:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()


def upload(data: bytes, name: str = "image.png"):
    file = io.BytesIO(data)
    file.name = name
    return file


def post_job(client, persona, **fields):
    payload = {"persona": persona.pk, "scene": "at the beach", "platform": "instagram", **fields}
    return client.post("/api/v1/generation-jobs/", payload, format="multipart")


def post_image_job(client, post, **fields):
    """A job from one of a post's images: served by scheduler (scheduler.posts.jobs)."""
    payload = {"scene": "at the beach", **fields}
    return client.post(f"/api/v1/posts/{post.pk}/image-jobs/", payload, format="multipart")


def test_img2img_from_an_uploaded_photo_records_its_sha256(persona, marketer, active_lora, no_enqueue,
                                                            django_capture_on_commit_callbacks):
    client = client_for(marketer)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_job(client, persona, mode="img2img", strength="0.4", init_image=upload(png()),
                            upscale="true", face_detail="false")
    assert response.status_code == 201, response.json()
    body = response.json()
    job = GenerationJob.objects.get(pk=body["id"])
    assert body["mode"] == "img2img" and body["strength"] == 0.4 and body["upscale"] is True
    assert (body["output_width"], body["output_height"]) == (1080, 1350)
    assert body["face_detail"] is False and body["source_image"] is None
    with job.init_image.open("rb") as fh:
        import hashlib

        assert hashlib.sha256(fh.read()).hexdigest() == job.init_sha256 == body["init_sha256"]
    assert len(no_enqueue) == 1


def test_defaults_follow_the_settings_and_txt2img_takes_no_image_options(persona, marketer, active_lora, no_enqueue,
                                                                        settings):
    client = client_for(marketer)
    settings.GENERATION_HIRES_DEFAULT = settings.GENERATION_FACE_DETAIL_DEFAULT = True
    body = post_job(client, persona).json()
    assert body["mode"] == "txt2img" and body["upscale"] is True
    assert body["face_detail"] is False  # the factory's persona is not a human face
    persona.is_human_face = True
    persona.save(update_fields=["is_human_face"])
    assert post_job(client, persona).json()["face_detail"] is True
    assert (body["output_width"], body["output_height"]) == (1080, 1350) and body["strength"] is None
    response = post_job(client, persona, strength="0.5")
    assert response.status_code == 400 and "txt2img" in response.json()["detail"]


def test_variations_of_a_generated_image(persona, marketer, active_lora, no_enqueue):
    source = GeneratedImageFactory(job=GenerationJobFactory(persona=persona))
    body = post_job(client_for(marketer), persona, mode="img2img", source_image=source.pk).json()
    assert body["source_image"] == source.pk and body["strength"] == 0.6
    with source.image.open("rb") as fh:
        import hashlib

        assert body["init_sha256"] == hashlib.sha256(fh.read()).hexdigest()


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"mode": "img2img"}, "exactly one source"),
        ({"mode": "img2img", "init_image": b"not an image at all"}, "refused"),
        ({"mode": "img2img", "init_image": b""}, "empty"),
        ({"mode": "img2img", "init_image": "html"}, "HTML"),
        ({"mode": "img2img", "init_image": "bomb"}, "decompression bomb"),
        ({"mode": "img2img", "init_image": "photo", "strength": "0"}, "(0, 1]"),
        ({"mode": "img2img", "init_image": "photo", "strength": "1.5"}, "(0, 1]"),
        ({"mode": "img2img", "init_image": "photo", "strength": "-0.2"}, "(0, 1]"),
        ({"mode": "inpaint", "init_image": "photo"}, "needs a mask"),
        ({"mode": "inpaint", "init_image": "photo", "mask": b"GIF89a nonsense"}, "mask was refused"),
        ({"mode": "inpaint", "init_image": "photo", "mask": "wrong_size"}, "must match"),
        ({"mode": "inpaint", "init_image": "photo", "mask": "white"}, "all white"),
        ({"mode": "inpaint", "init_image": "photo", "mask": "black"}, "all black"),
        ({"mode": "inpaint", "init_image": "photo", "mask": "good", "upscale": "true"}, "keeps the image's size"),
        ({"mode": "img2img", "init_image": "photo", "mask": "good"}, "inpaint only"),
    ],
)
def test_bad_input_is_a_clear_400_and_nothing_is_queued(persona, marketer, active_lora, no_enqueue, settings,
                                                         fields, needle):
    settings.REFERENCE_IMAGE_MAX_PIXELS = 1_000_000
    files = {
        "photo": lambda: png(),
        "html": lambda: b"<html><body>hi</body></html>",
        "bomb": lambda: png((1200, 1200)),
        "wrong_size": lambda: mask_png((256, 256)),
        "white": lambda: png(colour=255, mode="L"),
        "black": lambda: png(colour=0, mode="L"),
        "good": lambda: mask_png(),
    }
    payload = {}
    for name, value in fields.items():
        if name in ("init_image", "mask"):
            value = files[value]() if isinstance(value, str) else value
            payload[name] = upload(value)
        else:
            payload[name] = value
    response = post_job(client_for(marketer), persona, **payload)
    assert response.status_code == 400, response.json()
    assert needle in str(response.json())
    assert not GenerationJob.objects.exists() and no_enqueue == []


def test_sources_of_another_workspace_are_404_and_of_another_persona_400(persona, marketer, active_lora, no_enqueue):
    client = client_for(marketer)
    foreign_image = GeneratedImageFactory()  # another workspace
    foreign_post = PostImageFactory().post
    assert post_job(client, persona, mode="img2img", source_image=foreign_image.pk).status_code == 404
    response = post_image_job(client, foreign_post, mode="inpaint", mask=upload(mask_png((1080, 1350))))
    assert response.status_code == 404
    sibling = PersonaFactory(workspace=persona.workspace)
    other_persona_image = GeneratedImageFactory(job=GenerationJobFactory(persona=sibling))
    response = post_job(client, persona, mode="img2img", source_image=other_persona_image.pk)
    assert response.status_code == 400 and "another persona" in response.json()["detail"]
    assert not GenerationJob.objects.filter(persona=persona).exists() and no_enqueue == []


def test_inpainting_a_post_targets_its_image_and_refuses_approved_posts(persona, marketer, active_lora, no_enqueue):
    client = client_for(marketer)
    post = PostFactory(persona=persona, status=PostStatus.IN_REVIEW)
    PostImageFactory(post=post, position=0)
    response = post_image_job(client, post, mode="inpaint", mask=upload(mask_png((1080, 1350))))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["target_post"] == post.pk and body["num_variants"] == 1 and body["upscale"] is False
    assert len(body["mask_sha256"]) == 64 and body["strength"] == 0.6 and body["persona"] == persona.pk
    row = PostImageJob.objects.get(job_id=body["id"])
    assert (row.post_id, row.position, row.replaces) == (post.pk, 0, True)
    response = post_image_job(client, post, mode="inpaint", num_variants=3, mask=upload(mask_png((1080, 1350))))
    assert response.status_code == 400 and "num_variants must be 1" in response.json()["detail"]
    approved = PostFactory(persona=persona, status=PostStatus.APPROVED)
    PostImageFactory(post=approved, position=0)
    response = post_image_job(client, approved, mode="inpaint", mask=upload(mask_png((1080, 1350))))
    assert response.status_code == 400 and "approved" in response.json()["detail"]
    response = post_image_job(client, post, mode="img2img", position=1)
    assert response.status_code == 400 and "no image at position 1" in response.json()["detail"]
    assert GenerationJob.objects.count() == PostImageJob.objects.count() == 1


def test_variations_of_a_post_image_borrow_it_and_replace_nothing(persona, marketer, active_lora, no_enqueue):
    post = PostFactory(persona=persona, status=PostStatus.APPROVED)  # borrowing works whatever the post's status
    image = PostImageFactory(post=post, position=0)
    body = post_image_job(client_for(marketer), post, mode="img2img").json()
    assert body["mode"] == "img2img" and body["num_variants"] == 4 and body["target_post"] is None
    with image.image.open("rb") as fh:
        import hashlib

        assert body["init_sha256"] == hashlib.sha256(fh.read()).hexdigest()
    row = PostImageJob.objects.get(job_id=body["id"])
    assert (row.post_id, row.replaces) == (post.pk, False)


def test_schema_exposes_the_job_options():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    create = schema["components"]["schemas"]["GenerationJobCreateRequest"]["properties"]
    assert {"mode", "strength", "init_image", "source_image", "mask", "upscale", "face_detail"} <= set(create)
    from_post = schema["components"]["schemas"]["PostImageJobCreateRequest"]["properties"]
    assert {"mode", "position", "strength", "mask", "scene"} <= set(from_post)
    record = schema["components"]["schemas"]["ReproductionRecord"]["properties"]
    assert {"mode", "strength", "init_sha256", "mask_sha256", "stages", "environment"} <= set(record)


@pytest.mark.django_db(transaction=True)
def test_inputs_are_read_and_stored_with_no_transaction_open(persona, marketer, active_lora, no_enqueue,
                                                             monkeypatch):
    """An upload to object storage can take seconds: it happens before the job's row is written, never inside the
    transaction (or while the post's row is locked); the stored file is named by its content."""
    from django.core.files.storage import FileSystemStorage
    from django.db import connection

    calls = []
    for name in ("_save", "_open"):
        real = getattr(FileSystemStorage, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            calls.append((_name, connection.in_atomic_block))
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(FileSystemStorage, name, spy)
    post = PostFactory(persona=persona, status=PostStatus.IN_REVIEW)
    PostImageFactory(post=post, position=0)
    calls.clear()
    response = post_image_job(client_for(marketer), post, mode="inpaint", mask=upload(mask_png((1080, 1350))))
    assert response.status_code == 201, response.json()
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert {name for name, _ in calls} == {"_save", "_open"}
    assert [call for call in calls if call[1]] == []
    assert job.init_image.name.endswith(f"{job.init_sha256}.png") and job.mask.name.endswith(f"{job.mask_sha256}.png")
    # The same bytes again (a retry): the stored files are reused, nothing new is written.
    calls.clear()
    again = post_image_job(client_for(marketer), post, mode="inpaint", mask=upload(mask_png((1080, 1350))))
    assert again.status_code == 201 and ("_save", False) not in calls
    assert GenerationJob.objects.get(pk=again.json()["id"]).init_image.name == job.init_image.name
