"""Two reviewers deciding the same post at the same moment, on PostgreSQL row locks and real threads."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from config.exceptions import Conflict
from personas.models import Role
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
