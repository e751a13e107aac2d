"""The image pages: the mask editor (no inline script), variations, reproduce; scoped to the workspace."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image, ImageDraw

from generation.models import GenerationJob, ReproductionCheck
from scheduler.models import PostImageJob, PostStatus
from tests.factories import GeneratedImageFactory, GenerationJobFactory, PostFactory, PostImageFactory
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures


@pytest.fixture
def queued(monkeypatch):
    from generation.runtime import tasks

    sent = []
    monkeypatch.setattr(tasks.generate_images, "delay", lambda *a: sent.append(("generate", *a)))
    monkeypatch.setattr(tasks.reproduce_image, "delay", lambda *a: sent.append(("reproduce", *a)))
    return sent


@pytest.fixture
def drafted(persona, active_lora):
    """A generated image that is the current image of an in-review post."""
    image = GeneratedImageFactory(job=GenerationJobFactory(persona=persona, lora_version=active_lora))
    post = PostFactory(persona=persona, status=PostStatus.IN_REVIEW)
    with image.image.open("rb") as fh:
        data = fh.read()
    from django.core.files.base import ContentFile

    PostImageFactory(post=post, position=0, generated_image=image, image=ContentFile(data, name="p.png"))
    return image, post


def mask_url(size=(512, 640)) -> str:
    mask = Image.new("RGB", size, (0, 0, 0))
    ImageDraw.Draw(mask).rectangle((50, 50, 200, 200), fill=(255, 255, 255))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_mask_editor_page_has_the_canvas_and_no_inline_script(client, marketer, drafted):
    image, post = drafted
    client.force_login(marketer)
    response = client.get(f"/generation/images/{image.pk}/inpaint/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="mask-canvas"' in html and "js/mask-editor.js" in html and f"post #{post.pk}" in html
    assert "<script>" not in html and " style=" not in html


def test_submitting_a_mask_queues_a_new_version_of_the_post(client, marketer, drafted, queued):
    image, post = drafted
    client.force_login(marketer)
    response = client.post(f"/generation/images/{image.pk}/inpaint/", {"mask_data": mask_url(), "strength": "0.8"})
    assert response.status_code == 302
    job = GenerationJob.objects.get(mode="inpaint")
    assert PostImageJob.objects.get(job=job, replaces=True).post_id == post.pk
    assert job.strength == 0.8 and job.num_variants == 1
    assert len(job.mask_sha256) == 64


@pytest.mark.parametrize(("mask_data", "needle"), [("", "Paint the part"), ("data:image/png;base64,%%%", "could not"),
                                                   ("white", "all white"), ("small", "must match")])
def test_a_bad_mask_is_a_400_on_the_editor_and_nothing_is_queued(client, marketer, drafted, queued, mask_data,
                                                                  needle):
    image, _post = drafted
    if mask_data == "white":
        mask_data = "data:image/png;base64," + base64.b64encode(_png((512, 640), (255, 255, 255))).decode()
    elif mask_data == "small":
        mask_data = mask_url((64, 64))
    client.force_login(marketer)
    response = client.post(f"/generation/images/{image.pk}/inpaint/", {"mask_data": mask_data})
    assert response.status_code == 400
    assert needle in response.content.decode()
    assert not GenerationJob.objects.filter(mode="inpaint").exists() and queued == []


def _png(size, colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_variations_and_reproduce_buttons(client, marketer, drafted, queued):
    image, _post = drafted
    client.force_login(marketer)
    assert client.post(f"/generation/images/{image.pk}/variations/", {"strength": "0.3"}).status_code == 302
    job = GenerationJob.objects.get(mode="img2img")
    assert job.source_image_id == image.pk and job.strength == 0.3
    assert client.post(f"/generation/images/{image.pk}/reproduce/").status_code == 302
    assert ReproductionCheck.objects.get().image_id == image.pk
    assert client.get(f"/generation/images/{image.pk}/reproduce/verdict/").content == b"Queued"


def test_another_workspace_gets_404(client, outsider, drafted, queued):
    image, _post = drafted
    client.force_login(outsider)
    assert client.get(f"/generation/images/{image.pk}/inpaint/").status_code == 404
    assert client.post(f"/generation/images/{image.pk}/reproduce/").status_code == 404
    assert client.post(f"/generation/images/{image.pk}/variations/").status_code == 404
    assert queued == []
