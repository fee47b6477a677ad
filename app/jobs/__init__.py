"""Background jobs (RQ).

Jobs are triggers, not carriers of state: they take ids, load what they need
from the database, and are idempotent, so running one twice or after a crash
changes nothing the first run did.  They are enqueued only after the commit
that made their work visible (:func:`enqueue_after_commit`); if Redis is down
at that moment the job is simply not queued, and the periodic sweepers find
the unfinished work in the database and re-drive it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import current_app
from rq import Queue
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.redis_client import get_redis

log = logging.getLogger(__name__)
_PENDING_KEY = "pokerpay_jobs_after_commit"


def get_queue(name: str = "default") -> Queue:
    return Queue(name, connection=get_redis())


def enqueue_after_commit(func: Callable, *args: Any, job_id: str | None = None, queue: str = "default") -> None:
    """Queue ``func(*args)`` once the current transaction commits (dropped on rollback)."""
    from app.core.request_context import job_meta
    from app.extensions import db

    session = db.session()
    session.info.setdefault(_PENDING_KEY, []).append((func, args, job_id, queue, job_meta()))


def _dotted(func: Callable) -> str:
    return f"{func.__module__}.{func.__qualname__}"


@event.listens_for(Session, "after_commit")
def _enqueue_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING_KEY, [])
    for func, args, job_id, queue, meta in pending:
        try:
            get_queue(queue).enqueue(_dotted(func), *args, job_id=job_id, meta=meta, failure_ttl=7 * 24 * 3600)
        except Exception:  # noqa: BLE001 - Redis down: the sweeper re-drives from the database
            log.warning("could not enqueue %s (will be re-driven by a sweeper)", _dotted(func), exc_info=True)


@event.listens_for(Session, "after_rollback")
def _discard_pending(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


def app_for_jobs():
    """The Flask app of this worker process (made once, reused by every job)."""
    global _worker_app
    try:
        return current_app._get_current_object()
    except RuntimeError:
        pass
    if _worker_app is None:
        from app import create_app

        _worker_app = create_app()
    return _worker_app


_worker_app = None


def job(func: Callable) -> Callable:
    """Run ``func`` inside an app context and always release the session afterwards."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from app.core.request_context import restore_request_id
        from app.extensions import db

        app = app_for_jobs()
        with app.app_context():
            restore_request_id()
            try:
                return func(*args, **kwargs)
            except Exception:
                db.session.rollback()
                raise
            finally:
                db.session.remove()

    return wrapper
