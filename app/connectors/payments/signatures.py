"""Signature algorithms of the providers, as pure functions (checked against the published vectors).

Comparisons go through :func:`hmac.compare_digest` so that a forged signature
cannot be found byte by byte from response timings.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

#: the fields of a YooMoney notification that its sha1_hash covers, in order
#: (the secret goes between ``codepro`` and ``label``)
YOOMONEY_HASHED_FIELDS = ("notification_type", "operation_id", "amount", "currency",
                          "datetime", "sender", "codepro")


def _token_value(value) -> str:
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    return str(value)


def tbank_token(fields: Mapping[str, object], password: str) -> str:
    """T-Bank ``Token``: root scalars (not ``Token``, not objects/arrays/null) + Password,
    sorted by key, values concatenated, SHA-256, lowercase hex."""
    pairs = {
        key: _token_value(value)
        for key, value in fields.items()
        if key != "Token" and value is not None and not isinstance(value, (dict, list, tuple))
    }
    pairs["Password"] = password
    joined = "".join(pairs[key] for key in sorted(pairs))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def tbank_token_valid(fields: Mapping[str, object], password: str) -> bool:
    token = fields.get("Token")
    if not isinstance(token, str):
        return False
    return hmac.compare_digest(tbank_token(fields, password).encode(), token.strip().lower().encode())


def yoomoney_sha1(fields: Mapping[str, str], notification_secret: str) -> str:
    """YooMoney ``sha1_hash`` of a notification (``&``-joined fields with the secret before the label)."""
    parts = [fields.get(name, "") for name in YOOMONEY_HASHED_FIELDS]
    parts += [notification_secret, fields.get("label", "")]
    return hashlib.sha1("&".join(parts).encode("utf-8")).hexdigest()  # noqa: S324 - the provider's algorithm


def yoomoney_sha1_valid(fields: Mapping[str, str], notification_secret: str) -> bool:
    given = fields.get("sha1_hash")
    if not isinstance(given, str):
        return False
    expected = yoomoney_sha1(fields, notification_secret)
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())
