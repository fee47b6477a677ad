"""Plain-language names for statuses and ledger movement kinds, in both languages."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

CASH_OUT_STATUS = {
    "requested": _l("queued"),
    "sending": _l("sending"),
    "unknown": _l("checking with the room"),
    "sent": _l("sent"),
    "failed": _l("failed, dollars returned"),
}

#: what a ledger movement of each kind means to the wallet's owner
MOVEMENT_KIND = {
    "room_deposit": _l("Deposit from the room"),
    "commission": _l("Commission"),
    "cashout_hold": _l("Cash-out to the room"),
    "cashout": _l("Cash-out to the room"),
    "escrow_fund": _l("Moved to sale"),
    "escrow_release": _l("Returned from sale"),
    "purchase_hold": _l("Purchase"),
    "purchase": _l("Purchase"),
    "sale": _l("Sale"),
    "buyer_fee": _l("Buyer fee"),
    "adjustment": _l("Adjustment by support"),
}


def cash_out_status_label(status: str) -> str:
    return str(CASH_OUT_STATUS.get(status, status))


def movement_label(kind: str) -> str:
    return str(MOVEMENT_KIND.get(kind, kind))


DEPOSIT_STATUS = {
    "matching": _l("finding a seller"),
    "awaiting_payment": _l("waiting for payment"),
    "paid": _l("paid"),
    "settled": _l("done"),
    "expired": _l("expired"),
    "cancelled": _l("cancelled by you"),
    "failed": _l("no seller"),
    "disputed": _l("under review"),
    "rejected": _l("not confirmed"),
}

WITHDRAWAL_STATUS = {
    "active": _l("in the queue"),
    "paused": _l("paused"),
    "completed": _l("sold out"),
    "cancelled": _l("cancelled"),
}


def deposit_status_label(status: str) -> str:
    return str(DEPOSIT_STATUS.get(status, status))


def withdrawal_status_label(status: str) -> str:
    return str(WITHDRAWAL_STATUS.get(status, status))
