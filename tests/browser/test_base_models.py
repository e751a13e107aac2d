"""The base-model gallery in a real browser: cards with family, size and samples rendered by the worker, and a
persona created from a model card starts on that model."""

from __future__ import annotations

import pytest

from core.access import Role
from generation import selectors
from generation.library import gallery
from generation.library import services as base_models
from generation.models import SamplesStatus
from personas.models import Persona
from tests.browser.test_journey import check_page, log_in
from tests.factories import MembershipFactory, WorkspaceFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_gallery_shows_models_and_creates_a_persona_from_a_card(page, shoot, monkeypatch):
    from playwright.sync_api import expect

    monkeypatch.setattr(gallery, "SAMPLE_STEPS", 2)  # the samples' content is not what this test is about
    workspace = WorkspaceFactory(name="Aurora Brands")
    MembershipFactory(workspace=workspace, role=Role.MARKETER, user__username="maya")
    base_models.base_model_default_ensure()
    xl = base_models.base_model_register(actor=None, path="tiny-sdxl", name="Tiny XL",
                                         description="Two text encoders, size conditioning.",
                                         licence_note="Random weights, Apache-2.0")
    xl.refresh_from_db()
    assert xl.samples_status == SamplesStatus.READY, xl.samples_error  # rendered by the (eager) GPU task

    log_in(page, "maya")
    page.get_by_role("link", name="Models").click()
    card = page.locator(f"#model-{xl.pk}")
    expect(card.get_by_role("heading", name="Tiny XL")).to_be_visible()
    expect(card).to_contain_text("Tiny SDXL (test) · 64 px native")
    expect(card).to_contain_text("Random weights, Apache-2.0")
    expect(card.locator(".samples img")).to_have_count(len(gallery.SAMPLE_PROMPTS))
    loaded = card.locator(".samples img").evaluate_all("imgs => imgs.map(i => i.complete && i.naturalWidth)")
    assert loaded == [64] * len(gallery.SAMPLE_PROMPTS)  # served to a signed-in member
    check_page(page, shoot, "models-01-gallery")

    card.get_by_role("link", name="Use for a new persona").click()
    expect(page.get_by_text("Base model: Tiny XL")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("Nova Lux")
    page.get_by_label("Handle", exact=True).fill("novalux")
    page.get_by_label("Age", exact=True).fill("27")
    page.get_by_label("Trigger token", exact=True).fill("nvlx")
    with page.expect_navigation():
        page.get_by_role("button", name="Create persona").click()
    persona = Persona.objects.get(handle="novalux")
    assert selectors.persona_base_model(persona=persona) == xl

    page.get_by_role("link", name="Models").click()
    expect(page.locator(f"#model-{xl.pk}").get_by_role("link", name="Nova Lux")).to_be_visible()
    check_page(page, shoot, "models-02-persona-on-model")
