"""What ops see of the market: the seller queue with each seller's record, and the invoice search.

Read-only.  Seller figures are computed for the sellers on the page in a few
grouped queries (never one query per row):
- fill rate: settled invoices out of those that ended (settled, expired, rejected);
- median confirmation time: invoice created → payment confirmed, over recent settled invoices;
- disputes: every dispute ever opened on the seller's invoices (from the audit log,
  since a resolved dispute leaves the invoice settled or rejected).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.core.paging import PAGE_SIZE, Page, contains_pattern
from app.database import UTCDateTime, utcnow
from app.extensions import db
from app.models.audit import AuditEvent
from app.models.market import LIVE_WITHDRAWAL_STATES, Deposit, WithdrawalRequest
from app.models.user import User

#: how far back the seller figures look
STATS_WINDOW = timedelta(days=30)
#: settled invoices per page of sellers used for the median (the newest)
MEDIAN_SAMPLE = 5000


@dataclass(frozen=True)
class SellerStats:
    ended: int = 0
    settled: int = 0
    disputes: int = 0
    median_confirm_seconds: int | None = None

    @property
    def fill_rate(self) -> int | None:
        """Percent of ended invoices that were paid; None with no history."""
        return self.settled * 100 // self.ended if self.ended else None


@dataclass(frozen=True)
class QueueRow:
    position: int
    request: WithdrawalRequest
    seller: User
    stats: SellerStats


def queue(kind: str | None = None, limit: int = 200) -> list[QueueRow]:
    """Live requests in queue order: active ones FIFO by the time they became active, then paused ones."""
    query = (
        sa.select(WithdrawalRequest, User).join(User, User.id == WithdrawalRequest.seller_id)
        .options(so.joinedload(WithdrawalRequest.payment_form))
        .where(WithdrawalRequest.status.in_(LIVE_WITHDRAWAL_STATES))
        .order_by(sa.case((WithdrawalRequest.status == "active", 0), else_=1),
                  WithdrawalRequest.queued_at, WithdrawalRequest.id)
        .limit(limit)
    )
    if kind:
        query = query.where(WithdrawalRequest.kind == kind)
    rows = db.session.execute(query).all()
    stats = seller_stats({seller.id for _, seller in rows})
    return [QueueRow(n, request, seller, stats.get(seller.id, SellerStats()))
            for n, (request, seller) in enumerate(rows, start=1)]


def seller_stats(seller_ids: set[int], now: datetime | None = None) -> dict[int, SellerStats]:
    if not seller_ids:
        return {}
    since = (now or utcnow()) - STATS_WINDOW
    ids = sorted(seller_ids)
    wr, d = WithdrawalRequest, Deposit
    counts = db.session.execute(
        sa.select(wr.seller_id,
                  sa.func.count().filter(d.status.in_(["settled", "expired", "rejected"])),
                  sa.func.count().filter(d.status == "settled"))
        .select_from(d).join(wr, wr.id == d.withdrawal_id)
        .where(wr.seller_id.in_(ids), d.created_at >= since)
        .group_by(wr.seller_id)
    ).all()
    durations: dict[int, list[float]] = {}
    for seller_id, created, confirmed in db.session.execute(
        sa.select(wr.seller_id, d.created_at, sa.func.coalesce(d.paid_at, d.settled_at))
        .select_from(d).join(wr, wr.id == d.withdrawal_id)
        .where(wr.seller_id.in_(ids), d.status == "settled", d.created_at >= since)
        .order_by(d.id.desc()).limit(MEDIAN_SAMPLE)
    ):
        if confirmed is not None:
            durations.setdefault(seller_id, []).append((confirmed - created).total_seconds())
    disputes = dict(db.session.execute(
        sa.select(wr.seller_id, sa.func.count())
        .select_from(AuditEvent)
        .join(d, sa.cast(d.id, sa.String) == AuditEvent.target_id)
        .join(wr, wr.id == d.withdrawal_id)
        .where(AuditEvent.action == "deposit.disputed", AuditEvent.target_type == "deposit",
               wr.seller_id.in_(ids))
        .group_by(wr.seller_id)
    ).all())
    result: dict[int, SellerStats] = {}
    ended_settled = {row[0]: (row[1], row[2]) for row in counts}
    for seller_id in ids:
        ended, settled = ended_settled.get(seller_id, (0, 0))
        sample = durations.get(seller_id)
        result[seller_id] = SellerStats(
            ended=ended, settled=settled, disputes=disputes.get(seller_id, 0),
            median_confirm_seconds=int(statistics.median(sample)) if sample else None,
        )
    return result


# --- what a seller sees of their own place in the queue -----------------------------------------

@dataclass(frozen=True)
class SellerOutlook:
    """One of the seller's requests as the market sees it now: the rate, the rubles to expect, the place."""

    #: kopecks per dollar buyers pay through this request's method now
    rate_kopecks: int
    #: rubles still to come, kopecks: the dollars not yet sold (for sale and in open invoices) at that rate
    expected_kopecks: int
    #: 1 = the next buyer of this method is matched here first; None while the request is not in the queue
    position: int | None


