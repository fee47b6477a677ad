"""One matcher, every waiting deposit: matching in batches when buyers come faster than one at a time.

:func:`app.market.matching.match` costs two transactions and about seven
statements per deposit, whatever else is waiting.  When many deposits wait
(a rush of buyers), a matcher takes the oldest of them together — the job's
own deposit first — and does for all of them at once what ``match`` does for
one, in the same two transactions:

1. *reserve* — lock the waiting deposits (``FOR UPDATE SKIP LOCKED``: two
   matchers never take the same one), lock the first eligible withdrawal
   requests of each provider kind in queue order (the conditions that do not
   depend on the deposit), give each deposit, oldest first, the first of them
   that can take it (not the buyer's own, within its bounds, with the dollars
   and an open-invoice slot left after the deposits before it), hold the
   dollars with :func:`app.ledger.reserve_many`, take the slots and record the
   attempts; commit;
2. ask each seller's provider for its invoice, outside any transaction (at
   once, in threads, when there are several: a provider answers in hundreds
   of milliseconds);
3. *publish* — one compare-and-set per deposit in one statement
   (:meth:`app.states.StateMachine.transition_many`); commit.

A deposit none of the requests the batch could lock can take (the first one
that can is further down the queue, or locked by another matcher; or a hold
the ledger refused) is put back untouched, still waiting, unless it is the
job's own: that one goes to ``match``, which knows every such case (deeper in
the queue, waiting for a locked request, failing with a reason).  A provider
failure goes to ``match`` too (the next seller).  The requests locked are a
prefix of the queue, so the request a deposit gets here is the one ``match``
would have given it.
"""
from __future__ import annotations

import contextvars
import logging
import os
import threading
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa

from app import ledger
from app.core import audit
from app.database import execute_fast, update_fast, utcnow
from app.extensions import db
from app.market import form_limits, matching
from app.models.market import Deposit, WithdrawalRequest
from app.models.payment_form import PaymentForm
from app.states import DEPOSIT

log = logging.getLogger(__name__)

#: deposits one matcher takes at once
BATCH_SIZE = 32
#: requests of one provider kind locked for a batch, at most: more would keep other matchers off the queue's head
CANDIDATES = 14
#: provider calls of one batch made at once
PROVIDER_CALLS_AT_ONCE = 8

_d = Deposit.__table__
_w = WithdrawalRequest.__table__
_f = PaymentForm.__table__


# --- the statements -------------------------------------------------------------------------------

def _waiting():
    return sa.and_(_d.c.status == "matching", _d.c.hold_transfer_id.is_(None),
                   _d.c.match_attempts < matching.MAX_ATTEMPTS)


_CLAIMED = (_d.c.id, _d.c.buyer_id, _d.c.kind, _d.c.amount_kopecks, _d.c.usd_cents, _d.c.match_attempts)


def _claim_statement(postgres: bool) -> sa.Select:
    """The waiting deposits to match, the job's own (``:first``) among them if it still waits; with the buyers'
    wallets."""
    if not postgres:  # SQLite: the transaction holds the write lock already
        return (sa.select(*_CLAIMED, matching.wallet_id_of(_d.c.buyer_id).label("wallet_id")).where(_waiting())
                .order_by((_d.c.id == sa.bindparam("first")).desc(), _d.c.id).limit(sa.bindparam("n")))
    # Two parts, each walking an index (the job's own by its id, the others by ix_deposit_waiting).  The
    # columns are read where the rows are locked: under READ COMMITTED a row changed since the statement
    # began is read there in its latest version, and would be read stale by a SELECT around them.
    mine = sa.select(*_CLAIMED).where(_waiting(), _d.c.id == sa.bindparam("first")).with_for_update(skip_locked=True)
    others = (sa.select(*_CLAIMED).where(_waiting(), _d.c.id.is_distinct_from(sa.bindparam("first")))
              .order_by(_d.c.id).limit(sa.bindparam("others")).with_for_update(skip_locked=True))
    claimed = sa.union_all(mine.cte("mine").select(), others.cte("others").select()).cte("claimed")
    return sa.select(claimed, matching.wallet_id_of(claimed.c.buyer_id).label("wallet_id"))


