"""Users and KYC: the user page (secrets masked), KYC, freeze, limits, 2FA reset — each audited and enforced."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from app import ledger
from app.errors import NotPermitted, ValidationFailed
from app.extensions import db
from app.market import matching, withdrawals
from app.models import AuditEvent, Role, User
from app.models.limits import UserLimit
from app.people import user_admin, user_limits
from app.room import cashouts, room_accounts
from tests.admin.conftest import (
    SECRET,
    audit_events,
    fund,
    make_deposit,
    make_seller,
    person,
    post_form,
    quick_user,
    sign_in,
)
from tests.helpers import csrf_from


def test_user_page_and_every_action_with_its_audit_entry(app, staff):
    """Does ops see the user's whole picture (secrets masked) and does each action take effect, audited?"""
    with app.app_context():
        seller, _account, form, request = make_seller("fish@example.com")
        accounts_service = __import__("app.people.accounts", fromlist=["x"])
        accounts_service.start_totp_enrolment(seller)
        seller.totp_enabled = True
        db.session.commit()
        seller_id, display, old_token = seller.id, form.display, seller.session_token
        sale = make_deposit(db.session.get(User, staff.user.id), 1_000_00)
        assert matching.reserve(sale.id, set()).reservation.request_id == request.id
        request_id = request.id
        db.session.commit()
    ops = sign_in(app, staff.ops)

    found = ops.get("/admin/users?q=fish").get_data(as_text=True)
    assert f"/admin/users/{seller_id}" in found and "user@example.com" not in found
    page = ops.get(f"/admin/users/{seller_id}").get_data(as_text=True)
    assert "fish" in page and display in page and f"user:{seller_id}:wallet:USD" in page
    assert SECRET not in page  # API form credentials are never shown
    assert "payment_form.added" in page  # the audit trail
    assert "Счета (продажи)" in page and f"#{request_id}" in page  # invoices against the seller's requests

    path = f"/admin/users/{seller_id}"
    # A missing reason: a form error, nothing written.
    bad = post_form(ops, path, f"{path}/kyc", {"kyc-decision": "verified", "kyc-reason": ""})
    assert bad.status_code == 422
    assert post_form(ops, path, f"{path}/kyc", {"kyc-decision": "maybe", "kyc-reason": "looks ok"}).status_code == 422
    assert audit_events(app, "admin.user.kyc_verified") == []

    ok = post_form(ops, path, f"{path}/kyc", {"kyc-decision": "verified", "kyc-reason": "passport checked"})
    assert ok.status_code == 302
    assert post_form(ops, path, f"{path}/freeze", {"frz-reason": "chargeback reported"}).status_code == 302
    again = post_form(ops, path, f"{path}/freeze", {"frz-reason": "twice"})
    assert again.status_code == 422 and "уже заморожен" in again.get_data(as_text=True)
    with app.app_context():
        user = db.session.get(User, seller_id)
        assert (user.kyc_status, user.kyc_note, user.is_frozen) == ("verified", "passport checked", True)
    assert post_form(ops, path, f"{path}/unfreeze", {"frz-reason": "resolved with the bank"}).status_code == 302
    limits = post_form(ops, path, f"{path}/limits",
                       {"lim-deposit_daily": "1 000", "lim-cashout_daily": "50.5", "lim-reason": "new user"})
    assert limits.status_code == 302
    bad_limit = post_form(ops, path, f"{path}/limits", {"lim-deposit_daily": "-5", "lim-reason": "oops"})
    assert bad_limit.status_code == 422
    assert post_form(ops, path, f"{path}/reset-2fa", {"tfa-reason": "lost phone, id checked"}).status_code == 302

    with app.app_context():
        user = db.session.get(User, seller_id)
        assert not user.is_frozen and not user.totp_enabled and user.totp_secret_encrypted is None
        assert user.session_token != old_token  # every session of the user ended
        limit = db.session.get(UserLimit, seller_id)
        assert (limit.deposit_daily_kopecks, limit.cashout_daily_cents, limit.updated_by_id) == (
            1_000_00, 50_50, staff.ops.id)
    expected = {
        "admin.user.kyc_verified": "passport checked", "admin.user.freeze": "chargeback reported",
        "admin.user.unfreeze": "resolved with the bank", "admin.user.limits": "new user",
        "auth.2fa_reset": "lost phone, id checked",
    }
    for action, reason in expected.items():
        events = audit_events(app, action)
        assert len(events) == 1, action
        event = events[0]
        assert (event.actor_id, event.target_type, event.target_id, event.reason) == (
            staff.ops.id, "user", str(seller_id), reason), action
        assert event.at is not None and event.ip
    assert audit_events(app, "admin.user.limits")[0].details["new"] == {
        "deposit_daily_kopecks": 1_000_00, "cashout_daily_cents": 50_50}

    # Object-level rules: ops cannot act on an admin, nor on themselves.
    for target in (staff.admin.id, staff.ops.id):
        response = post_form(ops, f"/admin/users/{target}", f"/admin/users/{target}/freeze", {"frz-reason": "test"})
        assert response.status_code == 403
    with app.app_context():
        assert not db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.is_frozen.is_(True)))


