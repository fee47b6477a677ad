"""Disputes as ops work them: both sides' claims, the provider's own word, and clear-cut auto-resolution.

The evidence is fetched live from the seller's provider with the seller's
credentials (the adapter's ``get_status``), never from what the buyer or a
notification said.  The provider call happens outside any transaction that
holds a lock; the decision itself is :func:`app.market.invoices.resolve_dispute`,
which locks the deposit and moves it once.

A case is clear-cut when the provider says the invoice is paid with the
invoice's amount (for YooMoney: at least it, as it reports what the payer was
charged).  Only those are resolved automatically; everything else waits for ops.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.database import utcnow
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.market import invoices
from app.models.audit import AuditEvent
from app.models.market import Deposit, WithdrawalRequest
from app.models.user import User

log = logging.getLogger(__name__)

#: disputes looked at per run of the auto-resolver
AUTO_BATCH = 100


@dataclass(frozen=True)
class Evidence:
    """What the seller's provider says about the invoice, and when we asked."""

    #: the platform's status (pending, paid, failed, expired, unknown) or None if the call failed
    status: str | None
    #: kopecks the provider reports as paid
    amount_paid: int | None
    #: the provider's own status word
    raw_status: str | None
    checked_at: datetime
    #: why there is no answer (provider unavailable, refused, no payment id)
    error: str | None = None

    def clear_cut_paid(self, deposit: Deposit) -> bool:
        return self.status == "paid" and invoices.amount_matches(deposit, self.amount_paid)


@dataclass(frozen=True)
class Sides:
    deposit: Deposit
    buyer: User
    seller: User | None
    #: what the buyer said (the dispute note) and when they said they had paid
    buyer_claim: str | None
    buyer_claimed_at: datetime | None
    #: what the platform / provider side recorded (amount reported, late payment, no answer …)
    platform_claim: str | None
    history: list[AuditEvent]


def open_disputes(limit: int = 200) -> list[Deposit]:
    return list(db.session.scalars(
        sa.select(Deposit).where(Deposit.status == "disputed").order_by(Deposit.updated_at, Deposit.id).limit(limit)
    ))


def get(deposit_id: int) -> Deposit:
    deposit = db.session.get(Deposit, deposit_id)
    if deposit is None:
        raise NotFound(str(_l("No such invoice.")))
    return deposit


def sides(deposit_id: int) -> Sides:
    """Both sides' claims and the invoice's audit trail."""
    deposit = get(deposit_id)
    request = db.session.get(WithdrawalRequest, deposit.withdrawal_id) if deposit.withdrawal_id else None
    history = list(db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.target_type == "deposit", AuditEvent.target_id == str(deposit.id))
        .order_by(AuditEvent.id)
    ))
    reason = deposit.reason or ""
    buyer_claim = reason.removeprefix("buyer: ") if reason.startswith("buyer: ") else None
    return Sides(
        deposit=deposit, buyer=db.session.get(User, deposit.buyer_id),
        seller=db.session.get(User, request.seller_id) if request else None,
        buyer_claim=buyer_claim, buyer_claimed_at=deposit.buyer_claimed_paid_at,
        platform_claim=None if buyer_claim is not None else (reason or None), history=history,
    )


def fetch_evidence(deposit_id: int) -> Evidence:
    """Ask the seller's provider about the invoice now.  Ends the caller's transaction before the call."""
    from app.connectors.payments.base import PaymentConnectorError, ProviderError
    from app.crypto import SecretUnreadable
    from app.market.payment_forms import adapter_of

    deposit = get(deposit_id)
    if deposit.payment_form is None or not (deposit.provider_payment_id or deposit.order_id):
        return Evidence(None, None, None, utcnow(), error=str(_l("The invoice never reached a provider.")))
    try:
        adapter = adapter_of(deposit.payment_form)
    except (SecretUnreadable, ValueError, ProviderError):
        return Evidence(None, None, None, utcnow(), error=str(_l("The seller's API form cannot be used.")))
    payment_id, order_id = deposit.provider_payment_id, deposit.order_id
    db.session.commit()  # no lock or transaction held across the provider call
    try:
        status = adapter.get_status(provider_payment_id=payment_id, order_id=order_id)
    except ProviderError as exc:  # said in the reader's language; the connector's English text is for logs
        from app.market.provider_messages import describe

        return Evidence(None, None, None, utcnow(),
                        error=str(_l("The provider answered: %(detail)s.", detail=describe(deposit.kind, exc))))
    except PaymentConnectorError:
        return Evidence(None, None, None, utcnow(), error=str(_l("The provider is not answering; try again.")))
    return Evidence(status.status, status.amount_paid, status.raw_status, utcnow())


