"""Ledger tables: accounts with cached sums, and immutable transfers between them.

See :mod:`app.ledger` for the design.  Every rule here is also a database
constraint or trigger (created by migration ``0002_ledger``), so a raw SQL
session cannot break what the Python layer checks.
"""
from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.database import BigIntPK, UTCDateTime, utcnow
from app.extensions import db

#: assets the ledger knows; every balance check is per asset
ASSETS = ("USD", "RUB")
DEFAULT_ASSET = "USD"


class AccountKind(str, enum.Enum):
    """What an account is for.  The one list of kinds; its rules are in :data:`KIND_RULES`."""

    #: a user's spendable dollars (a liability of the platform to the user)
    WALLET = "wallet"
    #: dollars a seller put up for sale in one withdrawal request
    ESCROW = "escrow"
    #: the dollars on the platform's own room account (the platform's asset)
    ROOM_OMNIBUS = "room_omnibus"
    #: commissions and fees the platform earned
    FEE_REVENUE = "fee_revenue"
    #: cash-outs whose room transfer has been asked for but not yet confirmed
    CASHOUTS_IN_FLIGHT = "cashouts_in_flight"
    #: room transfers from senders we could not recognise (suspense, worked by ops)
    UNMATCHED_INCOMING = "unmatched_incoming"
    #: the other side of manual corrections approved by an admin
    ADJUSTMENTS = "adjustments"

    @property
    def rules(self) -> KindRules:
        return KIND_RULES[self]

    @property
    def is_platform(self) -> bool:
        return self in PLATFORM_KINDS


class KindRules(enum.Enum):
    """Normal side and TigerBeetle-style limit flags of a kind of account.

    ``credit`` accounts are liabilities / income (a balance is credits − debits)
    and must not be overdrawn: debits (posted + pending) ≤ credits posted.
    ``debit`` accounts are assets (debits − credits) and must not go below
    zero the other way round.  ``adjustments`` is the balancing account for
    corrections and may go either way.
    """

    CREDIT_LIMITED = ("credit", True, False)
    DEBIT_LIMITED = ("debit", False, True)
    CREDIT_FREE = ("credit", False, False)

    @property
    def normal(self) -> str:
        return self.value[0]

    @property
    def debits_must_not_exceed_credits(self) -> bool:
        return self.value[1]

    @property
    def credits_must_not_exceed_debits(self) -> bool:
        return self.value[2]


KIND_RULES: dict[AccountKind, KindRules] = {
    AccountKind.WALLET: KindRules.CREDIT_LIMITED,
    AccountKind.ESCROW: KindRules.CREDIT_LIMITED,
    AccountKind.ROOM_OMNIBUS: KindRules.DEBIT_LIMITED,
    AccountKind.FEE_REVENUE: KindRules.CREDIT_LIMITED,
    AccountKind.CASHOUTS_IN_FLIGHT: KindRules.CREDIT_LIMITED,
    AccountKind.UNMATCHED_INCOMING: KindRules.CREDIT_LIMITED,
    AccountKind.ADJUSTMENTS: KindRules.CREDIT_FREE,
}

PLATFORM_KINDS = frozenset({
    AccountKind.ROOM_OMNIBUS, AccountKind.FEE_REVENUE, AccountKind.CASHOUTS_IN_FLIGHT,
    AccountKind.UNMATCHED_INCOMING, AccountKind.ADJUSTMENTS,
})


class Phase(str, enum.Enum):
    """Which step of TigerBeetle's two-phase model a transfer row is; never changes."""

    #: an ordinary transfer, posted at once
    SINGLE = "single"
    #: a hold: moves the amount into the pending sums until it is resolved
    PENDING = "pending"
    #: resolves a pending transfer by posting all or part of it (``pending_id``)
    POST_PENDING = "post_pending"
    #: resolves a pending transfer by releasing it (``pending_id``)
    VOID_PENDING = "void_pending"


