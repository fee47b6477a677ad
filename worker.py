"""RQ processes: `python worker.py` runs a worker; `python worker.py cron` the scheduler.

Both wait for Redis to answer before starting, so a supervisor may start them
in any order.

``python worker.py --no-fork`` runs the jobs in the worker process itself
(RQ's ``SimpleWorker``) instead of forking a child per job.  Our jobs are
short (matching, a status poll, a notification: milliseconds of work around
one provider call), and the fork is most of their cost: a child per job
(about 5 ms of CPU here, measured by ``python -m bench jobs``), a new database
connection in every child (the pool dies with it), and the copy-on-write of
the parent's pages.  Without forking the app, its connection pool and its
imports stay warm across jobs.

The trade-off: a job is no longer isolated from the worker.  A job that
crashes the interpreter (a segfault in a C extension) or leaks memory takes
the worker with it or grows it; a job that hangs in C code cannot be killed
by the job timeout (the timeout is a SIGALRM in the same process, which
Python code honours), only by the supervisor.  Exactly-once does not depend
on it: a job killed with its worker is re-driven from the database by the
sweepers like any lost job.  So: ``--no-fork`` for the queues of short jobs
(the default queue), the forking worker for anything long or risky
(exports, reports, imports of large statements).  Supervisors should restart
a non-forking worker after ``--max-jobs`` jobs to bound slow leaks.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time

import redis
from rq import SimpleWorker, Worker

from app import create_app
from app.jobs import use_app
from app.jobs.schedule import PERIODIC_JOBS
from app.observability.logs import configure_process_logging

log = logging.getLogger("worker")


def wait_for_redis(connection: redis.Redis, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection.ping()
            return
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _resolve(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


class ShortJobWorker(SimpleWorker):
    """Runs each job in this process: no fork, the app and its connection pool stay warm (see the module doc)."""


def run_worker(connection: redis.Redis, queues: list[str], burst: bool = False, fork: bool = True,
               max_jobs: int | None = None) -> None:
    worker_class = Worker if fork else ShortJobWorker
    worker_class(queues, connection=connection).work(burst=burst, with_scheduler=True, max_jobs=max_jobs)


def run_cron(connection: redis.Redis) -> None:
    from rq import cron_scheduler_registry
    from rq.cron import CronScheduler

    # A scheduler killed with SIGKILL leaves its registration behind; clear stale ones first.
    cron_scheduler_registry.cleanup(connection)
    scheduler = CronScheduler(connection=connection, name="pokerpay-cron")
    for dotted, interval in PERIODIC_JOBS:
        scheduler.register(_resolve(dotted), queue_name="default", interval=interval)
    scheduler.start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", nargs="?", default="worker", choices=["worker", "cron"])
    parser.add_argument("--queues", default="default")
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument("--no-fork", action="store_true",
                        help="run jobs in this process (short jobs; see the module doc for the trade-off)")
    parser.add_argument("--max-jobs", type=int, default=None, help="exit after this many jobs (a supervisor restarts)")
    args = parser.parse_args(argv)
    app = create_app()
    use_app(app)  # jobs run in this app (and in the forked children, which inherit it)
    configure_process_logging(app.config["LOG_FORMAT"])
    connection = app.extensions["redis"]
    wait_for_redis(connection)
    if args.mode == "cron":
        run_cron(connection)
    else:
        run_worker(connection, args.queues.split(","), burst=args.burst, fork=not args.no_fork,
                   max_jobs=args.max_jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
