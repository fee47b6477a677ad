"""The payment-provider interface the platform programs against.

Every provider (YooMoney wallet, YooKassa, T-Bank) is reached through a
:class:`PaymentAdapter` built from a base URL, the seller's credentials and the
HTTP settings, so the same code runs against the real APIs and the sandbox.

The exception tree encodes the one distinction that matters for money:

* :class:`ProviderError` — the provider *definitely* refused (bad request, bad
  credentials, duplicate order).  Nothing was created; safe to show the message.
* :class:`ProviderUnavailable` — timeout, connection failure, 5xx, 429: the
  outcome is UNKNOWN.  The caller must reconcile (status / the same idempotency
  key / the same order id) before creating anything again.
* :class:`NotificationRejected` — an incoming notification failed verification;
  the reason is safe to log (it never contains the body or a secret).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

Kind = Literal["yoomoney", "yookassa", "tbank"]
KINDS: tuple[str, ...] = ("yoomoney", "yookassa", "tbank")

#: the platform's few payment states; every provider status maps onto one of them
Status = Literal["pending", "paid", "failed", "expired", "unknown"]
STATUSES: tuple[str, ...] = ("pending", "paid", "failed", "expired", "unknown")


# --- exceptions -------------------------------------------------------------------------------


class PaymentConnectorError(Exception):
    """Base of everything the payment adapters raise on purpose."""


class ProviderError(PaymentConnectorError):
    """The provider gave a definite negative answer; ``message`` is safe to show and log."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: the provider's own error code, when it sent one
        self.code = code


class InvalidCredentials(ProviderError):
    """The seller's credentials were refused (or are incomplete)."""


class InsufficientScope(ProviderError):
    """The credentials are genuine but lack a permission the call needs (YooMoney's insufficient_scope)."""


class ProviderUnavailable(PaymentConnectorError):
    """Timeout, connection error, 5xx or 429: the operation's outcome is unknown."""


class NotificationRejected(PaymentConnectorError):
    """A notification failed verification; ``reason`` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- values -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceRequest:
    #: our invoice/order id: T-Bank OrderId, YooMoney label, YooKassa metadata.order_id
    order_id: str
    #: kopecks
    amount: int
    description: str
    #: where the buyer returns after paying (success and fail alike)
    return_url: str
    #: tz-aware; sent to T-Bank as RedirectDueDate, enforced by the platform elsewhere
    expires_at: datetime
    #: per-payment notification URL; only T-Bank takes one (the others use the account setting)
    notification_url: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount <= 0:
            raise ValueError("amount must be a positive integer number of kopecks")
        if self.expires_at.tzinfo is None or self.expires_at.utcoffset() is None:
            raise ValueError("expires_at must be timezone-aware")
        if not self.order_id:
            raise ValueError("order_id is required")


@dataclass(frozen=True)
class CreatedInvoice:
    provider_payment_id: str
    #: where to send the buyer (hosted page; for a reconciled T-Bank payment the SBP link)
    pay_url: str
    #: SBP payload (``https://qr.nspk.ru/…``) to render as a QR code, when the provider gave one
    sbp_payload: str | None
    raw_status: str

    def __post_init__(self) -> None:
        # The pay URL becomes a link on the buyer's page: only a web address, never javascript: or data:.
        if not self.pay_url.lower().startswith(("https://", "http://")):
            raise ProviderError("the provider returned a pay link that is not a web address")


@dataclass(frozen=True)
class PaymentStatus:
    status: Status
    #: kopecks the provider reports as paid (only for ``paid``), as the invoice amount they pay
    #: (YooMoney: the credited amounts grossed up by the fee, see :func:`.amounts.gross_of`)
    amount_paid: int | None
    raw_status: str
    provider_payment_id: str | None


@dataclass(frozen=True)
class VerifiedNotification:
    provider_payment_id: str
    order_id: str | None
    status: Status
    #: kopecks stated by the notification's signed data, as the invoice amount they pay
    #: (YooMoney: the signed ``amount`` grossed up by the fee; never the unsigned ``withdraw_amount``)
    amount: int | None
    #: unique per provider event: store it to ignore replays and duplicates
    event_key: str
    #: True when the notification is unsigned: confirm with ``get_status`` before acting
    needs_refetch: bool


class NotificationReply(NamedTuple):
    """What the provider expects back; a ``(body, status, headers)`` tuple Flask can return as is."""

    body: str
    status: int
    headers: dict


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts are always set: a provider call can never hang a request or a worker."""

    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    #: extra attempts for calls that are safe to repeat (reads, keyed creates)
    retries: int = 2
    #: seconds before the first retry; doubled each time
    backoff: float = 0.25

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)


