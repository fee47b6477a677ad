"""Connector for the sandbox room's HTTP API (``sandbox/room.py``).

Reads (history, balance, reconcile) are safe to repeat, so they retry a few
times with backoff on 5xx and network errors before raising
:class:`RoomUnavailable`.  A send is never repeated here: its outcome after a
timeout or 5xx is unknown, and only the caller -- after :meth:`find_sent` --
may decide to retry, with the same key, which the room deduplicates.

Everything the room returns is validated before it becomes a
:class:`RoomTransfer`; a malformed row raises :class:`RoomError` so that bad
data stops the poller instead of reaching the ledger.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

from .base import HistoryPage, RoomConnector, RoomError, RoomTransfer, RoomUnavailable, SendResult, account_key

log = logging.getLogger(__name__)

#: HTTP statuses worth retrying for an idempotent read
_RETRYABLE = frozenset({429, 500, 502, 503, 504})
_MAX_LIMIT = 500


class SandboxRoomConnector(RoomConnector):
    name = "sandbox"

    def __init__(
        self,
        base_url: str,
        api_token: str,
        timeout: float | tuple[float, float] = (3.05, 10),
        session: requests.Session | None = None,
        *,
        platform_account: str | None = None,
        retries: int = 2,
        backoff: float = 0.25,
    ) -> None:
        if not base_url or not api_token:
            raise ValueError("the sandbox room connector needs a base URL and an API token")
        self.base_url = base_url.rstrip("/")
        self._token = api_token
        self.timeout = timeout
        self.session = session or requests.Session()
        #: when set, balance() checks the token really belongs to this account
        self.platform_account = platform_account
        #: extra attempts for reads; sends are never retried
        self.retries = retries
        self.backoff = backoff

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"SandboxRoomConnector({self.base_url!r})"

    # -- the interface ---------------------------------------------------------

    def fetch_transfers(self, cursor: str | None, limit: int = 500) -> HistoryPage:
        if type(limit) is not int or not 1 <= limit <= _MAX_LIMIT:
            raise ValueError(f"limit must be 1..{_MAX_LIMIT}")
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["since"] = cursor
        body = self._get("/api/v1/history", params=params)
        transfers, next_cursor, has_more = (
            body.get("transfers"), body.get("next_cursor"), body.get("has_more"))
        if not isinstance(transfers, list) or not isinstance(has_more, bool):
            raise RoomError("history page lacks 'transfers' list or 'has_more' flag")
        if next_cursor is not None and (not isinstance(next_cursor, str) or not next_cursor):
            raise RoomError("history page has an invalid 'next_cursor'")
        if has_more and next_cursor is None:
            raise RoomError("history page says has_more but gives no cursor")
        return HistoryPage(_dedupe([_parse_row(row) for row in transfers]), next_cursor, has_more)

    def send_transfer(self, to: str, amount: int, key: str, note: str | None = None) -> SendResult:
        if not isinstance(to, str) or not to.strip():
            raise ValueError("to must be a room account")
        if type(amount) is not int or amount <= 0:
            raise ValueError("amount must be a positive int number of cents")
        if not isinstance(key, str) or not key:
            raise ValueError("an idempotency key is required")
        payload = {"to": to, "amount": amount, "key": key, "note": note}
        try:
            response = self.session.post(
                self._url("/api/v1/transfers"), json=payload, headers=self._headers(), timeout=self.timeout)
        except requests.RequestException as exc:
            log.warning("room send %s: outcome unknown (%s)", key, type(exc).__name__)
            return SendResult("unknown", None, type(exc).__name__)
        status = response.status_code
        if status == 200:
            try:
                sent = _parse_row(response.json())
            except (RoomError, ValueError) as exc:
                # The room said yes but the answer is unusable: the money may well have moved.
                log.warning("room send %s: unreadable success answer (%s)", key, exc)
                return SendResult("unknown", None, "malformed_response")
            # The room answers with its own spelling of the receiver: an e-mail may differ in case only.
            if sent.direction != "out" or account_key(sent.counterparty) != account_key(to) or sent.amount != amount:
                raise RoomError(f"room answered send {key} with a different transfer {sent.room_transfer_id}")
            return SendResult("sent", sent.room_transfer_id, None)
        if status == 422:
            return SendResult("failed", None, _error_code(response))
        if status >= 500 or status == 429:
            log.warning("room send %s: outcome unknown (HTTP %s)", key, status)
            return SendResult("unknown", None, f"http_{status}")
        # 400/401/403/409: the request itself is wrong (bug, bad token, key reused for another transfer).
        raise RoomError(f"room refused send {key}: HTTP {status} {_error_code(response)}")

    def find_sent(self, key: str) -> SendResult | None:
        if not isinstance(key, str) or not key:
            raise ValueError("an idempotency key is required")
        body = self._get(f"/api/v1/transfers/by-key/{quote(key, safe='')}", missing_ok=True)
        if body is None:
            return None
        sent = _parse_row(body)
        if sent.direction != "out":
            raise RoomError(f"room reports key {key} on an incoming transfer")
        return SendResult("sent", sent.room_transfer_id, None)

    def balance(self) -> int:
        body = self._get("/api/v1/balance")
        amount = body.get("balance")
        if type(amount) is not int:
            raise RoomError("balance answer has no integer 'balance'")
        if self.platform_account is not None and body.get("account") != self.platform_account:
            raise RoomError("the API token belongs to a different room account than ROOM_PLATFORM_ACCOUNT")
        return amount

    # -- HTTP ------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}

    def _get(self, path: str, params: dict | None = None, missing_ok: bool = False) -> dict | None:
        """GET with retries; the decoded JSON object, or None for a 404 when ``missing_ok``."""
        last_problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self.session.get(
                    self._url(path), params=params, headers=self._headers(), timeout=self.timeout)
            except requests.RequestException as exc:
                last_problem = type(exc).__name__
                log.info("room GET %s failed (%s), attempt %d", path, last_problem, attempt + 1)
                continue
            if response.status_code in _RETRYABLE:
                last_problem = f"HTTP {response.status_code}"
                log.info("room GET %s failed (%s), attempt %d", path, last_problem, attempt + 1)
                continue
            if response.status_code == 404 and missing_ok:
                return None
            if response.status_code != 200:
                raise RoomError(f"room GET {path}: HTTP {response.status_code} {_error_code(response)}")
            try:
                body = response.json()
            except ValueError:
                raise RoomError(f"room GET {path}: answer is not JSON") from None
            if not isinstance(body, dict):
                raise RoomError(f"room GET {path}: answer is not a JSON object")
            return body
        raise RoomUnavailable(f"room GET {path} failed after {self.retries + 1} attempts ({last_problem})")


def _error_code(response: requests.Response) -> str:
    try:
        code = response.json().get("error")
    except (ValueError, AttributeError):
        return "unknown_error"
    return code if isinstance(code, str) and code else "unknown_error"


def _parse_row(row: Any) -> RoomTransfer:
    """One API row -> RoomTransfer, or RoomError naming what is wrong."""
    if not isinstance(row, dict):
        raise RoomError("history row is not a JSON object")
    rid = row.get("room_transfer_id")
    occurred = row.get("occurred_at")
    if not isinstance(occurred, str):
        raise RoomError(f"row {rid!r}: occurred_at is not a string")
    try:
        occurred_at = datetime.fromisoformat(occurred)
    except ValueError:
        raise RoomError(f"row {rid!r}: occurred_at {occurred!r} is not ISO 8601") from None
    try:
        return RoomTransfer(
            room_transfer_id=rid,
            direction=row.get("direction"),
            counterparty=row.get("counterparty"),
            amount=row.get("amount"),
            occurred_at=occurred_at,
            note=row.get("note"),
        )
    except ValueError as exc:
        raise RoomError(f"row {rid!r}: {exc}") from None


def _dedupe(rows: list[RoomTransfer]) -> list[RoomTransfer]:
    """Drop repeats inside one page; the same id with different content is corrupt data."""
    seen: dict[str, RoomTransfer] = {}
    for row in rows:
        earlier = seen.setdefault(row.room_transfer_id, row)
        if earlier != row:
            raise RoomError(f"room sent transfer {row.room_transfer_id} twice with different content")
    return list(seen.values())
