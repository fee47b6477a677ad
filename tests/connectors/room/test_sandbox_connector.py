"""SandboxRoomConnector against a live sandbox room."""
from __future__ import annotations

from datetime import UTC

import pytest
import requests

from app.connectors.room import RoomError, RoomUnavailable, SandboxRoomConnector, SendResult

PLATFORM = "pokerpay@pokerok.example"  # as in conftest.py
TOKEN = "test-room-token"


def _fetch_all(connector, limit: int) -> tuple[dict, int]:
    """Page like the poller does: process, then keep next_cursor; (rows by id, rows received)."""
    rows, received, cursor = {}, 0, None
    while True:
        page = connector.fetch_transfers(cursor, limit=limit)
        for transfer in page.transfers:
            received += 1
            assert rows.setdefault(transfer.room_transfer_id, transfer) == transfer
        cursor = page.next_cursor
        if not page.has_more:
            return rows, received


def _busy_room(room, sellers: int = 4, each: int = 6) -> set[str]:
    """Sellers send to the platform and the platform pays some back; the ids of the platform's rows."""
    ids = set()
    room.open("other@example.com", 10_000)
    for n in range(sellers):
        seller = f"seller{n}@example.com"
        room.open(seller, 100_000)
        for i in range(each):
            ids.add(room.player_transfer(seller, PLATFORM, 100 + i, note=f"s{n}-{i}")["room_transfer_id"])
            room.player_transfer("other@example.com", seller, 1)  # not the platform's business
    return ids


def test_history_pages_cover_every_transfer_exactly_once(room, connector):
    """Does following next_cursor deliver every platform transfer, and nothing else?"""
    expected = _busy_room(room)
    rows, received = _fetch_all(connector, limit=5)
    assert set(rows) == expected
    assert received == len(expected)
    first = rows[min(expected)]
    assert first.direction == "in" and first.counterparty == "seller0@example.com"
    assert first.amount == 100 and first.note == "s0-0"
    assert first.occurred_at.tzinfo is not None and first.occurred_at.utcoffset().total_seconds() == 0


def test_history_survives_duplicate_and_reordered_pages(room, connector):
    """With every page overlapping the previous one and shuffled, does a client that dedupes by id still see each transfer once?"""
    expected = _busy_room(room)
    room.faults(duplicate_rate=1, reorder_rate=1)
    rows, received = _fetch_all(connector, limit=4)
    assert set(rows) == expected
    assert received > len(expected)  # the fault really repeated rows


def test_history_cursor_picks_up_later_transfers(room, connector):
    """Does a stored cursor deliver transfers that arrive after the last page, and only those?"""
    room.open("late@example.com", 1_000)
    room.player_transfer("late@example.com", PLATFORM, 10)
    page = connector.fetch_transfers(None)
    assert len(page.transfers) == 1 and not page.has_more
    empty = connector.fetch_transfers(page.next_cursor)
    assert empty.transfers == [] and empty.next_cursor == page.next_cursor
    later = room.player_transfer("late@example.com", PLATFORM, 20)
    after = connector.fetch_transfers(page.next_cursor)
    assert [t.room_transfer_id for t in after.transfers] == [later["room_transfer_id"]]


def test_send_then_history_shows_outgoing(room, connector):
    """Does a send appear in the platform's history as an outgoing transfer to the receiver?"""
    room.open("buyer@example.com")
    room.open(PLATFORM, 5_000)
    result = connector.send_transfer("buyer@example.com", 1_234, "cashout-1", note="cash-out #1")
    assert result == SendResult("sent", result.room_transfer_id, None)
    (row,) = connector.fetch_transfers(None).transfers
    assert (row.room_transfer_id, row.direction, row.counterparty, row.amount, row.note) == (
        result.room_transfer_id, "out", "buyer@example.com", 1_234, "cash-out #1")
    assert connector.balance() == 5_000 - 1_234


def test_send_is_idempotent_by_key(room, connector):
    """Does repeating a send with the same key return the same transfer without moving money twice?"""
    room.open("buyer@example.com")
    room.open(PLATFORM, 5_000)
    first = connector.send_transfer("buyer@example.com", 700, "cashout-2")
    again = connector.send_transfer("buyer@example.com", 700, "cashout-2")
    assert first.status == again.status == "sent"
    assert first.room_transfer_id == again.room_transfer_id
    assert room.account("buyer@example.com")["balance"] == 700
    assert connector.balance() == 4_300


