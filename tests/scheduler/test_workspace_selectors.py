import pytest

from core.platforms import Platform
from scheduler import workspace_selectors
from scheduler.models import PostStatus, PostTransition
from tests.factories import PersonaFactory, PostFactory, aware

pytestmark = pytest.mark.django_db


def test_post_lookups_stay_inside_the_callers_workspaces(persona, outsider):
    post = PostFactory(persona=persona)
    mine = [persona.workspace_id]
    assert workspace_selectors.post_in_workspaces(post_id=post.pk, workspace_ids=mine) == post
    assert workspace_selectors.post_in_workspaces(post_id=post.pk, workspace_ids=[]) is None
    assert workspace_selectors.post_ids_in_workspaces(post_ids=[post.pk, 999999], workspace_ids=mine) == {post.pk}
    assert workspace_selectors.post_ids_in_workspaces(post_ids=[post.pk], workspace_ids=[-1]) == set()


def test_drafts_carry_the_last_change_request(persona, marketer, reviewer):
    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.CHANGES_REQUESTED)
    PostTransition.objects.create(post=post, actor=reviewer, from_status="in_review", to_status="changes_requested",
                                  comment="older")
    PostTransition.objects.create(post=post, actor=reviewer, from_status="in_review", to_status="changes_requested",
                                  comment="Warmer light, please.")
    draft = PostFactory(persona=PersonaFactory(workspace=persona.workspace), status=PostStatus.DRAFT)
    PostFactory(persona=persona, status=PostStatus.IN_REVIEW)

    drafts = workspace_selectors.drafts_with_change_requests(workspace_id=persona.workspace_id)
    assert {d.pk for d in drafts} == {post.pk, draft.pk}
    noted = next(d for d in drafts if d.pk == post.pk)
    assert (noted.change_comment, noted.change_by) == ("Warmer light, please.", reviewer.username)
    only = workspace_selectors.drafts_with_change_requests(workspace_id=persona.workspace_id, persona_id=persona.pk)
    assert [d.pk for d in only] == [post.pk]


def test_persona_post_counts_and_approved_posts(persona):
    for status in (PostStatus.IN_REVIEW, PostStatus.IN_REVIEW, PostStatus.DRAFT, PostStatus.CHANGES_REQUESTED):
        PostFactory(persona=persona, status=status)
    older = PostFactory(persona=persona, status=PostStatus.APPROVED, platform=Platform.INSTAGRAM)
    newer = PostFactory(persona=persona, status=PostStatus.APPROVED, platform=Platform.THREADS,
                        scheduled_at=aware(2026, 6, 1))
    counted = workspace_selectors.persona_post_counts(workspace_id=persona.workspace_id)
    assert [(p.pk, p.in_review, p.drafts, p.approved) for p in counted] == [(persona.pk, 2, 2, 2)]
    assert [p.pk for p in workspace_selectors.approved_posts(workspace_id=persona.workspace_id)] == [
        older.pk, newer.pk
    ]
    assert [p.pk for p in workspace_selectors.approved_posts(workspace_id=persona.workspace_id,
                                                             platform=Platform.THREADS)] == [newer.pk]
