"""Disputes worked by ops with live evidence from the sandbox providers, and the clear-cut auto-resolver."""
import sqlalchemy as sa

from app import ledger
from app.extensions import db
from app.jobs import invoices as invoice_jobs
from app.market import invoices, matching, withdrawals
from app.models.market import Deposit, WithdrawalRequest
from tests.admin_money.conftest import Market, audit_events, ledger_ok, session_of, token


def _disputed(market_app, providers, *, kind="tbank", pay=True, expire=False, seller_email="seller@example.com",
              buyer_email="buyer@example.com", rubles=1_000_00):
    """A seller, a buyer, an invoice (paid at the provider or not) that the buyer disputes."""
    with market_app.app_context():
        m = Market(providers)
        seller, _, request = m.seller(seller_email, kind)
        buyer = m.buyer(buyer_email)
        deposit = m.deposit(buyer, kind, rubles)
        assert matching.match(deposit.id) == "awaiting_payment"
        db.session.commit()
        deposit = db.session.get(Deposit, deposit.id)
        if pay:
            providers.pay_invoice(deposit)
        if expire:
            assert invoices.expire(deposit.id) == "expired"
        invoices.dispute(deposit, "buyer: I paid from my card at 10:05", actor=buyer)
        db.session.commit()
        return deposit.id, buyer.id, seller.id, request.id


def _state(app, deposit_id, buyer_id, request_id):
    with app.app_context():
        deposit = db.session.get(Deposit, deposit_id)
        request = db.session.get(WithdrawalRequest, deposit.withdrawal_id)
        assert request_id in (None, request.id)
        return (deposit.status, ledger.balance(ledger.wallet_of(buyer_id)).posted,
                withdrawals.progress(request), deposit.usd_cents - deposit.buyer_fee_cents)


def test_ops_confirm_a_paid_dispute_with_the_providers_evidence(market_app, providers, market_staff):
    """Does ops see the provider's live word, and does confirming settle once, audited, with the ledger whole?"""
    deposit_id, buyer_id, _, request_id = _disputed(market_app, providers)
    ops = session_of(market_app, market_staff.ops)
    assert f"/admin/disputes/{deposit_id}" in ops.get("/admin/disputes").get_data(as_text=True)
    page = ops.get(f"/admin/disputes/{deposit_id}").get_data(as_text=True)
    assert "I paid from my card at 10:05" in page and "buyer@example.com" in page and "seller@example.com" in page
    assert "Покупатель и продавец увидят эту причину" in page  # the reason is shown to both parties as written
    evidence = ops.get(f"/admin/disputes/{deposit_id}/evidence").get_data(as_text=True)
    assert "<strong>оплачена</strong>" in evidence and "CONFIRMED" in evidence  # the label, not the code

    csrf = token(ops)
    refused = ops.post(f"/admin/disputes/{deposit_id}/resolve", data={"csrf_token": csrf, "decision": "confirm"})
    assert refused.status_code == 422  # no reason: nothing happens
    assert _state(market_app, deposit_id, buyer_id, request_id)[0] == "disputed"
    for _ in range(2):  # a double submit settles once
        ops.post(f"/admin/disputes/{deposit_id}/resolve",
                 data={"csrf_token": csrf, "decision": "confirm", "reason": "provider shows CONFIRMED"})
    status, wallet, progress, expected = _state(market_app, deposit_id, buyer_id, request_id)
    assert status == "settled" and wallet == expected
    assert progress.reserved == 0 and progress.open_invoices == 0
    ledger_ok(market_app)
    (resolved,) = audit_events(market_app, "deposit.dispute_resolved")
    assert resolved.actor_id == market_staff.ops.id and resolved.reason == "provider shows CONFIRMED"
    assert resolved.details["confirmed"] is True and resolved.target_id == str(deposit_id)


