"""core.dispatch: tasks are sent by name, after commit; run inline when Celery is eager, else to the broker."""

from __future__ import annotations

import pytest

from config.celery import app
from core.dispatch import task_send
from scheduler import tasks

pytestmark = pytest.mark.django_db


def test_nothing_is_sent_before_commit_and_eager_mode_runs_the_task_by_name(
        monkeypatch, django_capture_on_commit_callbacks):
    ran = []
    monkeypatch.setattr(tasks.notify_comment_mentions, "delay", lambda *args: ran.append(("delay", args)))
    monkeypatch.setattr(tasks.notify_comment_mentions, "apply_async",
                        lambda args, queue: ran.append((queue, args)))
    with django_capture_on_commit_callbacks(execute=True):
        task_send("scheduler.tasks.notify_comment_mentions", args=(7,))
        task_send("scheduler.tasks.notify_comment_mentions", args=[8], queue="other")
        assert ran == []  # still inside the transaction
    assert ran == [("delay", (7,)), ("other", (8,))]


def test_without_eager_mode_the_message_goes_to_the_broker_with_the_tasks_limits(
        monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(app, "send_task", lambda name, args=None, kwargs=None, **options: sent.append(
        (name, tuple(args), options)))
    app.conf.task_always_eager = False
    try:
        with django_capture_on_commit_callbacks(execute=True):
            task_send("generation.runtime.tasks.generate_images", args=(3,), queue="gpu-xl")
            task_send("provenance.tasks.export_bundle_build", args=(4,))
    finally:
        app.conf.task_always_eager = True
    (render_name, render_args, render_options), (export_name, export_args, _) = sent
    assert (render_name, render_args, render_options["queue"]) == ("generation.runtime.tasks.generate_images", (3,),
                                                                    "gpu-xl")
    # The worker enforces the limits the message carries: the task's own, stamped by the sender.
    render = app.tasks["generation.runtime.tasks.generate_images"]
    assert (render_options["soft_time_limit"], render_options["time_limit"]) == (render.soft_time_limit,
                                                                                 render.time_limit)
    assert (export_name, export_args) == ("provenance.tasks.export_bundle_build", (4,))
