"""The invoice lifecycle after publication: paid → settled, expiry, late payments, disputes.

Whatever reports a payment — a verified notification, a status poll, ops —
ends in :func:`settle_paid`, which is exactly-once by construction: the deposit
row is locked, the status moves by compare-and-set, and the ledger postings
carry keys derived from the deposit id.  A second report finds the deposit
already settled and changes nothing.
"""
from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app import ledger
from app.connectors.payments.amounts import covers, surplus
from app.core import audit
from app.database import utcnow
from app.errors import ValidationFailed
from app.extensions import db
from app.ledger.models import TransferKind
from app.market import payment_exceptions, withdrawals
from app.models.market import Deposit, WithdrawalRequest
from app.states import DEPOSIT

log = logging.getLogger(__name__)

#: after the buyer says "I have paid", how long to keep waiting before a dispute can be opened
CLAIM_GRACE = timedelta(minutes=10)
#: ended without payment (expiry, the buyer's cancel): a payment that still arrives is a late payment
LATE_PAYABLE = ("expired", "cancelled")
#: status polling backoff: 10 s, 20 s, 40 s … at most this
MAX_POLL_INTERVAL = timedelta(minutes=2)
#: providers whose invoice id can be paid more than once: a YooMoney label takes any number of transfers
#: (elsewhere one payment id is one payment, and a second report of it is the same money)
REPAYABLE = ("yoomoney",)
#: how long a settled repayable invoice id is still read back for money beyond it: a second payment's
#: notifications can all be lost (YooMoney tries three times within about an hour), so the label's history
#: is the record that cannot be missed
RECHECK_WINDOW = timedelta(days=2)


def _lock(deposit_id: int) -> Deposit | None:
    # populate_existing: a Deposit the caller loaded earlier must show the row as locked now, not as it was;
    # every status decision below is taken on this fresh copy (a stale "awaiting_payment" once credited twice).
    return db.session.scalar(sa.select(Deposit).where(Deposit.id == deposit_id).with_for_update()
                             .execution_options(populate_existing=True))


def amount_matches(deposit: Deposit, paid_kopecks: int | None) -> bool:
    """Paid in full?  The adapters report signed amounts as the invoice amount they pay (net of a
    provider's fee grossed up), so one rule serves the notification, the poll and auto-resolution; what
    is paid beyond it becomes a payment exception (:func:`settle_paid`)."""
    return covers(deposit.kind, deposit.amount_kopecks, paid_kopecks)


def _credit_buyer(deposit: Deposit) -> None:
    """Buyer fee out of the dollars just received (the hold or the late transfer is already posted)."""
    if deposit.buyer_fee_cents:
        ledger.transfer(
            key=f"deposit:{deposit.id}:buyer-fee", debit=ledger.wallet_of(deposit.buyer_id),
            credit=ledger.platform_account(ledger.AccountKind.FEE_REVENUE), amount=deposit.buyer_fee_cents,
            kind=TransferKind.BUYER_FEE, memo=f"deposit {deposit.id}", event=f"deposit:{deposit.id}",
        )


def _live_hold(deposit: Deposit):
    """The deposit's hold if it can still be posted; a hold past its backstop is released here first.

    The ledger's backstop sweeper (or an invoice sweeper that did not run for an hour) can leave an
    invoice awaiting payment whose hold is gone or expired: its flow must then take the dollars
    again from the escrow (as for a late payment) instead of failing on the hold forever.
    """
    hold = (db.session.get(ledger.LedgerTransfer, deposit.hold_transfer_id, populate_existing=True)
            if deposit.hold_transfer_id else None)
    if hold is None or not hold.is_open:
        return None
    if hold.timeout_at is not None and hold.timeout_at <= utcnow():
        ledger.void_pending(key=f"deposit:{deposit.id}:release-outlived", pending_id=hold.id)
        return None
    return hold


def dispute(deposit: Deposit, reason: str, *, actor=None, buyer_note: str = "") -> bool:
    """Move the deposit to disputed (once) and open its case: the seller's deadline and the thread."""
    if DEPOSIT.transition(Deposit, deposit.id, "disputed", reason=reason[:255]):
        audit.record("deposit.disputed", actor=actor, target=deposit, reason=reason[:255])
        from app.market import dispute_threads
        from app.notifications import inbox

        inbox.dispute_opened(deposit)
        dispute_threads.open_case(deposit, buyer_note=buyer_note, actor=actor)
        return True
    return False


def repayable(deposit: Deposit) -> bool:
    """Can more money arrive under this settled invoice's id (so a new event must be checked against it)?"""
    return deposit.kind in REPAYABLE and deposit.status == "settled"


