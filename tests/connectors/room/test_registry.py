"""Choosing the room connector from config, and the invariants of the connector's values."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.connectors.room import RoomTransfer, SandboxRoomConnector, SendResult, room_connector_from_config

SANDBOX = {"ROOM_CONNECTOR": "sandbox", "ROOM_API_URL": "http://127.0.0.1:5101/",
           "ROOM_API_TOKEN": "t", "ROOM_PLATFORM_ACCOUNT": "pokerpay@pokerok.example"}


def test_sandbox_from_config():
    """Does ROOM_CONNECTOR=sandbox build a SandboxRoomConnector from the ROOM_* settings?"""
    connector = room_connector_from_config(SANDBOX)
    assert isinstance(connector, SandboxRoomConnector) and connector.name == "sandbox"
    assert connector.base_url == "http://127.0.0.1:5101"
    assert connector.platform_account == "pokerpay@pokerok.example"


@pytest.mark.parametrize("kind", ["statement", "manual"])
def test_ops_fed_connectors_have_nothing_to_poll(kind):
    """Do the upload- and ops-fed connectors yield no pull connector?"""
    assert room_connector_from_config({"ROOM_CONNECTOR": kind}) is None


@pytest.mark.parametrize("config", [{"ROOM_CONNECTOR": "scraper"}, {**SANDBOX, "ROOM_API_TOKEN": ""}])
def test_bad_config_is_refused(config):
    """Is an unknown connector or a sandbox without its token refused at start-up?"""
    with pytest.raises(ValueError):
        room_connector_from_config(config)


def test_room_transfer_normalises_to_utc():
    """Are equal instants in different offsets equal RoomTransfers, stored in UTC?"""
    moscow = datetime(2024, 5, 1, 13, tzinfo=timezone(timedelta(hours=3)))
    utc = datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert RoomTransfer("a", "in", "x", 1, moscow) == RoomTransfer("a", "in", "x", 1, utc)
    assert RoomTransfer("a", "in", "x", 1, moscow).occurred_at.tzinfo == UTC


@pytest.mark.parametrize("changes", [
    {"amount": 0}, {"amount": -1}, {"amount": 1.5}, {"amount": True}, {"direction": "both"},
    {"counterparty": " "}, {"room_transfer_id": ""}, {"occurred_at": datetime(2024, 5, 1)},
])
def test_room_transfer_rejects_garbage(changes):
    """Does a RoomTransfer refuse values the ledger must never see?"""
    values = {"room_transfer_id": "a", "direction": "in", "counterparty": "x", "amount": 1,
              "occurred_at": datetime(2024, 5, 1, tzinfo=UTC), **changes}
    with pytest.raises(ValueError):
        RoomTransfer(**values)


def test_sent_result_needs_an_id():
    """Can a SendResult claim "sent" without the room's transfer id?"""
    with pytest.raises(ValueError):
        SendResult("sent")
