"""Sellers' payment "API forms": the credentials the platform uses to invoice on a seller's behalf.

Secrets never exist in the database in plaintext: ``credentials_encrypted`` is
Fernet ciphertext of a JSON object (see :mod:`app.crypto`).  ``hook_token`` is
an unguessable part of the notification URL the seller sets at the provider.
Health is a circuit breaker: consecutive provider failures open it (matching
skips the form) and a periodic probe closes it.

Limits (all optional, set by the seller to keep their bank account from being
restricted for too many person-to-person payments): rubles and invoices per
day, a minimum gap between invoices, and working hours, all in the seller's
own IANA time zone.  The rule that reads them is :mod:`app.market.form_limits`;
the CHECKs below are the database's half of the form's validation.
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
        sa.CheckConstraint("limit_day_kopecks >= 0", name="limit_day_kopecks_nonneg"),
        sa.CheckConstraint("limit_day_invoices >= 0", name="limit_day_invoices_nonneg"),
        sa.CheckConstraint("limit_gap_minutes BETWEEN 0 AND 1440", name="limit_gap_range"),
        sa.CheckConstraint("hours_start_minute BETWEEN 0 AND 1439", name="hours_start_range"),
        sa.CheckConstraint("hours_end_minute BETWEEN 0 AND 1439", name="hours_end_range"),
        # both ends or neither, and a window is never empty
        sa.CheckConstraint("(hours_start_minute IS NULL) = (hours_end_minute IS NULL)", name="hours_both"),
        sa.CheckConstraint("hours_start_minute <> hours_end_minute", name="hours_differ"),
        sa.CheckConstraint("length(limits_timezone) BETWEEN 1 AND 64", name="limits_timezone_set"),
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
    #: per local day: rubles (kopecks) and invoices at most; None = no limit
    limit_day_kopecks: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    limit_day_invoices: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    #: minutes at least between two invoices; None = no limit
    limit_gap_minutes: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    #: working hours as minutes of the local day, [start, end); end < start crosses midnight; None = always
    hours_start_minute: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    hours_end_minute: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    #: the IANA zone the seller's "day" and "hours" are in
    limits_timezone: so.Mapped[str] = so.mapped_column(sa.String(64), default="Europe/Moscow",
                                                       server_default="Europe/Moscow")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def healthy(self) -> bool:
        return self.enabled and self.deleted_at is None and self.circuit == "closed"
