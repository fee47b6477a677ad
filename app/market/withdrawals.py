"""Sellers' withdrawal requests: the FIFO queue of dollars for sale.

Putting up a request moves dollars from the seller's wallet into the request's
own escrow account.  Invoices hold parts of the escrow (pending transfers);
what is neither held nor sold can go back to the wallet at any time.  The
request's progress is read from the ledger, never kept twice.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app import ledger
from app.core import audit, user_lock
from app.core.settings import current_settings
from app.database import utcnow
from app.errors import NotFound, NotPermitted, ValidationFailed
from app.extensions import db
from app.ledger.models import LedgerTransfer, Phase, TransferKind
from app.models.market import Deposit, WithdrawalRequest
from app.models.payment_form import PaymentForm
from app.models.user import User
from app.money import format_usd
from app.people import kyc
from app.states import WITHDRAWAL


@dataclass(frozen=True)
class Progress:
    amount: int
    #: sold: posted from the escrow to buyers
    filled: int
    #: held by open invoices
    reserved: int
    #: still for sale
    remaining: int
    #: returned to the seller's wallet (cancellation)
    returned: int
    open_invoices: int

    @property
    def filled_percent(self) -> int:
        return self.filled * 100 // self.amount if self.amount else 0

    @property
    def reserved_percent(self) -> int:
        return self.reserved * 100 // self.amount if self.amount else 0


def get_own(user, request_id: int) -> WithdrawalRequest:
    request = db.session.get(WithdrawalRequest, request_id)
    if request is None or request.seller_id != user.id:
        raise NotFound(str(_l("No such withdrawal request.")))
    return request


def own_requests(user) -> list[WithdrawalRequest]:
    return list(db.session.scalars(
        sa.select(WithdrawalRequest).where(WithdrawalRequest.seller_id == user.id).order_by(WithdrawalRequest.id.desc())
    ))


def create(user, *, payment_form_id: int, amount: int, min_invoice_kopecks: int, max_invoice_kopecks: int,
           max_open_invoices: int, request_key: str) -> WithdrawalRequest:
    """Put ``amount`` up for sale.  A repeat with the same ``request_key`` returns the first.

    Decided under the seller's row lock (:func:`user_lock.lock_owner`), as cash-outs are: a form sent
    several times at once waits there and gets the first one's request; the wallet, frozen and KYC are read
    after it.
    """
    owner = user_lock.lock_owner(user.id)
    existing = db.session.scalar(sa.select(WithdrawalRequest).where(WithdrawalRequest.request_key == request_key))
    if existing is not None:
        if existing.seller_id != user.id:
            raise ValidationFailed(str(_l("This form was already used; reload the page.")))
        return existing
    if owner.is_frozen:
        raise NotPermitted(str(_l("Your account is frozen; withdrawals are paused. Contact support.")))
    if amount > 0:
        kyc.check(owner.kyc_status, amount, current_settings().kyc_threshold_cents, what="withdrawal")
    # The same row lock as deleting a form takes: no request is put up on a form being deleted.
    form = db.session.scalar(sa.select(PaymentForm).where(PaymentForm.id == payment_form_id).with_for_update())
    if form is None or form.user_id != user.id or form.deleted_at is not None:
        raise NotFound(str(_l("No such API form.")))
    if not form.healthy:
        raise ValidationFailed(str(_l("This API form is disabled or failing; choose a working one.")))
    if amount <= 0:
        raise ValidationFailed(str(_l("Enter an amount greater than zero.")))
    if min_invoice_kopecks <= 0 or max_invoice_kopecks < min_invoice_kopecks:
        raise ValidationFailed(str(_l("The maximum per invoice must not be below the minimum.")))
    if not 1 <= max_open_invoices <= 50:
        raise ValidationFailed(str(_l("Open invoices at once: from 1 to 50.")))
    available = ledger.balance(ledger.wallet_of(user.id)).available  # read under the seller's lock
    if amount > available:
        raise ValidationFailed(str(_l("Not enough dollars: %(available)s available in your wallet.",
                                      available=format_usd(max(available, 0)))))
    request = WithdrawalRequest(
        seller_id=user.id, payment_form_id=form.id, kind=form.kind, status="active", amount=amount,
        min_invoice_kopecks=min_invoice_kopecks, max_invoice_kopecks=max_invoice_kopecks,
        max_open_invoices=max_open_invoices, request_key=request_key, queued_at=utcnow(),
    )
    # The escrow account is named after the request, so the row comes first.
    try:
        with db.session.begin_nested():
            db.session.add(request)
    except sa.exc.IntegrityError:
        # the key was used by another seller's request (the seller's own repeats waited at the lock above)
        raise ValidationFailed(str(_l("This form was already used; reload the page."))) from None
    escrow = ledger.escrow_of(request.id, user.id)
    request.escrow_account_id = escrow.id
    ledger.transfer(
        key=f"withdrawal:{request.id}:fund", debit=ledger.wallet_of(user.id), credit=escrow, amount=amount,
        kind=TransferKind.ESCROW_FUND, memo=f"withdrawal request {request.id}", event=f"withdrawal:{request.id}",
    )
    db.session.flush()
    audit.record("withdrawal.created", actor=user, target=request, amount=amount, payment_form_id=form.id)
    return request


def progress(request: WithdrawalRequest) -> Progress:
    escrow = ledger.balance(request.escrow_account_id)
    t = LedgerTransfer
    sold, returned = db.session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(sa.case(
                (t.kind.in_([TransferKind.PURCHASE, TransferKind.PURCHASE_HOLD]), t.amount), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((t.kind == TransferKind.ESCROW_RELEASE, t.amount), else_=0)), 0),
        ).where(t.debit_account_id == request.escrow_account_id,
                t.phase.in_([Phase.SINGLE.value, Phase.POST_PENDING.value]))
    ).one()
    # SUM over BIGINT is NUMERIC on PostgreSQL: the driver hands back Decimal, and money is int.
    return Progress(amount=request.amount, filled=int(sold), reserved=escrow.pending_debits,
                    remaining=escrow.available, returned=int(returned), open_invoices=request.open_invoices)


def pause(user, request_id: int) -> None:
    request = get_own(user, request_id)
    if not WITHDRAWAL.transition(WithdrawalRequest, request.id, "paused", expect="active"):
        raise ValidationFailed(str(_l("Only an active request can be paused.")))
    audit.record("withdrawal.paused", actor=user, target=request)


def resume(user, request_id: int) -> None:
    """Back into the queue, at its end: FIFO is by the time a request became active."""
    request = get_own(user, request_id)
    if user.is_frozen:
        raise NotPermitted(str(_l("Your account is frozen; withdrawals are paused. Contact support.")))
    if not WITHDRAWAL.transition(WithdrawalRequest, request.id, "active", expect="paused", queued_at=utcnow()):
        raise ValidationFailed(str(_l("Only a paused request can be resumed.")))
    audit.record("withdrawal.resumed", actor=user, target=request)


def pause_by_ops(request_id: int, *, actor, reason: str) -> None:
    """Ops take a request out of the queue (it keeps its dollars and open invoices)."""
    if not (reason or "").strip():
        raise ValidationFailed(str(_l("A reason is required.")))
    request = db.session.get(WithdrawalRequest, request_id)
    if request is None:
        raise NotFound(str(_l("No such withdrawal request.")))
    if not WITHDRAWAL.transition(WithdrawalRequest, request.id, "paused", expect="active"):
        raise ValidationFailed(str(_l("Only an active request can be paused.")))
    audit.record("withdrawal.paused", actor=actor, target=request, reason=reason.strip(), by="ops")


def resume_by_ops(request_id: int, *, actor, reason: str) -> None:
    """Ops put a paused request back, at the end of the queue (never for a frozen seller)."""
    if not (reason or "").strip():
        raise ValidationFailed(str(_l("A reason is required.")))
    request = db.session.get(WithdrawalRequest, request_id)
    if request is None:
        raise NotFound(str(_l("No such withdrawal request.")))
    seller = db.session.get(User, request.seller_id)
    if seller.is_frozen:
        raise ValidationFailed(str(_l("The seller is frozen; unfreeze them first.")))
    if not WITHDRAWAL.transition(WithdrawalRequest, request.id, "active", expect="paused", queued_at=utcnow()):
        raise ValidationFailed(str(_l("Only a paused request can be resumed.")))
    audit.record("withdrawal.resumed", actor=actor, target=request, reason=reason.strip(), by="ops")


def cancel(user, request_id: int) -> None:
    """Stop selling: what no invoice holds goes back to the wallet now, the rest when those invoices end."""
    request = get_own(user, request_id)
    if not WITHDRAWAL.transition(WithdrawalRequest, request.id, "cancelled", expect=["active", "paused"]):
        raise ValidationFailed(str(_l("This request has already ended.")))
    release_unreserved(request.id)
    audit.record("withdrawal.cancelled", actor=user, target=request)


def release_unreserved(request_id: int) -> int:
    """Return the escrow's free part to the seller's wallet (cancelled/completed requests only)."""
    request = db.session.get(WithdrawalRequest, request_id)
    ledger.lock(request.escrow_account_id)
    free = ledger.balance(request.escrow_account_id).available
    if free <= 0:
        return 0
    count = db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransfer).where(
        LedgerTransfer.debit_account_id == request.escrow_account_id,
        LedgerTransfer.kind == TransferKind.ESCROW_RELEASE))
    ledger.transfer(
        key=f"withdrawal:{request.id}:release:{count + 1}", debit=request.escrow_account_id,
        credit=ledger.wallet_of(request.seller_id), amount=free, kind=TransferKind.ESCROW_RELEASE,
        memo=f"withdrawal request {request.id}", event=f"withdrawal:{request.id}",
    )
    return free


def after_invoice_ended(request_id: int) -> None:
    """An invoice of this request ended (settled, expired): free its slot, then finish or release as due."""
    db.session.execute(
        sa.update(WithdrawalRequest)
        .where(WithdrawalRequest.id == request_id, WithdrawalRequest.open_invoices > 0)
        .values(open_invoices=WithdrawalRequest.open_invoices - 1, updated_at=utcnow())
    )
    check_finished(request_id)


def check_finished(request_id: int) -> None:
    """A cancelled request hands back what is free; a sold-out one completes."""
    request = db.session.get(WithdrawalRequest, request_id)
    db.session.refresh(request)
    escrow = ledger.balance(request.escrow_account_id)
    if request.status == "cancelled":
        release_unreserved(request.id)
    elif request.status in ("active", "paused") and escrow.posted == 0 and escrow.pending_debits == 0:
        if WITHDRAWAL.transition(WithdrawalRequest, request.id, "completed", expect=request.status):
            from app.notifications import inbox

            inbox.request_filled(request.id)


def open_invoices_of_seller(user) -> list[Deposit]:
    """The seller's invoices awaiting payment (the buyer is never named)."""
    return list(db.session.scalars(
        sa.select(Deposit).join(WithdrawalRequest, WithdrawalRequest.id == Deposit.withdrawal_id)
        .where(WithdrawalRequest.seller_id == user.id, Deposit.status == "awaiting_payment")
        .order_by(Deposit.expires_at)
    ))