def test_ops_reject_an_unpaid_dispute_and_confirm_a_late_one(market_app, providers, market_staff):
    """Does rejecting release the seller's dollars, and confirming after expiry take them from the escrow again?"""
    unpaid, buyer_a, _, request_a = _disputed(market_app, providers, pay=False)
    late, buyer_b, *_ = _disputed(market_app, providers, pay=True, expire=True,
                                           seller_email="late@example.com", buyer_email="b2@example.com")
    ops = session_of(market_app, market_staff.ops)
    assert "<strong>ещё не оплачен</strong>" in ops.get(f"/admin/disputes/{unpaid}/evidence").get_data(as_text=True)
    csrf = token(ops)
    ops.post(f"/admin/disputes/{unpaid}/resolve",
             data={"csrf_token": csrf, "decision": "reject", "reason": "no payment at the provider"})
    status, wallet, progress, _ = _state(market_app, unpaid, buyer_a, request_a)
    assert status == "rejected" and wallet == 0
    assert progress.reserved == 0 and progress.filled == 0 and progress.remaining == progress.amount

    ops.post(f"/admin/disputes/{late}/resolve",
             data={"csrf_token": csrf, "decision": "confirm", "reason": "paid just after expiry"})
    status, wallet, progress, expected = _state(market_app, late, buyer_b, None)
    assert status == "settled" and wallet == expected and progress.filled > 0
    ledger_ok(market_app)
    reasons = {e.reason for e in audit_events(market_app, "deposit.dispute_resolved")}
    assert reasons == {"no payment at the provider", "paid just after expiry"}


def test_clear_cut_disputes_are_resolved_automatically_once(market_app, providers, market_staff):
    """Does the job settle a dispute the provider confirms (once, however often it runs) and leave the rest?"""
    paid, buyer_a, _, request_a = _disputed(market_app, providers, kind="yookassa")
    unpaid, *_ = _disputed(market_app, providers, kind="yookassa", pay=False,
                           seller_email="s2@example.com", buyer_email="b2@example.com")
    with market_app.app_context():
        assert invoice_jobs.auto_resolve_disputes_once() == {"settled": 1, "left": 1}
        assert invoice_jobs.auto_resolve_disputes_once() == {"settled": 0, "left": 1}
        assert db.session.scalar(sa.select(Deposit.status).where(Deposit.id == unpaid)) == "disputed"
    status, wallet, _, expected = _state(market_app, paid, buyer_a, request_a)
    assert status == "settled" and wallet == expected
    ledger_ok(market_app)
    (resolved,) = audit_events(market_app, "deposit.dispute_resolved")
    assert resolved.actor_id is None and resolved.reason.startswith("automatic")
    from app.jobs.schedule import PERIODIC_JOBS

    assert ("app.jobs.invoices.auto_resolve_disputes", 60) in PERIODIC_JOBS


def test_a_hold_past_its_backstop_is_released_then_settled_from_the_escrow(market_app, providers, market_staff,
                                                                            monkeypatch):
    """When ops decide after the hold's backstop passed, is the hold released once and the slot freed?"""
    from datetime import timedelta

    from app.database import utcnow
    from app.market import invoices as invoice_service
    from app.models import User

    deposit_id, buyer_id, _, request_id = _disputed(market_app, providers, pay=True)
    later = utcnow() + timedelta(days=3)
    monkeypatch.setattr(invoice_service, "utcnow", lambda: later)  # ops come back three days later
    with market_app.app_context():
        ops = db.session.get(User, market_staff.ops.id)
        assert invoices.resolve_dispute(deposit_id, confirm=True, actor=ops, reason="late but paid") == "settled"
        db.session.commit()
        deposit = db.session.get(Deposit, deposit_id)
        hold = db.session.get(ledger.LedgerTransfer, deposit.hold_transfer_id)
        assert hold.status == "expired"
        assert db.session.get(WithdrawalRequest, request_id).open_invoices == 0
    status, wallet, progress, expected = _state(market_app, deposit_id, buyer_id, request_id)
    assert status == "settled" and wallet == expected and progress.reserved == 0
    with market_app.app_context():  # the sweeper coming afterwards finds nothing to do
        assert ledger.void_expired_holds(now=later) == 0
    ledger_ok(market_app)
