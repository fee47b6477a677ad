"""Deposit → match → invoice → pay → settle, over the sandbox providers, for every provider kind."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import ledger
from app.database import utcnow
from app.extensions import db
from app.jobs import invoices as invoice_jobs
from app.models.market import Deposit, WithdrawalRequest
from app.models.provider_event import ProviderEvent
from app.services import invoices, matching, withdrawals

KINDS = ["yoomoney", "yookassa", "tbank"]


def _wallet(user) -> int:
    return ledger.balance(ledger.wallet_of(user.id)).available


def _verify():
    report = ledger.verify_ledger()
    assert report.ok, report.violations


def _reload(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


@pytest.mark.parametrize("kind", KINDS)
def test_deposit_is_matched_paid_and_settled(market, kind):
    """Does a deposit find the seller, get an invoice, and credit the buyer once when paid?"""
    seller, form, request = market.seller("seller@example.com", kind)
    buyer = market.buyer()
    deposit = market.deposit(buyer, kind, 1_000_00)
    assert matching.match(deposit.id) == "awaiting_payment"
    deposit = _reload(Deposit, deposit.id)
    assert deposit.pay_url and deposit.provider_payment_id
    assert deposit.withdrawal_id == request.id
    assert withdrawals.progress(_reload(WithdrawalRequest, request.id)).reserved == deposit.usd_cents
    market.providers.pay_invoice(deposit)
    for _ in range(2):  # the poll sees it; a second poll changes nothing
        invoice_jobs.poll_one(deposit.id)
    deposit = _reload(Deposit, deposit.id)
    assert deposit.status == "settled"
    assert _wallet(buyer) == deposit.usd_cents - deposit.buyer_fee_cents
    progress = withdrawals.progress(_reload(WithdrawalRequest, request.id))
    assert progress.filled == deposit.usd_cents and progress.reserved == 0
    assert progress.remaining == 100_00 - deposit.usd_cents
    _verify()


def test_duplicate_and_out_of_order_events_settle_once(market):
    """Do repeated notifications, and one arriving with the poll, credit the buyer exactly once?"""
    _, form, _ = market.seller("seller@example.com", "tbank")
    buyer = market.buyer()
    deposit = market.deposit(buyer, "tbank", 500_00)
    matching.match(deposit.id)
    deposit = _reload(Deposit, deposit.id)
    market.providers.pay_invoice(deposit)
    for n in range(3):
        db.session.add(ProviderEvent(kind="tbank", payment_form_id=form.id, event_key=f"e-{n}",
                                     provider_payment_id=deposit.provider_payment_id, order_id=deposit.order_id,
                                     status="paid", amount=deposit.amount_kopecks))
    db.session.commit()
    ids = db.session.scalars(sa.select(ProviderEvent.id).order_by(ProviderEvent.id.desc())).all()
    invoice_jobs.poll_one(deposit.id)
    for event_id in ids:
        invoice_jobs.process_event_now(event_id)
    assert _reload(Deposit, deposit.id).status == "settled"
    assert _wallet(buyer) == deposit.usd_cents
    _verify()


def test_event_from_another_sellers_form_settles_nothing(market):
    """Can a seller's own notification URL be used to settle another seller's invoice? (No.)"""
    _, form_a, _ = market.seller("a@example.com", "tbank")
    _, form_b, _ = market.seller("b@example.com", "tbank")
    buyer = market.buyer()
    deposit = market.deposit(buyer, "tbank", 500_00)
    matching.match(deposit.id)
    deposit = _reload(Deposit, deposit.id)
    other_form = form_b if deposit.payment_form_id == form_a.id else form_a
    db.session.add(ProviderEvent(kind="tbank", payment_form_id=other_form.id, event_key="forged",
                                 provider_payment_id=deposit.provider_payment_id, order_id=deposit.order_id,
                                 status="paid", amount=deposit.amount_kopecks))
    db.session.commit()
    assert invoice_jobs.process_event_now(db.session.scalar(sa.select(ProviderEvent.id))) == "no such invoice"
    assert _reload(Deposit, deposit.id).status == "awaiting_payment"


def test_wrong_amount_goes_to_dispute(market):
    """Is a payment of a different amount held for ops instead of settled?"""
    market.seller("seller@example.com", "tbank")
    buyer = market.buyer()
    deposit = market.deposit(buyer, "tbank", 500_00)
    matching.match(deposit.id)
    deposit = _reload(Deposit, deposit.id)
    assert invoices.settle_paid(deposit.id, 400_00, source="test") == "disputed"
    db.session.commit()
    assert _wallet(buyer) == 0
    _verify()


def test_expiry_cancels_at_the_provider_and_releases_the_dollars(market):
    """At expiry, is the invoice cancelled at the provider and the seller's dollars released?"""
    _, _, request = market.seller("seller@example.com", "tbank")
    buyer = market.buyer()
    deposit = market.deposit(buyer, "tbank", 500_00)
    matching.match(deposit.id)
    db.session.execute(sa.update(Deposit).where(Deposit.id == deposit.id).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert invoice_jobs.expire_one(deposit.id) == "expired"
    deposit = _reload(Deposit, deposit.id)
    status = market.providers.http.get(
        f"{market.providers.url}/_sandbox/providers/tbank/payments/{deposit.provider_payment_id}", timeout=5).json()
    assert status["status"] in ("CANCELED", "DEADLINE_EXPIRED")
    progress = withdrawals.progress(_reload(WithdrawalRequest, request.id))
    assert progress.reserved == 0 and progress.remaining == 100_00
    assert _reload(WithdrawalRequest, request.id).open_invoices == 0
    _verify()


def test_late_payment_is_settled_while_escrow_covers_it(market):
    """A payment reported after expiry: settled when the escrow still has the dollars."""
    market.seller("seller@example.com", "yookassa")
    buyer = market.buyer()
    deposit = market.deposit(buyer, "yookassa", 500_00)
    matching.match(deposit.id)
    deposit = _reload(Deposit, deposit.id)
    assert invoices.expire(deposit.id) == "expired"
    db.session.commit()
    assert invoices.settle_paid(deposit.id, deposit.amount_kopecks, source="test") == "settled"
    db.session.commit()
    assert _wallet(buyer) == deposit.usd_cents
    _verify()


def test_late_payment_goes_to_dispute_when_escrow_is_gone(market):
    """A payment reported after expiry, when the seller's dollars were sold meanwhile: disputed, nothing moves."""
    seller, _, request = market.seller("seller@example.com", "tbank", dollars=60_00)
    buyer = market.buyer()
    first = market.deposit(buyer, "tbank", 5_000_00)  # ≈ $52 at the default rate
    matching.match(first.id)
    assert invoices.expire(first.id) == "expired"
    db.session.commit()
    withdrawals.cancel(seller, request.id)
    db.session.commit()
    assert invoices.settle_paid(first.id, first.amount_kopecks, source="test") == "disputed"
    db.session.commit()
    assert _wallet(buyer) == 0
    assert _wallet(seller) == 60_00
    _verify()


def test_provider_failure_moves_on_to_the_next_seller(market):
    """When the first seller's provider refuses, is the deposit matched to the next seller?"""
    _, _, first = market.seller("first@example.com", "yookassa")
    _, _, second = market.seller("second@example.com", "yookassa")
    buyer = market.buyer()
    deposit = market.deposit(buyer, "yookassa", 500_00)
    # The provider fails the first seller's invoice once (a 500 before doing anything).
    market.providers.post("/_sandbox/providers/glitches",
                          {"path": "/yookassa/v3/payments", "mode": "error_before", "status": 500, "count": 1})
    assert matching.match(deposit.id) == "awaiting_payment"
    deposit = _reload(Deposit, deposit.id)
    assert deposit.withdrawal_id == second.id
    assert deposit.match_attempts == 2
    assert _reload(WithdrawalRequest, first.id).open_invoices == 0
    assert withdrawals.progress(_reload(WithdrawalRequest, first.id)).reserved == 0
    _verify()


def test_no_seller_fails_with_a_clear_reason(market):
    """With no eligible seller, does the deposit fail with a reason and hold nothing?"""
    market.seller("seller@example.com", "tbank")
    buyer = market.buyer()
    deposit = market.deposit(buyer, "yookassa", 500_00)
    assert matching.match(deposit.id) == "failed"
    assert _reload(Deposit, deposit.id).reason


def test_buyer_never_matches_their_own_request(market):
    """Is a seller's own request skipped when they buy?"""
    seller, _, _ = market.seller("seller@example.com", "tbank")
    deposit = market.deposit(seller, "tbank", 500_00)
    assert matching.match(deposit.id) == "failed"


def test_fifo_and_partly_filled_keeps_place(market):
    """Is the oldest active request served first, and does a partly filled one stay first?"""
    _, _, first = market.seller("first@example.com", "tbank")
    _, _, second = market.seller("second@example.com", "tbank")
    buyer = market.buyer()
    for _ in range(2):
        deposit = market.deposit(buyer, "tbank", 500_00)
        matching.match(deposit.id)
        assert _reload(Deposit, deposit.id).withdrawal_id == first.id


def test_seller_cancels_with_open_invoices(market):
    """Cancelling returns the free part now and the held part when its invoice ends."""
    seller, _, request = market.seller("seller@example.com", "tbank")
    buyer = market.buyer()
    deposit = market.deposit(buyer, "tbank", 500_00)
    matching.match(deposit.id)
    deposit = _reload(Deposit, deposit.id)
    withdrawals.cancel(seller, request.id)
    db.session.commit()
    assert _wallet(seller) == 100_00 - deposit.usd_cents
    assert invoices.expire(deposit.id) == "expired"
    db.session.commit()
    assert _wallet(seller) == 100_00
    _verify()


def test_double_submit_creates_one_deposit(market):
    """Does a repeated submit with the same form key create a single deposit?"""
    from app.services import quotes
    from app.services.settings import current_settings

    buyer = market.buyer()
    q = quotes.quote("tbank", 500_00, current_settings())
    first = matching.create_deposit(buyer, q, "a" * 32)
    second = matching.create_deposit(buyer, q, "a" * 32)
    db.session.commit()
    assert first.id == second.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Deposit)) == 1
