"""The app wired to a live sandbox room (the room balance is read over HTTP), and funded users."""
from __future__ import annotations

import uuid

import pytest

from app import ledger
from app.models import Role
from tests.helpers import gen_user
from tests.sandboxes import PLATFORM, TOKEN


@pytest.fixture
def room_app(app_factory, room):
    return app_factory(
        ROOM_API_URL=room.url, ROOM_API_TOKEN=TOKEN, ROOM_PLATFORM_ACCOUNT=PLATFORM,
        ROOM_CONNECT_TIMEOUT=0.5, ROOM_READ_TIMEOUT=0.3, ROOM_READ_RETRIES=0,
    )


@pytest.fixture
def room_ctx(room_app):
    with room_app.app_context():
        yield room_app


def credit(user_id: int, cents: int) -> None:
    """Dollars arriving from the room for ``user_id``, as a room deposit posts them."""
    ledger.transfer(key=f"test-credit:{uuid.uuid4().hex}", debit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
                    credit=ledger.wallet_of(user_id), amount=cents, kind=ledger.TransferKind.ROOM_DEPOSIT)


def ops_member(email: str = "ops@example.com"):
    return gen_user(email, role=Role.OPS)
