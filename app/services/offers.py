"""What a buyer can buy right now, per payment method: the ruble range and the rate.

One function answers both "what does the form show" and "what does the form
accept", so the two cannot drift apart: the range is what the queue can serve
(:func:`app.services.matching.availability`) narrowed to the platform's own
invoice bounds.  An amount outside it would only become a dead "no seller"
purchase, so it is refused before anything is written.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from app.models.settings import PROVIDER_KINDS, PlatformSettings
from app.money import format_rub
from app.services import matching

#: the preview's answer for a method nobody sells through (the form does not offer it at all)
NO_SELLER = _l("Nobody is selling through this method right now; choose another or try again in a few minutes.")


@dataclass(frozen=True)
class Offer:
    kind: str
    #: the smallest and largest invoice, kopecks, both accepted
    min_kopecks: int
    max_kopecks: int
    #: kopecks per dollar at the settings in force
    rate_kopecks: int

    def refusal(self, amount_kopecks: int) -> str | None:
        """Why this amount cannot be bought with this method (in words), or None if it can."""
        if self.min_kopecks <= amount_kopecks <= self.max_kopecks:
            return None
        return str(_l("For this method the amount must be from %(min)s to %(max)s.",
                      min=format_rub(self.min_kopecks), max=format_rub(self.max_kopecks)))


def offers(buyer_id: int, settings: PlatformSettings, kinds: tuple[str, ...] = PROVIDER_KINDS) -> list[Offer]:
    """The methods with a seller for this buyer now, each with the range it accepts (one query per kind)."""
    rates = {kind: settings.rate_for(kind) for kind in kinds if kind in PROVIDER_KINDS}
    result = []
    for a in matching.availability(buyer_id, rates):
        low = max(a.min_kopecks, settings.invoice_min_kopecks)
        high = min(a.max_kopecks, settings.invoice_max_kopecks)
        if low <= high:
            result.append(Offer(kind=a.kind, min_kopecks=low, max_kopecks=high, rate_kopecks=rates[a.kind]))
    return result


def offer_for(buyer_id: int, settings: PlatformSettings, kind: str) -> Offer | None:
    """The one method's offer, or None when nobody sells through it now."""
    found = offers(buyer_id, settings, (kind,))
    return found[0] if found else None

