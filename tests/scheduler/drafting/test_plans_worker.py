"""A 50-row content plan (5 rows bad) imported for real: its 45 jobs run on a real Celery worker process and
their drafts land in review already slotted at the planned times."""

from __future__ import annotations

import time

import pytest

from core.access import Role
from generation.models import DraftingStatus, GenerationJob
from scheduler.drafting import plan_selectors, plans
from scheduler.models import Post, PostStatus
from tests.factories import MembershipFactory, PersonaFactory
from tests.generation.test_worker_integration import _log_tail, broker_dir, shared_database, worker  # noqa: F401
from tests.scheduler.drafting.test_plans import plan_of_50

pytestmark = pytest.mark.slow

TIMEOUT_S = 900  # 45 tiny-model jobs and 45 drafting tasks on 2 shared CPU cores


@pytest.fixture
def batched(monkeypatch):
    # The worker renders up to 8 queued jobs of the same persona and settings in one pipeline call.
    monkeypatch.setenv("GENERATION_MAX_BATCH", "8")


def test_a_plan_runs_on_the_real_worker_and_its_drafts_land_slotted(batched, worker):  # noqa: F811
    process, log_path = worker
    marketer = MembershipFactory(role=Role.MARKETER).user
    persona = PersonaFactory(workspace=marketer.memberships.get().workspace, created_by=marketer)
    text, bad_lines = plan_of_50(persona.handle)

    # Autocommit: the import's on_commit hooks really send the 45 messages to the broker.
    plan = plans.content_plan_import(actor=marketer, workspace_id=persona.workspace_id, text=text, steps=2,
                                     allow_base_model=True)
    assert plan.items.count() == 45 and [e["row"] for e in plan.errors] == bad_lines

    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        progress = plan_selectors.content_plan_progress(plan=plan)
        if progress.done == 45:
            break
        if process.poll() is not None:
            pytest.fail(f"The worker exited with {process.returncode}:\n{_log_tail(log_path)}")
        time.sleep(1)
    else:
        pytest.fail(f"The plan did not finish in {TIMEOUT_S}s ({progress.jobs}, {progress.drafting}):\n"
                    f"{_log_tail(log_path)}")

    assert progress.jobs == {"succeeded": 45}, [i.problem for i in progress.items if i.problem][:3]
    assert progress.drafting == {DraftingStatus.DRAFTED: 45}
    assert progress.posts == {PostStatus.IN_REVIEW: 45} and progress.slotted == 45 and progress.percent == 100
    planned = {item.job_id: item.planned_at for item in plan.items.all()}
    for post in Post.objects.filter(persona=persona).prefetch_related("images__generated_image"):
        assert post.status == PostStatus.IN_REVIEW
        assert post.scheduled_at == planned[post.images.get().generated_image.job_id]
    assert GenerationJob.objects.filter(persona=persona).count() == 45
