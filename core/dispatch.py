"""The one place Celery tasks are sent from: by name, after the current transaction commits.

Sending by name keeps an app's source free of the task modules it queues (a lower layer can queue a higher layer's
task without naming its module in an import), and waiting for the commit keeps a message from naming a row that
may still roll back. Routing is by name (settings.CELERY_TASK_ROUTES).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from celery import current_app
from django.db import transaction


def task_send(name: str, *, args: Sequence = (), queue: str | None = None, robust: bool = False) -> None:
    """Queue task `name` ("<module>.<function>") with `args` once the current transaction commits (at once outside
    one), on `queue` or its routed queue. `robust`: a broker that is down is logged, not raised, so what the
    transaction saved stands (a sweep sends it again)."""
    args = tuple(args)
    transaction.on_commit(lambda: _send(name, args=args, queue=queue), robust=robust)


def _send(name: str, *, args: tuple, queue: str | None) -> None:
    # The registered task, not send_task: apply_async stamps the task's time limits on the message (the worker
    # enforces what the message carries) and honours task_always_eager (tests, the embedded mode run it inline).
    importlib.import_module(name.rpartition(".")[0])  # thread-safe, unlike the app's lazy autodiscovery
    task = current_app.tasks[name]
    if queue:
        task.apply_async(args=args, queue=queue)
    else:
        task.delay(*args)
