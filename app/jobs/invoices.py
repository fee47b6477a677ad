"""Invoice jobs: matching, provider events, status polling, expiry, and their sweepers.

Every job takes ids and is safe to run twice or concurrently; the periodic
sweepers find unfinished work in the database, so a lost job only delays it.
"""
from __future__ import annotations

import logging

from app.core.after_commit import handles
from app.database import utcnow
from app.extensions import db
from app.jobs import job
from app.market import invoices, matching, matching_batch, split_fill
from app.models.market import Deposit
from app.models.provider_event import ProviderEvent

log = logging.getLogger(__name__)


@handles("split.invoice")
@job
def invoice_split(split_id: int) -> str:
    """After the commit that reserved a split's parts: create and publish their invoices (all or none)."""
    return split_fill.finish(split_id)


@handles("deposit.match")
@job
def match_deposit(deposit_id: int) -> str:
    """Match this deposit, and with it the others waiting now (one matcher, one reservation for all)."""
    taken = matching_batch.match_waiting(deposit_id)
    if deposit_id in taken:
        return taken[deposit_id]
    if matching.still_waiting(deposit_id):
        # locked by another matcher's claim just now, or out of attempts: match waits for it and knows
        return matching.match(deposit_id)
    # past matching, or reserved by another matcher that is finishing it (the sweeper does, if that one died)
    return matching.status_of(deposit_id)


def _adapter_for_deposit(deposit: Deposit):
    from app.market.payment_forms import adapter_of

    return adapter_of(deposit.payment_form)


def process_event_now(event_id: int) -> str:
    """Apply one verified provider notification to its invoice (exactly once)."""
    from app.connectors.payments.base import PaymentConnectorError

    event = db.session.get(ProviderEvent, event_id)
    if event is None or event.processed_at is not None:
        return "done"
    deposit = db.session.scalar(
        db.select(Deposit).where(
            Deposit.payment_form_id == event.payment_form_id,
            db.or_(Deposit.provider_payment_id == event.provider_payment_id,
                   Deposit.order_id == (event.order_id or "\x00")),
        )
    )
    outcome = "no such invoice"
    if deposit is not None:
        status, amount = event.status, event.amount
        # Unsigned notification (YooKassa): believe only what the provider says with the seller's credentials.
        # A label that is paid again after it settled (YooMoney): settlement needs everything the provider
        # holds under it, read back the same way, to tell a second payment from this one reported again.
        if event.needs_refetch or (status == "paid" and invoices.repayable(deposit)):
            adapter = _adapter_for_deposit(deposit)
            payment_id = deposit.provider_payment_id
            db.session.commit()
            try:
                fresh = adapter.get_status(provider_payment_id=payment_id)
            except PaymentConnectorError:
                return "retry later"
            if not event.needs_refetch and fresh.status != "paid":
                return "retry later"  # the signed payment is not in the history yet: the sweeper comes back
            status, amount = fresh.status, fresh.amount_paid
        if status == "paid":
            outcome = invoices.settle_paid(deposit.id, amount, source=f"event:{event.kind}",
                                           event_key=event.event_key, provider_event_id=event.id)
            if outcome == "matching":
                db.session.commit()
                return "too early"  # not yet published: the sweeper comes back to this event
        else:
            outcome = f"status {status}"
    event = db.session.get(ProviderEvent, event_id)
    event.processed_at = utcnow()
    event.outcome = outcome[:64]
    db.session.commit()
    return outcome


@handles("provider_event.settle")
@job
def process_provider_event(event_id: int) -> str:
    return process_event_now(event_id)


def poll_one(deposit_id: int) -> str:
    """Ask the provider for an invoice's status; settle if paid."""
    from app.connectors.payments.base import PaymentConnectorError

    deposit = db.session.get(Deposit, deposit_id)
    if deposit is None or deposit.status not in ("awaiting_payment", *invoices.LATE_PAYABLE):
        return "done"
    adapter = _adapter_for_deposit(deposit)
    payment_id, order_id = deposit.provider_payment_id, deposit.order_id
    invoices.schedule_next_poll(deposit_id)
    db.session.commit()
    try:
        status = adapter.get_status(provider_payment_id=payment_id, order_id=order_id)
    except PaymentConnectorError:
        return "unavailable"
    if status.status == "paid":
        outcome = invoices.settle_paid(deposit_id, status.amount_paid, source="poll")
        db.session.commit()
        return outcome
    return status.status