def _beyond_settled(deposit: Deposit, paid_kopecks: int | None, event_key: str | None,
                    provider_event_id: int | None) -> str:
    """A payment reported for a settled invoice: money beyond what it took becomes a payment exception.

    ``paid_kopecks`` is everything the provider holds under the invoice id (for a repayable provider the
    job reads it back with the seller's token before calling); what is beyond the invoice plus the
    exceptions already recorded for it is new.  Under the deposit's lock, so two events of the same
    label racing record the surplus once between them.
    """
    if event_key is None or deposit.kind not in REPAYABLE:
        return "settled"  # the same payment reported again (a poll and its notification)
    accounted = deposit.amount_kopecks + payment_exceptions.recorded_kopecks(deposit.id)
    extra = surplus(deposit.kind, accounted, paid_kopecks)
    if not extra:
        return "settled"
    payment_exceptions.record(deposit, reason="second_payment", amount_kopecks=extra, event_key=event_key,
                              provider_event_id=provider_event_id)
    log.warning("deposit %s: %s kopecks paid after it settled (%s); payment exception", deposit.id, extra,
                event_key)
    return "payment exception"


def settle_paid(deposit_id: int, paid_kopecks: int | None, *, source: str, event_key: str | None = None,
                provider_event_id: int | None = None) -> str:
    """The provider confirmed a payment: move the dollars to the buyer, once.

    ``event_key``/``provider_event_id``: the provider event that reported it (None for a poll).  Money
    beyond the invoice (an overpayment, a label paid again after settling, a late payment that can no
    longer be settled) is recorded once as a payment exception, keyed by that event.
    """
    deposit = _lock(deposit_id)
    if deposit is None:
        return "missing"
    if deposit.status == "settled":
        return _beyond_settled(deposit, paid_kopecks, event_key, provider_event_id)
    if deposit.status in ("paid", "disputed", "rejected", "failed", "matching"):
        return deposit.status
    if not amount_matches(deposit, paid_kopecks):
        dispute(deposit, f"paid amount {paid_kopecks} differs from the invoice {deposit.amount_kopecks}")
        return "disputed"
    extra = surplus(deposit.kind, deposit.amount_kopecks, paid_kopecks)
    # paid in full within the fee's rounding counts as the invoice amount; an overpayment as what came
    paid_kopecks = paid_kopecks if extra else deposit.amount_kopecks
    exception_key = event_key or f"deposit:{deposit.id}"
    now = utcnow()
    if deposit.status == "awaiting_payment" and _live_hold(deposit) is not None:
        DEPOSIT.transition(Deposit, deposit.id, "paid", expect="awaiting_payment",
                           paid_kopecks=paid_kopecks, paid_at=now)
        ledger.post_pending(key=f"deposit:{deposit.id}:settle", pending_id=deposit.hold_transfer_id)
        withdrawals_slot_freed = True
    elif deposit.status in (*LATE_PAYABLE, "awaiting_payment"):
        # Late payment (after expiry or cancel), or a hold that outlived its backstop: the hold is gone;
        # take the dollars again if the escrow still has them.  An invoice still awaiting payment also
        # frees its slot.
        slot_taken = deposit.status == "awaiting_payment"
        request = db.session.get(WithdrawalRequest, deposit.withdrawal_id)
        ledger.lock(request.escrow_account_id)
        if ledger.balance(request.escrow_account_id).available < deposit.usd_cents:
            payment_exceptions.record(deposit, reason="unsettled", amount_kopecks=paid_kopecks,
                                      event_key=f"{exception_key}:unsettled", provider_event_id=provider_event_id)
            dispute(deposit, "paid after expiry; the seller's escrow no longer covers it")
            if slot_taken:
                withdrawals.after_invoice_ended(request.id)
            return "disputed"
        if not DEPOSIT.transition(Deposit, deposit.id, "paid", expect=deposit.status, paid_kopecks=paid_kopecks,
                                  paid_at=now):
            return db.session.get(Deposit, deposit.id, populate_existing=True).status
        ledger.transfer(
            key=f"deposit:{deposit.id}:late-settle", debit=request.escrow_account_id,
            credit=ledger.wallet_of(deposit.buyer_id), amount=deposit.usd_cents, kind=TransferKind.PURCHASE,
            memo=f"deposit {deposit.id} (paid late)", event=f"deposit:{deposit.id}",
        )
        withdrawals_slot_freed = slot_taken
    else:
        return deposit.status
    _credit_buyer(deposit)
    DEPOSIT.transition(Deposit, deposit.id, "settled", expect="paid", settled_at=now)
    if withdrawals_slot_freed:
        withdrawals.after_invoice_ended(deposit.withdrawal_id)
    else:
        withdrawals.check_finished(deposit.withdrawal_id)
    audit.record("deposit.settled", target=deposit, source=source, paid_kopecks=paid_kopecks)
    from app.notifications import inbox

    inbox.invoice_settled(deposit)
    if extra:
        payment_exceptions.record(deposit, reason="overpayment", amount_kopecks=extra,
                                  event_key=f"{exception_key}:overpayment", provider_event_id=provider_event_id)
    return "settled"


