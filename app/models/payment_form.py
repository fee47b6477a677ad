"""Sellers' payment "API forms": the credentials the platform uses to invoice on a seller's behalf.

Secrets never exist in the database in plaintext: ``credentials_encrypted`` is
Fernet ciphertext of a JSON object (see :mod:`app.crypto`).  ``hook_token`` is
an unguessable part of the notification URL the seller sets at the provider.
Health is a circuit breaker: consecutive provider failures open it (matching
skips the form) and a periodic probe closes it.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.database import BigIntPK, UTCDateTime, utcnow
from app.extensions import db


class PaymentForm(db.Model):
    __tablename__ = "payment_form"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('yoomoney', 'yookassa', 'tbank')", name="kind_known"),
        sa.CheckConstraint("circuit IN ('closed', 'open')", name="circuit_known"),
        sa.CheckConstraint("consecutive_failures >= 0", name="failures_nonneg"),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    #: the seller's own name for it ("Tinkoff main")
    name: so.Mapped[str] = so.mapped_column(sa.String(80))
    #: Fernet ciphertext of the credentials JSON; never plaintext
    credentials_encrypted: so.Mapped[str] = so.mapped_column(sa.Text)
    #: a masked summary safe to show and log ("shop 12••34")
    display: so.Mapped[str] = so.mapped_column(sa.String(120))
    #: secret part of the notification URL
    hook_token: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    enabled: so.Mapped[bool] = so.mapped_column(sa.Boolean, default=True)
    circuit: so.Mapped[str] = so.mapped_column(sa.String(8), default="closed")
    consecutive_failures: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    #: why the circuit opened, in words the seller can act on
    circuit_reason: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    circuit_opened_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_checked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    #: deleted by the seller: hidden and its credentials erased, the row kept for the history it is part of
    deleted_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def healthy(self) -> bool:
        return self.enabled and self.deleted_at is None and self.circuit == "closed"