def _candidates_statement(postgres: bool) -> sa.Select:
    """The first requests of a provider kind in queue order that some deposit could take (locked)."""
    free = matching.escrow_free_column()
    tables, head = matching.queue_head(sa.bindparam("kind"))
    query = (
        sa.select(_w.c.id, _w.c.queued_at, _w.c.seller_id, _w.c.escrow_account_id, _w.c.payment_form_id, _w.c.min_invoice_kopecks,
                  _w.c.max_invoice_kopecks, (_w.c.max_open_invoices - _w.c.open_invoices).label("slots"),
                  free.label("free"), _f.c.kind.label("form_kind"), _f.c.hook_token, _f.c.credentials_encrypted,
                  *(_f.c[name] for name in form_limits.COLUMNS))
        .select_from(tables)
        .where(*head, free > 0,
               # after the candidates already locked for this batch: the queue's next entries
               sa.tuple_(_w.c.queued_at, _w.c.id) > sa.tuple_(sa.bindparam("after_at", type_=_w.c.queued_at.type),
                                                              sa.bindparam("after_id", type_=_w.c.id.type)))
        .order_by(_w.c.queued_at, _w.c.id)
        .limit(sa.bindparam("n"))
    )
    return query.with_for_update(of=_w, skip_locked=True) if postgres else query


_TAKE_SLOTS = sa.text(
    "UPDATE withdrawal_request SET open_invoices = open_invoices + v.n, updated_at = :now"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:ns AS integer[])) AS v(id, n) WHERE withdrawal_request.id = v.id"
)
_TAKE_SLOTS_ONE = (sa.update(_w).where(_w.c.id == sa.bindparam("w_id"))
                   .values(open_invoices=_w.c.open_invoices + sa.bindparam("w_n"), updated_at=sa.bindparam("now")))
_RECORD_ATTEMPTS = sa.text(
    "UPDATE deposit SET match_attempts = v.match_attempts, withdrawal_id = v.withdrawal_id,"
    " payment_form_id = v.payment_form_id, hold_transfer_id = v.hold_transfer_id, expires_at = v.expires_at,"
    " order_id = v.order_id, idempotence_key = v.idempotence_key, updated_at = v.updated_at,"
    " reserved_at = v.reserved_at"
    " FROM unnest(CAST(:deposit_id AS bigint[]), CAST(:match_attempts AS integer[]), CAST(:withdrawal_id AS bigint[]),"
    " CAST(:payment_form_id AS bigint[]), CAST(:hold_transfer_id AS bigint[]), CAST(:expires_at AS timestamptz[]),"
    " CAST(:order_id AS text[]), CAST(:idempotence_key AS text[]), CAST(:updated_at AS timestamptz[]),"
    " CAST(:reserved_at AS timestamptz[]))"
    " AS v(id, match_attempts, withdrawal_id, payment_form_id, hold_transfer_id, expires_at, order_id,"
    " idempotence_key, updated_at, reserved_at)"
    " WHERE deposit.id = v.id AND deposit.status = 'matching' AND deposit.hold_transfer_id IS NULL"
)

#: For this transaction only.  On a small deployment the queue and account tables are a few pages, and the
#: planner reads them whole (a sequential scan costs less than an index on paper); but their few hot rows
#: are rewritten by every batch, so those pages hold hundreds of row versions, and the whole-table reads of
#: the locks and updates below cost more than the rest of the batch (bench at 100 queued: 0.5 ms of
#: backend CPU per reservation against 0.2-0.3 at 10,000, one matcher 1,200/s; with this, as at 10,000).
#: Every statement here has its index (primary keys, the queue and waiting-deposit indexes).
_INDEXES_ONLY = sa.text("SET LOCAL enable_seqscan = off")

