"""The room desk: unmatched transfers credited once, the manual connector's queue, statements, reconciliation."""
from io import BytesIO

import pytest
import sqlalchemy as sa

from app import ledger
from app.extensions import db
from app.models import CashOut, ReconciliationRun, RoomTransfer, User
from app.room import cashouts, room_accounts
from tests.admin_money.conftest import audit_events, ledger_ok, make_staff, session_of, token
from tests.sandboxes import PLATFORM, TOKEN


@pytest.fixture
def desk_app(app_factory, room):
    return app_factory(ROOM_API_URL=room.url, ROOM_API_TOKEN=TOKEN, ROOM_PLATFORM_ACCOUNT=PLATFORM,
                       ROOM_CONNECT_TIMEOUT=0.5, ROOM_READ_TIMEOUT=0.5)


def _wallet(app, user_id) -> int:
    with app.app_context():
        return ledger.balance(ledger.wallet_of(user_id)).posted


def test_unmatched_transfer_is_credited_once_and_the_room_reconciles(desk_app, room):
    """Does a twice-submitted assignment credit once, a return book the suspense back, and the room agree?"""
    from app.jobs.room import poll_room_feed_once

    with desk_app.app_context():
        staff = make_staff()
        room.open("stranger", 50_00)
        room.player_transfer("stranger", PLATFORM, 20_00)
        room.player_transfer("stranger", PLATFORM, 5_00)
        poll_room_feed_once()
        first, second = db.session.scalars(sa.select(RoomTransfer.id).order_by(RoomTransfer.amount.desc())).all()
    ops = session_of(desk_app, staff.ops)
    page = ops.get("/admin/room").get_data(as_text=True)
    assert f"unmatched-{first}" in page and f"unmatched-{second}" in page
    csrf = token(ops)
    form = {"csrf_token": csrf, "user": staff.user.email, "reason": "sender proved ownership by e-mail"}
    responses = [ops.post(f"/admin/room/unmatched/{first}/assign", data=form) for _ in range(2)]
    assert [r.status_code for r in responses] == [303, 303]
    with desk_app.app_context():
        from app.core.settings import current_settings
        from app.room.room_ingest import commission_for

        expected = 20_00 - commission_for(20_00, current_settings())
    assert _wallet(desk_app, staff.user.id) == expected  # once, though the form came twice
    (assigned,) = audit_events(desk_app, "room_transfer.assigned")
    assert assigned.actor_id == staff.ops.id and assigned.reason == "sender proved ownership by e-mail"
    assert assigned.details["user_id"] == staff.user.id
    assert ops.post(f"/admin/room/unmatched/{second}/assign",
                    data={**form, "user": "nobody@example.com"}).status_code == 303  # unknown user: refused
    with desk_app.app_context():
        assert db.session.get(RoomTransfer, second).status == "unmatched"

    ops.post("/admin/room/reconciliation", data={"csrf_token": csrf})
    with desk_app.app_context():
        run = db.session.scalar(sa.select(ReconciliationRun))
        assert run.difference == 0 and run.room_balance == 25_00
    report = ops.get("/admin/room/reconciliation").get_data(as_text=True)
    assert "<svg" in report and "polyline" in report
    (reconciled,) = audit_events(desk_app, "room.reconciled")
    assert reconciled.actor_id == staff.ops.id

    ops.post(f"/admin/room/unmatched/{second}/return", data={"csrf_token": csrf, "reason": "sent back in the client"})
    with desk_app.app_context():
        assert db.session.get(RoomTransfer, second).status == "returned"
        assert ledger.balance(ledger.platform_account(ledger.AccountKind.UNMATCHED_INCOMING)).posted == 0
    (returned,) = audit_events(desk_app, "room_transfer.returned")
    assert returned.reason == "sent back in the client"
    ledger_ok(desk_app)