def test_key_reused_for_a_different_transfer_is_an_error(room, connector):
    """Is reusing a key for a different amount refused loudly rather than treated as a send outcome?"""
    room.open("buyer@example.com")
    room.open(PLATFORM, 5_000)
    connector.send_transfer("buyer@example.com", 700, "cashout-3")
    with pytest.raises(RoomError):
        connector.send_transfer("buyer@example.com", 800, "cashout-3")
    assert room.account("buyer@example.com")["balance"] == 700


@pytest.mark.parametrize("to, amount, reason", [
    ("buyer@example.com", 5_001, "insufficient_funds"),
    ("nobody@example.com", 100, "unknown_account"),
])
def test_definite_failures(room, connector, to, amount, reason):
    """Are insufficient funds and an unknown receiver definite failures, with no money moved?"""
    room.open("buyer@example.com")
    room.open(PLATFORM, 5_000)
    assert connector.send_transfer(to, amount, "cashout-4") == SendResult("failed", None, reason)
    assert connector.find_sent("cashout-4") is None
    assert connector.balance() == 5_000


def test_fail_after_commit_is_unknown_and_reconciled(room, connector):
    """When the room moves the money but answers 503, is the outcome unknown and does find_sent find the transfer?"""
    room.open("buyer@example.com")
    room.open(PLATFORM, 5_000)
    room.settings(fail_after_commit_rate=1)
    result = connector.send_transfer("buyer@example.com", 900, "cashout-5")
    assert result.status == "unknown" and result.room_transfer_id is None
    found = connector.find_sent("cashout-5")
    assert found is not None and found.status == "sent"
    assert room.account("buyer@example.com")["balance"] == 900
    # A retry with the same key, as the reconcile rule allows, does not send again.
    room.settings(fail_after_commit_rate=0)
    assert connector.send_transfer("buyer@example.com", 900, "cashout-5").room_transfer_id == found.room_transfer_id
    assert room.account("buyer@example.com")["balance"] == 900


def test_hang_after_commit_is_unknown_and_reconciled(room, connector):
    """When the answer to a completed send times out, is the outcome unknown and found by key?"""
    room.open("buyer@example.com")
    room.open(PLATFORM, 5_000)
    room.faults(hang_seconds=0.5)
    room.settings(hang_after_commit_rate=1)
    result = connector.send_transfer("buyer@example.com", 300, "cashout-6")
    assert result.status == "unknown"
    assert connector.find_sent("cashout-6").status == "sent"


def test_5xx_before_commit_is_unknown_and_nothing_found(room, connector):
    """When the room fails before doing anything, is the send unknown, and does reconcile find nothing to retry over?"""
    room.open("buyer@example.com")
    room.open(PLATFORM, 5_000)
    room.faults(error_rate=1)
    assert connector.send_transfer("buyer@example.com", 300, "cashout-7").status == "unknown"
    room.faults(error_rate=0)
    assert connector.find_sent("cashout-7") is None
    assert connector.balance() == 5_000


def test_send_timeout_is_unknown(room, connector):
    """Does a send that hangs past the client timeout come back as unknown instead of raising?"""
    room.open(PLATFORM, 5_000)
    room.faults(timeout_rate=1, hang_seconds=0.5)
    assert connector.send_transfer("buyer@example.com", 300, "cashout-8") == SendResult(
        "unknown", None, "ReadTimeout")


@pytest.mark.parametrize("faults", [{"error_rate": 1}, {"timeout_rate": 1, "hang_seconds": 0.5}])
def test_reads_raise_room_unavailable(room, connector, faults):
    """Do history, balance and reconcile raise RoomUnavailable after their retries on 5xx and timeouts?"""
    room.faults(**faults)
    connector.retries = 1
    for read in (lambda: connector.fetch_transfers(None), connector.balance,
                 lambda: connector.find_sent("k")):
        with pytest.raises(RoomUnavailable):
            read()


def test_reads_retry_through_occasional_5xx(room, connector):
    """Does a read succeed when only some attempts fail?"""
    room.open(PLATFORM, 42)
    room.faults(error_rate=0.5, seed=3)
    connector.retries = 8
    assert all(connector.balance() == 42 for _ in range(5))


def test_connection_refused(room):
    """Does a room that is not listening give RoomUnavailable for reads and unknown for sends?"""
    client = SandboxRoomConnector("http://127.0.0.1:9", TOKEN, timeout=(0.2, 0.2), retries=1, backoff=0)
    with pytest.raises(RoomUnavailable):
        client.balance()
    assert client.send_transfer("x", 1, "k").status == "unknown"


