"""Two reviewers deciding the same post at the same moment, on PostgreSQL row locks and real threads."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from core.access import Role
from core.errors import Conflict
from scheduler import services
from scheduler.models import PostStatus, PostTransition
from tests.factories import MembershipFactory, PersonaFactory, PostFactory, PostImageFactory, WorkspaceFactory

pytestmark = [pytest.mark.services]


@pytest.mark.parametrize(
    ("first", "second"), [("approve", "approve"), ("approve", "reject"), ("reject", "reject")]
)  # fmt: skip
def test_exactly_one_of_two_simultaneous_decisions_wins(transactional_db, first, second):
    workspace = WorkspaceFactory()
    author = MembershipFactory(workspace=workspace, role=Role.MARKETER).user
    reviewers = [MembershipFactory(workspace=workspace, role=Role.REVIEWER).user for _ in range(2)]
    persona = PersonaFactory(workspace=workspace, created_by=author)
    post = PostFactory(persona=persona, status=PostStatus.IN_REVIEW, created_by=author)
    PostImageFactory(post=post, position=0)

    calls = {
        "approve": lambda user: services.post_approve(actor=user, post_id=post.pk, comment="ok"),
        "reject": lambda user: services.post_reject(actor=user, post_id=post.pk, comment="off-brand"),
    }
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]

    def decide(slot: int, action: str) -> None:
        try:
            barrier.wait(timeout=10)
            results[slot] = calls[action](reviewers[slot]).status
        except Exception as exc:
            results[slot] = exc
        finally:
            connection.close()  # each thread has its own connection; the test DB flush needs them gone

    threads = [threading.Thread(target=decide, args=(i, a)) for i, a in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    wins = [r for r in results if isinstance(r, str)]
    losses = [r for r in results if isinstance(r, Exception)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert isinstance(losses[0], Conflict), repr(losses[0])
    post.refresh_from_db()
    assert post.status == wins[0]
    assert f"is {PostStatus(post.status).label.lower()}" in losses[0].message
    assert PostTransition.objects.filter(post=post, from_status=PostStatus.IN_REVIEW).count() == 1


@pytest.mark.slow
def test_two_gpu_workers_share_a_burst_of_jobs_and_render_each_exactly_once(transactional_db, workers):
    from django.db import transaction

    from generation import services as generation_services
    from generation.models import DraftingStatus, GeneratedImage, GenerationJob, JobStatus, JobTransition
    from scheduler.models import Post
    from tests.integration.workers import wait_for

    workspace = WorkspaceFactory()
    marketer = MembershipFactory(workspace=workspace, role=Role.MARKETER).user
    persona = PersonaFactory(workspace=workspace, created_by=marketer)
    workers("gpu0", GENERATION_MAX_BATCH="4")
    workers("gpu1", GENERATION_MAX_BATCH="4")
    with transaction.atomic():  # one burst: eight jobs queued at once, two workers racing for them
        jobs = [
            generation_services.generation_job_create(
                actor=marketer, persona=persona, scene=f"scene {n}", platform="instagram", num_variants=2, steps=3,
                seed=100 * n, allow_base_model=True,
            )
            for n in range(8)
        ]  # fmt: skip
    ids = [job.pk for job in jobs]
    wait_for(lambda: GenerationJob.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).count() == 8,
             timeout=300, what="all eight jobs")
    for job in GenerationJob.objects.filter(pk__in=ids):
        assert list(GeneratedImage.objects.filter(job=job).order_by("index").values_list("seed", flat=True)) == [
            job.seed, job.seed + 1]
        assert JobTransition.objects.filter(generation_job=job, to_status=JobStatus.SUCCEEDED).count() == 1
        call = GenerationJob.objects.filter(batch_leader_id=job.batch_leader_id)
        assert job.batch_size == sum(call.values_list("num_variants", flat=True)) <= 4
    leaders = set(GenerationJob.objects.filter(pk__in=ids).values_list("batch_leader_id", flat=True))
    assert 4 <= len(leaders) < 8  # calls of up to four images: some jobs shared one
    wait_for(lambda: not GenerationJob.objects.filter(pk__in=ids, drafting_status=DraftingStatus.PENDING).exists(),
             timeout=120, what="the posts drafted after the jobs")
    assert Post.objects.filter(persona=persona).count() == 16


def test_two_simultaneous_draft_again_clicks_draft_each_post_once(transactional_db):
    from generation.models import DraftingStatus, JobStatus
    from scheduler.drafting import services as drafting
    from scheduler.models import Post
    from tests.factories import GeneratedImageFactory, GenerationJobFactory

    workspace = WorkspaceFactory()
    marketer = MembershipFactory(workspace=workspace, role=Role.MARKETER).user
    persona = PersonaFactory(workspace=workspace, created_by=marketer)
    job = GenerationJobFactory(persona=persona, created_by=marketer, status=JobStatus.SUCCEEDED, num_variants=2,
                               drafting_status=DraftingStatus.FAILED, drafting_error="Variant 1: ...")
    images = [GeneratedImageFactory(job=job, index=index) for index in range(2)]
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]

    def click(slot: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[slot] = drafting.generation_job_draft_again(actor=marketer, job_id=job.pk)
        except Exception as exc:
            results[slot] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=click, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Each click queues the drafting and answers at once; the queued tasks (run here, one after the other) find
    # the posts drafted by the first and make none twice.
    assert all(getattr(result, "drafting_status", None) == DraftingStatus.PENDING for result in results), results
    for _ in range(2):
        drafting.generation_job_posts_draft(job_id=job.pk, author_id=marketer.pk)
    job.refresh_from_db()
    assert job.drafting_status == DraftingStatus.DRAFTED
    for image in images:
        assert Post.objects.filter(images__generated_image=image).count() == 1
    assert Post.objects.filter(persona=persona).count() == 2
