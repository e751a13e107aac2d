import pytest
from cryptography.fernet import Fernet

from publishing.tokens import TokenKeysMissing, TokenUnreadable, token_decrypt, token_encrypt
from tests.publishing.factories import ConnectedAccountFactory


def test_a_token_round_trips_and_is_not_stored_in_plain_text():
    secret = "IGAAT-long-lived-token"
    stored = token_encrypt(secret)
    assert secret.encode() not in stored
    assert token_decrypt(stored) == secret


def test_key_rotation_old_tokens_still_read_then_reencrypted_under_the_new_key(settings, db):
    from publishing.services import accounts_tokens_rotate

    old = settings.PUBLISHING_TOKEN_KEYS
    account = ConnectedAccountFactory(token="before-rotation")
    new = Fernet.generate_key().decode()
    settings.PUBLISHING_TOKEN_KEYS = f"{new},{old}"  # new first: it encrypts; the old one still decrypts
    account.refresh_from_db()
    assert token_decrypt(account.access_token_encrypted) == "before-rotation"
    assert accounts_tokens_rotate() == 1
    settings.PUBLISHING_TOKEN_KEYS = new  # the old key is dropped
    account.refresh_from_db()
    assert token_decrypt(account.access_token_encrypted) == "before-rotation"


def test_a_dropped_key_or_no_key_is_a_clear_error(settings):
    stored = token_encrypt("x")
    settings.PUBLISHING_TOKEN_KEYS = Fernet.generate_key().decode()
    with pytest.raises(TokenUnreadable):
        token_decrypt(stored)
    settings.PUBLISHING_TOKEN_KEYS = ""
    with pytest.raises(TokenKeysMissing, match="PUBLISHING_TOKEN_KEYS"):
        token_encrypt("x")
