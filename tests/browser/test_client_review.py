"""The client review page in a real browser, without an account: approve one post, and request changes on
another with a comment; images load through the link's own route."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from core.access import Role
from scheduler.models import Post, PostStatus
from scheduler.review import links
from tests.browser.test_journey import check_page, messages_text
from tests.factories import MembershipFactory, PersonaFactory, PostFactory, PostImageFactory, WorkspaceFactory, aware

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shared():
    cache.clear()
    workspace = WorkspaceFactory(name="Client Brand")
    marketer = MembershipFactory(workspace=workspace, role=Role.MARKETER, user__username="mia").user
    manager = MembershipFactory(workspace=workspace, role=Role.ADMIN, user__username="ana").user
    persona = PersonaFactory(workspace=workspace, created_by=marketer, name="Nova")
    posts = []
    for n, caption in enumerate(("Morning espresso", "Gym session")):
        post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.IN_REVIEW,
                           scheduled_at=aware(2030, 3, 10 + n, 9), caption=f"{caption}. {persona.disclosure_label}")
        PostImageFactory(post=post, position=0)
        posts.append(post)
    _link, token = links.review_link_create(
        actor=manager, persona=persona, start=aware(2030, 3, 1), end=aware(2030, 4, 1),
        expires_at=timezone.now() + dt.timedelta(days=7), reviewer_name="Dana at Acme",
    )
    yield {"posts": posts, "token": token}
    cache.clear()


def test_a_client_approves_and_requests_changes_with_a_comment(page, shoot, shared):
    from playwright.sync_api import expect

    first, second = shared["posts"]
    page.goto(f"/r/{shared['token']}/")
    expect(page.get_by_role("heading", name="Posts for your review")).to_be_visible()
    card = page.locator(f"#post-{first.pk}")
    expect(card).to_contain_text("Morning espresso")
    expect(card).to_contain_text("Sunday 10 March 2030, 10:00")
    expect(card.locator(".disclosure")).to_have_text(first.persona.disclosure_label)
    assert card.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    check_page(page, shoot, "client-review")

    with page.expect_navigation():
        card.get_by_role("button", name="Approve").click()
    assert f"Post {first.pk} approved." in messages_text(page)
    expect(page.locator(f"#post-{first.pk} [data-status]")).to_have_text("Approved")

    other = page.locator(f"#post-{second.pk}")
    other.get_by_label("Comment (required to request changes)").fill("Less filter, warmer light please.")
    with page.expect_navigation():
        other.get_by_role("button", name="Request changes").click()
    assert f"Changes requested on post {second.pk}." in messages_text(page)
    expect(page.locator(f"#post-{second.pk} [data-status]")).to_have_text("Changes requested")

    approved, changed = Post.objects.get(pk=first.pk), Post.objects.get(pk=second.pk)
    assert approved.status == PostStatus.APPROVED and changed.status == PostStatus.CHANGES_REQUESTED
    decision = changed.transitions.get()
    assert decision.comment == "Less filter, warmer light please." and decision.external_reviewer == "Dana at Acme"
    assert decision.actor is None
    shoot(page, "client-review-decided")
