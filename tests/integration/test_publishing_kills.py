"""A real `celery -A config worker` SIGKILLed at each step of the publish sequence, then a new worker: exactly one
published post per step, each Publication `published` with its permalink.

One worker with a child per step holds five posts, each through its own account, and the loopback Graph server
holds each account's request at that post's step; once all five are held, the whole worker is SIGKILLed (the
messages stay unacked in Redis). The rescuer gets them after the visibility timeout, when the dead runs' leases
(shortened here) have expired, and resumes each from what the Publication row and the platform say.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pytest

from core.dispatch import task_send
from publishing.models import Publication, PublicationStatus
from scheduler.models import PostStatus, PostTransition
from tests.factories import PersonaFactory
from tests.integration.workers import PUBLIC_BASE_URL as PUBLIC
from tests.integration.workers import graph_serving, wait_for, worker_start
from tests.publishing.factories import ConnectedAccountFactory, scheduled_post
from tests.publishing.graph_server import GraphServer

pytestmark = [pytest.mark.services, pytest.mark.slow]

# Where each worker dies. `after`: the platform did the step, its answer never reached the worker.
STEPS = {
    "create": ("POST", "media", True),  # container made at the platform, its id never stored
    "status": ("GET", "container", False),  # container id stored, status being polled
    "publish": ("POST", "media_publish", False),  # container id stored, before media_publish
    "publish_answer": ("POST", "media_publish", True),  # published, the answer lost with the worker
    "read": ("GET", "media", False),  # media_publish answered, the media id not yet stored
}


@dataclass
class Hold:
    step: str
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    used: bool = False


class HoldingGraphServer(GraphServer):
    """Holds one request per account, at the step named for it, until released (after the worker is dead)."""

    def __init__(self):
        super().__init__()
        self.holds: dict[str, Hold] = {}  # platform user id -> its hold
        self.httpd.handle_error = lambda request, address: None  # answers written to a dead worker's socket

    def _kind(self, method: str, parts: list[str]) -> tuple[str, str] | None:
        """(user id, kind) of a publishing request, as STEPS names kinds."""
        if method == "POST" and len(parts) == 2:
            return parts[0], parts[1]
        if method == "GET" and len(parts) == 1:
            if parts[0] in self.containers:
                return self.containers[parts[0]]["user"], "container"
            if parts[0] in self.media:
                return self.media[parts[0]]["user"], "media"
        return None

    def route(self, method: str, parts: list[str], params: dict) -> tuple[int, dict]:
        found = self._kind(method, parts)
        hold = self.holds.get(found[0]) if found else None
        if hold is None or hold.used or STEPS[hold.step][:2] != (method, found[1]):
            return super().route(method, parts, params)
        hold.used = True
        after = STEPS[hold.step][2]
        answer = super().route(method, parts, params) if after else (503, {"error": {"message": "held", "code": 2}})
        # Waits without the state lock (taken by the handler around route): the other accounts' calls go on.
        self.lock.release()
        try:
            hold.reached.set()
            hold.release.wait(timeout=120)
        finally:
            self.lock.acquire()
        return answer

    def stop(self) -> None:
        for hold in self.holds.values():
            hold.release.set()
        super().stop()


@pytest.fixture
def graph(settings):
    with graph_serving(HoldingGraphServer(), settings) as server:
        yield server


def _worker_env(graph, settings, **extra: str) -> dict[str, str]:
    return {
        "INSTAGRAM_GRAPH_BASE_URL": f"{graph.url}/v23.0", "INSTAGRAM_OAUTH_BASE_URL": graph.url,
        "PUBLIC_BASE_URL": PUBLIC, "PUBLISHING_TOKEN_KEYS": settings.PUBLISHING_TOKEN_KEYS,
        # A dead run keeps others off its post this long: shorter than the visibility timeout, so the redelivered
        # message finds the post free.
        "PUBLISHING_LEASE_SECONDS": "5", **extra,
    }  # fmt: skip


def test_a_worker_killed_at_each_publish_step_gives_exactly_one_published_post(graph, settings, worker_env,
                                                                                 tmp_path):
    posts = {}
    for n, step in enumerate(STEPS):
        user = f"1784140000000{n:04d}"
        graph.token_for(user, f"token-{step}")
        persona = PersonaFactory()
        ConnectedAccountFactory(persona=persona, platform_user_id=user, token=f"token-{step}")
        graph.holds[user] = Hold(step)
        posts[step] = (user, scheduled_post(persona=persona))

    started = []
    try:
        # Its own visibility timeout is long: the held runs' messages are not handed out again while it lives.
        doomed = worker_start(name="doomed", env=worker_env, log_dir=tmp_path, concurrency=len(STEPS),
                              extra_env=_worker_env(graph, settings, CELERY_VISIBILITY_TIMEOUT="600",
                                                    PUBLISHING_HTTP_TIMEOUT="120"))
        started.append(doomed)
        doomed.wait_ready()
        for _user, post in posts.values():
            task_send("publishing.tasks.publish_post", args=[post.pk])
        for step, hold in zip(STEPS, graph.holds.values(), strict=True):
            assert hold.reached.wait(timeout=120), f"never reached {step}:\n{doomed.log()[-3000:]}"
        rows = {step: Publication.objects.get(post=post) for step, (_user, post) in posts.items()}
        doomed.kill()  # SIGKILL to the worker and its children: no ack, no cleanup
        for hold in graph.holds.values():
            hold.release.set()

        # What each dead run left behind.
        assert rows["create"].status == PublicationStatus.CREATING and not rows["create"].container_id
        assert rows["status"].status == PublicationStatus.CONTAINER_CREATED and rows["status"].container_id
        for step in ("publish", "publish_answer", "read"):
            assert rows[step].status == PublicationStatus.PUBLISHING and rows[step].container_id
            assert not rows[step].platform_media_id
        by_user = {user: [m for m in graph.published() if m["user"] == user] for user, _ in posts.values()}
        assert [step for step, (user, _) in posts.items() if by_user[user]] == ["publish_answer", "read"]

        started.append(worker_start(name="rescuer", env=worker_env, log_dir=tmp_path,
                                    extra_env=_worker_env(graph, settings)))
        wait_for(lambda: Publication.objects.filter(status=PublicationStatus.PUBLISHED).count() == len(STEPS),
                 timeout=180, what="every post published after the restart")
        time.sleep(2)  # nothing publishes any of them again
    finally:
        for worker in started:
            worker.kill()

    for step, (user, post) in posts.items():
        [media] = [m for m in graph.published() if m["user"] == user]  # exactly one at the platform
        publication = Publication.objects.get(post=post)
        assert publication.status == PublicationStatus.PUBLISHED, (step, publication.last_error)
        assert publication.platform_media_id == media["id"] and publication.permalink == media["permalink"], step
        post.refresh_from_db()
        assert post.status == PostStatus.PUBLISHED, step
        assert PostTransition.objects.filter(post=post, to_status=PostStatus.PUBLISHED).count() == 1, step
    # The answer-lost steps were found from the container's status, not published again.
    for step in ("publish_answer", "read"):
        user = posts[step][0]
        assert len([c for c in graph.calls("POST", f"{user}/media_publish")]) == 1, step