def resolve(deposit_id: int, *, confirm: bool, actor, reason: str) -> str:
    """Ops decide a dispute (settle or release), with a reason; see invoices.resolve_dispute."""
    return invoices.resolve_dispute(deposit_id, confirm=confirm, actor=actor, reason=reason)


def auto_resolve_one(deposit_id: int) -> str:
    """Settle a dispute the provider has clearly decided (paid, right amount); otherwise leave it to ops.

    Safe to run twice or alongside ops: the resolution is a compare-and-set on
    the deposit, so whoever comes second finds it no longer disputed.
    """
    deposit = db.session.get(Deposit, deposit_id)
    if deposit is None or deposit.status != "disputed":
        return "not disputed"
    evidence = fetch_evidence(deposit_id)
    deposit = db.session.get(Deposit, deposit_id)
    if not evidence.clear_cut_paid(deposit):
        db.session.rollback()
        return "left for ops"
    try:
        outcome = invoices.resolve_dispute(
            deposit_id, confirm=True, actor=None,
            reason=f"automatic: the provider reports paid {evidence.amount_paid} ({evidence.raw_status})")
    except ValidationFailed as exc:
        db.session.rollback()
        log.info("dispute %s not resolved automatically: %s", deposit_id, exc.message)
        return "left for ops"
    db.session.commit()
    return outcome


# --- what the buyer and the seller see of a decision ----------------------------------------------

#: the audit action :func:`app.market.invoices.resolve_dispute` records, with ``confirmed`` and the reason
DECIDED = "deposit.dispute_resolved"
#: decided or open disputes listed on the seller's dashboard
SELLER_DISPUTES_SHOWN = 20


@dataclass(frozen=True)
class Decision:
    """Ops' (or the auto-resolver's) decision on a dispute, as both sides are told it."""

    confirmed: bool
    decided_at: datetime
    #: the reason as ops wrote it; the auto-resolver's technical note is replaced by words
    reason: str
    automatic: bool


def _decision(event: AuditEvent) -> Decision:
    automatic = event.actor_id is None
    reason = (str(_l("The provider confirmed the payment, so it was settled automatically."))
              if automatic else (event.reason or ""))
    return Decision(confirmed=bool((event.details or {}).get("confirmed")), decided_at=event.at, reason=reason,
                    automatic=automatic)


def _decided_events(deposit_ids: list[int]):
    return (sa.select(AuditEvent)
            .where(AuditEvent.action == DECIDED, AuditEvent.target_type == "deposit",
                   AuditEvent.target_id.in_([str(i) for i in deposit_ids]))
            .order_by(AuditEvent.id))


def decisions_of(deposit_ids: list[int]) -> dict[int, Decision]:
    """Deposit id → its dispute decision, for the deposits that had one (one query)."""
    if not deposit_ids:
        return {}
    return {int(e.target_id): _decision(e) for e in db.session.scalars(_decided_events(deposit_ids))}


def decision_of(deposit: Deposit) -> Decision | None:
    """The decision on this deposit's dispute; only a settled or rejected deposit can have one."""
    if deposit.status not in ("settled", "rejected"):
        return None
    return decisions_of([deposit.id]).get(deposit.id)


@dataclass(frozen=True)
class SellerDispute:
    deposit: Deposit
    #: None while ops have not decided
    decision: Decision | None


def of_seller(seller, limit: int = SELLER_DISPUTES_SHOWN) -> list[SellerDispute]:
    """The seller's invoices under dispute now or decided after one, newest first (two queries)."""
    decided_ids = (sa.select(AuditEvent.target_id)
                   .where(AuditEvent.action == DECIDED, AuditEvent.target_type == "deposit"))
    deposits = list(db.session.scalars(
        sa.select(Deposit).join(WithdrawalRequest, WithdrawalRequest.id == Deposit.withdrawal_id)
        .where(WithdrawalRequest.seller_id == seller.id,
               sa.or_(Deposit.status == "disputed", sa.cast(Deposit.id, sa.String).in_(decided_ids)))
        .order_by(Deposit.updated_at.desc(), Deposit.id.desc()).limit(limit)))
    decisions = decisions_of([d.id for d in deposits if d.status != "disputed"])
    return [SellerDispute(d, decisions.get(d.id)) for d in deposits]
