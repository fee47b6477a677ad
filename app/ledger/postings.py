"""The posting API: the only code that changes ledger balances.

Every function flushes and never commits; the caller's request or job commits
the whole business event (several transfers) at once.  Every call carries an
idempotency ``key``.  The steps of one call, in this order:

1. lock the touched account rows in ascending id order (``SELECT … FOR NO KEY
   UPDATE`` on PostgreSQL: the ``FOR UPDATE`` lock that does not block foreign
   key checks; on SQLite the whole transaction already holds the write lock);
2. settle idempotency *after* the lock, so a concurrent duplicate waits and
   then sees the first one committed;
3. check assets, limits and the pending transfer's state in Python and raise a
   :class:`~app.ledger.errors.LedgerError` before anything is written;
4. insert the transfer and update the cached sums with Core statements.

For plain transfers and holds (the hot path) step 2 is folded into the insert:
``INSERT … ON CONFLICT (key) DO NOTHING RETURNING``; when nothing is inserted
the existing row is compared with the request.  Only when the limit check
fails is the key looked up first, so that a retry of a transfer that emptied
the account still returns the first result instead of ``InsufficientFunds``.
On PostgreSQL the insert and the update of the sums are one statement (a
data-modifying WITH), so a transfer costs BEGIN, the lock, that statement and
the caller's COMMIT: four round trips, against pgbench's seven.  On SQLite the
update is a statement of its own.  On PostgreSQL the lock and the insert are
sent on the connection's driver cursor (:func:`app.database.execute_fast`: SQLAlchemy's
execution path was a fifth of a posting's Python time), with SQLAlchemy's
cursor events and error handling kept.  The returned object is built from
the values sent (no SELECT) and registered in the session like a flushed
insert.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import attributes
from sqlalchemy.orm.util import identity_key

from app.database import execute_fast, utcnow
from app.extensions import db
from app.ledger.accounts import account_id
from app.ledger.errors import (
    AccountNotFound,
    AlreadyResolved,
    AssetMismatch,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    PendingExpired,
    PendingNotFound,
    SameAccount,
)
from app.ledger.models import KIND_RULES, AccountKind, LedgerAccount, LedgerTransfer, Phase, Status

#: the largest single amount, in minor units (10^15 cents = 10 trillion dollars); far below BIGINT
MAX_AMOUNT = 10**15
KEY_MAX_LENGTH = 128

_accounts = LedgerAccount.__table__
_transfers = LedgerTransfer.__table__
_SUM_COLUMNS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending", "version")


@dataclass(frozen=True)
class Balance:
    """An account's balance in its normal direction (credit − debit for wallets, debit − credit for assets)."""

    #: posted balance
    posted: int
    #: open holds debiting the account
    pending_debits: int
    #: open holds crediting the account
    pending_credits: int
    #: posted balance less outgoing holds: what can still be spent
    available: int


# --- small checks -------------------------------------------------------------------------------

def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key or len(key) > KEY_MAX_LENGTH:
        raise ValueError(f"an idempotency key is required (a string of 1 to {KEY_MAX_LENGTH} characters)")


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        raise InvalidAmount(amount=amount)


# --- locking ------------------------------------------------------------------------------------

