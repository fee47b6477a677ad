"""gunicorn settings for PokerPay: `gunicorn -c gunicorn.conf.py wsgi:app`.

Every value can be overridden from the environment (names in the README
settings table) or on the command line.  See docs/operations.md for the
process layout.

- Threads: requests mostly wait on PostgreSQL and the providers, so each
  worker runs several threads (gthread).
- Graceful reload: ``kill -HUP <master>`` (``systemctl reload pokerpay-web``)
  starts new workers with the new code and lets the old ones finish their
  requests within ``graceful_timeout``.  That is why ``preload_app`` is off:
  a preloaded app would keep the old code across a HUP.
- ``max_requests`` (+ jitter) recycles workers now and then, so a slow leak
  cannot grow forever and the workers do not all restart at once (high
  enough that the invoice polls do not make "now and then" every few seconds).
- Metrics: with ``PROMETHEUS_MULTIPROC_DIR`` set, every worker writes its
  counters there and a scrape of any worker adds them up; the directory is
  emptied when the master starts and dead workers are marked.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = _int("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1)
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)
#: a worker silent this long is killed and replaced (provider calls time out well before)
timeout = _int("GUNICORN_TIMEOUT", 30)
#: on reload or stop, workers get this long to finish the requests they have
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
#: seconds an idle keep-alive connection from the proxy stays open
keepalive = _int("GUNICORN_KEEPALIVE", 5)
#: a worker is replaced after this many requests.  Counted over every request, the invoice polls included:
#: 5,000 watching buyers send ~3,300 a second, so 2,000 replaced a worker every 3 s (an app import each time,
#: the machine's CPU spent starting workers); 100,000 is a few minutes at that rate and a day when quiet.
max_requests = _int("GUNICORN_MAX_REQUESTS", 100_000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 10_000)
preload_app = False
#: the heartbeat file lives in memory: a container's overlay filesystem can stall it
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
#: the TLS proxy in front; X-Forwarded-Proto is trusted only from these addresses
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
#: the request id is the app's X-Request-ID response header, so access and app lines join on it
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s "%(a)s"'

_log_format = os.environ.get("LOG_FORMAT") or (
    "json" if os.environ.get("POKERPAY_CONFIG") == "production" else "text")
if _log_format == "json":
    from app.observability.logs import logging_config as _logging_config

    logconfig_dict = _logging_config("json", level=loglevel.upper())


def on_starting(server):
    """Start every deployment with an empty metrics directory (old workers' files are stale)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)


def post_fork(server, worker):
    """A preloaded app's database pool belongs to the master: give each worker its own.

    With ``preload_app`` off (the default here) the app is made in the worker
    and there is nothing to do.
    """
    app = getattr(server.app, "callable", None)
    if app is None or "sqlalchemy" not in getattr(app, "extensions", {}):
        return
    from app.extensions import db

    with app.app_context():
        db.engine.dispose(close=False)  # drop the inherited connections without closing the master's


def child_exit(server, worker):
    """Let the metrics of a dead worker stop counting as live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
