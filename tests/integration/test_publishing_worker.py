"""The beat tick's task on a real `celery -A config worker`: due posts of both platforms go out once, a carousel with
Instagram's AI flag on its parent container only, a Threads post saying its platform has no flag to set."""

from __future__ import annotations

import time

import pytest

from core.dispatch import task_send
from publishing.models import Publication, PublicationStatus
from scheduler.models import PostStatus
from tests.factories import PersonaFactory
from tests.integration.workers import PUBLIC_BASE_URL as PUBLIC
from tests.integration.workers import graph_serving, wait_for, worker_start
from tests.publishing.factories import ConnectedAccountFactory, scheduled_post
from tests.publishing.graph_server import GraphServer

pytestmark = [pytest.mark.services, pytest.mark.slow]



@pytest.fixture
def graph(settings):
    with graph_serving(GraphServer(), settings) as server:
        yield server


def test_a_real_worker_publishes_a_carousel_and_a_threads_post_once(graph, settings, worker_env, tmp_path):
    graph.token_for("17841400000000100", "token-ig")
    instagram = PersonaFactory()
    ConnectedAccountFactory(persona=instagram, platform_user_id="17841400000000100", token="token-ig")
    carousel = scheduled_post(persona=instagram, images=3)
    graph.token_for("55", "token-th")
    threads = PersonaFactory()
    ConnectedAccountFactory(persona=threads, platform="threads", platform_user_id="55", token="token-th")
    thread = scheduled_post(persona=threads, platform="threads", images=1, hashtags=["#lisbon"])

    worker = worker_start(name="publisher", env=worker_env, log_dir=tmp_path, extra_env={
        "INSTAGRAM_GRAPH_BASE_URL": f"{graph.url}/v23.0", "INSTAGRAM_OAUTH_BASE_URL": graph.url,
        "THREADS_GRAPH_BASE_URL": f"{graph.url}/v1.0", "PUBLIC_BASE_URL": PUBLIC,
        "PUBLISHING_TOKEN_KEYS": settings.PUBLISHING_TOKEN_KEYS,
    })  # fmt: skip
    try:
        worker.wait_ready()
        task_send("publishing.tasks.publish_due_posts")
        wait_for(lambda: Publication.objects.filter(status=PublicationStatus.PUBLISHED).count() == 2,
                 timeout=120, what="both posts published")
        task_send("publishing.tasks.publish_due_posts")  # a second tick finds nothing left to do
        time.sleep(2)
    finally:
        worker.kill()

    creates = graph.calls("POST", "/media")
    children, parent = creates[:3], creates[3]
    assert all(c["is_carousel_item"] == "true" and "is_ai_generated" not in c for c in children)
    assert parent["media_type"] == "CAROUSEL" and parent["is_ai_generated"] == "true"
    assert len(graph.calls("POST", "media_publish")) == len(graph.calls("POST", "threads_publish")) == 1
    assert sorted(m["user"] for m in graph.published()) == ["17841400000000100", "55"]
    ig, th = Publication.objects.get(post=carousel), Publication.objects.get(post=thread)
    assert ig.ai_flag_reported is True and ig.permalink
    assert th.ai_flag_reported is None and "no AI label" in th.ai_flag_note and th.permalink
    for post in (carousel, thread):
        post.refresh_from_db()
        assert post.status == PostStatus.PUBLISHED
