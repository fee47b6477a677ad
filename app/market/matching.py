"""Matching a buyer's deposit to the first eligible seller, and creating the invoice.

Two short transactions around one provider call:

1. *reserve* — lock the deposit, take the first eligible withdrawal request in
   queue order (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises
   writers), hold the dollars with a pending ledger transfer escrow → buyer and
   take one of the request's open-invoice slots; on PostgreSQL four statements
   (see :func:`reserve`), and it hands step 2 and 3 a :class:`Reservation`
   with everything they need, so nothing is read twice;
2. outside any transaction, create the invoice with the seller's provider;
3. *publish* — if the reservation is still current (one compare-and-set),
   store the pay URL and move the deposit to ``awaiting_payment``.

A definite provider failure, an unreachable provider or an open circuit
*abandons* the attempt (the hold is voided, the slot freed) and the next seller
is tried, a bounded number of times.  A crash anywhere leaves a deposit in
``matching`` that the sweeper re-drives: with a hold and no invoice it asks the
same provider again with the same order id and idempotency key, which the
adapters make safe (CheckOrder, Idempotence-Key, a local link).  The buyer only
ever pays through a pay URL we published, so an invoice created at a provider
for an abandoned attempt can never be paid.

The match job runs :func:`app.market.matching_batch.match_waiting`, which
does the same for many waiting deposits at once and hands everything unusual
back to :func:`match` here.
"""
from __future__ import annotations

import logging
import random
import time
import uuid
from collections import namedtuple
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql

from app import ledger
from app.core import audit
from app.database import execute_fast, update_fast, utcnow
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.ledger.models import LedgerAccount, TransferKind
from app.market import form_limits, withdrawals
from app.market.quotes import Quote
from app.models import User
from app.models.market import Deposit, WithdrawalRequest
from app.models.payment_form import PaymentForm
from app.models.split import is_split_part
from app.people import user_limits
from app.states import DEPOSIT

log = logging.getLogger(__name__)

#: sellers tried for one deposit before it fails
MAX_ATTEMPTS = 3
#: how long a buyer waits for sellers locked by other buyers' reservations before "no seller"
BUSY_WAIT_SECONDS = 3.0
#: the ledger's own backstop for a hold, beyond the invoice's expiry
HOLD_BACKSTOP = timedelta(hours=1)


@dataclass(frozen=True)
class Availability:
    kind: str
    #: the largest single invoice the queue can serve now, kopecks
    max_kopecks: int
    #: the smallest invoice some eligible request accepts, kopecks
    min_kopecks: int


_d = Deposit.__table__
_w = WithdrawalRequest.__table__
_f = PaymentForm.__table__
_u = User.__table__
_a = LedgerAccount.__table__
_WALLET_PREFIX, _, _WALLET_SUFFIX = ledger.accounts.wallet_code(0).partition(":0:")


def queue_head(kind) -> tuple[sa.FromClause, list]:
    """The queue's tables and the eligibility conditions that do not depend on the deposit (but its kind).

    The first two conditions are the partial index ix_withdrawal_queue_open's WHERE, spelled as there, so the
    planner walks that index in queue order.  Shared by the pick and the batch matcher's candidates.
    """
    tables = (_w.join(_f, _f.c.id == _w.c.payment_form_id).join(_u, _u.c.id == _w.c.seller_id)
              .join(_a, _a.c.id == _w.c.escrow_account_id))
    return tables, [
        _w.c.status == "active", _w.c.open_invoices < _w.c.max_open_invoices, _w.c.kind == kind,
        _f.c.enabled.is_(True), _f.c.deleted_at.is_(None), _f.c.circuit == "closed", _u.c.is_frozen.is_(False),
    ]


def escrow_free_column():
    """A locked request's escrow: what it can still hold (read from the joined ledger account)."""
    return _a.c.credits_posted - _a.c.debits_posted - _a.c.debits_pending


def wallet_id_of(buyer_id_column) -> sa.ScalarSelect:
    """The buyer's wallet account id, by its code (NULL until the wallet is made)."""
    return (sa.select(_a.c.id).where(_a.c.code == sa.literal(_WALLET_PREFIX + ":")
                                     + sa.cast(buyer_id_column, sa.Text) + sa.literal(":" + _WALLET_SUFFIX))
            .scalar_subquery())


