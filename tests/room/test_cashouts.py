"""Cash-outs: held at once, sent once, failures returned, unknown outcomes reconciled — never sent twice."""
import uuid

import pytest
import sqlalchemy as sa

from app import ledger
from app.errors import DomainError
from app.extensions import db
from app.jobs.room import send_cash_out_now, sweep_cash_outs_once
from app.models.room import CashOut
from app.room import cashouts, room_accounts
from tests.helpers import gen_user
from tests.sandboxes import PLATFORM


def _user_with_dollars(room, cents=50_00, handle="fish42"):
    user = gen_user()
    account = room_accounts.add_room_account(user, handle)
    room_accounts.mark_verified(account, by="ops")
    ledger.transfer(key=f"fund:{uuid.uuid4().hex}", debit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
                    credit=ledger.wallet_of(user.id), amount=cents, kind="room_deposit")
    db.session.commit()
    room.open(handle, 0)
    room.open(PLATFORM, 0)
    room.post("/_sandbox/room/accounts", {"account": PLATFORM, "balance": 1_000_00})
    return user, account


def _request(user, account, amount, key=None):
    cash_out = cashouts.request_cash_out(user, account.id, amount, key or uuid.uuid4().hex)
    db.session.commit()
    return cash_out


def _wallet(user):
    return ledger.balance(ledger.wallet_of(user.id))


def _verify():
    report = ledger.verify_ledger()
    assert report.ok, report.violations


def test_cash_out_is_held_then_sent_once(room, room_ctx):
    """Is the amount held at once, sent to the room once, and the hold posted?"""
    user, account = _user_with_dollars(room)
    cash_out = _request(user, account, 20_00)
    assert _wallet(user).available == 30_00 and _wallet(user).pending_debits == 20_00
    assert send_cash_out_now(cash_out.id) == "sent"
    assert send_cash_out_now(cash_out.id) == "not-claimed"
    assert room.account("fish42")["balance"] == 20_00
    assert _wallet(user).posted == 30_00 and _wallet(user).pending_debits == 0
    _verify()


def test_definite_failure_returns_the_dollars(room, room_ctx):
    """When the room refuses (not enough dollars on the platform account), is the hold voided?"""
    user, account = _user_with_dollars(room)
    room.post("/_sandbox/room/transfers", {"from": PLATFORM, "to": "fish42", "amount": 1_000_00})  # drain
    cash_out = _request(user, account, 20_00)
    assert send_cash_out_now(cash_out.id) == "failed"
    assert _wallet(user).available == 50_00
    _verify()


def test_unknown_outcome_is_reconciled_not_resent(room, room_ctx):
    """When the room moved the money but the answer was lost, does the sweeper find it instead of sending again?"""
    user, account = _user_with_dollars(room)
    room.settings(fail_after_commit_rate=1.0)
    cash_out = _request(user, account, 20_00)
    assert send_cash_out_now(cash_out.id) == "unknown"
    room.settings(fail_after_commit_rate=0.0)
    for _ in range(2):
        sweep_cash_outs_once()
    db.session.expire_all()
    assert db.session.get(CashOut, cash_out.id).status == "sent"
    assert room.account("fish42")["balance"] == 20_00  # exactly one transfer reached the player
    _verify()


def test_unknown_outcome_with_nothing_sent_is_retried_with_the_same_key(room, room_ctx):
    """When the room never got the request, does the sweeper send it again, once, with the same key?"""
    user, account = _user_with_dollars(room)
    room.faults(error_rate=1.0)
    cash_out = _request(user, account, 20_00)
    assert send_cash_out_now(cash_out.id) == "unknown"
    room.faults(error_rate=0.0)
    sweep_cash_outs_once()
    sweep_cash_outs_once()
    db.session.expire_all()
    assert db.session.get(CashOut, cash_out.id).status == "sent"
    assert room.account("fish42")["balance"] == 20_00
    _verify()


def test_double_submit_makes_one_cash_out(room, room_ctx):
    """Does a repeated submit with the same form key hold and send only once?"""
    user, account = _user_with_dollars(room)
    first = _request(user, account, 20_00, key="k" * 32)
    second = _request(user, account, 20_00, key="k" * 32)
    assert first.id == second.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CashOut)) == 1
    assert _wallet(user).pending_debits == 20_00


@pytest.mark.parametrize("amount, why", [(50, "minimum"), (60_00, "funds"), (10_000_00, "limit")])
def test_bad_cash_outs_are_refused_and_write_nothing(room, room_ctx, amount, why):
    """Below the minimum, above the balance or over the daily limit: a clear refusal and no row?"""
    user, account = _user_with_dollars(room)
    with pytest.raises(DomainError):
        _request(user, account, amount)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CashOut)) == 0
    assert _wallet(user).available == 50_00


def test_only_to_an_own_verified_account(room, room_ctx):
    """Are an unverified account and another user's account refused?"""
    user, account = _user_with_dollars(room)
    unverified = room_accounts.add_room_account(user, "second-handle")
    other = gen_user("other@example.com")
    foreign = room_accounts.add_room_account(other, "foreign")
    db.session.commit()
    for target in (unverified, foreign):
        with pytest.raises(DomainError):
            _request(user, target, 10_00)
        db.session.rollback()
