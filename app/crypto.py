"""Encryption of secrets at rest (provider credentials, TOTP seeds).

``ENCRYPTION_KEYS`` holds Fernet keys, newest first.  :class:`MultiFernet`
encrypts with the first and decrypts with any, so a new key can be put in
front and ``flask keys rotate`` re-encrypts the stored values at leisure.
Ciphertext is what the database holds; plaintext exists only in memory.
"""
from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

from config import DEFAULT_SECRET_KEY


class SecretUnreadable(Exception):
    """A stored secret could not be decrypted with any configured key."""


def _keys_from_config(config) -> list[bytes]:
    keys = [k.encode() for k in config.get("ENCRYPTION_KEYS") or []]
    if keys:
        return keys
    # Development only: derive a stable key from SECRET_KEY so `make run` needs no setup.
    # Production refuses to start without ENCRYPTION_KEYS (see create_app).
    digest = hashlib.sha256(("pokerpay-dev:" + (config.get("SECRET_KEY") or DEFAULT_SECRET_KEY)).encode()).digest()
    return [base64.urlsafe_b64encode(digest)]


def fernet(config=None) -> MultiFernet:
    config = config if config is not None else current_app.config
    return MultiFernet([Fernet(k) for k in _keys_from_config(config)])


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("secret cannot be decrypted with the configured keys") from exc


def rotate(token: str) -> str:
    """Re-encrypt ``token`` under the newest key (no-op in meaning, new ciphertext)."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("secret cannot be decrypted with the configured keys") from exc


def mask(secret: str, visible: int = 4) -> str:
    """What the UI shows of a secret: its last few characters at most."""
    if not secret:
        return ""
    if len(secret) <= visible * 2:
        return "•" * 8
    return "•" * 8 + secret[-visible:]
