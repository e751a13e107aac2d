"""The export Celery tasks (provenance.tasks): the build task is idempotent, the sweep re-queues only stale bundles."""

import datetime as dt

import pytest
from django.utils import timezone

from provenance import tasks as provenance_tasks
from provenance.bundles.build import export_bundle_create
from provenance.models import ExportBundle, ExportStatus
from scheduler.models import PostStatus, PostTransition
from tests.factories import PostFactory, aware

pytestmark = pytest.mark.django_db


def pending_bundle(actor, workspace, persona, age=dt.timedelta(0)):
    # Created outside captured on-commit callbacks: the build is never enqueued, like a lost message.
    bundle = export_bundle_create(
        actor=actor, workspace=workspace, persona_ids=[persona.pk], start=aware(2026, 3, 1), end=aware(2026, 4, 1)
    )
    ExportBundle.objects.filter(pk=bundle.pk).update(created_at=timezone.now() - age)
    return bundle


def test_export_sweep_requeues_only_stale_pending_bundles(
    workspace, marketer, persona, django_capture_on_commit_callbacks
):
    # A text post: the task's bookkeeping, not the labeling (tested on the shared bundle), is under test.
    post = PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=aware(2026, 3, 5, 9))
    stale = pending_bundle(marketer, workspace, persona, age=dt.timedelta(minutes=6))
    fresh = pending_bundle(marketer, workspace, persona, age=dt.timedelta(minutes=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert provenance_tasks.export_sweep.delay().get() == 1

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == ExportStatus.SUCCEEDED
    assert stale.progress == 100
    assert fresh.status == ExportStatus.PENDING
    post.refresh_from_db()
    assert post.status == PostStatus.EXPORTED


def test_export_bundle_build_task_is_idempotent(workspace, marketer, persona, django_capture_on_commit_callbacks):
    # A text post: the task's bookkeeping, not the labeling (tested on the shared bundle), is under test.
    post = PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=aware(2026, 3, 5, 9))
    bundle = pending_bundle(marketer, workspace, persona)

    with django_capture_on_commit_callbacks(execute=True):
        assert provenance_tasks.export_bundle_build.delay(bundle.pk).get() == "succeeded"
    bundle.refresh_from_db()
    first = (bundle.file.name, bundle.sha256, bundle.finished_at)

    with django_capture_on_commit_callbacks(execute=True):
        assert provenance_tasks.export_bundle_build.delay(bundle.pk).get() == "succeeded"
    bundle.refresh_from_db()
    assert (bundle.file.name, bundle.sha256, bundle.finished_at) == first
    assert PostTransition.objects.filter(post=post, to_status=PostStatus.EXPORTED).count() == 1
