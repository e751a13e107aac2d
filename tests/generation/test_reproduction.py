"""Reproduce requests: scoped to the workspace, queued on the gpu queue, and an honest pixel comparison."""

from __future__ import annotations

import io

from PIL import Image

from generation.jobs.reproduction import pixel_comparison
from generation.models import JobStatus, ReproductionCheck
from tests.conftest import client_for
from tests.factories import GeneratedImageFactory, GenerationJobFactory


def png(pixels: dict | None = None, size=(16, 16)) -> bytes:
    image = Image.new("RGB", size, (10, 20, 30))
    for xy, colour in (pixels or {}).items():
        image.putpixel(xy, colour)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_pixel_comparison_counts_differing_pixels_and_the_largest_delta():
    assert pixel_comparison(png(), png()) == (True, 0, 0)
    assert pixel_comparison(png(), png({(1, 1): (10, 20, 37), (2, 3): (12, 20, 30)})) == (False, 2, 7)
    assert pixel_comparison(png(), png(size=(8, 8)))[0] is False


def test_verdict_says_identical_or_how_it_differs():
    check = ReproductionCheck(status=JobStatus.SUCCEEDED, identical=False, differing_pixels=1234, max_delta=3)
    assert check.verdict == "differs in 1,234 pixels, max Δ 3"
    assert ReproductionCheck(status=JobStatus.SUCCEEDED, identical=True).verdict == "identical"
    assert ReproductionCheck(status=JobStatus.FAILED, error="Conflict: base model").verdict == "Conflict: base model"


def test_reproduce_is_queued_for_a_marketer_and_404_for_another_workspace(persona, marketer, outsider, reviewer,
                                                                          monkeypatch,
                                                                          django_capture_on_commit_callbacks):
    from generation.runtime import tasks

    sent = []
    monkeypatch.setattr(tasks.reproduce_image, "delay", lambda *a: sent.append(a))
    image = GeneratedImageFactory(job=GenerationJobFactory(persona=persona))
    assert client_for(outsider).post(f"/api/v1/generated-images/{image.pk}/reproduce/").status_code == 404
    assert client_for(reviewer).post(f"/api/v1/generated-images/{image.pk}/reproduce/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(marketer).post(f"/api/v1/generated-images/{image.pk}/reproduce/")
    assert response.status_code == 202
    assert sent == [(response.json()["id"],)]
    assert client_for(outsider).get(f"/api/v1/reproduction-checks/{response.json()['id']}/").status_code == 404
    assert ReproductionCheck.objects.get().requested_by == marketer