#: per locked account: its asset, and how much more it may be debited / credited (NULL when unlimited)
_LOCK_COLUMNS = (
    _accounts.c.id,
    _accounts.c.asset,
    sa.case((_accounts.c.debits_must_not_exceed_credits,
             _accounts.c.credits_posted - _accounts.c.debits_posted - _accounts.c.debits_pending),
            else_=None).label("debit_room"),
    sa.case((_accounts.c.credits_must_not_exceed_debits,
             _accounts.c.debits_posted - _accounts.c.credits_posted - _accounts.c.credits_pending),
            else_=None).label("credit_room"),
)
#: the hot path: exactly two accounts
_LOCK_PAIR = (
    sa.select(*_LOCK_COLUMNS)
    .where(_accounts.c.id.in_([sa.bindparam("first"), sa.bindparam("second")]))
    .order_by(_accounts.c.id)
    .with_for_update(key_share=True)
)
_LOCK_MANY = (
    sa.select(*_LOCK_COLUMNS)
    .where(_accounts.c.id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(_accounts.c.id)
    .with_for_update(key_share=True)
)


class _Room(NamedTuple):
    """A locked account: its asset, and how much more it may be debited / credited (None: no limit)."""

    id: int
    asset: str
    debit_room: int | None
    credit_room: int | None


def _lock_ids(conn: sa.Connection, ids: Iterable[int]) -> dict[int, _Room]:
    """Lock the accounts (ascending id: one global order, so no deadlock cycle) and read their room."""
    wanted = sorted(set(ids))
    if len(wanted) == 2:
        result = execute_fast(conn, _LOCK_PAIR, {"first": wanted[0], "second": wanted[1]})
    else:
        result = conn.execute(_LOCK_MANY, {"ids": wanted}).all()
    rows = {row[0]: _Room(*row) for row in result}
    if len(rows) != len(wanted):
        raise AccountNotFound(account_ids=[i for i in wanted if i not in rows])
    return rows


def lock(*accounts: LedgerAccount | int) -> None:
    """Lock every account of a business event up front, in id order.

    One posting call locks its own two accounts in order, but an event of
    several transfers touches more; locking them all first keeps the global
    order, so two events can never wait on each other in a cycle (PostgreSQL
    would abort one with a deadlock error).  Later calls re-take locks this
    transaction already holds at no cost.
    """
    _lock_ids(db.session.connection(), [account_id(a) for a in accounts])


def _check_limits(debit: _Room, credit: _Room, amount: int) -> None:
    """Refuse what the limit flags forbid (pending debits count), before the CHECK constraints would."""
    if debit.debit_room is not None and amount > debit.debit_room:
        raise InsufficientFunds(account_id=debit.id, requested=amount, available=debit.debit_room)
    if credit.credit_room is not None and amount > credit.credit_room:
        raise InsufficientFunds(account_id=credit.id, requested=amount, available=credit.credit_room)


# --- writing ------------------------------------------------------------------------------------
#
# The hot path is built of Core statements made once, executed on the session's
# connection, and a persistent object made from the values sent plus the new id:
# the ORM's own INSERT … RETURNING costs several times more Python per call.

_APPLY = (
    sa.update(_accounts)
    .where(_accounts.c.id.in_([sa.bindparam("a_debit"), sa.bindparam("a_credit")]))
    .values(
        debits_posted=_accounts.c.debits_posted
        + sa.case((_accounts.c.id == sa.bindparam("a_debit"), sa.bindparam("posted")), else_=0),
        credits_posted=_accounts.c.credits_posted
        + sa.case((_accounts.c.id == sa.bindparam("a_credit"), sa.bindparam("posted")), else_=0),
        debits_pending=_accounts.c.debits_pending
        + sa.case((_accounts.c.id == sa.bindparam("a_debit"), sa.bindparam("pending")), else_=0),
        credits_pending=_accounts.c.credits_pending
        + sa.case((_accounts.c.id == sa.bindparam("a_credit"), sa.bindparam("pending")), else_=0),
        version=_accounts.c.version + 1,
    )
)
_TRANSFER_COLUMNS = [c for c in _transfers.c if c.name != "id"]
_STATEMENTS: dict[str, sa.Executable] = {}


def _insert_statement(dialect: str) -> sa.Executable:
    """``INSERT … ON CONFLICT (key) DO NOTHING RETURNING id``; on PostgreSQL with the sums' update folded in.

    PostgreSQL: ``WITH ins AS (INSERT … RETURNING id), upd AS (UPDATE
    ledger_account … WHERE id IN (:debit, :credit) AND EXISTS (SELECT 1 FROM
    ins)) SELECT id FROM ins`` — one round trip; when the key exists nothing
    is inserted, so nothing is updated.  The rows it updates are already
    locked by this transaction (and this statement's snapshot is taken after
    the lock), so it sees and changes their latest version.  SQLite has no
    DML in WITH: the update is a second statement there.
    """
    stmt = _STATEMENTS.get(dialect)
    if stmt is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = (
            insert(_transfers)
            .values({c.name: sa.bindparam(f"v_{c.name}", type_=c.type) for c in _TRANSFER_COLUMNS})
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(_transfers.c.id)
        )
        if dialect == "postgresql":
            ins = stmt.cte("ins")
            upd = _APPLY.where(sa.exists(sa.select(sa.literal(1)).select_from(ins))).cte("upd")
            stmt = sa.select(ins.c.id).add_cte(upd)
        _STATEMENTS[dialect] = stmt
    return stmt


def _insert_and_apply(conn: sa.Connection, values: dict, *, posted: int = 0, pending: int = 0) -> LedgerTransfer | None:
    """Insert a transfer and add it to both (locked) accounts' sums; None, and no change, if its key exists."""
    values["created_at"] = utcnow()
    debit_id, credit_id = values["debit_account_id"], values["credit_account_id"]
    params = {f"v_{name}": value for name, value in values.items()}
    params.update(a_debit=debit_id, a_credit=credit_id, posted=posted, pending=pending)
    dialect = conn.dialect.name
    inserted = execute_fast(conn, _insert_statement(dialect), params)
    new_id = inserted[0][0] if inserted else None
    if new_id is None:
        return None
    if dialect != "postgresql":
        conn.execute(_APPLY, params)
    _expire_sums(debit_id, credit_id)
    return _persistent(new_id, values)


def _apply(conn: sa.Connection, debit_id: int, credit_id: int, *, posted: int = 0, pending: int = 0) -> None:
    """Add ``posted`` to both posted sums and ``pending`` (may be negative) to both pending sums."""
    conn.execute(_APPLY, {"a_debit": debit_id, "a_credit": credit_id, "posted": posted, "pending": pending})
    _expire_sums(debit_id, credit_id)


def _expire_sums(*account_ids: int) -> None:
    """Account objects the caller holds would show stale sums: reload them on next access."""
    session = db.session()
    for i in account_ids:
        obj = session.identity_map.get(identity_key(LedgerAccount, i))
        if obj is not None:
            session.expire(obj, _SUM_COLUMNS)


_new_transfer = LedgerTransfer.__mapper__.class_manager.new_instance


def _persistent(new_id: int, values: dict) -> LedgerTransfer:
    """The session's object for a row just inserted, built from what was sent (no SELECT).

    The state is filled directly, as the ORM does when it loads a row (a fifth
    of the constructor's cost), then registered the way a flush registers the
    rows it inserted: persistent, and new in this transaction, so a rollback
    expunges it (SQLite may hand the same id to the next insert).
    """
    session = db.session()
    obj = _new_transfer()
    state = sa.inspect(obj)
    state.dict.update(values)
    state.dict["id"] = new_id
    session.add(obj)
    session._register_persistent({state})  # noqa: SLF001 - SQLAlchemy's own post-INSERT step (pinned 2.1)
    return obj


def _replay(key: str, content: dict) -> LedgerTransfer | None:
    """The transfer already made with ``key`` if it matches ``content``; None if the key is unused."""
    existing = db.session.scalar(sa.select(LedgerTransfer).where(LedgerTransfer.key == key))
    if existing is None:
        return None
    return _same_or_conflict(existing, key, content)


def _same_or_conflict(existing: LedgerTransfer, key: str, content: dict) -> LedgerTransfer:
    differing = sorted(name for name, value in content.items() if getattr(existing, name) != value)
    if differing:
        raise IdempotencyConflict(key=key, fields=differing, transfer_id=existing.id)
    return existing


def _write(key: str, phase: Phase, debit, credit, amount: int, kind: str, *,
           timeout_at: datetime | None, memo: str | None, event: str | None) -> LedgerTransfer:
    _check_key(key)
    _check_amount(amount)
    debit_id, credit_id = account_id(debit), account_id(credit)
    if debit_id == credit_id:
        raise SameAccount(account_id=debit_id)
    content = {"phase": phase.value, "debit_account_id": debit_id, "credit_account_id": credit_id,
               "amount": amount, "kind": kind}
    conn = db.session.connection()
    rows = _lock_ids(conn, (debit_id, credit_id))
    d, c = rows[debit_id], rows[credit_id]
    if d.asset != c.asset:
        raise AssetMismatch(debit_asset=d.asset, credit_asset=c.asset)
    try:
        _check_limits(d, c, amount)
    except InsufficientFunds:
        # A retry of the transfer that used the room up is still answered with that transfer.
        existing = _replay(key, content)
        if existing is not None:
            return existing
        raise
    values = {**content, "key": key, "asset": d.asset, "pending_id": None, "timeout_at": timeout_at,
              "memo": memo, "event": event,
              "status": Status.POSTED.value if phase is Phase.SINGLE else Status.PENDING.value}
    if phase is Phase.SINGLE:
        row = _insert_and_apply(conn, values, posted=amount)
    else:
        row = _insert_and_apply(conn, values, pending=amount)
    return row if row is not None else _replay(key, content)


def transfer(key: str, debit: LedgerAccount | int, credit: LedgerAccount | int, amount: int, kind: str,
             memo: str | None = None, event: str | None = None) -> LedgerTransfer:
    """Move ``amount`` from ``debit`` to ``credit`` now (a posted transfer)."""
    return _write(key, Phase.SINGLE, debit, credit, amount, kind, timeout_at=None, memo=memo, event=event)


def reserve(key: str, debit: LedgerAccount | int, credit: LedgerAccount | int, amount: int, kind: str,
            timeout_at: datetime | None = None, memo: str | None = None, event: str | None = None) -> LedgerTransfer:
    """Hold ``amount`` (a pending transfer) until :func:`post_pending` or :func:`void_pending`.

    The hold counts against the debit account's limit at once.  After
    ``timeout_at`` it can no longer be posted, and the sweeper voids it.
    """
    if timeout_at is not None and timeout_at.tzinfo is None:
        raise ValueError("timeout_at must be timezone-aware (use app.database.utcnow())")
    return _write(key, Phase.PENDING, debit, credit, amount, kind, timeout_at=timeout_at, memo=memo, event=event)


# --- many transfers or holds at once --------------------------------------------------------------

@dataclass(frozen=True)
class Posting:
    """One posted transfer of a batch (see :func:`transfer_many`)."""

    key: str
    debit: int
    credit: int
    amount: int
    kind: str
    memo: str | None = None
    event: str | None = None


@dataclass(frozen=True)
class Hold:
    """One hold (pending transfer) of a batch (see :func:`reserve_many`); ``timeout_at`` as in :func:`reserve`."""

    key: str
    debit: int
    credit: int
    amount: int
    kind: str
    timeout_at: datetime | None = None
    memo: str | None = None
    event: str | None = None


_APPLY_ONE = (
    sa.update(_accounts)
    .where(_accounts.c.id == sa.bindparam("a_id"))
    .values(debits_posted=_accounts.c.debits_posted + sa.bindparam("a_debits"),
            credits_posted=_accounts.c.credits_posted + sa.bindparam("a_credits"),
            debits_pending=_accounts.c.debits_pending + sa.bindparam("a_debits_pending"),
            credits_pending=_accounts.c.credits_pending + sa.bindparam("a_credits_pending"),
            version=_accounts.c.version + 1)
)
_INSERT_MANY: dict[str, sa.Executable] = {}
# PostgreSQL: a whole batch as one statement over arrays (unnest), so that the driver sends one array per
# column instead of binding every value of every row in Python.
_UNNEST_COLUMNS = ("key", "phase", "debit_account_id", "credit_account_id", "amount", "kind", "asset", "memo",
                   "event", "status", "timeout_at")
_INSERT_UNNEST = sa.text(
    "INSERT INTO ledger_transfer (key, phase, debit_account_id, credit_account_id, amount, kind, asset, memo, event,"
    " status, timeout_at, created_at)"
    " SELECT *, :created_at FROM unnest(CAST(:key AS text[]), CAST(:phase AS text[]),"
    " CAST(:debit_account_id AS bigint[]), CAST(:credit_account_id AS bigint[]), CAST(:amount AS bigint[]),"
    " CAST(:kind AS text[]), CAST(:asset AS text[]), CAST(:memo AS text[]), CAST(:event AS text[]),"
    " CAST(:status AS text[]), CAST(:timeout_at AS timestamptz[]))"
    " ON CONFLICT (key) DO NOTHING RETURNING id, key"
)
_APPLY_COLUMNS = ("a_id", "a_debits", "a_credits", "a_debits_pending", "a_credits_pending")
_APPLY_UNNEST = sa.text(
    "UPDATE ledger_account SET debits_posted = debits_posted + v.d, credits_posted = credits_posted + v.c,"
    " debits_pending = debits_pending + v.dp, credits_pending = credits_pending + v.cp, version = version + 1"
    " FROM unnest(CAST(:a_id AS bigint[]), CAST(:a_debits AS bigint[]), CAST(:a_credits AS bigint[]),"
    " CAST(:a_debits_pending AS bigint[]), CAST(:a_credits_pending AS bigint[])) AS v(id, d, c, dp, cp)"
    " WHERE ledger_account.id = v.id"
)


def _columns(rows: list[dict], names: tuple[str, ...]) -> dict[str, list]:
    """Rows as one list per column (the arrays of an unnest statement); created_at from the first row."""
    params = {name: [r[name] for r in rows] for name in names}
    if "created_at" in rows[0]:
        params["created_at"] = rows[0]["created_at"]
    return params


def _insert_many_statement(dialect: str) -> sa.Executable:
    stmt = _INSERT_MANY.get(dialect)
    if stmt is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = _INSERT_MANY[dialect] = (
            insert(_transfers).on_conflict_do_nothing(index_elements=["key"])
            .returning(_transfers.c.id, _transfers.c.key)
        )
    return stmt


def _simulate(items: list, rows: dict[int, _Room], skip: set[str], phase: Phase) -> InsufficientFunds | None:
    """Apply the items in order to the locked accounts' room; the refusal of the first that overdraws, or None.

    A posted transfer also gives room back (credit a wallet, then charge it); a hold only takes room:
    what is pending never counts as available.
    """
    debit_room = {i: r.debit_room for i, r in rows.items()}
    credit_room = {i: r.credit_room for i, r in rows.items()}
    for p in items:
        if p.key in skip:
            continue
        if debit_room[p.debit] is not None and p.amount > debit_room[p.debit]:
            return InsufficientFunds(account_id=p.debit, requested=p.amount, available=debit_room[p.debit])
        if credit_room[p.credit] is not None and p.amount > credit_room[p.credit]:
            return InsufficientFunds(account_id=p.credit, requested=p.amount, available=credit_room[p.credit])
        changes = ((debit_room, p.debit, -1), (credit_room, p.credit, -1))
        if phase is Phase.SINGLE:
            changes += ((debit_room, p.credit, 1), (credit_room, p.debit, 1))
        for room, account, sign in changes:
            if room[account] is not None:
                room[account] += sign * p.amount
    return None


def transfer_many(postings: list[Posting]) -> list[int]:
    """Make many posted transfers as one: :func:`transfer`'s guarantees in a fixed number of round trips.

    The batch path of bulk ingestion.  Every posting keeps its idempotency
    key (a key already used returns its transfer, or raises
    IdempotencyConflict if the content differs); every touched account is
    locked first, in id order; the limits are checked in Python in the given
    order (a wallet may be credited and then charged in one batch) before
    anything is written, and by the database's CHECK constraints on the new
    sums.  Statements: the lock, one INSERT … ON CONFLICT (key) DO NOTHING
    for all rows, one UPDATE of the sums (one statement over arrays on
    PostgreSQL, one per account on SQLite).  Returns the transfer ids, in
    order.  Builds no ORM objects.
    """
    return _write_many(postings, Phase.SINGLE)


def reserve_many(holds: list[Hold]) -> list[int]:
    """Make many holds as one: :func:`reserve`'s guarantees, in the round trips of :func:`transfer_many`.

    The batch path of matching (one matcher reserving for every deposit
    waiting).  Each hold keeps its idempotency key; the limits are checked in
    the given order, each hold taking its amount from the debit account's room
    at once; resolve each with :func:`post_pending` / :func:`void_pending`.
    Returns the pending transfers' ids, in order.  Builds no ORM objects.
    """
    for h in holds:
        if h.timeout_at is not None and h.timeout_at.tzinfo is None:
            raise ValueError("timeout_at must be timezone-aware (use app.database.utcnow())")
    return _write_many(holds, Phase.PENDING)


def _write_many(items: list, phase: Phase) -> list[int]:
    if not items:
        return []
    content: dict[str, Posting | Hold] = {}
    for p in items:
        _check_key(p.key)
        _check_amount(p.amount)
        if p.debit == p.credit:
            raise SameAccount(account_id=p.debit)
        first = content.setdefault(p.key, p)
        if first != p:
            raise IdempotencyConflict(key=p.key, fields=["batch"], transfer_id=None)
    unique = list(content.values())
    conn = db.session.connection()
    rows = _lock_ids(conn, {i for p in unique for i in (p.debit, p.credit)})
    for p in unique:
        if rows[p.debit].asset != rows[p.credit].asset:
            raise AssetMismatch(debit_asset=rows[p.debit].asset, credit_asset=rows[p.credit].asset)
    existing: set[str] = set()
    over = _simulate(unique, rows, existing, phase)
    if over is not None:
        # Retries of transfers that used the room up are answered with those transfers, as transfer() does.
        existing = set(conn.scalars(sa.select(_transfers.c.key).where(
            _transfers.c.key.in_([p.key for p in unique]))))
        over = _simulate(unique, rows, existing, phase)
        if over is not None:
            raise over
    now = utcnow()
    status = Status.POSTED.value if phase is Phase.SINGLE else Status.PENDING.value
    values = [{"key": p.key, "phase": phase.value, "debit_account_id": p.debit, "credit_account_id": p.credit,
               "amount": p.amount, "kind": p.kind, "asset": rows[p.debit].asset, "pending_id": None,
               "timeout_at": getattr(p, "timeout_at", None), "memo": p.memo, "event": p.event, "status": status,
               "created_at": now}
              for p in unique if p.key not in existing]
    ids: dict[str, int] = {}
    postgres = conn.dialect.name == "postgresql"
    if values and postgres:
        ids = {key: new_id for new_id, key in conn.execute(_INSERT_UNNEST, _columns(values, _UNNEST_COLUMNS))}
    elif values:
        ids = {key: new_id for new_id, key in conn.execute(_insert_many_statement(conn.dialect.name), values)}
    sums: dict[int, list[int]] = {}  # account → debits, credits, debits pending, credits pending
    offset = 0 if phase is Phase.SINGLE else 2
    for p in unique:
        if p.key in ids:
            sums.setdefault(p.debit, [0, 0, 0, 0])[offset] += p.amount
            sums.setdefault(p.credit, [0, 0, 0, 0])[offset + 1] += p.amount
    if sums:
        rows = [dict(zip(_APPLY_COLUMNS, (i, *s), strict=True)) for i, s in sorted(sums.items())]
        conn.execute(_APPLY_UNNEST, _columns(rows, _APPLY_COLUMNS)) if postgres else conn.execute(_APPLY_ONE, rows)
        _expire_sums(*sums)
    for p in unique:
        if p.key not in ids:  # the key was used before: the same transfer, or a conflict
            ids[p.key] = _replay(p.key, {"phase": phase.value, "debit_account_id": p.debit,
                                         "credit_account_id": p.credit, "amount": p.amount, "kind": p.kind}).id
    return [ids[p.key] for p in items]


# --- resolving holds ----------------------------------------------------------------------------

def _resolve(key: str, pending_id: int, phase: Phase, amount: int | None, *,
             final: Status, now: datetime | None = None) -> LedgerTransfer:
    _check_key(key)
    if isinstance(pending_id, LedgerTransfer):
        pending_id = pending_id.id
    pending = db.session.get(LedgerTransfer, pending_id)
    if pending is None or pending.phase != Phase.PENDING.value:
        raise PendingNotFound(pending_id=pending_id)
    if amount is None:
        amount = pending.amount
    _check_amount(amount)
    if amount > pending.amount:
        raise InvalidAmount(amount=amount, pending_amount=pending.amount)
    content = {"phase": phase.value, "pending_id": pending.id, "amount": amount}
    conn = db.session.connection()
    _lock_ids(conn, (pending.debit_account_id, pending.credit_account_id))
    # Under the lock: the pending row's current status and any transfer already made with this key.
    current = db.session.scalars(
        sa.select(LedgerTransfer).where(sa.or_(LedgerTransfer.id == pending.id, LedgerTransfer.key == key))
        .execution_options(populate_existing=True)
    ).all()
    for row in current:
        if row.key == key:
            return _same_or_conflict(row, key, content)
    if pending.status != Status.PENDING.value:
        raise AlreadyResolved(pending_id=pending.id, status=pending.status)
    if phase is Phase.POST_PENDING and pending.timeout_at is not None and pending.timeout_at <= (now or utcnow()):
        raise PendingExpired(pending_id=pending.id, timeout_at=pending.timeout_at)

    values = {**content, "key": key, "debit_account_id": pending.debit_account_id,
              "credit_account_id": pending.credit_account_id, "asset": pending.asset, "kind": pending.kind,
              "status": Status.POSTED.value if phase is Phase.POST_PENDING else Status.VOIDED.value,
              "timeout_at": None, "memo": pending.memo, "event": pending.event}
    posted = amount if phase is Phase.POST_PENDING else 0
    row = _insert_and_apply(conn, values, posted=posted, pending=-pending.amount)
    if row is None:  # the key was taken by a concurrent call on other accounts since we looked
        return _replay(key, content)
    changed = conn.execute(
        sa.update(_transfers)
        .where(_transfers.c.id == pending.id, _transfers.c.status == Status.PENDING.value)
        .values(status=final.value)
    ).rowcount
    if changed != 1:  # cannot happen: the database refused the insert above unless the hold was open,
        raise AlreadyResolved(pending_id=pending.id)  # and we hold its accounts' locks (roll back if it does)
    attributes.set_committed_value(pending, "status", final.value)
    return row


def post_pending(key: str, pending_id: int, amount: int | None = None) -> LedgerTransfer:
    """Post a hold: all of it, or ``amount`` of it with the remainder released.  At most once."""
    return _resolve(key, pending_id, Phase.POST_PENDING, amount, final=Status.POSTED)


def void_pending(key: str, pending_id: int) -> LedgerTransfer:
    """Release a hold entirely.  At most once; allowed after its timeout (that is what the sweeper does)."""
    return _resolve(key, pending_id, Phase.VOID_PENDING, None, final=Status.VOIDED)


def expire_pending(key: str, pending_id: int) -> LedgerTransfer:
    """Void a hold whose timeout passed, marking it ``expired`` (used by the sweeper)."""
    return _resolve(key, pending_id, Phase.VOID_PENDING, None, final=Status.EXPIRED)


# --- reading ------------------------------------------------------------------------------------

def balance(account: LedgerAccount | int) -> Balance:
    """The account's current balance, read from the database (never from a possibly stale object)."""
    aid = account_id(account)
    row = db.session.execute(
        sa.select(_accounts.c.kind, _accounts.c.debits_posted, _accounts.c.credits_posted,
                  _accounts.c.debits_pending, _accounts.c.credits_pending)
        .where(_accounts.c.id == aid)
    ).one_or_none()
    if row is None:
        raise AccountNotFound(account_id=aid)
    return _balance_of_row(row)


class OwnedAccount(NamedTuple):
    """One account of an owner, with its balance as read in the same statement."""

    id: int
    code: str
    kind: str
    asset: str
    balance: Balance


def balances_of_owner(owner_id: int) -> list[OwnedAccount]:
    """Every account the owner has (wallet, sale escrows) with its current balance: one statement.

    For pages that show several of a user's balances at once (the wallet), where reading them one by one
    (the wallet by its code, its balance, the escrows' sum, the ids for the history) cost five round trips.
    """
    rows = db.session.execute(
        sa.select(_accounts.c.id, _accounts.c.code, _accounts.c.kind, _accounts.c.asset,
                  _accounts.c.debits_posted, _accounts.c.credits_posted,
                  _accounts.c.debits_pending, _accounts.c.credits_pending)
        .where(_accounts.c.owner_id == owner_id).order_by(_accounts.c.id)
    ).all()
    return [OwnedAccount(r.id, r.code, r.kind, r.asset, _balance_of_row(r)) for r in rows]


def _balance_of_row(row) -> Balance:
    if KIND_RULES[AccountKind(row.kind)].normal == "credit":
        posted = row.credits_posted - row.debits_posted
        available = posted - row.debits_pending
    else:
        posted = row.debits_posted - row.credits_posted
        available = posted - row.credits_pending
    return Balance(posted=posted, pending_debits=row.debits_pending, pending_credits=row.credits_pending,
                   available=available)
