"""Helpers shared by the provider sandboxes: money text, signatures, JSON numbers, clocks.

The sandbox signs and checks with its own copy of the providers' algorithms
(not the platform's): the tests then prove that two independent
implementations agree, as they must with the real providers.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta, timezone

MSK = timezone(timedelta(hours=3), "MSK")
_RUBLES = re.compile(r"(\d{1,12})(?:\.(\d{1,2}))?")


def now() -> datetime:
    return datetime.now(UTC)


def rubles(kopecks: int) -> str:
    """12345 → "123.45"."""
    return f"{kopecks // 100}.{kopecks % 100:02d}"


def parse_rubles(text: str) -> int | None:
    """"123.45" → 12345 (exact, no float); None when malformed."""
    match = _RUBLES.fullmatch(text or "")
    if not match:
        return None
    return int(match[1]) * 100 + int((match[2] or "0").ljust(2, "0"))


def yookassa_time(moment: datetime) -> str:
    """``2026-11-28T07:00:00.000Z`` as YooKassa writes it."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def yoomoney_time(moment: datetime) -> str:
    """``2026-11-28T10:00:00.000+03:00`` as YooMoney writes it in notifications."""
    return moment.astimezone(MSK).isoformat(timespec="milliseconds")


def tbank_token(fields: dict, password: str) -> str:
    values = {}
    for key, value in fields.items():
        if key == "Token" or value is None or isinstance(value, (dict, list)):
            continue
        values[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    values["Password"] = password
    return hashlib.sha256("".join(values[k] for k in sorted(values)).encode()).hexdigest()


def tbank_token_ok(fields: dict, password: str) -> bool:
    token = fields.get("Token")
    return isinstance(token, str) and hmac.compare_digest(token.encode(), tbank_token(fields, password).encode())


YOOMONEY_HASHED = ("notification_type", "operation_id", "amount", "currency", "datetime", "sender", "codepro")


def yoomoney_sha1(fields: dict, secret: str) -> str:
    parts = [fields[name] for name in YOOMONEY_HASHED] + [secret, fields["label"]]
    return hashlib.sha1("&".join(parts).encode()).hexdigest()  # noqa: S324 - the provider's algorithm


class JsonNumber(str):
    """A decimal written as a bare JSON number (YooMoney's history has ``"amount": 98.00``)."""


def dumps_with_numbers(obj) -> str:
    """``json.dumps`` that writes :class:`JsonNumber` values unquoted, without going through float."""
    numbers: list[str] = []

    def mark(value):
        if isinstance(value, JsonNumber):
            numbers.append(str(value))
            return f"\x00{len(numbers) - 1}\x00"
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    text = json.dumps(mark(obj), ensure_ascii=False)
    return re.sub(r'"\\u0000(\d+)\\u0000"', lambda m: numbers[int(m[1])], text)
