"""Choose the room connector from config (``ROOM_CONNECTOR``).

Only "sandbox" has a pull API, so only it yields a :class:`RoomConnector`.
"statement" and "manual" are fed from the database -- ops upload statements
(:func:`~app.connectors.room.statement.parse_statement`) and enter or confirm
transfers by hand -- so for them this returns None: there is nothing to poll,
and outgoing transfers wait for an operator's confirmation.
"""
from __future__ import annotations

from collections.abc import Mapping

from .base import RoomConnector
from .sandbox import SandboxRoomConnector

#: connectors fed by uploads and ops, with no API to poll or send through
FED_BY_OPS = frozenset({"statement", "manual"})


def room_connector_from_config(config: Mapping) -> RoomConnector | None:
    """The configured pull connector, or None for a connector that ops feed by hand."""
    kind = config.get("ROOM_CONNECTOR", "sandbox")
    if kind == "sandbox":
        missing = [name for name in ("ROOM_API_URL", "ROOM_API_TOKEN") if not config.get(name)]
        if missing:
            raise ValueError(f"ROOM_CONNECTOR=sandbox needs {', '.join(missing)}")
        return SandboxRoomConnector(
            config["ROOM_API_URL"],
            config["ROOM_API_TOKEN"],
            platform_account=config.get("ROOM_PLATFORM_ACCOUNT"),
            timeout=(float(config.get("ROOM_CONNECT_TIMEOUT", 3.05)), float(config.get("ROOM_READ_TIMEOUT", 10))),
            retries=int(config.get("ROOM_READ_RETRIES", 2)),
        )
    if kind in FED_BY_OPS:
        return None
    raise ValueError(f"unknown ROOM_CONNECTOR {kind!r}; expected sandbox, statement or manual")
