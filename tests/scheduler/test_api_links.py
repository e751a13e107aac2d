"""The review links API: members create, list and revoke links; a client with no account sees the link's posts
and decides on them. Every client route is checked for isolation (enumerated from the URL resolver) and for the
rate limit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from scheduler.models import Post, PostComment, PostStatus, PostTransition, ReviewLink
from scheduler.review import links
from tests.conftest import client_for
from tests.factories import MembershipFactory, PersonaFactory, PostFactory, PostImageFactory, aware

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()  # rate-limit counters live in the cache
    yield
    cache.clear()


def in_review(persona, author, when=None):
    post = PostFactory(persona=persona, created_by=author, status=PostStatus.IN_REVIEW,
                       scheduled_at=when or aware(2030, 3, 10, 9))
    PostImageFactory(post=post, position=0)
    return post


def make_link(actor, persona):
    return links.review_link_create(
        actor=actor, expires_at=timezone.now() + dt.timedelta(days=7), reviewer_name="Dana at Acme",
        persona=persona, start=aware(2030, 3, 1, 0), end=aware(2030, 4, 1, 0),
    )


def test_members_create_list_and_revoke_links(persona, marketer, admin_member, outsider):
    post = in_review(persona, marketer)
    client = client_for(admin_member)
    response = client.post("/api/v1/review-links/", {
        "reviewer_name": "Dana at Acme", "persona": persona.pk, "start": "2030-03-01T00:00:00Z",
        "end": "2030-04-01T00:00:00Z", "expires_at": (timezone.now() + dt.timedelta(days=3)).isoformat(),
    }, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "active" and body["scope"] == "range" and body["token"]
    client_view = APIClient().get(body["client_api_url"])
    assert client_view.status_code == 200 and [p["id"] for p in client_view.json()["posts"]] == [post.pk]

    assert [link["id"] for link in client.get("/api/v1/review-links/").json()["results"]] == [body["id"]]
    assert "token" not in client.get(f"/api/v1/review-links/{body['id']}/").json()
    assert client_for(outsider).post(f"/api/v1/review-links/{body['id']}/revoke/").status_code == 404
    revoked = client_for(marketer).post(f"/api/v1/review-links/{body['id']}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"


def test_members_share_chosen_posts_of_their_workspaces_only(persona, marketer, admin_member, outsider):
    post = in_review(persona, marketer)
    payload = {"reviewer_name": "Dana", "posts": [post.pk],
               "expires_at": (timezone.now() + dt.timedelta(days=3)).isoformat()}
    assert client_for(outsider).post("/api/v1/review-links/", payload, format="json").status_code == 404
    response = client_for(admin_member).post("/api/v1/review-links/", payload, format="json")
    assert response.status_code == 201 and response.json()["posts"] == [post.pk]


def test_a_client_sees_the_slot_label_and_images_and_decides(persona, marketer, admin_member):
    first, second = in_review(persona, marketer), in_review(persona, marketer, when=aware(2030, 3, 11, 17))
    _link, token = make_link(admin_member, persona)
    client = APIClient()
    body = client.get(reverse("client-review", kwargs={"token": token})).json()
    assert body["reviewer_name"] == "Dana at Acme"
    shown = body["posts"][0]
    assert shown["disclosure_label"] == persona.disclosure_label and shown["can_decide"]
    assert shown["scheduled_at_local"].startswith("2030-03-10T10:00:00+01:00")
    image = client.get(shown["images"][0]["url"])
    assert image.status_code == 200 and b"".join(image.streaming_content)[:4] == b"\x89PNG"

    approved = client.post(reverse("client-review-approve", kwargs={"token": token, "post_id": first.pk}),
                           {"comment": "Perfect"}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    url = reverse("client-review-request-changes", kwargs={"token": token, "post_id": second.pk})
    assert client.post(url, {}, format="json").status_code == 400
    changed = client.post(url, {"comment": "Less filter"}, format="json")
    assert changed.status_code == 200 and changed.json()["status"] == "changes_requested"
    trail = client_for(admin_member).get(f"/api/v1/posts/{first.pk}/transitions/").json()
    assert [(t["actor"], t["external_reviewer"]) for t in trail] == [(None, "Dana at Acme")]
    rows = PostTransition.objects.filter(post__in=[first, second]).order_by("id")
    assert [(r.to_status, r.external_reviewer, r.actor_id) for r in rows] == [
        ("approved", "Dana at Acme", None), ("changes_requested", "Dana at Acme", None)]


@pytest.mark.parametrize("close", ["expire", "revoke"])
def test_an_expired_or_revoked_link_answers_410_on_every_route_and_changes_nothing(persona, marketer, admin_member,
                                                                                   close):
    post = in_review(persona, marketer)
    link, token = make_link(admin_member, persona)
    if close == "expire":
        ReviewLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    else:
        links.review_link_revoke(actor=admin_member, link_id=link.pk)
    client = APIClient()
    for name, method, kwargs in _client_routes(token=token, post_id=post.pk, image_id=post.images.get().pk):
        body = {"comment": "x", "body": "x"}
        response = getattr(client, method)(reverse(name, kwargs=kwargs), body, format="json")
        if response.status_code == 405:
            continue
        assert response.status_code == 410, (name, response.status_code)
        assert "Ask the team that shared it for a new one" in response.content.decode()
    post.refresh_from_db()
    assert post.status == PostStatus.IN_REVIEW and not post.transitions.exists()


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _token_routes() -> list[URLPattern]:
    return [p for route, p in _walk(get_resolver().url_patterns)
            if "token" in p.pattern.regex.groupindex and "format" not in p.pattern.regex.groupindex]


def _client_routes(*, token, post_id, image_id):
    """Every route that takes a link token, with the ids it names and the methods it answers."""
    routes = []
    for pattern in _token_routes():
        # API views name their methods; a page (a function view) is sent both, and its 405 answers skipped.
        view = getattr(pattern.callback, "view_class", None)
        kwargs = {"token": token}
        for name in pattern.pattern.regex.groupindex:
            if name == "post_id":
                kwargs[name] = post_id
            elif name == "post_image_id":
                kwargs[name] = image_id
            else:
                assert name == "token", f"{pattern.name}: extend this test for URL kwarg '{name}'"
        for method in ("get", "post"):
            if view is None or hasattr(view, method):
                routes.append((pattern.name, method, kwargs))
    return routes


def test_the_enumeration_finds_every_client_route():
    names = {p.name for p in _token_routes()}
    assert {"client-review", "client-review-approve", "client-review-request-changes", "client-review-image",
            "client-review-comments", "client_review", "client_review_decide", "client_review_comment"} <= names


def test_a_token_reaches_no_post_outside_its_set_on_any_route(persona, marketer, admin_member, workspace):
    inside = in_review(persona, marketer)
    _link, token = make_link(admin_member, persona)
    marker = "OUTSIDEMARKER"
    foreign = MembershipFactory().user
    foreign_persona = PersonaFactory(workspace=foreign.memberships.get().workspace, name=f"{marker} persona")
    outside = [
        in_review(persona, marketer, when=aware(2030, 6, 1, 9)),  # same persona, outside the range
        in_review(PersonaFactory(workspace=workspace, name=f"{marker} sibling"), marketer),  # same workspace
        in_review(foreign_persona, foreign),  # another workspace
    ]
    for post in outside:
        post.caption = f"{marker} {post.caption}"
        post.save()
    states = {p.pk: p.status for p in Post.objects.all()}
    client = APIClient()
    for name in ("client-review", "client_review"):  # the API and the page
        listing = client.get(reverse(name, kwargs={"token": token})).content.decode()
        assert marker not in listing and foreign_persona.workspace.name not in listing
    checked = 0
    for post in outside:
        for name, method, kwargs in _client_routes(token=token, post_id=post.pk, image_id=post.images.get().pk):
            if len(kwargs) == 1:
                continue  # the listing, checked above
            body = {"comment": "x", "body": "x"}
            response = getattr(client, method)(reverse(name, kwargs=kwargs), body, format="json")
            if response.status_code == 405:
                continue
            assert response.status_code == 404, (name, post.pk, response.status_code)
            assert marker not in response.content.decode(errors="replace")
            checked += 1
    assert checked >= 15
    assert {p.pk: p.status for p in Post.objects.all()} == states
    assert not PostTransition.objects.exists() and not PostComment.objects.exists()
    # The same routes do reach the link's own post.
    own_image = reverse("client-review-image", kwargs={"token": token, "post_image_id": inside.images.get().pk})
    assert client.get(own_image).status_code == 200


def test_guessing_tokens_is_rate_limited_then_locked_out(persona, marketer, admin_member, settings):
    settings.REVIEW_LINK_MAX_FAILURES = 5
    post = in_review(persona, marketer)
    _link, token = make_link(admin_member, persona)
    client = APIClient(REMOTE_ADDR="198.51.100.7")
    value, signature = token.rsplit(":", 1)
    for n in range(5):
        guess = f"{value[:-3]}{n:03d}:{signature}"
        assert client.get(reverse("client-review", kwargs={"token": guess})).status_code == 404
    # Past the limit, the address is refused on every link route, even with the right token.
    locked = client.post(reverse("client-review-approve", kwargs={"token": token, "post_id": post.pk}), {})
    assert locked.status_code == 429 and "Too many invalid review links" in locked.json()["detail"]
    assert client.get(reverse("client-review", kwargs={"token": token})).status_code == 429
    post.refresh_from_db()
    assert post.status == PostStatus.IN_REVIEW
    # Another address is not affected.
    other = APIClient(REMOTE_ADDR="198.51.100.8")
    assert other.get(reverse("client-review", kwargs={"token": token})).status_code == 200


def test_requests_per_address_are_rate_limited(persona, admin_member, settings):
    settings.REVIEW_LINK_RATE_LIMIT = 3
    _link, token = make_link(admin_member, persona)
    client = APIClient(REMOTE_ADDR="198.51.100.9")
    codes = [client.get(reverse("client-review", kwargs={"token": token})).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert client.get(reverse("client-review", kwargs={"token": token}))["Retry-After"] == "60"
