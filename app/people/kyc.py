"""What a passed KYC unlocks: moving more than the ops threshold out of the platform in one request.

Dollars leave the platform two ways: a cash-out to the user's room account and
a seller's withdrawal request (sold to buyers for rubles paid to the seller).
Either one above ``kyc_threshold_cents`` (an ops setting, $1,000 by default)
needs a KYC that ops have passed on the admin user page (audited there); up to
the threshold nobody is asked for documents.  The status is read under the
user's row lock (:func:`app.core.user_lock.lock_owner`), so a decision
committed a moment ago counts.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.errors import ValidationFailed
from app.money import format_usd

#: every KYC status the user table allows, in words (the admin pages use the same labels)
STATUS_LABELS = {"none": _l("not started"), "pending": _l("waiting for review"), "verified": _l("passed"),
                 "rejected": _l("rejected")}

#: what is being sent out → the refusal, naming the threshold, the user's status, and what to do
_REFUSALS = {
    "cash_out": _l("Cash-outs above %(limit)s need a passed KYC (yours: %(status)s). Contact support to pass it, "
                   "or cash out up to %(limit)s at a time."),
    "withdrawal": _l("Withdrawal requests above %(limit)s need a passed KYC (yours: %(status)s). Contact support "
                     "to pass it, or put up to %(limit)s up for sale at a time."),
}


def label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


def passed(status: str) -> bool:
    return status == "verified"


def check(status: str, amount: int, threshold: int, *, what: str) -> None:
    """Refuse ``amount`` above ``threshold`` unless the KYC has passed."""
    if amount > threshold and not passed(status):
        raise ValidationFailed(str(_REFUSALS[what] % {"limit": format_usd(threshold), "status": label(status)}))
