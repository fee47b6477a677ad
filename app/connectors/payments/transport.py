"""HTTP for the adapters: timeouts always, retries only where repeating is safe.

Transport failures become :class:`ProviderUnavailable` (outcome unknown); the
adapters decide what a 4xx means.  Logs carry the provider, method, path,
status and duration — never headers, bodies or query strings, which is where
credentials and tokens travel.
"""
from __future__ import annotations

import logging
import time
from decimal import Decimal
from urllib.parse import urlsplit

import requests

from .base import HttpSettings, ProviderUnavailable

log = logging.getLogger(__name__)

#: answers that say "try again later" rather than "no"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class HttpClient:
    def __init__(self, provider: str, settings: HttpSettings | None = None,
                 session: requests.Session | None = None) -> None:
        self.provider = provider
        self.settings = settings or HttpSettings()
        self.session = session or requests.Session()

    def request(self, method: str, url: str, *, retry: bool, **kwargs) -> requests.Response:
        """Send once, or (``retry=True``) up to ``1 + settings.retries`` times with exponential backoff.

        Returns any response below 500 other than 429; raises :class:`ProviderUnavailable`
        after the last timeout / connection error / 5xx / 429.
        """
        attempts = 1 + (self.settings.retries if retry else 0)
        delay = self.settings.backoff
        path = urlsplit(url).path
        for attempt in range(1, attempts + 1):
            started = time.monotonic()
            try:
                response = self.session.request(method, url, timeout=self.settings.timeout, **kwargs)
            except requests.Timeout:
                reason = "timeout"
            except requests.RequestException as exc:
                reason = f"connection error ({type(exc).__name__})"
            else:
                elapsed_ms = int((time.monotonic() - started) * 1000)
                log.info("%s %s %s -> %s in %d ms", self.provider, method, path, response.status_code, elapsed_ms)
                if response.status_code not in RETRYABLE_STATUSES:
                    return response
                reason = f"HTTP {response.status_code}"
            log.warning("%s %s %s failed (attempt %d/%d): %s", self.provider, method, path,
                        attempt, attempts, reason)
            if attempt < attempts:
                time.sleep(delay)
                delay *= 2
        raise ProviderUnavailable(f"{self.provider} unavailable: {reason}")


def json_body(response: requests.Response, provider: str) -> dict:
    """The response's JSON object, numbers with a fraction read as Decimal (never float).

    A body that is not a JSON object means we cannot tell what happened: unknown outcome.
    """
    try:
        data = response.json(parse_float=Decimal)
    except ValueError:
        raise ProviderUnavailable(f"{provider} answered HTTP {response.status_code} with a non-JSON body") from None
    if not isinstance(data, dict):
        raise ProviderUnavailable(f"{provider} answered HTTP {response.status_code} with unexpected JSON")
    return data
