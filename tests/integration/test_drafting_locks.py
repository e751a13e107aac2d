"""Drafting writes the captions before it locks the job: a stalled caption server holds no row lock and no open
transaction, and two drafters of one job make each post once. On PostgreSQL, whose row locks are real."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from core.access import Role
from generation.models import DraftingStatus, GenerationJob, JobStatus
from scheduler.drafting import services as drafting
from scheduler.models import Post
from tests.factories import (
    GeneratedImageFactory,
    GenerationJobFactory,
    MembershipFactory,
    PersonaFactory,
    WorkspaceFactory,
)
from tests.scheduler.captions.chat_server import ChatServer

pytestmark = [pytest.mark.services]


@pytest.fixture
def stalled_server(settings):
    release = threading.Event()
    with ChatServer(("wait", (release, "Golden hour on the pier."))) as server:
        settings.CAPTION_WRITER = "openai"
        settings.CAPTION_LLM_URL = server.url
        settings.CAPTION_LLM_MODEL = "test-model"
        settings.CAPTION_LLM_TIMEOUT = 30
        settings.CAPTION_LLM_RETRIES = 0
        settings.CAPTION_ALTERNATIVES = 1
        yield server, release
        release.set()


def _pending_job(num_variants: int = 1) -> GenerationJob:
    workspace = WorkspaceFactory()
    marketer = MembershipFactory(workspace=workspace, role=Role.MARKETER).user
    persona = PersonaFactory(workspace=workspace, created_by=marketer)
    job = GenerationJobFactory(persona=persona, created_by=marketer, status=JobStatus.SUCCEEDED,
                               num_variants=num_variants, drafting_status=DraftingStatus.PENDING)
    for index in range(num_variants):
        GeneratedImageFactory(job=job, index=index, variant=index)
    return job


def _drafter(job_id: int, results: list, slot: int) -> threading.Thread:
    def run() -> None:
        try:
            results[slot] = drafting.generation_job_posts_draft(job_id=job_id)
        except Exception as exc:
            results[slot] = exc
        finally:
            connection.close()  # each thread has its own connection; the test DB flush needs them gone

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _wait_for(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_stalled_caption_server_holds_no_lock_and_no_transaction(transactional_db, stalled_server):
    server, release = stalled_server
    job = _pending_job()
    results: list[object] = [None]
    thread = _drafter(job.pk, results, 0)
    _wait_for(lambda: server.requests, "the drafter to ask the caption server")

    with connection.cursor() as cursor:
        # Only succeeds when nobody holds the job's row lock (lock_timeout turns a wait into an error).
        cursor.execute("SET lock_timeout = '2s'")
        cursor.execute("UPDATE generation_generationjob SET drafting_error = 'touched' WHERE id = %s", [job.pk])
        assert cursor.rowcount == 1
        cursor.execute("SET lock_timeout = 0")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND state LIKE 'idle in transaction%%'"
        )
        assert cursor.fetchone()[0] == 0, "a connection sits in an open transaction while the caption server stalls"

    release.set()
    thread.join(timeout=60)
    assert isinstance(results[0], GenerationJob), results
    job.refresh_from_db()
    assert job.drafting_status == DraftingStatus.DRAFTED and not job.drafting_error
    post = Post.objects.get(persona=job.persona)
    assert post.caption.startswith("Golden hour on the pier.")


def test_two_drafters_of_one_job_make_each_post_once(transactional_db, stalled_server):
    server, release = stalled_server
    job = _pending_job(num_variants=2)
    results: list[object] = [None, None]
    threads = [_drafter(job.pk, results, slot) for slot in range(2)]
    # Both are writing captions at once (two variants each): neither has locked the job yet.
    _wait_for(lambda: len(server.requests) >= 2, "both drafters to ask the caption server")
    release.set()
    for thread in threads:
        thread.join(timeout=60)

    assert all(isinstance(result, GenerationJob) for result in results), results
    job.refresh_from_db()
    assert job.drafting_status == DraftingStatus.DRAFTED and not job.drafting_error
    for image in job.images.all():
        assert Post.objects.filter(images__generated_image=image).count() == 1
    assert Post.objects.filter(persona=job.persona).count() == 2
