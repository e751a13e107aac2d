"""The base-model gallery page: cards of the library, samples served to signed-in users, a persona moved onto a
model, and a new persona started on one; scoped to the workspace."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from generation import base_models, selectors
from generation.models import BaseModelSample
from tests.factories import PersonaFactory, png_bytes


@pytest.fixture
def xl(db):
    entry = base_models.base_model_register(actor=None, path="tiny-sdxl", name="Tiny XL", render_samples=False,
                                            description="Two text encoders.", licence_note="Random weights")
    BaseModelSample.objects.create(base_model=entry, index=0, image=ContentFile(png_bytes(64, 64), name="s.png"),
                                   sha256="0" * 64, prompt="a cup", seed=1, steps=2, guidance=7.0, scheduler="euler_a")
    return entry


def test_the_gallery_lists_models_with_their_samples(client, marketer, persona, xl):
    client.force_login(marketer)
    page = client.get("/models/").content.decode()
    assert "Tiny XL" in page and "Tiny SDXL (test)" in page and "Random weights" in page
    assert "Use for a new persona" in page and "Generate with this model" in page
    sample = xl.samples.get()
    assert client.get(sample.image.url).status_code == 200  # library samples belong to no workspace
    client.logout()
    assert client.get(sample.image.url).status_code == 404
    assert client.get("/models/").status_code == 302  # sign in first


def test_generate_with_this_model_moves_the_persona(client, marketer, persona, outsider, xl):
    client.force_login(marketer)
    response = client.post(f"/models/{xl.pk}/use/", {"persona": persona.pk})
    assert response.status_code == 302 and response["Location"] == f"/personas/{persona.pk}/"
    assert selectors.persona_base_model(persona=persona) == xl
    assert "Tiny XL" in client.get("/models/").content.decode()
    other = PersonaFactory()  # another workspace's persona: not found, nothing changed
    assert client.post(f"/models/{xl.pk}/use/", {"persona": other.pk}).status_code == 404
    assert selectors.persona_base_model(persona=other) != xl


def test_a_new_persona_starts_on_the_chosen_model(client, marketer, workspace, xl):
    client.force_login(marketer)
    form = client.get(f"/personas/new/?base_model={xl.pk}").content.decode()
    assert "Base model: <strong>Tiny XL</strong>" in form
    response = client.post(f"/personas/new/?base_model={xl.pk}", {
        "name": "Nova", "handle": "nova", "age": 25, "trigger_token": "nvx", "timezone": "UTC",
        "min_post_gap_minutes": 180})
    assert response.status_code == 302, response.content.decode()[:2000]
    persona = workspace.personas.get(handle="nova")
    assert selectors.persona_base_model(persona=persona) == xl
    assert client.get("/personas/new/?base_model=999999").status_code == 404
