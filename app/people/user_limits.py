"""Per-user daily limits: set by ops, checked where deposits and cash-outs are created.

A day is the UTC calendar day, as for the platform's own daily cash-out limit
(:func:`app.room.cashouts.sent_today`).  A deposit counts against the limit
unless it ended without money moving (failed, expired, rejected).

A limit is only a limit if what it counts is read under a lock that every
competing request must take first.  :func:`app.core.user_lock.lock_owner` is that lock for
everything a user sends out (cash-outs, withdrawal requests): the user's own
row, which exists for every user — unlike their ``user_limit`` row, which
exists only once ops set a limit, so ``limits_of(lock=True)`` locked nothing
for everyone else (issue #18: 20 cash-outs at once beat the daily limit).
The daily deposit limit keeps the ``user_limit`` row lock: that limit exists
only where the row does.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.core import audit
from app.database import utcnow
from app.errors import ValidationFailed
from app.extensions import db
from app.models.limits import UserLimit
from app.models.market import Deposit
from app.models.user import User
from app.money import format_rub

#: deposit states that count against the daily deposit limit
COUNTED_DEPOSIT_STATES = ("matching", "awaiting_payment", "paid", "settled", "disputed")


_u = User.__table__


def limits_of(user_id: int, *, lock: bool = False) -> UserLimit | None:
    """The user's own limits; ``lock`` holds the row so two requests cannot both use the last of a limit."""
    query = sa.select(UserLimit).where(UserLimit.user_id == user_id)
    return db.session.scalar(query.with_for_update() if lock else query)


def _start_of_day(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def deposited_today(user_id: int, now: datetime | None = None) -> int:
    """Rubles (kopecks) of the user's deposits today that count against the limit."""
    # int(): PostgreSQL sums BIGINT as NUMERIC, and money is never a Decimal here.
    return int(db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Deposit.amount_kopecks), 0)).where(
            Deposit.buyer_id == user_id, Deposit.status.in_(COUNTED_DEPOSIT_STATES),
            Deposit.created_at >= _start_of_day(now),
        )
    ) or 0)


def check_deposit(buyer, amount_kopecks: int) -> None:
    """Refuse a deposit that would take the buyer over their own daily limit."""
    limits = limits_of(buyer.id, lock=True)
    if limits is None or limits.deposit_daily_kopecks is None:
        return
    left = limits.deposit_daily_kopecks - deposited_today(buyer.id)
    if amount_kopecks > left:
        raise ValidationFailed(str(_l(
            "This is over your daily purchase limit of %(limit)s; %(left)s left today.",
            limit=format_rub(limits.deposit_daily_kopecks), left=format_rub(max(left, 0)))))


def cashout_daily_limit(user_id: int, platform_limit: int) -> int:
    """The user's own daily cash-out limit if ops set one, else the platform's (call under :func:`~app.core.user_lock.lock_owner`)."""
    limits = limits_of(user_id)
    if limits is None or limits.cashout_daily_cents is None:
        return platform_limit
    return limits.cashout_daily_cents


def set_limits(user, *, actor, reason: str, deposit_daily_kopecks: int | None,
               cashout_daily_cents: int | None) -> UserLimit:
    """Set (or clear, with None) a user's own daily limits; audited with the old and new values."""
    if not (reason or "").strip():
        raise ValidationFailed(str(_l("A reason is required.")))
    for value in (deposit_daily_kopecks, cashout_daily_cents):
        if value is not None and value <= 0:
            raise ValidationFailed(str(_l("A limit must be greater than zero; leave it empty for none.")))
    limits = limits_of(user.id)
    if limits is None:
        limits = UserLimit(user_id=user.id)
        db.session.add(limits)
    old = {"deposit_daily_kopecks": limits.deposit_daily_kopecks, "cashout_daily_cents": limits.cashout_daily_cents}
    limits.deposit_daily_kopecks = deposit_daily_kopecks
    limits.cashout_daily_cents = cashout_daily_cents
    limits.updated_by_id = actor.id
    limits.updated_at = utcnow()
    db.session.flush()
    new = {"deposit_daily_kopecks": deposit_daily_kopecks, "cashout_daily_cents": cashout_daily_cents}
    audit.record("admin.user.limits", actor=actor, target=user, reason=reason.strip(), old=old, new=new)
    return limits
