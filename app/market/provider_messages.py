"""What a payment provider's refusal means, in the reader's language (the presentation of ProviderError).

The connectors (app/connectors/payments/) raise errors whose ``message`` is English and written for logs
("T-Bank refused the terminal key or password (error 204)"); putting it into a Russian page mixed the
languages.  Pages show :func:`describe` instead: a sentence chosen by the error's class and the
provider's own code, with a numeric code (or an unknown one) at the end so support can look it up.  The English log text
stays in the logs.
"""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

#: (provider kind, the provider's error code) → what it means; codes from the providers' published lists
CODE_MESSAGES = {
    ("tbank", "202"): _l("the terminal is blocked or not active"),
    ("tbank", "204"): _l("the terminal key or the password is wrong"),
    ("tbank", "205"): _l("the terminal key or the password is wrong"),
    ("tbank", "501"): _l("the terminal key is unknown"),
    ("yookassa", "invalid_credentials"): _l("the shop id or the secret key is wrong"),
    ("yookassa", "invalid_request"): _l("the provider found the request invalid"),
    ("yookassa", "forbidden"): _l("the shop is not allowed to do this; check its settings in the cabinet"),
    ("yookassa", "not_found"): _l("the provider does not know this payment"),
    ("yookassa", "too_many_requests"): _l("the provider asks to slow down; try again in a minute"),
    ("yoomoney", "401"): _l("the OAuth token is invalid, revoked or lacks a permission"),
    ("yoomoney", "403"): _l("the OAuth token is invalid, revoked or lacks a permission"),
}

#: connector errors raised without a code (their English text is fixed in the connector): the text → meaning
MESSAGE_MESSAGES = {
    "the OAuth token belongs to another YooMoney wallet": _l("the OAuth token belongs to another wallet"),
    "a YooMoney wallet number is 11 to 20 digits": _l("a wallet number is 11 to 20 digits"),
    "the provider returned a pay link that is not a web address": _l("the provider returned an unusable pay link"),
}


def describe(kind: str, exc: Exception) -> str:
    """A sentence (lower case, no full stop: it goes inside a longer one) for a provider's refusal."""
    from app.connectors.payments.base import InvalidCredentials, ProviderUnavailable

    code = getattr(exc, "code", None)
    known = CODE_MESSAGES.get((kind, str(code))) if code else None
    if known is None:
        known = MESSAGE_MESSAGES.get(getattr(exc, "message", ""))
    if known is None:
        if isinstance(exc, InvalidCredentials):
            known = _l("the provider did not accept these credentials")
        elif isinstance(exc, ProviderUnavailable):
            known = _l("the provider did not answer")
        else:
            known = _l("the provider refused the request")
    # a number helps support; a word code already said in words (invalid_credentials) would only add English
    if code and (str(code).isdigit() or (kind, str(code)) not in CODE_MESSAGES):
        return _("%(meaning)s, provider's code %(code)s", meaning=known, code=code)
    return str(known)
