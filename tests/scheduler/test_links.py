"""Client review links: create, revoke, and the decisions a named external reviewer makes through one."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from core.access import Role
from core.errors import Gone, NotFound, PermissionDenied, ValidationFailed
from personas.models import Membership
from scheduler.models import PostStatus, PostTransition, ReviewLink, ReviewLinkScope
from scheduler.review import link_selectors, links
from tests.factories import MembershipFactory, PersonaFactory, PostFactory, PostImageFactory, aware

pytestmark = pytest.mark.django_db


def in_review(persona, author, when=None, **kwargs):
    post = PostFactory(persona=persona, created_by=author, status=PostStatus.IN_REVIEW,
                       scheduled_at=when or aware(2030, 3, 10, 9), **kwargs)
    PostImageFactory(post=post, position=0)
    return post


def range_link(actor, persona, **kwargs):
    values = {"expires_at": timezone.now() + dt.timedelta(days=7), "reviewer_name": "Dana at Acme",
              "persona": persona, "start": aware(2030, 3, 1, 0), "end": aware(2030, 4, 1, 0), **kwargs}
    return links.review_link_create(actor=actor, **values)


def test_a_link_reviewer_approves_and_the_audit_row_names_them(persona, marketer, admin_member):
    post = in_review(persona, marketer)
    link, token = range_link(admin_member, persona)
    assert ReviewLink.objects.get().secret_sha256 != token and token not in str(link.__dict__)

    approved = links.review_link_approve(token=token, post_id=post.pk, comment="Love it")
    assert approved.status == PostStatus.APPROVED
    row = PostTransition.objects.get(post=post)
    assert (row.actor, row.review_link, row.external_reviewer) == (None, link, "Dana at Acme")
    assert (row.from_status, row.to_status, row.comment) == (PostStatus.IN_REVIEW, PostStatus.APPROVED, "Love it")


def test_a_link_reviewer_requests_changes_with_a_comment(persona, marketer, admin_member):
    post = in_review(persona, marketer)
    _link, token = range_link(admin_member, persona)
    with pytest.raises(ValidationFailed, match="A comment is required"):
        links.review_link_request_changes(token=token, post_id=post.pk, comment="  ")
    post.refresh_from_db()
    assert post.status == PostStatus.IN_REVIEW
    links.review_link_request_changes(token=token, post_id=post.pk, comment="Warmer light please")
    post.refresh_from_db()
    assert post.status == PostStatus.CHANGES_REQUESTED
    row = post.transitions.get()
    assert row.comment == "Warmer light please" and row.external_reviewer == "Dana at Acme"


@pytest.mark.parametrize("close", ["expire", "revoke"])
def test_an_expired_or_revoked_link_changes_nothing(persona, marketer, admin_member, close):
    post = in_review(persona, marketer)
    link, token = range_link(admin_member, persona)
    if close == "expire":
        ReviewLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        message = "expired"
    else:
        links.review_link_revoke(actor=marketer, link_id=link.pk)
        message = "revoked"
    for decide in (links.review_link_approve, links.review_link_request_changes):
        with pytest.raises(Gone, match=f"This review link was {message}|This review link {message}"):
            decide(token=token, post_id=post.pk, comment="x")
    post.refresh_from_db()
    assert post.status == PostStatus.IN_REVIEW and not post.transitions.exists()


def test_revoking_is_for_the_workspaces_authors_and_idempotent(persona, marketer, reviewer, outsider, admin_member):
    link, _token = range_link(admin_member, persona)
    with pytest.raises(NotFound):
        links.review_link_revoke(actor=outsider, link_id=link.pk)
    with pytest.raises(PermissionDenied):
        links.review_link_revoke(actor=reviewer, link_id=link.pk)
    first = links.review_link_revoke(actor=marketer, link_id=link.pk).revoked_at
    assert links.review_link_revoke(actor=admin_member, link_id=link.pk).revoked_at == first


def test_a_link_whose_sharer_left_the_workspace_is_closed(persona, marketer, admin_member):
    post = in_review(persona, marketer)
    _link, token = range_link(admin_member, persona)
    Membership.objects.filter(user=admin_member).delete()
    with pytest.raises(Gone, match="no longer has access"):
        links.review_link_approve(token=token, post_id=post.pk)
    post.refresh_from_db()
    assert post.status == PostStatus.IN_REVIEW


# The rule when the post's author shared the link: the link carries its creator's authority, so it cannot approve
# that creator's own post (the author could otherwise approve it themselves "as the client"). Changes can still
# be requested through it.
def test_no_self_approval_through_a_link_its_author_shared(persona, marketer):
    own = in_review(persona, marketer)
    _link, token = range_link(marketer, persona)
    with pytest.raises(PermissionDenied, match="shared this link") as refused:
        links.review_link_approve(token=token, post_id=own.pk)
    assert refused.value.code == "own_post"
    own.refresh_from_db()
    assert own.status == PostStatus.IN_REVIEW and not own.transitions.exists()
    links.review_link_request_changes(token=token, post_id=own.pk, comment="Crop tighter")
    own.refresh_from_db()
    assert own.status == PostStatus.CHANGES_REQUESTED


def test_no_self_approval_for_the_sharer_who_submitted_the_post(persona, marketer, admin_member):
    post = in_review(persona, marketer)
    PostTransition.objects.create(post=post, actor=admin_member, from_status="draft", to_status="in_review")
    _link, token = range_link(admin_member, persona)
    with pytest.raises(PermissionDenied, match="submitted by the person who shared this link"):
        links.review_link_approve(token=token, post_id=post.pk)


def test_another_members_link_approves_the_authors_post(persona, marketer, workspace):
    other_marketer = MembershipFactory(workspace=workspace, role=Role.MARKETER).user
    post = in_review(persona, marketer)
    _link, token = range_link(other_marketer, persona)
    assert links.review_link_approve(token=token, post_id=post.pk).status == PostStatus.APPROVED


def test_a_link_approval_still_checks_the_disclosure_rules(persona, marketer, admin_member):
    post = in_review(persona, marketer, is_sponsored=True, hashtags=["#lisbon"])
    _link, token = range_link(admin_member, persona)
    with pytest.raises(ValidationFailed, match="#ad"):
        links.review_link_approve(token=token, post_id=post.pk)


def test_only_posts_in_review_can_be_decided(persona, marketer, admin_member):
    post = in_review(persona, marketer)
    post.status = PostStatus.APPROVED
    post.save()
    _link, token = range_link(admin_member, persona)
    with pytest.raises(Exception, match="only posts in review"):
        links.review_link_approve(token=token, post_id=post.pk)


def test_a_link_shows_only_its_set(persona, marketer, admin_member, workspace):
    inside = in_review(persona, marketer)
    later = in_review(persona, marketer, when=aware(2030, 5, 1, 9))
    draft = PostFactory(persona=persona, created_by=marketer, scheduled_at=aware(2030, 3, 12, 9))
    sibling = in_review(PersonaFactory(workspace=workspace), marketer)
    link, _token = range_link(admin_member, persona)
    assert list(link_selectors.review_link_posts(link=link)) == [inside]
    for other in (later, draft, sibling):
        with pytest.raises(NotFound):
            link_selectors.review_link_post(link=link, post_id=other.pk)

    chosen, _token = links.review_link_create(
        actor=admin_member, expires_at=timezone.now() + dt.timedelta(days=1), reviewer_name="Dana", posts=[later]
    )
    assert chosen.scope == ReviewLinkScope.POSTS
    assert list(link_selectors.review_link_posts(link=chosen)) == [later]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"reviewer_name": " "}, "Name the external reviewer"),
        ({"expires_at": aware(2020, 1, 1)}, "in the future"),
        ({"expires_at": timezone.now() + dt.timedelta(days=400)}, "at most 90 days"),
        ({"end": aware(2030, 2, 1)}, "end after it starts"),
        ({"start": None}, "date range"),
        ({"expires_at": dt.datetime(2030, 1, 1)}, "timezone"),
    ],
)
def test_bad_link_requests_are_refused_clearly(persona, admin_member, values, message):
    with pytest.raises(ValidationFailed, match=message):
        range_link(admin_member, persona, **values)
    assert not ReviewLink.objects.exists()


def test_only_authors_share_links(persona, reviewer, outsider):
    with pytest.raises(PermissionDenied):
        range_link(reviewer, persona)
    with pytest.raises(NotFound):
        range_link(outsider, persona)


def test_tampered_tokens_name_no_link(persona, admin_member):
    link, token = range_link(admin_member, persona)
    assert link_selectors.review_link_from_token(token=token) == link
    value, signature = token.rsplit(":", 1)
    link_id, secret = value.split(".", 1)
    forged = link_selectors.link_token(link_id=link.pk, secret=secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    for bad in (f"{link_id}.{secret}:{signature[:-2]}xx", forged, "", "1.x:y", token + "x"):
        with pytest.raises(NotFound):
            link_selectors.review_link_from_token(token=bad)
