"""What the wallet page shows: balances, room accounts, cash-outs and recent movements."""
from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from app import ledger
from app.extensions import db
from app.ledger.accounts import wallet_code
from app.ledger.models import AccountKind
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
    #: the wallet's ledger account (for the balance chart, so it need not look the wallet up again)
    wallet_id: int | None = None

    @property
    def expecting(self) -> bool:
        """Something will change by itself soon: a verification or a cash-out in progress."""
        return any(a.is_awaiting for a in self.room_accounts) or any(
            c.status in ("requested", "sending", "unknown") for c in self.cash_outs
        )


def summary(user) -> WalletSummary:
    """Everything the wallet page shows but the chart, in five statements.

    The user's accounts and their balances are read once (``ledger.balances_of_owner``: the wallet, the
    sale escrows, the ids the history needs) instead of once per figure; see docs/live-status.md for the
    profile that showed round trips were most of the page's time.
    """
    owned = ledger.balances_of_owner(user.id)
    code = wallet_code(user.id)
    wallet = next((a for a in owned if a.code == code), None)
    if wallet is None:  # the first visit: the wallet is created on first use
        ledger.wallet_of(user.id)
        owned = ledger.balances_of_owner(user.id)
        wallet = next(a for a in owned if a.code == code)
    cash_outs = list(db.session.scalars(
        sa.select(CashOut).where(CashOut.user_id == user.id).order_by(CashOut.id.desc()).limit(10)
    ))
    accounts = history.accounts_from(wallet.id, owned)
    return WalletSummary(
        available=wallet.balance.available,
        reserved=wallet.balance.pending_debits,
        room_accounts=room_accounts.accounts_of(user.id),
        cash_outs=cash_outs,
        on_sale=sum(a.balance.posted for a in owned if a.kind == AccountKind.ESCROW.value),
        movements=history.page(user, size=RECENT_ON_WALLET, accounts=accounts).entries,
        wallet_id=wallet.id,
    )
