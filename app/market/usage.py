"""Whether a payment form is still needed by the market."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models.market import LIVE_WITHDRAWAL_STATES, OPEN_DEPOSIT_STATES, Deposit, WithdrawalRequest


def payment_form_in_use(form_id: int) -> bool:
    """True while a live withdrawal request or an open invoice uses the form."""
    live_request = sa.select(WithdrawalRequest.id).where(
        WithdrawalRequest.payment_form_id == form_id, WithdrawalRequest.status.in_(LIVE_WITHDRAWAL_STATES)
    )
    open_invoice = sa.select(Deposit.id).where(
        Deposit.payment_form_id == form_id, Deposit.status.in_(OPEN_DEPOSIT_STATES)
    )
    return bool(db.session.scalar(sa.select(sa.or_(sa.exists(live_request), sa.exists(open_invoice)))))