class Status(str, enum.Enum):
    """Where a transfer stands.  Only a ``pending``-phase row ever changes, once, from PENDING."""

    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    #: voided by the sweeper because ``timeout_at`` passed
    EXPIRED = "expired"


#: business purposes of transfers (free text in the column; these are the known ones)
class TransferKind:
    ROOM_DEPOSIT = "room_deposit"
    ROOM_UNMATCHED = "room_unmatched"
    ROOM_RETURNED = "room_returned"
    COMMISSION = "commission"
    ESCROW_FUND = "escrow_fund"
    ESCROW_RELEASE = "escrow_release"
    PURCHASE_HOLD = "purchase_hold"
    PURCHASE = "purchase"
    SALE = "sale"
    BUYER_FEE = "buyer_fee"
    CASHOUT_HOLD = "cashout_hold"
    CASHOUT = "cashout"
    ADJUSTMENT = "adjustment"


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(str(v.value if isinstance(v, enum.Enum) else v)) for v in values)})"


class LedgerAccount(db.Model):
    __tablename__ = "ledger_account"
    __table_args__ = (
        sa.CheckConstraint(_in("kind", AccountKind), name="kind_known"),
        sa.CheckConstraint(_in("asset", ASSETS), name="asset_known"),
        sa.CheckConstraint("debits_posted >= 0", name="debits_posted_nonneg"),
        sa.CheckConstraint("credits_posted >= 0", name="credits_posted_nonneg"),
        sa.CheckConstraint("debits_pending >= 0", name="debits_pending_nonneg"),
        sa.CheckConstraint("credits_pending >= 0", name="credits_pending_nonneg"),
        sa.CheckConstraint(
            "NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)", name="one_limit_flag"
        ),
        sa.CheckConstraint(
            "NOT debits_must_not_exceed_credits OR debits_posted + debits_pending <= credits_posted",
            name="debits_within_credits",
        ),
        sa.CheckConstraint(
            "NOT credits_must_not_exceed_debits OR credits_posted + credits_pending <= debits_posted",
            name="credits_within_debits",
        ),
        # The target of the transfers' (account, asset) foreign keys: a transfer
        # can only join two accounts of its own asset.
        sa.UniqueConstraint("id", "asset", name="uq_ledger_account_id_asset"),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    #: stable unique name, e.g. ``platform:room_omnibus:USD``, ``user:42:wallet:USD``; get-or-create keys on it
    code: so.Mapped[str] = so.mapped_column(sa.String(128), unique=True)
    #: an :class:`AccountKind` value
    kind: so.Mapped[str] = so.mapped_column(sa.String(32))
    #: ISO code of what the amounts count (minor units: cents, kopecks)
    asset: so.Mapped[str] = so.mapped_column(sa.String(3), default=DEFAULT_ASSET)
    #: the user the account belongs to; null for platform accounts
    owner_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    #: credit-normal accounts that must not be overdrawn (wallets, escrows): debits + pending debits ≤ credits
    debits_must_not_exceed_credits: so.Mapped[bool] = so.mapped_column(sa.Boolean, default=False)
    #: debit-normal accounts that must not go negative (room omnibus): credits + pending credits ≤ debits
    credits_must_not_exceed_debits: so.Mapped[bool] = so.mapped_column(sa.Boolean, default=False)
    #: cached sum of posted transfers debiting this account
    debits_posted: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    #: cached sum of posted transfers crediting this account
    credits_posted: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    #: cached sum of open (unresolved) pending transfers debiting this account
    debits_pending: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    #: cached sum of open (unresolved) pending transfers crediting this account
    credits_pending: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    #: +1 on every change of the sums
    version: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    @property
    def kind_enum(self) -> AccountKind:
        return AccountKind(self.kind)

    def __repr__(self) -> str:
        return f"<LedgerAccount {self.id} {self.code}>"


class LedgerTransfer(db.Model):
    __tablename__ = "ledger_transfer"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("debit_account_id <> credit_account_id", name="accounts_differ"),
        sa.CheckConstraint(_in("phase", Phase), name="phase_known"),
        sa.CheckConstraint(_in("status", Status), name="status_known"),
        sa.CheckConstraint(
            "(phase IN ('single', 'pending') AND pending_id IS NULL)"
            " OR (phase IN ('post_pending', 'void_pending') AND pending_id IS NOT NULL)",
            name="pending_id_iff_resolution",
        ),
        sa.CheckConstraint(
            "(phase = 'single' AND status = 'posted')"
            " OR (phase = 'pending')"
            " OR (phase = 'post_pending' AND status = 'posted')"
            " OR (phase = 'void_pending' AND status = 'voided')",
            name="status_fits_phase",
        ),
        sa.CheckConstraint("timeout_at IS NULL OR phase = 'pending'", name="timeout_only_pending"),
        sa.ForeignKeyConstraint(
            ["debit_account_id", "asset"], ["ledger_account.id", "ledger_account.asset"],
            name="fk_ledger_transfer_debit_account",
        ),
        sa.ForeignKeyConstraint(
            ["credit_account_id", "asset"], ["ledger_account.id", "ledger_account.asset"],
            name="fk_ledger_transfer_credit_account",
        ),
        sa.Index("ix_ledger_transfer_debit_account_id", "debit_account_id"),
        sa.Index("ix_ledger_transfer_credit_account_id", "credit_account_id"),
        # The sweeper's queue: open holds by deadline.
        sa.Index(
            "ix_ledger_transfer_open_timeout", "timeout_at",
            sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"),
        ),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    #: the caller's idempotency key: a repeat with the same key and content returns this row
    key: so.Mapped[str] = so.mapped_column(sa.String(128), unique=True)
    #: the account debited (for a resolution: the pending transfer's)
    debit_account_id: so.Mapped[int] = so.mapped_column(BigIntPK)
    #: the account credited (for a resolution: the pending transfer's)
    credit_account_id: so.Mapped[int] = so.mapped_column(BigIntPK)
    #: asset of both accounts (enforced by the composite foreign keys)
    asset: so.Mapped[str] = so.mapped_column(sa.String(3))
    #: minor units, > 0; for a post: the amount posted; for a void: the pending amount released
    amount: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    #: business purpose, a :class:`TransferKind` value; resolutions carry their pending transfer's kind
    kind: so.Mapped[str] = so.mapped_column(sa.String(32))
    #: a :class:`Phase` value; immutable
    phase: so.Mapped[str] = so.mapped_column(sa.String(16))
    #: a :class:`Status` value; changes only on a pending-phase row, once, away from ``pending``
    status: so.Mapped[str] = so.mapped_column(sa.String(8))
    #: for post/void rows: the pending transfer resolved; unique, so a hold resolves at most once
    pending_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("ledger_transfer.id"), unique=True)
    #: for pending rows: after this instant the hold can no longer be posted, and the sweeper voids it
    timeout_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    memo: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    #: groups the transfers of one business event (e.g. ``room-in:<id>``)
    event: so.Mapped[str | None] = so.mapped_column(sa.String(64), index=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    debit_account: so.Mapped[LedgerAccount] = so.relationship(
        LedgerAccount, primaryjoin="LedgerTransfer.debit_account_id == LedgerAccount.id",
        foreign_keys="LedgerTransfer.debit_account_id", viewonly=True,
    )
    credit_account: so.Mapped[LedgerAccount] = so.relationship(
        LedgerAccount, primaryjoin="LedgerTransfer.credit_account_id == LedgerAccount.id",
        foreign_keys="LedgerTransfer.credit_account_id", viewonly=True,
    )

    @property
    def is_open(self) -> bool:
        """A pending transfer not yet posted, voided or expired."""
        return self.phase == Phase.PENDING.value and self.status == Status.PENDING.value

    def __repr__(self) -> str:
        return (f"<LedgerTransfer {self.id} {self.phase}/{self.status} {self.amount} {self.asset}"
                f" {self.debit_account_id}→{self.credit_account_id}>")
