"""API-key secrets: generation, the lookup hash, and encryption at rest with the Fernet keys of
API_KEY_ENCRYPTION_KEYS (the first encrypts, every one decrypts, so the keys can rotate)."""

from __future__ import annotations

import hashlib
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

# Keys look like `igw_<43 url-safe characters>`: scanners can recognise them, and the prefix
# shown in lists (the marker and 8 random characters) identifies one without revealing it.
SECRET_MARKER = "igw_"  # noqa: S105 (a format marker, not a secret)
PREFIX_LENGTH = len(SECRET_MARKER) + 8


class UndecryptableSecret(Exception):
    """A stored secret none of API_KEY_ENCRYPTION_KEYS decrypts."""


def new_secret() -> tuple[str, str, str]:
    """A fresh API key: (secret, prefix, lookup hash)."""
    secret = SECRET_MARKER + secrets.token_urlsafe(32)
    return secret, secret[:PREFIX_LENGTH], hash_secret(secret)


def hash_secret(secret: str) -> str:
    """The lookup hash of a secret: SHA-256, enough for 256 random bits (no guessing)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def cipher() -> MultiFernet:
    """The cipher of the keys configured now (settings may change in tests)."""
    return _cipher(tuple(settings.API_KEY_ENCRYPTION_KEYS))


def encrypt_secret(secret: str) -> str:
    return cipher().encrypt(secret.encode()).decode()


def decrypt_secret(token: str) -> str:
    """The clear secret of a stored token; raises UndecryptableSecret."""
    try:
        return cipher().decrypt(token.encode()).decode()
    except InvalidToken:
        raise UndecryptableSecret(
            "API_KEY_ENCRYPTION_KEYS: no configured key decrypts a stored API key"
        ) from None


def reencrypt(token: str) -> str:
    """The token encrypted again with the first key (a no-op in meaning); raises
    UndecryptableSecret."""
    if not token:
        return token
    try:
        return cipher().rotate(token.encode()).decode()
    except InvalidToken:
        raise UndecryptableSecret(
            "API_KEY_ENCRYPTION_KEYS: no configured key decrypts a stored API key"
        ) from None
