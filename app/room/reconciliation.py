"""Reconciliation: does the ledger agree with the room about the platform's room account?

The ledger's room omnibus is what we believe the room account holds.  The room
may already have executed a cash-out whose outcome we have not recorded yet
(``sending``/``unknown``), so the room's balance may be lower by up to the
in-flight total; anything outside that band is a real difference for ops.
"""
from __future__ import annotations

import sqlalchemy as sa

from app import ledger
from app.connectors.room.base import RoomConnector, RoomError
from app.extensions import db
from app.models.room import CashOut, ReconciliationRun, RoomTransfer


def in_flight_total() -> int:
    return db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(CashOut.amount), 0)).where(CashOut.status.in_(["sending", "unknown"]))
    ) or 0


def unmatched_total() -> int:
    return db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(RoomTransfer.amount), 0)).where(RoomTransfer.status == "unmatched")
    ) or 0


def difference_of(ledger_balance: int, room_balance: int, in_flight: int) -> int:
    """0 when the room is within [ledger − in-flight, ledger]; else the distance outside that band."""
    if room_balance > ledger_balance:
        return room_balance - ledger_balance
    if room_balance < ledger_balance - in_flight:
        return room_balance - (ledger_balance - in_flight)
    return 0


def reconcile(connector: RoomConnector | None) -> ReconciliationRun:
    omnibus = ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS)
    ledger_balance = ledger.balance(omnibus).posted
    in_flight = in_flight_total()
    room_balance, note = None, None
    if connector is None:
        note = "connector has no balance; compare with the room by hand"
    else:
        try:
            room_balance = connector.balance()
        except RoomError as exc:
            note = f"room unavailable: {type(exc).__name__}"
    run = ReconciliationRun(
        ledger_balance=ledger_balance, room_balance=room_balance, in_flight=in_flight,
        unmatched=unmatched_total(), note=note,
        difference=None if room_balance is None else difference_of(ledger_balance, room_balance, in_flight),
    )
    db.session.add(run)
    db.session.flush()
    return run


def latest() -> ReconciliationRun | None:
    return db.session.scalar(sa.select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(1))
