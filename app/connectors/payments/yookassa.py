"""YooKassa API v3: payments with HTTP Basic auth and Idempotence-Key.

The caller persists the Idempotence-Key before the first attempt; the adapter
resends the *same* key and body on timeouts and 5xx (YooKassa answers a repeat
with the stored result), so a lost answer never makes a second payment.

Notifications are unsigned: they are accepted only from YooKassa's published
networks and then flagged ``needs_refetch`` — the platform acts on a fresh
``GET /payments/{id}`` made with the seller's credentials, never on the body.

YooKassa cancels only ``waiting_for_capture`` payments (we always capture, so
in practice none); a ``pending`` one cannot be cancelled and ends when it
expires at the provider.  :meth:`cancel` says so by returning ``pending``.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal

from .amounts import format_rubles, parse_rubles
from .base import (
    CreatedInvoice,
    HttpSettings,
    InvalidCredentials,
    InvoiceRequest,
    NotificationRejected,
    PaymentAdapter,
    PaymentStatus,
    ProviderError,
    ProviderUnavailable,
    VerifiedNotification,
    require_credentials,
)
from .transport import HttpClient, json_body

log = logging.getLogger(__name__)

#: YooKassa's published notification networks (https://yookassa.ru/developers/using-api/webhooks)
DEFAULT_NOTIFY_IPS = (
    "185.71.76.0/27", "185.71.77.0/27", "77.75.153.0/25", "77.75.156.11/32",
    "77.75.156.35/32", "77.75.154.128/25", "2a02:5180::/32",
)
DESCRIPTION_MAX = 128
IDEMPOTENCE_KEY_MAX = 64
#: cancellation reason of a payment the buyer did not confirm in time
EXPIRED_REASON = "expired_on_confirmation"


def map_status(raw: str, cancellation_reason: str | None = None) -> str:
    if raw == "succeeded":
        return "paid"
    if raw in ("pending", "waiting_for_capture"):
        return "pending"
    if raw == "canceled":
        return "expired" if cancellation_reason == EXPIRED_REASON else "failed"
    return "unknown"


def _networks(cidrs: Iterable[str]) -> tuple:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


class YooKassaAdapter(PaymentAdapter):
    kind = "yookassa"

    def __init__(self, base_url: str, credentials: Mapping[str, str], http: HttpSettings | None = None,
                 notify_ips: Iterable[str] = DEFAULT_NOTIFY_IPS, session=None) -> None:
        creds = require_credentials(self.kind, credentials)
        self.base_url = base_url.rstrip("/")
        self.shop_id = creds["shop_id"]
        self._auth = (creds["shop_id"], creds["secret_key"])
        self.notify_networks = _networks(notify_ips)
        self.http = HttpClient(self.kind, http, session)

    def __repr__(self) -> str:
        return f"<YooKassaAdapter shop {self.shop_id} at {self.base_url}>"

    def _request(self, method: str, path: str, *, retry: bool, payload: dict | None = None,
                 key: str | None = None) -> dict:
        headers = {"Idempotence-Key": key} if key else {}
        response = self.http.request(method, self.base_url + path, retry=retry, auth=self._auth,
                                     headers=headers, json=payload)
        if response.status_code == 401:
            raise InvalidCredentials("YooKassa refused the shop id or secret key", "invalid_credentials")
        if response.status_code == 202:
            # "still processing": the same key must be sent again later
            raise ProviderUnavailable("YooKassa is still processing the request")
        if response.status_code >= 400:
            try:
                error = json_body(response, self.kind)
            except ProviderUnavailable:
                error = {}
            code = str(error.get("code") or response.status_code)
            description = str(error.get("description") or "")[:200]
            raise ProviderError(f"YooKassa refused {method} {path.split('/')[1]}: {code} {description}".strip(),
                                code)
        return json_body(response, self.kind)

    def check_credentials(self) -> None:
        self._request("GET", "/me", retry=True)

    def create_invoice(self, req: InvoiceRequest, idempotency_key: str) -> CreatedInvoice:
        if not idempotency_key or len(idempotency_key) > IDEMPOTENCE_KEY_MAX:
            raise ValueError("YooKassa needs an Idempotence-Key of 1..64 characters")
        payload = {
            "amount": {"value": format_rubles(req.amount), "currency": "RUB"},
            "capture": True,
            "confirmation": {"type": "redirect", "return_url": req.return_url},
            "description": req.description[:DESCRIPTION_MAX],
            "metadata": {"order_id": req.order_id},
        }
        data = self._request("POST", "/payments", retry=True, payload=payload, key=idempotency_key)
        payment_id = data.get("id")
        confirmation = data.get("confirmation") or {}
        pay_url = confirmation.get("confirmation_url") if isinstance(confirmation, dict) else None
        if not isinstance(payment_id, str) or not isinstance(pay_url, str):
            raise ProviderError("YooKassa created a payment without an id or confirmation_url")
        return CreatedInvoice(payment_id, pay_url, None, str(data.get("status", "")))

    def get_status(self, provider_payment_id: str | None = None, order_id: str | None = None) -> PaymentStatus:
        """By payment id only: YooKassa cannot search by our order id (``unknown`` then; to recover
        a payment whose id was never learned, repeat ``create_invoice`` with the saved key)."""
        if not provider_payment_id:
            if order_id:
                return PaymentStatus("unknown", None, "", None)
            raise ValueError("get_status needs provider_payment_id")
        if "/" in provider_payment_id:
            raise ValueError("malformed YooKassa payment id")
        return self._status(self._request("GET", f"/payments/{provider_payment_id}", retry=True))

    @staticmethod
    def _status(data: Mapping) -> PaymentStatus:
        raw = str(data.get("status", ""))
        details = data.get("cancellation_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        status = map_status(raw, reason)
        paid = None
        if status == "paid":
            amount = data.get("amount")
            try:
                paid = parse_rubles(amount["value"]) if amount.get("currency") == "RUB" else None
            except (AttributeError, KeyError, TypeError, ValueError):
                paid = None
        return PaymentStatus(status, paid, raw, str(data.get("id", "")) or None)

    def cancel(self, provider_payment_id: str) -> PaymentStatus:
        current = self.get_status(provider_payment_id)
        if current.raw_status != "waiting_for_capture":
            return current  # pending cannot be cancelled; final ones need nothing
        key = str(uuid.uuid4())
        return self._status(self._request("POST", f"/payments/{provider_payment_id}/cancel",
                                          retry=True, payload={}, key=key))

    def _ip_allowed(self, remote_addr: str | None) -> bool:
        try:
            address = ipaddress.ip_address((remote_addr or "").strip())
        except ValueError:
            return False
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        return any(address.version == net.version and address in net for net in self.notify_networks)

    def parse_notification(self, headers: Mapping[str, str], body: bytes,
                           remote_addr: str | None) -> VerifiedNotification:
        if not self._ip_allowed(remote_addr):
            raise NotificationRejected(f"sender {remote_addr!s:.45} is not in YooKassa's networks")
        try:
            data = json.loads(body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            raise NotificationRejected("malformed JSON") from None
        if not isinstance(data, dict) or data.get("type") != "notification":
            raise NotificationRejected("not a YooKassa notification")
        event, obj = data.get("event"), data.get("object")
        if not isinstance(event, str) or not isinstance(obj, dict):
            raise NotificationRejected("missing fields: event, object")
        payment_id, raw = obj.get("id"), obj.get("status")
        if not isinstance(payment_id, str) or not payment_id or not isinstance(raw, str):
            raise NotificationRejected("missing fields: object.id, object.status")
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        order_id = metadata.get("order_id")
        details = obj.get("cancellation_details")
        amount = None
        try:
            amount = parse_rubles(obj["amount"]["value"])
        except (KeyError, TypeError, ValueError):
            pass
        return VerifiedNotification(
            provider_payment_id=payment_id,
            order_id=order_id if isinstance(order_id, str) else None,
            status=map_status(raw, details.get("reason") if isinstance(details, dict) else None),
            amount=amount,
            event_key=f"yookassa:{payment_id}:{event}",
            needs_refetch=True,
        )
