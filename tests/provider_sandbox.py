"""The live providers sandbox for the API-form, hook and form-health tests.

One sandbox server per session (each test makes its own wallet / shop /
terminal, so tests never see each other's payments), the app pointed at it,
and helpers to sign in as a seller and to add forms.  A test folder loads the
fixtures with ``from tests.provider_sandbox import *`` in its ``conftest.py``.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import requests

from app.connectors.payments import InvoiceRequest
from app.extensions import db
from app.market import payment_forms
from sandbox.providers import create_providers_app
from sandbox.server import serve

__all__ = ["Providers", "provider_sandbox", "providers", "sandbox_config", "seller_app", "seller_ctx",
           "make_invoice", "add_form", "quick_user", "sign_in"]

#: adapter read timeout in these tests: no test here waits for it to pass (the hang tests are in
#: tests/connectors), so it only has to be long enough for the in-process sandbox to answer on a busy
#: machine; 1 s was not (a CheckOrder answered 2 s later under a full run's load)
READ_TIMEOUT = 5.0


class Providers:
    """The sandbox cabinet: accounts, the payer, replays, faults."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()

    def _post(self, path: str, payload: dict | None = None) -> dict:
        response = self.http.post(self.url + path, json=payload or {}, timeout=5)
        assert response.status_code < 300, response.text
        return response.json()

    def account(self, kind: str, **values) -> dict:
        """A fresh (or, given its key, updated) wallet / shop / terminal, with ``credentials``."""
        return self._post(f"/_sandbox/providers/{kind}/accounts", values)

    def credentials(self, kind: str, **values) -> dict[str, str]:
        return self.account(kind, **values)["credentials"]

    def pay(self, kind: str, payment_id: str, action: str = "pay") -> dict:
        return self._post(f"/_sandbox/providers/{kind}/payments/{payment_id}/pay", {"action": action})

    def open_quickpay(self, pay_url: str) -> str:
        """Follow a YooMoney quickpay link as the buyer's browser would; the sandbox payment's id."""
        response = self.http.get(pay_url, allow_redirects=False, timeout=5)
        assert response.status_code == 302, response.text
        return urlsplit(response.headers["Location"]).path.rsplit("/", 1)[-1]

    def resend(self, kind: str, payment_id: str) -> dict:
        return self._post(f"/_sandbox/providers/notifications/resend/{kind}/{payment_id}")

    def wait_notifications(self, timeout: float = 5) -> None:
        assert self._post("/_sandbox/providers/notifications/wait", {"timeout": timeout})["idle"]

    def notification_log(self, kind: str, payment_id: str) -> list[dict]:
        response = self.http.get(self.url + "/_sandbox/providers/notifications",
                                 params={"provider": kind, "payment_id": payment_id}, timeout=5)
        return response.json()

    def reset(self) -> None:
        self._post("/_sandbox/faults/reset")
        self.http.delete(self.url + "/_sandbox/providers/glitches", timeout=5)


@pytest.fixture(scope="session")
def provider_sandbox():
    running = serve(create_providers_app(seed=11))
    yield running
    running.stop()


@pytest.fixture
def providers(provider_sandbox):
    control = Providers(provider_sandbox.url)
    yield control
    control.reset()
    control.http.close()


@pytest.fixture
def sandbox_config(provider_sandbox) -> dict:
    base = provider_sandbox.url
    return {
        "YOOMONEY_BASE_URL": f"{base}/yoomoney",
        "YOOMONEY_QUICKPAY_URL": f"{base}/yoomoney/quickpay/confirm",
        "YOOKASSA_BASE_URL": f"{base}/yookassa/v3",
        "TBANK_BASE_URL": f"{base}/tbank/v2",
        "YOOKASSA_NOTIFY_IPS": ["127.0.0.1/32"],
        "PUBLIC_BASE_URL": "https://pokerpay.test",
        "PROVIDER_CONNECT_TIMEOUT": 0.5,
        "PROVIDER_READ_TIMEOUT": READ_TIMEOUT,
        "PROVIDER_RETRIES": 0,
    }


@pytest.fixture
def seller_app(app_factory, sandbox_config):
    return app_factory(**sandbox_config)


@pytest.fixture
def seller_ctx(seller_app):
    """An app and request context (url_for works) for calling services directly."""
    with seller_app.app_context(), seller_app.test_request_context():
        yield seller_app
        db.session.rollback()


def quick_user(email: str):
    """A user without a usable password: hashing one (argon2) would cost most of a test's time here."""
    from app.models import User

    user = db.session.scalar(db.select(User).where(User.email == email))
    if user is None:
        user = User(email=email, password_hash="!no-password", locale="ru")
        db.session.add(user)
        db.session.commit()
    return user


def sign_in(client, user) -> None:
    """Put ``user`` in the client's session as Flask-Login does (the login form has its own tests)."""
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True


def add_form(providers: Providers, kind: str, email: str = "seller@example.com", **account):
    """A seller with one API form of ``kind`` on a fresh sandbox account (inside a request context).

    Returns (user, form, the account's credentials).
    """
    user = quick_user(email)
    credentials = providers.credentials(kind, **account)
    form = payment_forms.add_form(user, kind, f"{kind} form", credentials)
    db.session.commit()
    return user, form, credentials


def make_invoice(amount: int = 150_000, **overrides) -> InvoiceRequest:
    values = {
        "order_id": f"inv-{uuid.uuid4().hex[:16]}",
        "amount": amount,
        "description": "Пополнение PokerPay",
        "return_url": "https://pokerpay.test/deposits/1",
        "expires_at": datetime.now(UTC) + timedelta(minutes=30),
    }
    values.update(overrides)
    return InvoiceRequest(**values)
