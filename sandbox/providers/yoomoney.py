"""YooMoney wallet stand-in: quickpay form, ``api/operation-history``, ``api/account-info``.

The quickpay form (``/yoomoney/quickpay/confirm``, GET or POST) opens a
payment session and redirects the buyer to the hosted pay page; a paid
session becomes an incoming operation in the wallet's history and an HTTP
notification (form-encoded, ``sha1_hash`` signed) to the wallet's URL.  The API
takes ``Authorization: Bearer <token>`` and answers 401 with
``WWW-Authenticate`` on a bad token, and 403 ``insufficient_scope`` when the
token lacks the method's scope (a wallet's ``scopes``; by default both).
Amounts in the API answers are bare JSON numbers, as in the real API.

A wallet is charged YooMoney's fee as the real one is: 3 % of a card payment
(AC), 1 % of a wallet payment (PC), rounded up to the kopeck and taken from the
receiver, so the signed ``amount`` and the history's ``amount`` are net while
``withdraw_amount`` is what the payer sent.  A wallet created with
``"fees": false`` takes none (amount = withdraw_amount).
"""
from __future__ import annotations

import secrets
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, request

from .common import JsonNumber, dumps_with_numbers, now, parse_rubles, rubles, yoomoney_sha1, yoomoney_time
from .notifier import Delivery
from .state import Account, Payment, ProviderSandbox

OPEN = frozenset({"pending"})
QUICKPAY_FORMS = ("button", "shop", "small", "donate")
#: the receiver's fee in basis points of the payment, by payment type (unless a wallet has ``fees`` off)
FEES_BP = {"AC": 300, "PC": 100}
SCOPES = ("account-info", "operation-history")


def net_of(payment: Payment) -> int:
    """What the wallet is credited for a paid payment (its fee, if charged, rounded up to the kopeck)."""
    fee_bp = FEES_BP[payment.extra.get("payment_type", "AC")] if payment.extra.get("fees") else 0
    return payment.paid_amount - (payment.paid_amount * fee_bp + 9_999) // 10_000


def _json(data: dict, status: int = 200) -> Response:
    return Response(dumps_with_numbers(data), status, mimetype="application/json")