def test_frozen_seller_is_skipped_by_matching_and_cannot_withdraw_or_cash_out(app_ctx):
    """Does freezing stop matching against the seller, new and resumed requests and cash-outs — and unfreezing undo it?"""
    ops = quick_user("ops@example.com", role=Role.OPS, totp=True)
    seller, account, form, request = make_seller("fish@example.com")
    buyer = quick_user("buyer@example.com")
    user_admin.set_frozen(seller.id, True, actor=ops, reason="investigation")
    db.session.commit()

    deposit = make_deposit(buyer, 1_000_00)
    assert matching.reserve(deposit.id, set()).reservation is None  # the only seller is frozen: no one to match
    db.session.commit()
    assert db.session.get(type(deposit), deposit.id).status == "failed"

    with pytest.raises(NotPermitted):
        withdrawals.create(seller, payment_form_id=form.id, amount=10_00, min_invoice_kopecks=100_00,
                           max_invoice_kopecks=10_000_00, max_open_invoices=1, request_key=uuid.uuid4().hex)
    db.session.rollback()
    withdrawals.pause(seller, request.id)
    db.session.commit()
    with pytest.raises(NotPermitted):
        withdrawals.resume(seller, request.id)
    db.session.rollback()
    with pytest.raises(NotPermitted) as refused:
        cashouts.request_cash_out(seller, account.id, 5_00, uuid.uuid4().hex)
    assert "заморожен" in refused.value.message
    db.session.rollback()

    user_admin.set_frozen(seller.id, False, actor=ops, reason="cleared")
    withdrawals.resume(seller, request.id)
    db.session.commit()
    second = make_deposit(buyer, 1_000_00)
    reserved = matching.reserve(second.id, set()).reservation
    db.session.commit()
    assert reserved is not None and reserved.request_id == request.id
    assert cashouts.request_cash_out(seller, account.id, 5_00, uuid.uuid4().hex).status == "requested"
    db.session.commit()
    assert ledger.verify_ledger().ok


def test_daily_limits_are_enforced_with_a_clear_message(app, staff):
    """Are a user's own purchase and cash-out limits enforced where those are created, with the amount left?"""
    with app.app_context():
        ops = db.session.get(User, staff.ops.id)
        buyer = db.session.get(User, staff.user.id)
        account = room_accounts.add_room_account(buyer, "buyer42")
        room_accounts.mark_verified(account, by="ops")
        fund(buyer, 100_00)
        user_limits.set_limits(buyer, actor=ops, reason="new account", deposit_daily_kopecks=1_500_00,
                               cashout_daily_cents=30_00)
        db.session.commit()

        first = make_deposit(buyer, 1_000_00)
        with pytest.raises(ValidationFailed) as over:
            make_deposit(buyer, 1_000_00)
        assert "лимит" in over.value.message and "500,00" in over.value.message
        db.session.rollback()
        matching.fail(first, "no seller")  # a deposit that moved no money does not count
        db.session.commit()
        make_deposit(buyer, 1_000_00)

        cashouts.request_cash_out(buyer, account.id, 20_00, uuid.uuid4().hex)
        db.session.commit()
        account_id = account.id
    # Through the wallet page: the message says how much is left today, nothing is written.
    client = sign_in(app, staff.user)
    page = client.get("/wallet/").get_data(as_text=True)
    response = client.post("/wallet/cash-outs", data={"co-room_account": str(account_id), "co-amount": "20",
                                                      "co-request_key": uuid.uuid4().hex, "csrf_token": csrf_from(page)})
    assert response.status_code == 422
    assert "10,00" in response.get_data(as_text=True)
    with app.app_context():
        from app.models.room import CashOut

        assert db.session.scalar(sa.select(sa.func.count()).select_from(CashOut)) == 1
        buyer = db.session.get(User, staff.user.id)
        user_limits.set_limits(buyer, actor=db.session.get(User, staff.ops.id), reason="trusted now",
                               deposit_daily_kopecks=None, cashout_daily_cents=None)
        assert cashouts.request_cash_out(buyer, account_id, 20_00, uuid.uuid4().hex).status == "requested"
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "admin.user.limits")) == 2


def test_kyc_reject_keeps_the_note_and_staff_accounts_need_an_admin(app_ctx):
    """Is a rejection kept with its note, and may only an admin act on staff accounts?"""
    ops = quick_user("ops@example.com", role=Role.OPS, totp=True)
    admin = quick_user("admin@example.com", role=Role.ADMIN, totp=True)
    other_ops = quick_user("ops2@example.com", role=Role.OPS, totp=True)
    user = quick_user("user@example.com")
    user_admin.review_kyc(user.id, "rejected", actor=ops, note="document blurred")
    assert (user.kyc_status, user.kyc_note) == ("rejected", "document blurred")
    with pytest.raises(NotPermitted):
        user_admin.reset_two_factor(other_ops.id, actor=ops, reason="lost phone")
    user_admin.reset_two_factor(other_ops.id, actor=admin, reason="lost phone")
    assert not other_ops.totp_enabled
    assert person(other_ops).totp is False
    with pytest.raises(ValidationFailed):
        user_admin.set_frozen(user.id, True, actor=ops, reason="  ")
    room_accounts.add_room_account(user, "SharkPlayer_7")
    assert user_admin.search("sharkplayer") == [user]  # by room account
    assert user_admin.search("", kyc="rejected") == [user]
    assert user_admin.search(f"#{admin.id}") == [admin]
    assert user_admin.search("100%_") == []  # LIKE wildcards are matched literally