# --- credentials ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CredentialField:
    name: str
    label_ru: str
    label_en: str
    #: masked in the UI, never logged
    secret: bool


CREDENTIAL_FIELDS: Mapping[str, tuple[CredentialField, ...]] = {
    "yoomoney": (
        CredentialField("wallet", "Номер кошелька ЮMoney", "YooMoney wallet number", False),
        CredentialField("notification_secret", "Секрет для HTTP-уведомлений",
                        "HTTP notification secret", True),
        CredentialField("oauth_token", "OAuth-токен (права account-info и operation-history)",
                        "OAuth token (account-info and operation-history scopes)", True),
    ),
    "yookassa": (
        CredentialField("shop_id", "Идентификатор магазина (shopId)", "Shop ID", False),
        CredentialField("secret_key", "Секретный ключ", "Secret key", True),
    ),
    "tbank": (
        CredentialField("terminal_key", "Ключ терминала (TerminalKey)", "Terminal key", False),
        CredentialField("password", "Пароль терминала", "Terminal password", True),
    ),
}


def require_credentials(kind: str, credentials: Mapping[str, str]) -> dict[str, str]:
    """The fields ``kind`` needs, stripped; :class:`InvalidCredentials` naming (only) what is missing."""
    if kind not in CREDENTIAL_FIELDS:
        raise ValueError(f"unknown payment provider kind: {kind!r}")
    values: dict[str, str] = {}
    missing = []
    for field in CREDENTIAL_FIELDS[kind]:
        value = credentials.get(field.name)
        if not isinstance(value, str) or not value.strip():
            missing.append(field.name)
        else:
            values[field.name] = value.strip()
    if missing:
        raise InvalidCredentials(f"missing credential fields: {', '.join(missing)}")
    return values


# --- the interface ----------------------------------------------------------------------------


class PaymentAdapter(ABC):
    """One seller's account at one provider."""

    kind: str

    @abstractmethod
    def check_credentials(self) -> None:
        """Make a harmless live call; :class:`InvalidCredentials` if refused."""

    @abstractmethod
    def create_invoice(self, req: InvoiceRequest, idempotency_key: str) -> CreatedInvoice:
        """Create (or, after an unknown outcome, find) the payment for ``req``.

        ``idempotency_key`` must be persisted by the caller *before* the call and
        passed again on every retry of the same invoice.
        """

    @abstractmethod
    def get_status(self, provider_payment_id: str | None = None,
                   order_id: str | None = None) -> PaymentStatus:
        """Read the payment's current state (safe; retried with backoff)."""

    @abstractmethod
    def cancel(self, provider_payment_id: str) -> PaymentStatus:
        """Stop the payment from being paid where the provider allows it; return the state after."""

    @abstractmethod
    def parse_notification(self, headers: Mapping[str, str], body: bytes,
                           remote_addr: str | None) -> VerifiedNotification:
        """Verify and decode an incoming notification or raise :class:`NotificationRejected`."""

    def notification_response(self) -> NotificationReply:
        """HTTP 200 with an empty body: what YooKassa and YooMoney expect."""
        return NotificationReply("", 200, {"Content-Type": "text/plain; charset=utf-8"})
