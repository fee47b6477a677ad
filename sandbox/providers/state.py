"""In-memory state of the providers sandbox: accounts, payments, and the provider base class.

One lock guards everything: the sandbox is small, and a single lock makes the
properties the tests rely on (OrderId uniqueness, one payment per
Idempotence-Key, a payment settled once) trivially true.
"""
from __future__ import annotations

import random
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime

from flask import Blueprint, request

from .common import now


@dataclass
class Account:
    """A YooMoney wallet, a YooKassa shop or a T-Bank terminal."""

    provider: str
    #: wallet number / shop_id / terminal_key
    key: str
    #: notification_secret / secret_key / password
    secret: str
    #: YooMoney OAuth token (None elsewhere)
    token: str | None = None
    notification_url: str | None = None
    #: YooKassa: how long a pending payment waits for the buyer
    payment_ttl_seconds: int = 3600
    #: YooMoney: charge the receiver's fee (see sandbox.providers.yoomoney)
    fees: bool = True
    #: YooMoney: what the OAuth token allows
    scopes: list = field(default_factory=lambda: ["account-info", "operation-history"])
    #: T-Bank: a two-stage terminal stops a paid payment at AUTHORIZED until Confirm
    two_stage: bool = False
    #: T-Bank: the least time between receiving Init and its RedirectDueDate (the real one is a minute;
    #: a test of expiry on read lowers it rather than waiting a minute)
    redirect_min_seconds: int = 60


@dataclass
class Payment:
    provider: str
    id: str
    #: the account's key
    account: str
    #: T-Bank OrderId / YooMoney label / YooKassa metadata.order_id
    order_id: str
    #: kopecks
    amount: int
    description: str
    #: the provider's own status word
    status: str
    created_at: datetime
    expires_at: datetime | None = None
    success_url: str | None = None
    fail_url: str | None = None
    #: per-payment notification URL (T-Bank NotificationURL)
    notification_url: str | None = None
    #: kopecks actually paid (the payer may pay a different amount)
    paid_amount: int | None = None
    paid_at: datetime | None = None
    metadata: dict = field(default_factory=dict)
    #: provider-specific extras (QR payload, cancellation details, operation id, …)
    extra: dict = field(default_factory=dict)


class Conflict(Exception):
    """The payer tried to act on a payment that is no longer open."""


class Store:
    def __init__(self, seed: int = 0) -> None:
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.accounts: dict[tuple[str, str], Account] = {}
        self.payments: dict[tuple[str, str], Payment] = {}
        self._counter = 0

    def next_number(self) -> int:
        with self.lock:
            self._counter += 1
            return self._counter

    def digits(self, count: int) -> str:
        with self.lock:
            return "".join(self.rng.choice("0123456789") for _ in range(count))

    def account(self, provider: str, key: object) -> Account | None:
        if not isinstance(key, str):
            return None
        return self.accounts.get((provider, key))

    def account_by_token(self, provider: str, token: str) -> Account | None:
        with self.lock:
            for account in self.accounts.values():
                if account.provider == provider and account.token and secrets.compare_digest(
                        account.token.encode(), token.encode()):
                    return account
        return None

    def put_account(self, account: Account) -> Account:
        with self.lock:
            self.accounts[(account.provider, account.key)] = account
        return account

    def add_payment(self, payment: Payment) -> Payment:
        with self.lock:
            self.payments[(payment.provider, payment.id)] = payment
        return payment

    def find(self, provider: str, **equal) -> list[Payment]:
        with self.lock:
            return [p for (prov, _), p in self.payments.items()
                    if prov == provider and all(getattr(p, k) == v for k, v in equal.items() if v is not None)]


class ProviderSandbox:
    """What every provider sandbox offers the cabinet and the hosted pay page."""

    name: str = ""
    title: str = ""
    #: statuses in which the buyer can still pay
    open_statuses: frozenset[str] = frozenset()
    #: cabinet JSON field → Account attribute
    account_fields: dict[str, str] = {}

    def __init__(self, store: Store, notifier) -> None:
        self.store = store
        self.notifier = notifier

    # accounts ------------------------------------------------------------------------------

    def new_account(self, values: dict) -> Account:
        raise NotImplementedError

    def account_json(self, account: Account) -> dict:
        data = {name: getattr(account, attr) for name, attr in self.account_fields.items()}
        data["credentials"] = {k: v for k, v in data.items() if k not in ("notification_url",
                                                                          "payment_ttl_seconds")}
        return data

    def upsert_account(self, values: dict) -> Account:
        key_field = next(iter(self.account_fields))
        with self.store.lock:
            existing = self.store.account(self.name, values.get(key_field))
            if existing is None:
                return self.store.put_account(self.new_account(values))
            for name, attr in self.account_fields.items():
                if name in values and name != key_field:
                    setattr(existing, attr, values[name])
            return existing

    # payments ------------------------------------------------------------------------------

    def load(self, payment_id: str) -> Payment | None:
        """The payment, expired first if its time has come (expiry happens when read)."""
        with self.store.lock:
            payment = self.store.payments.get((self.name, payment_id))
            if payment is not None:
                self.expire_if_due(payment)
            return payment

    def expire_if_due(self, payment: Payment) -> None:
        if payment.status in self.open_statuses and payment.expires_at and now() >= payment.expires_at:
            self.expire(payment)

    def expire(self, payment: Payment) -> None:
        raise NotImplementedError

    def settle(self, payment: Payment, action: str, amount: int | None) -> None:
        """Act as the payer: ``pay`` (optionally a different amount) or ``decline``."""
        with self.store.lock:
            self.expire_if_due(payment)
            if payment.status not in self.open_statuses:
                raise Conflict(f"payment is {payment.status}")
            if action == "pay":
                payment.paid_amount = payment.amount if amount is None else amount
                payment.paid_at = now()
                deliveries = self.paid(payment)
            else:
                deliveries = self.declined(payment)
        if deliveries:
            self.send(payment, deliveries)

    def paid(self, payment: Payment) -> list:
        raise NotImplementedError

    def declined(self, payment: Payment) -> list:
        raise NotImplementedError

    def send(self, payment: Payment, deliveries: list) -> None:
        self.notifier.send(self.name, payment.id, deliveries)

    def page_shown(self, payment: Payment) -> None:
        """The buyer opened the hosted page (T-Bank records FORM_SHOWED)."""

    def return_url(self, payment: Payment, paid: bool) -> str | None:
        return payment.success_url if paid else (payment.fail_url or payment.success_url)

    def payment_json(self, payment: Payment) -> dict:
        return {
            "provider": self.name,
            "id": payment.id,
            "account": payment.account,
            "order_id": payment.order_id,
            "amount": payment.amount,
            "paid_amount": payment.paid_amount,
            "description": payment.description,
            "status": payment.status,
            "created_at": payment.created_at.isoformat(),
            "expires_at": payment.expires_at.isoformat() if payment.expires_at else None,
            "pay_url": self.pay_page_url(payment),
            "metadata": payment.metadata,
            "extra": payment.extra,
        }

    def pay_page_url(self, payment: Payment) -> str:
        base = request.host_url if request else "/"
        return f"{base.rstrip('/')}/_sandbox/providers/pay/{self.name}/{payment.id}"

    def blueprint(self) -> Blueprint:
        raise NotImplementedError
