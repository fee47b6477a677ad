"""Local fakes of the outside channels, and the app wired to them and to the live sandboxes.

- an SMTP server (aiosmtpd) that keeps what it receives and can answer "451 try later";
- the sandbox Telegram Bot API (sandbox/telegram.py, the ``telegram`` fixture of tests/sandboxes.py),
  which checks the token and can fail with 500 or "chat not found".
Both run once per session on free loopback ports and are fresh for each test.
"""
from __future__ import annotations

import socket
import threading
import uuid
from email import message_from_bytes, policy

import pytest

from app import ledger
from app.extensions import db
from app.models import User
from app.notifications import telegram_link
from sandbox.providers import create_providers_app
from sandbox.server import serve
from tests.market.conftest import Providers
from tests.provider_sandbox import READ_TIMEOUT  # the same read timeout as the other provider tests
from tests.sandboxes import BOT_TOKEN, PLATFORM, TOKEN


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


@pytest.fixture(scope="session")
def _smtp_server():
    from aiosmtpd.controller import Controller

    handler = FakeSmtp()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture
def smtp(_smtp_server):
    handler, _port = _smtp_server
    handler.reset()
    yield handler
    handler.reset()


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
def notify_app(app_factory, _smtp_server, telegram, _providers_server, room):
    """The app with both channels on (pointed at the fakes), the sandbox providers and the sandbox room."""
    base = _providers_server.url
    return app_factory(
        SMTP_HOST="127.0.0.1", SMTP_PORT=_smtp_server[1], SMTP_STARTTLS=False, SMTP_TIMEOUT=2.0,
        SMTP_FROM="PokerPay <noreply@pokerpay.test>",
        TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=telegram.url, TELEGRAM_TIMEOUT=2.0,
        NOTIFY_RETRY_BASE_SECONDS=0, NOTIFY_MAX_ATTEMPTS=3,
        YOOMONEY_BASE_URL=f"{base}/yoomoney", YOOMONEY_QUICKPAY_URL=f"{base}/yoomoney/quickpay/confirm",
        YOOKASSA_BASE_URL=f"{base}/yookassa/v3", TBANK_BASE_URL=f"{base}/tbank/v2",
        YOOKASSA_NOTIFY_IPS=["127.0.0.1/32"], PROVIDER_READ_TIMEOUT=READ_TIMEOUT, PROVIDER_RETRIES=0,
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


def link_telegram(user, chat_id: int) -> None:
    """Link ``chat_id`` to ``user`` the way a person does: a deep link made for them, Start pressed on it."""
    link = telegram_link.start_link(user)
    token = link.url.rsplit("start=", 1)[1]
    assert telegram_link.redeem(token, str(chat_id)) == user.id
    db.session.commit()