def expire(deposit_id: int, *, reason: str = "expired") -> str:
    """Void the hold and free the seller's slot (the provider side was cancelled by the caller)."""
    deposit = _lock(deposit_id)
    if deposit is None or deposit.status != "awaiting_payment":
        return deposit.status if deposit else "missing"
    DEPOSIT.transition(Deposit, deposit.id, "expired", expect="awaiting_payment", reason=reason[:255])
    hold = db.session.get(ledger.LedgerTransfer, deposit.hold_transfer_id, populate_existing=True)
    if hold.is_open:  # the ledger's backstop may have expired it already
        ledger.void_pending(key=f"deposit:{deposit.id}:expire", pending_id=deposit.hold_transfer_id)
    withdrawals.after_invoice_ended(deposit.withdrawal_id)
    audit.record("deposit.expired", target=deposit, reason=reason[:255])
    return "expired"


def due_for_expiry(limit: int = 200) -> list[int]:
    return list(db.session.scalars(
        sa.select(Deposit.id).where(Deposit.status == "awaiting_payment", Deposit.expires_at < utcnow())
        .order_by(Deposit.expires_at).limit(limit)
    ))


def settled_to_recheck(limit: int = 500) -> list[int]:
    """Settled repayable invoices of the last :data:`RECHECK_WINDOW`, read back for payments beyond them."""
    return list(db.session.scalars(
        sa.select(Deposit.id).where(Deposit.kind.in_(REPAYABLE), Deposit.status == "settled",
                                    Deposit.settled_at >= utcnow() - RECHECK_WINDOW)
        .order_by(Deposit.id).limit(limit)
    ))


def due_for_poll(limit: int = 200) -> list[int]:
    return list(db.session.scalars(
        sa.select(Deposit.id).where(Deposit.status.in_(["awaiting_payment", *LATE_PAYABLE]),
                                    Deposit.next_poll_at.is_not(None), Deposit.next_poll_at <= utcnow())
        .order_by(Deposit.next_poll_at).limit(limit)
    ))


def schedule_next_poll(deposit_id: int) -> None:
    """Back off: each poll waits twice as long as the last, up to MAX_POLL_INTERVAL.

    An expired invoice is watched for a late payment only until its hold's backstop passes.
    """
    deposit = db.session.get(Deposit, deposit_id)
    interval = min(timedelta(seconds=10 * 2 ** min(deposit.polls, 10)), MAX_POLL_INTERVAL)
    stop_after = (deposit.expires_at or utcnow()) + timedelta(hours=1)
    next_at = utcnow() + interval
    db.session.execute(sa.update(Deposit).where(Deposit.id == deposit_id).values(
        polls=Deposit.polls + 1, next_poll_at=None if next_at > stop_after else next_at))


# --- the buyer's buttons ---------------------------------------------------------------------

def claim_paid(buyer, deposit_id: int) -> None:
    from app.market.matching import get_own

    deposit = get_own(buyer, deposit_id)
    if deposit.status not in ("awaiting_payment", *LATE_PAYABLE):
        raise ValidationFailed(str(_l("This invoice is no longer waiting for payment.")))
    if deposit.buyer_claimed_paid_at is None:
        deposit.buyer_claimed_paid_at = utcnow()
        deposit.next_poll_at = utcnow()
        deposit.polls = 0
        audit.record("deposit.claimed_paid", actor=buyer, target=deposit)


def can_open_dispute(deposit: Deposit) -> bool:
    return (deposit.status in ("awaiting_payment", *LATE_PAYABLE) and deposit.buyer_claimed_paid_at is not None
            and utcnow() - deposit.buyer_claimed_paid_at >= CLAIM_GRACE)


