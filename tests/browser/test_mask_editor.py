"""The mask editor in a real browser: paint a mask over a drafted image (brush, eraser, undo, keyboard shortcuts),
submit it, and find the inpainted result as the post's new image with the old one kept in its history."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.access import Role
from generation import services
from generation.models import GenerationJob, JobStatus
from scheduler.models import Post, PostImageVersion
from tests.factories import MembershipFactory, PersonaFactory, WorkspaceFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Correct-Horse-1"


def pixels(field) -> np.ndarray:
    with field.open("rb") as fh, Image.open(fh) as img:
        return np.asarray(img.convert("RGB"), dtype=np.int16)


def test_paint_a_mask_and_get_a_new_version_of_the_draft(page, shoot):
    workspace = WorkspaceFactory(name="Aurora Brands")
    marketer = MembershipFactory(workspace=workspace, role=Role.MARKETER, user__username="maya").user
    persona = PersonaFactory(workspace=workspace, created_by=marketer, name="Mira Sol", handle="mirasol")
    # Eager Celery: the job renders (tiny model, base only) and its post is drafted before this returns.
    first = services.generation_job_create(actor=marketer, persona=persona, scene="reading in a park",
                                           platform="instagram", num_variants=1, steps=3, seed=5,
                                           allow_base_model=True, upscale=False, face_detail=False)
    first.refresh_from_db()
    assert first.status == JobStatus.SUCCEEDED, first.error
    post = Post.objects.get()
    old = post.images.get()
    old_pixels = pixels(old.image)

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("maya")
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    page.goto(f"/personas/{persona.pk}/")
    with page.expect_navigation():
        page.get_by_role("link", name="Fix with a mask").first.click()
    page.set_viewport_size({"width": 1366, "height": 1400})  # the whole canvas on screen
    canvas = page.locator("#mask-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()

    def drag(x0, y0, x1, y1):
        page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
        page.mouse.down()
        page.mouse.move(box["x"] + x1 * box["width"], box["y"] + y1 * box["height"], steps=8)
        page.mouse.up()

    painted = "() => { const c = document.getElementById('mask-canvas'); const d = c.getContext('2d')" \
              ".getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4)" \
              " if (d[i] >= 128) n++; return n; }"
    drag(0.1, 0.9, 0.9, 0.9)  # a stroke along the bottom...
    assert page.evaluate(painted) > 0
    page.keyboard.press("Control+z")  # ...undone
    assert page.evaluate(painted) == 0
    page.keyboard.press("]")
    drag(0.3, 0.3, 0.7, 0.3)  # brush across the upper middle
    page.keyboard.press("e")  # eraser: take a bite out of the stroke's right end
    assert page.locator("[data-tool=eraser]").get_attribute("aria-pressed") == "true"
    drag(0.68, 0.3, 0.72, 0.3)
    page.keyboard.press("b")
    shoot(page, "mask-editor")
    page.get_by_label("Strength").fill("1")
    with page.expect_navigation():
        page.get_by_role("button", name="Repaint the masked part").click()

    job = GenerationJob.objects.get(mode="inpaint")
    assert job.status == JobStatus.SUCCEEDED, job.error
    current = post.images.get()
    fixed = job.images.get()
    assert current.generated_image_id == fixed.pk
    version = PostImageVersion.objects.get(post=post)
    assert version.sha256 == old.sha256
    diff = np.abs(pixels(current.image) - old_pixels).max(axis=2)
    height = diff.shape[0]
    assert diff[int(height * 0.6):].max() == 0  # the undone stroke's rows were not repainted
    assert diff.max() > 0  # the painted band was
    assert Post.objects.count() == 1

    page.reload()
    history = page.locator(".post-history")
    assert history.count() >= 1
    assert history.first.locator("img").count() == 1
    assert f"Post #{post.pk} history" in history.first.inner_text()
    shoot(page, "mask-editor-new-version")
