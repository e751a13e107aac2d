"""The base-model gallery page: cards of the library, samples served to signed-in users, a persona moved onto a
model, and a new persona started on one; scoped to the workspace. The persona page shows its model and marks the
LoRA versions trained on another family."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from generation import selectors
from generation.library import services as base_models
from generation.models import BaseModelSample, JobStatus
from tests.factories import LoraVersionFactory, PersonaFactory, png_bytes


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


def _version_item(page: str, version) -> str:
    """The persona page's list item of one LoRA version."""
    start = page.index(f'id="lora-{version.pk}"')
    return page[start:page.index("</li>", start)]


def test_the_persona_page_shows_its_base_model_and_marks_versions_that_do_not_fit(client, marketer, persona, xl):
    default = selectors.base_model_default()
    on_sd = LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED, base_model_entry=default,
                               base_model_family="tiny")
    client.force_login(marketer)
    page = client.get(f"/personas/{persona.pk}/").content.decode()
    assert f'<a href="/models/#model-{default.pk}">{default.name}</a> · Tiny SD (test)' in page
    assert "data-incompatible" not in page and f"{default.name} (Tiny SD (test))" in _version_item(page, on_sd)

    base_models.persona_base_model_set(actor=marketer, persona=persona, base_model_id=xl.pk)
    on_xl = LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED, base_model="tiny-sdxl",
                               base_model_entry=xl, base_model_family="tiny-sdxl")
    page = client.get(f"/personas/{persona.pk}/").content.decode()
    assert f'<a href="/models/#model-{xl.pk}">Tiny XL</a> · Tiny SDXL (test)' in page
    marked = _version_item(page, on_sd)
    assert "Incompatible" in marked and ("Trained on a Tiny SD (test) model; the persona now uses Tiny XL "
                                         "(Tiny SDXL (test)), which it does not fit") in marked
    assert "Incompatible" not in _version_item(page, on_xl)
    # The version's own partial (polled while training) marks it the same way.
    partial = client.get(reverse("generation:lora_partial", args=[on_sd.pk])).content.decode()
    assert "data-incompatible" in partial and "Tiny XL" in partial
    assert "data-incompatible" not in client.get(reverse("generation:lora_partial", args=[on_xl.pk])).content.decode()