_STATEMENTS: dict[tuple[str, bool], tuple[sa.Select, type]] = {}


def _rows(name: str, params: dict) -> list:
    """Run the claim or the candidates statement; rows as named tuples (PostgreSQL: on the driver's cursor)."""
    connection = db.session.connection()
    postgres = connection.dialect.name == "postgresql"
    entry = _STATEMENTS.get((name, postgres))
    if entry is None:
        stmt = _claim_statement(postgres) if name == "claim" else _candidates_statement(postgres)
        entry = _STATEMENTS[(name, postgres)] = (stmt, namedtuple(name.title(), [c.key for c in stmt.selected_columns]))
    stmt, row_type = entry
    return [row_type(*row) for row in execute_fast(connection, stmt, params)]


# --- step 1: reserve -------------------------------------------------------------------------------

class _Candidate:
    """A locked request and what is left of it as the batch's deposits are given to it."""

    def __init__(self, row) -> None:
        self.row, self.slots, self.free, self.taken = row, row.slots, row.free, 0

    def can_take(self, deposit) -> bool:
        r = self.row
        return (self.slots > 0 and self.free >= deposit.usd_cents and r.seller_id != deposit.buyer_id
                and r.min_invoice_kopecks <= deposit.amount_kopecks <= r.max_invoice_kopecks)

    def take(self, deposit) -> None:
        self.slots -= 1
        self.free -= deposit.usd_cents
        self.taken += 1


#: where the first candidates of a kind start: before anything queued
_QUEUE_START = (datetime(1, 1, 2, tzinfo=UTC), 0)


def _assign(deposits: list, kind: str, gate: form_limits.Gate) -> tuple[list, list[int], list[_Candidate]]:
    """Give each deposit of one kind, oldest first, the first locked request that can take it; lock more of the
    queue, a few at a time, while some deposit has none (2, then 4, … up to :data:`CANDIDATES` in all).

    Locking only as far down the queue as the batch needs leaves the rest to other matchers.  A deposit checked
    again after more were locked is checked in the same order and against no more room than before (taking only
    ever reduces it), so each deposit gets what one-by-one matching in age order would give it.  A candidate
    whose form's own limits refuse the deposit, or whose form another matcher holds, is passed over (``gate``).
    Returns (deposit, candidate) pairs, the ids left for ``match``, and the candidates locked.
    """
    candidates: list[_Candidate] = []
    waiting, given = deposits, []
    after, wanted, queue_end = _QUEUE_START, 2, False
    while True:
        unplaced = []
        for d in waiting:
            candidate = next((c for c in candidates
                              if c.can_take(d) and gate.admits(c.row, d.amount_kopecks) == form_limits.OPEN), None)
            if candidate is None:
                unplaced.append(d)
            else:
                candidate.take(d)
                gate.take(candidate.row, d.amount_kopecks)
                given.append((d, candidate))
        waiting = unplaced
        room = CANDIDATES - len(candidates)
        if not waiting or room <= 0 or queue_end:
            break  # all placed, as far down the queue as a batch may lock, or no more to lock
        n = min(wanted, room)
        rows = _rows("candidates", {"kind": kind, "n": n, "after_at": after[0], "after_id": after[1]})
        queue_end = len(rows) < n
        if rows:
            gate.prepare(rows)  # their forms' limits: locked and read together, not one form at a time
            candidates += [_Candidate(row) for row in rows]
            after, wanted = (rows[-1].queued_at, rows[-1].id), wanted * 2
    return given, [d.id for d in waiting], candidates


_Row = namedtuple("_Row", "amount_kopecks payment_form_id form_kind hook_token credentials_encrypted")


