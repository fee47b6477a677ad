"""Matching a buyer's deposit to the first eligible seller, and creating the invoice.

Two short transactions around one provider call:

1. *reserve* — lock the deposit, take the first eligible withdrawal request in
   queue order (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises
   writers), hold the dollars with a pending ledger transfer escrow → buyer and
   take one of the request's open-invoice slots;
2. outside any transaction, create the invoice with the seller's provider;
3. *publish* — store the pay URL and move the deposit to ``awaiting_payment``.

A definite provider failure, an unreachable provider or an open circuit
*abandons* the attempt (the hold is voided, the slot freed) and the next seller
is tried, a bounded number of times.  A crash anywhere leaves a deposit in
``matching`` that the sweeper re-drives: with a hold and no invoice it asks the
same provider again with the same order id and idempotency key, which the
adapters make safe (CheckOrder, Idempotence-Key, a local link).  The buyer only
ever pays through a pay URL we published, so an invoice created at a provider
for an abandoned attempt can never be paid.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app import ledger
from app.database import utcnow
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.ledger.models import LedgerAccount, TransferKind
from app.models import User
from app.models.market import Deposit, WithdrawalRequest
from app.models.payment_form import PaymentForm
from app.services import audit, withdrawals
from app.services.quotes import Quote
from app.states import DEPOSIT

log = logging.getLogger(__name__)

#: sellers tried for one deposit before it fails
MAX_ATTEMPTS = 3
#: the ledger's own backstop for a hold, beyond the invoice's expiry
HOLD_BACKSTOP = timedelta(hours=1)


@dataclass(frozen=True)
class Availability:
    kind: str
    #: the largest single invoice the queue can serve now, kopecks
    max_kopecks: int
    #: the smallest invoice some eligible request accepts, kopecks
    min_kopecks: int


def _escrow_free():
    a = LedgerAccount
    return a.credits_posted - a.debits_posted - a.debits_pending


def _eligible(kind: str, buyer_id: int):
    w, f, u, a = WithdrawalRequest, PaymentForm, User, LedgerAccount
    return (
        sa.select(w)
        .join(f, f.id == w.payment_form_id)
        .join(u, u.id == w.seller_id)
        .join(a, a.id == w.escrow_account_id)
        .where(
            w.status == "active", w.kind == kind, w.seller_id != buyer_id,
            f.enabled.is_(True), f.deleted_at.is_(None), f.circuit == "closed",
            u.is_frozen.is_(False),
            w.open_invoices < w.max_open_invoices,
        )
    )


def first_eligible(deposit: Deposit, exclude: set[int]) -> WithdrawalRequest | None:
    """The first request in FIFO order that can take this whole deposit."""
    w = WithdrawalRequest
    query = (
        _eligible(deposit.kind, deposit.buyer_id)
        .where(w.min_invoice_kopecks <= deposit.amount_kopecks, w.max_invoice_kopecks >= deposit.amount_kopecks,
               _escrow_free() >= deposit.usd_cents)
        .order_by(w.queued_at, w.id)
        .limit(1)
        .with_for_update(of=w, skip_locked=True)
    )
    if exclude:
        query = query.where(w.id.not_in(exclude))
    return db.session.scalar(query)


def availability(buyer_id: int, rates: dict[str, int]) -> list[Availability]:
    """Per provider kind, what the queue can serve right now (for the deposit form)."""
    w = WithdrawalRequest
    result = []
    for kind, rate in rates.items():
        rows = db.session.execute(
            _eligible(kind, buyer_id).with_only_columns(w.min_invoice_kopecks, w.max_invoice_kopecks, _escrow_free())
            .where(_escrow_free() > 0)
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
    existing = db.session.scalar(sa.select(Deposit).where(Deposit.request_key == request_key))
    if existing is not None:
        if existing.buyer_id != buyer.id:
            raise ValidationFailed(str(_l("This form was already used; reload the page.")))
        return existing
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


# --- step 1: reserve ----------------------------------------------------------------------

def _lock_deposit(deposit_id: int) -> Deposit | None:
    return db.session.scalar(sa.select(Deposit).where(Deposit.id == deposit_id).with_for_update())


def reserve(deposit_id: int, exclude: set[int], lifetime_seconds: int) -> Deposit | None:
    """Hold dollars of the first eligible seller for this deposit.

    Returns the deposit with its hold (maybe one made earlier and not yet
    published), or None when it is no longer matching.  Fails the deposit when
    no seller can take it.
    """
    deposit = _lock_deposit(deposit_id)
    if deposit is None or deposit.status != "matching":
        return None
    if deposit.hold_transfer_id is not None:
        return deposit  # a reservation exists (a crashed or concurrent run): finish it
    while deposit.match_attempts < MAX_ATTEMPTS:
        request = first_eligible(deposit, exclude)
        if request is None:
            break
        attempt = deposit.match_attempts + 1
        expires_at = utcnow() + timedelta(seconds=lifetime_seconds)
        try:
            hold = ledger.reserve(
                key=f"deposit:{deposit.id}:hold:{attempt}", debit=request.escrow_account_id,
                credit=ledger.wallet_of(deposit.buyer_id), amount=deposit.usd_cents,
                kind=TransferKind.PURCHASE_HOLD, timeout_at=expires_at + HOLD_BACKSTOP,
                memo=f"deposit {deposit.id}", event=f"deposit:{deposit.id}",
            )
        except ledger.InsufficientFunds:
            exclude.add(request.id)  # sold meanwhile; the next one
            continue
        taken = db.session.execute(
            sa.update(WithdrawalRequest)
            .where(WithdrawalRequest.id == request.id, WithdrawalRequest.status == "active",
                   WithdrawalRequest.open_invoices < WithdrawalRequest.max_open_invoices)
            .values(open_invoices=WithdrawalRequest.open_invoices + 1, updated_at=utcnow())
        ).rowcount
        if taken != 1:
            raise RuntimeError("a locked eligible request lost its slot")  # cannot happen under the row lock
        deposit.match_attempts = attempt
        deposit.withdrawal_id = request.id
        deposit.payment_form_id = request.payment_form_id
        deposit.hold_transfer_id = hold.id
        deposit.expires_at = expires_at
        deposit.order_id = f"{uuid.uuid4().hex[:24]}-{attempt}"
        deposit.idempotence_key = uuid.uuid4().hex
        db.session.flush()
        return deposit
    fail(deposit, str(_l("No seller can take this amount right now.")))
    return None


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
    from app.services.payment_forms import notification_url
    from app.web.urls import public_url

    return InvoiceRequest(
        order_id=deposit.order_id, amount=deposit.amount_kopecks,
        description=f"PokerPay {deposit.order_id[:12]}",
        return_url=public_url("deposits.show", deposit_id=deposit.id),
        expires_at=deposit.expires_at, notification_url=notification_url(deposit.payment_form),
    )


def create_invoice(deposit_id: int) -> str:
    """Ask the seller's provider for the invoice of the current attempt (no transaction open)."""
    from app.connectors.payments.base import ProviderError, ProviderUnavailable
    from app.services import form_health, payment_forms

    deposit = db.session.get(Deposit, deposit_id)
    if deposit is None or deposit.status != "matching" or deposit.hold_transfer_id is None:
        return "nothing"
    hold_id, form = deposit.hold_transfer_id, deposit.payment_form
    form_id, kind, healthy = form.id, form.kind, form.healthy
    request = invoice_request(deposit)
    idempotency_key = deposit.idempotence_key
    adapter = payment_forms.adapter_of(form) if healthy else None
    # Never hold a transaction (on SQLite: the write lock) across a network call;
    # nothing below touches the database until the provider has answered.
    db.session.commit()
    if adapter is None:
        abandon(deposit_id, hold_id, "payment form unavailable")
        return "abandoned"
    try:
        created = adapter.create_invoice(request, idempotency_key)
    except (ProviderError, ProviderUnavailable) as exc:
        form_health.record_failure(form_id, exc)
        abandon(deposit_id, hold_id, "provider failed")
        log.warning("deposit %s: provider %s failed (%s)", deposit_id, kind, type(exc).__name__)
        return "abandoned"
    form_health.record_success(form_id)
    current = _lock_deposit(deposit_id)
    if current is None or current.hold_transfer_id != hold_id:
        return "nothing"  # abandoned meanwhile by a sweeper: this invoice is never shown to anyone
    published = DEPOSIT.transition(
        Deposit, deposit_id, "awaiting_payment", expect="matching",
        provider_payment_id=created.provider_payment_id, pay_url=created.pay_url,
        sbp_payload=created.sbp_payload, next_poll_at=utcnow() + timedelta(seconds=10),
    )
    if published:
        audit.record("deposit.invoiced", target_type="deposit", target_id=deposit_id, payment_form_id=form_id)
    return "published" if published else "nothing"


