"""Connected accounts: the OAuth authorization-code flow (state and PKCE verifier kept server-side, single use),
disconnecting, and marking an account whose token the platform refused. Publishing itself: publishing.publish."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from core.access import SCHEDULER_ROLES
from core.errors import Conflict, NotFound, ValidationFailed
from personas.models import Persona
from personas.selectors import role_require
from publishing.models import LIVE_ACCOUNT_STATUSES, AccountPlatform, AccountStatus, ConnectedAccount, OAuthState
from publishing.platforms import instagram, threads
from publishing.selectors import platform_setup_missing
from publishing.tokens import token_encrypt, token_rotate

STATE_MAX_AGE = dt.timedelta(minutes=15)
CLIENTS = {AccountPlatform.INSTAGRAM: instagram, AccountPlatform.THREADS: threads}


def platform_client(platform: str):
    try:
        return CLIENTS[platform]
    except KeyError:
        raise ValidationFailed(f"Publishing to {platform} is not supported.", code="unsupported_platform") from None


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def account_connect_start(*, actor: AbstractBaseUser, persona_id: int, platform: str) -> str:
    """Begin connecting `platform` for the persona: the URL to send the browser to."""
    client = platform_client(platform)
    persona = Persona.objects.filter(pk=persona_id).first()
    if persona is None:
        raise NotFound("Persona not found.")
    role_require(user=actor, workspace_id=persona.workspace_id, roles=SCHEDULER_ROLES, not_found="Persona not found.")
    missing = platform_setup_missing(platform=platform)
    if missing:
        # Said here rather than sending the browser to a consent screen that rejects an empty client id.
        raise ValidationFailed(f"Connecting {AccountPlatform(platform).label} is not set up on this installation: "
                               f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} empty.",
                               code="platform_not_configured")
    state = OAuthState.objects.create(
        persona=persona, platform=platform, state=secrets.token_urlsafe(32), code_verifier=secrets.token_urlsafe(64),
        started_by=actor,
    )
    return client.authorize_url(state=state.state, code_challenge=_challenge(state.code_verifier))


def account_connect_finish(*, actor: AbstractBaseUser, state: str, code: str) -> ConnectedAccount:
    """The OAuth callback: check `state` (issued to this user, recent, unused), exchange `code`, store the account.
    A state used before, or a code seen before, is refused: a replayed callback connects nothing."""
    code_sha = hashlib.sha256(code.encode()).hexdigest()
    with transaction.atomic():
        flow = OAuthState.objects.select_for_update().filter(state=state).first()
        if flow is None or flow.started_by_id != actor.pk:
            raise ValidationFailed("The sign-in answer does not match a connection you started (state mismatch). "
                                   "Start connecting again.", code="state_mismatch")
        if flow.used_at is not None or OAuthState.objects.filter(code_sha256=code_sha).exists():
            raise Conflict("This authorization was already used; start connecting again.", code="code_replayed")
        if timezone.now() - flow.created_at > STATE_MAX_AGE:
            raise ValidationFailed("The connection attempt expired; start connecting again.", code="state_expired")
        # Used before the exchange, committed: a second callback racing this one is refused whatever happens next.
        flow.used_at, flow.code_sha256 = timezone.now(), code_sha
        flow.save(update_fields=["used_at", "code_sha256"])
    grant = platform_client(flow.platform).code_exchange(code=code, code_verifier=flow.code_verifier)
    with transaction.atomic():
        ConnectedAccount.objects.select_for_update().filter(
            persona_id=flow.persona_id, platform=flow.platform, status__in=LIVE_ACCOUNT_STATUSES
        ).update(status=AccountStatus.REVOKED, access_token_encrypted=b"",
                 status_reason="Replaced by a new connection.")
        return ConnectedAccount.objects.create(
            persona_id=flow.persona_id, platform=flow.platform, platform_user_id=grant.user_id,
            username=grant.username, access_token_encrypted=token_encrypt(grant.access_token),
            token_expires_at=grant.expires_at, scopes=grant.scopes, connected_by=actor,
        )


def account_disconnect(*, actor: AbstractBaseUser, account_id: int) -> ConnectedAccount:
    """Revoke the account here: the token is erased, nothing publishes through it again."""
    with transaction.atomic():
        account = ConnectedAccount.objects.select_for_update().select_related("persona").filter(pk=account_id).first()
        if account is None:
            raise NotFound("Account not found.")
        role_require(user=actor, workspace_id=account.persona.workspace_id, roles=SCHEDULER_ROLES,
                     not_found="Account not found.")
        account.status, account.access_token_encrypted = AccountStatus.REVOKED, b""
        account.status_reason = "Disconnected."
        account.save(update_fields=["status", "access_token_encrypted", "status_reason", "updated_at"])
    return account


def account_mark_reconnect_needed(*, account_id: int, reason: str) -> None:
    """The platform refused the token (expired, revoked): publishing through it waits for a reconnect."""
    ConnectedAccount.objects.filter(pk=account_id, status=AccountStatus.CONNECTED).update(
        status=AccountStatus.RECONNECT_NEEDED, status_reason=reason, updated_at=timezone.now()
    )


def account_token_store(*, account_id: int, access_token: str, expires_at: dt.datetime | None) -> None:
    """A refreshed token replaces the stored one."""
    ConnectedAccount.objects.filter(pk=account_id).update(
        access_token_encrypted=token_encrypt(access_token), token_expires_at=expires_at, updated_at=timezone.now()
    )


def accounts_tokens_rotate() -> int:
    """Re-encrypt every stored token with the first key of PUBLISHING_TOKEN_KEYS; returns how many."""
    count = 0
    for account in ConnectedAccount.objects.exclude(access_token_encrypted=b"").only("pk", "access_token_encrypted"):
        ConnectedAccount.objects.filter(pk=account.pk).update(
            access_token_encrypted=token_rotate(account.access_token_encrypted)
        )
        count += 1
    return count
