"""Local fakes of the outside channels, and the app wired to them and to the live sandboxes.

- an SMTP server (aiosmtpd) that keeps what it receives and can answer "451 try later";
- an HTTP server speaking the Telegram Bot API's ``sendMessage`` (werkzeug, in a thread),
  which checks the token and can fail with 500 or "chat not found".
Both run once per session on free loopback ports and are reset for each test.
"""
from __future__ import annotations

import json
import socket
import threading
import uuid
from email import message_from_bytes, policy

import pytest
from werkzeug.wrappers import Request, Response

from app import ledger
from app.extensions import db
from app.models import User
from sandbox.providers import create_providers_app
from sandbox.server import serve
from tests.market.conftest import Providers
from tests.sandboxes import PLATFORM, TOKEN

BOT_TOKEN = "123456:TEST-bot-token-never-logged"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeSmtp:
    """An aiosmtpd handler: the mails received, and how many to refuse with 451 first."""

    def __init__(self) -> None:
        self.messages = []
        self.fail_next = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return "451 4.3.0 Try again later"
            self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.fail_next = 0


class FakeTelegram:
    """``POST /bot<token>/sendMessage`` as the Bot API answers it."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.messages = []
        self.fail_next = 0
        self.unknown_chats: set[str] = set()
        self.lock = threading.Lock()

    @staticmethod
    def _answer(status: int, body: dict) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json")

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.method != "POST" or request.path != f"/bot{self.token}/sendMessage":
            response = self._answer(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return response(environ, start_response)
        payload = request.get_json(silent=True) or {}
        chat_id = str(payload.get("chat_id", ""))
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                response = self._answer(500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})
            elif chat_id in self.unknown_chats or not payload.get("text"):
                response = self._answer(400, {"ok": False, "error_code": 400,
                                              "description": "Bad Request: chat not found"})
            else:
                self.messages.append(payload)
                response = self._answer(200, {"ok": True, "result": {
                    "message_id": len(self.messages), "chat": {"id": int(chat_id), "type": "private"},
                    "date": 0, "text": payload["text"]}})
        return response(environ, start_response)

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.fail_next = 0
            self.unknown_chats.clear()


@pytest.fixture(scope="session")
def _smtp_server():
    from aiosmtpd.controller import Controller

    handler = FakeSmtp()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture(scope="session")
def _telegram_server():
    fake = FakeTelegram(BOT_TOKEN)
    running = serve(fake)
    yield fake, running.url
    running.stop()


@pytest.fixture
def smtp(_smtp_server):
    handler, _port = _smtp_server
    handler.reset()
    yield handler
    handler.reset()


@pytest.fixture
def telegram(_telegram_server):
    fake, _url = _telegram_server
    fake.reset()
    yield fake
    fake.reset()


@pytest.fixture(scope="session")
def _providers_server():
    running = serve(create_providers_app(seed=5))
    yield running
    running.stop()


@pytest.fixture
def providers(_providers_server):
    control = Providers(_providers_server.url)
    yield control
    control.reset()


@pytest.fixture
def notify_app(app_factory, _smtp_server, _telegram_server, _providers_server, room):
    """The app with both channels on (pointed at the fakes), the sandbox providers and the sandbox room."""
    base = _providers_server.url
    return app_factory(
        SMTP_HOST="127.0.0.1", SMTP_PORT=_smtp_server[1], SMTP_STARTTLS=False, SMTP_TIMEOUT=2.0,
        SMTP_FROM="PokerPay <noreply@pokerpay.test>",
        TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=_telegram_server[1], TELEGRAM_TIMEOUT=2.0,
        NOTIFY_RETRY_BASE_SECONDS=0, NOTIFY_MAX_ATTEMPTS=3,
        YOOMONEY_BASE_URL=f"{base}/yoomoney", YOOMONEY_QUICKPAY_URL=f"{base}/yoomoney/quickpay/confirm",
        YOOKASSA_BASE_URL=f"{base}/yookassa/v3", TBANK_BASE_URL=f"{base}/tbank/v2",
        YOOKASSA_NOTIFY_IPS=["127.0.0.1/32"], PROVIDER_READ_TIMEOUT=1.0, PROVIDER_RETRIES=0,
        PUBLIC_BASE_URL="http://127.0.0.1:9",  # the sandboxes' webhooks go nowhere; polling settles
        ROOM_API_URL=room.url, ROOM_API_TOKEN=TOKEN, ROOM_PLATFORM_ACCOUNT=PLATFORM,
        ROOM_CONNECT_TIMEOUT=0.5, ROOM_READ_TIMEOUT=0.5,
    )


@pytest.fixture
def ctx(notify_app):
    """An app context held for the whole test, for calling services and jobs directly."""
    with notify_app.app_context():
        yield notify_app
        db.session.rollback()


def quick_user(email: str, locale: str = "ru") -> User:
    """A user without a usable password (argon2 hashing would dominate these tests' time)."""
    user = User(email=email, password_hash="!no-password", locale=locale)
    db.session.add(user)
    db.session.commit()
    return user


def fund(user, cents: int) -> None:
    ledger.transfer(
        key=f"test-fund:{uuid.uuid4().hex}", debit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
        credit=ledger.wallet_of(user.id), amount=cents, kind=ledger.TransferKind.ROOM_DEPOSIT,
    )
    db.session.commit()
