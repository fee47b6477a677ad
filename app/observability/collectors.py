"""The collectors that exist today: users, RQ, the ledger check, reconciliation.

Invoices by state and the like are registered by their own domains (see
:mod:`app.observability.metrics`).  The ledger and reconciliation collectors look their
code and tables up lazily and return nothing while those are not part of the
build or the schema yet: a missing feature is not a failed scrape.
"""
from __future__ import annotations

import importlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.observability.metrics import Sample, register_collector, state

#: seconds a ledger verification result is reused; `flask ledger verify` reads every transfer
DEFAULT_LEDGER_VERIFY_INTERVAL = 300
_verify_lock = threading.Lock()


def users_by_role() -> list[Sample]:
    from app.models import Role, User

    counts = {role.value: 0 for role in Role}
    counts.update(db.session.execute(sa.select(User.role, sa.func.count()).group_by(User.role)).all())
    return [Sample("pokerpay_users", n, {"role": role}, "User accounts by role.") for role, n in counts.items()]


def rq_queues() -> list[Sample]:
    from rq import Queue, Worker
    from rq.cron_scheduler_registry import get_registry_key
    from rq.registry import FailedJobRegistry, StartedJobRegistry

    from app.redis_client import get_redis

    connection = get_redis()
    samples = []
    for name in current_app.config.get("RQ_QUEUES", ["default"]):
        queue = Queue(name, connection=connection)
        labels = {"queue": name}
        samples += [
            Sample("pokerpay_rq_queue_depth", queue.count, labels, "Jobs waiting in the queue."),
            Sample("pokerpay_rq_started_jobs", StartedJobRegistry(queue=queue).count, labels,
                   "Jobs being run by a worker now."),
            Sample("pokerpay_rq_failed_jobs", FailedJobRegistry(queue=queue).count, labels,
                   "Jobs that failed and are kept for inspection (failure_ttl, 7 days)."),
        ]
    samples.append(Sample("pokerpay_rq_workers", Worker.count(connection=connection), {},
                          "RQ workers registered in Redis."))
    heartbeats = [score for _name, score in connection.zrange(get_registry_key(), 0, -1, withscores=True)]
    if heartbeats:
        samples.append(Sample("pokerpay_rq_scheduler_last_heartbeat_timestamp_seconds", max(heartbeats), {},
                              "Last heartbeat of the cron scheduler (Unix time); stale = sweepers stopped."))
    return samples


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    problems: int | None
    at: float
    seconds: float


def _verify_function():
    """``app.ledger.verify_ledger`` if the ledger is part of this build, else None.

    Called only once the ledger's tables are in the app's metadata, so the
    import registers nothing new.
    """
    for module_name in ("app.ledger", "app.ledger.verify"):
        try:
            verify = getattr(importlib.import_module(module_name), "verify_ledger", None)
        except ImportError:
            continue
        if callable(verify):
            return verify
    return None


def verify_outcome(report) -> tuple[bool, int | None]:
    """(passed, number of problems if the report lists them) of a ``verify_ledger()`` report.

    Accepts a report object or mapping with ``ok`` and a list of ``problems``
    (or ``errors`` / ``violations``), or a plain bool.
    """
    if isinstance(report, bool):
        return report, None
    def get(name):
        return report.get(name) if isinstance(report, Mapping) else getattr(report, name, None)

    problems = next((get(name) for name in ("problems", "errors", "violations") if get(name) is not None), None)
    count = len(problems) if isinstance(problems, list | tuple | set) else None
    ok = get("ok")
    if ok is None:
        ok = count == 0 if count is not None else bool(report)
    return bool(ok), count


def ledger_verify() -> list[Sample]:
    verify = _verify_function() if _known_table("ledger_transfer") is not None else None
    if verify is None:
        return []
    interval = float(current_app.config.get("METRICS_LEDGER_VERIFY_INTERVAL")
                     or os.environ.get("METRICS_LEDGER_VERIFY_INTERVAL") or DEFAULT_LEDGER_VERIFY_INTERVAL)
    cache = state().cache
    with _verify_lock:
        result = cache.get("ledger_verify")
        if result is None or time.time() - result.at >= interval:
            started = time.perf_counter()
            ok, problems = verify_outcome(verify())
            result = VerifyResult(ok, problems, time.time(), time.perf_counter() - started)
            cache["ledger_verify"] = result
    samples = [
        Sample("pokerpay_ledger_verify_ok", int(result.ok), {},
               "1 if the last ledger verification found every balance and invariant correct."),
        Sample("pokerpay_ledger_verify_last_run_timestamp_seconds", result.at, {},
               "When this process last verified the ledger (Unix time)."),
        Sample("pokerpay_ledger_verify_duration_seconds", result.seconds, {}, "How long that verification took."),
    ]
    if result.problems is not None:
        samples.append(Sample("pokerpay_ledger_verify_problems", result.problems, {},
                              "Problems the last ledger verification reported."))
    return samples


def reconciliation() -> list[Sample]:
    table = _known_table("reconciliation_run")
    if table is None:
        return []
    run = db.session.execute(sa.select(table).order_by(table.c.id.desc()).limit(1)).mappings().first()
    if run is None:
        return []
    samples = [
        Sample("pokerpay_reconciliation_last_run_timestamp_seconds", _unix_time(run["at"]), {},
               "When the ledger was last compared with the room (Unix time)."),
        Sample("pokerpay_reconciliation_in_flight_cents", run["in_flight"], {},
               "Cash-outs sent to the room whose outcome was not yet recorded, at the last run."),
        Sample("pokerpay_reconciliation_unmatched_cents", run["unmatched"], {},
               "Incoming room transfers from unknown senders, at the last run."),
    ]
    if run["difference"] is not None:
        samples.append(Sample("pokerpay_reconciliation_difference_cents", run["difference"], {},
                              "Room balance minus what the ledger allows for (0 = agree); absent when "
                              "the room balance was not available."))
    return samples


def _unix_time(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _known_table(name: str) -> sa.Table | None:
    """The table if the app's models define it and the database has it, else None.

    Only tables already in the metadata are used: importing a model module
    here would add tables to the metadata behind the app's back.
    """
    table = db.metadata.tables.get(name)
    if table is None or not sa.inspect(db.session.connection()).has_table(name):
        return None
    return table


register_collector("users", users_by_role)
register_collector("rq", rq_queues)
register_collector("ledger_verify", ledger_verify)
register_collector("reconciliation", reconciliation)
