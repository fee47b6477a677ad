"""Quotes: how many dollars a ruble amount buys, and the fees, at the settings in force.

All integer arithmetic.  Rounding always favours the party that is not
surprised by it: the buyer is told the exact dollars before confirming, and
the quote is locked on the deposit, so later rate changes never touch it.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from app.errors import ValidationFailed
from app.models.settings import PROVIDER_KINDS, PlatformSettings
from app.money import format_rub


@dataclass(frozen=True)
class Quote:
    kind: str
    #: rubles the buyer pays, kopecks
    amount_kopecks: int
    #: kopecks per dollar
    rate_kopecks: int
    #: dollars the seller's escrow gives up, cents
    usd_cents: int
    #: part of usd_cents the platform keeps as the buyer fee
    buyer_fee_cents: int
    settings_id: int

    @property
    def buyer_receives_cents(self) -> int:
        return self.usd_cents - self.buyer_fee_cents


def quote(kind: str, amount_kopecks: int, settings: PlatformSettings) -> Quote:
    if kind not in PROVIDER_KINDS:
        raise ValidationFailed(str(_l("Unknown payment method.")))
    if amount_kopecks < settings.invoice_min_kopecks or amount_kopecks > settings.invoice_max_kopecks:
        raise ValidationFailed(str(_l(
            "The amount must be between %(min)s and %(max)s.",
            min=format_rub(settings.invoice_min_kopecks), max=format_rub(settings.invoice_max_kopecks))))
    rate = settings.rate_for(kind)
    usd_cents = amount_kopecks * 100 // rate
    fee = usd_cents * settings.buyer_fee_bps // 10_000
    if usd_cents <= 0 or fee >= usd_cents:
        raise ValidationFailed(str(_l("The amount is too small.")))
    return Quote(kind=kind, amount_kopecks=amount_kopecks, rate_kopecks=rate, usd_cents=usd_cents,
                 buyer_fee_cents=fee, settings_id=settings.id)
