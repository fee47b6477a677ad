"""Room transfers in: stored once, credited once.

Exactly-once rests on three keys, none of them in process memory:
1. ``room_transfer.room_transfer_id`` is unique: a repeated, overlapping or
   reordered feed page stores nothing twice (INSERT … ON CONFLICT DO NOTHING);
2. a transfer leaves ``new`` by a compare-and-set, so two pollers cannot both
   credit it;
3. the ledger postings carry the room transfer id in their idempotency keys.
The feed cursor is advanced in the same commit that stored the page, so a
crash before that commit re-reads the page and changes nothing.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app import ledger
from app.connectors.room.base import RoomTransfer as FeedTransfer
from app.database import insert_ignoring_duplicates, utcnow
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models.room import RoomAccount, RoomCursor, RoomTransfer
from app.models.settings import PlatformSettings
from app.services import audit, room_accounts
from app.services.settings import current_settings
from app.states import INCOMING_ROOM_TRANSFER

log = logging.getLogger(__name__)


def commission_for(amount: int, settings: PlatformSettings) -> int:
    """The seller commission on a room deposit: a percentage with a floor, never above the amount."""
    proportional = amount * settings.commission_bps // 10_000
    return min(amount, max(proportional, settings.commission_min_cents))


def store_transfers(transfers: Iterable[FeedTransfer], source: str) -> list[int]:
    """Store each transfer once; returns the ids of incoming rows still ``new`` among them."""
    rows = {}
    for t in transfers:
        rows.setdefault(t.room_transfer_id, {
            "room_transfer_id": t.room_transfer_id,
            "direction": t.direction,
            "counterparty": t.counterparty.strip()[:254],
            "amount": t.amount,
            "occurred_at": t.occurred_at,
            "note": (t.note or None) and t.note[:255],
            "source": source,
            "status": "new" if t.direction == "in" else "outgoing",
            "created_at": utcnow(),
        })
    if not rows:
        return []
    insert_ignoring_duplicates(RoomTransfer.__table__, list(rows.values()), conflict_on=["room_transfer_id"])
    return list(db.session.scalars(
        sa.select(RoomTransfer.id)
        .where(RoomTransfer.room_transfer_id.in_(list(rows)), RoomTransfer.status == "new")
        .order_by(RoomTransfer.occurred_at, RoomTransfer.id)
    ))


def _credit(transfer: RoomTransfer, user_id: int, *, from_suspense: bool) -> int:
    """Post the deposit and the commission; returns the commission."""
    settings = current_settings()
    commission = commission_for(transfer.amount, settings)
    source = ledger.platform_account(ledger.AccountKind.UNMATCHED_INCOMING if from_suspense
                                     else ledger.AccountKind.ROOM_OMNIBUS)
    wallet = ledger.wallet_of(user_id)
    event = f"room-in:{transfer.room_transfer_id}"
    ledger.transfer(
        key=f"{event}:credit", debit=source, credit=wallet, amount=transfer.amount,
        kind="room_deposit", memo=f"room transfer {transfer.room_transfer_id}", event=event,
    )
    if commission:
        ledger.transfer(
            key=f"{event}:commission", debit=wallet, credit=ledger.platform_account(ledger.AccountKind.FEE_REVENUE),
            amount=commission, kind="commission", memo=f"commission on {transfer.room_transfer_id}", event=event,
        )
    from app.services import notifications

    notifications.credit_received(transfer, user_id, commission)
    return commission


def process_new_transfer(transfer_id: int) -> str:
    """Credit a ``new`` incoming transfer to its verified sender, or park it as unmatched.

    Returns the resulting status (or the current one if another worker got there first).
    """
    transfer = db.session.get(RoomTransfer, transfer_id)
    if transfer is None or transfer.status != "new":
        return transfer.status if transfer else "missing"
    account = room_accounts.find_by_identifier(transfer.counterparty)
    if account is not None and not account.is_verified and transfer.amount == account.verification_amount:
        room_accounts.mark_verified(account, by="transfer")
    if account is not None and account.is_verified:
        if not INCOMING_ROOM_TRANSFER.transition(RoomTransfer, transfer.id, "credited", expect="new",
                                                 user_id=account.user_id, resolved_at=utcnow()):
            return db.session.get(RoomTransfer, transfer_id).status
        commission = _credit(transfer, account.user_id, from_suspense=False)
        db.session.execute(sa.update(RoomTransfer).where(RoomTransfer.id == transfer.id).values(commission=commission))
        return "credited"
    if not INCOMING_ROOM_TRANSFER.transition(RoomTransfer, transfer.id, "unmatched", expect="new"):
        return db.session.get(RoomTransfer, transfer_id).status
    ledger.transfer(
        key=f"room-in:{transfer.room_transfer_id}:suspense",
        debit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
        credit=ledger.platform_account(ledger.AccountKind.UNMATCHED_INCOMING),
        amount=transfer.amount, kind="room_unmatched", memo=f"unknown sender {transfer.counterparty[:60]}",
        event=f"room-in:{transfer.room_transfer_id}",
    )
    return "unmatched"


def ingest(transfers: Iterable[FeedTransfer], source: str) -> dict[str, int]:
    """Store a batch and settle every new incoming transfer in it (caller commits)."""
    outcome = {"credited": 0, "unmatched": 0}
    for transfer_id in store_transfers(transfers, source):
        status = process_new_transfer(transfer_id)
        if status in outcome:
            outcome[status] += 1
    return outcome


def get_cursor(feed: str) -> str | None:
    row = db.session.get(RoomCursor, feed)
    return row.cursor if row else None


def set_cursor(feed: str, cursor: str | None) -> None:
    row = db.session.get(RoomCursor, feed)
    if row is None:
        db.session.add(RoomCursor(feed=feed, cursor=cursor, updated_at=utcnow()))
    else:
        row.cursor = cursor
        row.updated_at = utcnow()
    db.session.flush()


# --- ops: the unmatched list -------------------------------------------------------------

def assign_unmatched(transfer_id: int, user_id: int, *, actor, reason: str) -> None:
    """Credit an unmatched transfer to a user (ops), exactly once."""
    transfer = db.session.get(RoomTransfer, transfer_id)
    if transfer is None or transfer.direction != "in":
        raise NotFound(str(_l("No such incoming transfer.")))
    if not reason or not reason.strip():
        raise ValidationFailed(str(_l("A reason is required.")))
    if not INCOMING_ROOM_TRANSFER.transition(RoomTransfer, transfer.id, "credited", expect="unmatched",
                                             user_id=user_id, resolved_at=utcnow(), resolved_by_id=actor.id):
        raise ValidationFailed(str(_l("This transfer is no longer unmatched.")))
    commission = _credit(transfer, user_id, from_suspense=True)
    db.session.execute(sa.update(RoomTransfer).where(RoomTransfer.id == transfer.id).values(commission=commission))
    audit.record("room_transfer.assigned", actor=actor, target=transfer, reason=reason, user_id=user_id)


def mark_returned(transfer_id: int, *, actor, reason: str) -> None:
    """Record that ops sent an unmatched transfer back to its sender through the room."""
    transfer = db.session.get(RoomTransfer, transfer_id)
    if transfer is None or transfer.direction != "in":
        raise NotFound(str(_l("No such incoming transfer.")))
    if not reason or not reason.strip():
        raise ValidationFailed(str(_l("A reason is required.")))
    if not INCOMING_ROOM_TRANSFER.transition(RoomTransfer, transfer.id, "returned", expect="unmatched",
                                             resolved_at=utcnow(), resolved_by_id=actor.id):
        raise ValidationFailed(str(_l("This transfer is no longer unmatched.")))
    ledger.transfer(
        key=f"room-in:{transfer.room_transfer_id}:returned",
        debit=ledger.platform_account(ledger.AccountKind.UNMATCHED_INCOMING),
        credit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
        amount=transfer.amount, kind="room_returned", memo="returned to sender",
        event=f"room-in:{transfer.room_transfer_id}",
    )
    audit.record("room_transfer.returned", actor=actor, target=transfer, reason=reason)


def expected_verifications(user_id: int) -> list[RoomAccount]:
    return [a for a in room_accounts.accounts_of(user_id) if not a.is_verified]


def record_by_hand(*, room_transfer_id: str, counterparty: str, amount: int, occurred_at, note: str | None,
                   actor, reason: str) -> str:
    """Ops enter an incoming transfer they see in the room (manual connector); credited like any other, once."""
    if not (reason or "").strip():
        raise ValidationFailed(str(_l("A reason is required.")))
    try:
        transfer = FeedTransfer(room_transfer_id=room_transfer_id.strip(), direction="in",
                                counterparty=counterparty.strip(), amount=amount, occurred_at=occurred_at, note=note)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None
    existing = db.session.scalar(sa.select(RoomTransfer).where(RoomTransfer.room_transfer_id == transfer.room_transfer_id))
    if existing is not None:
        raise ValidationFailed(str(_l("This room transfer id is already recorded.")))
    outcome = ingest([transfer], source="manual")
    audit.record("room_transfer.entered_by_hand", actor=actor, target_type="room_transfer",
                 target_id=transfer.room_transfer_id, reason=reason, amount=amount)
    return "credited" if outcome["credited"] else "unmatched"
