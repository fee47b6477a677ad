"""What a buyer can buy right now, per payment method: the ruble ranges and the rate.

One function answers both "what does the form show" and "what does the form
accept", so the two cannot drift apart.  An amount is buyable when some request
the matcher could pick takes it whole: within the request's own smallest and
largest invoice, within what its escrow still covers at the rate, and within
the platform's invoice bounds.  The union of those ranges is the offer; an
amount outside it (below, above, or in a gap between two sellers' ranges) would
only become a dead "no seller" purchase, so it is refused before anything is
written.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.database import utcnow
from app.extensions import db
from app.market import form_limits, matching
from app.models.market import WithdrawalRequest
from app.models.payment_form import PaymentForm
from app.models.settings import PROVIDER_KINDS, PlatformSettings
from app.money import format_rub

#: the preview's answer for a method nobody sells through (the form does not offer it at all)
NO_SELLER = _l("Nobody is selling through this method right now; choose another or try again in a few minutes.")

_w = WithdrawalRequest.__table__
_f = PaymentForm.__table__


@dataclass(frozen=True)
class Offer:
    kind: str
    #: the amounts some seller takes now, kopecks: disjoint, ascending, both ends accepted
    ranges: tuple[tuple[int, int], ...]
    #: kopecks per dollar at the settings in force
    rate_kopecks: int

    @property
    def min_kopecks(self) -> int:
        return self.ranges[0][0]

    @property
    def max_kopecks(self) -> int:
        return self.ranges[-1][1]

    def ranges_text(self) -> str:
        return ", ".join(f"{format_rub(low)} – {format_rub(high)}" for low, high in self.ranges)

    def refusal(self, amount_kopecks: int) -> str | None:
        """Why this amount cannot be bought with this method (in words), or None if it can."""
        if any(low <= amount_kopecks <= high for low, high in self.ranges):
            return None
        if self.min_kopecks <= amount_kopecks <= self.max_kopecks:
            return str(_l("No seller takes this amount right now. Amounts sellers take: %(ranges)s.",
                          ranges=self.ranges_text()))
        return str(_l("For this method the amount must be from %(min)s to %(max)s.",
                      min=format_rub(self.min_kopecks), max=format_rub(self.max_kopecks)))


def _merged(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:  # overlapping or touching (kopecks are whole)
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return tuple(merged)


@dataclass(frozen=True)
class Servable:
    """One request the matcher could give this buyer now, as the one invoice it takes whole."""

    request_id: int
    #: the smallest and largest invoice it takes, kopecks (its own bounds, its free dollars, the platform's)
    low: int
    high: int
    escrow_account_id: int
    payment_form_id: int


def servable(kind: str, buyer_id: int, settings: PlatformSettings, *, request_ids: list[int] | None = None,
             lock: bool = False) -> list[Servable]:
    """The rule, written once: which requests the matcher could give this buyer, and which amounts each takes
    whole, in queue (FIFO) order.  The offer of a method is the union of these ranges; a split purchase
    (:mod:`app.market.split_fill`) is planned over them, and re-checked against them under the requests'
    locks (``request_ids``, ``lock``) before its parts are reserved.
    """
    rate = settings.rate_for(kind)
    tables, head = matching.queue_head(kind)
    free = matching.escrow_free_column()
    # the forms' own limits: under lock the forms are locked as the single path locks them (form_limits.Gate)
    gate = form_limits.Gate(utcnow(), lock=lock)
    query = (
        sa.select(_w.c.id, _w.c.min_invoice_kopecks, _w.c.max_invoice_kopecks, free.label("free_cents"),
                  _w.c.escrow_account_id, _w.c.payment_form_id, *(_f.c[name] for name in form_limits.COLUMNS))
        .select_from(tables)
        .where(*head, _w.c.seller_id != buyer_id, free > 0)
        .order_by(_w.c.queued_at, _w.c.id)
    )
    if request_ids is not None:
        query = query.where(_w.c.id.in_(request_ids))
    if lock:
        query = query.with_for_update(of=_w)
    takers = []
    for row in db.session.execute(query).all():
        # an invoice of A kopecks holds A * 100 // rate cents: at most free_cents when A <= free_cents * rate // 100
        low = max(row.min_invoice_kopecks, settings.invoice_min_kopecks)
        high = min(row.max_invoice_kopecks, row.free_cents * rate // 100, settings.invoice_max_kopecks)
        if low <= high:
            takers.append((row, low, high))
    gate.prepare(row for row, _low, _high in takers)  # every limited form's use in one statement
    result = []
    for row, low, high in takers:
        cap = gate.largest(row)  # closed by its hours, its day or its gap: None
        if cap is not None and low <= min(high, cap):
            result.append(Servable(row.id, low, min(high, cap), row.escrow_account_id, row.payment_form_id))
    return result


def _offer(kind: str, buyer_id: int, settings: PlatformSettings) -> Offer | None:
    """One query: each request the matcher could give this buyer, as the range of invoices it takes whole."""
    ranges = [(r.low, r.high) for r in servable(kind, buyer_id, settings)]
    return Offer(kind=kind, ranges=_merged(ranges), rate_kopecks=settings.rate_for(kind)) if ranges else None


def offers(buyer_id: int, settings: PlatformSettings, kinds: tuple[str, ...] = PROVIDER_KINDS) -> list[Offer]:
    """The methods with a seller for this buyer now, each with the amounts it accepts (one query per kind)."""
    found = (_offer(kind, buyer_id, settings) for kind in kinds if kind in PROVIDER_KINDS)
    return [offer for offer in found if offer is not None]


def offer_for(buyer_id: int, settings: PlatformSettings, kind: str) -> Offer | None:
    """The one method's offer, or None when nobody sells through it now."""
    found = offers(buyer_id, settings, (kind,))
    return found[0] if found else None
