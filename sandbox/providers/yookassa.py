"""YooKassa API v3 stand-in: ``/yookassa/v3/payments``, ``/payments/{id}``, ``/payments/{id}/cancel``, ``/me``.

HTTP Basic ``shopId:secretKey``; ``Idempotence-Key`` is required on POST and
kept 24 hours per shop: the same key with the same request returns the stored
answer, with a different request 400.  As in the real API, only
``waiting_for_capture`` payments can be cancelled; a ``pending`` one is
cancelled by the provider itself when it expires (``expired_on_confirmation``),
after the shop's ``payment_ttl_seconds`` — the sandbox's stand-in for YooKassa's
own confirmation timeout.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from flask import Blueprint, jsonify, request

from .common import now, parse_rubles, rubles, yookassa_time
from .notifier import Delivery
from .state import Account, Payment, ProviderSandbox

IDEMPOTENCE_TTL = 24 * 3600
OPEN = frozenset({"pending"})


def _error(status: int, code: str, description: str, parameter: str | None = None):
    body = {"type": "error", "id": str(uuid.uuid4()), "code": code, "description": description}
    if parameter:
        body["parameter"] = parameter
    return status, body


@dataclass
class _Stored:
    fingerprint: str
    status: int
    body: dict
    at: float


class YooKassaSandbox(ProviderSandbox):
    name = "yookassa"
    title = "ЮKassa / YooKassa"
    open_statuses = OPEN
    account_fields = {"shop_id": "key", "secret_key": "secret", "notification_url": "notification_url",
                      "payment_ttl_seconds": "payment_ttl_seconds"}

    def __init__(self, store, notifier) -> None:
        super().__init__(store, notifier)
        self.idempotence: dict[tuple[str, str], _Stored] = {}

    def new_account(self, values: dict) -> Account:
        return Account("yookassa", values.get("shop_id") or self.store.digits(6),
                       values.get("secret_key") or f"test_{self.store.digits(24)}",
                       notification_url=values.get("notification_url"),
                       payment_ttl_seconds=int(values.get("payment_ttl_seconds") or 3600))

    # --- the API ----------------------------------------------------------------------------

    def blueprint(self) -> Blueprint:
        bp = Blueprint("sandbox_yookassa", __name__, url_prefix="/yookassa/v3")

        def respond(result):
            status, body = result
            return jsonify(body), status

        @bp.get("/me")
        def me():
            shop = self._authenticate()
            if shop is None:
                return respond(self._unauthorised())
            return respond((200, {"account_id": shop.key, "test": True, "fiscalization_enabled": False,
                                  "payment_methods": ["bank_card", "sbp", "yoo_money"], "status": "enabled"}))

        @bp.post("/payments")
        def create():
            shop = self._authenticate()
            if shop is None:
                return respond(self._unauthorised())
            return respond(self._idempotent(shop, lambda body: self._create(shop, body)))

        @bp.get("/payments/<payment_id>")
        def read(payment_id: str):
            shop = self._authenticate()
            if shop is None:
                return respond(self._unauthorised())
            payment = self._own(shop, payment_id)
            if payment is None:
                return respond(_error(404, "not_found", "Payment not found", "payment_id"))
            return respond((200, self.api_json(payment)))

        @bp.post("/payments/<payment_id>/cancel")
        def cancel(payment_id: str):
            shop = self._authenticate()
            if shop is None:
                return respond(self._unauthorised())
            return respond(self._idempotent(shop, lambda body: self._cancel(shop, payment_id)))

        return bp

    def _authenticate(self) -> Account | None:
        auth = request.authorization
        if auth is None or auth.type != "basic" or not auth.username or auth.password is None:
            return None
        shop = self.store.account(self.name, auth.username)
        if shop is None:
            return None
        if not hmac.compare_digest(shop.secret.encode(), auth.password.encode()):
            return None
        return shop

    @staticmethod
    def _unauthorised():
        return _error(401, "invalid_credentials", "Authentication by given credentials failed")

    def _own(self, shop: Account, payment_id: str) -> Payment | None:
        payment = self.load(payment_id)
        return payment if payment is not None and payment.account == shop.key else None

    def _idempotent(self, shop: Account, handler):
        key = request.headers.get("Idempotence-Key", "")
        if not key:
            return _error(400, "invalid_request", "Idempotence key is missing", "Idempotence-Key")
        if len(key) > 64:
            return _error(400, "invalid_request", "Idempotence key is longer than 64 characters",
                          "Idempotence-Key")
        raw = request.get_data() or b"{}"
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "invalid_request", "Request body is not valid JSON")
        canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        fingerprint = hashlib.sha256(f"{request.method} {request.path} {canonical}".encode()).hexdigest()
        with self.store.lock:
            stored = self.idempotence.get((shop.key, key))
            if stored is not None and time.time() - stored.at < IDEMPOTENCE_TTL:
                if stored.fingerprint != fingerprint:
                    return _error(400, "invalid_request",
                                  "Idempotence key duplicated: it was used with another request",
                                  "Idempotence-Key")
                return stored.status, stored.body
            status, answer = handler(body)
            if status < 500:
                self.idempotence[(shop.key, key)] = _Stored(fingerprint, status, answer, time.time())
            return status, answer

    def _create(self, shop: Account, body) -> tuple[int, dict]:
        if not isinstance(body, dict):
            return _error(400, "invalid_request", "Request body must be an object")
        amount = body.get("amount")
        value = amount.get("value") if isinstance(amount, dict) else None
        kopecks = parse_rubles(value) if isinstance(value, str) else None
        if not kopecks:
            return _error(400, "invalid_request", "amount.value must be a positive decimal string",
                          "amount.value")
        if amount.get("currency") != "RUB":
            return _error(400, "invalid_request", "Only RUB is supported in the sandbox", "amount.currency")
        confirmation = body.get("confirmation")
        if not isinstance(confirmation, dict) or confirmation.get("type") != "redirect" \
                or not isinstance(confirmation.get("return_url"), str):
            return _error(400, "invalid_request", "confirmation.type=redirect with return_url is required",
                          "confirmation")
        description = body.get("description", "")
        if not isinstance(description, str) or len(description) > 128:
            return _error(400, "invalid_request", "description is limited to 128 characters", "description")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict) or len(metadata) > 16:
            return _error(400, "invalid_request", "metadata must be an object of at most 16 keys", "metadata")
        created = now()
        payment = self.store.add_payment(Payment(
            provider=self.name, id=str(uuid.UUID(int=self.store.rng.getrandbits(128), version=4)),
            account=shop.key, order_id=str(metadata.get("order_id", "")), amount=kopecks,
            description=description, status="pending", created_at=created,
            expires_at=created + timedelta(seconds=shop.payment_ttl_seconds),
            success_url=confirmation["return_url"], metadata=metadata,
            extra={"capture": body.get("capture") is True},
        ))
        return 200, self.api_json(payment)

    def _cancel(self, shop: Account, payment_id: str) -> tuple[int, dict]:
        payment = self._own(shop, payment_id)
        if payment is None:
            return _error(404, "not_found", "Payment not found", "payment_id")
        if payment.status != "waiting_for_capture":
            return _error(400, "invalid_request",
                          f"Payment in status {payment.status} can't be canceled: "
                          "only waiting_for_capture payments can", "payment_id")
        payment.status = "canceled"
        payment.extra["cancellation_details"] = {"party": "merchant", "reason": "canceled_by_merchant"}
        self.notifier.send(self.name, payment.id, [d for d in [self._notification(payment, "payment.canceled")]
                                                   if d is not None])
        return 200, self.api_json(payment)

    def api_json(self, payment: Payment) -> dict:
        """The payment object exactly as the API shows it."""
        reported = payment.paid_amount if payment.paid_amount is not None else payment.amount
        data = {
            "id": payment.id,
            "status": payment.status,
            "paid": payment.status in ("succeeded", "waiting_for_capture"),
            "amount": {"value": rubles(reported), "currency": "RUB"},
            "created_at": yookassa_time(payment.created_at),
            "description": payment.description,
            "metadata": payment.metadata,
            "recipient": {"account_id": payment.account, "gateway_id": "100500"},
            "refundable": payment.status == "succeeded",
            "test": True,
        }
        if payment.status == "pending":
            data["confirmation"] = {"type": "redirect", "return_url": payment.success_url,
                                    "confirmation_url": self.pay_page_url(payment)}
        if payment.status in ("pending", "waiting_for_capture") and payment.expires_at:
            data["expires_at"] = yookassa_time(payment.expires_at)
        if payment.status == "succeeded":
            data["captured_at"] = yookassa_time(payment.paid_at or now())
            data["payment_method"] = {"type": "bank_card", "id": payment.id, "saved": False,
                                      "title": "Bank card *4444"}
        if payment.status == "canceled":
            data["cancellation_details"] = payment.extra.get("cancellation_details", {})
        return data

    # --- the payer and notifications --------------------------------------------------------

    def expire(self, payment: Payment) -> None:
        payment.status = "canceled"
        payment.extra["cancellation_details"] = {"party": "yoo_money", "reason": "expired_on_confirmation"}
        delivery = self._notification(payment, "payment.canceled")
        if delivery is not None:
            self.notifier.send(self.name, payment.id, [delivery])

    def paid(self, payment: Payment) -> list[Delivery]:
        if payment.extra.get("capture"):
            payment.status = "succeeded"
            event = "payment.succeeded"
        else:
            payment.status = "waiting_for_capture"
            event = "payment.waiting_for_capture"
        return [d for d in [self._notification(payment, event)] if d is not None]

    def declined(self, payment: Payment) -> list[Delivery]:
        payment.status = "canceled"
        payment.extra["cancellation_details"] = {"party": "payment_network", "reason": "insufficient_funds"}
        return [d for d in [self._notification(payment, "payment.canceled")] if d is not None]

    def _notification(self, payment: Payment, event: str) -> Delivery | None:
        shop = self.store.account(self.name, payment.account)
        if not shop.notification_url:
            return None
        body = {"type": "notification", "event": event, "object": self.api_json(payment)}
        return Delivery(shop.notification_url, json.dumps(body, ensure_ascii=False).encode(),
                        "application/json", event)

    def payment_json(self, payment: Payment) -> dict:
        data = super().payment_json(payment)
        data["api"] = self.api_json(payment)
        return data