class YooMoneySandbox(ProviderSandbox):
    name = "yoomoney"
    title = "ЮMoney / YooMoney"
    open_statuses = OPEN
    account_fields = {"wallet": "key", "notification_secret": "secret", "oauth_token": "token",
                      "notification_url": "notification_url", "fees": "fees", "scopes": "scopes"}

    def new_account(self, values: dict) -> Account:
        return Account("yoomoney", values.get("wallet") or values.get("number") or f"4100{self.store.digits(11)}",
                       values.get("notification_secret") or secrets.token_urlsafe(18),
                       token=values.get("oauth_token") or secrets.token_hex(32),
                       notification_url=values.get("notification_url"), fees=bool(values.get("fees", True)),
                       scopes=list(values.get("scopes", SCOPES)))

    def account_json(self, account: Account) -> dict:
        data = super().account_json(account)
        for name in ("fees", "scopes"):  # settings of the sandbox wallet, not credentials
            data["credentials"].pop(name, None)
        return data

    # --- quickpay and the API ---------------------------------------------------------------

    def blueprint(self) -> Blueprint:
        bp = Blueprint("sandbox_yoomoney", __name__, url_prefix="/yoomoney")

        @bp.route("/quickpay/confirm", methods=["GET", "POST"])
        def quickpay():
            return self.quickpay(request.values)

        @bp.post("/api/operation-history")
        def history():
            wallet = self._bearer()
            if wallet is None:
                return self._unauthorised()
            if "operation-history" not in wallet.scopes:
                return self._forbidden()
            return self.history(wallet, request.form)

        @bp.post("/api/account-info")
        def account_info():
            wallet = self._bearer()
            if wallet is None:
                return self._unauthorised()
            if "account-info" not in wallet.scopes:
                return self._forbidden()
            received = sum(net_of(p) for p in self.store.find(self.name, account=wallet.key,
                                                                          status="paid"))
            return _json({"account": wallet.key, "balance": JsonNumber(rubles(received)), "currency": "643",
                          "account_status": "named", "account_type": "personal"})

        return bp

    def _bearer(self) -> Account | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            return None
        return self.store.account_by_token(self.name, header[7:].strip())

    @staticmethod
    def _unauthorised() -> Response:
        return Response("", 401, {"WWW-Authenticate": 'Bearer code="invalid_token"'})

    @staticmethod
    def _forbidden() -> Response:
        return Response("", 403, {"WWW-Authenticate": 'Bearer error="insufficient_scope"'})

    def quickpay(self, values) -> Response:
        wallet = self.store.account(self.name, values.get("receiver"))
        problems = []
        if wallet is None:
            problems.append("receiver: no such wallet")
        if values.get("quickpay-form") not in QUICKPAY_FORMS:
            problems.append("quickpay-form")
        payment_type = values.get("paymentType", "AC")
        if payment_type not in ("AC", "PC"):
            problems.append("paymentType")
        amount = parse_rubles(values.get("sum", ""))
        if not amount:
            problems.append("sum")
        label = values.get("label", "")
        if len(label) > 64:
            problems.append("label")
        if problems:
            return Response("Некорректные параметры формы / bad form parameters: " + ", ".join(problems),
                            400, mimetype="text/plain")
        payment = self.store.add_payment(Payment(
            provider=self.name, id=secrets.token_hex(8), account=wallet.key, order_id=label, amount=amount,
            description=values.get("targets") or values.get("short-dest") or values.get("formcomment") or "",
            status="pending", created_at=now(), success_url=values.get("successURL") or None,
            extra={"payment_type": payment_type, "fees": wallet.fees},
        ))
        return redirect(self.pay_page_url(payment), 302)

    def history(self, wallet: Account, form) -> Response:
        if form.get("type") and "deposition" not in form.get("type", "").split():
            return _json({"operations": []})
        try:
            records = max(1, min(100, int(form.get("records", "30"))))
            start = int(form.get("start_record", "0"))
        except ValueError:
            return _json({"error": "illegal_param_records"})
        label = form.get("label")
        paid = [p for p in self.store.find(self.name, account=wallet.key, status="paid")
                if label is None or p.order_id == label]
        paid.sort(key=lambda p: p.paid_at, reverse=True)
        page = paid[start:start + records]
        body = {"operations": [self.operation(p) for p in page]}
        if start + records < len(paid):
            body["next_record"] = str(start + records)
        return _json(body)

    @staticmethod
    def operation(payment: Payment) -> dict:
        card = payment.extra.get("payment_type") == "AC"
        return {
            "operation_id": payment.extra["operation_id"],
            "status": "success",
            "datetime": payment.paid_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "title": "Пополнение с банковской карты" if card else "Перевод от " + payment.extra["sender"],
            "direction": "in",
            "amount": JsonNumber(rubles(net_of(payment))),
            "label": payment.order_id,
            "type": "deposition" if card else "incoming-transfer",
        }

    # --- the payer and notifications --------------------------------------------------------

    def expire(self, payment: Payment) -> None:
        """Wallet payments never expire at the provider."""

    def paid(self, payment: Payment) -> list[Delivery]:
        payment.status = "paid"
        payment.extra["operation_id"] = str(900_000_000_000 + self.store.next_number())
        card = payment.extra.get("payment_type") == "AC"
        payment.extra["sender"] = "" if card else f"41001{self.store.digits(10)}"
        wallet = self.store.account(self.name, payment.account)
        if not wallet.notification_url:
            return []
        fields = {
            "notification_type": "card-incoming" if card else "p2p-incoming",
            "operation_id": payment.extra["operation_id"],
            "amount": rubles(net_of(payment)),
            "withdraw_amount": rubles(payment.paid_amount),
            "currency": "643",
            "datetime": yoomoney_time(payment.paid_at),
            "sender": payment.extra["sender"],
            "codepro": "false",
            "label": payment.order_id,
            "unaccepted": "false",
        }
        fields["sha1_hash"] = yoomoney_sha1(fields, wallet.secret)
        return [Delivery(wallet.notification_url, urlencode(fields).encode(),
                         "application/x-www-form-urlencoded", fields["operation_id"])]

    def declined(self, payment: Payment) -> list[Delivery]:
        """A refused card leaves no trace in the receiver's wallet: no operation, no notification."""
        payment.status = "declined"
        return []
