"""Prometheus metrics, served at ``/metrics`` by :mod:`app.web.metrics_view`.

Each domain registers its own collector: a callable run on every scrape,
inside the scrape's app context, that returns :class:`Sample` values (or
ready prometheus_client metric families)::

    from app.observability.metrics import Sample, register_collector

    def invoices_by_state():
        rows = db.session.execute(sa.select(Invoice.status, sa.func.count()).group_by(Invoice.status))
        return [Sample("pokerpay_invoices", n, {"state": s}, "Invoices by state.") for s, n in rows]

    register_collector("invoices", invoices_by_state)

A collector that raises costs only its own samples: the scrape still answers
200 and ``pokerpay_metrics_collector_up{collector=...}`` turns 0.

Durations measured in jobs use :class:`~app.observability.shared_histogram.SharedHistogram`
(see there why not a plain Histogram); matching observes
:data:`MATCHING_SECONDS`::

    with MATCHING_SECONDS.time():
        reserve_for_deposit(deposit_id)

HTTP latency is a prometheus_client Histogram per process.  Under gunicorn
with several workers set ``PROMETHEUS_MULTIPROC_DIR`` (gunicorn.conf.py
manages it) so a scrape adds up every worker instead of showing one.
Each app has its own registry, never prometheus_client's global one, so apps
(and tests) do not share state.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from flask import Flask, Response, abort, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from app.observability.shared_histogram import SharedHistogram

log = logging.getLogger(__name__)

EXTENSION_KEY = "pokerpay_metrics"


@dataclass(frozen=True)
class Sample:
    """One value of one metric; samples with the same ``name`` form one metric family."""

    name: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)
    documentation: str = ""
    #: "gauge" or "counter" (a counter's name is given without the ``_total`` suffix)
    kind: str = "gauge"


Collector = Callable[[], Iterable[Sample | Metric]]
_collectors: dict[str, Collector] = {}
_shared_histograms: dict[str, SharedHistogram] = {}


def register_collector(name: str, fn: Collector) -> Collector:
    """Run ``fn`` on every scrape; registering a name again replaces the older one."""
    _collectors[name] = fn
    return fn


def unregister_collector(name: str) -> None:
    _collectors.pop(name, None)


def registered_collectors() -> dict[str, Collector]:
    return dict(_collectors)


def register_shared_histogram(histogram: SharedHistogram) -> SharedHistogram:
    _shared_histograms[histogram.name] = histogram
    return histogram


#: seconds from a deposit request to its reservation (or failure); observed by the matching code
MATCHING_SECONDS = register_shared_histogram(SharedHistogram(
    "pokerpay_matching_duration_seconds",
    "Time the matcher took to reserve a seller for one deposit request.",
))


def multiprocess_dir() -> str | None:
    """prometheus_client's multiprocess directory, when this process runs under it."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or None


class DomainCollector:
    """The prometheus_client collector that runs the registered callables on each scrape."""

    def describe(self):
        return []  # nothing is known before a scrape; do not touch the database at registration

    def collect(self):
        up = GaugeMetricFamily("pokerpay_metrics_collector_up",
                               "1 if the collector answered on this scrape, 0 if it failed.", labels=["collector"])
        took = GaugeMetricFamily("pokerpay_metrics_collector_duration_seconds",
                                 "Time each collector took on this scrape.", labels=["collector"])
        families: dict[str, Metric] = {}
        for name, fn in sorted(_collectors.items()):
            ok, seconds, items = _run(name, lambda fn=fn: list(fn()))
            up.add_metric([name], ok)
            took.add_metric([name], seconds)
            for item in items:
                if isinstance(item, Metric):
                    yield item
                else:
                    _add_sample(families, item)
        from app.redis_client import get_redis

        for name, histogram in sorted(_shared_histograms.items()):
            ok, seconds, items = _run(name, lambda h=histogram: [h.collect(get_redis())])
            up.add_metric([name], ok)
            took.add_metric([name], seconds)
            yield from items
        yield from families.values()
        yield up
        yield took


def _run(name: str, fn: Callable[[], list]) -> tuple[int, float, list]:
    started = time.perf_counter()
    try:
        items = fn()
        ok = 1
    except Exception:  # noqa: BLE001 - one broken collector must not fail the scrape
        from app.extensions import db

        db.session.rollback()  # PostgreSQL refuses further statements in a failed transaction
        log.warning("metrics collector %s failed", name, exc_info=True)
        items, ok = [], 0
    return ok, time.perf_counter() - started, items


def _add_sample(families: dict[str, Metric], sample: Sample) -> None:
    family = families.get(sample.name)
    if family is None:
        family = families[sample.name] = Metric(sample.name, sample.documentation or sample.name, sample.kind)
    sample_name = f"{sample.name}_total" if family.type == "counter" else sample.name
    family.add_sample(sample_name, {k: str(v) for k, v in sample.labels.items()}, float(sample.value))


@dataclass
class MetricsState:
    """One app's metrics: its registry and its HTTP histogram; collectors may keep caches here."""

    registry: CollectorRegistry
    request_seconds: Histogram
    cache: dict = field(default_factory=dict)


def state(app: Flask | None = None) -> MetricsState:
    return (app or current_app).extensions[EXTENSION_KEY]


def scrape_registry(app: Flask) -> CollectorRegistry:
    """The registry a scrape reads: the app's own, or (multiprocess) every process's files plus ours."""
    directory = multiprocess_dir()
    if not directory:
        return state(app).registry
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    registry.register(DomainCollector())
    return registry


def _start_timer() -> None:
    g._metrics_started = time.perf_counter()


def _observe_request(response: Response) -> Response:
    started = g.pop("_metrics_started", None)
    if started is not None:
        try:
            state().request_seconds.labels(
                endpoint=request.endpoint or "none", method=request.method, status=str(response.status_code),
            ).observe(time.perf_counter() - started)
        except Exception:  # noqa: BLE001 - a metric must never break a response
            log.warning("request latency not recorded", exc_info=True)
    return response


def install(app: Flask) -> None:
    """The per-app registry and the timing hooks (the view is :mod:`app.web.metrics_view`)."""
    directory = multiprocess_dir()
    if directory:
        os.makedirs(directory, exist_ok=True)  # a missing directory would fail every observation
    registry = CollectorRegistry()
    request_seconds = Histogram(
        "pokerpay_http_request_duration_seconds",
        "Time from the first to the last request hook, by endpoint, method and status.",
        ["endpoint", "method", "status"],
        registry=None,
    )
    if not directory:
        registry.register(request_seconds)
    registry.register(DomainCollector())
    app.extensions[EXTENSION_KEY] = MetricsState(registry=registry, request_seconds=request_seconds)
    # First before-request hook, so the time includes the others (login guard, rate limits …).
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
    app.after_request(_observe_request)


def metrics_response() -> Response:
    """The exposition text, or the same 404 as any unknown page when the caller may not see it."""
    from app.observability.metrics_access import metrics_allowed

    if not metrics_allowed(request):
        abort(404)
    body = generate_latest(scrape_registry(current_app))
    return Response(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
