"""The bank test: the whole platform under concurrent sellers and buyers and injected faults.

    python -m tests.chaos.driver --mode short     # ~2 minutes (runs in `make test`)
    python -m tests.chaos.driver --mode long      # ~20 minutes (`make chaos`)
    CHAOS_SEED=1234 python -m tests.chaos.driver  # the same schedule of people and faults again

It starts its own Redis, a private PostgreSQL database (dropped at the end),
the sandbox room and providers, gunicorn, RQ workers and the scheduler; makes
sellers and buyers (:mod:`tests.chaos.world`); runs them (:mod:`tests.chaos.actors`)
while the nemesis (:mod:`tests.chaos.nemesis`) kills processes and makes the
sandboxes misbehave; checks safety every so often (:mod:`tests.chaos.checks`);
then stops the load and the faults, lets the system drain (its own sweepers),
runs the sweepers once more itself, and checks everything.

Reproducibility: every random choice -- who does what, amounts, which fault
when, the sandboxes' fault rolls -- comes from the seed.  Thread and process
timing is not under its control, so a rerun repeats the schedule, not every
interleaving.  All traffic stays on 127.0.0.1.

Prints ``N ops, K faults, V violations`` last; exits 1 on any violation.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa


@dataclass(frozen=True)
class Plan:
    duration: float
    sellers: int
    buyers: int
    rq_workers: int
    web_workers: int
    invoice_lifetime: int
    fault_interval: tuple[float, float]
    redis_restarts: int
    pg_drops: int
    check_every: float
    drain_seconds: float
    think: tuple[float, float]
    #: keep the load on past ``duration`` until this many operations (at most until ``max_duration``)
    min_ops: int = 0
    max_duration: float = 0
    #: …and until this many invoices were paid and settled: on a busy machine the first ones can take
    #: longer than the planned load, and a run that settled nothing has not tested settlement
    min_settled: int = 0


PLANS = {
    "short": Plan(duration=30, sellers=4, buyers=10, rq_workers=2, web_workers=2, invoice_lifetime=60,
                  fault_interval=(1.5, 3.0), redis_restarts=1, pg_drops=1, check_every=15, drain_seconds=25,
                  think=(0.05, 0.4), min_settled=1, max_duration=75),
    "long": Plan(duration=20 * 60, sellers=8, buyers=22, rq_workers=3, web_workers=3, invoice_lifetime=60,
                 fault_interval=(6, 14), redis_restarts=3, pg_drops=6, check_every=90, drain_seconds=170,
                 think=(0.05, 0.5), min_ops=20_000, max_duration=28 * 60),
}


_LOG_LOCK = threading.Lock()


def log(message: str) -> None:
    with _LOG_LOCK:
        print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


def in_process_app(system):
    from app import create_app
    from tests.chaos.system import CHECKER_APP_NAME

    return create_app(
        SQLALCHEMY_DATABASE_URI=system.env["DATABASE_URL"],
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "connect_args": {"application_name": CHECKER_APP_NAME}},
        REDIS_URL=system.redis_url, ENCRYPTION_KEYS=[system.env["ENCRYPTION_KEYS"]],
        PUBLIC_BASE_URL=system.web_url, RATELIMIT_ENABLED=False,
        ROOM_API_URL=system.room_url, ROOM_READ_TIMEOUT=2.0,
        YOOMONEY_BASE_URL=system.env["YOOMONEY_BASE_URL"], YOOMONEY_QUICKPAY_URL=system.env["YOOMONEY_QUICKPAY_URL"],
        YOOKASSA_BASE_URL=system.env["YOOKASSA_BASE_URL"], TBANK_BASE_URL=system.env["TBANK_BASE_URL"],
        PROVIDER_READ_TIMEOUT=2.0, PROVIDER_RETRIES=1,
    )


def final_sweep(system) -> dict:
    """The sweepers once more, in this process, after the RQ processes are stopped.

    With no worker left, nothing can be in the middle of a send, so every cash-out
    still ``sending`` may be reconciled at once (the sweeper otherwise waits
    ``STALE_SENDING`` for a possibly live worker), and every open invoice is
    polled now rather than at its backoff time.
    """
    import logging
    from datetime import timedelta

    from app.extensions import db
    from app.jobs import invoices as invoice_jobs
    from app.jobs import room as room_jobs
    from app.models.market import Deposit
    from app.room import cashouts

    app = in_process_app(system)
    for name in ("app", "rq", ""):
        logging.getLogger(name).setLevel(logging.WARNING)
    done: dict = {}
    with app.app_context():
        cashouts.STALE_SENDING = timedelta(0)
        done["room"] = room_jobs.poll_room_feed_once()
        done["cash_outs"] = room_jobs.sweep_cash_outs_once()
        done["cash_outs_2"] = room_jobs.sweep_cash_outs_once()
        open_ids = db.session.scalars(db.select(Deposit.id).where(
            Deposit.status.in_(["awaiting_payment", "expired"]))).all()
        db.session.commit()
        for deposit_id in open_ids:
            invoice_jobs.poll_one(deposit_id)
        done["polled"] = len(open_ids)
        done["invoices"] = invoice_jobs.sweep_invoices()
        done["room_2"] = room_jobs.poll_room_feed_once()
        db.session.remove()
        db.engine.dispose()
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=sorted(PLANS), default="short")
    parser.add_argument("--seed", type=int, default=None, help="default: $CHAOS_SEED or random")
    parser.add_argument("--duration", type=float, default=None, help="seconds of load (overrides the mode)")
    parser.add_argument("--workdir", help="logs and the summary go here (default: a new temp dir)")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the run's database")
    parser.add_argument("--summary-json", help="also write the summary as JSON here")
    args = parser.parse_args(argv)

    seed = args.seed if args.seed is not None else int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1 << 31))
    plan = PLANS[args.mode]
    duration = args.duration if args.duration is not None else plan.duration
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix=f"chaos-{seed}-"))
    log(f"seed {seed} (reproduce with CHAOS_SEED={seed}), mode {args.mode}, {duration:.0f}s of load, logs in {workdir}")
    rng = random.Random(seed)

    from tests.chaos import checks
    from tests.chaos.actors import Buyer, Seller, Stats, Stranger
    from tests.chaos.nemesis import Nemesis
    from tests.chaos.system import System
    from tests.chaos.world import make_world

    system = System(seed, workdir, rq_workers=plan.rq_workers, web_workers=plan.web_workers)
    stats = Stats()
    violations: list[str] = []
    nemesis = None
    figures: dict = {}
    started = time.monotonic()
    try:
        system.start()
        world = make_world(system, sellers=plan.sellers, buyers=plan.buyers, seller_dollars=20_000_00,
                           invoice_lifetime=plan.invoice_lifetime)
        log(f"system up in {time.monotonic() - started:.0f}s: gunicorn {system.web_url}, "
            f"{plan.rq_workers} RQ workers + scheduler, database {system.db_name}, "
            f"{len(world.sellers)} sellers, {len(world.buyers)} buyers")
        stop = threading.Event()
        actors = [Seller(system, p, rng.randrange(1 << 32), stats, stop, plan.think) for p in world.sellers]
        Buyer.invoice_lifetime = plan.invoice_lifetime
        actors += [Buyer(system, p, rng.randrange(1 << 32), stats, stop, plan.think) for p in world.buyers]
        actors.append(Stranger(system, None, rng.randrange(1 << 32), stats, stop, plan.think))
        nemesis = Nemesis(system, rng.randrange(1 << 32), stop, interval=plan.fault_interval,
                          redis_restarts=plan.redis_restarts, pg_drops=plan.pg_drops, duration=duration, log=log)
        engine = system.checker_engine()
        load_started = time.monotonic()
        for actor in actors:
            actor.start()
        nemesis.start()
        checking = threading.Thread(target=_check_periodically, name="chaos-checker", daemon=True,
                                    args=(system, engine, world, stats, nemesis, stop, plan.check_every, violations))
        checking.start()

        def load_on() -> bool:
            elapsed = time.monotonic() - load_started
            if elapsed < duration:
                return True
            if args.duration is not None or elapsed >= plan.max_duration:
                return False
            return stats.total < plan.min_ops or bool(plan.min_settled and _settled(engine) < plan.min_settled)

        while load_on():
            time.sleep(0.5)
        stop.set()
        for actor in actors:
            actor.join(20)
        nemesis.join(20)
        checking.join(120)
        log(f"load stopped after {time.monotonic() - load_started:.0f}s; faults off; draining")

        # Drain: the system's own sweepers, for a bounded time.
        drain_started = time.monotonic()
        remaining: list[str] = []
        while time.monotonic() - drain_started < plan.drain_seconds:
            remaining, _ = checks.final(checks.read_platform(engine), checks.read_sandboxes(system), world,
                                        expiry_slack_seconds=30)
            if not remaining:
                break
            time.sleep(3)
        converged = not remaining
        log(f"drain: {'converged' if converged else f'{len(remaining)} items still open'} after "
            f"{time.monotonic() - drain_started:.0f}s")
        figures["queue"] = _queue_figures(system)
        system.stop_background()
        figures["final_sweep"] = final_sweep(system)
        found = checks.ledger_verify(system)
        final_found, more = checks.final(checks.read_platform(engine), checks.read_sandboxes(system), world,
                                         expiry_slack_seconds=30)
        violations += found + final_found
        figures.update(more)
        figures["left_for_final_sweep"] = remaining[:20]
        figures["processes_restarted"] = system.restarts
        figures["gunicorn_alive"] = system.procs["web"].alive()
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - a broken run is a failed run, with the reason
        import traceback

        traceback.print_exc()
        violations.append(f"the run itself failed: {exc!r}")
    finally:
        if nemesis is not None:
            nemesis.calm()
        system.stop(drop_database=not args.keep_db)
    violations += stats.violations
    # A request whose PostgreSQL connection is killed under it fails (500): expected right after a drop,
    # a violation at any other time.
    drops = nemesis.pg_drops_at if nemesis else []
    excused = [e for at, e in stats.errors if any(0 <= at - d <= 5 for d in drops)]
    violations += [f"{e} (no database drop near it)" for at, e in stats.errors if not any(0 <= at - d <= 5 for d in drops)]
    figures["http_500_during_db_drop"] = len(excused)
    faults = nemesis.total if nemesis else 0
    summary = {
        "seed": seed, "mode": args.mode, "load_seconds": duration, "wall_seconds": round(time.monotonic() - started),
        "ops": stats.total, "ops_by_kind": dict(stats.ops), "outcomes": dict(stats.outcomes),
        "faults": faults, "faults_by_kind": dict(nemesis.counts) if nemesis else {},
        "kills": nemesis.kills if nemesis else 0, "violations": violations, **figures,
    }
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(summary, indent=2, default=str))
    for v in violations[:200]:
        print(f"VIOLATION: {v}", flush=True)
    log(f"faults by kind: {json.dumps(summary['faults_by_kind'], sort_keys=True)}")
    log(f"ops by kind: {json.dumps(summary['ops_by_kind'], sort_keys=True)}")
    log(f"outcome figures: {json.dumps({k: figures.get(k) for k in ('deposits', 'cash_outs', 'requests', 'room_in', 'disputed_paid', 'final_sweep', 'queue')}, default=str)}")
    print(f"{stats.total} ops, {faults} faults, {len(violations)} violations", flush=True)
    return 1 if violations else 0


def _settled(engine) -> int:
    """Invoices settled so far (0 while the database does not answer: the load goes on)."""
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM deposit WHERE status = 'settled'")).scalar_one()
    except sa.exc.SQLAlchemyError:
        return 0


def _check_periodically(system, engine, world, stats, nemesis, stop, every: float, violations: list) -> None:
    """Safety checks while the load runs (in their own thread: a slow check must not stretch the load)."""
    from tests.chaos import checks

    while not stop.wait(every):
        try:
            found = checks.ledger_verify(system)
            found += checks.safety(checks.read_platform(engine), checks.read_sandboxes(system), world)
        except Exception as exc:  # noqa: BLE001 - e.g. the sandbox slow under faults: try again next time
            log(f"check could not run: {exc!r}")
            continue
        violations += [f"[during load] {v}" for v in found]
        log(f"check: {stats.total} ops, {nemesis.total} faults ({nemesis.kills} kills), {len(found)} violations now")


def _queue_figures(system) -> dict:
    import redis
    from rq import Queue
    from rq.registry import FailedJobRegistry, StartedJobRegistry

    try:
        connection = redis.Redis.from_url(system.redis_url, socket_timeout=3)
        queue = Queue("default", connection=connection)
        return {"queued": len(queue), "started": len(StartedJobRegistry(queue=queue)),
                "failed_since_last_redis_restart": len(FailedJobRegistry(queue=queue))}
    except Exception as exc:  # noqa: BLE001
        return {"error": repr(exc)}


if __name__ == "__main__":
    sys.exit(main())
