"""Ops' room desk: unmatched transfers, the manual connector's queue, reconciliation runs.

The money effects live in :mod:`app.room.room_ingest` (assign / return /
enter by hand, each exactly once) and :mod:`app.room.cashouts` (confirm /
fail by hand); this module finds what ops point at and records the audit
entries of the actions that have none of their own.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.connectors.room.registry import room_connector_from_config
from app.core import audit
from app.errors import NotFound
from app.extensions import db
from app.models.room import ReconciliationRun, RoomTransfer
from app.models.user import User
from app.people import accounts
from app.room import reconciliation, room_accounts, room_ingest


def unmatched(limit: int = 200) -> list[RoomTransfer]:
    return list(db.session.scalars(
        sa.select(RoomTransfer).where(RoomTransfer.status == "unmatched")
        .order_by(RoomTransfer.occurred_at, RoomTransfer.id).limit(limit)
    ))


def recently_resolved(limit: int = 20) -> list[RoomTransfer]:
    return list(db.session.scalars(
        sa.select(RoomTransfer).where(RoomTransfer.resolved_by_id.is_not(None))
        .order_by(RoomTransfer.resolved_at.desc()).limit(limit)
    ))


def find_user(who: str) -> User:
    """A user by e-mail, by id ("#12" or "12"), or by one of their room account identifiers."""
    who = (who or "").strip()
    user = None
    if who.lstrip("#").isdigit() and len(who.lstrip("#")) <= 18:
        user = db.session.get(User, int(who.lstrip("#")))
    elif "@" in who:
        user = accounts.find_by_email(who)
        if user is None:
            account = room_accounts.find_by_identifier(who)
            user = account.user if account else None
    elif who:
        account = room_accounts.find_by_identifier(who)
        user = account.user if account else None
    if user is None:
        raise NotFound(str(_l("No user with that e-mail, id or room account.")))
    return user


def assign(transfer_id: int, who: str, *, actor, reason: str) -> User:
    """Credit an unmatched transfer to the user ops name (exactly once: a second try is refused)."""
    user = find_user(who)
    room_ingest.assign_unmatched(transfer_id, user.id, actor=actor, reason=reason)
    return user


def run_reconciliation(*, actor) -> ReconciliationRun:
    """Compare the ledger's room omnibus with the room's balance now, and keep the result."""
    run = reconciliation.reconcile(room_connector_from_config(current_app.config))
    audit.record("room.reconciled", actor=actor, target=run, difference=run.difference,
                 ledger_balance=run.ledger_balance, room_balance=run.room_balance)
    return run


def reconciliation_history(limit: int = 60) -> list[ReconciliationRun]:
    """The last runs, oldest first (for the chart)."""
    runs = list(db.session.scalars(sa.select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(limit)))
    return runs[::-1]