def _reserve(first_id: int | None, limit: int) -> tuple[list[matching.Reservation], list[int]]:
    """Step 1 in one transaction: the reservations made, and the claimed deposits left for ``match``."""
    from app.core.settings import current_settings

    postgres = db.session.get_bind().dialect.name == "postgresql"
    if postgres:
        update_fast(db.session.connection(), _INDEXES_ONLY, {})
    claimed = _rows("claim", {"first": first_id, "n": limit, "others": limit - (first_id is not None)}
                    if postgres else {"first": first_id, "n": limit})
    if not claimed:
        return [], []
    claimed.sort(key=lambda d: d.id)  # oldest first (SQLite's statement puts the job's own first)
    given, left, taken = [], [], []
    gate = form_limits.Gate(utcnow())
    for kind in sorted({d.kind for d in claimed}):
        kind_given, kind_left, candidates = _assign([d for d in claimed if d.kind == kind], kind, gate)
        given += kind_given
        left += kind_left
        taken += [c for c in candidates if c.taken]
    given.sort(key=lambda pair: pair[0].id)
    if not given:
        return [], left
    now = utcnow()
    expires_at = now + timedelta(seconds=current_settings().invoice_lifetime_seconds)
    # The slots first: those rows are this transaction's already, and the ledger's account locks (a buyer's
    # wallet is shared by all their deposits' batches) are then held for two statements fewer.
    connection = db.session.connection()
    if postgres:
        update_fast(connection, _TAKE_SLOTS, {"ids": [c.row.id for c in taken], "ns": [c.taken for c in taken],
                                               "now": now})
    else:
        connection.execute(_TAKE_SLOTS_ONE, [{"w_id": c.row.id, "w_n": c.taken, "now": now} for c in taken])
    # First purchases open their buyers' wallets, in buyer order: two batches opening the same two wallets in
    # different orders waited for each other on the code's unique index (PostgreSQL aborted one as a deadlock).
    wallets = {buyer_id: ledger.wallet_of(buyer_id).id
               for buyer_id in sorted({d.buyer_id for d, _c in given if d.wallet_id is None})}
    holds = [matching.hold_of(d.id, d.match_attempts + 1, c.row.escrow_account_id,
                              d.wallet_id or wallets[d.buyer_id], d.usd_cents, expires_at)
             for d, c in given]
    try:
        hold_ids = ledger.reserve_many(holds)
    except ledger.InsufficientFunds:
        # An escrow's free dollars were read before its account was locked, and a hold made by someone else
        # in between used them: nothing was written; ``match`` takes each deposit with the ledger's answer.
        db.session.rollback()
        return [], [d.id for d in claimed]
    attempts = [matching.new_attempt(d.id, d.match_attempts + 1, c.row.id, c.row.payment_form_id, hold_id, expires_at)
                for (d, c), hold_id in zip(given, hold_ids, strict=True)]
    if postgres:
        recorded = update_fast(connection, _RECORD_ATTEMPTS, {k: [a[k] for a in attempts] for k in attempts[0]})
    else:
        recorded = connection.execute(matching.RECORD_ATTEMPT, attempts).rowcount
    if recorded != len(attempts):  # cannot happen: the deposits are locked and were read under the lock
        raise RuntimeError(f"recorded {recorded} of {len(attempts)} attempts; the batch is rolled back")
    for d, _c in given:
        matching.forget(Deposit, d.id)
    reservations = [
        matching.reservation_of(_Row(d.amount_kopecks, c.row.payment_form_id, c.row.form_kind, c.row.hook_token,
                                     c.row.credentials_encrypted), attempt)
        for (d, c), attempt in zip(given, attempts, strict=True)
    ]
    return reservations, left


# --- step 2: the providers --------------------------------------------------------------------------

class _Unknown(NamedTuple):
    """A provider call that ended in an unexpected error: the outcome is not known, so nothing is given up (the
    sweeper asks again with the same order id and Idempotence-Key)."""

    error: BaseException


