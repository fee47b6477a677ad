"""Every status rule, one machine per aggregate, in one place.

A transition is a compare-and-set: ``UPDATE … SET status = :to WHERE id = :id
AND status IN (:allowed_from)``.  When two workers race, exactly one update
matches; the loser sees ``False`` and does nothing else.  Services must change
a status only through :meth:`StateMachine.transition`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from app.database import utcnow
from app.extensions import db


class IllegalTransition(Exception):
    """A transition that the machine does not allow (a programming error)."""


@dataclass(frozen=True)
class StateMachine:
    name: str
    #: from-state → the states it may move to
    edges: dict[str, frozenset[str]]
    final: frozenset[str] = field(default_factory=frozenset)

    def can(self, src: str, dst: str) -> bool:
        return dst in self.edges.get(src, frozenset())

    def sources_of(self, dst: str) -> list[str]:
        return sorted(src for src, targets in self.edges.items() if dst in targets)

    def transition(self, model, row_id: int, dst: str, *, expect: str | list[str] | None = None, **values) -> bool:
        """Move row ``row_id`` to ``dst`` if it is in an allowed source state (or in ``expect``).

        Returns True when this call made the change, False when the row was not in
        such a state (another worker won, or it already happened).
        """
        allowed = self.sources_of(dst)
        if expect is not None:
            wanted = [expect] if isinstance(expect, str) else list(expect)
            illegal = [s for s in wanted if s not in allowed]
            if illegal:
                raise IllegalTransition(f"{self.name}: {illegal} → {dst} is not allowed")
            allowed = wanted
        if not allowed:
            raise IllegalTransition(f"{self.name}: nothing may move to {dst}")
        table = model.__table__
        if "updated_at" in table.c and "updated_at" not in values:
            values["updated_at"] = utcnow()
        result = db.session.execute(
            sa.update(table).where(table.c.id == row_id, table.c.status.in_(allowed)).values(status=dst, **values)
        )
        changed = result.rowcount == 1
        if changed:
            # Keep ORM objects already loaded in this session in step with the row.
            instance = db.session.identity_map.get((model, (row_id,), None))
            if instance is not None:
                db.session.expire(instance)
        return changed


def _machine(name: str, edges: dict[str, set[str]], final: set[str]) -> StateMachine:
    return StateMachine(name, {k: frozenset(v) for k, v in edges.items()}, frozenset(final))


#: a transfer the room reported coming in to the platform's account
INCOMING_ROOM_TRANSFER = _machine(
    "incoming room transfer",
    {"new": {"credited", "unmatched"}, "unmatched": {"credited", "returned"}},
    {"credited", "returned"},
)

#: dollars leaving the platform's room account for a user's room account
CASH_OUT = _machine(
    "cash-out",
    {
        # requested → sent / failed directly: ops confirm a transfer they made by hand (manual connector)
        "requested": {"sending", "sent", "failed"},
        "sending": {"sent", "failed", "unknown"},
        "unknown": {"sent", "failed", "sending"},
    },
    {"sent", "failed"},
)

#: a seller's withdrawal request in the queue
WITHDRAWAL = _machine(
    "withdrawal request",
    {
        "active": {"paused", "completed", "cancelled"},
        "paused": {"active", "completed", "cancelled"},
    },
    {"completed", "cancelled"},
)

#: a buyer's deposit and its invoice
DEPOSIT = _machine(
    "deposit",
    {
        "matching": {"awaiting_payment", "failed"},
        "awaiting_payment": {"paid", "expired", "cancelled", "disputed"},
        "expired": {"paid", "disputed"},
        # the buyer cancelled: a payment that still arrives is treated like one after expiry
        "cancelled": {"paid", "disputed"},
        "paid": {"settled", "disputed"},
        "disputed": {"settled", "rejected"},
    },
    {"settled", "failed", "rejected"},
)

#: a manual ledger adjustment waiting for the second person (four eyes)
ADJUSTMENT = _machine(
    "ledger adjustment",
    {"requested": {"approved", "rejected"}},
    {"approved", "rejected"},
)
