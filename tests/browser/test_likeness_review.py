"""The review queue's likeness badge, "off-model only" filter and likeness sort, in a real browser."""

from __future__ import annotations

import pytest

from core.access import Role
from generation.models import LikenessStatus
from scheduler.models import PostStatus
from tests.browser.test_journey import log_in
from tests.factories import (
    GeneratedImageFactory,
    MembershipFactory,
    PersonaFactory,
    PostFactory,
    PostImageFactory,
    WorkspaceFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def scored_queue():
    workspace = WorkspaceFactory(name="Likeness Brand")
    marketer = MembershipFactory(workspace=workspace, role=Role.MARKETER, user__username="mia").user
    MembershipFactory(workspace=workspace, role=Role.REVIEWER, user__username="rob")
    persona = PersonaFactory(workspace=workspace, created_by=marketer, name="Nova", is_human_face=True)
    posts = {}
    for name, score, on_model in (("high", 0.91, True), ("off", 0.31, False), ("mid", 0.72, True)):
        post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.IN_REVIEW,
                           caption=f"Post {name}. {persona.disclosure_label}")
        image = GeneratedImageFactory(job__persona=persona, likeness_status=LikenessStatus.SCORED,
                                      likeness_score=score, likeness_distance=round((1 - score) * 1.2, 3),
                                      face_found=True, on_model=on_model, likeness_threshold=0.6)
        PostImageFactory(post=post, position=0, generated_image=image)
        posts[name] = post
    no_face = PostFactory(persona=persona, created_by=marketer, status=PostStatus.IN_REVIEW,
                          caption=f"Post without a face. {persona.disclosure_label}")
    PostImageFactory(post=no_face, position=0, generated_image=GeneratedImageFactory(
        job__persona=persona, likeness_status=LikenessStatus.NO_FACE, face_found=False))
    posts["no_face"] = no_face
    return posts


def _card_ids(page) -> list[str]:
    return page.locator("[data-review-card]").evaluate_all("cards => cards.map(card => card.id)")


def test_filter_off_model_and_sort_by_likeness(page, shoot, scored_queue):
    from playwright.sync_api import expect

    posts = scored_queue
    log_in(page, "rob")
    page.goto("/review/")
    expect(page.locator(f"#post-{posts['off'].pk} [data-likeness]")).to_have_text("Off-model · 0.31")
    expect(page.locator(f"#post-{posts['high'].pk} [data-likeness]")).to_have_text("On-model · 0.91")
    expect(page.locator(f"#post-{posts['no_face'].pk} [data-likeness]")).to_have_text("No face found")

    # Sort by likeness, lowest first: the select submits itself; posts without a score come last.
    with page.expect_navigation():
        page.get_by_label("Order").select_option("likeness")
    assert _card_ids(page) == [f"post-{posts[n].pk}" for n in ("off", "mid", "high", "no_face")]
    with page.expect_navigation():
        page.get_by_label("Order").select_option("-likeness")
    assert _card_ids(page) == [f"post-{posts[n].pk}" for n in ("high", "mid", "off", "no_face")]

    # Off-model only: the one draft that looks like someone else, and the sort is kept.
    with page.expect_navigation():
        page.get_by_label("Likeness").select_option("off")
    assert _card_ids(page) == [f"post-{posts['off'].pk}"]
    assert "likeness=off" in page.url and "sort=-likeness" in page.url
    shoot(page, "likeness-off-model-filter")
