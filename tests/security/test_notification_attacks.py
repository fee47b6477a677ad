"""Notification forgery and replay, for each provider, judged by the money: nothing settles on a
forged notification; a real one settles the invoice once however often it is replayed.

The app is served on a loopback port so the sandbox provider delivers its real notifications
over HTTP; the provider's own "resend" is the replay.  Forgeries are built the way an attacker
who knows the wire format (but not the seller's secret) would.
"""
from __future__ import annotations

import json
import uuid
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from app.core.settings import current_settings
from app.extensions import db
from app.jobs.invoices import poll_one, process_event_now
from app.ledger.models import LedgerTransfer
from app.ledger.verify import verify_ledger
from app.market import matching, payment_forms, quotes, withdrawals
from app.models.market import Deposit
from app.models.provider_event import ProviderEvent
from sandbox.providers.common import tbank_token, yoomoney_sha1
from sandbox.server import serve
from tests.provider_sandbox import add_form, quick_user
from tests.security.conftest import fund

ACCOUNT_KEY = {"yoomoney": "wallet", "yookassa": "shop_id", "tbank": "terminal_key"}


@pytest.fixture
def live_app(app_factory, sandbox_config):
    app = app_factory(**sandbox_config)
    running = serve(app)
    app.config["PUBLIC_BASE_URL"] = running.url
    yield app
    running.stop()


def _published_deposit(app, providers, kind: str):
    """A seller whose provider account notifies the live app, and a buyer's invoice awaiting payment."""
    with app.app_context(), app.test_request_context():
        seller, form, credentials = add_form(providers, kind, f"seller-{kind}@example.com")
        providers.account(kind, **{ACCOUNT_KEY[kind]: credentials[ACCOUNT_KEY[kind]],
                                   "notification_url": payment_forms.notification_url(form)})
        fund(seller.id, 100_00)
        withdrawals.create(seller, payment_form_id=form.id, amount=100_00, min_invoice_kopecks=100_00,
                           max_invoice_kopecks=10_000_00, max_open_invoices=3, request_key=uuid.uuid4().hex)
        buyer = quick_user(f"buyer-{kind}@example.com")
        deposit = matching.create_deposit(buyer, quotes.quote(kind, 1500_00, current_settings()), uuid.uuid4().hex)
        db.session.commit()
        assert matching.match(deposit.id) == "awaiting_payment"
        deposit = db.session.get(Deposit, deposit.id)
        return deposit.id, f"/hooks/{kind}/{form.hook_token}", credentials, deposit.provider_payment_id, \
            deposit.order_id, deposit.pay_url


def _forgeries(kind, credentials, payment_id, order_id):
    """(body, content type, remote address) an attacker could send for this invoice."""
    if kind == "tbank":
        body = {"TerminalKey": credentials["terminal_key"], "OrderId": order_id, "Success": True,
                "Status": "CONFIRMED", "PaymentId": int(payment_id), "ErrorCode": "0", "Amount": 1500_00}
        signed_wrong = dict(body, Token=tbank_token(body, "guessed-password"))
        tampered = dict(body, Token=tbank_token(body, credentials["password"]))
        tampered["Amount"] = 1_00  # a real signature over a different amount
        unsigned = dict(body)
        return [(json.dumps(b).encode(), "application/json", "127.0.0.1") for b in (signed_wrong, tampered, unsigned)]
    if kind == "yoomoney":
        fields = {"notification_type": "card-incoming", "operation_id": "1" * 12, "amount": "1500.00",
                  "withdraw_amount": "1500.00", "currency": "643", "datetime": "2026-11-28T10:00:00.000+03:00",
                  "sender": "", "codepro": "false", "label": order_id, "unaccepted": "false"}
        wrong = dict(fields, sha1_hash=yoomoney_sha1(fields, "guessed-secret"))
        missing = dict(fields)
        return [(urlencode(b).encode(), "application/x-www-form-urlencoded", "127.0.0.1") for b in (wrong, missing)]
    body = {"type": "notification", "event": "payment.succeeded",
            "object": {"id": payment_id, "status": "succeeded", "paid": True,
                       "amount": {"value": "1500.00", "currency": "RUB"}, "metadata": {"order_id": order_id}}}
    # From a foreign network: refused.  From YooKassa's network: stored, but believed only after a re-read.
    return [(json.dumps(body).encode(), "application/json", "203.0.113.9"),
            (json.dumps(body).encode(), "application/json", "127.0.0.1")]


def _settle_transfers(deposit_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransfer).where(
        LedgerTransfer.key.like(f"deposit:{deposit_id}:%settle")))


def _process_all_events() -> None:
    for event_id in db.session.scalars(sa.select(ProviderEvent.id).order_by(ProviderEvent.id)).all():
        process_event_now(event_id)


def test_forged_notifications_settle_nothing_and_replays_settle_once(live_app, providers):
    """For each provider: do forgeries leave the invoice unpaid, and does the real notification,
    replayed by the provider and re-processed, settle it exactly once?"""
    for kind in ("tbank", "yoomoney", "yookassa"):
        deposit_id, path, credentials, payment_id, order_id, pay_url = _published_deposit(live_app, providers, kind)
        client = live_app.test_client()
        for body, content_type, address in _forgeries(kind, credentials, payment_id, order_id):
            response = client.post(path, data=body, content_type=content_type,
                                   environ_base={"REMOTE_ADDR": address})
            assert response.status_code in (200, 400), (kind, response.status_code)
            if kind != "yookassa" or address != "127.0.0.1":
                assert response.status_code == 400 and response.get_data(as_text=True) != "OK", kind
        with live_app.app_context():
            _process_all_events()
            deposit = db.session.get(Deposit, deposit_id)
            assert deposit.status == "awaiting_payment", kind
            assert _settle_transfers(deposit_id) == 0

        sandbox_payment = providers.open_quickpay(pay_url) if kind == "yoomoney" else payment_id
        providers.pay(kind, sandbox_payment)
        providers.wait_notifications()
        with live_app.app_context():
            _process_all_events()
            if kind == "yookassa":
                # The forgery from YooKassa's own network took the event key of "payment.succeeded", so the
                # real one is a duplicate; the status poll (which every open invoice gets) settles it.
                poll_one(deposit_id)
            assert db.session.get(Deposit, deposit_id).status == "settled", kind
            stored = db.session.scalar(sa.select(sa.func.count()).select_from(ProviderEvent))
        for _ in range(2):
            providers.resend(kind, sandbox_payment)
            providers.wait_notifications()
        with live_app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(ProviderEvent)) == stored
            db.session.execute(sa.update(ProviderEvent).values(processed_at=None))  # a sweeper re-driving them all
            db.session.commit()
            _process_all_events()
            poll_one(deposit_id)
            assert db.session.get(Deposit, deposit_id).status == "settled"
            assert _settle_transfers(deposit_id) == 1, kind
            report = verify_ledger()
            assert report.ok, report.violations
