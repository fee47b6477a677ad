"""YooMoney wallet: quickpay link + HTTP notifications + operation history.

There is no "create payment" call: the pay URL is a quickpay link built
locally, and the quickpay ``label`` (our order id) is the only key tying a
payment to an invoice.  So ``provider_payment_id`` is the label.

YooMoney tries a notification only three times, so the status is also polled
from operation-history by label.  Nothing can be cancelled or expired at the
provider: a wallet accepts a transfer whenever the buyer sends it, and the
platform's own expiry (plus its late-payment rule) is what ends an invoice.

Amounts come from signed data only: the notification's ``amount`` (covered by
``sha1_hash``; ``withdraw_amount`` is not, and is never read) or the operation
read back with the seller's token.  Both are what the wallet was credited, net
of YooMoney's fee for the payment type, and both are turned into the invoice
amount they stand for by :func:`.amounts.gross_of`, so the notification and
the poll report one figure for one payment.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

from .amounts import format_rubles, gross_of, parse_rubles
from .base import (
    CreatedInvoice,
    HttpSettings,
    InsufficientScope,
    InvalidCredentials,
    InvoiceRequest,
    NotificationRejected,
    PaymentAdapter,
    PaymentStatus,
    ProviderError,
    VerifiedNotification,
    require_credentials,
)
from .signatures import YOOMONEY_HASHED_FIELDS, yoomoney_sha1_valid
from .transport import HttpClient, json_body

log = logging.getLogger(__name__)

LABEL_MAX = 64
#: RUB in ISO 4217 numeric form, as YooMoney writes it
RUB = "643"
NOTIFICATION_FIELDS = (*YOOMONEY_HASHED_FIELDS, "label", "sha1_hash", "unaccepted")
#: quickpay payment types: AC = bank card, PC = YooMoney wallet
PAYMENT_TYPES = ("AC", "PC")
#: the signed ``notification_type`` names how the payer paid, hence the fee taken from ``amount``
NOTIFICATION_PAYMENT_TYPES = {"card-incoming": "AC", "p2p-incoming": "PC"}
#: the same in operation-history (``type`` of an incoming operation)
OPERATION_PAYMENT_TYPES = {"deposition": "AC", "incoming-transfer": "PC"}
#: what the seller's token must allow: account-info for the credential check, operation-history for polling
REQUIRED_SCOPES = ("account-info", "operation-history")
_WALLET = re.compile(r"\d{11,20}")


def map_operation_status(raw: str) -> str:
    """History statuses are not fully documented: only ``success`` is money, ``refused`` a failure."""
    if raw == "success":
        return "paid"
    if raw == "refused":
        return "failed"
    return "pending"


class YooMoneyAdapter(PaymentAdapter):
    kind = "yoomoney"

    def __init__(self, base_url: str, credentials: Mapping[str, str], http: HttpSettings | None = None,
                 quickpay_url: str | None = None, payment_type: str = "AC", session=None) -> None:
        creds = require_credentials(self.kind, credentials)
        if not _WALLET.fullmatch(creds["wallet"]):
            raise InvalidCredentials("a YooMoney wallet number is 11 to 20 digits")
        if payment_type not in PAYMENT_TYPES:
            raise ValueError(f"paymentType must be one of {PAYMENT_TYPES}")
        self.base_url = base_url.rstrip("/")
        self.quickpay_url = quickpay_url or f"{self.base_url}/quickpay/confirm"
        self.wallet = creds["wallet"]
        self.payment_type = payment_type
        self._secret = creds["notification_secret"]
        self._token = creds["oauth_token"]
        self.http = HttpClient(self.kind, http, session)

    def __repr__(self) -> str:
        return f"<YooMoneyAdapter wallet {self.wallet} at {self.base_url}>"

    def _api(self, method: str, form: dict) -> dict:
        response = self.http.request("POST", f"{self.base_url}/api/{method}", retry=True, data=form,
                                     headers={"Authorization": f"Bearer {self._token}"})
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status_code == 403 or "insufficient_scope" in challenge:
            # A valid token made without this permission: the seller must issue one with the scopes.
            raise InsufficientScope(f"the OAuth token does not allow {method}; it needs the scopes "
                                    f"{' and '.join(REQUIRED_SCOPES)}", "insufficient_scope")
        if response.status_code == 401:
            raise InvalidCredentials("YooMoney refused the OAuth token (invalid or revoked)", "401")
        if response.status_code >= 400:
            raise ProviderError(f"YooMoney {method}: HTTP {response.status_code}")
        data = json_body(response, self.kind)
        if data.get("error"):
            raise ProviderError(f"YooMoney {method} refused: {str(data['error'])[:100]}", str(data["error"]))
        return data

    def check_credentials(self) -> None:
        """The token works and belongs to this wallet (the notification secret cannot be checked live)."""
        account = self._api("account-info", {}).get("account")
        if str(account) != self.wallet:
            raise InvalidCredentials("the OAuth token belongs to another YooMoney wallet")

    def create_invoice(self, req: InvoiceRequest, idempotency_key: str) -> CreatedInvoice:
        """A quickpay link, built locally (deterministic, so a repeat gives the same link)."""
        if len(req.order_id) > LABEL_MAX:
            raise ProviderError("the order id is longer than a YooMoney label (64)")
        query = {
            "receiver": self.wallet,
            "quickpay-form": "button",
            "paymentType": self.payment_type,
            "sum": format_rubles(req.amount),
            "label": req.order_id,
            "successURL": req.return_url,
            "targets": req.description[:150],
        }
        separator = "&" if "?" in self.quickpay_url else "?"
        return CreatedInvoice(req.order_id, self.quickpay_url + separator + urlencode(query), None, "created")

    def get_status(self, provider_payment_id: str | None = None, order_id: str | None = None) -> PaymentStatus:
        """Sum of the label's successful incoming operations, each as the invoice amount it pays
        (``amount`` there is what the wallet received after the fee of the operation's payment type)."""
        label = provider_payment_id or order_id
        if not label:
            raise ValueError("get_status needs the label (provider_payment_id or order_id)")
        data = self._api("operation-history", {"label": label, "type": "deposition", "records": "100"})
        operations = [op for op in data.get("operations") or []
                      if isinstance(op, dict) and op.get("label") == label and op.get("direction", "in") == "in"]
        if not operations:
            return PaymentStatus("pending", None, "none", label)
        statuses = [str(op.get("status", "")) for op in operations]
        paid = 0
        for op in operations:
            if op.get("status") == "success":
                try:
                    paid += gross_of(self.kind, OPERATION_PAYMENT_TYPES.get(str(op.get("type"))),
                                     parse_rubles(op.get("amount")))
                except ValueError:
                    log.warning("yoomoney operation for label %s has a malformed amount", label)
        if "success" in statuses:
            return PaymentStatus("paid", paid, "success", label)
        mapped = [map_operation_status(s) for s in statuses]
        status = "pending" if "pending" in mapped else "failed"
        return PaymentStatus(status, None, ",".join(sorted(set(statuses))), label)

    def cancel(self, provider_payment_id: str) -> PaymentStatus:
        """No cancel exists for a wallet: report the current state."""
        return self.get_status(provider_payment_id)

    def parse_notification(self, headers: Mapping[str, str], body: bytes,
                           remote_addr: str | None) -> VerifiedNotification:
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise NotificationRejected("malformed form body") from None
        fields = dict(pairs)
        if len(fields) != len(pairs):
            raise NotificationRejected("repeated form fields")
        missing = [name for name in NOTIFICATION_FIELDS if name not in fields]
        if missing:
            raise NotificationRejected(f"missing fields: {', '.join(missing)}")
        if not yoomoney_sha1_valid(fields, self._secret):
            raise NotificationRejected("bad sha1_hash")
        if fields["codepro"] != "false":
            raise NotificationRejected("protected (codepro) transfer")
        if fields["unaccepted"] != "false":
            raise NotificationRejected("transfer not accepted (unaccepted=true)")
        if fields["currency"] != RUB:
            raise NotificationRejected("currency is not RUB")
        if fields.get("test_notification") == "true":
            raise NotificationRejected("test notification")
        if not fields["label"] or not fields["operation_id"]:
            raise NotificationRejected("no label: not one of our invoices")
        try:
            # the signed amount (net of the fee), never the unsigned withdraw_amount
            net = parse_rubles(fields["amount"])
        except ValueError:
            raise NotificationRejected("malformed amount") from None
        amount = gross_of(self.kind, NOTIFICATION_PAYMENT_TYPES.get(fields["notification_type"]), net)
        return VerifiedNotification(
            provider_payment_id=fields["label"],
            order_id=fields["label"],
            status="paid",
            amount=amount,
            event_key=f"yoomoney:{fields['operation_id']}",
            needs_refetch=False,
        )