def expire_one(deposit_id: int) -> str:
    """Cancel at the provider first; a payment that slipped in settles instead of expiring."""
    from app.connectors.payments.base import PaymentConnectorError

    deposit = db.session.get(Deposit, deposit_id)
    if deposit is None or deposit.status != "awaiting_payment" or deposit.expires_at > utcnow():
        return "not due"
    adapter = _adapter_for_deposit(deposit)
    payment_id = deposit.provider_payment_id
    db.session.commit()
    try:
        status = adapter.cancel(payment_id)
    except PaymentConnectorError:
        return "retry later"  # the next sweep tries again; the hold stays until we know
    if status.status == "paid":
        outcome = invoices.settle_paid(deposit_id, status.amount_paid, source="cancel-found-paid")
    else:
        outcome = invoices.expire(deposit_id)
    db.session.commit()
    return outcome


@job
def sweep_invoices() -> dict[str, int]:
    """Periodic: expire due invoices, poll open ones, re-drive stuck matching and unprocessed events."""
    counts = {"expired": 0, "polled": 0, "rematched": 0, "splits": 0, "events": 0}
    for deposit_id in invoices.due_for_expiry():
        expire_one(deposit_id)
        counts["expired"] += 1
    for deposit_id in invoices.due_for_poll():
        poll_one(deposit_id)
        counts["polled"] += 1
    for deposit_id in matching.stuck_matching():
        matching.match(deposit_id)
        counts["rematched"] += 1
    for split_id in split_fill.stuck():
        split_fill.finish(split_id)
        counts["splits"] += 1
    for event_id in db.session.scalars(
        db.select(ProviderEvent.id).where(ProviderEvent.processed_at.is_(None)).order_by(ProviderEvent.id).limit(200)
    ).all():
        process_event_now(event_id)
        counts["events"] += 1
    return counts


def recheck_settled_one(deposit_id: int) -> str:
    """Read a settled label back: money the provider holds beyond the invoice is a payment exception, once.

    Keyed by the total the label holds: reading the same total again records nothing, and the lost
    notification of that payment, should it turn up after all, finds the money already accounted for
    (``invoices.settle_paid`` compares with the invoice plus the exceptions recorded, under the deposit's lock).
    """
    from app.connectors.payments.base import PaymentConnectorError

    deposit = db.session.get(Deposit, deposit_id)
    if deposit is None or not invoices.repayable(deposit):
        return "done"
    adapter = _adapter_for_deposit(deposit)
    payment_id, order_id = deposit.provider_payment_id, deposit.order_id
    db.session.commit()
    try:
        status = adapter.get_status(provider_payment_id=payment_id, order_id=order_id)
    except PaymentConnectorError:
        return "unavailable"
    if status.status != "paid":
        return status.status
    outcome = invoices.settle_paid(deposit_id, status.amount_paid, source="label-recheck",
                                   event_key=f"recheck:{deposit_id}:{status.amount_paid}")
    db.session.commit()
    return outcome


def recheck_settled_labels_once() -> dict[str, int]:
    """Read back the recently settled YooMoney labels, so a second payment is never missed."""
    counts = {"checked": 0, "exceptions": 0}
    for deposit_id in invoices.settled_to_recheck():
        counts["checked"] += 1
        if recheck_settled_one(deposit_id) == "payment exception":
            counts["exceptions"] += 1
    return counts


@job
def recheck_settled_labels() -> dict[str, int]:
    """Periodic (every 15 minutes): :func:`recheck_settled_labels_once`."""
    return recheck_settled_labels_once()


def auto_resolve_disputes_once(limit: int | None = None) -> dict[str, int]:
    """Resolve the clear-cut disputes (the provider says paid, right amount); leave the rest to ops."""
    from app.operations import disputes

    counts = {"settled": 0, "left": 0}
    ids = [d.id for d in disputes.open_disputes(limit or disputes.AUTO_BATCH)]
    db.session.rollback()
    for deposit_id in ids:
        if disputes.auto_resolve_one(deposit_id) == "settled":
            counts["settled"] += 1
        else:
            counts["left"] += 1
    return counts


@job
def auto_resolve_disputes() -> dict[str, int]:
    """Periodic and idempotent: a dispute is resolved at most once, whoever (ops or this job) comes first."""
    return auto_resolve_disputes_once()
