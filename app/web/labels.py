"""Plain-language names for every status and kind the pages show, in both languages, in one place.

The codes come from their single sources: the state machines in ``app.states`` and the ledger's
enums and transfer kinds.  ``tests/test_labels.py`` derives the sets from those sources and fails
when a code has no label here, or no Russian one, so no page falls back to showing a raw code.
Buyer- and seller-facing labels speak to "you"; the ops area has its own wording (``OPS_*``).
"""
from __future__ import annotations

from collections.abc import Mapping

from flask_babel import lazy_gettext as _l

from app.market.payment_forms import KIND_LABELS as PAYMENT_KIND
from app.models.payment_exception import REASONS, RESOLUTIONS

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
    "room_unmatched": _l("Unmatched room transfer"),
    "room_returned": _l("Returned to the room"),
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

# -- the ops area: the same codes in staff wording, plus the ledger's own -------------------------

OPS_DEPOSIT_STATUS = {
    **DEPOSIT_STATUS,
    "matching": _l("looking for a seller"),
    "cancelled": _l("cancelled by the buyer"),
    "rejected": _l("rejected after review"),
}

#: a transfer the room reported to the platform's account (app.states.INCOMING_ROOM_TRANSFER)
ROOM_TRANSFER_STATUS = {
    "new": _l("new"),
    "credited": _l("credited"),
    "unmatched": _l("unmatched"),
    "returned": _l("returned to the sender"),
}

#: a manual ledger adjustment (app.states.ADJUSTMENT)
ADJUSTMENT_STATUS = {
    "requested": _l("waiting for approval"),
    "approved": _l("approved"),
    "rejected": _l("rejected"),
}

#: money a seller received that no invoice covers (app.states.PAYMENT_EXCEPTION)
PAYMENT_EXCEPTION_STATUS = {
    "open": _l("waiting for ops"),
    "resolved": _l("resolved"),
}
#: why a payment exception was recorded, and how ops made it good (app.models.payment_exception)
PAYMENT_EXCEPTION_REASON = {
    "second_payment": _l("Paid again after the invoice was settled"),
    "overpayment": _l("Paid more than the invoice"),
    "unsettled": _l("Paid after the invoice ended; it could not be settled"),
}
PAYMENT_EXCEPTION_RESOLUTION = {
    "refunded": _l("Resolved: the seller refunded the buyer"),
    "credited": _l("Resolved: the buyer was credited (manual adjustment)"),
}
assert set(PAYMENT_EXCEPTION_REASON) == set(REASONS) and set(PAYMENT_EXCEPTION_RESOLUTION) == set(RESOLUTIONS)

#: ledger transfers' business purposes (app.ledger TransferKind), as ops read the ledger
TRANSFER_KIND = {
    "room_deposit": _l("room deposit"),
    "room_unmatched": _l("unmatched room transfer"),
    "room_returned": _l("returned to the room"),
    "commission": _l("commission"),
    "escrow_fund": _l("put up for sale"),
    "escrow_release": _l("released from sale"),
    "purchase_hold": _l("purchase hold"),
    "purchase": _l("purchase"),
    "sale": _l("sale proceeds"),
    "buyer_fee": _l("buyer fee"),
    "cashout_hold": _l("cash-out hold"),
    "cashout": _l("cash-out"),
    "adjustment": _l("manual adjustment"),
}

#: the two-phase step a transfer row is (app.ledger Phase)
TRANSFER_PHASE = {
    "single": _l("posted at once"),
    "pending": _l("hold"),
    "post_pending": _l("hold posted"),
    "void_pending": _l("hold released"),
}

#: where a transfer row stands (app.ledger Status)
TRANSFER_STATUS = {
    "pending": _l("open"),
    "posted": _l("posted"),
    "voided": _l("released"),
    "expired": _l("expired"),
}

#: ledger account kinds (app.ledger AccountKind)
ACCOUNT_KIND = {
    "wallet": _l("user wallet"),
    "escrow": _l("seller's sale escrow"),
    "room_omnibus": _l("platform's room account"),
    "fee_revenue": _l("fee revenue"),
    "cashouts_in_flight": _l("cash-outs in flight"),
    "unmatched_incoming": _l("unmatched incoming"),
    "adjustments": _l("manual adjustments"),
}

#: what a provider says of a payment (app.connectors.payments.base STATUSES), e.g. in a dispute's evidence
PROVIDER_PAYMENT_STATUS = {
    "pending": _l("not paid yet"),
    "paid": _l("paid"),
    "failed": _l("payment failed"),
    "expired": _l("expired"),
    "unknown": _l("unknown"),
}

#: whether an API form takes an invoice now, by its own limits (app.market.form_limits verdicts), for its seller
FORM_LIMIT_STATE = {
    "open": _l("takes invoices now"),
    "hours": _l("closed: outside working hours"),
    "day_invoices": _l("closed: today's invoices used up"),
    "day_kopecks": _l("closed: today's rubles used up"),
    "gap": _l("closed: waiting out the gap between invoices"),
}