def test_manual_desk_enter_confirm_fail_and_statements(app_factory):
    """With the manual connector: entered transfers credit once, cash-outs are confirmed or failed, statements import whole."""
    app = app_factory(ROOM_CONNECTOR="manual")
    with app.app_context():
        staff = make_staff()
        user = db.session.get(User, staff.user.id)
        account = room_accounts.add_room_account(user, "fish42")
        room_accounts.mark_verified(account, by="ops")
        ledger.transfer(key="fund", debit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
                        credit=ledger.wallet_of(user.id), amount=50_00, kind="room_deposit")
        sent = cashouts.request_cash_out(user, account.id, 20_00, "1" * 32)
        failed = cashouts.request_cash_out(user, account.id, 10_00, "2" * 32)
        db.session.commit()
        sent_id, failed_id = sent.id, failed.id
    ops = session_of(app, staff.ops)
    page = ops.get("/admin/room").get_data(as_text=True)
    assert f"cash-out-{sent_id}" in page and f"cash-out-{failed_id}" in page
    csrf = token(ops)
    ops.post(f"/admin/room/cash-outs/{sent_id}/confirm",
             data={"csrf_token": csrf, "room_transfer_id": "rt-out-9", "reason": "sent from the client"})
    ops.post(f"/admin/room/cash-outs/{failed_id}/fail", data={"csrf_token": csrf, "reason": "account blocked"})
    with app.app_context():
        assert db.session.get(CashOut, sent_id).status == "sent"
        assert db.session.get(CashOut, sent_id).room_transfer_id == "rt-out-9"
        assert db.session.get(CashOut, failed_id).status == "failed"
    assert _wallet(app, staff.user.id) == 30_00
    assert audit_events(app, "cash_out.confirmed_by_hand")[0].reason == "sent from the client"
    assert audit_events(app, "cash_out.failed_by_hand")[0].reason == "account blocked"

    incoming = {"csrf_token": csrf, "in-csrf_token": csrf, "in-room_transfer_id": "rt-77", "in-counterparty": "fish42",
                "in-amount": "10", "in-occurred_at": "2026-11-28T09:30", "in-reason": "seen in the client"}
    assert ops.post("/admin/room/incoming", data=incoming).status_code == 303
    again = ops.post("/admin/room/incoming", data=incoming)
    assert again.status_code == 422  # the same room transfer id again: refused, nothing credited
    bad = ops.post("/admin/room/incoming", data={**incoming, "in-room_transfer_id": "rt-78", "in-amount": "1.234"})
    assert bad.status_code == 422
    assert _wallet(app, staff.user.id) == 30_00 + 10_00 - 25  # credited once, less the commission

    good = ("id,direction,counterparty,amount,occurred_at,note\n"
            "st-1,in,fish42,12.00,2026-11-28T08:00:00,\n"
            "st-2,in,somebody,3.00,2026-11-28T08:05:00,\n")
    for _ in range(2):  # the same statement twice: nothing twice
        response = ops.post("/admin/room/statement", data={
            "csrf_token": csrf, "st-csrf_token": csrf,
            "st-statement": (BytesIO(good.encode()), "statement.csv")}, content_type="multipart/form-data")
        assert response.status_code == 303
    broken = ops.post("/admin/room/statement", data={
        "csrf_token": csrf, "st-csrf_token": csrf,
        "st-statement": (BytesIO(b"id,direction,counterparty,amount,occurred_at\nst-3,in,x,-5,2026-11-28T08:00:00\n"),
                         "bad.csv")}, content_type="multipart/form-data")
    assert broken.status_code == 422 and "must not be negative" in broken.get_data(as_text=True)
    with app.app_context():
        statuses = dict(db.session.execute(sa.select(RoomTransfer.room_transfer_id, RoomTransfer.status)).all())
    assert statuses == {"rt-77": "credited", "st-1": "credited", "st-2": "unmatched"}
    assert _wallet(app, staff.user.id) == 40_00 - 25 + 12_00 - 30
    assert len(audit_events(app, "room.statement_imported")) == 2
    assert audit_events(app, "room_transfer.entered_by_hand")[0].actor_id == staff.ops.id
    ledger_ok(app)
