"""What each kind of notification says, and which page it leads to, in the reader's language.

Notifications store parameters, not sentences: the text is made when it is
shown (or sent), so it follows the reader's language and never goes stale.
Nothing here names the other side of a trade.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, url_for
from flask_babel import gettext as _

from app.money import format_rub, format_usd


@dataclass(frozen=True)
class Text:
    title: str
    body: str
    #: (endpoint, values) of the page it is about
    target: tuple[str, dict]


def _usd(params: dict, key: str = "amount") -> str:
    return format_usd(int(params.get(key) or 0))


def _credit_received(p: dict) -> Text:
    body = _("%(amount)s from your room transfer are in your wallet.", amount=_usd(p))
    if p.get("commission"):
        body += " " + _("Commission: %(commission)s.", commission=_usd(p, "commission"))
    return Text(_("Deposit credited"), body, ("wallet.index", {}))


def _invoice_paid(p: dict) -> Text:
    return Text(_("Invoice paid"),
                _("Your payment is confirmed: %(amount)s are in your wallet.", amount=_usd(p)),
                ("deposits.show", {"deposit_id": p["deposit_id"]}))


def _invoice_sold(p: dict) -> Text:
    return Text(_("Dollars sold"),
                _("A buyer paid %(rubles)s to your account; %(amount)s left your withdrawal request.",
                  rubles=format_rub(int(p.get("rubles") or 0)), amount=_usd(p)),
                ("seller.index", {}))


def _request_filled(p: dict) -> Text:
    return Text(_("Withdrawal request filled"),
                _("All %(amount)s of your withdrawal request are sold.", amount=_usd(p)),
                ("seller.withdrawals_index", {}))


def _form_failing(p: dict) -> Text:
    from app.connectors.payments.failure_reasons import reason_text

    return Text(_("API form paused after errors"),
                _("Buyers are not sent to your API form “%(name)s” for now.", name=p.get("name") or "")
                + " " + reason_text(p.get("reason")),
                ("seller.api_form", {"form_id": p["form_id"]}))


def _cash_out_sent(p: dict) -> Text:
    return Text(_("Cash-out sent"),
                _("%(amount)s were sent to your room account.", amount=_usd(p)), ("wallet.index", {}))


def _cash_out_failed(p: dict) -> Text:
    return Text(_("Cash-out failed"),
                _("We could not send %(amount)s to your room account; the dollars are back in your wallet.",
                  amount=_usd(p)), ("wallet.index", {}))


def _dispute_opened(p: dict) -> Text:
    if p.get("role") == "seller":
        return Text(_("Invoice under review"),
                    _("A payment for %(rubles)s is being checked by support. Please check that it arrived "
                      "in your provider's cabinet.", rubles=format_rub(int(p.get("rubles") or 0))),
                    ("seller.index", {}))
    return Text(_("Invoice under review"),
                _("Support is checking your payment. We will write to you when it is decided."),
                ("deposits.show", {"deposit_id": p["deposit_id"]}))


def _dispute_answer_requested(p: dict) -> Text:
    from datetime import datetime

    from flask_babel import format_datetime

    due = p.get("due_at")
    when = format_datetime(datetime.fromisoformat(due), "short") if due else ""
    return Text(_("A buyer disputes a payment: your answer is needed"),
                _("A buyer says they paid %(rubles)s and the payment is not confirmed. Check your provider's cabinet "
                  "and answer with what you see (a screenshot or a statement helps) by %(when)s; after that support "
                  "decides without your answer.", rubles=format_rub(int(p.get("rubles") or 0)), when=when),
                ("disputes.show", {"deposit_id": p["deposit_id"]}))


def _dispute_resolved(p: dict) -> Text:
    seller = p.get("role") == "seller"
    if p.get("confirmed"):
        body = (_("Support confirmed the payment; %(amount)s left your withdrawal request.", amount=_usd(p))
                if seller else _("Support confirmed your payment: %(amount)s are in your wallet.", amount=_usd(p)))
        title = _("Review finished: payment confirmed")
    else:
        body = (_("Support did not confirm the payment; the dollars stay yours.") if seller
                else _("Support could not confirm your payment. If you did pay, write to support."))
        title = _("Review finished: payment not confirmed")
    target = ("seller.index", {}) if seller else ("deposits.show", {"deposit_id": p["deposit_id"]})
    return Text(title, body, target)


def _login_failures(p: dict) -> Text:
    return Text(_("Failed sign-ins to your account"),
                _("Someone entered a wrong password or code for your account %(n)d times in a row, so signing in "
                  "to it is slowed down for a while. If it was not you, change your password.",
                  n=int(p.get("failures") or 0)),
                ("auth.account", {}))


def _payment_exception(p: dict) -> Text:
    rubles = format_rub(int(p.get("rubles") or 0))
    if p.get("reason") == "unsettled":
        body = _("Your payment of %(rubles)s arrived after the invoice had ended and could not be credited. "
                 "Support is arranging its return with the seller.", rubles=rubles)
    else:
        body = _("The seller received %(rubles)s more than your invoice. Support is arranging its return "
                 "with the seller; you need do nothing.", rubles=rubles)
    return Text(_("Payment beyond the invoice"), body, ("deposits.show", {"deposit_id": p["deposit_id"]}))


_RENDERERS = {
    "credit_received": _credit_received,
    "invoice_paid": _invoice_paid,
    "invoice_sold": _invoice_sold,
    "request_filled": _request_filled,
    "form_failing": _form_failing,
    "cash_out_sent": _cash_out_sent,
    "cash_out_failed": _cash_out_failed,
    "dispute_opened": _dispute_opened,
    "dispute_resolved": _dispute_resolved,
    "dispute_answer_requested": _dispute_answer_requested,
    "login_failures": _login_failures,
    "payment_exception": _payment_exception,
}


def render(kind: str, params: dict) -> Text:
    """The text of a notification in the current language."""
    return _RENDERERS[kind](params or {})


def target_url(text: Text, *, external: bool = False) -> str:
    """The page a notification leads to (the notification list if that page does not exist here)."""
    endpoint, values = text.target
    if endpoint not in current_app.view_functions:
        endpoint, values = "notifications.index", {}
    if external:
        from app.core.urls import public_url

        return public_url(endpoint, **values)
    return url_for(endpoint, **values)
