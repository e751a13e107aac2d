"""Pages of the agency workflow: the client review page (no account), review links, comment threads, and
content plan import with its progress."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.access import Role
from generation.models import JobStatus
from scheduler import services
from scheduler.models import ContentPlan, PostComment, PostStatus, ReviewLink
from scheduler.review import links
from tests.factories import LoraVersionFactory, MembershipFactory, PostFactory, PostImageFactory, aware

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def shared(persona, marketer, admin_member):
    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.IN_REVIEW,
                       scheduled_at=aware(2030, 3, 10, 9), caption=f"Espresso o'clock {persona.disclosure_label}")
    PostImageFactory(post=post, position=0)
    _link, token = links.review_link_create(
        actor=admin_member, persona=persona, start=aware(2030, 3, 1), end=aware(2030, 4, 1),
        expires_at=timezone.now() + dt.timedelta(days=3), reviewer_name="Dana at Acme",
    )
    return post, token


def test_the_client_page_shows_the_posts_without_an_account_and_takes_decisions(shared, persona):
    post, token = shared
    client = Client()
    page = client.get(reverse("client_review", kwargs={"token": token}))
    text = page.content.decode()
    assert page.status_code == 200 and "Espresso o&#x27;clock" in text and persona.disclosure_label in text
    assert "Sunday 10 March 2030, 10:00" in text and "Dana at Acme" in text
    decide = reverse("client_review_decide", kwargs={"token": token, "post_id": post.pk})
    refused = client.post(decide, {"action": "request_changes", "comment": ""})
    assert refused.status_code == 400 and "A comment is required" in refused.content.decode()
    assert client.post(decide, {"action": "request_changes", "comment": "Warmer please"}).status_code == 302
    post.refresh_from_db()
    assert post.status == PostStatus.CHANGES_REQUESTED
    assert post.transitions.get().external_reviewer == "Dana at Acme"

    comment = reverse("client_review_comment", kwargs={"token": token, "post_id": post.pk})
    assert client.post(comment, {"body": "Also a closer crop?"}).status_code == 302
    assert PostComment.objects.get().external_reviewer == "Dana at Acme"
    assert "Also a closer crop?" in client.get(reverse("client_review", kwargs={"token": token})).content.decode()


def test_the_client_page_refuses_unknown_actions_and_posts_it_does_not_show(shared, persona, marketer):
    post, token = shared
    client = Client()
    decide = reverse("client_review_decide", kwargs={"token": token, "post_id": post.pk})
    unknown = client.post(decide, {"action": "publish"})
    assert unknown.status_code == 400 and "Choose approve or request changes." in unknown.content.decode()
    other = PostFactory(persona=persona, created_by=marketer, status=PostStatus.IN_REVIEW, scheduled_at=None)
    for name, data in (("client_review_decide", {"action": "approve"}), ("client_review_comment", {"body": "Hi"})):
        assert client.post(reverse(name, kwargs={"token": token, "post_id": other.pk}), data).status_code == 404
    approved = client.post(decide, {"action": "approve"}, follow=True)
    assert approved.redirect_chain[-1][0].endswith(f"#post-{post.pk}")
    assert f"Post {post.pk} approved. Thank you!" in approved.content.decode()
    post.refresh_from_db()
    other.refresh_from_db()
    assert post.status == PostStatus.APPROVED and other.status == PostStatus.IN_REVIEW
    assert not PostComment.objects.exists()


@pytest.mark.parametrize("close", ["expire", "revoke"])
def test_a_closed_link_shows_a_clear_page_and_changes_nothing(shared, admin_member, close):
    post, token = shared
    link = ReviewLink.objects.get()
    if close == "expire":
        ReviewLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    else:
        links.review_link_revoke(actor=admin_member, link_id=link.pk)
    client = Client()
    page = client.get(reverse("client_review", kwargs={"token": token}))
    assert page.status_code == 410 and "This review link is closed" in page.content.decode()
    assert "Espresso" not in page.content.decode()
    decided = client.post(reverse("client_review_decide", kwargs={"token": token, "post_id": post.pk}),
                          {"action": "approve"})
    assert decided.status_code == 410 and "Nothing was changed." in decided.content.decode()
    post.refresh_from_db()
    assert post.status == PostStatus.IN_REVIEW and not PostComment.objects.exists()


def test_bad_tokens_are_404_then_rate_limited(shared, settings):
    settings.REVIEW_LINK_MAX_FAILURES = 3
    _post, token = shared
    client = Client(REMOTE_ADDR="203.0.113.50")
    for n in range(3):
        assert client.get(reverse("client_review", kwargs={"token": f"{n}.guess:sig"})).status_code == 404
    locked = client.get(reverse("client_review", kwargs={"token": token}))
    assert locked.status_code == 429 and "Too many invalid review links" in locked.content.decode()
    assert locked["Retry-After"] == "900"


def test_members_create_and_revoke_links_on_the_page(persona, marketer):
    client = logged_in(marketer)
    assert client.get(reverse("review_link_list")).status_code == 200
    created = client.post(reverse("review_link_create"), {
        "persona": persona.pk, "start": "2030-03-01", "end": "2030-03-31", "expires": timezone.now().date().isoformat(),
        "reviewer_name": "Dana at Acme", "reviewer_email": "",
    })
    text = created.content.decode()
    assert created.status_code == 201 and "/r/" in text and "shown only this once" in text
    link = ReviewLink.objects.get()
    assert link.start == aware(2030, 2, 28, 23) and link.end == aware(2030, 3, 31, 22)  # whole Paris days
    assert client.post(reverse("review_link_revoke", kwargs={"link_id": link.pk})).status_code == 302
    link.refresh_from_db()
    assert link.revoked_at is not None
    bad = client.post(reverse("review_link_create"), {"persona": persona.pk, "start": "x", "end": "", "expires": ""})
    assert bad.status_code == 400


def test_members_comment_on_the_thread_page(persona, marketer, reviewer, outsider):
    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.IN_REVIEW)
    url = reverse("post_comments", kwargs={"post_id": post.pk})
    assert logged_in(outsider).get(url).status_code == 404
    client = logged_in(reviewer)
    assert client.post(url, {"body": f"@{marketer.username} lovely"}).status_code == 302
    assert "lovely" in client.get(url).content.decode()
    assert client.post(url, {"body": " "}).status_code == 400


def test_plan_import_page_lists_bad_rows_and_shows_progress(persona, marketer, workspace):
    LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED, is_active=True)
    client = logged_in(marketer)
    assert client.get(reverse("plan_list")).status_code == 200
    rows = (f"@{persona.handle},2030-04-01,10:00,instagram,coffee,,no\n"
            f"@ghost,2030-04-01,10:00,instagram,coffee,,no\n")
    response = client.post(reverse("plan_import"), {"rows": rows}, follow=True)
    text = response.content.decode()
    assert response.status_code == 200 and "1 of 2 rows imported" in text
    assert "Line 2: No persona @ghost in this workspace." in text and "Progress: 0%" in text
    plan = ContentPlan.objects.get()
    assert plan.items.count() == 1
    none_valid = client.post(reverse("plan_import"), {"rows": "@ghost,2030-04-01,10:00,instagram,coffee"})
    assert none_valid.status_code == 400 and "Line 1: No persona @ghost" in none_valid.content.decode()
    assert ContentPlan.objects.count() == 1
    other = MembershipFactory(role=Role.MARKETER).user
    assert logged_in(other).get(reverse("plan_detail", kwargs={"plan_id": plan.pk})).status_code == 404


def test_the_review_queue_history_names_the_client(shared, marketer, reviewer):
    post, token = shared
    links.review_link_request_changes(token=token, post_id=post.pk, comment="Warmer light")
    services.post_submit(actor=marketer, post_id=post.pk)
    text = logged_in(reviewer).get(reverse("review_queue")).content.decode()
    assert "Dana at Acme (client review)" in text and "Warmer light" in text
