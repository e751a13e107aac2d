"""Sign-in throttling, CSRF on forms, and uploaded files served only to members."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from core.access import Role
from personas.auth import login_attempt_locked
from tests.factories import MembershipFactory, PersonaFactory, UserFactory, png_bytes

PASSWORD = "pw-Correct-Horse-1"


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def member(db):
    return MembershipFactory(role=Role.MARKETER).user


def _login(client: Client, username: str, password: str, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def test_login_locks_out_after_repeated_failures_per_username_and_ip(member, settings):
    settings.LOGIN_MAX_FAILURES = 3
    client = Client()
    for _ in range(3):
        assert _login(client, member.username, "wrong").status_code == 200  # the form again, with an error
    locked = _login(client, member.username, PASSWORD)  # even the right password is refused now
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # Another IP address, or another username from this one, is not affected.
    assert _login(Client(), member.username, PASSWORD, REMOTE_ADDR="10.0.0.9").status_code == 302
    other = MembershipFactory(role=Role.MARKETER).user
    assert _login(Client(), other.username, PASSWORD).status_code == 302


def test_the_admin_login_is_throttled_too(member, settings):
    settings.LOGIN_MAX_FAILURES = 2
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    for _ in range(2):
        client.post("/admin/login/", {"username": staff.username, "password": "nope"})
    assert login_attempt_locked(username=staff.username, ip="127.0.0.1")
    response = client.post("/admin/login/?next=/admin/", {"username": staff.username, "password": PASSWORD})
    assert response.status_code == 200  # the login form again, not the redirect into the admin
    assert "_auth_user_id" not in client.session


def test_a_successful_login_resets_the_failure_count(member, settings):
    settings.LOGIN_MAX_FAILURES = 3
    client = Client()
    _login(client, member.username, "wrong")
    _login(client, member.username, "wrong")
    assert _login(client, member.username, PASSWORD).status_code == 302
    client = Client()
    _login(client, member.username, "wrong")
    _login(client, member.username, "wrong")
    assert _login(client, member.username, PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("url_name", "kwargs", "data"),
    [
        ("login", {}, {"username": "x", "password": "y"}),
        ("personas:create", {}, {"name": "Nova"}),
        ("export_create", {}, {}),
        ("logout", {}, {}),
    ],
)
def test_forms_refuse_a_post_without_a_csrf_token(member, url_name, kwargs, data):
    client = Client(enforce_csrf_checks=True)
    if url_name != "login":
        client.force_login(member)
    response = client.post(reverse(url_name, kwargs=kwargs), data)
    assert response.status_code == 403


def test_api_session_writes_need_csrf_but_token_auth_does_not(member):
    from rest_framework.authtoken.models import Token

    persona = PersonaFactory(workspace=member.memberships.first().workspace)
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    body = {"persona": persona.pk, "platform": "instagram", "caption": "hi"}
    assert client.post("/api/v1/posts/", body, content_type="application/json").status_code == 403
    token = Token.objects.create(user=member)
    response = Client(enforce_csrf_checks=True).post(
        "/api/v1/posts/", body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token.key}"
    )
    assert response.status_code == 201, response.content


def test_uploaded_files_are_served_only_to_members(member):
    workspace = member.memberships.first().workspace
    name = default_storage.save(f"workspaces/{workspace.pk}/uploads/secret.png", ContentFile(png_bytes(8, 8)))
    url = f"/media/{name}"
    owner = Client()
    owner.force_login(member)
    response = owner.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    assert Client().get(url).status_code == 404  # anonymous
    outsider = Client()
    outsider.force_login(MembershipFactory(role=Role.ADMIN).user)
    assert outsider.get(url).status_code == 404
    # Traversal out of the workspace folder is refused, even for a member.
    assert owner.get(f"/media/workspaces/{workspace.pk}/../{workspace.pk + 1}/uploads/secret.png").status_code == 404
    assert owner.get("/media/workspaces/%2e%2e/etc/passwd").status_code == 404
