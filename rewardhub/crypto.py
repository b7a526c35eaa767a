"""Encryption at rest for secrets we must read back to compute an HMAC (API keys, network secrets).

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`. FIELD_ENCRYPTION_KEYS lists Fernet keys, newest
first: the first encrypts, every one decrypts, so a key is rotated by prepending the new one and running
`manage.py rotate_encryption_key`. Without keys (local development) one is derived from SECRET_KEY.
"""

import base64
import hashlib
from functools import cache, lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


@cache
def _fernet() -> MultiFernet:
    keys = settings.FIELD_ENCRYPTION_KEYS or [
        base64.urlsafe_b64encode(hashlib.sha256(settings.SECRET_KEY.encode()).digest()).decode()
    ]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


@lru_cache(maxsize=4096)
def decrypt(token: str) -> str:
    """Cached per process by ciphertext (a token always decrypts to the same text): hot paths read the same
    few secrets on every request. The keys are read once per process too, so a rotation restarts workers."""
    return _fernet().decrypt(token.encode()).decode()


def decrypt_fresh(token: str, max_age: int) -> str | None:
    """The plaintext of a token encrypted at most max_age seconds ago, else None (Fernet tokens carry their time)."""
    try:
        return _fernet().decrypt(token.encode(), ttl=max_age).decode()
    except InvalidToken:
        return None


def reencrypt(token: str) -> str:
    """The same plaintext under the current first key."""
    return _fernet().rotate(token.encode()).decode()


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token; Python code only ever sees the plaintext."""

    def from_db_value(self, value, expression, connection):
        return value if value is None else decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return value if value in (None, "") else encrypt(value)
