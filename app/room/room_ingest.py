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
from datetime import UTC, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app import ledger
from app.connectors.room.base import RoomTransfer as FeedTransfer
from app.core import audit
from app.core.settings import current_settings
from app.database import insert_ignoring_duplicates, utcnow
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models.room import RoomAccount, RoomCursor, RoomTransfer
from app.models.settings import PlatformSettings
from app.room import room_accounts
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
    from app.notifications import inbox

    inbox.credit_received(transfer, user_id, commission)
    return commission


def process_new_transfer(transfer_id: int) -> str:
    """Credit a ``new`` incoming transfer to its verified sender, or park it as unmatched.

    Returns the resulting status (or the current one if another worker got there first).
    """
    transfer = db.session.get(RoomTransfer, transfer_id)
    if transfer is None or transfer.status != "new":
        return transfer.status if transfer else "missing"
    account = _sender_of(transfer.counterparty, transfer.amount)
    if account is not None:
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


def _sender_of(counterparty: str, amount: int) -> RoomAccount | None:
    """The verified room account ``counterparty`` (as the room shows it) is, verifying it first if this is its amount.

    Matched by :func:`room_accounts.match_key`: an e-mail in any case, a
    nickname or player id only exactly -- ``ATK.BUYER1`` is not ``atk.buyer1``.
    """
    account = room_accounts.find_verified(counterparty)
    if account is None:
        pending = room_accounts.pending_for(counterparty, amount)
        if pending is not None and room_accounts.mark_verified(pending, by="transfer", spelling=counterparty):
            account = pending
    if account is not None:
        room_accounts.adopt_spelling(account, counterparty)
    return account


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


def credited_since(user_id: int, since_epoch: float) -> bool:
    """Has any room transfer been credited to the user since then (the wallet stops waiting when one has)?"""
    since = datetime.fromtimestamp(since_epoch, UTC)
    return db.session.scalar(sa.select(RoomTransfer.id).where(
        RoomTransfer.user_id == user_id, RoomTransfer.status == "credited", RoomTransfer.resolved_at >= since
    ).limit(1)) is not None


def expected_verifications(user_id: int) -> list[RoomAccount]:
    return [a for a in room_accounts.accounts_of(user_id) if not a.is_verified and not a.is_expired()]


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


# --- bulk: a whole feed page in a fixed number of statements --------------------------------------

def ingest_page(transfers: Iterable[FeedTransfer], source: str) -> dict[str, int]:
    """Store a feed page and settle its new incoming transfers, in statements per page, not per transfer.

    The same outcome as :func:`ingest` (caller commits, with the cursor, in
    one transaction per page), with the same three keys behind exactly-once:
    the unique room transfer id (INSERT … ON CONFLICT DO NOTHING), the
    ``new`` → credited / unmatched compare-and-set (one UPDATE … WHERE
    status = 'new' RETURNING for the page: a row another poller settled is
    not returned, so not posted), and the postings' idempotency keys (one
    :func:`app.ledger.postings.transfer_many`, which locks, checks limits and
    writes like ``ledger.transfer``).  Verification by amount is applied in
    feed order, as one transfer after another would.
    """
    from app.ledger.postings import Posting, transfer_many

    rows = {}
    for t in transfers:
        rows.setdefault(t.room_transfer_id, {
            "room_transfer_id": t.room_transfer_id, "direction": t.direction,
            "counterparty": t.counterparty.strip()[:254], "amount": t.amount, "occurred_at": t.occurred_at,
            "note": (t.note or None) and t.note[:255], "source": source,
            "status": "new" if t.direction == "in" else "outgoing", "created_at": utcnow(),
        })
    outcome = {"credited": 0, "unmatched": 0}
    if not rows:
        return outcome
    table = RoomTransfer.__table__
    _store_page(table, list(rows.values()))
    new = db.session.execute(
        sa.select(table.c.id, table.c.room_transfer_id, table.c.counterparty, table.c.amount)
        .where(table.c.room_transfer_id.in_(list(rows)), table.c.status == "new")
        .order_by(table.c.occurred_at, table.c.id)
    ).all()
    if not new:
        return outcome
    keys = {room_accounts.match_key(r.counterparty) for r in new}
    now = utcnow()
    verified, pending = {}, {}
    for a in db.session.scalars(sa.select(RoomAccount).where(RoomAccount.identifier_key.in_(keys))):
        if a.is_verified:
            verified[a.identifier_key] = a
        elif not a.is_expired(now):
            pending[(a.identifier_key, a.verification_amount)] = a
    credit_to: dict[int, int] = {}  # room transfer row id → user id
    for r in new:
        key = room_accounts.match_key(r.counterparty)
        if key not in verified:
            candidate = pending.get((key, r.amount))
            if candidate is None or not room_accounts.mark_verified(candidate, by="transfer", spelling=r.counterparty):
                continue
            verified[key] = candidate
        account = verified[key]
        if account.identifier != r.counterparty:
            room_accounts.adopt_spelling(account, r.counterparty)
        credit_to[r.id] = account.user_id
    settings = current_settings()
    commission = {r.id: commission_for(r.amount, settings) for r in new if r.id in credit_to}
    credited, unmatched = _settle(table, new, credit_to, commission)
    omnibus = ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS).id
    fees = ledger.platform_account(ledger.AccountKind.FEE_REVENUE).id
    suspense = ledger.platform_account(ledger.AccountKind.UNMATCHED_INCOMING).id
    wallets = _wallets({credit_to[i] for i in credited})
    postings = []
    for r in new:
        event = f"room-in:{r.room_transfer_id}"
        if r.id in credited:
            wallet = wallets[credit_to[r.id]]
            postings.append(Posting(f"{event}:credit", omnibus, wallet, r.amount, "room_deposit",
                                    f"room transfer {r.room_transfer_id}", event))
            if commission[r.id]:
                postings.append(Posting(f"{event}:commission", wallet, fees, commission[r.id], "commission",
                                        f"commission on {r.room_transfer_id}", event))
        elif r.id in unmatched:
            postings.append(Posting(f"{event}:suspense", omnibus, suspense, r.amount, "room_unmatched",
                                    f"unknown sender {r.counterparty[:60]}", event))
    transfer_many(postings)
    from app.notifications import inbox

    for r in new:
        if r.id in credited:
            inbox.credit_received(r, credit_to[r.id], commission[r.id])
    outcome["credited"], outcome["unmatched"] = len(credited), len(unmatched)
    return outcome


