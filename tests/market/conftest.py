"""The market wired to live sandbox providers: sellers with API forms and escrowed dollars, buyers."""
from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest
import requests

from app import ledger
from app.extensions import db
from app.market import payment_forms, withdrawals
from sandbox.providers import create_providers_app
from sandbox.server import serve
from tests.helpers import gen_user
from tests.provider_sandbox import READ_TIMEOUT  # the same read timeout as the other provider tests


class Providers:
    """The sandbox providers' cabinet: make accounts, act as the payer, expire, inject faults."""

    def __init__(self, url: str):
        self.url = url
        self.http = requests.Session()

    def post(self, path: str, payload: dict | None = None) -> dict:
        response = self.http.post(self.url + path, json=payload or {}, timeout=5)
        assert response.status_code < 300, response.text
        return response.json()

    def account(self, kind: str) -> dict:
        """A fresh wallet / shop / terminal; returns credentials ready for an API form."""
        return self.post(f"/_sandbox/providers/{kind}/accounts", {})["credentials"]

    def pay(self, kind: str, payment_id: str, amount: int | None = None, action: str = "pay") -> dict:
        body = {"action": action} if amount is None else {"action": action, "amount": amount}
        return self.post(f"/_sandbox/providers/{kind}/payments/{payment_id}/pay", body)

    def pay_invoice(self, deposit, amount: int | None = None, action: str = "pay") -> dict:
        """Pay as the buyer would: YooMoney payments exist only once the buyer opens the quickpay link."""
        payment_id = deposit.provider_payment_id
        if deposit.kind == "yoomoney":
            response = self.http.get(deposit.pay_url, allow_redirects=False, timeout=5)
            assert response.status_code == 302, response.text
            payment_id = urlsplit(response.headers["Location"]).path.rsplit("/", 1)[-1]
        return self.pay(deposit.kind, payment_id, amount, action)

    def faults(self, **values) -> None:
        self.post("/_sandbox/faults", values)

    def reset(self) -> None:
        self.post("/_sandbox/faults/reset")
        self.http.delete(self.url + "/_sandbox/providers/glitches", timeout=5)


@pytest.fixture(scope="session")
def _providers_server():
    running = serve(create_providers_app(seed=3))
    yield running
    running.stop()


@pytest.fixture
def providers(_providers_server):
    control = Providers(_providers_server.url)
    yield control
    control.reset()


@pytest.fixture
def market_app(app_factory, providers):
    base = providers.url
    return app_factory(
        YOOMONEY_BASE_URL=f"{base}/yoomoney", YOOMONEY_QUICKPAY_URL=f"{base}/yoomoney/quickpay/confirm",
        YOOKASSA_BASE_URL=f"{base}/yookassa/v3", TBANK_BASE_URL=f"{base}/tbank/v2",
        YOOKASSA_NOTIFY_IPS=["127.0.0.1/32"], PROVIDER_READ_TIMEOUT=READ_TIMEOUT, PROVIDER_RETRIES=0,
        PUBLIC_BASE_URL="http://127.0.0.1:9",
    )


@pytest.fixture
def market(market_app, providers):
    """For service tests: the factories, inside an app context held for the whole test."""
    with market_app.app_context():
        yield Market(providers)


@pytest.fixture
def market_web(market_app, providers):
    """For web tests: no context is held (the test client's requests must not share ``g``).

    ``setup(fn)`` runs ``fn(market)`` in a short app context of its own and returns its result.
    """
    def setup(fn):
        with market_app.app_context():
            result = fn(Market(providers))
            db.session.commit()
            return result

    return setup


class Market:
    """Factories for the actors of the market (inside an app context)."""

    def __init__(self, providers: Providers):
        self.providers = providers

    def fund(self, user, cents: int) -> None:
        """Give a user dollars as if they had deposited them from the room."""
        ledger.transfer(
            key=f"test-fund:{uuid.uuid4().hex}", debit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
            credit=ledger.wallet_of(user.id), amount=cents, kind=ledger.TransferKind.ROOM_DEPOSIT,
        )
        db.session.commit()

    def seller(self, email: str, kind: str = "tbank", *, dollars: int = 100_00, min_kopecks: int = 100_00,
               max_kopecks: int = 10_000_00, max_open: int = 3):
        user = gen_user(email)
        self.fund(user, dollars)
        form = payment_forms.add_form(user, kind, f"{kind} of {email}", self.providers.account(kind))
        request = withdrawals.create(
            user, payment_form_id=form.id, amount=dollars, min_invoice_kopecks=min_kopecks,
            max_invoice_kopecks=max_kopecks, max_open_invoices=max_open, request_key=uuid.uuid4().hex,
        )
        db.session.commit()
        return user, form, request

    def buyer(self, email: str = "buyer@example.com"):
        return gen_user(email)

    def deposit(self, buyer, kind: str, rubles_kopecks: int):
        from app.core.settings import current_settings
        from app.market import matching, quotes

        deposit = matching.create_deposit(buyer, quotes.quote(kind, rubles_kopecks, current_settings()),
                                          uuid.uuid4().hex)
        db.session.commit()
        return deposit
