"""Ledger postings per second on PostgreSQL, against pgbench's tpcb-like TPS on the same server, same run.

    .venv/bin/python -m bench.ledger [--seconds 20] [--writers 8] [--mode process|thread]

1. pgbench: a fresh database ``pokerpay_pgbench``, ``pgbench -i -s 8``, then
   ``pgbench -c 8 -j 2 -T <seconds> -b tpcb-like``; its TPS is the baseline.
2. ours: a fresh database ``pokerpay_bench`` migrated by the app's own
   migrations; ~1000 wallets funded from one source; then 8 concurrent
   writers each make unbatched postings — one :func:`app.ledger.transfer`
   between a random pair of wallets per transaction, committed — for the same
   number of seconds.  Writers are processes by default (like gunicorn and RQ
   workers; one Python process cannot use more than one core), or threads.
3. prints both figures and the ratio (target ≥ 0.5) and writes them to
   ``BENCHMARKS.md`` between ``<!-- bench:ledger -->`` markers.

The server is the one at ``BENCH_PG_URL`` (default
``postgresql://postgres@127.0.0.1:5432``); both databases are dropped and
recreated on every run.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- bench:ledger -->", "<!-- /bench:ledger -->"
SERVER = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
BENCH_DB = "pokerpay_bench"
PGBENCH_DB = "pokerpay_pgbench"
TARGET = 0.5


def _db_url(name: str) -> str:
    return f"{SERVER}/{name}"


def _recreate(name: str) -> None:
    with psycopg.connect(_db_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _pgbench_args() -> list[str]:
    parts = urlsplit(SERVER)
    args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    if parts.username:
        args += ["-U", parts.username]
    return args


def run_pgbench(seconds: int, clients: int = 8, jobs: int = 2, scale: int = 8) -> float:
    pgbench = shutil.which("pgbench") or "/usr/bin/pgbench"
    _recreate(PGBENCH_DB)
    env = dict(os.environ)
    if urlsplit(SERVER).password:
        env["PGPASSWORD"] = urlsplit(SERVER).password
    subprocess.run([pgbench, *_pgbench_args(), "-i", "-q", "-s", str(scale), PGBENCH_DB],
                   check=True, capture_output=True, env=env)
    out = subprocess.run(
        [pgbench, *_pgbench_args(), "-c", str(clients), "-j", str(jobs), "-T", str(seconds), "-b", "tpcb-like",
         PGBENCH_DB],
        check=True, capture_output=True, text=True, env=env,
    ).stdout
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out) or re.search(
        r"tps = ([0-9.]+)", out)
    if not match:
        raise RuntimeError(f"cannot read TPS from pgbench output:\n{out}")
    return float(match.group(1))


#: engine options of the app under test; None = the app's own configuration
ENGINE_OPTIONS: dict | None = None


def _make_app():
    from app import create_app
    from config import TestingConfig

    overrides = {"SQLALCHEMY_DATABASE_URI": _db_url(BENCH_DB).replace("postgresql://", "postgresql+psycopg://", 1),
                 "REDIS_URL": "redis://127.0.0.1:6379/15"}
    if ENGINE_OPTIONS is not None:
        overrides["SQLALCHEMY_ENGINE_OPTIONS"] = ENGINE_OPTIONS
    return create_app(TestingConfig, **overrides)


def prepare(accounts: int) -> list[int]:
    """Migrate the bench database and fund ``accounts`` wallets; returns their ids."""
    from flask_migrate import upgrade

    from app import ledger
    from app.extensions import db
    from app.ledger import AccountKind

    _recreate(BENCH_DB)
    app = _make_app()
    with app.app_context():
        upgrade()
        source = ledger.get_or_create("bench:source", AccountKind.ADJUSTMENTS)
        ids = []
        for i in range(accounts):
            wallet = ledger.get_or_create(f"bench:wallet:{i}", AccountKind.WALLET)
            ledger.transfer(f"bench:fund:{i}", source, wallet, 10**12, "bench_funding")
            ids.append(wallet.id)
        db.session.commit()
        db.engine.dispose()
    return ids


def _writer(worker: int, ids: list[int], start_at: float, stop_at: float, out) -> None:
    """Unbatched postings until ``stop_at``: one transfer, one commit."""
    from app import ledger
    from app.extensions import db

    app = _make_app()
    rng = random.Random(worker)
    done = refused = 0
    with app.app_context():
        db.session.execute(db.text("SELECT 1"))  # connect before the clock starts
        db.session.commit()
        while time.time() < start_at:
            time.sleep(0.001)
        i = 0
        while time.time() < stop_at:
            debit, credit = rng.sample(ids, 2)
            try:
                ledger.transfer(f"bench:{worker}:{i}", debit, credit, rng.randint(1, 10_000), "bench")
                db.session.commit()
                done += 1
            except ledger.InsufficientFunds:
                db.session.rollback()
                refused += 1
            i += 1
        db.session.remove()
        db.engine.dispose()
    out.put((done, refused))


def run_ours(ids: list[int], seconds: int, writers: int, mode: str) -> tuple[float, int]:
    start_at = time.time() + (3.0 if mode == "process" else 1.0)
    stop_at = start_at + seconds
    if mode == "process":
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        workers = [ctx.Process(target=_writer, args=(n, ids, start_at, stop_at, queue)) for n in range(writers)]
    else:
        import queue as queue_module

        queue = queue_module.Queue()
        workers = [threading.Thread(target=_writer, args=(n, ids, start_at, stop_at, queue)) for n in range(writers)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=seconds + 120) for _ in workers]
    for w in workers:
        w.join()
    done = sum(r[0] for r in results)
    refused = sum(r[1] for r in results)
    return done / seconds, refused


def _verify() -> str:
    from app.extensions import db
    from app.ledger import verify_ledger

    app = _make_app()
    with app.app_context():
        summary = verify_ledger().summary()
        db.engine.dispose()
    return summary


def machine() -> str:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    with psycopg.connect(_db_url("postgres")) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        settings = {name: conn.execute(f"SHOW {name}").fetchone()[0]
                    for name in ("synchronous_commit", "fsync", "shared_buffers")}
    return (f"{os.cpu_count()} cores, {mem_kb // 1024 // 1024} GiB memory, PostgreSQL {version}"
            f" (synchronous_commit={settings['synchronous_commit']}, fsync={settings['fsync']},"
            f" shared_buffers={settings['shared_buffers']}), Python {sys.version.split()[0]}")


def write_report(ours: float, baseline: float, seconds: int, writers: int, mode: str, accounts: int,
                 verify_summary: str) -> None:
    ratio = ours / baseline if baseline else 0.0
    verdict = "met" if ratio >= TARGET else "NOT met"
    section = "\n".join([
        BEGIN,
        "## Ledger postings vs pgbench",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} by `python -m bench.ledger`.",
        "",
        "| measured | ours | baseline | ratio | target |",
        "|---|---|---|---|---|",
        f"| unbatched ledger postings/s ({writers} {mode} writers, one `transfer` per commit, {accounts} accounts)"
        f" vs pgbench tpcb-like TPS (`-c 8 -j 2 -T {seconds}`, scale 8) | {ours:,.0f} | {baseline:,.0f} |"
        f" {ratio:.2f} | ≥ {TARGET} ({verdict}) |",
        "",
        f"Machine: {machine()}.  After the run: `{verify_summary}`.",
        END,
    ])
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    BENCHMARKS.write_text(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--mode", choices=["process", "thread"], default="process")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = parser.parse_args(argv)

    print(f"pgbench: tpcb-like, -c 8 -j 2 -T {args.seconds}, scale 8 …", flush=True)
    baseline = run_pgbench(args.seconds)
    print(f"pgbench tpcb-like TPS: {baseline:,.0f}", flush=True)

    print(f"ledger: preparing {args.accounts} funded accounts …", flush=True)
    ids = prepare(args.accounts)
    print(f"ledger: {args.writers} {args.mode} writers for {args.seconds} s …", flush=True)
    ours, refused = run_ours(ids, args.seconds, args.writers, args.mode)
    summary = _verify()
    ratio = ours / baseline
    print(f"ledger postings/s: {ours:,.0f}  (refused: {refused})")
    print(f"ratio: {ratio:.2f}  (target ≥ {TARGET}: {'met' if ratio >= TARGET else 'NOT met'})")
    print(summary)
    if not args.no_write:
        write_report(ours, baseline, args.seconds, args.writers, args.mode, args.accounts, summary)
        print(f"written to {BENCHMARKS.relative_to(ROOT)}")
    return 0 if "0 violations" in summary else 1


if __name__ == "__main__":
    raise SystemExit(main())
