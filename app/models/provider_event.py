"""Verified notifications from payment providers, each stored once.

``(kind, event_key)`` is unique: a provider's retries, duplicates and replays
of the same event are recognised at the door and change nothing twice.  The
settlement job reads the row by id; ``processed_at`` marks it done.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.database import BigIntPK, UTCDateTime, utcnow
from app.extensions import db


class ProviderEvent(db.Model):
    __tablename__ = "provider_event"
    __table_args__ = (
        sa.UniqueConstraint("kind", "event_key", name="uq_provider_event_kind_key"),
        sa.CheckConstraint("status IN ('pending', 'paid', 'failed', 'expired', 'unknown')", name="status_known"),
        sa.Index("ix_provider_event_unprocessed", "received_at",
                 sqlite_where=sa.text("processed_at IS NULL"), postgresql_where=sa.text("processed_at IS NULL")),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    #: the seller's API form whose notification URL received it
    payment_form_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("payment_form.id", ondelete="CASCADE"), index=True)
    #: unique per provider event (from the adapter), the deduplication key
    event_key: so.Mapped[str] = so.mapped_column(sa.String(160))
    provider_payment_id: so.Mapped[str] = so.mapped_column(sa.String(128), index=True)
    order_id: so.Mapped[str | None] = so.mapped_column(sa.String(64), index=True)
    #: the provider's status mapped to the platform's few
    status: so.Mapped[str] = so.mapped_column(sa.String(8))
    #: kopecks paid, as the notification says (confirmed by a re-fetch where the provider does not sign)
    amount: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    #: True when the notification is unsigned and must be confirmed by reading the payment (YooKassa)
    needs_refetch: so.Mapped[bool] = so.mapped_column(sa.Boolean, default=False)
    received_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    processed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    #: what processing concluded ("settled", "no such invoice", …), for ops
    outcome: so.Mapped[str | None] = so.mapped_column(sa.String(64))
