"""One purchase, several sellers: the split fill (issue #20, part 1).

A purchase larger than any single seller's request takes (its free dollars, its
largest invoice, the platform's largest invoice) used to fail with "no seller"
although the queue as a whole held enough.  Here it is offered, before anything
is written, as parts taken from the queue in FIFO order — "2 payments:
6 000 ₽ + 4 000 ₽" — and, if the buyer accepts, made of ordinary deposits:

1. *plan* (:func:`plan_for`) — walk the requests the matcher could give this
   buyer, in queue order, with the eligibility rule the single path and the buy
   form's offer use (:func:`app.market.offers.servable`, written once); each
   request gives at most one part, as large as it takes; at most
   ``split_max_parts`` parts (an ops setting).  Pure arithmetic in
   :func:`plan_parts`.
2. *accept* (:func:`accept`) — under the buyer's row lock (a double click
   waits, then finds the first split by its request key), plan again; if the
   plan is not the one the buyer saw, say so and show the new one.  Else, in
   one savepoint: lock the plan's requests and check each part against the same
   rule under the lock, insert the split, its deposits and their links, take one
   open-invoice slot of each request and hold every part's dollars with one
   :func:`app.ledger.reserve_many` — all of it, or (a slot gone, a hold the
   ledger refuses) none of it, and the plan is tried again from fresh.
3. *invoice* (:func:`finish`, the job and the sweeper) — ask each seller's
   provider for its part's invoice, outside any transaction; then, under the
   split's lock, publish them all (each part moves ``matching →
   awaiting_payment`` as any deposit does) or, if any part got no invoice,
   release them all: every hold voided, every slot given back, every part
   ``failed`` with the reason, in one transaction.  The buyer only ever pays
   through a pay URL we published, so an invoice a provider made for a part
   that was released can never be paid.

From there each part *is* an ordinary deposit: it settles, expires, is paid
late or disputed on its own by :mod:`app.market.invoices`, so what the buyer
paid is credited even when another part expires.  Parts are never matched one
by one: they are created with their holds, and
:func:`app.market.matching.stuck_matching` leaves them to :func:`stuck` here.
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app import ledger
from app.core import audit, user_lock
from app.database import utcnow
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.market import matching, offers, quotes, withdrawals
from app.market.quotes import Quote
from app.models.market import Deposit, WithdrawalRequest
from app.models.settings import PROVIDER_KINDS, PlatformSettings
from app.models.split import SplitPart, SplitPurchase
from app.money import format_rub
from app.people import user_limits
from app.states import DEPOSIT

log = logging.getLogger(__name__)

#: fresh plans tried when a seller's slot or dollars went to someone else between the plan and its locks
RESERVE_TRIES = 3
#: a split whose parts still wait for their invoices this long is re-driven by the sweeper
STUCK_AFTER = timedelta(seconds=30)
#: the states of a split as a whole (derived from its parts' statuses, see SplitView.state)
SPLIT_STATES = ("creating", "open", "settled", "failed", "ended")
#: part states in which the buyer can still pay or the money is on its way
LIVE_PART_STATES = ("matching", "awaiting_payment", "paid")

_d = Deposit.__table__
_w = WithdrawalRequest.__table__
_p = SplitPart.__table__


# --- 1. the plan ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PlannedPart:
    request_id: int
    escrow_account_id: int
    payment_form_id: int
    quote: Quote

    @property
    def amount_kopecks(self) -> int:
        return self.quote.amount_kopecks


@dataclass(frozen=True)
class SplitPlan:
    """The offer the buyer sees, and what acceptance reserves: one part per request, in queue order."""

    kind: str
    amount_kopecks: int
    parts: tuple[PlannedPart, ...]

    @property
    def amounts(self) -> tuple[int, ...]:
        return tuple(p.amount_kopecks for p in self.parts)

    @property
    def receives_cents(self) -> int:
        return sum(p.quote.buyer_receives_cents for p in self.parts)

    @property
    def fee_cents(self) -> int:
        return sum(p.quote.buyer_fee_cents for p in self.parts)

    def amounts_text(self) -> str:
        """"6 000,00 ₽ + 4 000,00 ₽"."""
        return " + ".join(format_rub(a) for a in self.amounts)


def plan_parts(amount_kopecks: int, requests: list[offers.Servable], max_parts: int,
               smallest_part: int) -> list[tuple[offers.Servable, int]] | None:
    """Cover ``amount_kopecks`` with at most ``max_parts`` parts, one per request, first come first served.

    Each request in queue order gives as much as it takes (its ``high``), unless what would be left is
    smaller than any invoice may be (``smallest_part``, the platform's smallest invoice): then it gives that
    much less, so the next one can take the rest.  A request whose smallest invoice is more than what is
    left is passed over.  Returns (request, kopecks) pairs, or None when the queue cannot cover the amount.
    """
    parts: list[tuple[offers.Servable, int]] = []
    remaining = amount_kopecks
    for r in requests:
        if len(parts) >= max_parts:
            break
        if remaining < r.low:
            continue
        take = min(remaining, r.high)
        if 0 < remaining - take < smallest_part:
            take = remaining - smallest_part
            if take < r.low:
                continue
        parts.append((r, take))
        remaining -= take
        if remaining == 0:
            return parts
    return None


def plan_for(buyer_id: int, settings: PlatformSettings, kind: str, amount_kopecks: int) -> SplitPlan | None:
    """The split offered for this amount now, or None (splitting off, one seller takes it whole, or the
    queue cannot cover it in ``split_max_parts`` parts).  Reads, never writes."""
    if kind not in PROVIDER_KINDS or settings.split_max_parts < 2:
        return None
    return _plan(offers.servable(kind, buyer_id, settings), settings, kind, amount_kopecks)


def _plan(requests: list[offers.Servable], settings: PlatformSettings, kind: str, amount_kopecks: int
          ) -> SplitPlan | None:
    if any(r.low <= amount_kopecks <= r.high for r in requests):
        return None  # one seller takes it whole: an ordinary purchase
    found = plan_parts(amount_kopecks, requests, settings.split_max_parts, settings.invoice_min_kopecks)
    if found is None or len(found) < 2:
        return None
    try:
        parts = tuple(PlannedPart(r.request_id, r.escrow_account_id, r.payment_form_id,
                                  quotes.quote(kind, take, settings)) for r, take in found)
    except ValidationFailed:
        return None  # a part too small to buy a cent after the fee
    return SplitPlan(kind=kind, amount_kopecks=amount_kopecks, parts=parts)


def _beyond(requests: list[offers.Servable], settings: PlatformSettings, amount_kopecks: int) -> str | None:
    """What the queue could take split, in words, when that is more than one seller takes but less than asked."""
    # the most the FIFO planner can cover: the first ``split_max_parts`` requests, each at its largest
    most = sum(r.high for r in requests[:settings.split_max_parts])
    if not requests or most <= max(r.high for r in requests) or amount_kopecks <= most:
        return None
    return str(_l("Even split into up to %(n)d payments, sellers take at most %(max)s right now.",
                  n=settings.split_max_parts, max=format_rub(most)))


def refusal_beyond_one_seller(buyer_id: int, settings: PlatformSettings, kind: str, amount_kopecks: int
                              ) -> str | None:
    """When even a split cannot take the amount, what the queue could take split, in words (or None when
    splitting is off or would not add anything to what one seller takes)."""
    if kind not in PROVIDER_KINDS or settings.split_max_parts < 2:
        return None
    return _beyond(offers.servable(kind, buyer_id, settings), settings, amount_kopecks)


def offer_or_refusal(buyer_id: int, settings: PlatformSettings, kind: str, amount_kopecks: int
                     ) -> tuple[SplitPlan | None, str | None]:
    """For an amount no single seller takes: the split offered, else the words the refusal adds (or None).
    One read of the queue."""
    if kind not in PROVIDER_KINDS or settings.split_max_parts < 2:
        return None, None
    requests = offers.servable(kind, buyer_id, settings)
    plan = _plan(requests, settings, kind, amount_kopecks)
    return (plan, None) if plan is not None else (None, _beyond(requests, settings, amount_kopecks))


# --- 2. accept: reserve every part, or none ----------------------------------------------------

class OfferChanged(Conflict):
    """The queue moved since the buyer saw the offer: nothing was reserved; ``plan`` is the offer now (or None)."""

    def __init__(self, message: str, plan: SplitPlan | None):
        super().__init__(message)
        self.plan = plan


class StalePlan(Exception):
    """A planned part no longer fits its request under the lock: roll back the savepoint, plan again."""


def parse_amounts(text: str) -> tuple[int, ...]:
    """The offer's parts as the accept form carries them ("600000,400000"); malformed → ValidationFailed."""
    try:
        amounts = tuple(int(a) for a in text.split(","))
    except (AttributeError, ValueError):
        raise ValidationFailed(str(_l("Reload the page and try again."))) from None
    if not 2 <= len(amounts) <= 10 or any(a <= 0 or a > 10**15 for a in amounts):
        raise ValidationFailed(str(_l("Reload the page and try again.")))
    return amounts


def _by_key(buyer, request_key: str) -> SplitPurchase | None:
    split = db.session.scalar(sa.select(SplitPurchase).where(SplitPurchase.request_key == request_key))
    if split is not None and split.buyer_id != buyer.id:
        raise ValidationFailed(str(_l("This form was already used; reload the page.")))
    return split


def accept(buyer, settings: PlatformSettings, kind: str, amount_kopecks: int, shown: tuple[int, ...],
           request_key: str) -> SplitPurchase:
    """The buyer accepts the split they were shown: reserve all its parts in one transaction, or none.

    ``shown``: the parts' amounts the offer showed.  A double click or a retry (the same ``request_key``)
    returns the split made the first time.  Raises :class:`OfferChanged` (nothing written) when the queue's
    offer is no longer the one shown, ValidationFailed when there is none any more.
    """
    user_lock.lock_owner(buyer.id)  # a double click waits here, then finds the first split by its key
    existing = _by_key(buyer, request_key)
    if existing is not None:
        return existing
    if kind not in PROVIDER_KINDS:
        raise ValidationFailed(str(_l("Unknown payment method.")))
    if sum(shown) != amount_kopecks:
        raise ValidationFailed(str(_l("Reload the page and try again.")))
    user_limits.check_deposit(buyer, amount_kopecks)
    for _ in range(RESERVE_TRIES):
        plan = plan_for(buyer.id, settings, kind, amount_kopecks)
        if plan is None:
            raise OfferChanged(str(_l("Sellers can no longer take %(amount)s split; nothing was reserved.",
                                      amount=format_rub(amount_kopecks))), None)
        if plan.amounts != tuple(shown):
            raise OfferChanged(str(_l("The sellers' offer changed; nothing was reserved. This is the split now.")),
                               plan)
        savepoint = db.session.begin_nested()
        try:
            split = reserve_plan(buyer, plan, request_key, settings)
        except StalePlan:
            savepoint.rollback()
            continue
        except IntegrityError:
            # the same key, committed meanwhile by another transaction that did not take the buyer's lock
            savepoint.rollback()
            existing = _by_key(buyer, request_key)
            if existing is None:
                raise
            return existing
        savepoint.commit()
        return split
    raise ValidationFailed(str(_l("Other buyers are taking these sellers right now; nothing was reserved. "
                                  "Try again in a moment.")))


def reserve_plan(buyer, plan: SplitPlan, request_key: str, settings: PlatformSettings) -> SplitPurchase:
    """Every part of ``plan``, reserved; raises :class:`StalePlan` (the caller rolls back) if one cannot be."""
    ids = [p.request_id for p in plan.parts]
    locked = {r.request_id: r for r in offers.servable(plan.kind, buyer.id, settings, request_ids=ids, lock=True)}
    for p in plan.parts:
        r = locked.get(p.request_id)
        if r is None or not r.low <= p.amount_kopecks <= r.high:
            raise StalePlan
    split = SplitPurchase(buyer_id=buyer.id, kind=plan.kind, amount_kopecks=plan.amount_kopecks,
                          parts=len(plan.parts), request_key=request_key)
    db.session.add(split)
    db.session.flush()  # the key's UNIQUE first: a duplicate fails before anything else is written
    deposits = []
    for n, p in enumerate(plan.parts, start=1):
        q = p.quote
        deposit = Deposit(order_id=uuid.uuid4().hex, buyer_id=buyer.id, kind=plan.kind, status="matching",
                          amount_kopecks=q.amount_kopecks, rate_kopecks=q.rate_kopecks, usd_cents=q.usd_cents,
                          buyer_fee_cents=q.buyer_fee_cents, settings_id=q.settings_id,
                          request_key=_part_key(request_key, n))
        db.session.add(deposit)
        deposits.append(deposit)
    db.session.flush()
    db.session.add_all([SplitPart(split_id=split.id, part=n, deposit_id=d.id) for n, d in enumerate(deposits, 1)])
    now = utcnow()
    for request_id in sorted(ids):
        taken = db.session.execute(
            sa.update(_w).where(_w.c.id == request_id, _w.c.status == "active",
                                _w.c.open_invoices < _w.c.max_open_invoices)
            .values(open_invoices=_w.c.open_invoices + 1, updated_at=now)
        ).rowcount
        if taken != 1:
            raise StalePlan
    expires_at = now + timedelta(seconds=settings.invoice_lifetime_seconds)
    wallet_id = ledger.wallet_of(buyer.id).id
    holds = [matching.hold_of(d.id, 1, p.escrow_account_id, wallet_id, d.usd_cents, expires_at)
             for d, p in zip(deposits, plan.parts, strict=True)]
    try:
        hold_ids = ledger.reserve_many(holds)  # all or none: one simulated check before any is written
    except ledger.InsufficientFunds:
        raise StalePlan from None
    attempts = [matching.new_attempt(d.id, 1, p.request_id, p.payment_form_id, hold_id, expires_at)
                for d, p, hold_id in zip(deposits, plan.parts, hold_ids, strict=True)]
    db.session.connection().execute(matching.RECORD_ATTEMPT, attempts)
    for d in deposits:
        matching.forget(Deposit, d.id)
    audit.record("split.accepted", actor=buyer, target=split, kind=plan.kind, amount_kopecks=plan.amount_kopecks,
                 parts=list(plan.amounts))
    for n, d in enumerate(deposits, start=1):
        audit.record("deposit.created", actor=buyer, target_type="deposit", target_id=d.id, kind=plan.kind,
                     amount_kopecks=d.amount_kopecks, split_id=split.id, part=n)
    return split


def _part_key(request_key: str, n: int) -> str:
    """Each part's own request key (the deposit's UNIQUE), derived from the split's."""
    return hashlib.blake2s(f"{request_key}:{n}".encode(), digest_size=16).hexdigest()


# --- 3. the invoices: all published, or all released ----------------------------------------

def _parts(split_id: int) -> list[Deposit]:
    return list(db.session.scalars(
        sa.select(Deposit).join(SplitPart, SplitPart.deposit_id == Deposit.id)
        .where(SplitPart.split_id == split_id).order_by(SplitPart.part)
        .execution_options(populate_existing=True)))


def _lock_split(split_id: int) -> SplitPurchase | None:
    return db.session.scalar(sa.select(SplitPurchase).where(SplitPurchase.id == split_id).with_for_update())


def _waiting(parts: list[Deposit]) -> list[Deposit]:
    return [d for d in parts if d.status == "matching" and d.hold_transfer_id is not None]


def _reservation(deposit: Deposit) -> matching.Reservation:
    from app.market import payment_forms

    form = deposit.payment_form
    return matching.Reservation(
        deposit_id=deposit.id, hold_id=deposit.hold_transfer_id, request_id=deposit.withdrawal_id, form_id=form.id,
        kind=form.kind, invoice=matching.invoice_request(deposit), idempotence_key=deposit.idempotence_key,
        adapter=payment_forms.adapter_of(form) if form.healthy else None,
    )


def finish(split_id: int) -> str:
    """Create the invoices of a reserved split and publish them all, or release them all.  Returns
    "published", "released" or "nothing" (already done, by another run or earlier).

    Commits: the provider calls are made with no transaction open (as :func:`app.market.matching.match`).
    Safe to run twice or at once: the providers are asked with each part's own order id and idempotency key,
    and the outcome is decided under the split's row lock on the parts as they are then.
    """
    from app.market import form_health

    waiting = _waiting(_parts(split_id))
    if not waiting:
        db.session.commit()
        return "nothing"
    reservations = [_reservation(d) for d in waiting]
    db.session.commit()
    answers = [matching.ask_provider(r) for r in reservations]
    if _lock_split(split_id) is None:
        db.session.rollback()
        return "nothing"
    current = {d.id: d for d in _waiting(_parts(split_id))}
    if any(current.get(r.deposit_id) is None or current[r.deposit_id].hold_transfer_id != r.hold_id
           for r in reservations):
        db.session.commit()  # another run decided meanwhile
        return "nothing"
    failed = [n for n, answer in enumerate(answers, start=1) if not matching.invoice_created(answer)]
    if failed:
        for r, answer in zip(reservations, answers, strict=True):
            if answer is not None and not matching.invoice_created(answer):
                form_health.record_failure(r.form_id, answer)
        _release_all(split_id, list(current.values()), failed[0], len(reservations))
        db.session.commit()
        log.warning("split %s: part %s got no invoice; every part released", split_id, failed[0])
        return "released"
    for r, answer in zip(reservations, answers, strict=True):
        published = DEPOSIT.transition(Deposit, r.deposit_id, "awaiting_payment", expect="matching",
                                       only_if={"hold_transfer_id": r.hold_id}, **matching.invoice_columns(answer))
        if not published:  # cannot happen under the split's lock with the parts just read; refuse half a split
            raise RuntimeError(f"split {split_id}: part deposit {r.deposit_id} moved under the split's lock")
        form_health.record_success(r.form_id)
        audit.record("deposit.invoiced", target_type="deposit", target_id=r.deposit_id, payment_form_id=r.form_id,
                     split_id=split_id)
    audit.record("split.invoiced", target_type="split_purchase", target_id=split_id, parts=len(reservations))
    db.session.commit()
    return "published"


def _release_all(split_id: int, parts: list[Deposit], failed_part: int, total: int) -> None:
    """Void every part's hold, give back every slot, fail every part with the reason (one transaction)."""
    reason = str(_l("Payment %(n)d of %(total)d could not be created at the payment provider, so none were: "
                    "the dollars held for the other payments were released. Nothing was charged.",
                    n=failed_part, total=total))[:255]
    holds = {d.id: db.session.get(ledger.LedgerTransfer, d.hold_transfer_id, populate_existing=True) for d in parts}
    # every account of every hold first, in id order (two releases never wait on each other in a cycle)
    ledger.lock(*sorted({a for h in holds.values() for a in (h.debit_account_id, h.credit_account_id)}))
    for d in sorted(parts, key=lambda d: d.withdrawal_id):
        if holds[d.id].is_open:  # the ledger's backstop may have expired it
            ledger.void_pending(key=f"deposit:{d.id}:split-release", pending_id=d.hold_transfer_id)
        request_id = d.withdrawal_id
        DEPOSIT.transition(Deposit, d.id, "failed", expect="matching", reason=reason, withdrawal_id=None,
                           payment_form_id=None, hold_transfer_id=None)
        withdrawals.after_invoice_ended(request_id)
        audit.record("deposit.failed", target_type="deposit", target_id=d.id, reason=reason, split_id=split_id)
    audit.record("split.released", target_type="split_purchase", target_id=split_id, reason=reason,
                 failed_part=failed_part)


def stuck(older_than: timedelta = STUCK_AFTER, limit: int = 100) -> list[int]:
    """Splits with parts still waiting for their invoices (a lost job, a crash between the steps)."""
    return list(db.session.scalars(
        sa.select(_p.c.split_id).join(_d, _d.c.id == _p.c.deposit_id)
        .where(_d.c.status == "matching", _d.c.updated_at < utcnow() - older_than)
        .group_by(_p.c.split_id).order_by(_p.c.split_id).limit(limit)))


# --- the buyer's page --------------------------------------------------------------------------

@dataclass(frozen=True)
class SplitView:
    split: SplitPurchase
    #: the parts' deposits, part 1 first
    parts: list[Deposit]

    @property
    def state(self) -> str:
        """One word for the whole purchase (labels: ``app.web.labels.SPLIT_STATE``)."""
        statuses = {d.status for d in self.parts}
        if "matching" in statuses:
            return "creating"
        if statuses == {"failed"}:
            return "failed"
        if statuses == {"settled"}:
            return "settled"
        if statuses & {"awaiting_payment", "paid", "disputed"}:
            return "open"
        return "ended"

    @property
    def live(self) -> bool:
        return any(d.status in LIVE_PART_STATES for d in self.parts)

    @property
    def paid_kopecks(self) -> int:
        """Rubles of the parts settled so far."""
        return sum(d.paid_kopecks or d.amount_kopecks for d in self.parts if d.status == "settled")

    @property
    def credited_cents(self) -> int:
        return sum(d.usd_cents - d.buyer_fee_cents for d in self.parts if d.status == "settled")

    @property
    def receives_cents(self) -> int:
        return sum(d.usd_cents - d.buyer_fee_cents for d in self.parts)

    @property
    def reason(self) -> str | None:
        return next((d.reason for d in self.parts if d.status == "failed" and d.reason), None)

    def version(self) -> str:
        """Changes whenever the parts' fragment would render differently (the poll answers 204 otherwise)."""
        shown = [(d.id, d.status, d.updated_at.isoformat() if d.updated_at else "") for d in self.parts]
        return hashlib.blake2s(repr(shown).encode(), digest_size=8).hexdigest()


def get_own(user, split_id: int) -> SplitView:
    """The buyer's own split; someone else's is "no such purchase" (404)."""
    split = db.session.get(SplitPurchase, split_id)
    if split is None or split.buyer_id != user.id:
        raise NotFound(str(_l("No such purchase.")))
    return SplitView(split, _parts(split_id))


def part_of(deposit_id: int) -> tuple[int, int, int] | None:
    """(split id, part number, parts) when this deposit is a part of a split, for its own page."""
    row = db.session.execute(
        sa.select(SplitPart.split_id, SplitPart.part, SplitPurchase.parts)
        .join(SplitPurchase, SplitPurchase.id == SplitPart.split_id).where(SplitPart.deposit_id == deposit_id)
    ).one_or_none()
    return tuple(row) if row is not None else None

