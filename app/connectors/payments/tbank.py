"""T-Bank (Tinkoff) Acquiring API v2: Init / GetState / Confirm / Cancel / CheckOrder / GetQr.

T-Bank has no idempotency key: the OrderId (our order id) is the key, and the
provider refuses a second Init with the same OrderId.  So after any unknown
outcome of Init (timeout, 5xx, garbled answer) the adapter asks CheckOrder
before it Inits again, and a "duplicate OrderId" answer is resolved the same
way.  Creating twice is therefore impossible, whatever the network does.

CheckOrder does not return the PaymentURL; a payment recovered that way is
offered through its SBP link (GetQr), which a phone opens as a bank-app link.

Two-stage terminals stop a paid payment at AUTHORIZED: the buyer's money is
held, and only ``Confirm`` moves it.  The adapter completes such a payment
wherever it meets one (a status read, the cancel at expiry, an AUTHORIZED
notification, which is flagged for re-reading), so every path of the platform
sees what a single-stage terminal shows.  T-Bank confirms only from
AUTHORIZED: a second Confirm (a retry, a poll racing the notification) is
refused as a wrong status and captures nothing, so the PaymentId is the
operation's unique key, and any unclear answer is settled by reading the state.

``RedirectDueDate`` must be at least a minute after T-Bank receives Init: the
adapter never sends less than that plus ``REDIRECT_DUE_SLACK`` (an invoice
created late in its life keeps the pay page open a few seconds past it; the
platform cancels the page when its invoice expires).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from .base import (
    CreatedInvoice,
    HttpSettings,
    InvalidCredentials,
    InvoiceRequest,
    NotificationRejected,
    NotificationReply,
    PaymentAdapter,
    PaymentStatus,
    ProviderError,
    ProviderUnavailable,
    VerifiedNotification,
    require_credentials,
)
from .signatures import tbank_token, tbank_token_valid
from .transport import HttpClient, json_body

log = logging.getLogger(__name__)

STATUS_MAP = {
    "NEW": "pending",
    "FORM_SHOWED": "pending",
    "AUTHORIZING": "pending",
    "3DS_CHECKING": "pending",
    "3DS_CHECKED": "pending",
    # two notifications per payment: AUTHORIZED is not money yet, CONFIRMED is
    "AUTHORIZED": "pending",
    "CONFIRMING": "pending",
    "CONFIRMED": "paid",
    "CANCELED": "failed",
    "REJECTED": "failed",
    "AUTH_FAIL": "failed",
    "ATTEMPTS_EXPIRED": "failed",
    "DEADLINE_EXPIRED": "expired",
    "REVERSED": "failed",
    "REFUNDED": "failed",
    # money partly returned or on its way back: a person has to look
    "REVERSING": "unknown",
    "PARTIAL_REVERSED": "unknown",
    "REFUNDING": "unknown",
    "PARTIAL_REFUNDED": "unknown",
}
#: statuses from which Cancel voids a payment; later ones would reverse or refund real money
CANCELLABLE = frozenset({"NEW", "FORM_SHOWED"})
FINAL_FAILURES = frozenset({"CANCELED", "REJECTED", "AUTH_FAIL", "ATTEMPTS_EXPIRED", "DEADLINE_EXPIRED",
                            "REVERSED", "REFUNDED"})
#: bad token (204, 205), terminal unknown or blocked (501, 202)
CREDENTIAL_ERRORS = frozenset({"202", "204", "205", "501"})
DUPLICATE_ORDER = "20"
#: SBP refuses payments under 10 rubles
SBP_MIN_KOPECKS = 1000
DESCRIPTION_MAX = 140
NOTIFICATION_FIELDS = ("TerminalKey", "OrderId", "Success", "Status", "PaymentId", "ErrorCode", "Amount", "Token")
#: an order id that never exists: CheckOrder on it proves the credentials without side effects
CREDENTIAL_PROBE_ORDER = "pokerpay-credential-check"
#: T-Bank refuses a RedirectDueDate less than this after it receives Init (and more than 90 days)
REDIRECT_DUE_MIN = timedelta(minutes=1)
REDIRECT_DUE_MAX = timedelta(days=90)
#: between our clock reading and T-Bank's check: the request's way there and the two clocks' skew
REDIRECT_DUE_SLACK = timedelta(seconds=15)
#: a two-stage terminal's paid-but-held payment, which Confirm completes
AUTHORIZED = "AUTHORIZED"


def map_status(raw: str) -> str:
    return STATUS_MAP.get(raw, "unknown")


def redirect_due_date(expires_at: datetime, now: datetime | None = None) -> str:
    """``RedirectDueDate`` for an invoice expiring at ``expires_at``: never sooner than T-Bank accepts.

    The pay page closes with the invoice (whole seconds, rounded down: never after it) unless that is
    too soon for T-Bank; then it closes at the earliest moment T-Bank takes (rounded up)."""
    now = now or datetime.now(UTC)
    earliest = now + REDIRECT_DUE_MIN + REDIRECT_DUE_SLACK
    due = min(expires_at.astimezone(UTC).replace(microsecond=0), now + REDIRECT_DUE_MAX)
    if due < earliest:
        due = earliest.replace(microsecond=0) + (timedelta(seconds=1) if earliest.microsecond else timedelta(0))
    return due.isoformat(timespec="seconds")


class TBankAdapter(PaymentAdapter):
    kind = "tbank"

    def __init__(self, base_url: str, credentials: Mapping[str, str],
                 http: HttpSettings | None = None, session=None) -> None:
        creds = require_credentials(self.kind, credentials)
        self.base_url = base_url.rstrip("/")
        self.terminal_key = creds["terminal_key"]
        self._password = creds["password"]
        self.http = HttpClient(self.kind, http, session)

    def __repr__(self) -> str:  # never show the password
        return f"<TBankAdapter {self.terminal_key} at {self.base_url}>"

    # --- calls ------------------------------------------------------------------------------

    def _call(self, method: str, payload: dict, *, retry: bool) -> dict:
        body = {"TerminalKey": self.terminal_key, **payload}
        body["Token"] = tbank_token(body, self._password)
        response = self.http.request("POST", f"{self.base_url}/{method}", json=body, retry=retry)
        if response.status_code >= 400:
            raise ProviderError(f"T-Bank {method}: HTTP {response.status_code}")
        data = json_body(response, self.kind)
        code = str(data.get("ErrorCode", ""))
        if code in CREDENTIAL_ERRORS:
            raise InvalidCredentials(f"T-Bank refused the terminal key or password (error {code})", code)
        if data.get("Success") is not True or code != "0":
            message = str(data.get("Message") or "")[:200]
            raise ProviderError(f"T-Bank {method} refused: error {code or '?'} {message}".strip(), code or None)
        return data

    def check_credentials(self) -> None:
        try:
            self._call("CheckOrder", {"OrderId": CREDENTIAL_PROBE_ORDER}, retry=True)
        except InvalidCredentials:
            raise
        except ProviderError:
            pass  # "no such order" and the like: the token was accepted

    # --- create -----------------------------------------------------------------------------

    def create_invoice(self, req: InvoiceRequest, idempotency_key: str) -> CreatedInvoice:
        """Init with OrderId = ``req.order_id`` (``idempotency_key`` is unused: the OrderId is the key)."""
        payload = {
            "Amount": req.amount,
            "OrderId": req.order_id,
            "Description": req.description[:DESCRIPTION_MAX],
            "SuccessURL": req.return_url,
            "FailURL": req.return_url,
            "RedirectDueDate": redirect_due_date(req.expires_at),
        }
        if req.notification_url:
            payload["NotificationURL"] = req.notification_url
        for _ in range(2):
            try:
                data = self._call("Init", payload, retry=False)
                payment_id, pay_url = str(data["PaymentId"]), data["PaymentURL"]
                if not isinstance(pay_url, str) or not payment_id:
                    raise KeyError("PaymentURL")
            except (ProviderUnavailable, KeyError):
                log.warning("tbank Init for order %s: outcome unknown, reconciling by CheckOrder", req.order_id)
                found = self._find_order(req.order_id)
                if found is not None:
                    return self._reconciled(found, req.amount)
                continue  # nothing landed: a new Init cannot duplicate
            except ProviderError as exc:
                if exc.code != DUPLICATE_ORDER:
                    raise
                log.info("tbank Init for order %s: OrderId already used, reconciling", req.order_id)
                found = self._find_order(req.order_id)
                if found is None:
                    raise
                return self._reconciled(found, req.amount)
            return CreatedInvoice(payment_id, pay_url, self._sbp_payload_or_none(payment_id, req.amount),
                                  str(data.get("Status", "NEW")))
        raise ProviderUnavailable("T-Bank Init: no answer twice and no payment found for the order")

    def _check_order(self, order_id: str) -> list[dict] | None:
        """The order's payments, or None when T-Bank says it has none (any non-credential refusal)."""
        try:
            data = self._call("CheckOrder", {"OrderId": order_id}, retry=True)
        except InvalidCredentials:
            raise
        except ProviderError:
            return None  # safe: a wrong "none" only leads to an Init that T-Bank refuses as a duplicate
        payments = data.get("Payments")
        if not isinstance(payments, list):
            return None
        return [p for p in payments if isinstance(p, dict) and p.get("PaymentId") is not None]

    def _find_order(self, order_id: str) -> dict | None:
        """The order's live (or paid) payment; ProviderError if it exists but is dead."""
        payments = self._check_order(order_id)
        if not payments:
            return None
        alive = [p for p in payments if str(p.get("Status")) not in FINAL_FAILURES]
        if not alive:
            last = payments[-1]
            raise ProviderError(f"T-Bank order already used; its payment is {last.get('Status')}", DUPLICATE_ORDER)
        paid = [p for p in alive if p.get("Status") == "CONFIRMED"]
        return (paid or alive)[-1]

    def _reconciled(self, found: dict, amount: int) -> CreatedInvoice:
        payment_id, status = str(found["PaymentId"]), str(found.get("Status", ""))
        payload = self._sbp_payload(payment_id, amount)
        if payload is None:
            raise ProviderError("T-Bank payment exists but its pay link cannot be recovered (below SBP minimum)")
        return CreatedInvoice(payment_id, payload, payload, status)

    def _sbp_payload(self, payment_id: str, amount: int) -> str | None:
        if amount < SBP_MIN_KOPECKS:
            return None
        data = self._call("GetQr", {"PaymentId": payment_id, "DataType": "PAYLOAD"}, retry=True)
        payload = data.get("Data")
        if not isinstance(payload, str) or not payload.startswith("https://"):
            raise ProviderUnavailable("T-Bank GetQr returned no SBP link")
        return payload

    def _sbp_payload_or_none(self, payment_id: str, amount: int) -> str | None:
        """SBP is a convenience next to PaymentURL: its failure must not fail the invoice."""
        try:
            return self._sbp_payload(payment_id, amount)
        except (ProviderError, ProviderUnavailable) as exc:
            log.warning("tbank GetQr for payment %s failed: %s", payment_id, exc)
            return None

    # --- read / cancel ----------------------------------------------------------------------

    def get_status(self, provider_payment_id: str | None = None, order_id: str | None = None) -> PaymentStatus:
        """The payment's status; an AUTHORIZED one (two-stage terminal) is confirmed first."""
        if provider_payment_id:
            return self._completed(self._get_state(provider_payment_id), provider_payment_id)
        if order_id:
            payments = self._check_order(order_id)
            if not payments:
                return PaymentStatus("unknown", None, "", None)
            paid = [p for p in payments if p.get("Status") == "CONFIRMED"]
            alive = [p for p in payments if str(p.get("Status")) not in FINAL_FAILURES]
            chosen = (paid or alive or payments)[-1]
            return self._completed(chosen, str(chosen["PaymentId"]))
        raise ValueError("get_status needs provider_payment_id or order_id")

    def _get_state(self, payment_id: str) -> dict:
        return self._call("GetState", {"PaymentId": payment_id}, retry=True)

    def _completed(self, data: Mapping, payment_id: str) -> PaymentStatus:
        if str(data.get("Status", "")) == AUTHORIZED:
            return self.confirm(payment_id)
        return self._status(data, payment_id)

    def confirm(self, payment_id: str) -> PaymentStatus:
        """Complete an AUTHORIZED payment (two-stage terminal): Confirm, then read what T-Bank now says.

        Confirm is sent once per call and never retried blindly (``retry=False``); refused (already
        confirmed, reversed meanwhile) or unanswered, the state read afterwards is the answer, and a
        payment still AUTHORIZED is confirmed by the next read (the poller and sweepers re-drive it).
        The amount comes from that read, never from Confirm's answer.
        """
        try:
            self._call("Confirm", {"PaymentId": payment_id}, retry=False)
        except InvalidCredentials:
            raise
        except (ProviderError, ProviderUnavailable) as exc:
            log.warning("tbank Confirm of %s did not answer cleanly (%s); re-reading", payment_id, exc)
        else:
            log.info("tbank payment %s confirmed (two-stage terminal)", payment_id)
        return self._status(self._get_state(payment_id), payment_id)

    @staticmethod
    def _status(data: Mapping, payment_id: str) -> PaymentStatus:
        raw = str(data.get("Status", ""))
        status = map_status(raw)
        amount = data.get("Amount")
        paid = amount if status == "paid" and isinstance(amount, int) and not isinstance(amount, bool) else None
        return PaymentStatus(status, paid, raw, payment_id)

    def cancel(self, provider_payment_id: str) -> PaymentStatus:
        """Cancel only a NEW / FORM_SHOWED payment: on a later one Cancel would reverse or refund money.

        A payment that moves on between the read and the Cancel is still reversed by T-Bank
        (REVERSED/REFUNDED, both ``failed``); the returned status says which happened.
        """
        data = self._get_state(provider_payment_id)
        if str(data.get("Status", "")) == AUTHORIZED:
            return self.confirm(provider_payment_id)  # the buyer paid before the end: it settles, as CONFIRMED does
        current = self._status(data, provider_payment_id)
        if current.raw_status not in CANCELLABLE:
            return current
        try:
            data = self._call("Cancel", {"PaymentId": provider_payment_id}, retry=False)
        except (ProviderError, ProviderUnavailable) as exc:
            if isinstance(exc, InvalidCredentials):
                raise
            log.warning("tbank Cancel of %s did not answer cleanly (%s); re-reading", provider_payment_id, exc)
            return self._status(self._get_state(provider_payment_id), provider_payment_id)
        return self._status(data, provider_payment_id)

    # --- notifications ----------------------------------------------------------------------

    def parse_notification(self, headers: Mapping[str, str], body: bytes,
                           remote_addr: str | None) -> VerifiedNotification:
        try:
            data = json.loads(body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            raise NotificationRejected("malformed JSON") from None
        if not isinstance(data, dict):
            raise NotificationRejected("notification is not a JSON object")
        missing = [name for name in NOTIFICATION_FIELDS if data.get(name) is None]
        if missing:
            raise NotificationRejected(f"missing fields: {', '.join(missing)}")
        if data["TerminalKey"] != self.terminal_key:
            raise NotificationRejected("notification for another terminal")
        if not tbank_token_valid(data, self._password):
            raise NotificationRejected("bad Token")
        amount = data["Amount"]
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise NotificationRejected("Amount is not an integer number of kopecks")
        payment_id, raw = str(data["PaymentId"]), str(data["Status"])
        return VerifiedNotification(
            provider_payment_id=payment_id,
            order_id=str(data["OrderId"]),
            status=map_status(raw),
            amount=amount,
            event_key=f"tbank:{payment_id}:{raw}",
            # a two-stage terminal's AUTHORIZED waits for Confirm: the re-read (get_status) sends it
            needs_refetch=raw == AUTHORIZED,
        )

    def notification_response(self) -> NotificationReply:
        """T-Bank repeats a notification until the body is exactly ``OK``."""
        return NotificationReply("OK", 200, {"Content-Type": "text/plain; charset=utf-8"})
