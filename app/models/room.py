"""The poker room side: users' room accounts, every transfer the room reported, cash-outs.

State machines (allowed transitions in :mod:`app.services.room_states`):
- incoming room transfer: ``new → credited | unmatched``; ``unmatched → credited | returned``
- cash-out: ``requested → sending → sent | failed``; ``sending → unknown → sent | failed``
  (an unknown outcome is reconciled against the room's history, never re-sent blind)
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.database import BigIntPK, UTCDateTime, utcnow
from app.extensions import db


class RoomAccount(db.Model):
    """A user's PokerOK account (e-mail, nickname or player id as the room shows the sender).

    ``identifier`` is the room's own spelling (what a cash-out is sent to);
    ``identifier_key`` is what transfers are matched by: an e-mail lower-cased,
    a nickname or player id exactly as the room shows it (docs/room-contract.md).
    Several users may each await verification of the same room account; the
    first to prove it owns it, and then it belongs to that user alone.
    """

    __tablename__ = "room_account"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'verified')", name="status_known"),
        sa.CheckConstraint("verification_amount > 0", name="verification_amount_positive"),
        # One registration of a room account per user.
        sa.UniqueConstraint("user_id", "identifier_key", name="uq_room_account_user_key"),
        # A verified room account belongs to exactly one user.
        sa.Index(
            "uq_room_account_verified_key", "identifier_key", unique=True,
            sqlite_where=sa.text("status = 'verified'"), postgresql_where=sa.text("status = 'verified'"),
        ),
        # Registrations of one room account awaiting verification never share an amount, so a transfer from it
        # proves exactly one of them.  The pool is per room account: it does not run out as users multiply.
        sa.Index(
            "uq_room_account_pending_amount", "identifier_key", "verification_amount", unique=True,
            sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"),
        ),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    #: the room's own spelling (trimmed); a cash-out is sent to exactly this
    identifier: so.Mapped[str] = so.mapped_column(sa.String(254))
    #: the matching key: e-mail lower-cased, nickname / player id as the room shows it
    identifier_key: so.Mapped[str] = so.mapped_column(sa.String(254), index=True)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="pending")
    #: the small amount (cents) to send from this account to prove ownership
    verification_amount: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    #: a pending verification counts only until then (the sweeper deletes it afterwards)
    verification_expires_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    #: how it was verified: ``transfer`` (the amount arrived) or ``ops`` (by hand, audited)
    verified_by: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    verified_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    user = so.relationship("User")

    @property
    def is_verified(self) -> bool:
        return self.status == "verified"

    @property
    def is_awaiting(self) -> bool:
        """Pending and not yet expired: a transfer of the amount would verify it."""
        return not self.is_verified and not self.is_expired()

    def is_expired(self, now: datetime | None = None) -> bool:
        """A pending verification past its time: no transfer verifies it any more."""
        if self.is_verified or self.verification_expires_at is None:
            return False
        return self.verification_expires_at <= (now or utcnow())


class RoomTransfer(db.Model):
    """One transfer as the room reported it, stored exactly once (unique room transfer id)."""

    __tablename__ = "room_transfer"
    __table_args__ = (
        sa.CheckConstraint("direction IN ('in', 'out')", name="direction_known"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint(
            "status IN ('new', 'credited', 'unmatched', 'returned', 'outgoing')", name="status_known"
        ),
        sa.Index("ix_room_transfer_status", "status"),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    #: the room's own id of the transfer: the exactly-once key of every credit
    room_transfer_id: so.Mapped[str] = so.mapped_column(sa.String(128), unique=True)
    direction: so.Mapped[str] = so.mapped_column(sa.String(3))
    counterparty: so.Mapped[str] = so.mapped_column(sa.String(254))
    amount: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    occurred_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    note: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    #: where it came from: ``sandbox`` (feed), ``statement`` (upload) or ``manual`` (ops)
    source: so.Mapped[str] = so.mapped_column(sa.String(16))
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="new")
    #: the user credited (set with status ``credited``)
    user_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    #: the commission taken, cents (set with status ``credited``)
    commission: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    resolved_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    #: who resolved an unmatched transfer by hand, and why
    resolved_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))


class RoomCursor(db.Model):
    """How far a feed has been read; advanced only in the commit that stored the page."""

    __tablename__ = "room_cursor"

    feed: so.Mapped[str] = so.mapped_column(sa.String(32), primary_key=True)
    cursor: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class CashOut(db.Model):
    """Dollars sent from the platform's room account to a user's verified room account."""

    __tablename__ = "cash_out"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint(
            "status IN ('requested', 'sending', 'unknown', 'sent', 'failed')", name="status_known"
        ),
        sa.Index("ix_cash_out_status", "status"),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    room_account_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("room_account.id"))
    amount: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="requested")
    #: from the form: a double submit carries the same key and makes no second cash-out
    request_key: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    #: the key sent to the room with the transfer, so a retry can never send twice
    send_key: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    #: the pending ledger transfer holding the dollars while the room transfer is in flight
    hold_transfer_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("ledger_transfer.id"))
    #: the room's id of the outgoing transfer, once known
    room_transfer_id: so.Mapped[str | None] = so.mapped_column(sa.String(128))
    attempts: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    failure_reason: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    room_account = so.relationship("RoomAccount")


class ReconciliationRun(db.Model):
    """One comparison of the ledger's room omnibus with the room's own balance."""

    __tablename__ = "reconciliation_run"

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    #: what the ledger says the platform's room account holds, cents
    ledger_balance: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    #: what the room says (null when the connector has no balance, e.g. manual)
    room_balance: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    #: cash-outs whose outcome is not yet recorded (sending / unknown), cents
    in_flight: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    #: incoming transfers waiting for ops (unmatched), cents
    unmatched: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    #: room − ledger, after allowing for in-flight cash-outs the room may already have made
    difference: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    note: so.Mapped[str | None] = so.mapped_column(sa.String(255))