def test_wrong_token_is_an_error_not_unavailability(room):
    """Is a bad API token reported as RoomError (fix the config) rather than as a passing outage?"""
    client = SandboxRoomConnector(room.url, "wrong", timeout=(0.5, 0.5), backoff=0)
    for call in (client.balance, lambda: client.fetch_transfers(None),
                 lambda: client.send_transfer("x", 1, "k")):
        with pytest.raises(RoomError) as caught:
            call()
        assert not isinstance(caught.value, RoomUnavailable)


def test_balance_checks_the_platform_account(room):
    """Does balance() refuse a token that belongs to another account than the configured one?"""
    client = SandboxRoomConnector(room.url, TOKEN, platform_account="someone-else", backoff=0)
    with pytest.raises(RoomError):
        client.balance()


def test_token_is_not_in_repr(connector):
    """Does the connector keep its API token out of its repr (and so out of logs)?"""
    assert TOKEN not in repr(connector)


class _FakeResponse:
    def __init__(self, status: int, body) -> None:
        self.status_code, self._body = status, body

    def json(self):
        if isinstance(self._body, Exception):
            raise self._body
        return self._body


class _FakeSession:
    """Answers every request with one canned response."""

    def __init__(self, response: _FakeResponse) -> None:
        self.response = response

    def get(self, *args, **kwargs):
        return self.response

    post = get


GOOD_ROW = {"room_transfer_id": "rt-1", "direction": "in", "counterparty": "a", "amount": 5,
            "occurred_at": "2024-05-01T10:00:00Z", "note": None}


@pytest.mark.parametrize("change", [
    {"amount": "5"}, {"amount": 5.0}, {"amount": 0}, {"amount": True}, {"direction": "sideways"},
    {"counterparty": ""}, {"room_transfer_id": None}, {"occurred_at": "yesterday"},
    {"occurred_at": "2024-05-01T10:00:00"}, {"note": 7},
])
def test_malformed_history_row_raises(change):
    """Does a malformed history row raise RoomError instead of becoming a transfer?"""
    body = {"transfers": [{**GOOD_ROW, **change}], "next_cursor": "c", "has_more": False}
    client = SandboxRoomConnector("http://room", TOKEN, session=_FakeSession(_FakeResponse(200, body)))
    with pytest.raises(RoomError):
        client.fetch_transfers(None)


@pytest.mark.parametrize("body", [
    [], {"transfers": "x", "next_cursor": "c", "has_more": False},
    {"transfers": [], "next_cursor": None, "has_more": True},
    {"transfers": [GOOD_ROW, {**GOOD_ROW, "amount": 6}], "next_cursor": "c", "has_more": False},
])
def test_malformed_history_page_raises(body):
    """Does a page with a broken shape, or one id with two contents, raise RoomError?"""
    client = SandboxRoomConnector("http://room", TOKEN, session=_FakeSession(_FakeResponse(200, body)))
    with pytest.raises(RoomError):
        client.fetch_transfers(None)


def test_identical_repeats_in_one_page_are_dropped():
    """Does the connector drop exact repeats within one page?"""
    body = {"transfers": [GOOD_ROW, GOOD_ROW], "next_cursor": "c", "has_more": False}
    client = SandboxRoomConnector("http://room", TOKEN, session=_FakeSession(_FakeResponse(200, body)))
    assert len(client.fetch_transfers(None).transfers) == 1


def test_unreadable_success_answer_to_a_send_is_unknown():
    """If the room says 200 to a send but the body is garbage, is the outcome unknown (the money may have moved)?"""
    session = _FakeSession(_FakeResponse(200, requests.JSONDecodeError("x", "", 0)))
    client = SandboxRoomConnector("http://room", TOKEN, session=session)
    assert client.send_transfer("a", 5, "k") == SendResult("unknown", None, "malformed_response")


@pytest.mark.parametrize("to, amount, key", [("", 5, "k"), ("a", 0, "k"), ("a", 5.0, "k"), ("a", 5, "")])
def test_send_rejects_bad_arguments_before_calling(to, amount, key):
    """Are programming errors in a send refused before any request is made?"""
    client = SandboxRoomConnector("http://room", TOKEN, session=object())
    with pytest.raises(ValueError):
        client.send_transfer(to, amount, key)


def test_occurred_at_is_normalised_to_utc():
    """Is an offset timestamp from the room converted to UTC?"""
    row = {**GOOD_ROW, "occurred_at": "2024-05-01T13:00:00+03:00"}
    body = {"transfers": [row], "next_cursor": "c", "has_more": False}
    client = SandboxRoomConnector("http://room", TOKEN, session=_FakeSession(_FakeResponse(200, body)))
    (transfer,) = client.fetch_transfers(None).transfers
    assert transfer.occurred_at.tzinfo == UTC and transfer.occurred_at.hour == 10
