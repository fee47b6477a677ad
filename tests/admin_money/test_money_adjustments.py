"""Manual adjustments: four eyes, posted once, audited; the ledger explorer shows the result."""
import pytest
import sqlalchemy as sa

from app import ledger
from app.extensions import db
from app.ledger.models import LedgerTransfer, TransferKind
from app.models import LedgerAdjustment
from tests.admin_money.conftest import audit_events, ledger_ok, session_of, token


def _ask(client, account_id: int, amount: str = "12.50", direction: str = "credit", key: str = "b" * 32):
    csrf = token(client, "/admin/ledger/adjustments")
    return client.post("/admin/ledger/adjustments", data={
        "adj-account": str(account_id), "adj-direction": direction, "adj-amount": amount,
        "adj-reason": "refund of a double commission", "adj-request_key": key,
        "csrf_token": csrf, "adj-csrf_token": csrf})


def _adjustment(app) -> LedgerAdjustment:
    with app.app_context():
        row = db.session.scalar(sa.select(LedgerAdjustment))
        db.session.expunge_all()
        return row


def _adjustment_transfers(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransfer)
                                 .where(LedgerTransfer.kind == TransferKind.ADJUSTMENT))


def test_four_eyes_and_a_double_approve_posts_once(app, staff):
    """Can the requester not approve their own adjustment, and does a second admin's double click post once?"""
    with app.app_context():
        wallet_id = ledger.wallet_of(staff.user.id).id
        db.session.commit()
    requester = session_of(app, staff.admin)
    assert _ask(requester, wallet_id).status_code == 303
    assert _ask(requester, wallet_id).status_code == 303  # the same form twice: one request
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerAdjustment)) == 1
    adjustment = _adjustment(app)
    assert adjustment.status == "requested" and adjustment.amount == 12_50
    assert _adjustment_transfers(app) == 0  # nothing moves before the second person

    own = requester.post(f"/admin/ledger/adjustments/{adjustment.id}/approve", data={"csrf_token": token(requester)})
    assert own.status_code == 403
    assert _adjustment(app).status == "requested" and _adjustment_transfers(app) == 0

    approver = session_of(app, staff.admin2)
    csrf = token(approver)
    for _ in range(2):
        approver.post(f"/admin/ledger/adjustments/{adjustment.id}/approve", data={"csrf_token": csrf})
    rejected_later = approver.post(f"/admin/ledger/adjustments/{adjustment.id}/reject",
                                   data={"csrf_token": csrf, "reason": "changed my mind"})
    assert rejected_later.status_code == 303
    decided = _adjustment(app)
    assert decided.status == "approved" and decided.decided_by_id == staff.admin2.id and decided.transfer_id
    assert _adjustment_transfers(app) == 1
    with app.app_context():
        assert ledger.balance(ledger.wallet_of(staff.user.id)).posted == 12_50
        transfer = db.session.get(LedgerTransfer, decided.transfer_id)
        assert transfer.key == f"adjustment:{decided.id}"
    ledger_ok(app)

    (asked,) = audit_events(app, "ledger.adjustment_requested")
    (approved,) = audit_events(app, "ledger.adjustment_approved")
    assert asked.actor_id == staff.admin.id and asked.reason == "refund of a double commission"
    assert approved.actor_id == staff.admin2.id and approved.target_id == str(decided.id) and approved.at
    assert audit_events(app, "ledger.adjustment_rejected") == []

    # The explorer shows the account and the transfer.
    page = approver.get(f"/admin/ledger/accounts/{wallet_id}").get_data(as_text=True)
    assert f"adjustment:{decided.id}" in page
    assert "someone@example.com" in approver.get("/admin/ledger?owner=someone").get_data(as_text=True)
    found = approver.get(f"/admin/ledger/transfers?text=adjustment:{decided.id}").get_data(as_text=True)
    assert f"adjustment:{decided.id}" in found
    assert approver.get("/admin/ledger/transfers?min_amount=abc").status_code == 422


def test_reject_moves_nothing_and_an_overdraft_is_refused(app, staff):
    """Does a rejection post nothing, and an approval that would overdraw a wallet leave it waiting?"""
    with app.app_context():
        wallet_id = ledger.wallet_of(staff.user.id).id
        db.session.commit()
    requester = session_of(app, staff.ops)
    _ask(requester, wallet_id, key="c" * 32)
    _ask(requester, wallet_id, direction="debit", amount="1", key="d" * 32)
    with app.app_context():
        first, second = db.session.scalars(sa.select(LedgerAdjustment.id).order_by(LedgerAdjustment.id)).all()
    admin = session_of(app, staff.admin)
    csrf = token(admin)
    assert admin.post(f"/admin/ledger/adjustments/{first}/reject", data={"csrf_token": csrf, "reason": ""}
                      ).status_code == 303  # no reason: refused, still open
    with app.app_context():
        assert db.session.get(LedgerAdjustment, first).status == "requested"
    admin.post(f"/admin/ledger/adjustments/{first}/reject", data={"csrf_token": csrf, "reason": "no evidence"})
    # Debiting an empty wallet would overdraw it: the ledger refuses, the request stays open.
    admin.post(f"/admin/ledger/adjustments/{second}/approve", data={"csrf_token": csrf})
    with app.app_context():
        assert db.session.get(LedgerAdjustment, first).status == "rejected"
        assert db.session.get(LedgerAdjustment, second).status == "requested"
    assert _adjustment_transfers(app) == 0
    (rejected,) = audit_events(app, "ledger.adjustment_rejected")
    assert rejected.actor_id == staff.admin.id and rejected.reason == "no evidence"
    ledger_ok(app)


def test_the_database_refuses_self_approval_and_rewriting_a_decision(app, staff):
    """Behind the Python checks: can raw SQL make the requester the decider, or change a decided row? (No.)"""
    from app.operations import adjustments

    with app.app_context():
        from app.models import User

        wallet = ledger.wallet_of(staff.user.id)
        adjustment = adjustments.request_adjustment(
            account_id=wallet.id, direction="credit", amount=1_00, reason="r",
            actor=db.session.get(User, staff.ops.id), request_key="e" * 32)
        db.session.commit()
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.update(LedgerAdjustment).where(LedgerAdjustment.id == adjustment.id)
                               .values(status="approved", decided_by_id=staff.ops.id))
        db.session.rollback()
        adjustments.reject(adjustment.id, actor=db.session.get(User, staff.admin.id), reason="no")
        db.session.commit()
        with pytest.raises(sa.exc.DatabaseError):
            db.session.execute(sa.update(LedgerAdjustment).where(LedgerAdjustment.id == adjustment.id)
                               .values(status="approved"))
        db.session.rollback()
