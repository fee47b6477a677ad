"""T-Bank Acquiring API v2 stand-in: ``POST /tbank/v2/Init|GetState|Confirm|Cancel|CheckOrder|GetQr``.

Every call is Token-signed JSON and is answered HTTP 200 with ``Success`` /
``ErrorCode``, as T-Bank does.  Error codes the contract fixes: 204 bad token,
20 reused OrderId; the others (501 unknown terminal, 7 order not found,
9999 bad parameters, 255 payment not found, 3 wrong status) are the sandbox's
choice where the public docs were not conclusive.

As the contract says, ``RedirectDueDate`` must be at least a minute after Init
arrives (and at most 90 days), and a two-stage terminal (``two_stage`` on the
account) stops a paid payment at AUTHORIZED until ``Confirm``, which moves it
to CONFIRMED once: a second Confirm is refused as a wrong status.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

from flask import Blueprint, jsonify, request

from .common import now, tbank_token, tbank_token_ok
from .notifier import Delivery
from .state import Account, Payment, ProviderSandbox

OPEN = frozenset({"NEW", "FORM_SHOWED"})
SBP_MIN = 1000
DEFAULT_DUE = timedelta(hours=24)
MAX_DUE = timedelta(days=90)
#: sandbox-only account settings, not credentials the platform is given
_ACCOUNT_SETTINGS = ("two_stage", "redirect_min_seconds")


def _error(code: str, message: str, details: str = "", **extra) -> dict:
    return {"Success": False, "ErrorCode": code, "Message": message, "Details": details, **extra}


class TBankSandbox(ProviderSandbox):
    name = "tbank"
    title = "Т-Банк / T-Bank"
    open_statuses = OPEN
    account_fields = {"terminal_key": "key", "password": "secret", "notification_url": "notification_url",
                      "two_stage": "two_stage", "redirect_min_seconds": "redirect_min_seconds"}

    def new_account(self, values: dict) -> Account:
        number = self.store.digits(6)
        return Account("tbank", values.get("terminal_key") or f"{number}DEMO",
                       values.get("password") or f"pw{self.store.digits(10)}",
                       notification_url=values.get("notification_url"),
                       two_stage=bool(values.get("two_stage", False)),
                       redirect_min_seconds=int(values.get("redirect_min_seconds", 60)))

    def account_json(self, account: Account) -> dict:
        data = super().account_json(account)
        for name in _ACCOUNT_SETTINGS:
            data["credentials"].pop(name, None)
        return data

    # --- the API ----------------------------------------------------------------------------

    def blueprint(self) -> Blueprint:
        bp = Blueprint("sandbox_tbank", __name__, url_prefix="/tbank/v2")
        handlers = {"Init": self.init, "GetState": self.get_state, "Confirm": self.confirm, "Cancel": self.cancel,
                    "CheckOrder": self.check_order, "GetQr": self.get_qr}

        @bp.post("/<method>")
        def call(method: str):
            handler = handlers.get(method)
            if handler is None:
                return jsonify(_error("9999", "Метод не найден", method)), 404
            try:
                data = json.loads(request.get_data() or b"null", parse_float=Decimal)
            except ValueError:
                return jsonify(_error("9999", "Неверный формат запроса", "body is not JSON"))
            if not isinstance(data, dict):
                return jsonify(_error("9999", "Неверный формат запроса", "body is not an object"))
            terminal = self.store.account(self.name, data.get("TerminalKey"))
            if terminal is None:
                return jsonify(_error("501", "Терминал не найден"))
            if not tbank_token_ok(data, terminal.secret):
                return jsonify(_error("204", "Неверный токен. Проверьте пару TerminalKey/SecretKey.",
                                      TerminalKey=terminal.key))
            with self.store.lock:
                return jsonify(handler(terminal, data))

        return bp

    def _ok(self, terminal: Account, payment: Payment | None = None, **fields) -> dict:
        body = {"Success": True, "ErrorCode": "0", "TerminalKey": terminal.key}
        if payment is not None:
            body.update(Status=payment.status, PaymentId=payment.id, OrderId=payment.order_id,
                        Amount=self._reported_amount(payment))
        body.update(fields)
        return body

    @staticmethod
    def _reported_amount(payment: Payment) -> int:
        return payment.paid_amount if payment.paid_amount is not None else payment.amount

    def _payment(self, terminal: Account, data: dict) -> Payment | None:
        payment = self.load(str(data.get("PaymentId", "")))
        return payment if payment is not None and payment.account == terminal.key else None

    def init(self, terminal: Account, data: dict) -> dict:
        amount, order_id = data.get("Amount"), data.get("OrderId")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            return _error("9999", "Неверные параметры", "Amount must be a positive integer (kopecks)")
        if not isinstance(order_id, str) or not 1 <= len(order_id) <= 36:
            return _error("9999", "Неверные параметры", "OrderId must be 1..36 characters")
        description = data.get("Description") or ""
        if not isinstance(description, str) or len(description) > 140:
            return _error("9999", "Неверные параметры", "Description is limited to 140 characters")
        due = now() + DEFAULT_DUE
        if data.get("RedirectDueDate") is not None:
            try:
                due = datetime.fromisoformat(str(data["RedirectDueDate"]))
            except ValueError:
                return _error("9999", "Неверные параметры", "RedirectDueDate is not ISO 8601")
            if due.tzinfo is None:
                return _error("9999", "Неверные параметры", "RedirectDueDate needs a UTC offset")
            ahead = due - now()
            if ahead < timedelta(seconds=terminal.redirect_min_seconds) or ahead > MAX_DUE:
                return _error("9999", "Неверные параметры",
                              "RedirectDueDate must be from 1 minute to 90 days after the request")
        if self.store.find(self.name, account=terminal.key, order_id=order_id):
            return _error("20", "Неверный параметр OrderId: заказ с таким номером уже существует",
                          f"OrderId {order_id} was used before")
        payment = self.store.add_payment(Payment(
            provider=self.name, id=str(10_000_000 + self.store.next_number()), account=terminal.key,
            order_id=order_id, amount=amount, description=description, status="NEW", created_at=now(),
            expires_at=due, success_url=data.get("SuccessURL"), fail_url=data.get("FailURL"),
            notification_url=data.get("NotificationURL"),
        ))
        return self._ok(terminal, payment, PaymentURL=self.pay_page_url(payment))

    def get_state(self, terminal: Account, data: dict) -> dict:
        payment = self._payment(terminal, data)
        if payment is None:
            return _error("255", "Платеж не найден")
        return self._ok(terminal, payment, Message="OK")

    def confirm(self, terminal: Account, data: dict) -> dict:
        """Two-stage: AUTHORIZED → CONFIRMED, once; the money moves here (the CONFIRMED notification follows)."""
        payment = self._payment(terminal, data)
        if payment is None:
            return _error("255", "Платеж не найден")
        if payment.status != "AUTHORIZED":
            return _error("3", "Неверный статус транзакции", f"cannot confirm a {payment.status} payment")
        payment.status = "CONFIRMED"
        payment.extra["confirmations"] = payment.extra.get("confirmations", 0) + 1
        self.send(payment, [self._notification(payment, "CONFIRMED")])
        return self._ok(terminal, payment)

    def cancel(self, terminal: Account, data: dict) -> dict:
        payment = self._payment(terminal, data)
        if payment is None:
            return _error("255", "Платеж не найден")
        original = self._reported_amount(payment)
        moves = {"NEW": "CANCELED", "FORM_SHOWED": "CANCELED", "AUTHORIZED": "REVERSED", "CONFIRMED": "REFUNDED"}
        if payment.status not in moves:
            return _error("3", "Неверный статус транзакции", f"cannot cancel a {payment.status} payment")
        payment.status = moves[payment.status]
        return self._ok(terminal, payment, OriginalAmount=original, NewAmount=0)

    def check_order(self, terminal: Account, data: dict) -> dict:
        found = self.store.find(self.name, account=terminal.key, order_id=str(data.get("OrderId", "")))
        if not found:
            return _error("7", "Заказ не найден", OrderId=data.get("OrderId"))
        for payment in found:
            self.expire_if_due(payment)
        payments = [{"PaymentId": p.id, "Amount": self._reported_amount(p), "Status": p.status,
                     "Success": True, "ErrorCode": "0", "Message": "OK"} for p in found]
        return self._ok(terminal, OrderId=found[0].order_id, Payments=payments)

    def get_qr(self, terminal: Account, data: dict) -> dict:
        payment = self._payment(terminal, data)
        if payment is None:
            return _error("255", "Платеж не найден")
        if payment.status not in OPEN:
            return _error("3", "Неверный статус транзакции", f"payment is {payment.status}")
        if payment.amount < SBP_MIN:
            return _error("3", "Сумма меньше минимальной для СБП", "SBP needs at least 10 RUB")
        payload = self.sbp_payload(payment)
        if data.get("DataType", "PAYLOAD") == "IMAGE":
            import segno

            return self._ok(terminal, OrderId=payment.order_id, PaymentId=payment.id,
                            Data=segno.make(payload, error="m").svg_inline(scale=4))
        return self._ok(terminal, OrderId=payment.order_id, PaymentId=payment.id, Data=payload)

    def sbp_payload(self, payment: Payment) -> str:
        if "sbp_payload" not in payment.extra:
            with self.store.lock:
                qr_id = "".join(self.store.rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(32))
            body = f"https://qr.nspk.ru/{qr_id}?type=02&bank=100000000001&sum={payment.amount}&cur=RUB"
            payment.extra["sbp_payload"] = f"{body}&crc={_crc16(body):04X}"
        return payment.extra["sbp_payload"]

    # --- the payer and notifications --------------------------------------------------------

    def expire(self, payment: Payment) -> None:
        payment.status = "DEADLINE_EXPIRED"

    def page_shown(self, payment: Payment) -> None:
        with self.store.lock:
            if payment.status == "NEW":
                payment.status = "FORM_SHOWED"

    def paid(self, payment: Payment) -> list[Delivery]:
        if self.store.account(self.name, payment.account).two_stage:
            payment.status = "AUTHORIZED"  # the money is held for the merchant until Confirm
            return [self._notification(payment, "AUTHORIZED")]
        payment.status = "CONFIRMED"
        return [self._notification(payment, "AUTHORIZED"), self._notification(payment, "CONFIRMED")]

    def declined(self, payment: Payment) -> list[Delivery]:
        payment.status = "REJECTED"
        return [self._notification(payment, "REJECTED")]

    def _notification(self, payment: Payment, status: str) -> Delivery | None:
        terminal = self.store.account(self.name, payment.account)
        url = payment.notification_url or terminal.notification_url
        if not url:
            return None
        success = status != "REJECTED"
        body = {
            "TerminalKey": terminal.key, "OrderId": payment.order_id, "Success": success, "Status": status,
            "PaymentId": int(payment.id), "ErrorCode": "0" if success else "1051",
            "Amount": self._reported_amount(payment), "CardId": 322264, "Pan": "430000******0777",
            "ExpDate": "1130",
        }
        body["Token"] = tbank_token(body, terminal.secret)
        return Delivery(url, json.dumps(body, ensure_ascii=False).encode(), "application/json", status, "OK")

    def send(self, payment: Payment, deliveries: list) -> None:
        super().send(payment, [d for d in deliveries if d is not None])

    def payment_json(self, payment: Payment) -> dict:
        data = super().payment_json(payment)
        data["terminal_key"] = payment.account
        return data


def _crc16(text: str) -> int:
    """CRC-16/CCITT-FALSE, the checksum family SBP links carry."""
    crc = 0xFFFF
    for byte in text.encode():
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc
