"""The sandbox PokerOK room: its API, its test-control endpoints and the seller's page."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.room import Refused, create_room_app, decode_cursor, encode_cursor, parse_dollars
from sandbox.server import serve

PLATFORM = "pokerpay@pokerok.example"
TOKEN = "room-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _room_app():
    return create_room_app(platform_account=PLATFORM, api_token=TOKEN, seed=1)


# Named apart from tests/conftest.py's `app` / `client`: the room needs no database.
@pytest.fixture
def room_app():
    return _room_app()


@pytest.fixture
def room_client(room_app):
    return room_app.test_client()


def _open(room_client, account: str, balance: int = 0):
    response = room_client.post("/_sandbox/room/accounts", json={"account": account, "balance": balance})
    assert response.status_code in (200, 201), response.json
    return response


def _to_platform(room_client, sender: str, amount: int) -> str:
    response = room_client.post("/_sandbox/room/transfers", json={"from": sender, "to": PLATFORM, "amount": amount})
    assert response.status_code == 200, response.json
    return response.json["room_transfer_id"]


def _send(room_client, to: str, amount, key="k-1", **extra):
    return room_client.post("/api/v1/transfers", json={"to": to, "amount": amount, "key": key, **extra}, headers=AUTH)


# -- API ------------------------------------------------------------------------


@pytest.mark.parametrize("method, path", [
    ("get", "/api/v1/history"), ("get", "/api/v1/balance"), ("post", "/api/v1/transfers"),
    ("get", "/api/v1/transfers/by-key/k"),
])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_api_requires_the_token(room_client, method, path, headers):
    """Does every API endpoint answer 401 without the exact Bearer token?"""
    response = getattr(room_client, method)(path, headers=headers, json={})
    assert response.status_code == 401
    assert response.json == {"error": "unauthorized"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_history_is_the_platforms_view(room_client):
    """Does the history show only the platform's transfers, with direction and counterparty from its side?"""
    _open(room_client, "seller", 1_000)
    _open(room_client, "buyer")
    _open(room_client, "bystander", 1_000)
    incoming = _to_platform(room_client, "seller", 400)
    room_client.post("/_sandbox/room/transfers", json={"from": "bystander", "to": "seller", "amount": 5})
    outgoing = _send(room_client, "buyer", 150, note="cash-out").json["room_transfer_id"]
    body = room_client.get("/api/v1/history", headers=AUTH).json
    assert body["has_more"] is False
    assert [(t["room_transfer_id"], t["direction"], t["counterparty"], t["amount"], t["note"])
            for t in body["transfers"]] == [(incoming, "in", "seller", 400, None),
                                            (outgoing, "out", "buyer", 150, "cash-out")]
    assert room_client.get("/api/v1/balance", headers=AUTH).json == {"account": PLATFORM, "balance": 250}


@settings(max_examples=40, deadline=None)
@given(
    plan=st.lists(st.one_of(st.integers(min_value=1, max_value=6), st.just("page")), max_size=40),
    limit=st.integers(min_value=1, max_value=7),
    duplicate=st.sampled_from([0.0, 0.5, 1.0]),
    reorder=st.sampled_from([0.0, 1.0]),
)
def test_cursor_never_misses_under_duplicates_and_reordering(plan, limit, duplicate, reorder):
    """Whatever the interleaving of new transfers and page reads, and however pages repeat and shuffle,
    does a room_client that keeps next_cursor and dedupes by id end with every platform transfer exactly once?"""
    room_client = _room_app().test_client()
    room_client.application.extensions["sandbox_faults"].update(
        {"duplicate_rate": duplicate, "reorder_rate": reorder})
    _open(room_client, "seller", 10_000)
    seen: dict[str, dict] = {}
    cursor = None

    def read_page() -> bool:
        nonlocal cursor
        body = room_client.get("/api/v1/history", query_string={"since": cursor or "", "limit": limit},
                          headers=AUTH).json
        for row in body["transfers"]:
            assert seen.setdefault(row["room_transfer_id"], row) == row
        cursor = body["next_cursor"]
        return body["has_more"]

    for step in plan:
        if step == "page":
            read_page()
        else:
            for _ in range(step):
                _to_platform(room_client, "seller", 1)
    while read_page():
        pass
    platform_rows = [t["room_transfer_id"] for t in room_client.get("/_sandbox/room/snapshot").json["transfers"]]
    assert sorted(seen) == sorted(platform_rows)


def test_duplicate_pages_overlap_the_previous_page(room_app, room_client):
    """With duplicate_rate=1, does a page repeat rows of the previous page while the cursor still moves on?"""
    _open(room_client, "seller", 100)
    ids = [_to_platform(room_client, "seller", 1) for _ in range(6)]
    room_app.extensions["sandbox_faults"].update({"duplicate_rate": 1})
    first = room_client.get("/api/v1/history?limit=3", headers=AUTH).json
    second = room_client.get(f"/api/v1/history?limit=3&since={first['next_cursor']}", headers=AUTH).json
    got = [t["room_transfer_id"] for t in second["transfers"]]
    assert set(ids[3:]) <= set(got) and set(got) & set(ids[:3])
    assert decode_cursor(second["next_cursor"]) == int(ids[-1].removeprefix("rt-"))


@pytest.mark.parametrize("query", ["since=garbage!", "since=" + encode_cursor(1)[:-1] + "$", "limit=0",
                                   "limit=501", "limit=ten", "limit=-1"])
def test_bad_history_parameters(room_client, query):
    """Are a forged cursor and an out-of-range limit refused with 400?"""
    assert room_client.get(f"/api/v1/history?{query}", headers=AUTH).status_code == 400


def test_send_is_idempotent_by_key(room_client):
    """Does a repeated send with the same key return the first transfer and move nothing more?"""
    _open(room_client, "buyer")
    _open(room_client, PLATFORM, 1_000)
    first, again = _send(room_client, "buyer", 300), _send(room_client, "buyer", 300)
    assert first.status_code == again.status_code == 200
    assert first.json == again.json
    assert room_client.get("/api/v1/balance", headers=AUTH).json["balance"] == 700
    assert _send(room_client, "buyer", 301).status_code == 409  # same key, different transfer


@pytest.mark.parametrize("to, amount, error", [
    ("buyer", 1_001, "insufficient_funds"), ("nobody", 1, "unknown_account"), (None, 1, "unknown_account"),
    ("buyer", 0, "invalid_amount"), ("buyer", -5, "invalid_amount"), ("buyer", 1.5, "invalid_amount"),
    ("buyer", "5", "invalid_amount"), ("buyer", True, "invalid_amount"), ("buyer", None, "invalid_amount"),
    (PLATFORM, 1, "same_account"),
])
def test_send_definite_failures(room_client, to, amount, error):
    """Is each impossible send a 422 with its reason, leaving balances and the key untouched?"""
    _open(room_client, "buyer")
    _open(room_client, PLATFORM, 1_000)
    response = _send(room_client, to, amount)
    assert (response.status_code, response.json) == (422, {"error": error})
    assert room_client.get("/api/v1/transfers/by-key/k-1", headers=AUTH).status_code == 404
    assert room_client.get("/api/v1/balance", headers=AUTH).json["balance"] == 1_000


@pytest.mark.parametrize("payload", [{"to": "buyer", "amount": 1}, {"to": "buyer", "amount": 1, "key": ""},
                                     {"to": "buyer", "amount": 1, "key": "k", "note": 5}])
def test_send_malformed_request(room_client, payload):
    """Is a send without a key (or with a bad note) a 400, not a business failure?"""
    assert room_client.post("/api/v1/transfers", json=payload, headers=AUTH).status_code == 400


def test_fail_after_commit_moves_money_then_503(room_app, room_client):
    """With fail_after_commit_rate=1, is the transfer made although the answer is a 503, and found by key?"""
    _open(room_client, "buyer")
    _open(room_client, PLATFORM, 1_000)
    assert room_client.post("/_sandbox/room/settings", json={"fail_after_commit_rate": 1}).status_code == 200
    assert _send(room_client, "buyer", 250, key="a/b c").status_code == 503
    found = room_client.get("/api/v1/transfers/by-key/a%2Fb%20c", headers=AUTH)
    assert found.status_code == 200 and (found.json["direction"], found.json["amount"]) == ("out", 250)
    assert room_client.get("/_sandbox/room/accounts/buyer").json["balance"] == 250
    # The replay is answered normally: it made nothing new.
    assert _send(room_client, "buyer", 250, key="a/b c").json == found.json


def test_room_settings_are_validated(room_client):
    """Are unknown or out-of-range room settings refused, and does reset restore a well-behaved room?"""
    assert room_client.post("/_sandbox/room/settings", json={"nope": 1}).status_code == 400
    assert room_client.post("/_sandbox/room/settings", json={"fail_after_commit_rate": 2}).status_code == 400
    room_client.post("/_sandbox/room/settings", json={"hang_after_commit_rate": 0.25})
    assert room_client.get("/_sandbox/room/settings").json["hang_after_commit_rate"] == 0.25
    assert room_client.post("/_sandbox/room/settings/reset").json == {
        "fail_after_commit_rate": 0.0, "hang_after_commit_rate": 0.0}


# -- test control ---------------------------------------------------------------


def test_open_fund_and_snapshot_conserve_money(room_client):
    """Do opening, funding and transfers keep the sum of balances equal to the money funded?"""
    assert _open(room_client, "alice", 500).status_code == 201
    assert _open(room_client, "alice", 250).json == {"account": "alice", "balance": 750}
    _to_platform(room_client, "alice", 100)
    snapshot = room_client.get("/_sandbox/room/snapshot").json
    assert snapshot["accounts"] == {PLATFORM: 100, "alice": 650}
    assert snapshot["funded_total"] == snapshot["balance_total"] == 750
    (row,) = snapshot["transfers"]
    assert (row["from"], row["to"], row["amount"], row["key"]) == ("alice", PLATFORM, 100, None)
    assert re.fullmatch(r"rt-\d{6}", row["room_transfer_id"])
    account = room_client.get("/_sandbox/room/accounts/alice").json
    assert account["balance"] == 650 and account["transfers"] == snapshot["transfers"]


@pytest.mark.parametrize("payload", [{"account": ""}, {"account": "a\nb"}, {"account": "x", "balance": -1},
                                     {"account": "x", "balance": 1.5}, {"account": 7}])
def test_open_refuses_bad_input(room_client, payload):
    """Are bad account names and balances refused?"""
    assert room_client.post("/_sandbox/room/accounts", json=payload).status_code == 422


def test_control_endpoints_are_loopback_only(room_client):
    """Are the test-control endpoints closed to anything but loopback?"""
    remote = {"REMOTE_ADDR": "10.1.2.3"}
    assert room_client.get("/_sandbox/room/snapshot", environ_base=remote).status_code == 403
    assert room_client.post("/_sandbox/room/accounts", json={"account": "x"}, environ_base=remote).status_code == 403


def test_unknown_account_view(room_client):
    """Is reading a missing account a 404?"""
    assert room_client.get("/_sandbox/room/accounts/ghost").status_code == 404


# -- the seller's page ----------------------------------------------------------


@pytest.fixture
def served():
    running = serve(_room_app())
    yield running
    running.stop()
    running.server.server_close()


def test_seller_page_sends_dollars_to_the_platform(served):
    """Can a person open an account on the page and send "12.50" to the platform, which then sees 1250 cents?"""
    http = requests.Session()
    page = http.post(served.url + "/seller/accounts", data={"account": "seller@example.com", "amount": "100.00"})
    assert page.status_code == 200 and "100.00" in page.text and "Account opened" in page.text
    page = http.post(served.url + "/seller/transfers", data={
        "from": "seller@example.com", "to": PLATFORM, "amount": "12.50", "note": "for PokerPay"})
    assert page.status_code == 200 and "Transfer done" in page.text
    assert "87.50" in page.text and "rt-000001" in page.text and "for PokerPay" in page.text
    (row,) = http.get(served.url + "/api/v1/history", headers=AUTH).json()["transfers"]
    assert (row["direction"], row["counterparty"], row["amount"]) == ("in", "seller@example.com", 1250)


@pytest.mark.parametrize("amount", ["12.505", "-1", "1e3", "", "12.5.0", "0"])
def test_seller_page_rejects_bad_amounts(room_client, amount):
    """Does the page refuse an amount that is not a positive number of dollars with at most 2 decimals?"""
    _open(room_client, "s", 10_000)
    page = room_client.post("/seller/transfers", data={"from": "s", "to": PLATFORM, "amount": amount},
                       follow_redirects=True)
    assert "Invalid amount" in page.text or "Неверная сумма" in page.text
    assert room_client.get("/_sandbox/room/snapshot").json["transfers"] == []


def test_seller_page_shows_refusals_and_escapes_names(room_client):
    """Does the page explain insufficient funds, and escape account names?"""
    _open(room_client, "<b>x</b>", 100)
    page = room_client.post("/seller/transfers", data={"from": "<b>x</b>", "to": PLATFORM, "amount": "5.00"},
                       follow_redirects=True)
    assert "Insufficient funds" in page.text
    assert "<b>x</b>" not in page.text and "&lt;b&gt;x&lt;/b&gt;" in page.text
    assert "No such account" in room_client.get("/?account=ghost").text


@pytest.mark.parametrize("text, cents", [("12.50", 1250), ("12,5", 1250), ("7", 700), ("1 000.01", 100_001)])
def test_parse_dollars(text, cents):
    """Are the page's amounts converted to exact cents?"""
    assert parse_dollars(text) == cents


def test_parse_dollars_refuses_more_than_two_decimals():
    """Is a third decimal refused rather than rounded?"""
    with pytest.raises(Refused):
        parse_dollars("0.001")


def test_runs_as_a_module():
    """Does `python -m sandbox.room` start a server that answers the API?"""
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.room", "--port", "0", "--api-token", TOKEN,
         "--account", "seller@example.com=10.00"],
        cwd=root, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url, line
        assert TOKEN not in line
        accounts = requests.get(url[0] + "/_sandbox/room/accounts", timeout=5).json()["accounts"]
        assert accounts == {PLATFORM: 0, "seller@example.com": 1000}
    finally:
        process.terminate()
        process.wait(timeout=5)
        process.stderr.close()