#: reasons the code itself writes on a deposit (free text otherwise: ops' own words are shown as typed)
DEPOSIT_REASON = {
    "cancelled by the buyer": _l("cancelled by the buyer"),
}

#: where a proof-of-reserves snapshot's room balance came from (app.models.reserves.ROOM_BALANCE_SOURCES)
RESERVE_ROOM_BALANCE_SOURCE = {
    "room_api": _l("read from the room"),
    "entered_by_ops": _l("entered by ops from the room's cashier"),
}


#: a split purchase as a whole (app.market.split_fill.SplitView.state); each part has its deposit status
SPLIT_STATE = {
    "creating": _l("creating the invoices"),
    "open": _l("waiting for payment"),
    "settled": _l("all paid"),
    "failed": _l("could not be created"),
    "ended": _l("closed, not all paid"),
}


#: a dispute case's status (the seller's part), as the buyer, the seller and ops read it
DISPUTE_CASE_STATUS = {
    "awaiting_seller": _l("waiting for the seller's answer"),
    "answered": _l("the seller answered"),
    "escalated": _l("escalated: the seller did not answer in time"),
}

#: who wrote a message in a dispute's thread (a role, never a name: the parties stay unknown to each other)
DISPUTE_AUTHOR = {
    "buyer": _l("Buyer"),
    "seller": _l("Seller"),
    "ops": _l("Support"),
}

#: what an evidence file is, by the type read from its content
DISPUTE_FILE_TYPE = {
    "image/png": _l("PNG picture"),
    "image/jpeg": _l("JPEG picture"),
    "application/pdf": _l("PDF document"),
}


def _label(labels: Mapping[str, object], code: str | None) -> str:
    """The label of ``code``; an unknown code (new data before its label) shows as itself, never an error."""
    if code is None:
        return ""
    return str(labels.get(code, code))


def cash_out_status_label(status: str) -> str:
    return _label(CASH_OUT_STATUS, status)


def movement_label(kind: str) -> str:
    return _label(MOVEMENT_KIND, kind)


def deposit_status_label(status: str) -> str:
    return _label(DEPOSIT_STATUS, status)


def withdrawal_status_label(status: str) -> str:
    return _label(WITHDRAWAL_STATUS, status)


def ops_deposit_status_label(status: str) -> str:
    return _label(OPS_DEPOSIT_STATUS, status)


def room_transfer_status_label(status: str) -> str:
    return _label(ROOM_TRANSFER_STATUS, status)


def adjustment_status_label(status: str) -> str:
    return _label(ADJUSTMENT_STATUS, status)


def payment_exception_status_label(status: str) -> str:
    return _label(PAYMENT_EXCEPTION_STATUS, status)


def transfer_kind_label(kind: str) -> str:
    return _label(TRANSFER_KIND, kind)


def transfer_phase_label(phase: str) -> str:
    return _label(TRANSFER_PHASE, phase)


def transfer_status_label(status: str) -> str:
    return _label(TRANSFER_STATUS, status)


def account_kind_label(kind: str) -> str:
    return _label(ACCOUNT_KIND, kind)


def payment_kind_label(kind: str) -> str:
    return _label(PAYMENT_KIND, kind)


def provider_payment_status_label(status: str) -> str:
    return _label(PROVIDER_PAYMENT_STATUS, status)


def deposit_reason_label(reason: str | None) -> str:
    return _label(DEPOSIT_REASON, reason)


def reserve_room_source_label(source: str) -> str:
    return _label(RESERVE_ROOM_BALANCE_SOURCE, source)


def form_limit_state_label(state: str) -> str:
    return _label(FORM_LIMIT_STATE, state)


def split_state_label(state: str) -> str:
    return _label(SPLIT_STATE, state)


def dispute_case_status_label(status: str) -> str:
    return _label(DISPUTE_CASE_STATUS, status)


def dispute_author_label(role: str) -> str:
    return _label(DISPUTE_AUTHOR, role)


def dispute_file_label(content_type: str, size_bytes: int) -> str:
    """"PNG picture, 12.3 KB": the type read from the content and the size, in the reader's language."""
    from flask_babel import format_decimal

    return str(_l("%(kind)s, %(size)s KB", kind=_label(DISPUTE_FILE_TYPE, content_type),
                  size=format_decimal(round(size_bytes / 1024, 1))))


#: the template globals (registered in app.web.filters)
TEMPLATE_GLOBALS = (
    cash_out_status_label, movement_label, deposit_status_label, withdrawal_status_label,
    ops_deposit_status_label, room_transfer_status_label, adjustment_status_label, transfer_kind_label,
    transfer_phase_label, transfer_status_label, account_kind_label, payment_kind_label, deposit_reason_label,
    provider_payment_status_label, payment_exception_status_label, reserve_room_source_label,
    form_limit_state_label,
    split_state_label,
    dispute_case_status_label, dispute_author_label, dispute_file_label,
)
