"""The buyer's "Cancel" on an open invoice: the provider first, then the hold voided once, like expiry."""
import sqlalchemy as sa

from app import ledger
from app.extensions import db
from app.ledger.models import LedgerTransfer, Phase
from app.market import invoices, matching, withdrawals
from app.models.audit import AuditEvent
from app.models.market import Deposit, WithdrawalRequest


def _reload(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def _voids(deposit_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransfer).where(
        LedgerTransfer.phase == Phase.VOID_PENDING.value, LedgerTransfer.key.like(f"deposit:{deposit_id}:%")))


def _open_invoice(market, kind="tbank", **seller):
    _, _, request = market.seller("seller@example.com", kind, **seller)
    buyer = market.buyer()
    deposit = market.deposit(buyer, kind, 500_00)
    assert matching.match(deposit.id) == "awaiting_payment"
    db.session.commit()
    return buyer, request, _reload(Deposit, deposit.id)


def test_cancel_voids_the_hold_once_and_frees_the_seller(market):
    """Is the invoice cancelled at the provider, the hold voided exactly once and the slot freed, even twice?"""
    buyer, request, deposit = _open_invoice(market)
    assert invoices.cancel_by_buyer(buyer, deposit.id) == "cancelled"
    db.session.commit()
    assert invoices.cancel_by_buyer(buyer, deposit.id) == "cancelled"  # a double click
    assert invoices.cancel(deposit.id) == "cancelled"  # a racing second path
    db.session.commit()
    assert _reload(Deposit, deposit.id).status == "cancelled"
    assert _voids(deposit.id) == 1
    status = market.providers.http.get(
        f"{market.providers.url}/_sandbox/providers/tbank/payments/{deposit.provider_payment_id}", timeout=5).json()
    assert status["status"] == "CANCELED"
    progress = withdrawals.progress(_reload(WithdrawalRequest, request.id))
    assert progress.reserved == 0 and progress.remaining == 100_00
    assert _reload(WithdrawalRequest, request.id).open_invoices == 0
    actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert actions.count("deposit.cancelled") == 1
    assert ledger.verify_ledger().ok


def test_late_payment_after_cancel_settles_like_after_expiry(market):
    """A payment reported after the buyer cancelled: settled while the escrow still covers it."""
    buyer, _, deposit = _open_invoice(market, "yookassa")
    assert invoices.cancel_by_buyer(buyer, deposit.id) == "cancelled"
    db.session.commit()
    assert invoices.settle_paid(deposit.id, deposit.amount_kopecks, source="test") == "settled"
    db.session.commit()
    assert ledger.balance(ledger.wallet_of(buyer.id)).available == deposit.usd_cents - deposit.buyer_fee_cents
    assert ledger.verify_ledger().ok


def test_late_payment_after_cancel_goes_to_dispute_when_escrow_is_gone(market):
    """After cancel, when the seller took the dollars back, does a late payment go to ops with nothing moved?"""
    buyer, request, deposit = _open_invoice(market)
    invoices.cancel_by_buyer(buyer, deposit.id)
    db.session.commit()
    seller = db.session.get(WithdrawalRequest, request.id).seller_id
    from app.models import User

    withdrawals.cancel(db.session.get(User, seller), request.id)
    db.session.commit()
    assert invoices.settle_paid(deposit.id, deposit.amount_kopecks, source="test") == "disputed"
    db.session.commit()
    assert ledger.balance(ledger.wallet_of(buyer.id)).available == 0
    assert ledger.verify_ledger().ok


def test_cancel_finds_a_payment_and_settles_instead(market):
    """If the buyer paid just before pressing Cancel, is the payment credited, and a later Cancel refused?"""
    import pytest

    from app.errors import ValidationFailed

    buyer, _, deposit = _open_invoice(market)
    market.providers.pay_invoice(deposit)
    assert invoices.cancel_by_buyer(buyer, deposit.id) == "settled"
    db.session.commit()
    assert _reload(Deposit, deposit.id).status == "settled"
    assert _voids(deposit.id) == 0
    with pytest.raises(ValidationFailed):
        invoices.cancel_by_buyer(buyer, deposit.id)
    assert invoices.cancel(deposit.id) == "settled"
    assert _reload(Deposit, deposit.id).status == "settled"
    assert ledger.verify_ledger().ok
