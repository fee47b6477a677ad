"""RQ job overhead: a forking worker (RQ's default: a child per job) against ``worker.py --no-fork``.

    .venv/bin/python -m bench.jobs [--jobs 300] [--no-write]

The same short job (an app context, one query, a commit: the shape of a
status poll or a notification without its network call) is enqueued
``--jobs`` times and one ``python worker.py`` drains the queue, forking
(the baseline) and then not (``--no-fork``); jobs per second, the worker's
CPU per job, and the worker process's peak RSS after the run.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from bench import _services
from bench._common import ROOT, machine, record, recreate, row, sqlalchemy_url, write_section
from bench.web import _env

BENCH_DB = "pokerpay_bench_jobs"


def short_job(n: int) -> int:
    from app.jobs import job

    return job(_short_job_body)(n)


def _short_job_body(n: int) -> int:
    import sqlalchemy as sa

    from app.extensions import db

    value = db.session.execute(sa.text("SELECT count(*) FROM platform_settings")).scalar()
    db.session.commit()
    return n + value


def _cpu_seconds(pid: int) -> float:
    """CPU of the process and its reaped children (a forking worker's children count here once waited for)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / tick  # utime, stime, cutime, cstime


def run(mode: str, jobs: int, env: dict, redis_url: str) -> dict:
    import redis
    from rq import Queue

    connection = redis.Redis.from_url(redis_url)
    queue_name = f"bench-{mode}"
    queue = Queue(queue_name, connection=connection)
    queue.empty()
    args = [sys.executable, "worker.py", "--queues", queue_name] + (["--no-fork"] if mode == "no-fork" else [])
    worker = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # one job first: the worker is up and has made its app
        first = queue.enqueue("bench.jobs.short_job", -1, job_id=f"bench-{mode}-warm")
        deadline = time.monotonic() + 120
        while first.get_status(refresh=True) != "finished":
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"the {mode} worker did not run a job")
            time.sleep(0.05)
        cpu_before = _cpu_seconds(worker.pid)
        started = time.perf_counter()
        enqueued = [queue.enqueue("bench.jobs.short_job", i, job_id=f"bench-{mode}-{i}") for i in range(jobs)]
        last = enqueued[-1]
        while last.get_status(refresh=True) not in ("finished", "failed"):
            if worker.poll() is not None:
                raise RuntimeError(f"the {mode} worker exited")
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        failed = sum(1 for j in enqueued if j.get_status(refresh=True) != "finished")
        cpu = _cpu_seconds(worker.pid) - cpu_before
        rss = _services.peak_rss_mib(worker.pid)
    finally:
        _services.stop(worker)
    return {"rate": jobs / elapsed, "cpu_ms": cpu / jobs * 1000, "rss_mib": rss, "failed": failed}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    _services.ensure_postgres()
    redis_url = _services.redis_url()
    recreate(BENCH_DB)
    env = {**_env(redis_url), "DATABASE_URL": sqlalchemy_url(BENCH_DB)}
    subprocess.run([str(Path(sys.executable).with_name("flask")), "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                   env={**os.environ, **env}, check=True, capture_output=True)
    results = {}
    for mode in ("fork", "no-fork"):
        print(f"jobs: {args.jobs} short jobs, {mode} worker …", flush=True)
        results[mode] = run(mode, args.jobs, env, redis_url)
        print(f"  {results[mode]}", flush=True)
    fork, simple = results["fork"], results["no-fork"]
    if not args.no_write:
        write_section("jobs", [
            "## RQ job overhead",
            "",
            f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} by `python -m bench.jobs`: {args.jobs} short jobs (app"
            " context, one query, commit) drained by one `python worker.py`, forking a child per job (RQ's"
            " `Worker`, the baseline) and with `--no-fork` (`ShortJobWorker`, RQ's `SimpleWorker`).",
            "",
            "| worker | jobs/s | worker CPU per job (with its children) | peak RSS of the worker process |",
            "|---|---|---|---|",
            *(f"| {mode} | {r['rate']:,.0f} | {r['cpu_ms']:.1f} ms | {r['rss_mib']:.0f} MiB |"
              for mode, r in results.items()),
            "",
            "The trade-off of `--no-fork` (in `worker.py`'s docstring): no isolation between jobs (a crash or a"
            " leak in one job is the worker's), and a hang in C code is not cut by the job timeout; exactly-once"
            " does not depend on it (a lost job is re-driven from the database).  Use it for the short-job queues,"
            f" with `--max-jobs` to recycle the process.  Failed jobs: {fork['failed']} / {simple['failed']}."
            f"  Machine: {machine()}.",
        ])
        record("jobs", [
            row("RQ short jobs/s, one worker, --no-fork", f"{simple['rate']:,.0f}", f"{fork['rate']:,.0f} forking",
                f"{simple['rate'] / fork['rate']:.1f}×"),
            row("peak RSS of an RQ worker (no-fork / forking parent)",
                f"{simple['rss_mib']:.0f} MiB / {fork['rss_mib']:.0f} MiB"),
        ])
    return 0 if fork["failed"] == 0 and simple["failed"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
