"""Every status rule, one machine per aggregate, in one place.

A transition is a compare-and-set: ``UPDATE … SET status = :to WHERE id = :id
AND status IN (:allowed_from)``.  When two workers race, exactly one update
matches; the loser sees ``False`` and does nothing else.  Services must change
a status only through :meth:`StateMachine.transition`.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa

from app.database import UTCDateTime, update_fast, utcnow
from app.extensions import db


class IllegalTransition(Exception):
    """A transition that the machine does not allow (a programming error)."""


@dataclass(frozen=True)
class StateMachine:
    name: str
    #: from-state → the states it may move to
    edges: dict[str, frozenset[str]]
    final: frozenset[str] = field(default_factory=frozenset)

    @property
    def states(self) -> frozenset[str]:
        """Every state the machine has: each source, each target and each final state."""
        targets = (t for dsts in self.edges.values() for t in dsts)
        return frozenset(self.edges) | frozenset(targets) | self.final

    def can(self, src: str, dst: str) -> bool:
        return dst in self.edges.get(src, frozenset())

    def sources_of(self, dst: str) -> list[str]:
        return sorted(src for src, targets in self.edges.items() if dst in targets)

    def transition(self, model, row_id: int, dst: str, *, expect: str | list[str] | None = None,
                   only_if: dict[str, object] | None = None, **values) -> bool:
        """Move row ``row_id`` to ``dst`` if it is in an allowed source state (or in ``expect``).

        ``only_if``: columns that must still hold these (non-NULL) values, compared
        in the same UPDATE (e.g. that the attempt being finished is still the row's
        current one), so no SELECT … FOR UPDATE is needed before it.
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
        only_if = only_if or {}
        if any(v is None for v in only_if.values()):
            raise ValueError("only_if compares with '='; NULL never matches")
        table = model.__table__
        if "updated_at" in table.c and "updated_at" not in values:
            values["updated_at"] = utcnow()
        values["status"] = dst
        params = {"row_id": row_id, **{f"if_{k}": v for k, v in only_if.items()},
                  **{f"set_{k}": v for k, v in values.items() if not isinstance(v, sa.ClauseElement)}}
        # On the session's connection: a Core UPDATE needs none of the ORM's execution steps (autoflush and the like).
        connection = db.session.connection()
        if any(isinstance(v, sa.ClauseElement) for v in values.values()):
            # an SQL expression in it: a statement made for this call
            changed = connection.execute(_statement(table, allowed, only_if, values), params).rowcount == 1
        else:
            # Made once per shape (building an UPDATE cost more Python than running it), and where every
            # column takes its value as it is, sent on the driver's cursor.
            shape = (table.name, tuple(allowed), tuple(only_if), tuple(values))
            cached = _STATEMENTS.get(shape)
            if cached is None:
                cached = _STATEMENTS[shape] = _Cached(_statement(table, allowed, only_if, values),
                                                      all(_plain(table.c[k].type) for k in (*only_if, *values)))
            if cached.plain:
                _refuse_naive(params.values())
                changed = update_fast(connection, cached.statement, params) == 1
            else:
                changed = connection.execute(cached.statement, params).rowcount == 1
        if changed:
            # Keep ORM objects already loaded in this session in step with the row.
            instance = db.session.identity_map.get((model, (row_id,), None))
            if instance is not None:
                db.session.expire(instance)
        return changed


    def transition_many(self, model, dst: str, rows: list[dict], *, expect: str, only_if: tuple[str, ...] = ()
                        ) -> set[int]:
        """:meth:`transition` for many rows at once, each with its own values; returns the ids it moved.

        Every row dict holds ``id``, the ``only_if`` columns and the columns to
        set (the same keys in every row).  On PostgreSQL one ``UPDATE … FROM
        unnest(…)`` with the same compare-and-set per row, so a row another
        worker moved meanwhile is simply not among the ids returned; elsewhere
        one :meth:`transition` per row.  Plain columns only (integers, strings,
        booleans, UTC datetimes).
        """
        if not rows:
            return set()
        if not self.can(expect, dst):
            raise IllegalTransition(f"{self.name}: {expect} → {dst} is not allowed")
        if db.session.get_bind().dialect.name != "postgresql":
            moved = set()
            for row in rows:
                values = {k: v for k, v in row.items() if k != "id" and k not in only_if}
                if self.transition(model, row["id"], dst, expect=expect,
                                   only_if={k: row[k] for k in only_if}, **values):
                    moved.add(row["id"])
            return moved
        table = model.__table__
        names = tuple(rows[0])
        if any(tuple(row) != names for row in rows) or any(row[k] is None for row in rows for k in only_if):
            raise ValueError("every row names the same columns; only_if compares with '=', NULL never matches")
        if not all(k in table.c and _plain(table.c[k].type) for k in names):
            raise ValueError("transition_many takes plain columns only")
        params = {k: [row[k] for row in rows] for k in names}
        _refuse_naive(v for values in params.values() for v in values)
        shape = (table.name, expect, dst, names, only_if)
        statement = _MANY.get(shape)
        if statement is None:
            statement = _MANY[shape] = _unnest_statement(table, names, only_if)
        now = utcnow() if "updated_at" in table.c and "updated_at" not in names else None
        moved = {row[0] for row in db.session.connection().execute(
            statement, {**params, "from_state": expect, "to_state": dst, "now": now})}
        for row_id in moved:
            instance = db.session.identity_map.get((model, (row_id,), None))
            if instance is not None:
                db.session.expire(instance)
        return moved


