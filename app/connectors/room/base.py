"""The poker-room connector interface and the values it trades in.

The platform knows the room only through these types (see
``docs/room-contract.md``).  Every source of room transfers -- the sandbox
HTTP API, an uploaded statement, an operator's hand entry -- is mapped onto
:class:`RoomTransfer`, which checks its own invariants so that no connector can
hand garbage to the ledger.

Sending is the dangerous direction: a timeout or a 5xx does not say whether the
dollars moved.  :meth:`RoomConnector.send_transfer` therefore reports an
``"unknown"`` outcome instead of raising, and the caller reconciles with
:meth:`RoomConnector.find_sent` and, if nothing was sent, retries with the
*same* idempotency key -- never blind with a new one.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

Direction = Literal["in", "out"]
SendStatus = Literal["sent", "failed", "unknown"]

#: one transfer larger than this (USD 10 million) is treated as corrupt data
MAX_TRANSFER_CENTS = 1_000_000_000


def account_key(identifier: str) -> str:
    """What two spellings of a room account must share to be the same account (docs/room-contract.md).

    An e-mail is compared ignoring letter case; a nickname or player id only
    exactly, because the room may keep ``Name`` and ``name`` as two accounts.
    Only surrounding blanks are dropped.
    """
    spelling = (identifier or "").strip()
    return spelling.lower() if "@" in spelling else spelling


class RoomError(Exception):
    """The room answered with something the platform cannot use (a bug or bad data)."""


class RoomUnavailable(RoomError):
    """The room could not be reached or failed (network error, timeout, 5xx).

    For a read this only means "try later"; for a send the outcome is unknown.
    """


@dataclass(frozen=True)
class RoomTransfer:
    """One transfer on the platform's room account, as the room records it."""

    #: unique in the room; the platform stores each one once
    room_transfer_id: str
    #: "in" = to the platform's account, "out" = from it
    direction: Direction
    #: the other account (email, nickname or player id as the room shows it)
    counterparty: str
    #: USD cents, > 0
    amount: int
    #: tz-aware, normalised to UTC
    occurred_at: datetime
    note: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.room_transfer_id, str) or not self.room_transfer_id.strip():
            raise ValueError("room_transfer_id must be a non-empty string")
        if self.direction not in ("in", "out"):
            raise ValueError(f"direction must be 'in' or 'out', not {self.direction!r}")
        if not isinstance(self.counterparty, str) or not self.counterparty.strip():
            raise ValueError("counterparty must be a non-empty string")
        if type(self.amount) is not int or not 0 < self.amount <= MAX_TRANSFER_CENTS:
            raise ValueError(f"amount must be an int number of cents in 1..{MAX_TRANSFER_CENTS}")
        if not isinstance(self.occurred_at, datetime) or self.occurred_at.utcoffset() is None:
            raise ValueError("occurred_at must be a timezone-aware datetime")
        if self.note is not None and not isinstance(self.note, str):
            raise ValueError("note must be a string or None")
        # Frozen: normalise through object.__setattr__ so equal instants compare equal.
        object.__setattr__(self, "occurred_at", self.occurred_at.astimezone(UTC))


@dataclass(frozen=True)
class HistoryPage:
    """One page of the platform account's history, oldest first (as far as the room keeps order)."""

    transfers: list[RoomTransfer]
    #: store this only after the page is committed; None when the source has no cursor
    next_cursor: str | None
    #: True when another page is already available after ``next_cursor``
    has_more: bool


@dataclass(frozen=True)
class SendResult:
    """What is known about an outgoing transfer after asking the room to make it."""

    #: "sent" = the room made it; "failed" = the room definitely did not; "unknown" = reconcile
    status: SendStatus
    #: the room's id when sent
    room_transfer_id: str | None = None
    #: machine-readable code for "failed" (e.g. "insufficient_funds") or a hint for "unknown"
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.status not in ("sent", "failed", "unknown"):
            raise ValueError(f"unknown send status {self.status!r}")
        if self.status == "sent" and not self.room_transfer_id:
            raise ValueError("a sent transfer has a room_transfer_id")


class RoomConnector(ABC):
    """How the platform talks to the poker room about its own account."""

    #: config name of the implementation ("sandbox", ...)
    name: str

    @abstractmethod
    def fetch_transfers(self, cursor: str | None, limit: int = 500) -> HistoryPage:
        """Transfers after ``cursor`` (None = from the start); may repeat rows, dedupe by id.

        Raises :class:`RoomUnavailable` when the room cannot be read now.
        """

    @abstractmethod
    def send_transfer(self, to: str, amount: int, key: str, note: str | None = None) -> SendResult:
        """Send ``amount`` cents from the platform's account, at most once per ``key``.

        Never raises for a network problem: that is ``SendResult("unknown")``.
        """

    @abstractmethod
    def find_sent(self, key: str) -> SendResult | None:
        """The outgoing transfer made with ``key``, or None if the room has none (yet).

        None is only "not so far": a request that hung may still land, so a retry
        must reuse ``key``.
        """

    @abstractmethod
    def balance(self) -> int:
        """The platform account's balance in the room, in cents."""
