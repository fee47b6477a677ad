"""A live providers sandbox on a free loopback port, adapters pointed at it, and a notification receiver.

One sandbox serves the whole session (each test makes its own wallet / shop /
terminal, so tests do not see each other's payments); faults and glitches are
reset after every test.  Client timeouts are tiny so the fault tests stay fast.
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import requests
from werkzeug.wrappers import Request, Response

from app.connectors.payments import InvoiceRequest, adapter_for
from sandbox.providers import create_providers_app
from sandbox.server import serve

#: read timeout of the adapters in these tests; "hang" glitches last longer than this
READ_TIMEOUT = 0.3


class Cabinet:
    """Drives the sandbox's cabinet: accounts, the payer, expiry, glitches, faults."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()

    def _post(self, path: str, payload: dict | None = None, expect: int = 200) -> dict:
        response = self.http.post(self.url + path, json=payload or {}, timeout=5)
        assert response.status_code == expect, response.text
        return response.json()

    def _get(self, path: str, **params):
        response = self.http.get(self.url + path, params=params, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()

    def wallet(self, **values) -> dict:
        return self._post("/_sandbox/providers/yoomoney/accounts", values, 201)

    def shop(self, **values) -> dict:
        return self._post("/_sandbox/providers/yookassa/accounts", values, 201)

    def terminal(self, **values) -> dict:
        return self._post("/_sandbox/providers/tbank/accounts", values, 201)

    def pay(self, provider: str, payment_id: str, action: str = "pay", amount: int | None = None) -> dict:
        body = {"action": action} if amount is None else {"action": action, "amount": amount}
        return self._post(f"/_sandbox/providers/{provider}/payments/{payment_id}/pay", body)

    def expire(self, provider: str, payment_id: str) -> dict:
        return self._post(f"/_sandbox/providers/{provider}/payments/{payment_id}/expire")

    def payments(self, provider: str, **filters) -> list[dict]:
        return self._get(f"/_sandbox/providers/{provider}/payments", **filters)

    def payment(self, provider: str, payment_id: str) -> dict:
        return self._get(f"/_sandbox/providers/{provider}/payments/{payment_id}")

    def resend(self, provider: str, payment_id: str) -> dict:
        return self._post(f"/_sandbox/providers/notifications/resend/{provider}/{payment_id}")

    def glitch(self, path: str, mode: str, **values) -> None:
        self._post("/_sandbox/providers/glitches", {"path": path, "mode": mode, **values}, 201)

    def faults(self, **values) -> None:
        self._post("/_sandbox/faults", values)

    def wait_notifications(self, timeout: float = 5) -> None:
        assert self._post("/_sandbox/providers/notifications/wait", {"timeout": timeout})["idle"]

    def open_quickpay(self, pay_url: str) -> str:
        """Follow a YooMoney quickpay link as the buyer's browser would; the sandbox payment's id."""
        response = self.http.get(pay_url, allow_redirects=False, timeout=5)
        assert response.status_code == 302, response.text
        return urlsplit(response.headers["Location"]).path.rsplit("/", 1)[-1]

    def reset(self) -> None:
        self._post("/_sandbox/faults/reset")
        assert self.http.delete(self.url + "/_sandbox/providers/glitches", timeout=5).status_code == 200


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    remote_addr: str


class Receiver:
    """A tiny WSGI endpoint that records what the sandbox delivers and answers as told."""

    def __init__(self) -> None:
        self.calls: list[Received] = []
        self.replies: list[tuple[str, int]] = []
        self.default = ("OK", 200)
        self._cond = threading.Condition()

    def __call__(self, environ, start_response):
        request = Request(environ)
        with self._cond:
            self.calls.append(Received(request.path, dict(request.headers), request.get_data(),
                                       request.remote_addr))
            body, status = self.replies.pop(0) if self.replies else self.default
            self._cond.notify_all()
        return Response(body, status)(environ, start_response)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.calls) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"expected {count} notifications, got {len(self.calls)}"
                self._cond.wait(left)
            return list(self.calls)


@pytest.fixture(scope="session")
def providers_server():
    running = serve(create_providers_app(seed=7))
    yield running
    running.stop()


@pytest.fixture
def cabinet(providers_server):
    control = Cabinet(providers_server.url)
    yield control
    control.reset()


@pytest.fixture
def receiver():
    endpoint = Receiver()
    running = serve(endpoint)
    endpoint.url = running.url + "/hook"
    yield endpoint
    running.stop()


@pytest.fixture
def config(providers_server) -> dict:
    base = providers_server.url
    return {
        "YOOMONEY_BASE_URL": f"{base}/yoomoney",
        "YOOMONEY_QUICKPAY_URL": f"{base}/yoomoney/quickpay/confirm",
        "YOOKASSA_BASE_URL": f"{base}/yookassa/v3",
        "TBANK_BASE_URL": f"{base}/tbank/v2",
        "YOOKASSA_NOTIFY_IPS": ["127.0.0.1/32"],
        "PROVIDER_CONNECT_TIMEOUT": 0.5,
        "PROVIDER_READ_TIMEOUT": READ_TIMEOUT,
        "PROVIDER_RETRIES": 2,
        "PROVIDER_RETRY_BACKOFF": 0.01,
    }


@pytest.fixture
def adapter(config):
    """``adapter(kind, account_json)`` — the platform's adapter for a sandbox account."""
    return lambda kind, account: adapter_for(kind, account["credentials"], config)


@pytest.fixture
def invoice():
    """``invoice(amount=…, **overrides)`` — an InvoiceRequest with a fresh order id."""

    def make(amount: int = 150_000, **overrides) -> InvoiceRequest:
        values = {
            "order_id": f"inv-{uuid.uuid4().hex[:16]}",
            "amount": amount,
            "description": "Пополнение PokerPay",
            "return_url": "https://pokerpay.example/invoices/1",
            "expires_at": datetime.now(UTC) + timedelta(minutes=30),
            "notification_url": None,
        }
        values.update(overrides)
        return InvoiceRequest(**values)

    return make
