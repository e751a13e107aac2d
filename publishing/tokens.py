"""Access tokens at rest: MultiFernet over the keys in settings.PUBLISHING_TOKEN_KEYS (comma-separated). The first
key encrypts; every key decrypts, so a new key is rolled out by putting it first and re-encrypting (tokens_rotate)
before the old one is dropped."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from core.errors import ApplicationError


class TokenKeysMissing(ApplicationError):
    pass


class TokenUnreadable(ApplicationError):
    pass


def _fernet() -> MultiFernet:
    keys = [key.strip() for key in (settings.PUBLISHING_TOKEN_KEYS or "").split(",") if key.strip()]
    if not keys:
        raise TokenKeysMissing(
            "Set PUBLISHING_TOKEN_KEYS (a Fernet key: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())') to connect platform accounts."
        )
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise TokenKeysMissing(f"PUBLISHING_TOKEN_KEYS holds a key that is not a Fernet key: {exc}") from exc


def token_encrypt(plaintext: str) -> bytes:
    return _fernet().encrypt(plaintext.encode())


def token_decrypt(ciphertext: bytes | memoryview) -> str:
    try:
        return _fernet().decrypt(bytes(ciphertext)).decode()
    except InvalidToken as exc:
        # A key was dropped before the tokens it encrypted were rotated: the account must be reconnected.
        raise TokenUnreadable("The stored token cannot be decrypted with PUBLISHING_TOKEN_KEYS.") from exc


def token_rotate(ciphertext: bytes | memoryview) -> bytes:
    """The same token encrypted with the first key."""
    return _fernet().rotate(bytes(ciphertext))
