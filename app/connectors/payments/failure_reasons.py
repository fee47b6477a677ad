"""What a failed provider call means to the seller whose API form made it.

Stored as a short code (optionally ``code: provider's words``) on the form when
its circuit opens (:mod:`app.market.form_health`) and put into the seller's
language only when shown: on the seller's pages and in the notification
(:mod:`app.notifications.texts`), which is why it lives here, below both.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.connectors.payments.base import InvalidCredentials, ProviderError, ProviderUnavailable
from app.crypto import SecretUnreadable

CREDENTIALS_REJECTED = "credentials_rejected"
CREDENTIALS_UNREADABLE = "credentials_unreadable"
PROVIDER_UNAVAILABLE = "provider_unavailable"
PROVIDER_REFUSED = "provider_refused"

REASONS = {
    CREDENTIALS_REJECTED: _l("The provider rejects this form's credentials. Check them in the provider's "
                             "cabinet and enter them here again."),
    CREDENTIALS_UNREADABLE: _l("The stored credentials of this form cannot be read. Enter them here again."),
    PROVIDER_UNAVAILABLE: _l("The provider has not been answering. We keep checking and will resume the form "
                             "by ourselves once it answers."),
    PROVIDER_REFUSED: _l("The provider refuses requests made with this form. Check in the provider's cabinet "
                         "that the account is active and accepts payments."),
}


def reason_of(exc: BaseException) -> str:
    """The stored reason for a failed provider call: a code, plus the provider's own words if any."""
    if isinstance(exc, InvalidCredentials):
        return CREDENTIALS_REJECTED
    if isinstance(exc, SecretUnreadable):
        return CREDENTIALS_UNREADABLE
    if isinstance(exc, ProviderUnavailable):
        return PROVIDER_UNAVAILABLE
    if isinstance(exc, ProviderError) and exc.message:
        return f"{PROVIDER_REFUSED}: {exc.message}"[:255]
    return PROVIDER_REFUSED


def reason_text(stored: str | None) -> str:
    """The stored reason in the seller's language."""
    if not stored:
        return ""
    code, _sep, detail = stored.partition(": ")
    text = REASONS.get(code)
    if text is None:
        return stored
    return f"{text} ({detail})" if detail else str(text)
