"""Payment exceptions: money a seller received beyond an invoice, recorded once, told, resolved once.

Settlement (:mod:`app.market.invoices`) calls :func:`record` inside the
deposit's row lock whenever a payment is more than the invoice can take: a
label paid again after it settled, a payment larger than the invoice, a
payment to an invoice that ended and cannot be settled.  The row's key is the
provider event's own (``provider`` + ``event_key``, unique in the database),
so re-delivered or re-processed events add nothing; the buyer's notification
carries the same key through the outbox.  Ops close an exception once
(compare-and-set ``open → resolved``), with a resolution and a reason, audited.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.core import audit
from app.database import utcnow
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models.market import Deposit, WithdrawalRequest
from app.models.payment_exception import REASONS, RESOLUTIONS, PaymentException
from app.models.user import User
from app.states import PAYMENT_EXCEPTION


def _insert_once(row: dict) -> int | None:
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = PaymentException.__table__
    statement = (insert(table).values(**row)
                 .on_conflict_do_nothing(index_elements=["provider", "event_key"]).returning(table.c.id))
    return db.session.execute(statement).scalar()


def record(deposit: Deposit, *, reason: str, amount_kopecks: int, event_key: str,
           provider_event_id: int | None = None) -> int | None:
    """Record money beyond ``deposit``'s invoice once per ``event_key``; the new id, or None if known.

    The caller holds the deposit's row lock and commits.  A new exception is audited and the buyer
    is told (through the notification outbox, under the same key).
    """
    if reason not in REASONS:
        raise ValueError(f"unknown payment exception reason {reason!r}")
    if amount_kopecks <= 0:
        return None
    exception_id = _insert_once({
        "provider": deposit.kind, "event_key": event_key[:160], "provider_event_id": provider_event_id,
        "deposit_id": deposit.id, "reason": reason, "amount_kopecks": amount_kopecks, "status": "open",
        "created_at": utcnow(),
    })
    if exception_id is None:
        return None
    audit.record("payment_exception.opened", target_type="payment_exception", target_id=exception_id,
                 deposit_id=deposit.id, reason_code=reason, amount_kopecks=amount_kopecks, event_key=event_key[:160])
    from app.notifications import inbox

    inbox.notify(deposit.buyer_id, "payment_exception", f"payment-exception:{exception_id}",
                         deposit_id=deposit.id, reason=reason, rubles=amount_kopecks)
    return exception_id


def recorded_kopecks(deposit_id: int) -> int:
    """Kopecks of this deposit already recorded as beyond its invoice (open or resolved)."""
    return int(db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(PaymentException.amount_kopecks), 0))
                                 .where(PaymentException.deposit_id == deposit_id)))


def of_deposit(deposit_id: int) -> list[PaymentException]:
    """For the buyer's invoice page (the caller has checked the deposit is theirs)."""
    return list(db.session.scalars(sa.select(PaymentException).where(PaymentException.deposit_id == deposit_id)
                                   .order_by(PaymentException.id)))


# --- ops ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    id: int
    created_at: datetime
    provider: str
    reason: str
    amount_kopecks: int
    status: str
    resolution: str | None
    note: str | None
    deposit_id: int
    invoice_kopecks: int
    paid_kopecks: int | None
    usd_cents: int
    deposit_status: str
    buyer_email: str
    seller_email: str | None


def listing(*, status: str = "open", limit: int = 200) -> list[Row]:
    """Exceptions for ops, oldest first (``status``: open, resolved or all), with deposit, buyer and seller."""
    buyer = sa.orm.aliased(User)
    seller = sa.orm.aliased(User)
    query = (sa.select(PaymentException, Deposit, buyer.email, seller.email)
             .join(Deposit, Deposit.id == PaymentException.deposit_id)
             .join(buyer, buyer.id == Deposit.buyer_id)
             .outerjoin(WithdrawalRequest, WithdrawalRequest.id == Deposit.withdrawal_id)
             .outerjoin(seller, seller.id == WithdrawalRequest.seller_id)
             .order_by(PaymentException.created_at, PaymentException.id).limit(limit))
    if status in ("open", "resolved"):
        query = query.where(PaymentException.status == status)
    return [Row(e.id, e.created_at, e.provider, e.reason, e.amount_kopecks, e.status, e.resolution, e.note,
                d.id, d.amount_kopecks, d.paid_kopecks, d.usd_cents, d.status, buyer_email, seller_email)
            for e, d, buyer_email, seller_email in db.session.execute(query)]


def resolve(exception_id: int, *, resolution: str, note: str, actor) -> None:
    """Close an open exception with how it was made good; at most once (a second attempt is refused)."""
    if resolution not in RESOLUTIONS:
        raise ValidationFailed(str(_l("Choose how it was resolved.")))
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(str(_l("A reason is required.")))
    if db.session.get(PaymentException, exception_id) is None:
        raise NotFound(str(_l("No such payment exception.")))
    if not PAYMENT_EXCEPTION.transition(PaymentException, exception_id, "resolved", expect="open",
                                        resolution=resolution, note=note[:255], resolved_by_id=actor.id,
                                        resolved_at=utcnow()):
        raise ValidationFailed(str(_l("This payment exception is already resolved.")))
    audit.record("payment_exception.resolved", actor=actor, target_type="payment_exception",
                 target_id=exception_id, reason=note[:255], resolution=resolution)
