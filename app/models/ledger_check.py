"""Results of `flask ledger verify` runs, kept so the ops dashboard shows the last one cheaply.

A full verification reads every transfer, so it runs in a job (periodically and
when ops ask) and the dashboard only reads the newest row.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.database import BigIntPK, UTCDateTime, utcnow
from app.extensions import db


class LedgerCheck(db.Model):
    __tablename__ = "ledger_check"

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    ok: so.Mapped[bool] = so.mapped_column(sa.Boolean)
    accounts: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    transfers: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    violations: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    #: the first violations, one per line (no secrets: account codes and amounts only)
    details: so.Mapped[str | None] = so.mapped_column(sa.Text)
    duration_ms: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    #: who asked for this run (null: the periodic job)
    requested_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
