"""Manual ledger adjustments: a correction ops ask for and a second person approves (four eyes).

An adjustment is a request for one balanced ledger transfer between two
accounts (one of them usually the platform's adjustments account).  Nothing
moves until an admin other than the requester approves it; the database refuses
a decision by the requester too (``four_eyes``), and the status moves by
compare-and-set (:data:`app.states.ADJUSTMENT`), so it is decided at most once.
The posting's idempotency key is derived from the adjustment id.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.database import BigIntPK, UTCDateTime, utcnow
from app.extensions import db


class LedgerAdjustment(db.Model):
    __tablename__ = "ledger_adjustment"
    __table_args__ = (
        sa.CheckConstraint("status IN ('requested', 'approved', 'rejected')", name="status_known"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("debit_account_id <> credit_account_id", name="accounts_differ"),
        sa.CheckConstraint("decided_by_id IS NULL OR decided_by_id <> requested_by_id", name="four_eyes"),
        sa.CheckConstraint("status = 'requested' OR decided_by_id IS NOT NULL", name="decided_by_someone"),
        sa.Index("ix_ledger_adjustment_status", "status"),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    #: the account debited by the transfer once approved
    debit_account_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("ledger_account.id"))
    #: the account credited by the transfer once approved
    credit_account_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("ledger_account.id"))
    #: minor units of the accounts' asset
    amount: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    #: why the correction is needed, as the requester wrote it
    reason: so.Mapped[str] = so.mapped_column(sa.Text)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="requested")
    requested_by_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    #: the second person (an admin, never the requester)
    decided_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    decided_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    decision_reason: so.Mapped[str | None] = so.mapped_column(sa.Text)
    #: the posted ledger transfer (set on approval)
    transfer_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("ledger_transfer.id"))
    #: from the form: a double submit creates one request
    request_key: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    requested_by = so.relationship("User", foreign_keys=[requested_by_id])
    decided_by = so.relationship("User", foreign_keys=[decided_by_id])
    debit_account = so.relationship("LedgerAccount", foreign_keys=[debit_account_id])
    credit_account = so.relationship("LedgerAccount", foreign_keys=[credit_account_id])

    @property
    def idempotency_key(self) -> str:
        return f"adjustment:{self.id}"
