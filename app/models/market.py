"""The market: sellers' withdrawal requests (the FIFO queue) and buyers' deposits (invoices).

State machines (transitions in :mod:`app.states`):
- withdrawal request: ``active ⇄ paused → completed | cancelled``
- deposit / invoice: ``matching → awaiting_payment → paid → settled``;
  ``matching → failed`` (no seller could take it); ``awaiting_payment → expired | cancelled`` (the buyer's button);
  ``awaiting_payment | expired | cancelled → disputed → settled | rejected``; ``expired | cancelled → paid`` (late payment)

The dollars themselves live in the ledger: each request has an escrow account
(funded from the seller's wallet); each invoice holds part of it with a
pending transfer escrow → buyer's wallet, posted on payment, voided on expiry.
So "never allocate more than the escrow" is the ledger's non-negative check,
enforced by the database.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.database import BigIntPK, UTCDateTime, utcnow
from app.extensions import db

#: deposit states in which an invoice is still open at the provider or with ops
OPEN_DEPOSIT_STATES = ("matching", "awaiting_payment", "paid", "disputed")
LIVE_WITHDRAWAL_STATES = ("active", "paused")


class WithdrawalRequest(db.Model):
    __tablename__ = "withdrawal_request"
    __table_args__ = (
        sa.CheckConstraint("status IN ('active', 'paused', 'completed', 'cancelled')", name="status_known"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("min_invoice_kopecks > 0 AND max_invoice_kopecks >= min_invoice_kopecks", name="bounds"),
        sa.CheckConstraint("max_open_invoices BETWEEN 1 AND 50", name="open_limit"),
        sa.CheckConstraint("open_invoices >= 0 AND open_invoices <= max_open_invoices", name="open_within_limit"),
        # The queue: active requests of one provider kind in FIFO order.
        sa.Index("ix_withdrawal_queue", "kind", "queued_at", "id",
                 sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'")),
        # Matching's queue: only requests with a free open-invoice slot (full ones at the head are not walked).
        sa.Index("ix_withdrawal_queue_open", "kind", "queued_at", "id",
                 sqlite_where=sa.text("status = 'active' AND open_invoices < max_open_invoices"),
                 postgresql_where=sa.text("status = 'active' AND open_invoices < max_open_invoices")),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    seller_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    payment_form_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("payment_form.id"), index=True)
    #: the provider kind of the form, copied so the queue is one index scan
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="active")
    #: dollars put up, cents (moved from the wallet to this request's escrow)
    amount: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    #: the request's escrow account in the ledger (named after the request, so set right after insert)
    escrow_account_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("ledger_account.id"))
    min_invoice_kopecks: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    max_invoice_kopecks: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    max_open_invoices: so.Mapped[int] = so.mapped_column(sa.Integer, default=3)
    #: invoices now awaiting payment against this request (kept with each invoice transition)
    open_invoices: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    #: FIFO position: when the request last became active (a partly filled request keeps it)
    queued_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    #: from the form: a double submit creates one request
    request_key: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    payment_form = so.relationship("PaymentForm")


#: deposit states whose invoice counts against its form's limits (app.market.form_limits explains which and why)
COUNTED_FOR_FORM_LIMITS = ("matching", "awaiting_payment", "paid", "settled", "disputed")
_COUNTED = "status IN ({})".format(", ".join(f"'{state}'" for state in COUNTED_FOR_FORM_LIMITS))


class Deposit(db.Model):
    """A buyer's purchase of dollars: the request, its locked quote and its invoice."""

    __tablename__ = "deposit"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('matching', 'awaiting_payment', 'paid', 'settled', 'expired', 'cancelled', 'failed',"
            " 'disputed', 'rejected')",
            name="status_known",
        ),
        sa.CheckConstraint("amount_kopecks > 0 AND usd_cents > 0 AND rate_kopecks > 0", name="amounts_positive"),
        sa.CheckConstraint("buyer_fee_cents >= 0 AND buyer_fee_cents < usd_cents", name="fee_range"),
        sa.Index("ix_deposit_status", "status"),
        # Matchers take the oldest waiting deposits first (migration 0011).
        sa.Index("ix_deposit_waiting", "id",
                 sqlite_where=sa.text("status = 'matching' AND hold_transfer_id IS NULL"),
                 postgresql_where=sa.text("status = 'matching' AND hold_transfer_id IS NULL")),
        # A form's counted invoices of one day and their rubles, for its daily limits, from the index alone
        # (app.market.form_limits.COUNTED_STATES; migration 0025).
        sa.Index("ix_deposit_form_counted", "payment_form_id", "reserved_at", "amount_kopecks",
                 sqlite_where=sa.text(_COUNTED), postgresql_where=sa.text(_COUNTED)),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    #: our public id of the invoice: the provider's OrderId / label (never the row id)
    order_id: so.Mapped[str] = so.mapped_column(sa.String(36), unique=True)
    buyer_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="matching")
    #: rubles the buyer pays, kopecks
    amount_kopecks: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    #: the locked quote: kopecks per dollar, dollars (cents) reserved, of which the buyer fee
    rate_kopecks: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    usd_cents: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    buyer_fee_cents: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    settings_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("platform_settings.id"))
    #: from the form: a double submit creates one deposit
    request_key: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    #: the seller side, once matched
    withdrawal_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("withdrawal_request.id"), index=True)
    payment_form_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("payment_form.id"), index=True)
    #: when the current attempt took the seller's form: the moment its invoice counts for the form's daily limits
    reserved_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    #: the pending ledger transfer escrow → buyer's wallet
    hold_transfer_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("ledger_transfer.id"))
    #: the provider's side of the invoice
    provider_payment_id: so.Mapped[str | None] = so.mapped_column(sa.String(128), index=True)
    #: YooKassa's Idempotence-Key, persisted so a retry reuses it
    idempotence_key: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    pay_url: so.Mapped[str | None] = so.mapped_column(sa.Text)
    sbp_payload: so.Mapped[str | None] = so.mapped_column(sa.Text)
    expires_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    #: how many sellers were tried (bounded)
    match_attempts: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    #: status polling with backoff: when to ask the provider next, and how often we did
    next_poll_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    polls: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    paid_kopecks: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    paid_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    buyer_claimed_paid_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    #: why it failed / was disputed, in words for the buyer or ops
    reason: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    settled_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    withdrawal = so.relationship("WithdrawalRequest")
    payment_form = so.relationship("PaymentForm")
