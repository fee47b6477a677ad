"""The poker room: read the platform account's transfers, send transfers, read the balance.

See :mod:`.base` for the interface and ``docs/room-contract.md`` for the rules.
"""
from .base import (
    HistoryPage,
    RoomConnector,
    RoomError,
    RoomTransfer,
    RoomUnavailable,
    SendResult,
    account_key,
)
from .registry import FED_BY_OPS, room_connector_from_config
from .sandbox import SandboxRoomConnector
from .statement import StatementError, parse_amount, parse_statement

__all__ = [
    "FED_BY_OPS",
    "HistoryPage",
    "RoomConnector",
    "RoomError",
    "RoomTransfer",
    "RoomUnavailable",
    "SandboxRoomConnector",
    "SendResult",
    "account_key",
    "StatementError",
    "parse_amount",
    "parse_statement",
    "room_connector_from_config",
]
