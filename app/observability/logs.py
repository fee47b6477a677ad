"""Logging: readable lines in development, JSON lines in production.

Every record that passes through our handlers carries ``request_id`` (and
``job_id`` inside an RQ job), added by :class:`RequestIdFilter`, so one
buyer's request can be followed from the web process into the jobs it queued
(see :mod:`app.core.request_context`).  The id is ``-`` outside any request.

:func:`configure_logging` sets up the ``app`` logger of one process when the
app is created; :func:`logging_config` is the same set-up as a ``dictConfig``
for whole processes (gunicorn's ``logconfig_dict``, the RQ worker), where the
libraries' own records (gunicorn, rq, SQLAlchemy) must come out in the same
format.
"""
from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from flask import Flask

NO_ID = "-"
_UNSAFE = re.compile(r"[^A-Za-z0-9._:@/+=-]")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def current_ids() -> tuple[str, str | None]:
    """(request id, job id) of the running request or job, from the app context's ``g``."""
    from flask import g, has_app_context

    if not has_app_context():
        return NO_ID, None
    return _printable(g.get("request_id")) or NO_ID, g.get("job_id")


def _printable(request_id: str | None) -> str | None:
    """The id as it may appear in a log line: a client-chosen X-Request-ID must not forge lines."""
    return _UNSAFE.sub("_", request_id)[:64] if request_id else None


class RequestIdFilter(logging.Filter):
    """Stamp each record with the current request id (and job id); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id, job_id = current_ids()
            if job_id and not getattr(record, "job_id", None):
                record.job_id = job_id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the ids that tie a line to its request."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("request_id", "job_id"):
            value = getattr(record, key, None)
            if value and value != NO_ID:
                entry[key] = value
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            entry.update(_access_fields(record.args))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _access_fields(atoms: dict) -> dict:
    """Structured fields from gunicorn's access-log atoms (the request id is our response header)."""
    fields = {
        "remote": atoms.get("h"),
        "method": atoms.get("m"),
        "path": atoms.get("U"),
        "status": atoms.get("s"),
        "bytes": atoms.get("B"),
        "duration_ms": round(atoms["D"] / 1000, 1) if isinstance(atoms.get("D"), int) else None,
    }
    request_id = atoms.get("{x-request-id}o")
    if request_id and request_id != "-":
        fields["request_id"] = request_id
    return {key: value for key, value in fields.items() if value not in (None, "-")}


def _formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(app: Flask) -> None:
    """Give the ``app`` logger one stderr handler in the configured format (once per process)."""
    logger = logging.getLogger("app")
    if logger.handlers:  # a second app in the same process, or the process set it up already
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_formatter(app.config.get("LOG_FORMAT", "text")))
    handler.addFilter(RequestIdFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def logging_config(log_format: str, *, level: str = "INFO") -> dict:
    """A ``logging.config.dictConfig`` for a whole process: root, ``app`` and gunicorn's loggers.

    ``app`` does not propagate, so its records are not printed twice by root.
    """
    formatter = {"()": "app.observability.logs.JsonFormatter"} if log_format == "json" else {"format": TEXT_FORMAT}
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "pokerpay",
        "filters": ["request_id"],
        "stream": "ext://sys.stderr",
    }

    def logger(name: str) -> dict:
        return {"level": level, "handlers": ["stderr"], "propagate": False, "qualname": name}

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "app.observability.logs.RequestIdFilter"}},
        "formatters": {"pokerpay": formatter},
        "handlers": {"stderr": handler},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            **{name: logger(name) for name in ("app", "gunicorn.error", "gunicorn.access")},
            # migrations configure alembic's own logging when they run; elsewhere it is noise
            "alembic": {"level": "WARNING"},
        },
    }


def configure_process_logging(log_format: str, *, level: str = "INFO") -> None:
    """Apply :func:`logging_config` (for processes that are not gunicorn, e.g. ``worker.py``)."""
    import logging.config

    logging.config.dictConfig(logging_config(log_format, level=level))
