"""Build the adapter for a seller's API form from the app config.

Base URLs come from config so the same adapters talk to the real providers in
production and to the sandbox in development and tests.
"""
from __future__ import annotations

from collections.abc import Mapping

from .base import KINDS, HttpSettings, PaymentAdapter
from .tbank import TBankAdapter
from .yookassa import DEFAULT_NOTIFY_IPS, YooKassaAdapter
from .yoomoney import YooMoneyAdapter

#: the real providers, used when a config key is absent
DEFAULT_URLS = {
    "YOOMONEY_BASE_URL": "https://yoomoney.ru",
    "YOOMONEY_QUICKPAY_URL": "https://yoomoney.ru/quickpay/confirm",
    "YOOKASSA_BASE_URL": "https://api.yookassa.ru/v3",
    "TBANK_BASE_URL": "https://securepay.tinkoff.ru/v2",
}


def http_settings(config: Mapping) -> HttpSettings:
    """Timeouts from ``PROVIDER_CONNECT_TIMEOUT`` / ``PROVIDER_READ_TIMEOUT``; optional
    ``PROVIDER_RETRIES`` and ``PROVIDER_RETRY_BACKOFF`` for safe calls."""
    default = HttpSettings()
    return HttpSettings(
        connect_timeout=float(config.get("PROVIDER_CONNECT_TIMEOUT", default.connect_timeout)),
        read_timeout=float(config.get("PROVIDER_READ_TIMEOUT", default.read_timeout)),
        retries=int(config.get("PROVIDER_RETRIES", default.retries)),
        backoff=float(config.get("PROVIDER_RETRY_BACKOFF", default.backoff)),
    )


def _url(config: Mapping, key: str) -> str:
    return config.get(key) or DEFAULT_URLS[key]


def adapter_for(kind: str, credentials: Mapping[str, str], config: Mapping) -> PaymentAdapter:
    """The adapter of ``kind`` for these (decrypted) credentials.

    ``ValueError`` for an unknown kind; :class:`InvalidCredentials` when a field is missing.
    """
    http = http_settings(config)
    if kind == "yoomoney":
        return YooMoneyAdapter(_url(config, "YOOMONEY_BASE_URL"), credentials, http,
                               quickpay_url=_url(config, "YOOMONEY_QUICKPAY_URL"))
    if kind == "yookassa":
        return YooKassaAdapter(_url(config, "YOOKASSA_BASE_URL"), credentials, http,
                               notify_ips=config.get("YOOKASSA_NOTIFY_IPS") or DEFAULT_NOTIFY_IPS)
    if kind == "tbank":
        return TBankAdapter(_url(config, "TBANK_BASE_URL"), credentials, http)
    raise ValueError(f"unknown payment provider kind: {kind!r} (known: {', '.join(KINDS)})")