class _Cached(NamedTuple):
    statement: sa.Update
    #: every bound column's type passes values through unchanged, so the driver may bind them itself
    plain: bool


#: (table, allowed sources, only_if columns, set columns) → its UPDATE; a few dozen in all
_STATEMENTS: dict[tuple, _Cached] = {}


def _plain(column_type) -> bool:
    """Integers, strings, booleans and UTC datetimes: what psycopg binds as SQLAlchemy would (not an Enum,
    not JSON)."""
    return isinstance(column_type, sa.Integer | sa.String | sa.Boolean | UTCDateTime) and not isinstance(
        column_type, sa.Enum)


def _refuse_naive(values: Iterable) -> None:
    """What UTCDateTime does on the plain path: a datetime without a zone is a bug, never a guess."""
    for value in values:
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("naive datetime given; use app.database.utcnow()")


def _statement(table: sa.Table, allowed, only_if, values: dict) -> sa.Update:
    """``UPDATE table SET … WHERE id = :row_id AND status IN allowed AND col = :if_col …``.

    ``values`` maps a column to what it is set to: SQL expressions are used as they are, the
    rest become ``:set_col`` parameters.
    """
    # the sources as one parameter each, not an expanding IN: the SQL is fixed, so the driver's cursor can take it
    sources = [sa.bindparam(f"from_{i}", state, type_=table.c.status.type) for i, state in enumerate(allowed)]
    conditions = [table.c.id == sa.bindparam("row_id", type_=table.c.id.type), table.c.status.in_(sources)]
    conditions += [table.c[k] == sa.bindparam(f"if_{k}", type_=table.c[k].type) for k in only_if]
    return sa.update(table).where(*conditions).values({
        k: v if isinstance(v, sa.ClauseElement) else sa.bindparam(f"set_{k}", type_=table.c[k].type)
        for k, v in values.items()
    })


#: (table, source, target, columns, only_if columns) → its UPDATE … FROM unnest
_MANY: dict[tuple, sa.TextClause] = {}


def _unnest_statement(table: sa.Table, names: tuple[str, ...], only_if: tuple[str, ...]) -> sa.TextClause:
    """``UPDATE t SET status = :to_state, col = v.col … FROM unnest(CAST(:col AS type[]) …) AS v(…) WHERE t.id = v.id
    AND t.status = :from_state AND t.col = v.col (only_if) RETURNING t.id`` (PostgreSQL)."""
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()
    quote = dialect.identifier_preparer.quote
    name = quote(table.name)

    def element(column) -> str:
        # strings as text: a CAST to varchar(n) would cut a longer value silently; the assignment checks the length
        return "text" if isinstance(column.type, sa.String) else column.type.compile(dialect=dialect)

    arrays = ", ".join(f"CAST(:{k} AS {element(table.c[k])}[])" for k in names)
    sets = [f"{quote(k)} = v.{quote(k)}" for k in names if k not in ("id", *only_if)] + ["status = :to_state"]
    if "updated_at" in table.c and "updated_at" not in names:
        sets.append("updated_at = :now")
    conditions = [f"{name}.id = v.id", f"{name}.status = :from_state"]
    conditions += [f"{name}.{quote(k)} = v.{quote(k)}" for k in only_if]
    columns = ", ".join(quote(k) for k in names)
    # Names come from the table's own columns (checked by the caller), values are bound: nothing is spliced in.
    return sa.text(f"UPDATE {name} SET {', '.join(sets)} FROM unnest({arrays}) AS v({columns})"  # noqa: S608
                   f" WHERE {' AND '.join(conditions)} RETURNING {name}.id")


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

#: money a seller received beyond an invoice, until ops record how it was made good (at most once)
PAYMENT_EXCEPTION = _machine(
    "payment exception",
    {"open": {"resolved"}},
    {"resolved"},
)

#: a manual ledger adjustment waiting for the second person (four eyes)
ADJUSTMENT = _machine(
    "ledger adjustment",
    {"requested": {"approved", "rejected"}},
    {"approved", "rejected"},
)

#: the seller's part of an open dispute (the outcome itself is the deposit's ``disputed → settled | rejected``):
#: they answer before the deadline, or the sweeper escalates the case to ops (once: a compare-and-set)
DISPUTE_CASE = _machine(
    "dispute case",
    {"awaiting_seller": {"answered", "escalated"}},
    {"answered", "escalated"},
)