def open_dispute(buyer, deposit_id: int, note: str) -> None:
    from app.market.matching import get_own

    deposit = get_own(buyer, deposit_id)
    if not can_open_dispute(deposit):
        raise ValidationFailed(str(_l("A dispute can be opened %(minutes)d minutes after you said you paid, if the payment is still not confirmed.", minutes=int(CLAIM_GRACE.total_seconds() // 60))))
    # From awaiting_payment the hold stays in place while ops look; from expired there is none.
    dispute(deposit, ("buyer: " + (note or "").strip())[:255], actor=buyer, buyer_note=note or "")


def cancel(deposit_id: int, *, actor=None) -> str:
    """End an open invoice at the buyer's wish, exactly as expiry does: void the hold once, free the slot.

    Idempotent: the status moves by compare-and-set under the row lock and the void carries a key
    derived from the deposit, so a double click or a race with expiry changes things once.
    """
    deposit = _lock(deposit_id)
    if deposit is None or deposit.status != "awaiting_payment":
        return deposit.status if deposit else "missing"
    DEPOSIT.transition(Deposit, deposit.id, "cancelled", expect="awaiting_payment", reason="cancelled by the buyer")
    hold = db.session.get(ledger.LedgerTransfer, deposit.hold_transfer_id, populate_existing=True)
    if hold.is_open:  # the ledger's backstop may have expired it already
        ledger.void_pending(key=f"deposit:{deposit.id}:cancel", pending_id=deposit.hold_transfer_id)
    withdrawals.after_invoice_ended(deposit.withdrawal_id)
    audit.record("deposit.cancelled", actor=actor, target=deposit)
    return "cancelled"


def cancel_by_buyer(buyer, deposit_id: int) -> str:
    """The buyer's "Cancel": the provider cancels first where it can; a payment found there settles instead.

    The provider is asked outside any transaction (the read is ended first, nothing is written
    before it).  When the provider cannot cancel (YooKassa's pending, a YooMoney link) or does
    not answer, the invoice is still cancelled here: a payment that arrives later follows the
    late-payment rule, as after expiry.
    """
    from app.connectors.payments.base import PaymentConnectorError
    from app.market.matching import get_own
    from app.market.payment_forms import adapter_of

    deposit = get_own(buyer, deposit_id)
    if deposit.status == "cancelled":
        return "cancelled"
    if deposit.status != "awaiting_payment":
        raise ValidationFailed(str(_l("This invoice can no longer be cancelled.")))
    adapter, payment_id = adapter_of(deposit.payment_form), deposit.provider_payment_id
    db.session.commit()  # ends the read only: no connection waits in a transaction while the provider answers
    try:
        status = adapter.cancel(payment_id)
    except PaymentConnectorError as exc:
        log.warning("provider cancel of deposit %s failed (%s); cancelling here", deposit_id, type(exc).__name__)
        status = None
    if status is not None and status.status == "paid":
        return settle_paid(deposit_id, status.amount_paid, source="cancel-found-paid")
    return cancel(deposit_id, actor=buyer)


def resolve_dispute(deposit_id: int, *, confirm: bool, actor, reason: str) -> str:
    """Ops decide: the buyer paid (settle, re-reserving if the hold is gone) or not (release)."""
    if not reason or not reason.strip():
        raise ValidationFailed(str(_l("A reason is required.")))
    deposit = _lock(deposit_id)
    if deposit is None or deposit.status != "disputed":
        raise ValidationFailed(str(_l("This deposit is not in dispute.")))
    hold = db.session.get(ledger.LedgerTransfer, deposit.hold_transfer_id) if deposit.hold_transfer_id else None
    # An invoice keeps its slot of the request exactly while its hold is open (expire() and cancel() free
    # it together with the hold); a hold the ledger's backstop expired during the dispute is a known,
    # bounded leak of one slot (never of money).
    slot_taken = hold is not None and hold.is_open
    if slot_taken and hold.timeout_at is not None and hold.timeout_at <= utcnow():
        # The hold's backstop passed while ops looked: release it as the sweeper would (same key), then
        # a confirmation takes the dollars from the escrow afresh.
        ledger.expire_pending(key=f"ledger:expire:{hold.id}", pending_id=hold.id)
    hold_open = hold is not None and hold.is_open
    request = db.session.get(WithdrawalRequest, deposit.withdrawal_id)
    event = f"deposit:{deposit.id}"
    if confirm:
        if hold_open:
            ledger.post_pending(key=f"{event}:dispute-settle", pending_id=hold.id)
        else:
            ledger.lock(request.escrow_account_id)
            if ledger.balance(request.escrow_account_id).available < deposit.usd_cents:
                raise ValidationFailed(str(_l(
                    "The seller's escrow no longer covers this deposit; settle it with a manual adjustment.")))
            ledger.transfer(
                key=f"{event}:dispute-settle", debit=request.escrow_account_id,
                credit=ledger.wallet_of(deposit.buyer_id), amount=deposit.usd_cents, kind=TransferKind.PURCHASE,
                memo=f"deposit {deposit.id} (dispute)", event=event,
            )
        _credit_buyer(deposit)
        DEPOSIT.transition(Deposit, deposit.id, "settled", expect="disputed", settled_at=utcnow())
    else:
        if hold_open:
            ledger.void_pending(key=f"{event}:dispute-reject", pending_id=hold.id)
        DEPOSIT.transition(Deposit, deposit.id, "rejected", expect="disputed")
    if slot_taken:
        withdrawals.after_invoice_ended(request.id)
    else:
        withdrawals.check_finished(request.id)
    audit.record("deposit.dispute_resolved", actor=actor, target=deposit, reason=reason, confirmed=confirm)
    from app.notifications import inbox

    inbox.dispute_resolved(deposit, confirmed=confirm)
    return "settled" if confirm else "rejected"
