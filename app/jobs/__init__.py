"""Background jobs (RQ): the layer above the services that does work later.

Jobs are triggers, not carriers of state: they take ids, load what they need
from the database, and are idempotent, so running one twice or after a crash
changes nothing the first run did.  They are enqueued only after the commit
that made their work visible (:mod:`app.core.after_commit`): a service names
the work by a trigger, and the job that does it says so with
``@handles("trigger.name")``.  If Redis is down at that moment the job is
simply not queued, and the periodic sweepers find the unfinished work in the
database and re-drive it.

:data:`JOB_MODULES` lists every module of jobs; :func:`load_job_modules`
imports them, so each trigger has its job in every process (``create_app``
calls it).  The worker process tells the jobs which app to run in with
:func:`use_app`.
"""
from __future__ import annotations

import functools
import importlib
from collections.abc import Callable

from flask import Flask, current_app

JOB_MODULES = ("accounts", "form_health", "invoices", "ledger", "notifications", "ops", "room", "telegram")
_worker_app: Flask | None = None


def load_job_modules() -> None:
    """Import every job module, which registers the triggers they handle."""
    for name in JOB_MODULES:
        importlib.import_module(f"{__name__}.{name}")


def use_app(app: Flask) -> None:
    """The worker process's app: jobs run in it when no app context is current."""
    global _worker_app
    _worker_app = app


def app_for_jobs() -> Flask:
    """The app a job runs in: the current one (tests, the web process), else the worker's."""
    try:
        return current_app._get_current_object()
    except RuntimeError:
        pass
    if _worker_app is None:
        raise RuntimeError("no app for the jobs: the worker process calls app.jobs.use_app(create_app()) first")
    return _worker_app


def job(func: Callable) -> Callable:
    """Run ``func`` inside an app context and always release the session afterwards."""

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