def match(deposit_id: int) -> str:
    """Run matching to the end: published, failed, or nothing to do."""
    from app.services.settings import current_settings

    exclude: set[int] = set()
    for _ in range(MAX_ATTEMPTS + 1):
        lifetime = current_settings().invoice_lifetime_seconds
        deposit = reserve(deposit_id, exclude, lifetime)
        db.session.commit()
        if deposit is None:
            return db.session.get(Deposit, deposit_id).status if db.session.get(Deposit, deposit_id) else "missing"
        if deposit.withdrawal_id is not None:
            exclude.add(deposit.withdrawal_id)
        outcome = create_invoice(deposit_id)
        db.session.commit()
        if outcome != "abandoned":
            return db.session.get(Deposit, deposit_id).status
    deposit = db.session.get(Deposit, deposit_id)
    if deposit.status == "matching" and deposit.hold_transfer_id is None:
        fail(deposit, str(_l("No seller can take this amount right now.")))
        db.session.commit()
    return deposit.status


def stuck_matching(older_than: timedelta = timedelta(seconds=30)) -> list[int]:
    return list(db.session.scalars(
        sa.select(Deposit.id).where(Deposit.status == "matching", Deposit.updated_at < utcnow() - older_than)
        .order_by(Deposit.id).limit(200)
    ))


def deposits_of(user, limit: int = 50) -> list[Deposit]:
    return list(db.session.scalars(
        sa.select(Deposit).where(Deposit.buyer_id == user.id).order_by(Deposit.id.desc()).limit(limit)
    ))
