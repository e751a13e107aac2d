from urllib.parse import parse_qs, urlparse

import pytest

from core.errors import Conflict, ValidationFailed
from publishing.models import AccountStatus, ConnectedAccount
from publishing.services import account_connect_finish, account_connect_start, account_disconnect
from publishing.tokens import token_decrypt


def _state(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def test_connecting_instagram_stores_the_long_lived_token_encrypted(graph, persona, marketer):
    graph.grant_code("code-1", user_id="1784", username="ava.virtual")
    query = _state(account_connect_start(actor=marketer, persona_id=persona.pk, platform="instagram"))
    assert query["code_challenge_method"] == "S256" and query["client_id"] == "app-1"

    account = account_connect_finish(actor=marketer, state=query["state"], code="code-1")

    assert (account.platform_user_id, account.username, account.status) == ("1784", "ava.virtual", "connected")
    token = token_decrypt(account.access_token_encrypted)
    assert token.startswith("long-1784") and token.encode() not in bytes(account.access_token_encrypted)
    assert account.token_expires_at is not None
    assert "instagram_business_content_publish" in account.scopes
    exchange = graph.calls("POST", "oauth/access_token")[0]
    assert exchange["code_verifier"] and exchange["grant_type"] == "authorization_code"
    assert graph.calls("GET", "access_token")[0]["grant_type"] == "ig_exchange_token"


def test_connecting_threads_and_reconnecting_replaces_the_live_account(graph, persona, marketer):
    graph.grant_code("c1", user_id="55", username="ava")
    graph.grant_code("c2", user_id="55", username="ava")
    first = account_connect_finish(actor=marketer, code="c1", state=_state(
        account_connect_start(actor=marketer, persona_id=persona.pk, platform="threads"))["state"])
    second = account_connect_finish(actor=marketer, code="c2", state=_state(
        account_connect_start(actor=marketer, persona_id=persona.pk, platform="threads"))["state"])
    first.refresh_from_db()
    assert first.status == AccountStatus.REVOKED and bytes(first.access_token_encrypted) == b""
    assert second.status == AccountStatus.CONNECTED
    assert graph.calls("GET", "access_token")[-1]["grant_type"] == "th_exchange_token"


def test_a_state_mismatch_or_another_users_state_is_refused(graph, persona, marketer, reviewer):
    graph.grant_code("code-1")
    state = _state(account_connect_start(actor=marketer, persona_id=persona.pk, platform="instagram"))["state"]
    with pytest.raises(ValidationFailed, match="state mismatch"):
        account_connect_finish(actor=marketer, state="forged", code="code-1")
    with pytest.raises(ValidationFailed, match="state mismatch"):
        account_connect_finish(actor=reviewer, state=state, code="code-1")
    assert not ConnectedAccount.objects.exists()
    assert not graph.calls("POST", "oauth/access_token")  # nothing was exchanged


def test_a_replayed_callback_or_code_is_refused(graph, persona, marketer):
    graph.grant_code("code-1")
    state = _state(account_connect_start(actor=marketer, persona_id=persona.pk, platform="instagram"))["state"]
    account_connect_finish(actor=marketer, state=state, code="code-1")
    with pytest.raises(Conflict, match="already used"):
        account_connect_finish(actor=marketer, state=state, code="code-1")
    other = _state(account_connect_start(actor=marketer, persona_id=persona.pk, platform="instagram"))["state"]
    with pytest.raises(Conflict, match="already used"):
        account_connect_finish(actor=marketer, state=other, code="code-1")
    assert ConnectedAccount.objects.count() == 1
    assert len(graph.calls("POST", "oauth/access_token")) == 1


def test_disconnecting_erases_the_token(graph, persona, marketer):
    graph.grant_code("code-1")
    state = _state(account_connect_start(actor=marketer, persona_id=persona.pk, platform="instagram"))["state"]
    account = account_connect_finish(actor=marketer, state=state, code="code-1")
    account_disconnect(actor=marketer, account_id=account.pk)
    account.refresh_from_db()
    assert account.status == AccountStatus.REVOKED and bytes(account.access_token_encrypted) == b""


def test_the_connect_routes_round_trip_through_the_platform(graph, persona, marketer, client):
    graph.grant_code("code-9", user_id="1784", username="ava.virtual")
    client.force_login(marketer)
    start = client.post(f"/publishing/connect/{persona.pk}/instagram", {"next": f"/personas/{persona.pk}/"})
    assert start.status_code == 302 and start["Location"].startswith("https://www.instagram.com/oauth/authorize")
    state = _state(start["Location"])["state"]

    back = client.get("/publishing/callback/instagram", {"state": state, "code": "code-9"})

    assert back.status_code == 302 and back["Location"] == f"/personas/{persona.pk}/"
    assert ConnectedAccount.objects.get(persona=persona).username == "ava.virtual"
    replay = client.get("/publishing/callback/instagram", {"state": state, "code": "code-9"})
    assert replay.status_code == 302 and ConnectedAccount.objects.count() == 1
