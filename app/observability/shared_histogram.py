"""A histogram kept in Redis, for durations measured in RQ jobs.

RQ runs every job in a forked work-horse that exits when the job ends, so a
prometheus_client histogram observed inside a job would vanish with it, and
the web process that answers ``/metrics`` would never see it.  This one adds
each observation to a Redis hash (one pipelined round trip) that every web,
worker and scheduler process shares; a scrape reads it back.

Observing must never hurt the work being measured: outside an app context,
or when Redis fails, the observation is dropped, and after a failure Redis is
not asked again for :data:`MUTE_SECONDS` (so a Redis outage cannot add a
connect timeout to every matching run).  Losing Redis resets the counts,
which Prometheus treats as an ordinary counter reset.
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from prometheus_client.core import HistogramMetricFamily

log = logging.getLogger(__name__)

KEY_PREFIX = "pokerpay:metrics:"
#: after a Redis error, observations are dropped for this long
MUTE_SECONDS = 30.0
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class SharedHistogram:
    """``observe()`` / ``time()`` like prometheus_client's Histogram, stored in Redis."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (),
                 buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.buckets = tuple(sorted(float(b) for b in buckets if not math.isinf(b)))
        self.key = KEY_PREFIX + name
        self._muted_until = 0.0
        self._lock = threading.Lock()

    # -- writing ---------------------------------------------------------------

    def observe(self, seconds: float, **labels: str) -> None:
        """Add one observation (in seconds); silently dropped when it cannot be stored."""
        if time.monotonic() < self._muted_until:
            return
        connection = _redis_or_none()
        if connection is None:
            return
        prefix = self._label_field(labels)
        bucket = next((b for b in self.buckets if seconds <= b), math.inf)
        try:
            pipe = connection.pipeline(transaction=False)
            pipe.hincrby(self.key, f"{prefix}|b|{_fmt(bucket)}", 1)
            pipe.hincrbyfloat(self.key, f"{prefix}|sum", float(seconds))
            pipe.execute()
        except Exception:  # noqa: BLE001 - metrics must never break the measured work
            with self._lock:
                self._muted_until = time.monotonic() + MUTE_SECONDS
            log.warning("metric %s not recorded: Redis unavailable (muted for %ss)", self.name, MUTE_SECONDS)

    @contextmanager
    def time(self, **labels: str) -> Iterator[None]:
        """Observe the duration of the ``with`` block (also when it raises)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe(time.perf_counter() - started, **labels)

    def _label_field(self, labels: dict[str, str]) -> str:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {tuple(labels)}")
        return json.dumps([str(labels[name]) for name in self.labelnames], separators=(",", ":"))

    # -- reading (on scrape) -----------------------------------------------------

    def collect(self, connection) -> HistogramMetricFamily:
        """The histogram as Prometheus sees it, read from Redis (raises if Redis does not answer)."""
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        series: dict[str, dict] = {}
        for raw_field, raw_value in connection.hgetall(self.key).items():
            field = raw_field.decode() if isinstance(raw_field, bytes) else raw_field
            prefix, _, rest = field.partition("|")
            entry = series.setdefault(prefix, {"buckets": {}, "sum": 0.0})
            if rest == "sum":
                entry["sum"] = float(raw_value)
            elif rest.startswith("b|"):
                entry["buckets"][rest[2:]] = int(raw_value)
        for prefix, entry in sorted(series.items()):
            cumulative, buckets = 0, []
            for bound in (*self.buckets, math.inf):
                cumulative += entry["buckets"].get(_fmt(bound), 0)
                buckets.append((_fmt(bound), cumulative))
            family.add_metric(json.loads(prefix), buckets, entry["sum"])
        return family


def _fmt(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def _redis_or_none():
    from flask import current_app, has_app_context

    if not has_app_context():
        return None
    return current_app.extensions.get("redis")
