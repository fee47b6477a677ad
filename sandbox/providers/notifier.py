"""Delivers provider notifications from a background thread, with bounded quick retries.

Real providers retry for hours (T-Bank) or three times over an hour (YooMoney);
the sandbox retries a few times within a second so tests stay fast.  The
server-wide :class:`~sandbox.faults.Faults` decide, per delivery, whether it is
lost (``lose_rate``) or sent twice (``duplicate_rate``; the copy follows a moment
later, after the original was answered, as a provider's retry would), and per
batch whether T-Bank's AUTHORIZED/CONFIRMED pair arrives reversed
(``reorder_rate``) or the whole batch is held back ``late_seconds``
(``late_rate``) so that notifications of later payments overtake it.  The
last batch of every payment is kept so a test can replay it.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import requests

from .common import now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    url: str
    body: bytes
    content_type: str
    #: what identifies this notification in the log (T-Bank status, YooKassa event, YooMoney operation)
    label: str
    #: the reply body that counts as accepted (T-Bank: exactly "OK"); None = any 2xx
    expect_body: str | None = None


class Notifier:
    def __init__(self, faults, attempts: int = 5, backoff: float = 0.05,
                 timeout: tuple[float, float] = (1.0, 2.0)) -> None:
        self.faults = faults
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.last: dict[tuple[str, str], list[Delivery]] = {}
        self.log: deque[dict] = deque(maxlen=1000)
        self._busy = 0
        self._idle = threading.Condition()

    def send(self, provider: str, payment_id: str, deliveries: list[Delivery]) -> None:
        """Queue ``deliveries`` (in order) for ``provider``'s payment, applying the faults."""
        self.last[(provider, payment_id)] = list(deliveries)
        batch = list(deliveries)
        if len(batch) > 1 and self.faults.roll(self.faults.reorder_rate):
            batch.reverse()
        planned = []
        for delivery in batch:
            if self.faults.roll(self.faults.lose_rate):
                self._record(provider, payment_id, delivery, 0, "lost")
                continue
            planned.append(delivery)
            if self.faults.roll(self.faults.duplicate_rate):
                planned.append(delivery)
        delay = self.faults.late_seconds if planned and self.faults.roll(self.faults.late_rate) else 0.0
        self._start(provider, payment_id, planned, delay)

    def resend(self, provider: str, payment_id: str) -> int:
        """Replay the payment's last batch as it was (no faults); how many notifications."""
        batch = self.last.get((provider, payment_id), [])
        self._start(provider, payment_id, list(batch))
        return len(batch)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _start(self, provider: str, payment_id: str, planned: list[Delivery], delay: float = 0.0) -> None:
        if not planned:
            return
        with self._idle:
            self._busy += 1
        thread = threading.Thread(target=self._run, args=(provider, payment_id, planned, delay),
                                  name=f"notify-{provider}-{payment_id}", daemon=True)
        thread.start()

    def _run(self, provider: str, payment_id: str, planned: list[Delivery], delay: float = 0.0) -> None:
        try:
            if delay > 0:
                for delivery in planned:
                    self._record(provider, payment_id, delivery, 0, f"late {delay:g}s")
                time.sleep(delay)
            for delivery in planned:
                self._deliver(provider, payment_id, delivery)
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def _deliver(self, provider: str, payment_id: str, delivery: Delivery) -> bool:
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                response = requests.post(delivery.url, data=delivery.body, timeout=self.timeout,
                                         headers={"Content-Type": delivery.content_type})
                accepted = 200 <= response.status_code < 300 and (
                    delivery.expect_body is None or response.text == delivery.expect_body)
                outcome = f"HTTP {response.status_code}"
            except requests.RequestException as exc:
                accepted, outcome = False, type(exc).__name__
            self._record(provider, payment_id, delivery, attempt, "accepted" if accepted else outcome)
            if accepted:
                return True
            if attempt < self.attempts:
                time.sleep(delay)
                delay *= 2
        log.warning("%s notification %s for %s not accepted after %d attempts",
                    provider, delivery.label, payment_id, self.attempts)
        return False

    def _record(self, provider: str, payment_id: str, delivery: Delivery, attempt: int, outcome: str) -> None:
        self.log.append({
            "provider": provider, "payment_id": payment_id, "label": delivery.label, "url": delivery.url,
            "attempt": attempt, "outcome": outcome, "at": now().isoformat(),
        })
