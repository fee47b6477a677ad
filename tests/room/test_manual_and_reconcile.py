"""The manual connector (ops enter and confirm by hand) and reconciliation with the room."""
import uuid
from datetime import UTC, datetime

import pytest

from app import ledger
from app.errors import ValidationFailed
from app.extensions import db
from app.models import Role
from app.room import cashouts, room_accounts, room_ingest
from tests.helpers import gen_user
from tests.sandboxes import PLATFORM


def test_ops_enter_an_incoming_transfer_once(room_ctx):
    """Is a transfer entered by hand credited to its verified sender, and refused the second time?"""
    ops = gen_user("ops@example.com", role=Role.OPS)
    user = gen_user()
    room_accounts.mark_verified(room_accounts.add_room_account(user, "fish42"), by="ops")
    args = dict(room_transfer_id="rt-77", counterparty=" fish42 ", amount=10_00,
                occurred_at=datetime.now(UTC), note=None, actor=ops, reason="seen in the client")
    assert room_ingest.record_by_hand(**args) == "credited"
    db.session.commit()
    with pytest.raises(ValidationFailed):
        room_ingest.record_by_hand(**args)
    db.session.rollback()
    assert ledger.balance(ledger.wallet_of(user.id)).posted == 10_00 - 25  # 2.5 % ≥ the 10 ¢ minimum
    assert ledger.verify_ledger().ok


def test_ops_confirm_an_outgoing_cash_out_by_hand(room_ctx):
    """With the manual connector, does ops' confirmation post the hold once and record the room id?"""
    ops = gen_user("ops@example.com", role=Role.OPS)
    user = gen_user()
    account = room_accounts.add_room_account(user, "fish42")
    room_accounts.mark_verified(account, by="ops")
    ledger.transfer(key="fund", debit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
                    credit=ledger.wallet_of(user.id), amount=50_00, kind="room_deposit")
    cash_out = cashouts.request_cash_out(user, account.id, 20_00, uuid.uuid4().hex)
    db.session.commit()
    assert [c.id for c in cashouts.pending_for_ops()] == [cash_out.id]
    cashouts.confirm_by_hand(cash_out.id, "rt-out-1", actor=ops, reason="sent from the client")
    db.session.commit()
    with pytest.raises(ValidationFailed):
        cashouts.confirm_by_hand(cash_out.id, "rt-out-1", actor=ops, reason="again")
    db.session.rollback()
    assert ledger.balance(ledger.wallet_of(user.id)).posted == 30_00
    assert ledger.verify_ledger().ok


def test_reconcile_reports_agreement_and_a_difference(room, room_app, runner):
    """Does `flask room reconcile` exit 0 when the room agrees and 1 when it does not?"""
    from app.jobs.room import poll_room_feed_once

    with room_app.app_context():
        user = gen_user()
        room_accounts.mark_verified(room_accounts.add_room_account(user, "fish42"), by="ops")
        db.session.commit()
        room.open("fish42", 100_00)
        room.player_transfer("fish42", PLATFORM, 40_00)
        poll_room_feed_once()
    cli = room_app.test_cli_runner()
    ok = cli.invoke(args=["room", "reconcile"])
    assert ok.exit_code == 0, ok.output
    assert "difference 0" in ok.output
    room.post("/_sandbox/room/accounts", {"account": PLATFORM, "balance": 5_00})  # money the ledger never saw
    bad = cli.invoke(args=["room", "reconcile"])
    assert bad.exit_code == 1
    assert "difference 500" in bad.output
