"""Caption alternatives and the rewrite action on the review page, in a real browser: a marketer sees the
captions a post was offered, asks for a rewrite ("Add a question"), and uses it; a reviewer sees the list only."""

from __future__ import annotations

import pytest

from core.access import Role
from scheduler.models import CaptionAlternative, Post, PostStatus
from tests.browser.test_journey import check_page, log_in, log_out, messages_text
from tests.factories import MembershipFactory, PersonaFactory, PostFactory, PostImageFactory, WorkspaceFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def drafted():
    workspace = WorkspaceFactory(name="Caption Brand")
    marketer = MembershipFactory(workspace=workspace, role=Role.MARKETER, user__username="mia").user
    MembershipFactory(workspace=workspace, role=Role.REVIEWER, user__username="rob")
    persona = PersonaFactory(workspace=workspace, created_by=marketer, name="Nova")
    label = persona.disclosure_label
    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.IN_REVIEW,
                       caption=f"Morning run by the harbour.\n\n{label}", hashtags=["#running"])
    PostImageFactory(post=post, position=0)
    for caption in (post.caption, f"Harbour laps before coffee.\n\n{label}"):
        CaptionAlternative.objects.create(post=post, caption=caption, hashtags=["#running"], writer="template")
    return post


def test_alternatives_and_rewrite_on_the_review_page(page, shoot, drafted):
    from playwright.sync_api import expect

    log_in(page, "mia")
    page.goto("/review/")
    options = page.locator(f"#captions-{drafted.pk} [data-caption-option]")
    expect(options).to_have_count(2)
    expect(options.nth(0)).to_contain_text("in use")
    expect(options.nth(1)).to_contain_text("Harbour laps before coffee.")
    check_page(page, shoot, "review-caption-alternatives")

    # Rewrite: "Add a question" comes back as a third alternative.
    page.get_by_label("Rewrite the caption").select_option(label="Add a question")
    with page.expect_navigation():
        page.locator(f"#captions-{drafted.pk}").get_by_role("button", name="Rewrite").click()
    assert f"New caption for post #{drafted.pk}: Add a question." in messages_text(page)
    expect(options).to_have_count(3)
    rewrite = CaptionAlternative.objects.get(post=drafted, instruction="question")
    expect(options.nth(2)).to_contain_text("What do you think?")
    expect(options.nth(2)).to_contain_text("Add a question")

    # Use it: the post's caption changes, and it stays in review.
    with page.expect_navigation():
        page.locator(f"#caption-option-{rewrite.pk}").get_by_role("button", name="Use this caption").click()
    assert f"Post #{drafted.pk} now uses caption {rewrite.pk}." in messages_text(page)
    expect(page.locator(f"#post-{drafted.pk} [data-caption-text]")).to_contain_text("What do you think?")
    expect(page.locator(f"#caption-option-{rewrite.pk}")).to_contain_text("in use")
    post = Post.objects.get(pk=drafted.pk)
    assert post.caption == rewrite.caption and post.status == PostStatus.IN_REVIEW
    check_page(page, shoot, "review-caption-rewrite-used")

    # A reviewer sees the alternatives, not the actions.
    log_out(page)
    log_in(page, "rob")
    page.goto("/review/")
    expect(page.locator(f"#captions-{drafted.pk} [data-caption-option]")).to_have_count(3)
    expect(page.get_by_role("button", name="Rewrite")).to_have_count(0)
    expect(page.get_by_role("button", name="Use this caption")).to_have_count(0)
