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


