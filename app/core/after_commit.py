"""Background work, queued only once the transaction that made it visible commits.

A service says *what* should happen next by the name of a trigger
(``after_commit("deposit.match", deposit_id)``) and never imports the job that
does it: the jobs layer, above every service, registers each name with
:func:`handles`, and ``create_app`` and the worker import every job module, so
the names are filled in from above.  An unknown name fails at once, in the
request or test that used it, not later in a worker.

The job is put on its RQ queue in the session's ``after_commit`` event and
dropped on rollback, so a worker never sees work the database does not hold.
If Redis is down at that moment the job is simply not queued (a warning is
logged): the periodic sweepers find the unfinished work in the database and
re-drive it.  A job therefore carries ids, never state.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from rq import Queue
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.core.request_context import job_meta
from app.redis_client import get_redis

log = logging.getLogger(__name__)
_PENDING_KEY = "pokerpay_jobs_after_commit"
#: trigger name → the job function that does the work
_HANDLERS: dict[str, Callable] = {}


def handles(trigger: str) -> Callable[[Callable], Callable]:
    """Register the decorated job as the one that does ``trigger``'s work."""

    def register(func: Callable) -> Callable:
        known = _HANDLERS.get(trigger)
        if known is not None and dotted(known) != dotted(func):
            raise RuntimeError(f"trigger {trigger!r} is handled by {dotted(known)} already")
        _HANDLERS[trigger] = func
        return func

    return register


def get_queue(name: str = "default") -> Queue:
    return Queue(name, connection=get_redis())


def after_commit(work: str | Callable, *args: Any, job_id: str | None = None, queue: str = "default") -> None:
    """Queue the job for ``work`` (a trigger name, or a job function) once the current transaction commits."""
    from app.extensions import db

    func = _handler(work) if isinstance(work, str) else work
    session = db.session()
    session.info.setdefault(_PENDING_KEY, []).append((func, args, job_id, queue, job_meta()))


def _handler(trigger: str) -> Callable:
    try:
        return _HANDLERS[trigger]
    except KeyError:
        raise LookupError(f"no job handles the trigger {trigger!r} (is its job module imported?)") from None


def dotted(func: Callable) -> str:
    return f"{func.__module__}.{func.__qualname__}"


@event.listens_for(Session, "after_commit")
def _enqueue_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING_KEY, [])
    for func, args, job_id, queue, meta in pending:
        try:
            get_queue(queue).enqueue(dotted(func), *args, job_id=job_id, meta=meta, failure_ttl=7 * 24 * 3600)
        except Exception:  # noqa: BLE001 - Redis down: the sweeper re-drives from the database
            log.warning("could not enqueue %s (will be re-driven by a sweeper)", dotted(func), exc_info=True)


@event.listens_for(Session, "after_rollback")
def _discard_pending(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)
