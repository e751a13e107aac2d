import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from config.celery import app
from scheduler import tasks
from scheduler.models import PostStatus, PostTransition
from tests.factories import PostFactory

pytestmark = pytest.mark.django_db


def test_beat_and_task_names_resolve():
    app.loader.import_default_modules()  # what a worker or beat does at start-up: autodiscovers every app's tasks
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks
    for name in ("provenance.tasks.export_bundle_build", "provenance.tasks.export_sweep",
                 "generation.runtime.tasks.generate_images", "scheduler.tasks.draft_posts"):
        assert name in app.tasks


def test_expire_overdue_posts_task_expires_unapproved_past_posts():
    past = timezone.now() - dt.timedelta(hours=1)
    overdue = PostFactory(status=PostStatus.IN_REVIEW, scheduled_at=past)
    approved = PostFactory(status=PostStatus.APPROVED, scheduled_at=past)
    scheduled = PostFactory(status=PostStatus.SCHEDULED, scheduled_at=past)
    future = PostFactory(status=PostStatus.IN_REVIEW, scheduled_at=timezone.now() + dt.timedelta(days=1))

    assert tasks.expire_overdue_posts.delay().get() == 2

    for post, expected in (
        (overdue, "expired"),
        (approved, "expired"),
        (scheduled, "scheduled"),
        (future, "in_review"),
    ):
        post.refresh_from_db()
        assert post.status == expected
    assert PostTransition.objects.filter(to_status=PostStatus.EXPIRED).count() == 2
    assert tasks.expire_overdue_posts.delay().get() == 0  # idempotent