def _ask(r: matching.Reservation):
    try:
        return matching.ask_provider(r)
    except Exception as exc:  # noqa: BLE001 - one deposit's bug must not strand the batch's others
        log.exception("deposit %s: creating the invoice failed unexpectedly", r.deposit_id)
        return _Unknown(exc)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _forget_pool_in_child() -> None:
    """A forked process (an RQ work horse, a gunicorn worker) inherits the pool but not its threads: work
    submitted there would wait forever.  The child makes its own on first use."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_in_child)


def _ask_all(reservations: list[matching.Reservation]) -> list:
    """Each reservation's provider answer (see :func:`matching.ask_provider`), several at once in threads (each
    with the caller's context variables: the request id stays in the logs)."""
    global _pool
    if len(reservations) == 1:
        return [_ask(reservations[0])]
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=PROVIDER_CALLS_AT_ONCE, thread_name_prefix="provider")
    futures = [_pool.submit(contextvars.copy_context().run, _ask, r) for r in reservations]
    return [f.result() for f in futures]


# --- step 3: publish -----------------------------------------------------------------------------

def _publish(reservations: list[matching.Reservation], answers: list) -> set[int]:
    """Publish the invoices created (one transaction, committed); the ids published."""
    from app.market import form_health

    created = [(r, a) for r, a in zip(reservations, answers, strict=True)
               if not isinstance(a, _Unknown) and matching.invoice_created(a)]
    for form_id in sorted({r.form_id for r, _a in created}):
        form_health.record_success(form_id)
    published = DEPOSIT.transition_many(
        Deposit, "awaiting_payment",
        [{"id": r.deposit_id, "hold_transfer_id": r.hold_id, **matching.invoice_columns(a)} for r, a in created],
        expect="matching", only_if=("hold_transfer_id",),
    )
    audit.record_many("deposit.invoiced", "deposit",
                      [(r.deposit_id, {"payment_form_id": r.form_id}) for r, _a in created if r.deposit_id in published])
    db.session.commit()
    return published


# --- the whole -------------------------------------------------------------------------------------

def match_waiting(first_id: int | None = None, limit: int | None = None) -> dict[int, str]:
    """Match ``first_id`` and up to ``limit`` - 1 other waiting deposits together; the statuses of those handled.

    ``first_id`` None: the oldest waiting deposits.  A deposit another matcher holds, or one no
    longer waiting, is not taken (nor reported).  A taken deposit that none of the requests this
    batch could lock can take is matched one by one (``match``: deeper in the queue, waiting for
    requests other matchers hold, or failed with a reason) only if it is ``first_id``; any other
    such deposit is put back as it was, still waiting, for its own job or the next batch — when
    matchers lock most of a short queue at once, waiting for it one deposit at a time made the
    batch as slow as the old path.  Every deposit handled ends published, failed, or with
    ``match``'s own outcome.
    """
    reservations, left = _reserve(first_id, limit or BATCH_SIZE)
    db.session.commit()
    statuses: dict[int, str] = {}
    retry: dict[int, set[int]] = {first_id: set()} if first_id in left else {}
    if reservations:
        answers = _ask_all(reservations)
        published = _publish(reservations, answers)
        for r, answer in zip(reservations, answers, strict=True):
            if r.deposit_id in published:
                statuses[r.deposit_id] = "awaiting_payment"
            elif isinstance(answer, _Unknown):
                statuses[r.deposit_id] = "matching"  # left with its hold for the sweeper
            elif matching.invoice_created(answer):
                retry[r.deposit_id] = set()  # moved by someone else meanwhile: match knows what it is now
            else:
                # Each failure in a transaction of its own: abandoning locks the attempt's accounts and request,
                # and two of them in one transaction could take those in different orders.
                matching.give_up_attempt(r, answer)
                db.session.commit()
                retry[r.deposit_id] = {r.request_id}  # the next seller
    for deposit_id, exclude in retry.items():
        statuses[deposit_id] = matching.match(deposit_id, exclude)
    return statuses
