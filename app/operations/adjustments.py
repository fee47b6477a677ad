"""Manual ledger adjustments with four eyes: one person asks, an admin who is someone else approves.

Asking writes nothing to the ledger.  Approval moves the row ``requested →
approved`` by compare-and-set and posts one balanced transfer whose key is
derived from the adjustment id, in the same transaction: a double click, two
admins at once or a retry post it once.  The requester can never decide their
own adjustment (checked here and by the ``four_eyes`` constraint).
"""
from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app import ledger
from app.core import audit
from app.database import utcnow
from app.errors import NotFound, NotPermitted, ValidationFailed
from app.extensions import db
from app.ledger.models import LedgerAccount, TransferKind
from app.models.adjustment import LedgerAdjustment
from app.states import ADJUSTMENT

#: the largest single correction, cents ($100,000): anything bigger is not a correction
MAX_ADJUSTMENT = 10_000_000
REASON_MAX = 1000


def _clean_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(str(_l("A reason is required.")))
    return reason[:REASON_MAX]


def _account(account_id: int) -> LedgerAccount:
    account = db.session.get(LedgerAccount, account_id)
    if account is None:
        raise NotFound(str(_l("No such ledger account.")))
    return account


def request_adjustment(*, account_id: int, direction: str, amount: int, reason: str, actor,
                       request_key: str) -> LedgerAdjustment:
    """Ask for a correction of one account against the platform's adjustments account (moves nothing yet).

    ``direction`` is ``credit`` (the account gains ``amount``) or ``debit`` (it loses it).
    """
    existing = db.session.scalar(sa.select(LedgerAdjustment).where(LedgerAdjustment.request_key == request_key))
    if existing is not None:
        return existing
    reason = _clean_reason(reason)
    if direction not in ("credit", "debit"):
        raise ValidationFailed(str(_l("Choose whether the account gains or loses the amount.")))
    if not isinstance(amount, int) or not 0 < amount <= MAX_ADJUSTMENT:
        raise ValidationFailed(str(_l("The amount must be more than zero and at most $100,000.")))
    account = _account(account_id)
    counter = ledger.platform_account(ledger.AccountKind.ADJUSTMENTS, account.asset)
    if account.id == counter.id:
        raise ValidationFailed(str(_l("Choose an account other than the adjustments account itself.")))
    debit, credit = (counter, account) if direction == "credit" else (account, counter)
    adjustment = LedgerAdjustment(debit_account_id=debit.id, credit_account_id=credit.id, amount=amount,
                                  reason=reason, status="requested", requested_by_id=actor.id,
                                  request_key=request_key)
    db.session.add(adjustment)
    db.session.flush()
    audit.record("ledger.adjustment_requested", actor=actor, target=adjustment, reason=reason,
                 account=account.code, direction=direction, amount=amount)
    return adjustment


def _decidable(adjustment_id: int, actor) -> LedgerAdjustment:
    """The adjustment, row-locked, if ``actor`` may decide it and it is still open."""
    adjustment = db.session.scalar(
        sa.select(LedgerAdjustment).where(LedgerAdjustment.id == adjustment_id).with_for_update())
    if adjustment is None:
        raise NotFound(str(_l("No such adjustment.")))
    if not getattr(actor, "is_admin", False):
        raise NotPermitted(str(_l("Only an admin can approve or reject an adjustment.")))
    if adjustment.requested_by_id == actor.id:
        raise NotPermitted(str(_l("Someone else must decide on an adjustment you asked for.")))
    if adjustment.status != "requested":
        raise ValidationFailed(str(_l("This adjustment has already been decided.")))
    return adjustment


def approve(adjustment_id: int, *, actor, reason: str | None = None) -> LedgerAdjustment:
    """The second person agrees: post the transfer, once.

    The row lock serialises two approvers; the transfer's key (from the id) and
    the compare-and-set would still make a second posting a no-op without it.
    """
    adjustment = _decidable(adjustment_id, actor)
    note = (reason or "").strip()[:REASON_MAX] or None
    posted = ledger.transfer(
        key=adjustment.idempotency_key, debit=adjustment.debit_account_id, credit=adjustment.credit_account_id,
        amount=adjustment.amount, kind=TransferKind.ADJUSTMENT, memo=adjustment.reason[:255],
        event=f"adjustment:{adjustment.id}",
    )
    if not ADJUSTMENT.transition(LedgerAdjustment, adjustment.id, "approved", expect="requested",
                                 decided_by_id=actor.id, decided_at=utcnow(), decision_reason=note,
                                 transfer_id=posted.id):
        raise ValidationFailed(str(_l("This adjustment has already been decided.")))
    audit.record("ledger.adjustment_approved", actor=actor, target=adjustment, reason=note or adjustment.reason,
                 transfer_id=posted.id, amount=adjustment.amount, requested_by_id=adjustment.requested_by_id)
    return db.session.get(LedgerAdjustment, adjustment_id)


def reject(adjustment_id: int, *, actor, reason: str) -> LedgerAdjustment:
    """The second person refuses: nothing moves."""
    adjustment = _decidable(adjustment_id, actor)
    reason = _clean_reason(reason)
    if not ADJUSTMENT.transition(LedgerAdjustment, adjustment.id, "rejected", expect="requested",
                                 decided_by_id=actor.id, decided_at=utcnow(), decision_reason=reason):
        raise ValidationFailed(str(_l("This adjustment has already been decided.")))
    audit.record("ledger.adjustment_rejected", actor=actor, target=adjustment, reason=reason,
                 requested_by_id=adjustment.requested_by_id)
    return db.session.get(LedgerAdjustment, adjustment_id)


def listing(status: str | None = None, limit: int = 100) -> list[LedgerAdjustment]:
    query = sa.select(LedgerAdjustment).order_by(LedgerAdjustment.id.desc()).limit(limit)
    if status:
        query = query.where(LedgerAdjustment.status == status)
    return list(db.session.scalars(query))
