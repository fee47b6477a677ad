"""Exact conversion between kopecks (int) and the providers' ruble strings.

Providers write rubles as decimal text ("100.00") or, in YooMoney's history, as a
JSON number.  Money never passes through float here: strings are split and
parsed as integers, JSON numbers are read as :class:`decimal.Decimal` and then
handled as text.
"""
from __future__ import annotations

import re
from decimal import Decimal

_RUBLES = re.compile(r"(?P<rub>\d{1,15})(?:\.(?P<kop>\d{1,2}))?")


def format_rubles(kopecks: int) -> str:
    """``12345`` → ``"123.45"`` (what YooKassa and YooMoney expect)."""
    if isinstance(kopecks, bool) or not isinstance(kopecks, int) or kopecks < 0:
        raise ValueError("amount must be a non-negative integer number of kopecks")
    return f"{kopecks // 100}.{kopecks % 100:02d}"


def parse_rubles(value: str | int | Decimal) -> int:
    """``"123.45"`` / ``Decimal("123.4")`` / ``123`` → kopecks, exactly, or ``ValueError``.

    At most two decimals (trailing zeros beyond them are tolerated for JSON numbers
    such as ``98.000``); no sign, exponent, spaces or NaN.
    """
    if isinstance(value, bool):
        raise ValueError("not an amount")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("negative amount")
        return value * 100
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("not a finite amount")
        text = format(value, "f")
        if "." in text:
            whole, frac = text.split(".", 1)
            frac = frac.rstrip("0")
            text = f"{whole}.{frac}" if frac else whole
    elif isinstance(value, str):
        text = value
    else:
        raise ValueError("not an amount")
    match = _RUBLES.fullmatch(text)
    if not match:
        raise ValueError("malformed ruble amount")
    kop = (match["kop"] or "0").ljust(2, "0")
    return int(match["rub"]) * 100 + int(kop)
