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


# --- what a payment settles: the one fee-aware rule ----------------------------------------------
#
# A provider may take its fee from the receiver: YooMoney's signed ``amount`` (notification) and the
# operation-history ``amount`` are what the seller's wallet was credited, net of the fee of the payment
# type (card or wallet), while the invoice is what the buyer was asked to send.  Both settlement paths
# (a notification, a status poll) turn the net amount into the gross it stands for with
# :func:`gross_of`, and settlement judges that gross with :func:`covers` and :func:`surplus`: one rule,
# whatever reported the payment.  The payer's own figure (YooMoney's ``withdraw_amount``) is not signed
# and is never read.

#: the receiver's fee in basis points of what the payer sent, by (provider, payment type).  YooMoney
#: quickpay: 3 % on a bank card (AC, the type our links ask for), 1 % from a YooMoney wallet (PC).
#: A type not listed is taken as fee-free: the strictest reading (a short payment goes to a dispute,
#: never to a credit).
PROVIDER_FEES_BP: dict[tuple[str, str], int] = {("yoomoney", "AC"): 300, ("yoomoney", "PC"): 100}
#: the fee is rounded to the kopeck, so the gross that a net amount stands for is known only to within
#: this many kopecks per payment: an exact payment must never look short, nor an exact one overpaid
FEE_ROUNDING_KOPECKS: dict[str, int] = {"yoomoney": 1}


def fee_bp(kind: str, payment_type: str | None) -> int:
    return PROVIDER_FEES_BP.get((kind, payment_type or ""), 0)


def gross_of(kind: str, payment_type: str | None, net_kopecks: int) -> int:
    """The payer's amount that ``net_kopecks`` received after the fee stands for (nearest kopeck).

    ``net = gross − fee(gross)`` with the fee rounded to the kopeck, so this is ``gross`` within
    :data:`FEE_ROUNDING_KOPECKS`; with no fee it is ``net`` exactly.
    """
    if isinstance(net_kopecks, bool) or not isinstance(net_kopecks, int) or net_kopecks < 0:
        raise ValueError("net amount must be a non-negative integer number of kopecks")
    keep = 10_000 - fee_bp(kind, payment_type)
    return (2 * net_kopecks * 10_000 + keep) // (2 * keep)  # round half up, in integers


def covers(kind: str, invoice_kopecks: int, paid_kopecks: int | None) -> bool:
    """Does a payment reported (in gross terms) as ``paid_kopecks`` pay the invoice in full?"""
    if paid_kopecks is None:
        return False
    return paid_kopecks >= invoice_kopecks - FEE_ROUNDING_KOPECKS.get(kind, 0)


def surplus(kind: str, invoice_kopecks: int, paid_kopecks: int | None) -> int:
    """Kopecks paid beyond the invoice (0 when within the fee's rounding)."""
    extra = (paid_kopecks or 0) - invoice_kopecks
    return extra if extra > FEE_ROUNDING_KOPECKS.get(kind, 0) else 0
