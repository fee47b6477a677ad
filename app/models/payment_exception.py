"""Money a seller received that no invoice covers: a payment exception, for ops to resolve.

A label paid a second time, a payment larger than its invoice, a payment to an
invoice that ended and can no longer be settled: the seller has rubles the
buyer got no dollars for.  Each becomes one row, unique per provider event
(``provider`` + ``event_key``, the provider event's own key, or one derived
from the deposit where a poll found it), so however often the event is
re-delivered or re-processed, it is recorded once.  Ops close it once, with a
resolution and a reason.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.database import BigIntPK, UTCDateTime, utcnow
from app.extensions import db

#: why the money is beyond the invoice
REASONS = ("second_payment", "overpayment", "unsettled")
#: how ops closed it: the seller refunded the buyer, or the buyer was credited by a manual adjustment
RESOLUTIONS = ("refunded", "credited")


def _quoted(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


class PaymentException(db.Model):
    __tablename__ = "payment_exception"
    __table_args__ = (
        sa.UniqueConstraint("provider", "event_key", name="uq_payment_exception_event"),
        sa.CheckConstraint(f"reason IN ({_quoted(REASONS)})", name="reason_known"),
        sa.CheckConstraint("status IN ('open', 'resolved')", name="status_known"),
        sa.CheckConstraint(f"resolution IS NULL OR resolution IN ({_quoted(RESOLUTIONS)})", name="resolution_known"),
        sa.CheckConstraint("(status = 'resolved') = (resolution IS NOT NULL AND resolved_at IS NOT NULL)",
                           name="resolved_consistent"),
        sa.CheckConstraint("amount_kopecks > 0", name="amount_positive"),
        sa.Index("ix_payment_exception_open", "created_at",
                 sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'")),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    #: the deposit's provider kind (yoomoney, yookassa, tbank)
    provider: so.Mapped[str] = so.mapped_column(sa.String(16))
    #: the provider event's key (``yoomoney:<operation_id>`` …), or ``deposit:<id>:<reason>`` from a poll
    event_key: so.Mapped[str] = so.mapped_column(sa.String(160))
    provider_event_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("provider_event.id", ondelete="SET NULL"), index=True)
    deposit_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("deposit.id"), index=True)
    reason: so.Mapped[str] = so.mapped_column(sa.String(16))
    #: rubles beyond the invoice, kopecks (as the invoice amount they stand for, see amounts.gross_of)
    amount_kopecks: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    status: so.Mapped[str] = so.mapped_column(sa.String(8), default="open")
    resolution: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    note: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    resolved_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    resolved_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    deposit = so.relationship("Deposit")
