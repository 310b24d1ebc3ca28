"""Encryption of secrets at rest (OAuth tokens, passwords, private keys).

ENCRYPTION_KEYS holds one or more Fernet keys, comma-separated. The first one
encrypts; all of them decrypt, so a key is rotated by putting a new key first,
running `manage.py rotate_encryption_keys`, then dropping the old key.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """The ciphertext was made with a key we no longer have."""


@cache
def _fernet() -> MultiFernet:
    keys = [k.strip() for k in settings.ENCRYPTION_KEYS if k.strip()]
    if not keys:
        raise ImproperlyConfigured("ENCRYPTION_KEYS is empty.")
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except ValueError as exc:
        raise ImproperlyConfigured("ENCRYPTION_KEYS must be Fernet keys (Fernet.generate_key()).") from exc


def reset_cache() -> None:
    _fernet.cache_clear()


def encrypt(data: dict[str, Any]) -> str:
    return _fernet().encrypt(json.dumps(data).encode()).decode()


def decrypt(token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise SecretUnreadable("The stored credentials cannot be decrypted with the configured keys.") from exc


def rotate(token: str) -> str:
    """Re-encrypt with the first (newest) key."""
    return _fernet().rotate(token.encode()).decode() if token else token
