"""What a seller has sold: completed sales and rubles received per day (read-only, for the dashboard).

A sale is a settled deposit against one of the seller's withdrawal requests.
The buyer is never named: a sale carries only the first characters of its
public order id.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from app.database import utcnow
from app.extensions import db
from app.models.market import Deposit, WithdrawalRequest


@dataclass(frozen=True)
class Sale:
    settled_at: datetime
    #: rubles the buyer paid into the seller's account, kopecks
    rubles: int
    #: dollars that left the seller's escrow, cents
    dollars: int
    #: a short public reference; never the buyer
    reference: str


def _of_seller(user_id: int):
    return (sa.select(Deposit)
            .join(WithdrawalRequest, WithdrawalRequest.id == Deposit.withdrawal_id)
            .where(WithdrawalRequest.seller_id == user_id, Deposit.status == "settled"))


def recent_sales(user, limit: int = 10) -> list[Sale]:
    rows = db.session.execute(
        _of_seller(user.id).with_only_columns(Deposit.settled_at, Deposit.paid_kopecks, Deposit.amount_kopecks,
                                              Deposit.usd_cents, Deposit.order_id)
        .order_by(Deposit.settled_at.desc(), Deposit.id.desc()).limit(limit)
    ).all()
    return [Sale(settled_at=r.settled_at, rubles=r.paid_kopecks or r.amount_kopecks, dollars=r.usd_cents,
                 reference=r.order_id[:6]) for r in rows]


def _day(column):
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.func.date(sa.func.timezone("UTC", column))
    return sa.func.date(column)


def earnings_by_day(user, days: int = 14, today: date | None = None) -> list[tuple[date, int]]:
    """Rubles received per day (kopecks) over the last ``days`` days, zero days included (one query)."""
    today = today or utcnow().date()
    start = today - timedelta(days=days - 1)
    day = _day(Deposit.settled_at)
    rubles = sa.func.coalesce(Deposit.paid_kopecks, Deposit.amount_kopecks)
    totals = {
        str(d)[:10]: int(total)
        for d, total in db.session.execute(
            _of_seller(user.id).with_only_columns(day, sa.func.sum(rubles))
            .where(Deposit.settled_at >= datetime.combine(start, time.min, tzinfo=UTC)).group_by(day))
    }
    return [(start + timedelta(days=n), totals.get((start + timedelta(days=n)).isoformat(), 0)) for n in range(days)]