def _eligible(kind: str, buyer_id: int):
    """Requests this buyer could be matched to now, as ORM objects (the form's list, the portable pick)."""
    tables, head = queue_head(kind)
    return sa.select(WithdrawalRequest).select_from(tables).where(*head, _w.c.seller_id != buyer_id)


def first_eligible(deposit: Deposit, exclude: set[int], *, lock: bool = True) -> WithdrawalRequest | None:
    """The first request in FIFO order that can take this whole deposit (locked, skipping locked ones)."""
    w = WithdrawalRequest
    query = (
        _eligible(deposit.kind, deposit.buyer_id)
        .where(w.min_invoice_kopecks <= deposit.amount_kopecks, w.max_invoice_kopecks >= deposit.amount_kopecks,
               escrow_free_column() >= deposit.usd_cents)
        .order_by(w.queued_at, w.id)
        .limit(1)
    )
    if lock:
        query = query.with_for_update(of=w, skip_locked=True)
    if exclude:
        query = query.where(w.id.not_in(exclude))
    return db.session.scalar(query)


def availability(buyer_id: int, rates: dict[str, int]) -> list[Availability]:
    """Per provider kind, what the queue can serve right now (for the deposit form)."""
    w = WithdrawalRequest
    result = []
    for kind, rate in rates.items():
        rows = db.session.execute(
            _eligible(kind, buyer_id).with_only_columns(w.min_invoice_kopecks, w.max_invoice_kopecks, escrow_free_column())
            .where(escrow_free_column() > 0)
        ).all()
        best_max, best_min = 0, None
        for min_k, max_k, free_cents in rows:
            servable = min(max_k, free_cents * rate // 100)
            if servable >= min_k:
                best_max = max(best_max, servable)
                best_min = min_k if best_min is None else min(best_min, min_k)
        if best_max:
            result.append(Availability(kind=kind, max_kopecks=best_max, min_kopecks=best_min))
    return result


# --- the buyer's request -------------------------------------------------------------------

def create_deposit(buyer, q: Quote, request_key: str) -> Deposit:
    """Store the request as ``matching`` with its locked quote; a double submit returns the first."""
    existing = db.session.execute(
        sa.select(_d.c.id, _d.c.buyer_id).where(_d.c.request_key == request_key)
    ).one_or_none()  # columns, not an object: the usual answer is "none"
    if existing is not None:
        if existing.buyer_id != buyer.id:
            raise ValidationFailed(str(_l("This form was already used; reload the page.")))
        return db.session.get(Deposit, existing.id)
    user_limits.check_deposit(buyer, q.amount_kopecks)
    deposit = Deposit(
        order_id=uuid.uuid4().hex, buyer_id=buyer.id, kind=q.kind, status="matching",
        amount_kopecks=q.amount_kopecks, rate_kopecks=q.rate_kopecks, usd_cents=q.usd_cents,
        buyer_fee_cents=q.buyer_fee_cents, settings_id=q.settings_id, request_key=request_key,
    )
    db.session.add(deposit)
    db.session.flush()
    audit.record("deposit.created", actor=buyer, target=deposit, kind=q.kind, amount_kopecks=q.amount_kopecks)
    return deposit


def get_own(user, deposit_id: int) -> Deposit:
    deposit = db.session.get(Deposit, deposit_id)
    if deposit is None or deposit.buyer_id != user.id:
        raise NotFound(str(_l("No such deposit.")))
    return deposit


def glance_own(user, deposit_id: int) -> sa.Row:
    """What the invoice page's poll compares (status, last change, the buyer's claim, expiry): the columns,
    not the ORM object — loading all thirty of them into an object was a quarter of an unchanged poll's
    Python.  Someone else's deposit is "no such deposit", as with :func:`get_own`."""
    row = db.session.execute(
        sa.select(_d.c.status, _d.c.updated_at, _d.c.buyer_claimed_paid_at, _d.c.expires_at)
        .where(_d.c.id == deposit_id, _d.c.buyer_id == user.id)
    ).one_or_none()
    if row is None:
        raise NotFound(str(_l("No such deposit.")))
    return row


# --- step 1: reserve ----------------------------------------------------------------------
#
# On PostgreSQL the reservation is four statements in one transaction:
#   1. one data-modifying WITH: lock the deposit (FOR UPDATE), take the first
#      eligible request in queue order (FOR UPDATE OF w SKIP LOCKED) and one of
#      its open-invoice slots, and read what the invoice needs (the form, the
#      buyer's wallet id, the invoice lifetime in force);
#   2. + 3. ``ledger.reserve``: lock escrow and wallet, insert the hold (its
#      idempotency key, the limit checked in Python and by the database's CHECK);
#   4. the deposit's attempt fields.
# SQLite (one writer at a time, no DML in WITH) runs the same steps one by one.

#: what one reservation hands to step 2 and 3: read once, in the reserving transaction
@dataclass(frozen=True)
class Reservation:
    deposit_id: int
    hold_id: int
    request_id: int
    form_id: int
    kind: str
    invoice: object  # app.connectors.payments.base.InvoiceRequest
    idempotence_key: str
    #: None when the form is not usable any more (an existing reservation being finished)
    adapter: object | None


@dataclass(frozen=True)
class _Outcome:
    """reserve()'s answer: a reservation, or the deposit's status when there is nothing to do."""

    reservation: Reservation | None
    status: str


def _pick_statement() -> sa.Executable:
    """Lock the deposit, take a slot of the first eligible request, read the form (PostgreSQL, one round trip)."""
    from app.models.settings import PlatformSettings

    d = (sa.select(_d.c.id, _d.c.status, _d.c.hold_transfer_id, _d.c.buyer_id, _d.c.kind, _d.c.amount_kopecks,
                   _d.c.usd_cents, _d.c.match_attempts)
         .where(_d.c.id == sa.bindparam("deposit_id")).with_for_update().cte("d"))
    # LATERAL: the queue scan sees the deposit's kind and amounts as parameters, so it walks
    # ix_withdrawal_queue_open in order and stops at the first row it can lock.
    tables, head = queue_head(d.c.kind)
    first = (
        sa.select(_w.c.id)
        .select_from(tables)
        .where(
            *head,
            _w.c.seller_id != d.c.buyer_id,
            _w.c.min_invoice_kopecks <= d.c.amount_kopecks, _w.c.max_invoice_kopecks >= d.c.amount_kopecks,
            escrow_free_column() >= d.c.usd_cents,
            # an array, not an expanding IN: the statement's SQL stays the same for any number excluded
            _w.c.id != sa.all_(sa.bindparam("exclude", type_=postgresql.ARRAY(sa.BigInteger))),
        )
        .order_by(_w.c.queued_at, _w.c.id)
        .limit(1)
        .with_for_update(of=_w, skip_locked=True)
        .lateral("first")
    )
    pick = (
        sa.select(first.c.id)
        .select_from(d.join(first, sa.true()))
        .where(d.c.status == "matching", d.c.hold_transfer_id.is_(None), d.c.match_attempts < MAX_ATTEMPTS)
        .cte("pick")
    )
    take = (
        sa.update(_w)
        .where(_w.c.id == pick.c.id, _w.c.open_invoices < _w.c.max_open_invoices)
        .values(open_invoices=_w.c.open_invoices + 1, updated_at=sa.bindparam("now"))
        .returning(_w.c.id.label("request_id"), _w.c.escrow_account_id, _w.c.payment_form_id)
        .cte("take")
    )
    wallet = wallet_id_of(d.c.buyer_id)
    settings = PlatformSettings.__table__
    lifetime = (sa.select(settings.c.invoice_lifetime_seconds).order_by(settings.c.id.desc()).limit(1)
                .scalar_subquery())
    return (
        sa.select(d, take.c.request_id, take.c.escrow_account_id, take.c.payment_form_id,
                  _f.c.kind.label("form_kind"), _f.c.hook_token, _f.c.credentials_encrypted,
                  *(_f.c[name] for name in form_limits.COLUMNS),
                  wallet.label("wallet_id"), lifetime.label("lifetime"))
        .select_from(d.outerjoin(take, sa.true()).outerjoin(_f, _f.c.id == take.c.payment_form_id))
    )


#: the pick statement and the named tuple of its row, made on first use (the settings model imports late)
_PICK: list[tuple[sa.Executable, type]] = []


def _pick(deposit_id: int, exclude: set[int]):
    """The locked deposit's fields, plus the request whose slot was taken (NULLs when none), the form, the wallet.

    On PostgreSQL the statement goes to the driver's cursor (``execute_fast``): it is the
    largest statement of a purchase, and SQLAlchemy's cache key for it cost more than the
    rest of its Python.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        if not _PICK:
            stmt = _pick_statement()
            _PICK.append((stmt, namedtuple("PickRow", [c.key for c in stmt.selected_columns])))
        stmt, row_type = _PICK[0]
        rows = execute_fast(db.session.connection(), stmt,
                            {"deposit_id": deposit_id, "exclude": sorted(exclude), "now": utcnow()})
        return row_type(*rows[0]) if rows else None
    return _pick_portable(deposit_id, exclude)


def _pick_portable(deposit_id: int, exclude: set[int]) -> sa.Row | None:
    """The same as the WITH statement, one statement at a time (SQLite: the transaction holds the write lock)."""
    from app.core.settings import current_settings

    deposit = db.session.execute(
        sa.select(_d.c.id, _d.c.status, _d.c.hold_transfer_id, _d.c.buyer_id, _d.c.kind, _d.c.amount_kopecks,
                  _d.c.usd_cents, _d.c.match_attempts).where(_d.c.id == deposit_id)
    ).one_or_none()
    if deposit is None:
        return None
    row = dict(deposit._mapping, request_id=None, escrow_account_id=None, payment_form_id=None, form_kind=None,
               hook_token=None, credentials_encrypted=None, wallet_id=None,
               lifetime=current_settings().invoice_lifetime_seconds, **dict.fromkeys(form_limits.COLUMNS))
    if deposit.status == "matching" and deposit.hold_transfer_id is None and deposit.match_attempts < MAX_ATTEMPTS:
        probe = SimpleNamespace(kind=deposit.kind, buyer_id=deposit.buyer_id, amount_kopecks=deposit.amount_kopecks,
                                usd_cents=deposit.usd_cents)
        request = first_eligible(probe, exclude)
        if request is not None:
            taken = db.session.execute(
                sa.update(_w).where(_w.c.id == request.id, _w.c.status == "active",
                                    _w.c.open_invoices < _w.c.max_open_invoices)
                .values(open_invoices=_w.c.open_invoices + 1, updated_at=utcnow())
            ).rowcount
            if taken == 1:
                form = request.payment_form
                row.update(request_id=request.id, escrow_account_id=request.escrow_account_id,
                           payment_form_id=form.id, form_kind=form.kind, hook_token=form.hook_token,
                           credentials_encrypted=form.credentials_encrypted,
                           **{name: getattr(form, name) for name in form_limits.COLUMNS})
                db.session.expire(request, ["open_invoices", "updated_at"])
    return SimpleNamespace(**row)


#: the attempt's fields on the deposit, in the reserving transaction (under the pick's lock on the deposit)
_ATTEMPT_COLUMNS = ("match_attempts", "withdrawal_id", "payment_form_id", "hold_transfer_id", "expires_at", "order_id",
                    "idempotence_key", "updated_at", "reserved_at")
RECORD_ATTEMPT = (sa.update(_d).where(_d.c.id == sa.bindparam("deposit_id"))
                   .values({name: sa.bindparam(name, type_=_d.c[name].type) for name in _ATTEMPT_COLUMNS}))


def _give_back_slot(request_id: int) -> None:
    db.session.execute(sa.update(_w).where(_w.c.id == request_id, _w.c.open_invoices > 0)
                       .values(open_invoices=_w.c.open_invoices - 1, updated_at=utcnow()))


def _eligible_but_locked(picked, exclude: set[int]) -> bool:
    """After the pick skipped every locked request: would one of them take this deposit?  (PostgreSQL only:
    SQLite's single writer never skips.)  Another buyer's reservation holds it for milliseconds; it may
    still have a free slot and dollars when that transaction ends.  ``picked`` is the pick's row: the
    deposit's kind, buyer and amounts as it read them under the deposit's lock."""
    if db.session.get_bind().dialect.name != "postgresql":
        return False
    return first_eligible(picked, exclude, lock=False) is not None


def reserve(deposit_id: int, exclude: set[int], *, may_wait: bool = True) -> _Outcome:
    """Hold dollars of the first eligible seller for this deposit.

    Returns the reservation (maybe one made earlier and not yet published), or
    the deposit's status when it is no longer matching.  Fails the deposit
    when no seller can take it; answers "busy" instead (nothing written) when the
    only sellers who could are locked by other reservations right now and ``may_wait``.

    A request whose form's own limits (:mod:`app.market.form_limits`) refuse this invoice is
    passed over like one without the dollars; one whose form another reservation holds is
    passed over for now (busy).
    """
    gate, busy_requests = form_limits.Gate(utcnow()), set()
    while True:
        row = _pick(deposit_id, exclude | busy_requests)
        if row is None:
            return _Outcome(None, "missing")
        if row.status != "matching":
            return _Outcome(None, row.status)
        if row.hold_transfer_id is not None:
            # a reservation exists (a crashed or concurrent run): finish it
            return _Outcome(_existing_reservation(deposit_id), "matching")
        if row.request_id is None:
            break
        admitted = gate.admits(row, row.amount_kopecks)
        if admitted != form_limits.OPEN:
            _give_back_slot(row.request_id)
            (busy_requests if admitted == form_limits.BUSY else exclude).add(row.request_id)
            continue
        attempt = row.match_attempts + 1
        expires_at = utcnow() + timedelta(seconds=row.lifetime)
        wallet_id = row.wallet_id or ledger.wallet_of(row.buyer_id).id
        h = hold_of(deposit_id, attempt, row.escrow_account_id, wallet_id, row.usd_cents, expires_at)
        try:
            hold = ledger.reserve(key=h.key, debit=h.debit, credit=h.credit, amount=h.amount, kind=h.kind,
                                  timeout_at=h.timeout_at, memo=h.memo, event=h.event)
        except ledger.InsufficientFunds:
            _give_back_slot(row.request_id)  # sold meanwhile; the next one
            exclude.add(row.request_id)
            continue
        exclude.add(row.request_id)
        attempt_fields = new_attempt(deposit_id, attempt, row.request_id, row.payment_form_id, hold.id, expires_at)
        update_fast(db.session.connection(), RECORD_ATTEMPT, attempt_fields)
        forget(Deposit, deposit_id)
        return _Outcome(reservation_of(row, attempt_fields), "matching")
    if may_wait and _eligible_but_locked(row, exclude):
        return _Outcome(None, "busy")
    deposit = db.session.get(Deposit, deposit_id)
    fail(deposit, str(_l("No seller can take this amount right now.")))
    return _Outcome(None, "failed")


def hold_of(deposit_id: int, attempt: int, escrow_id: int, wallet_id: int, usd_cents: int, expires_at
            ) -> ledger.Hold:
    """The hold of one attempt: the seller's escrow → the buyer's wallet, keyed by deposit and attempt."""
    return ledger.Hold(key=f"deposit:{deposit_id}:hold:{attempt}", debit=escrow_id, credit=wallet_id,
                       amount=usd_cents, kind=TransferKind.PURCHASE_HOLD, timeout_at=expires_at + HOLD_BACKSTOP,
                       memo=f"deposit {deposit_id}", event=f"deposit:{deposit_id}")


def new_attempt(deposit_id: int, attempt: int, request_id: int, form_id: int, hold_id: int, expires_at) -> dict:
    """The deposit's fields for a new attempt (``RECORD_ATTEMPT``'s parameters): fresh order id and Idempotence-Key."""
    now = utcnow()
    return {"deposit_id": deposit_id, "match_attempts": attempt, "withdrawal_id": request_id,
            "payment_form_id": form_id, "hold_transfer_id": hold_id, "expires_at": expires_at,
            "order_id": f"{uuid.uuid4().hex[:24]}-{attempt}", "idempotence_key": uuid.uuid4().hex,
            "updated_at": now, "reserved_at": now}


def reservation_of(row, attempt: dict) -> Reservation:
    """What steps 2 and 3 need, from the reserving transaction's row (the deposit's amount, the form's
    columns) and the attempt just recorded."""
    from app.connectors.payments.base import InvoiceRequest
    from app.core.urls import public_url
    from app.market import payment_forms

    form = _FormView(id=row.payment_form_id, kind=row.form_kind, hook_token=row.hook_token,
                     credentials_encrypted=row.credentials_encrypted)
    deposit_id, order_id = attempt["deposit_id"], attempt["order_id"]
    invoice = InvoiceRequest(
        order_id=order_id, amount=row.amount_kopecks, description=f"PokerPay {order_id[:12]}",
        return_url=public_url("deposits.show", deposit_id=deposit_id), expires_at=attempt["expires_at"],
        notification_url=payment_forms.notification_url(form),
    )
    return Reservation(
        deposit_id=deposit_id, hold_id=attempt["hold_transfer_id"], request_id=attempt["withdrawal_id"],
        form_id=form.id, kind=form.kind, invoice=invoice, idempotence_key=attempt["idempotence_key"],
        adapter=payment_forms.adapter_of(form),
    )


@dataclass(frozen=True)
class _FormView:
    """The columns of a payment form that the invoice and the adapter read (no ORM object, no second SELECT)."""

    id: int
    kind: str
    hook_token: str
    credentials_encrypted: str


def forget(model, row_id: int) -> None:
    """An object of this row loaded in the session would be stale after a Core UPDATE: reload it on next access."""
    instance = db.session.identity_map.get((model, (row_id,), None))
    if instance is not None:
        db.session.expire(instance)


def _existing_reservation(deposit_id: int) -> Reservation:
    """The reservation a crashed or concurrent run made and did not publish (the sweeper's path; ORM reads)."""
    from app.market import payment_forms

    deposit = db.session.get(Deposit, deposit_id)
    form = deposit.payment_form
    return Reservation(
        deposit_id=deposit_id, hold_id=deposit.hold_transfer_id, request_id=deposit.withdrawal_id, form_id=form.id, kind=form.kind,
        invoice=invoice_request(deposit), idempotence_key=deposit.idempotence_key,
        adapter=payment_forms.adapter_of(form) if form.healthy else None,
    )


def _lock_deposit(deposit_id: int) -> Deposit | None:
    return db.session.scalar(sa.select(Deposit).where(Deposit.id == deposit_id).with_for_update())


def fail(deposit: Deposit, reason: str) -> None:
    if DEPOSIT.transition(Deposit, deposit.id, "failed", expect="matching", reason=reason[:255]):
        audit.record("deposit.failed", target=deposit, reason=reason[:255])


def abandon(deposit_id: int, hold_id: int, why: str) -> None:
    """Give up the current attempt: void its hold, free the seller's slot, keep the deposit matching."""
    deposit = _lock_deposit(deposit_id)
    if deposit is None or deposit.status != "matching" or deposit.hold_transfer_id != hold_id:
        return
    if db.session.get(ledger.LedgerTransfer, hold_id, populate_existing=True).is_open:  # the backstop may have expired it
        ledger.void_pending(key=f"deposit:{deposit.id}:abandon:{deposit.match_attempts}", pending_id=hold_id)
    request_id = deposit.withdrawal_id
    deposit.withdrawal_id = deposit.payment_form_id = deposit.hold_transfer_id = None
    deposit.provider_payment_id = deposit.pay_url = deposit.sbp_payload = None
    deposit.reason = why[:255]
    db.session.flush()
    withdrawals.after_invoice_ended(request_id)


# --- step 2 and 3: invoice at the provider, publish ----------------------------------------

def invoice_request(deposit: Deposit):
    from app.connectors.payments.base import InvoiceRequest
    from app.core.urls import public_url
    from app.market.payment_forms import notification_url

    return InvoiceRequest(
        order_id=deposit.order_id, amount=deposit.amount_kopecks,
        description=f"PokerPay {deposit.order_id[:12]}",
        return_url=public_url("deposits.show", deposit_id=deposit.id),
        expires_at=deposit.expires_at, notification_url=notification_url(deposit.payment_form),
    )


def create_invoice(r: Reservation) -> str:
    """Ask the seller's provider for the invoice of this reservation, then publish it.

    Called with no transaction open: nothing touches the database until the
    provider has answered.  Publishing is one compare-and-set by the state
    machine: still ``matching`` and still this reservation's hold (a sweeper
    may have abandoned it meanwhile).
    """
    from app.market import form_health

    created = ask_provider(r)
    if not invoice_created(created):
        return give_up_attempt(r, created)
    form_health.record_success(r.form_id)
    # Published only while this attempt is still the deposit's current one: a sweeper may have
    # abandoned it meanwhile, and then this invoice is never shown to anyone.
    published = DEPOSIT.transition(
        Deposit, r.deposit_id, "awaiting_payment", expect="matching", only_if={"hold_transfer_id": r.hold_id},
        **invoice_columns(created),
    )
    if published:
        audit.record("deposit.invoiced", target_type="deposit", target_id=r.deposit_id, payment_form_id=r.form_id)
    return "published" if published else "nothing"


def ask_provider(r: Reservation):
    """The provider's answer for this reservation: the invoice created, the provider's error, or None when the
    form is not usable.  Touches no database (it may run in a thread of its own)."""
    from app.connectors.payments.base import ProviderError, ProviderUnavailable

    if r.adapter is None:
        return None
    try:
        return r.adapter.create_invoice(r.invoice, r.idempotence_key)
    except (ProviderError, ProviderUnavailable) as exc:
        return exc


def invoice_created(answer) -> bool:
    return answer is not None and not isinstance(answer, Exception)


def give_up_attempt(r: Reservation, answer) -> str:
    """After no invoice (an unusable form, or the provider's error): count the failure, abandon the attempt."""
    from app.market import form_health

    if answer is None:
        abandon(r.deposit_id, r.hold_id, "payment form unavailable")
        return "abandoned"
    form_health.record_failure(r.form_id, answer)
    abandon(r.deposit_id, r.hold_id, "provider failed")
    log.warning("deposit %s: provider %s failed (%s)", r.deposit_id, r.kind, type(answer).__name__)
    return "abandoned"


def invoice_columns(created) -> dict:
    """What publishing stores of the provider's invoice (the first status poll in ten seconds)."""
    return {"provider_payment_id": created.provider_payment_id, "pay_url": created.pay_url,
            "sbp_payload": created.sbp_payload, "next_poll_at": utcnow() + timedelta(seconds=10)}


def status_of(deposit_id: int) -> str:
    status = db.session.scalar(sa.select(_d.c.status).where(_d.c.id == deposit_id))
    return status or "missing"


def still_waiting(deposit_id: int) -> bool:
    """Matching and not reserved: nobody is creating its invoice."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(_d).where(
        _d.c.id == deposit_id, _d.c.status == "matching", _d.c.hold_transfer_id.is_(None))) == 1


def match(deposit_id: int, exclude: set[int] | None = None) -> str:
    """Run matching to the end: published, failed, or nothing to do.  Returns the deposit's status.

    ``exclude``: requests already tried for this deposit (a batch's attempt that failed).
    """
    exclude = set(exclude or ())
    wait_until = time.monotonic() + BUSY_WAIT_SECONDS
    attempts = 0
    while attempts <= MAX_ATTEMPTS:
        outcome = reserve(deposit_id, exclude, may_wait=time.monotonic() < wait_until)
        db.session.commit()  # also releases the deposit's lock while we wait
        if outcome.status == "busy":
            time.sleep(random.uniform(0.005, 0.03))
            continue
        attempts += 1
        if outcome.reservation is None:
            return outcome.status
        exclude.add(outcome.reservation.request_id)
        result = create_invoice(outcome.reservation)
        db.session.commit()
        if result == "published":
            return "awaiting_payment"
        if result != "abandoned":
            return status_of(deposit_id)
    deposit = db.session.get(Deposit, deposit_id)
    if deposit.status == "matching" and deposit.hold_transfer_id is None:
        fail(deposit, str(_l("No seller can take this amount right now.")))
        db.session.commit()
    return deposit.status


def stuck_matching(older_than: timedelta = timedelta(seconds=30)) -> list[int]:
    """Deposits to re-drive one by one; the parts of a split purchase are not among them: they are invoiced
    all together or released all together (app.market.split_fill.stuck)."""
    return list(db.session.scalars(
        sa.select(Deposit.id).where(Deposit.status == "matching", Deposit.updated_at < utcnow() - older_than,
                                    ~is_split_part(Deposit.id))
        .order_by(Deposit.id).limit(200)
    ))


def deposits_of(user, limit: int = 50) -> list[Deposit]:
    return list(db.session.scalars(
        sa.select(Deposit).where(Deposit.buyer_id == user.id).order_by(Deposit.id.desc()).limit(limit)
    ))
