"""RQ processes: `python worker.py` runs a worker; `python worker.py cron` the scheduler.

Both wait for Redis to answer before starting, so a supervisor may start them
in any order.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time

import redis
from rq import Worker

from app.jobs import app_for_jobs
from app.jobs.schedule import PERIODIC_JOBS
from app.logs import configure_process_logging

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


def run_worker(connection: redis.Redis, queues: list[str], burst: bool = False) -> None:
    Worker(queues, connection=connection).work(burst=burst, with_scheduler=True)


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
    args = parser.parse_args(argv)
    app = app_for_jobs()
    configure_process_logging(app.config["LOG_FORMAT"])
    connection = app.extensions["redis"]
    wait_for_redis(connection)
    if args.mode == "cron":
        run_cron(connection)
    else:
        run_worker(connection, args.queues.split(","), burst=args.burst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
