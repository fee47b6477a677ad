"""Payment providers: create invoice, read status, cancel, verify notifications.

Use :func:`adapter_for` to get a :class:`PaymentAdapter` for a seller's
credentials; see :mod:`.base` for the values and the exception tree.
"""
from .base import (
    CREDENTIAL_FIELDS,
    KINDS,
    STATUSES,
    CreatedInvoice,
    CredentialField,
    HttpSettings,
    InsufficientScope,
    InvalidCredentials,
    InvoiceRequest,
    NotificationRejected,
    NotificationReply,
    PaymentAdapter,
    PaymentConnectorError,
    PaymentStatus,
    ProviderError,
    ProviderUnavailable,
    VerifiedNotification,
)
from .registry import adapter_for

__all__ = [
    "CREDENTIAL_FIELDS", "KINDS", "STATUSES", "CreatedInvoice", "CredentialField", "HttpSettings",
    "InsufficientScope", "InvalidCredentials", "InvoiceRequest", "NotificationRejected", "NotificationReply",
    "PaymentAdapter",
    "PaymentConnectorError", "PaymentStatus", "ProviderError", "ProviderUnavailable", "VerifiedNotification",
    "adapter_for",
]
