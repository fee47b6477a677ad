"""What the wallet page shows: balances, room accounts, cash-outs and recent movements."""
from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from app import ledger
from app.extensions import db
from app.ledger.models import AccountKind, LedgerAccount
from app.models.room import CashOut, RoomAccount
from app.room import room_accounts
from app.web.wallet import history

#: movements shown on the wallet page itself; the rest are on the history page
RECENT_ON_WALLET = 10


@dataclass
class WalletSummary:
    available: int
    reserved: int
    room_accounts: list[RoomAccount] = field(default_factory=list)
    cash_outs: list[CashOut] = field(default_factory=list)
    #: dollars the user put up for sale that are still in their requests' escrows (incl. held by invoices)
    on_sale: int = 0
    #: the latest movements in plain words (app.web.wallet.history entries)
    movements: list = field(default_factory=list)

    @property
    def expecting(self) -> bool:
        """Something will change by itself soon: a verification or a cash-out in progress."""
        return any(a.is_awaiting for a in self.room_accounts) or any(
            c.status in ("requested", "sending", "unknown") for c in self.cash_outs
        )


def on_sale(user_id: int) -> int:
    """Dollars in the user's sale escrows (one query over their accounts)."""
    a = LedgerAccount
    total = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(a.credits_posted - a.debits_posted), 0))
                              .where(a.owner_id == user_id, a.kind == AccountKind.ESCROW.value))
    return int(total or 0)


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
        on_sale=on_sale(user.id),
        movements=history.page(user, size=RECENT_ON_WALLET).entries,
    )
