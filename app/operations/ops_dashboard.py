"""The figures and chart series of the ops dashboard, in a fixed number of queries.

Every figure is an aggregate computed by the database: one statement of
scalar subqueries for the counters, one GROUP BY per chart, one row each for
the newest reconciliation and ledger check, and RQ's registries for failed
jobs.  The cost does not grow with the number of users, invoices or requests
beyond what the indexes scan.  "Today" and "this week" are calendar days in
the platform's time zone (``BABEL_DEFAULT_TIMEZONE``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from app.database import utcnow
from app.extensions import db
from app.ledger.models import LedgerAccount
from app.models.ledger_check import LedgerCheck
from app.models.market import Deposit, WithdrawalRequest
from app.models.room import CashOut, ReconciliationRun, RoomTransfer
from app.states import DEPOSIT

#: how far back the volume chart and the outcome chart look
CHART_HOURS = 24
OUTCOME_DAYS = 7
#: deposit states still on their way to an outcome: the outcome chart shows them together as "open"
IN_PROGRESS = frozenset({"matching", "awaiting_payment", "paid"})
#: the groups placed first, in this order; every other state of the deposit machine follows, sorted
_LEADING_GROUPS = ("settled", "open", "disputed")


def _outcome_groups() -> tuple[str, ...]:
    """Every deposit state has a group: the in-progress ones share "open", each other state is its own.

    Derived from the state machine, so a status added there appears in the chart (and its test) by itself.
    """
    others = sorted(DEPOSIT.states - IN_PROGRESS - set(_LEADING_GROUPS))
    return (*_LEADING_GROUPS, *others)


#: the outcome chart's groups, in display order
OUTCOME_GROUPS = _outcome_groups()


def outcome_group(status: str) -> str:
    return "open" if status in IN_PROGRESS else status


@dataclass(frozen=True)
class Figures:
    volume_today_cents: int
    volume_today_kopecks: int
    volume_week_cents: int
    volume_week_kopecks: int
    settled_today: int
    open_invoices: int
    open_invoices_kopecks: int
    queue_depth_cents: int
    queue_requests: int
    pending_cash_outs: int
    pending_cash_outs_cents: int
    unmatched_transfers: int
    unmatched_cents: int
    disputes: int
    #: failed RQ jobs over all queues; None when Redis does not answer
    failed_jobs: int | None
    reconciliation: ReconciliationRun | None
    ledger_check: LedgerCheck | None


@dataclass(frozen=True)
class HourPoint:
    #: start of the hour, in the platform's time zone
    hour: datetime
    usd_cents: int
    count: int


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "UTC")


def day_and_week_start(now: datetime | None = None) -> tuple[datetime, datetime]:
    """Midnight today and Monday midnight this week in the platform's zone, as aware datetimes."""
    local = (now or utcnow()).astimezone(_zone())
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day - timedelta(days=day.weekday())


def _sum(column, *where):
    return sa.select(sa.func.coalesce(sa.func.sum(column), 0)).where(*where).scalar_subquery()


def _count(model, *where):
    return sa.select(sa.func.count()).select_from(model).where(*where).scalar_subquery()


def _counters(now: datetime) -> dict[str, int]:
    day, week = day_and_week_start(now)
    d, w, a, c, r = Deposit, WithdrawalRequest, LedgerAccount, CashOut, RoomTransfer
    settled = d.status == "settled"
    open_states = ("matching", "awaiting_payment", "paid")
    escrow_free = a.credits_posted - a.debits_posted - a.debits_pending
    pending_cash_out = c.status.in_(["requested", "sending", "unknown"])
    row = db.session.execute(sa.select(
        _sum(d.usd_cents, settled, d.settled_at >= day).label("volume_today_cents"),
        _sum(d.amount_kopecks, settled, d.settled_at >= day).label("volume_today_kopecks"),
        _sum(d.usd_cents, settled, d.settled_at >= week).label("volume_week_cents"),
        _sum(d.amount_kopecks, settled, d.settled_at >= week).label("volume_week_kopecks"),
        _count(d, settled, d.settled_at >= day).label("settled_today"),
        _count(d, d.status.in_(open_states)).label("open_invoices"),
        _sum(d.amount_kopecks, d.status.in_(open_states)).label("open_invoices_kopecks"),
        sa.select(sa.func.coalesce(sa.func.sum(escrow_free), 0)).select_from(w)
        .join(a, a.id == w.escrow_account_id).where(w.status == "active").scalar_subquery()
        .label("queue_depth_cents"),
        _count(w, w.status == "active").label("queue_requests"),
        _count(c, pending_cash_out).label("pending_cash_outs"),
        _sum(c.amount, pending_cash_out).label("pending_cash_outs_cents"),
        _count(r, r.status == "unmatched").label("unmatched_transfers"),
        _sum(r.amount, r.status == "unmatched").label("unmatched_cents"),
        _count(d, d.status == "disputed").label("disputes"),
    )).one()
    return {key: int(value or 0) for key, value in row._mapping.items()}


def failed_job_count() -> int | None:
    from redis import RedisError
    from rq import Queue
    from rq.registry import FailedJobRegistry

    from app.redis_client import get_redis

    try:
        connection = get_redis()
        return sum(FailedJobRegistry(queue=Queue(name, connection=connection)).count
                   for name in current_app.config.get("RQ_QUEUES", ["default"]))
    except RedisError:
        return None


def figures(now: datetime | None = None) -> Figures:
    now = now or utcnow()
    return Figures(
        **_counters(now),
        failed_jobs=failed_job_count(),
        reconciliation=db.session.scalar(sa.select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(1)),
        ledger_check=db.session.scalar(sa.select(LedgerCheck).order_by(LedgerCheck.id.desc()).limit(1)),
    )


def _hour_bucket(column):
    """Whole hours since the Unix epoch, on either engine."""
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.func.floor(sa.extract("epoch", column) / 3600), sa.BigInteger)
    return sa.cast(sa.func.strftime("%s", column), sa.Integer) // 3600


def volume_per_hour(now: datetime | None = None, hours: int = CHART_HOURS) -> list[HourPoint]:
    """Dollars settled in each of the last ``hours`` hours (zeros included), oldest first."""
    now = now or utcnow()
    current = int(now.timestamp()) // 3600
    first = current - hours + 1
    since = datetime.fromtimestamp(first * 3600, tz=now.tzinfo)
    bucket = _hour_bucket(Deposit.settled_at).label("bucket")
    rows = db.session.execute(
        sa.select(bucket, sa.func.sum(Deposit.usd_cents), sa.func.count())
        .where(Deposit.status == "settled", Deposit.settled_at >= since)
        .group_by(bucket)
    ).all()
    by_bucket = {int(b): (int(total or 0), int(n)) for b, total, n in rows}
    zone = _zone()
    return [HourPoint(datetime.fromtimestamp(h * 3600, tz=zone), *by_bucket.get(h, (0, 0)))
            for h in range(first, current + 1)]


def invoice_outcomes(now: datetime | None = None, days: int = OUTCOME_DAYS) -> dict[str, int]:
    """Deposits created in the last ``days`` days by outcome group (see :data:`OUTCOME_GROUPS`)."""
    since = (now or utcnow()) - timedelta(days=days)
    rows = db.session.execute(
        sa.select(Deposit.status, sa.func.count()).where(Deposit.created_at >= since).group_by(Deposit.status)
    ).all()
    result = dict.fromkeys(OUTCOME_GROUPS, 0)
    for status, n in rows:
        group = outcome_group(status)
        result[group] = result.get(group, 0) + int(n)
    return result
