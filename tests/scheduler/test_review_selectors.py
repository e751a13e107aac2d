"""The review page's reads: a page of the queue in the queue's order, read for its posts only, with what its cards
show in a fixed number of queries."""

import pytest
from django.utils import timezone

from bench.page_data import build_workspace
from scheduler import selectors
from scheduler.models import Post, PostStatus
from scheduler.posts.generated_selectors import posts_best_of_candidates, posts_likeness_annotate
from scheduler.workspace_selectors import drafts_with_change_requests, review_page

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue():
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    workspace, reviewer, persona = build_workspace(name="Queue Brand", personas=2, posts_per_persona=60, start=now)
    personas = {p.pk: p for p in workspace.personas.all()}
    return workspace, reviewer, personas


def test_pages_follow_the_whole_queues_order(queue, django_assert_num_queries):
    workspace, reviewer, personas = queue
    whole = [p.pk for p in selectors.review_queue(user=reviewer).filter(workspace_id=workspace.pk)]
    assert len(whole) == 30
    pages = []
    for offset in (0, 10, 20):
        with django_assert_num_queries(3):  # the posts, their images, their transitions
            page = review_page(user=reviewer, workspace_id=workspace.pk, offset=offset, limit=10, personas=personas)
        pages += page
    assert [p.pk for p in pages] == whole
    post = pages[0]
    assert post.persona is personas[post.persona_id] and post.author_name == "queue-brand-marketer"
    assert [i.pk for i in post.image_list] == [i.pk for i in post.images.all()]
    assert [(t.to_status, t.actor_name) for t in post.history] == [("in_review", "queue-brand-marketer")]


def test_a_page_sorted_or_filtered_by_likeness_is_the_queues(queue):
    workspace, reviewer, personas = queue

    def likeness(sort="", off_model=False):
        return lambda q: posts_likeness_annotate(q, sort=sort, off_model_only=off_model)

    for sort, off_model in (("likeness", False), ("-likeness", False), ("", True)):
        whole = list(likeness(sort, off_model)(selectors.review_queue(user=reviewer).filter(
            workspace_id=workspace.pk)).values_list("pk", "likeness_score"))
        page = review_page(user=reviewer, workspace_id=workspace.pk, limit=8, personas=personas,
                           refine=likeness(sort, off_model), annotate=likeness(sort, off_model))
        assert [(p.pk, p.likeness_score) for p in page] == whole[:8], (sort, off_model)
    off = review_page(user=reviewer, workspace_id=workspace.pk, personas=personas, refine=likeness(off_model=True))
    assert off and all(p.likeness_off_model for p in off)


def test_candidates_and_drafts_in_one_query_each(queue, django_assert_num_queries):
    workspace, reviewer, personas = queue
    page = review_page(user=reviewer, workspace_id=workspace.pk, limit=20, personas=personas)
    with django_assert_num_queries(1):
        candidates = posts_best_of_candidates(posts=page, images_of=lambda post: post.image_list)
    generated = [p for p in page if p.image_list[0].generated_image_id]
    assert generated and set(candidates) == {p.pk for p in generated}
    for post in generated:
        kept = post.image_list[0].generated_image_id
        assert [c.candidate for c in candidates[post.pk]] == [0, 1, 2]
        assert kept in [c.pk for c in candidates[post.pk]] and candidates[post.pk][0].job.best_of == 3
    with django_assert_num_queries(1):
        drafts = drafts_with_change_requests(workspace_id=workspace.pk, personas=personas, limit=5)
    assert [d.pk for d in drafts] == list(Post.objects.filter(
        workspace=workspace, status__in=[PostStatus.DRAFT, PostStatus.CHANGES_REQUESTED]
    ).order_by("-updated_at", "-id").values_list("pk", flat=True)[:5])
    sent_back = [d for d in drafts if d.status == PostStatus.CHANGES_REQUESTED]
    assert sent_back and all(d.change_comment == "Warmer light, please." for d in sent_back)
    assert all(d.persona is personas[d.persona_id] for d in drafts)


def test_a_page_of_another_workspace_is_empty(queue, outsider):
    workspace, _, personas = queue
    assert review_page(user=outsider, workspace_id=workspace.pk, personas=personas) == []
