"""Per-user limits set by ops: how much a user may buy and cash out per day.

One row per user, created the first time ops set a limit; a null column means
"no own limit" (the platform's settings apply, where they have one).  Every
change is in the audit log with who, when, the old and new values and why.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.database import UTCDateTime, utcnow
from app.extensions import db


class UserLimit(db.Model):
    __tablename__ = "user_limit"
    __table_args__ = (
        sa.CheckConstraint("deposit_daily_kopecks IS NULL OR deposit_daily_kopecks > 0", name="deposit_positive"),
        sa.CheckConstraint("cashout_daily_cents IS NULL OR cashout_daily_cents > 0", name="cashout_positive"),
    )

    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), primary_key=True)
    #: rubles the user may buy per day (deposits not failed, expired or rejected), kopecks; null = no limit
    deposit_daily_kopecks: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    #: dollars the user may cash out per day, cents; null = the platform's daily cash-out limit
    cashout_daily_cents: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