def rubles_for(usd_cents: int, rate_kopecks: int) -> int:
    """What buyers pay for these dollars at this rate, kopecks (a quote's inverse, rounded down)."""
    return usd_cents * rate_kopecks // 100


def _active_ahead(kind: str, queued_at=None, request_id: int | None = None) -> int:
    """Active requests of the method before this place in FIFO order (all of them when no place is given).

    A range of ix_withdrawal_queue (kind, queued_at, id WHERE active) up to the place, with the values bound
    rather than correlated, so the planner sees how short the range is: a request at the head counts nothing.
    """
    w = WithdrawalRequest
    query = sa.select(sa.func.count()).select_from(w).where(w.status == "active", w.kind == kind)
    if queued_at is not None:
        query = query.where(sa.tuple_(w.queued_at, w.id) < sa.tuple_(sa.literal(queued_at, UTCDateTime),
                                                                     sa.literal(request_id, w.id.type)))
    return db.session.scalar(query) or 0


def seller_outlooks(rows: list[tuple[WithdrawalRequest, object]], settings) -> dict[int, SellerOutlook]:
    """Request id → its outlook, for ``(request, progress)`` rows as the seller's pages list them.

    One count per active request (a seller has a few); paused and ended ones have no place.
    """
    result = {}
    for request, progress in rows:
        rate = settings.rate_for(request.kind)
        position = (_active_ahead(request.kind, request.queued_at, request.id) + 1
                    if request.status == "active" else None)
        result[request.id] = SellerOutlook(
            rate_kopecks=rate, expected_kopecks=rubles_for(progress.remaining + progress.reserved, rate),
            position=position)
    return result


def new_request_outlook(kind: str, usd_cents: int, settings) -> SellerOutlook:
    """What a request about to be put up would get: the rate, the rubles, the place at the queue's end."""
    rate = settings.rate_for(kind)
    return SellerOutlook(rate_kopecks=rate, expected_kopecks=rubles_for(usd_cents, rate),
                         position=_active_ahead(kind) + 1)


# --- invoice search -------------------------------------------------------------------------

@dataclass(frozen=True)
class InvoiceFilter:
    status: str | None = None
    kind: str | None = None
    #: rubles, kopecks, inclusive
    min_kopecks: int | None = None
    max_kopecks: int | None = None
    #: created on or after / before (exclusive) these instants
    created_from: datetime | None = None
    created_to: datetime | None = None
    #: part of the buyer's or the seller's e-mail
    user: str | None = None


def search_invoices(flt: InvoiceFilter, page: int = 1, per_page: int = PAGE_SIZE) -> Page:
    """Deposits (invoices) matching every given filter, newest first, one page of them."""
    buyer = so.aliased(User)
    seller = so.aliased(User)
    query = (
        sa.select(Deposit, buyer.email, seller.email)
        .join(buyer, buyer.id == Deposit.buyer_id)
        .outerjoin(WithdrawalRequest, WithdrawalRequest.id == Deposit.withdrawal_id)
        .outerjoin(seller, seller.id == WithdrawalRequest.seller_id)
    )
    conditions = []
    if flt.status:
        conditions.append(Deposit.status == flt.status)
    if flt.kind:
        conditions.append(Deposit.kind == flt.kind)
    if flt.min_kopecks is not None:
        conditions.append(Deposit.amount_kopecks >= flt.min_kopecks)
    if flt.max_kopecks is not None:
        conditions.append(Deposit.amount_kopecks <= flt.max_kopecks)
    if flt.created_from is not None:
        conditions.append(Deposit.created_at >= flt.created_from)
    if flt.created_to is not None:
        conditions.append(Deposit.created_at < flt.created_to)
    if flt.user:
        pattern = contains_pattern(flt.user.strip().lower())
        conditions.append(sa.or_(buyer.email.like(pattern, escape="\\"), seller.email.like(pattern, escape="\\")))
    query = query.where(*conditions)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    page = max(1, page)
    rows = db.session.execute(
        query.order_by(Deposit.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(items=[(dep, b, s) for dep, b, s in rows], total=total, page=page, per_page=per_page)