_PAGE_COLUMNS = ("room_transfer_id", "direction", "counterparty", "amount", "occurred_at", "note", "source", "status",
                 "created_at")
_STORE_UNNEST = sa.text(
    "INSERT INTO room_transfer (room_transfer_id, direction, counterparty, amount, occurred_at, note, source, status,"
    " created_at)"
    " SELECT * FROM unnest(CAST(:room_transfer_id AS text[]), CAST(:direction AS text[]),"
    " CAST(:counterparty AS text[]), CAST(:amount AS bigint[]), CAST(:occurred_at AS timestamptz[]),"
    " CAST(:note AS text[]), CAST(:source AS text[]), CAST(:status AS text[]), CAST(:created_at AS timestamptz[]))"
    " ON CONFLICT (room_transfer_id) DO NOTHING"
)
_SETTLE_UNNEST = sa.text(
    "UPDATE room_transfer SET status = v.status, user_id = v.user_id, commission = v.commission,"
    " resolved_at = CASE WHEN v.status = 'credited' THEN CAST(:now AS timestamptz) END"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]), CAST(:users AS bigint[]),"
    " CAST(:commissions AS bigint[])) AS v(id, status, user_id, commission)"
    " WHERE room_transfer.id = v.id AND room_transfer.status = 'new'"
    " RETURNING room_transfer.id"
)


def _store_page(table: sa.Table, rows: list[dict]) -> None:
    """INSERT ignoring duplicates; on PostgreSQL the page as arrays in one statement (no per-value binding)."""
    if db.session.get_bind().dialect.name != "postgresql":
        insert_ignoring_duplicates(table, rows, conflict_on=["room_transfer_id"])
        return
    db.session.execute(_STORE_UNNEST, {name: [r[name] for r in rows] for name in _PAGE_COLUMNS})


def _settle(table: sa.Table, new: list, credit_to: dict[int, int], commission: dict[int, int]) -> tuple[set, set]:
    """Move each ``new`` row to credited (with its user and commission) or unmatched, by compare-and-set.

    Returns the ids this call moved to each; a row another poller moved first is in neither.
    """
    for status in ("credited", "unmatched"):
        if "new" not in INCOMING_ROOM_TRANSFER.sources_of(status):
            raise RuntimeError(f"new → {status} is not an incoming room transfer's move")
    if db.session.get_bind().dialect.name != "postgresql":
        credited = _claim(table, [r.id for r in new if r.id in credit_to], "credited", resolved_at=utcnow())
        if credited:
            db.session.execute(
                sa.update(table).where(table.c.id == sa.bindparam("r_id"))
                .values(user_id=sa.bindparam("r_user"), commission=sa.bindparam("r_commission")),
                [{"r_id": i, "r_user": credit_to[i], "r_commission": commission[i]} for i in credited],
            )
        return credited, _claim(table, [r.id for r in new if r.id not in credit_to], "unmatched")
    # PostgreSQL: one statement for the page, the values per row as arrays
    ids = [r.id for r in new]
    moved = set(db.session.scalars(_SETTLE_UNNEST, {
        "ids": ids, "now": utcnow(),
        "statuses": ["credited" if i in credit_to else "unmatched" for i in ids],
        "users": [credit_to.get(i) for i in ids], "commissions": [commission.get(i) for i in ids],
    }))
    _expire(moved)
    return {i for i in moved if i in credit_to}, {i for i in moved if i not in credit_to}


def _expire(row_ids) -> None:
    for row_id in row_ids:  # objects of these rows loaded in this session would be stale
        instance = db.session.identity_map.get((RoomTransfer, (row_id,), None))
        if instance is not None:
            db.session.expire(instance)


def _claim(table: sa.Table, ids: list[int], status: str, **values) -> set[int]:
    """Move these ``new`` rows to ``status`` by one compare-and-set; the ids this call moved."""
    if not ids:
        return set()
    moved = set(db.session.scalars(
        sa.update(table).where(table.c.id.in_(ids), table.c.status == "new")
        .values(status=status, **values).returning(table.c.id)
    ))
    _expire(moved)
    return moved


def _wallets(user_ids: set[int]) -> dict[int, int]:
    """Ledger wallet ids of these users, by one SELECT (a missing wallet is created)."""
    if not user_ids:
        return {}
    from app.ledger.accounts import wallet_code

    codes = {wallet_code(u): u for u in user_ids}
    accounts = ledger.LedgerAccount.__table__
    found = {codes[code]: i for i, code in db.session.execute(
        sa.select(accounts.c.id, accounts.c.code).where(accounts.c.code.in_(list(codes))))}
    for user_id in user_ids - found.keys():
        found[user_id] = ledger.wallet_of(user_id).id
    return found
