"""What the wallet page shows: balances, room accounts, cash-outs and recent movements."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from app import ledger
from app.extensions import db
from app.ledger.models import LedgerTransfer, Phase, Status
from app.models.room import CashOut, RoomAccount
from app.services import history, room_accounts
from app.web.labels import movement_label

RECENT = 20
#: movements shown on the wallet page itself; the rest are on the history page
RECENT_ON_WALLET = 10


@dataclass
class Movement:
    at: datetime
    kind: str
    label: str
    #: signed cents from the wallet owner's point of view
    amount: int
    pending: bool


@dataclass
class WalletSummary:
    available: int
    reserved: int
    room_accounts: list[RoomAccount] = field(default_factory=list)
    cash_outs: list[CashOut] = field(default_factory=list)
    #: the latest movements in plain words (app.services.history entries)
    movements: list = field(default_factory=list)

    @property
    def expecting(self) -> bool:
        """Something will change by itself soon: a verification or a cash-out in progress."""
        return any(not a.is_verified for a in self.room_accounts) or any(
            c.status in ("requested", "sending", "unknown") for c in self.cash_outs
        )


def movements_of(account_id: int, limit: int = RECENT) -> list[Movement]:
    """Posted transfers and open holds touching the account, newest first; voids cancel out and are hidden."""
    t = LedgerTransfer
    rows = db.session.scalars(
        sa.select(t)
        .where(sa.or_(t.debit_account_id == account_id, t.credit_account_id == account_id))
        .where(sa.or_(t.phase.in_([Phase.SINGLE.value, Phase.POST_PENDING.value]),
                      sa.and_(t.phase == Phase.PENDING.value, t.status == Status.PENDING.value)))
        .order_by(t.id.desc())
        .limit(limit)
    )
    return [
        Movement(
            at=row.created_at, kind=row.kind, label=movement_label(row.kind),
            amount=row.amount if row.credit_account_id == account_id else -row.amount,
            pending=row.phase == Phase.PENDING.value,
        )
        for row in rows
    ]


def summary(user) -> WalletSummary:
    wallet = ledger.wallet_of(user.id)
    balance = ledger.balance(wallet)
    cash_outs = list(db.session.scalars(
        sa.select(CashOut).where(CashOut.user_id == user.id).order_by(CashOut.id.desc()).limit(10)
    ))
    return WalletSummary(
        available=balance.available,
        reserved=balance.pending_debits,
        room_accounts=room_accounts.accounts_of(user.id),
        cash_outs=cash_outs,
        movements=history.page(user, size=RECENT_ON_WALLET).entries,
    )
