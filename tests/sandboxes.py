"""Live sandbox servers for the tests, on free loopback ports.

One server per session, a fresh sandbox app per test: stopping a werkzeug
server costs a poll interval, which per test would dominate the run.
"""
from __future__ import annotations

import pytest
import requests

from sandbox.room import create_room_app
from sandbox.server import serve

PLATFORM = "pokerpay@pokerok.example"
TOKEN = "test-room-token"


class RoomControl:
    """Drives the sandbox room's test-control endpoints."""

    platform = PLATFORM
    token = TOKEN

    def __init__(self, url: str, app) -> None:
        self.url = url
        self.app = app
        self.http = requests.Session()

    def post(self, path: str, payload: dict) -> dict:
        return self._post(path, payload)

    def _post(self, path: str, payload: dict) -> dict:
        response = self.http.post(self.url + path, json=payload, timeout=5)
        assert response.status_code < 300, response.text
        return response.json()

    def open(self, account: str, balance: int = 0) -> dict:
        return self._post("/_sandbox/room/accounts", {"account": account, "balance": balance})

    def player_transfer(self, sender: str, receiver: str, amount: int, note: str | None = None) -> dict:
        return self._post("/_sandbox/room/transfers",
                          {"from": sender, "to": receiver, "amount": amount, "note": note})

    def faults(self, **values) -> None:
        self._post("/_sandbox/faults", values)

    def settings(self, **values) -> dict:
        return self._post("/_sandbox/room/settings", values)

    def account(self, account: str) -> dict:
        return self.http.get(f"{self.url}/_sandbox/room/accounts/{account}", timeout=5).json()

    def snapshot(self) -> dict:
        return self.http.get(self.url + "/_sandbox/room/snapshot", timeout=5).json()


class _CurrentApp:
    """A WSGI app that forwards to whichever room the running test owns.

    One server for the session, a fresh room per test: stopping a werkzeug
    server waits out its 0.5 s poll interval, which per test would dominate the run.
    """

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@pytest.fixture(scope="session")
def _room_server():
    current = _CurrentApp()
    running = serve(current)
    yield running, current
    running.stop()
    running.server.server_close()


@pytest.fixture
def room(_room_server):
    running, current = _room_server
    current.app = create_room_app(platform_account=PLATFORM, api_token=TOKEN, seed=7)
    control = RoomControl(running.url, current.app)
    yield control
    control.http.close()




# -- the sandbox Telegram bot -----------------------------------------------------------------

BOT_TOKEN = "123456:TEST-bot-token-never-logged"
BOT_USERNAME = "pokerpay_test_bot"


class TelegramControl:
    """Drives the sandbox Bot API (sandbox/telegram.py) over HTTP: a person's messages, faults, what was sent."""

    token = BOT_TOKEN
    username = BOT_USERNAME

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()

    def _post(self, path: str, payload: dict) -> dict:
        response = self.http.post(self.url + path, json=payload, timeout=15)
        assert response.status_code < 300, response.text
        return response.json()

    def write(self, chat_id: int, text: str | None = None, *, start: str | None = None, **extra) -> dict:
        """The person in ``chat_id`` writes ``text`` (or presses Start on a deep link carrying ``start``)."""
        body = {"chat_id": chat_id, **extra}
        body.update({"start": start} if start is not None else {"text": text})
        return self._post("/_sandbox/telegram/updates", body)

    @property
    def messages(self) -> list[dict]:
        """What the bot sent, oldest first (Bot API Message objects)."""
        return self.http.get(self.url + "/_sandbox/telegram/messages", timeout=5).json()["messages"]

    def state(self) -> dict:
        return self.http.get(self.url + "/_sandbox/telegram/state", timeout=5).json()

    def fail_next(self, count: int, status: int = 500) -> None:
        self._post("/_sandbox/telegram/fail-next", {"count": count, "status": status})

    def chat(self, chat_id, state: str) -> None:
        self._post("/_sandbox/telegram/chats", {"chat_id": chat_id, "state": state})

    def api(self, method: str, **params) -> dict:
        """Call the Bot API itself (as the bot would)."""
        return self.http.post(f"{self.url}/bot{self.token}/{method}", json=params, timeout=15).json()


@pytest.fixture(scope="session")
def _telegram_server():
    current = _CurrentApp()
    running = serve(current)
    yield running, current
    running.stop()


@pytest.fixture
def telegram(_telegram_server):
    """A fresh sandbox bot for this test, on the session's server."""
    from sandbox.telegram import create_telegram_app

    running, current = _telegram_server
    current.app = create_telegram_app(BOT_TOKEN, BOT_USERNAME, seed=3)
    control = TelegramControl(running.url)
    yield control
    control.http.close()
