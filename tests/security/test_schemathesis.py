"""Property-based fuzzing of every operation in the OpenAPI schema, in-process against the WSGI app:
malformed and random payloads, parameters and ids must never produce a 5xx."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token

from core.access import Role
from generation.runtime import tasks as generation_tasks
from provenance import tasks as provenance_tasks
from scheduler.models import PostStatus
from tests.factories import MembershipFactory, PersonaFactory, PostFactory, PostImageFactory

MAX_EXAMPLES = 12  # per operation; the whole run stays well under two minutes

pytestmark = [pytest.mark.slow]


@pytest.fixture
def token(db, monkeypatch):
    member = MembershipFactory(role=Role.ADMIN)
    persona = PersonaFactory(workspace=member.workspace, created_by=member.user)
    for status in (PostStatus.DRAFT, PostStatus.IN_REVIEW, PostStatus.APPROVED):
        PostImageFactory(post=PostFactory(persona=persona, status=status, created_by=member.user), position=0)
    # Fuzzing checks the HTTP layer; no training or rendering should run eagerly inside it.
    for task in (generation_tasks.train_lora, generation_tasks.generate_images, provenance_tasks.export_bundle_build):
        monkeypatch.setattr(task, "delay", lambda *args, **kwargs: None)
    return Token.objects.create(user=member.user).key


def test_no_operation_answers_a_server_error(token):
    import schemathesis

    from config.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
    headers = {"Authorization": f"Token {token}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        _fuzz(result.ok(), headers=headers, failures=failures)
        operations += 1
    assert operations >= 20
    assert not failures, "\n".join(sorted(set(failures)))


def _fuzz(operation, *, headers: dict, failures: list[str]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    def check(case):
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append(f"{operation.method.upper()} {case.formatted_path}: {response.status_code}")

    check()
