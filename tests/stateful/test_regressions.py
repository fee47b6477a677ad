"""Failures the state machines found, pinned as plain tests (each names the machine's steps)."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from app.core.settings import current_settings
from app.extensions import db
from app.jobs import invoices as invoice_jobs
from app.ledger.models import LedgerTransfer
from app.ledger.sweeper import void_expired_holds
from app.market import matching, quotes, withdrawals
from app.models.market import Deposit, WithdrawalRequest
from tests.provider_sandbox import add_form, quick_user
from tests.security.conftest import fund
from tests.stateful.harness import FakeClock, ledger_ok


@pytest.fixture
def market(market_app):
    with market_app.app_context(), market_app.test_request_context():
        clock = FakeClock()
        clock.install()
        yield clock
        clock.uninstall()
        db.session.rollback()


def _published(providers):
    seller, form, _ = add_form(providers, "tbank", f"s-{uuid.uuid4().hex[:6]}@example.com")
    fund(seller.id, 60_00)
    request = withdrawals.create(seller, payment_form_id=form.id, amount=50_00, min_invoice_kopecks=500_00,
                                 max_invoice_kopecks=5000_00, max_open_invoices=2, request_key=uuid.uuid4().hex)
    buyer = quick_user("buyer@example.com")
    deposit = matching.create_deposit(buyer, quotes.quote("tbank", 1000_00, current_settings()), uuid.uuid4().hex)
    db.session.commit()
    assert matching.match(deposit.id) == "awaiting_payment"
    return deposit.id, request.id


def test_invoice_outlived_by_its_hold_still_settles_or_expires(market, providers):
    """Sweepers down for over an hour: the ledger backstop expires an invoice's hold first (or the hold is
    past its timeout).  Does a payment still settle — from the escrow, once — and does expiry still work,
    instead of PendingExpired / AlreadyResolved failing every later sweep?"""
    paid_id, request_id = _published(providers)
    unpaid_id, _ = _published(providers)
    market.advance(timedelta(minutes=80))
    # paid while the hold is past its timeout (not yet swept): settles from the escrow, once
    providers.pay("tbank", db.session.get(Deposit, paid_id).provider_payment_id)
    assert invoice_jobs.poll_one(paid_id) == "settled"
    assert invoice_jobs.poll_one(paid_id) == "done"
    # never paid, and the backstop ran first: the invoice sweep still expires it
    void_expired_holds()
    invoice_jobs.sweep_invoices.__wrapped__()
    assert db.session.get(Deposit, unpaid_id).status == "expired"
    assert db.session.get(WithdrawalRequest, request_id).open_invoices == 0
    for deposit_id, settled in ((paid_id, 1), (unpaid_id, 0)):
        keys = db.session.scalars(db.select(LedgerTransfer.key).where(LedgerTransfer.key.like(f"deposit:{deposit_id}:%settle")))
        assert len(list(keys)) == settled
    ledger_ok()


def test_matching_whose_hold_the_backstop_expired_moves_on(market, providers):
    """A deposit reserved and then left (worker killed) for over an hour: the backstop expires its hold.
    When the re-driven attempt fails at the provider, is the attempt abandoned (slot freed) instead of
    AlreadyResolved failing the matching sweep forever?"""
    seller, form, _ = add_form(providers, "tbank", "s-held@example.com")
    fund(seller.id, 60_00)
    request = withdrawals.create(seller, payment_form_id=form.id, amount=50_00, min_invoice_kopecks=500_00,
                                 max_invoice_kopecks=5000_00, max_open_invoices=2, request_key=uuid.uuid4().hex)
    buyer = quick_user("buyer@example.com")
    deposit = matching.create_deposit(buyer, quotes.quote("tbank", 1000_00, current_settings()), uuid.uuid4().hex)
    db.session.commit()
    assert matching.reserve(deposit.id, set()).reservation is not None  # then the worker died
    db.session.commit()
    market.advance(timedelta(minutes=80))
    void_expired_holds()
    providers._post("/_sandbox/faults", {"error_rate": 1.0})
    invoice_jobs.sweep_invoices.__wrapped__()
    assert db.session.get(Deposit, deposit.id).status in ("matching", "failed")
    assert db.session.get(Deposit, deposit.id).hold_transfer_id is None
    assert db.session.get(WithdrawalRequest, request.id).open_invoices == 0
    ledger_ok()
