"""A user whose wallet has seen every kind of movement, written through the ledger like the services do."""
from __future__ import annotations

import itertools

import pytest

from app import ledger
from app.extensions import db
from app.ledger.models import AccountKind, TransferKind
from tests.helpers import PASSWORD, csrf_from, gen_user

_keys = itertools.count(1)


def _key(tag: str) -> str:
    return f"test:{tag}:{next(_keys)}"


def room_deposits(user_id: int, n: int, cents: int = 10_00) -> None:
    omnibus = ledger.platform_account(AccountKind.ROOM_OMNIBUS)
    for _ in range(n):
        ledger.transfer(key=_key("in"), debit=omnibus, credit=ledger.wallet_of(user_id), amount=cents,
                        kind=TransferKind.ROOM_DEPOSIT)


def every_kind(seller_id: int, buyer_id: int) -> None:
    """Room deposit, commission, a cash-out reserved then released, one reserved then sent, a sale."""
    wallet = ledger.wallet_of(seller_id)
    room_deposits(seller_id, 1, 100_00)
    ledger.transfer(key=_key("fee"), debit=wallet, credit=ledger.platform_account(AccountKind.FEE_REVENUE),
                    amount=1_00, kind=TransferKind.COMMISSION)
    in_flight = ledger.platform_account(AccountKind.CASHOUTS_IN_FLIGHT)
    hold = ledger.reserve(key=_key("co"), debit=wallet, credit=in_flight, amount=20_00, kind=TransferKind.CASHOUT_HOLD)
    ledger.void_pending(key=_key("co-void"), pending_id=hold.id)
    hold = ledger.reserve(key=_key("co"), debit=wallet, credit=in_flight, amount=10_00, kind=TransferKind.CASHOUT_HOLD)
    ledger.post_pending(key=_key("co-post"), pending_id=hold.id)
    escrow = ledger.escrow_of(9_999, seller_id)
    ledger.transfer(key=_key("fund"), debit=wallet, credit=escrow, amount=30_00, kind=TransferKind.ESCROW_FUND)
    hold = ledger.reserve(key=_key("buy"), debit=escrow, credit=ledger.wallet_of(buyer_id), amount=5_00,
                          kind=TransferKind.PURCHASE_HOLD)
    ledger.post_pending(key=_key("buy-post"), pending_id=hold.id)
    db.session.commit()


@pytest.fixture
def people(app):
    """(seller id, buyer id) with every kind of movement between them."""
    with app.app_context():
        seller, buyer = gen_user("seller@example.com", locale="en"), gen_user("buyer@example.com", locale="en")
        every_kind(seller.id, buyer.id)
        return seller.id, buyer.id


def login(client, email: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page)})
