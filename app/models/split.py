"""A buyer's purchase split into several invoices, one per seller (issue #20).

When no single seller's request can take the amount, the buyer may accept it
as parts: each part is an ordinary :class:`~app.models.market.Deposit` — its
own quote, hold, provider invoice, pay button, timer and status machine — so
settlement, expiry, late payments and disputes are the per-invoice code, per
part.  What the split adds is only the grouping, kept in a link table so the
deposit table (and everything that reads it) is unchanged:

- ``split_purchase``: the buyer's accepted offer — method, total, how many
  parts, and the accept form's request key (a double click makes one split);
- ``split_part``: part number → deposit, unique both ways (a part number once
  per split, a deposit in at most one split).

All parts are reserved in one transaction or none (:mod:`app.market.split_fill`).
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.database import BigIntPK, UTCDateTime, utcnow
from app.extensions import db

#: the database's bound on parts; the ops setting ``split_max_parts`` is at most this
MAX_PARTS_BOUND = 10


class SplitPurchase(db.Model):
    __tablename__ = "split_purchase"
    __table_args__ = (
        sa.CheckConstraint("amount_kopecks > 0", name="amount_positive"),
        sa.CheckConstraint(f"parts BETWEEN 2 AND {MAX_PARTS_BOUND}", name="parts_range"),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    buyer_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    #: rubles of all parts together, kopecks (the sum of the parts' amounts)
    amount_kopecks: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    parts: so.Mapped[int] = so.mapped_column(sa.Integer)
    #: from the accept form: a double submit or a retry finds this split instead of reserving again
    request_key: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class SplitPart(db.Model):
    __tablename__ = "split_part"
    __table_args__ = (
        sa.UniqueConstraint("split_id", "part", name="uq_split_part_number"),
        sa.CheckConstraint(f"part BETWEEN 1 AND {MAX_PARTS_BOUND}", name="part_range"),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    split_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("split_purchase.id"))
    #: 1, 2, … in queue (FIFO) order of the sellers the parts were taken from
    part: so.Mapped[int] = so.mapped_column(sa.Integer)
    deposit_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("deposit.id"), unique=True)

    deposit = so.relationship("Deposit")


def is_split_part(deposit_id_column) -> sa.Exists:
    """This deposit is a part of a split (the single-deposit sweeper leaves those to the split's own
    sweeper, app.market.split_fill.stuck); one probe of split_part's unique deposit_id index."""
    return sa.exists().where(SplitPart.deposit_id == deposit_id_column)
