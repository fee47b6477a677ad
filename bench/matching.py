"""Matching: reservations per second on PostgreSQL, against pgbench's tpcb-like TPS on the same server, same run.

    .venv/bin/python -m bench.matching [--sizes 100,10000,100000] [--seconds 20] [--buyers 16]
                                       [--modes thread,process] [--steps purchase,match,batch]
                                       [--limits none,set] [--profile] [--no-write]

One *reservation* is what a buyer's purchase costs the database until the
invoice page can be shown, as the app does it:

1. the deposit form's POST: the buyer and the settings in force are read, the
   quote made, :func:`app.market.matching.create_deposit`, commit;
2. the match job, :func:`app.market.matching.match`: *reserve* (lock the
   deposit, take the first eligible withdrawal request in FIFO order ``FOR
   UPDATE SKIP LOCKED``, hold its dollars with a pending ledger transfer, take
   one of its open-invoice slots), commit; *create_invoice* with the seller's
   provider — replaced by an instant in-process adapter
   (``payment_forms.adapter_of`` is patched), so only the database path is
   measured — and *publish* (``awaiting_payment``), commit.

Three measures of it (``--steps``): *purchase*, both steps in the buyer's loop;
*match*, one deposit per call of ``match`` — what the match job did until
batches — over deposits stored beforehand by bulk SQL (``matching`` with a
locked quote, as the form's POST leaves them), so the window holds nothing but
reservations; and *batch*, the match job as it runs now
(:func:`app.market.matching_batch.match_waiting`): each of the ``--buyers``
matchers takes up to 32 of the oldest waiting deposits together, reserves them
in one transaction and publishes them in another, over the same stored
deposits.  In the batch step a latency is one call (a batch), the rest is per
reservation.

For each queue size (100, 10,000, 100,000 active requests by default):

1. pgbench: ``pgbench -c 8 -j 2 -T <seconds> -b tpcb-like`` on a database of
   its own (scale 8, initialised once), run right before that size's matching
   runs so that both see the same machine; its TPS is the baseline.
2. per buyer mode (threads, then processes): a fresh database migrated by the
   app's own migrations, then the queue by bulk SQL: one seller, one payment
   form (a real Fernet ciphertext of dummy credentials, encrypted once) and
   one withdrawal request per queued request, ``queued_at`` increasing with
   the id; each request's escrow account is funded with $10M by one posted
   ``escrow_fund`` transfer from a bench source account, so ``flask ledger
   verify`` holds; 50 open invoices at most, any invoice from 100 to
   150,000 ₽; the buyers and their wallets.
3. ``--buyers`` concurrent buyers — threads of one process (each with its own
   app, app context and connection), or processes (like gunicorn and RQ
   workers: one Python process cannot use more than one core) — loop over
   reservations of random 500–20,000 ₽ for ``--seconds`` after a 2 s warm-up;
   reservations that end in the window are counted.
4. In the bench no invoice ever ends, so a *slot recycler* (one connection,
   every 0.25 s) gives full requests their open-invoice slots back
   (``open_invoices = 0``; their holds stay pending, the ledger is untouched)
   — the stand-in for invoices being paid or expiring.  Without it 100
   requests × 50 slots would run dry within the run.
5. ``app.ledger.verify_ledger()`` on the bench database, plus the market's own
   invariants (every published deposit has its own open hold on its request's
   escrow, no hold without a published deposit, nothing left in matching).

``--limits set`` runs the same with every form's own limits set but not binding
(:mod:`app.market.form_limits`: a million invoices and 10 billion rubles a day,
working hours that close for one minute twelve hours away, across midnight; no
gap between invoices, which would bind when a form gets several invoices a
second), so what checking them costs is visible: each reservation then locks its
form's row and counts the form's invoices of the day.  ``none`` (the default) is
forms without limits, as before the limits existed.

Prints a table and writes ``BENCHMARKS.md`` between ``<!-- bench:matching -->``
markers: reservations/s, the pgbench TPS, their ratio (target ≥ 0.5), how flat
that ratio is from 100 to 100,000 queued requests (target: within 20 %), and per
reservation the statements, transactions, time in the database, CPU (the
buyers' own, and the whole machine's next to the same for one pgbench
transaction) and how far down the queue the buyers got.  ``--profile`` prints
a cProfile of the buyers.

The databases ``pokerpay_bench_matching`` and ``pokerpay_pgbench_matching`` on
``BENCH_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432``) are dropped
and recreated on every run.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import random
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

from bench._common import BENCHMARKS, REDIS_URL, ROOT, db_url, machine, machine_cpu, record, row, write_section
from bench._common import pg_env as _pg_env
from bench._common import pgbench as _pgbench
from bench._common import pgbench_args as _pgbench_args
from bench._common import recreate as _recreate

BENCH_DB = "pokerpay_bench_matching"
PGBENCH_DB = "pokerpay_pgbench_matching"
TARGET = 0.5
#: the ratio to pgbench at 100 and at 100,000 queued requests may differ by this much at most
FLATNESS = 0.20
#: the glance rows: what production runs (the match job in batches, RQ workers as processes)
GOAL_RATE, GOAL_FLAT = "matching reservations/s vs pgbench TPS", "matching flat from 100 to 100,000 queued"
KIND = "yoomoney"
#: per request: dollars put up (cents), invoice bounds (kopecks), open invoices at most (the CHECK's maximum)
ESCROW_CENTS = 1_000_000_000
MIN_INVOICE, MAX_INVOICE = 10_000, 15_000_000
MAX_OPEN = 50
#: what buyers ask for, kopecks (500 to 20,000 ₽)
BUY_MIN, BUY_MAX = 50_000, 2_000_000
WARMUP = 2.0
_PLURAL = {"thread": "threads", "process": "processes"}
RECYCLE_EVERY = 0.25


_db_url = db_url


# --- the baseline -------------------------------------------------------------------------------

def init_pgbench(scale: int = 8) -> None:
    _recreate(PGBENCH_DB)
    subprocess.run([_pgbench(), *_pgbench_args(), "-i", "-q", "-s", str(scale), PGBENCH_DB],
                   check=True, capture_output=True, env=_pg_env())


def run_pgbench(seconds: int, clients: int = 8, jobs: int = 2) -> tuple[float, float]:
    """pgbench's TPS, and the machine's busy CPU per transaction (ms, server and client together)."""
    busy_before, _idle = machine_cpu()
    out = subprocess.run(
        [_pgbench(), *_pgbench_args(), "-c", str(clients), "-j", str(jobs), "-T", str(seconds), "-b", "tpcb-like",
         PGBENCH_DB],
        check=True, capture_output=True, text=True, env=_pg_env(),
    ).stdout
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out) or re.search(
        r"tps = ([0-9.]+)", out)
    if not match:
        raise RuntimeError(f"cannot read TPS from pgbench output:\n{out}")
    tps = float(match.group(1))
    busy = machine_cpu()[0] - busy_before
    return tps, busy / (tps * seconds) * 1000 if tps else 0.0





def backend_cpu(pids: list[int]) -> float:
    """CPU seconds used so far by these PostgreSQL backends (from /proc; 0 for one that cannot be read)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


# --- the app under test -------------------------------------------------------------------------

def _make_app():
    from app import create_app
    from config import TestingConfig

    return create_app(TestingConfig,
                      SQLALCHEMY_DATABASE_URI=_db_url(BENCH_DB).replace("postgresql://", "postgresql+psycopg://", 1),
                      REDIS_URL=REDIS_URL)


class InstantAdapter:
    """A provider that answers at once: the benchmark measures the database path, not the network."""

    def create_invoice(self, request, idempotency_key):
        from app.connectors.payments.base import CreatedInvoice

        return CreatedInvoice(provider_payment_id=f"bench-{request.order_id}",
                              pay_url=f"https://pay.bench.invalid/{request.order_id}", sbp_payload=None,
                              raw_status="pending")


def _patch_provider() -> None:
    from app.market import payment_forms

    payment_forms.adapter_of = lambda form: InstantAdapter()


# --- the queue ----------------------------------------------------------------------------------

_SELLERS = """
INSERT INTO "user" (email, password_hash, role, locale, session_token, totp_enabled, kyc_status, is_frozen,
                    created_at)
SELECT 'seller' || g || '@bench.invalid', 'bench: no login', 'user', 'ru', md5('s' || g), false, 'verified',
       false, now()
FROM generate_series(1, :n) AS g
"""
_BUYERS = """
INSERT INTO "user" (email, password_hash, role, locale, session_token, totp_enabled, kyc_status, is_frozen,
                    created_at)
SELECT 'buyer' || g || '@bench.invalid', 'bench: no login', 'user', 'ru', md5('b' || g), false, 'verified',
       false, now()
FROM generate_series(1, :n) AS g
RETURNING id
"""
_FORMS = """
INSERT INTO payment_form (user_id, kind, name, credentials_encrypted, display, hook_token, enabled, circuit,
                          consecutive_failures, created_at, updated_at)
SELECT u.id, :kind, 'bench', :credentials, 'bench ••••', md5('hook' || u.id), true, 'closed', 0, now(), now()
FROM "user" u WHERE u.email LIKE 'seller%@bench.invalid' ORDER BY u.id
"""
# FIFO: queued_at increases with the id, one millisecond apart, all in the past.
_REQUESTS = """
INSERT INTO withdrawal_request (seller_id, payment_form_id, kind, status, amount, min_invoice_kopecks,
                                max_invoice_kopecks, max_open_invoices, open_invoices, queued_at, request_key,
                                created_at, updated_at)
SELECT f.user_id, f.id, :kind, 'active', :amount, :min_k, :max_k, :max_open, 0,
       now() - interval '1 hour' + f.id * interval '1 millisecond', 'bench:' || f.id, now(), now()
FROM payment_form f ORDER BY f.id
"""
_ESCROWS = """
INSERT INTO ledger_account (code, kind, asset, owner_id, debits_must_not_exceed_credits,
                            credits_must_not_exceed_debits, debits_posted, credits_posted, debits_pending,
                            credits_pending, version, created_at)
SELECT 'withdrawal:' || w.id || ':escrow:USD', 'escrow', 'USD', w.seller_id, true, false, 0, w.amount, 0, 0, 1,
       now()
FROM withdrawal_request w ORDER BY w.id
"""
_LINK_ESCROWS = """
UPDATE withdrawal_request w SET escrow_account_id = a.id
FROM ledger_account a WHERE a.code = 'withdrawal:' || w.id || ':escrow:USD'
"""
_FUNDING = """
INSERT INTO ledger_transfer (key, debit_account_id, credit_account_id, asset, amount, kind, phase, status,
                             memo, event, created_at)
SELECT 'withdrawal:' || w.id || '\\:fund', :source, w.escrow_account_id, 'USD', w.amount, 'escrow_fund', 'single',
       'posted', 'bench funding', 'withdrawal:' || w.id, now()
FROM withdrawal_request w ORDER BY w.id
"""
#: limits on every form that never bind in a run (see the module's docstring); hours across midnight
_LIMITS = """
UPDATE payment_form SET limit_day_kopecks = 1000000000000, limit_day_invoices = 1000000,
                        hours_start_minute = :start, hours_end_minute = :end, limits_timezone = 'Europe/Moscow'
"""
_SOURCE_SUMS = """
UPDATE ledger_account SET debits_posted = (SELECT sum(amount) FROM withdrawal_request), version = version + 1
WHERE id = :source
"""


def prepare(size: int, buyers: int, step: str = "purchase", limits: bool = False) -> list[int]:
    """A fresh, migrated bench database with ``size`` queued requests; returns the buyers' ids.  For the match
    step, also the buyers' deposits waiting to be matched.  ``limits``: every form with limits that never bind."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from app import crypto, ledger
    from app.core.settings import current_settings
    from app.extensions import db
    from app.ledger import AccountKind

    _recreate(BENCH_DB)
    app = _make_app()
    with app.app_context():
        upgrade()
        current_settings()  # the defaults row, before the buyers race to write it
        credentials = crypto.encrypt(json.dumps(
            {"wallet": "4100000000000000", "notification_secret": "bench", "oauth_token": "bench"}))
        run = db.session.execute
        run(sa.text(_SELLERS), {"n": size})
        buyer_ids = [row.id for row in run(sa.text(_BUYERS), {"n": buyers})]
        run(sa.text(_FORMS), {"kind": KIND, "credentials": credentials})
        if limits:
            from datetime import UTC, datetime
            from zoneinfo import ZoneInfo

            local = datetime.now(UTC).astimezone(ZoneInfo("Europe/Moscow"))
            start = (local.hour * 60 + local.minute + 720) % 1440  # closed only the minute before it
            run(sa.text(_LIMITS), {"start": start, "end": (start - 1) % 1440})
        run(sa.text(_REQUESTS), {"kind": KIND, "amount": ESCROW_CENTS, "min_k": MIN_INVOICE, "max_k": MAX_INVOICE,
                                 "max_open": MAX_OPEN})
        run(sa.text(_ESCROWS))
        run(sa.text(_LINK_ESCROWS))
        source = ledger.get_or_create("bench:source", AccountKind.ADJUSTMENTS)
        run(sa.text(_FUNDING), {"source": source.id})
        run(sa.text(_SOURCE_SUMS), {"source": source.id})
        for buyer_id in buyer_ids:
            ledger.wallet_of(buyer_id)
        if step in ("match", "batch"):
            settings = current_settings()
            run(sa.text(_DEPOSITS), {"kind": KIND, "rate": settings.rate_for(KIND), "fee_bps": settings.buyer_fee_bps,
                                     "settings_id": settings.id, "buyers": buyer_ids, "per_buyer": PREMADE_PER_BUYER[step],
                                     "lo": BUY_MIN, "hi": BUY_MAX})
        # The SQL above spells the app's account codes itself: check it against the app's own.
        first = db.session.execute(sa.text("SELECT id, escrow_account_id FROM withdrawal_request ORDER BY id"
                                           " LIMIT 1")).one()
        assert ledger.get_account(first.escrow_account_id).code == ledger.accounts.escrow_code(first.id)
        db.session.commit()
        db.engine.dispose()
    with psycopg.connect(_db_url(BENCH_DB), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return buyer_ids


#: the match step's deposits, as the form's POST stores them: ``matching``, a quote locked at the settings in force
_DEPOSITS = """
INSERT INTO deposit (order_id, buyer_id, kind, status, amount_kopecks, rate_kopecks, usd_cents, buyer_fee_cents,
                     settings_id, request_key, match_attempts, polls, created_at, updated_at)
SELECT md5(q.buyer_id || ':' || q.g), q.buyer_id, :kind, 'matching', q.amount, :rate, q.amount * 100 / :rate,
       q.amount * 100 / :rate * :fee_bps / 10000, :settings_id, 'premade:' || q.buyer_id || ':' || q.g, 0, 0,
       now(), now()
FROM (SELECT b.id AS buyer_id, g, :lo + CAST(floor(random() * ((:hi - :lo) / 100)) * 100 AS BIGINT) AS amount
      FROM unnest(CAST(:buyers AS BIGINT[])) AS b(id), generate_series(1, :per_buyer) AS g) AS q
"""
#: per buyer, deposits stored for the match and batch steps: more than the buyers get through in a window
PREMADE_PER_BUYER = {"match": 4_000, "batch": 10_000}


# --- the buyers ---------------------------------------------------------------------------------

@dataclass
class BuyerResult:
    #: reservations (deposits reaching awaiting_payment) that ended inside the measured window
    done: int = 0
    #: deposits that ended another way (failed: no seller) inside the window
    other: int = 0
    latencies: list[float] = field(default_factory=list)
    #: totals over the counted iterations
    statements: int = 0
    transactions: int = 0
    checkouts: int = 0
    db_seconds: float = 0.0
    deposit_seconds: float = 0.0
    reserve_seconds: float = 0.0
    invoice_seconds: float = 0.0
    wall_seconds: float = 0.0
    #: CPU time of the buyer's own thread (its Python, SQLAlchemy and psycopg work)
    cpu_seconds: float = 0.0
    error: str | None = None


class _Counters:
    """Statements, transactions, pool checkouts and time spent waiting on the database, for one engine."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.statements = self.transactions = self.checkouts = 0
        self.db_seconds = 0.0
        self._started = 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._commit)
        event.listen(engine.pool, "checkout", self._checkout)

    def _before(self, *_args) -> None:
        self._started = time.perf_counter()

    def _after(self, *_args) -> None:
        self.statements += 1
        self.db_seconds += time.perf_counter() - self._started

    def _commit(self, *_args) -> None:
        self.transactions += 1

    def _checkout(self, *_args) -> None:
        self.checkouts += 1

    def snapshot(self) -> tuple:
        return self.statements, self.transactions, self.checkouts, self.db_seconds


#: CPython 3.11 may fail compiling in several threads at once ("AST constructor recursion depth
#: mismatch"), and create_app compiles (templates, dataclasses): buyers make their apps one at a time
_app_lock = threading.Lock()

#: per thread, where the timing wrappers of reserve/create_invoice add their time
_phase = threading.local()


def _timed(name: str, fn):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            times = getattr(_phase, "times", None)
            if times is not None:
                times[name] += time.perf_counter() - started
    wrapper.__wrapped__ = fn
    return wrapper


def _instrument_matching() -> None:
    """Time match()'s two steps; match() calls them through the module, so wrapping the attribute is enough."""
    from app.market import matching

    if not hasattr(matching.reserve, "__wrapped__"):
        matching.reserve = _timed("reserve", matching.reserve)
        matching.create_invoice = _timed("invoice", matching.create_invoice)


def _buyer(n: int, buyer_id: int, go, clock, ready, out, profile_dir: str | None, step: str) -> None:
    import sqlalchemy as sa

    from app.core.settings import current_settings
    from app.extensions import db
    from app.market import matching, matching_batch, quotes
    from app.models import User
    from app.models.market import Deposit

    result = BuyerResult()
    try:
        with _app_lock:
            app = _make_app()
        rng = random.Random(n)
        with app.app_context():
            counters = _Counters(db.engine)
            # Connect before the clock starts; one session at a time, so one pooled connection and one backend.
            backend = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            db.session.get(User, buyer_id)
            premade = iter(db.session.scalars(
                sa.select(Deposit.id).where(Deposit.buyer_id == buyer_id, Deposit.status == "matching")
                .order_by(Deposit.id)).all())
            db.session.commit()
            ready.put(backend)
            go.wait()
            start_at, stop_at = clock[0], clock[1]
            _phase.times = times = {"reserve": 0.0, "invoice": 0.0}
            profiler = cProfile.Profile() if profile_dir else None
            i = 0
            while time.time() < stop_at:
                if profiler is not None and i == 0:
                    profiler.enable()
                before = counters.snapshot()
                phases = dict(times)
                cpu_started = time.thread_time()
                started = time.perf_counter()
                if step == "batch":
                    # the match job as it runs: a matcher takes the oldest waiting deposits together
                    statuses = list(matching_batch.match_waiting().values())
                    if not statuses:
                        raise RuntimeError(f"the {PREMADE_PER_BUYER[step]:,} deposits made per buyer ran out:"
                                           " raise PREMADE_PER_BUYER")
                    deposited = started  # no form POST in this step
                elif step == "purchase":
                    buyer = db.session.get(User, buyer_id)
                    q = quotes.quote(KIND, rng.randrange(BUY_MIN, BUY_MAX, 100), current_settings())
                    deposit = matching.create_deposit(buyer, q, request_key=f"bench:{n}:{i}")
                    deposit_id = deposit.id
                    db.session.commit()
                else:
                    deposit_id = next(premade, None)
                    if deposit_id is None:
                        raise RuntimeError(f"the {PREMADE_PER_BUYER[step]:,} deposits made for a buyer ran out:"
                                           " raise PREMADE_PER_BUYER")
                if step != "batch":
                    deposited = time.perf_counter()
                    statuses = [matching.match(deposit_id)]
                ended = time.perf_counter()
                i += 1
                if not start_at <= time.time() < stop_at:
                    continue
                after = counters.snapshot()
                done = statuses.count("awaiting_payment")
                result.done += done
                result.other += len(statuses) - done
                result.latencies.append(ended - started)
                result.statements += after[0] - before[0]
                result.transactions += after[1] - before[1]
                result.checkouts += after[2] - before[2]
                result.db_seconds += after[3] - before[3]
                result.deposit_seconds += deposited - started
                result.reserve_seconds += times["reserve"] - phases["reserve"]
                result.invoice_seconds += times["invoice"] - phases["invoice"]
                result.wall_seconds += ended - started
                result.cpu_seconds += time.thread_time() - cpu_started
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(os.path.join(profile_dir, f"buyer-{n}.prof"))
            db.session.remove()
            db.engine.dispose()
    except Exception as exc:  # noqa: BLE001 - reported by the parent, which fails the run
        result.error = f"{type(exc).__name__}: {exc}"
        try:
            ready.put(None)
        except Exception:  # noqa: BLE001,S110
            pass
    out.put(asdict(result))


# --- the slot recycler --------------------------------------------------------------------------

_RECYCLE = """
UPDATE withdrawal_request SET open_invoices = 0
WHERE status = 'active' AND kind = %s AND open_invoices >= max_open_invoices
"""


def _recycler(stop: threading.Event, freed: list[int]) -> None:
    """Give full requests their slots back: the stand-in for invoices ending (paid or expired)."""
    with psycopg.connect(_db_url(BENCH_DB), autocommit=True) as conn:
        while not stop.wait(RECYCLE_EVERY):
            freed[0] += conn.execute(_RECYCLE, (KIND,)).rowcount


# --- one measurement ----------------------------------------------------------------------------

@dataclass
class Measurement:
    size: int
    mode: str
    #: "purchase" (deposit + match) or "match" (the match job alone)
    step: str
    #: every form with limits set (not binding): ``--limits set``
    limits: bool
    buyers: int
    seconds: int
    baseline: float
    rate: float = 0.0
    done: int = 0
    other: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    statements: float = 0.0
    transactions: float = 0.0
    checkouts: float = 0.0
    db_ms: float = 0.0
    wall_ms: float = 0.0
    deposit_ms: float = 0.0
    reserve_ms: float = 0.0
    invoice_ms: float = 0.0
    setup_seconds: float = 0.0
    requests_used: int = 0
    deepest: int = 0
    top16_share: float = 0.0
    slots_recycled: int = 0
    #: CPU ms per reservation: the buyers' own Python, and the whole machine (PostgreSQL, buyers, anything else)
    python_cpu_ms: float = 0.0
    machine_cpu_ms: float = 0.0
    #: CPU ms per reservation of the buyers' PostgreSQL backends
    backend_cpu_ms: float = 0.0
    #: share of the machine's CPU idle during the window
    idle: float = 0.0
    #: machine CPU ms per pgbench transaction, measured the same way
    baseline_cpu_ms: float = 0.0
    verify: str = ""
    market_ok: bool = False
    market_problems: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.rate / self.baseline if self.baseline else 0.0


def run_buyers(buyer_ids: list[int], seconds: int, mode: str, profile_dir: str | None,
               step: str = "purchase") -> tuple[list[dict], int, tuple[float, float, float]]:
    """Run the buyers: their results, the slots recycled, and CPU seconds in the window — the machine's busy and
    idle, and the buyers' PostgreSQL backends'."""
    _patch_provider()
    _instrument_matching()
    ctx = multiprocessing.get_context("fork")
    go, ready, out = ctx.Event(), ctx.Queue(), ctx.Queue()
    clock = ctx.Array("d", 2)
    args = [(n, buyer_id, go, clock, ready, out, profile_dir, step) for n, buyer_id in enumerate(buyer_ids)]
    if mode == "process":
        workers = [ctx.Process(target=_buyer, args=a) for a in args]
    else:
        workers = [threading.Thread(target=_buyer, args=a) for a in args]
    for w in workers:
        w.start()
    backends = [ready.get(timeout=120) for _ in workers]
    backends = [pid for pid in backends if pid]
    stop, freed = threading.Event(), [0]
    recycler = threading.Thread(target=_recycler, args=(stop, freed))
    recycler.start()
    now = time.time()
    clock[0], clock[1] = now + WARMUP, now + WARMUP + seconds
    go.set()
    time.sleep(max(0.0, clock[0] - time.time()))
    busy_start, idle_start = machine_cpu()
    backends_start = backend_cpu(backends)
    time.sleep(max(0.0, clock[1] - time.time()))
    busy_end, idle_end = machine_cpu()
    backends_end = backend_cpu(backends)
    results = [out.get(timeout=seconds + WARMUP + 120) for _ in workers]
    for w in workers:
        w.join()
    stop.set()
    recycler.join()
    errors = [r["error"] for r in results if r["error"]]
    if errors:
        raise RuntimeError(f"{len(errors)} buyers failed; first: {errors[0]}")
    return results, freed[0], (busy_end - busy_start, idle_end - idle_start, backends_end - backends_start)


_SPREAD = """
WITH queue AS (SELECT id, row_number() OVER (ORDER BY queued_at, id) AS position FROM withdrawal_request),
     used AS (SELECT d.withdrawal_id, count(*) AS n FROM deposit d
              WHERE d.status = 'awaiting_payment' GROUP BY d.withdrawal_id)
SELECT count(*), coalesce(max(q.position), 0),
       coalesce(sum(u.n) FILTER (WHERE q.position <= 16), 0)::float / greatest(sum(u.n), 1)
FROM used u JOIN queue q ON q.id = u.withdrawal_id
"""
#: each published deposit has its own open hold of its amount, debiting its request's escrow
_MARKET_CHECKS = {
    # (the match step's deposits that no buyer reached are still waiting, untouched)
    "deposits left in matching": "SELECT count(*) FROM deposit WHERE status = 'matching'"
                                 " AND (match_attempts > 0 OR hold_transfer_id IS NOT NULL OR request_key NOT LIKE 'premade:%')",
    "published deposits without an open hold of theirs": """
        SELECT count(*) FROM deposit d
        LEFT JOIN withdrawal_request w ON w.id = d.withdrawal_id
        LEFT JOIN ledger_transfer t ON t.id = d.hold_transfer_id
        WHERE d.status = 'awaiting_payment' AND (t.id IS NULL OR t.phase <> 'pending' OR t.status <> 'pending'
              OR t.amount <> d.usd_cents OR t.debit_account_id <> w.escrow_account_id)""",
    "holds shared by two deposits": """
        SELECT count(*) FROM (SELECT hold_transfer_id FROM deposit WHERE hold_transfer_id IS NOT NULL
                              GROUP BY hold_transfer_id HAVING count(*) > 1) AS shared""",
    "open purchase holds without a published deposit": """
        SELECT count(*) FROM ledger_transfer t
        WHERE t.kind = 'purchase_hold' AND t.status = 'pending'
          AND NOT EXISTS (SELECT 1 FROM deposit d WHERE d.hold_transfer_id = t.id AND d.status = 'awaiting_payment')""",
}


def _after_run(m: Measurement) -> None:
    from app.extensions import db
    from app.ledger import verify_ledger

    with psycopg.connect(_db_url(BENCH_DB), autocommit=True) as conn:
        # fresh statistics: the run added tens of thousands of rows, and the checks' anti-joins planned on the
        # counts from before it took minutes as nested loops
        conn.execute("ANALYZE deposit, ledger_transfer, withdrawal_request")
        m.requests_used, m.deepest, m.top16_share = conn.execute(_SPREAD).fetchone()
        for problem, sql in _MARKET_CHECKS.items():
            count = conn.execute(sql).fetchone()[0]
            if count:
                m.market_problems.append(f"{problem}: {count}")
    m.market_ok = not m.market_problems
    app = _make_app()
    with app.app_context():
        m.verify = verify_ledger().summary()
        db.engine.dispose()


def measure(size: int, seconds: int, buyers: int, mode: str, baseline: tuple[float, float],
            profile_dir: str | None, step: str = "purchase", limits: bool = False) -> Measurement:
    m = Measurement(size=size, mode=mode, step=step, limits=limits, buyers=buyers, seconds=seconds,
                    baseline=baseline[0], baseline_cpu_ms=baseline[1])
    label = f"[{size:,} queued, {_PLURAL[mode]}, {_step_name(m)}]"
    print(f"{label} building the queue …", flush=True)
    started = time.perf_counter()
    buyer_ids = prepare(size, buyers, step, limits)
    m.setup_seconds = time.perf_counter() - started
    print(f"{label} queue built in {m.setup_seconds:.1f} s; {buyers} {mode} buyers for {seconds} s …", flush=True)
    results, m.slots_recycled, (busy, idle, backends) = run_buyers(buyer_ids, seconds, mode, profile_dir, step)
    m.done = sum(r["done"] for r in results)
    m.other = sum(r["other"] for r in results)
    m.rate = m.done / seconds
    latencies = sorted(x for r in results for x in r["latencies"])  # per call: a batch in the batch step
    counted = max(m.done + m.other, 1)
    if latencies:
        m.p50_ms = latencies[len(latencies) // 2] * 1000
        m.p99_ms = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    m.statements = sum(r["statements"] for r in results) / counted
    m.transactions = sum(r["transactions"] for r in results) / counted
    m.checkouts = sum(r["checkouts"] for r in results) / counted
    m.db_ms = sum(r["db_seconds"] for r in results) / counted * 1000
    m.wall_ms = sum(r["wall_seconds"] for r in results) / counted * 1000
    m.deposit_ms = sum(r["deposit_seconds"] for r in results) / counted * 1000
    m.reserve_ms = sum(r["reserve_seconds"] for r in results) / counted * 1000
    m.invoice_ms = sum(r["invoice_seconds"] for r in results) / counted * 1000
    m.python_cpu_ms = sum(r["cpu_seconds"] for r in results) / counted * 1000
    m.machine_cpu_ms = busy / max(m.done + m.other, 1) * 1000
    m.backend_cpu_ms = backends / max(m.done + m.other, 1) * 1000
    m.idle = idle / (busy + idle) if busy + idle else 0.0
    _after_run(m)
    print(f"{label} {m.rate:,.0f} reservations/s, ratio {m.ratio:.2f}; {m.verify}", flush=True)
    return m


# --- reporting ----------------------------------------------------------------------------------

def flatness(measurements: list[Measurement]) -> float | None:
    """(largest − smallest) / largest over the sizes measured, of the measure the target is set on: the rate
    against the pgbench run just before it; None with fewer than two.

    Each size has its own baseline because the machine is shared: pgbench moved by up to 17 % between the
    sizes of one run, and raw rates with it.
    """
    ratios = [m.ratio for m in measurements]
    if len(ratios) < 2 or not max(ratios):
        return None
    return (max(ratios) - min(ratios)) / max(ratios)


def _flatness_figures(group: list[Measurement]) -> str:
    return (" / ".join(f"{m.ratio:.3f}" for m in group) + " (" + " / ".join(f"{m.rate:,.0f}" for m in group)
            + " per s)")


#: what one counted reservation covers, per step
_STEP_TEXT = {
    "purchase": "deposit + reserve + publish",
    "match": "the match job alone: reserve + publish, deposits stored before",
    "batch": "the match job in batches: up to 32 waiting deposits reserved and published together",
}


def _step_name(m: Measurement) -> str:
    """The step, and "with form limits" when every form had limits set."""
    return f"{m.step} with form limits" if m.limits else m.step


def _by_mode(measurements: list[Measurement]) -> dict[str, list[Measurement]]:
    """The measurements per step and buyer mode ("purchase, processes"), each over the queue sizes."""
    groups: dict[str, list[Measurement]] = {}
    for m in measurements:
        groups.setdefault(f"{_step_name(m)}, {_PLURAL[m.mode]}", []).append(m)
    return groups


def print_table(measurements: list[Measurement]) -> None:
    print(f"{'step':>8} {'buyers':>10} {'queued':>8} {'resv/s':>7} {'pgbench':>7} {'ratio':>5} {'p50 ms':>7} {'p99 ms':>7}"
          f" {'stmts':>5} {'txns':>4} {'db ms':>6} {'wall ms':>7} {'dep/res/inv ms':>16} {'cpu py/pg/all ms':>16}"
          f" {'pgb cpu':>7} {'idle':>4} {'used':>4} {'deepest':>7}")
    for m in measurements:
        phases = f"{m.deposit_ms:.1f}/{m.reserve_ms:.1f}/{m.invoice_ms:.1f}"
        cpu = f"{m.python_cpu_ms:.1f}/{m.backend_cpu_ms:.1f}/{m.machine_cpu_ms:.1f}"
        print(f"{m.step + ('+lim' if m.limits else ''):>8} {m.buyers:>2} {_PLURAL[m.mode]:<7} {m.size:>8,} {m.rate:>7,.0f} {m.baseline:>7,.0f} {m.ratio:>5.2f}"
              f" {m.p50_ms:>7.1f} {m.p99_ms:>7.1f} {m.statements:>5.1f} {m.transactions:>4.1f} {m.db_ms:>6.1f}"
              f" {m.wall_ms:>7.1f} {phases:>16} {cpu:>16} {m.baseline_cpu_ms:>7.2f} {m.idle:>4.0%}"
              f" {m.requests_used:>4} {m.deepest:>7}")
    for mode, group in _by_mode(measurements).items():
        spread = flatness(group)
        if spread is not None:
            print(f"flatness ({mode}): ratios to pgbench {_flatness_figures(group)} within {spread:.0%} of each other"
                  f" (target ≤ {FLATNESS:.0%}: {'met' if spread <= FLATNESS else 'NOT met'})")


def write_report(measurements: list[Measurement]) -> None:
    first = measurements[0]
    rows = []
    for mode, group in _by_mode(measurements).items():
        for m in group:
            verdict = "met" if m.ratio >= TARGET else "NOT met"
            rows.append(
                f"| reservations/s, {m.size:,} queued requests, {m.buyers} buyers as {_PLURAL[m.mode]}"
                f" ({_STEP_TEXT[m.step]}{'; every form with limits set, not binding' if m.limits else ''};"
                f" instant provider) vs pgbench tpcb-like TPS (`-c 8 -j 2 -T {m.seconds}`, scale 8, run"
                f" just before) | {m.rate:,.0f} | {m.baseline:,.0f} | {m.ratio:.3f} | ≥ {TARGET} ({verdict}) |")
        spread = flatness(group)
        if spread is not None:
            sizes = " / ".join(f"{m.size:,}" for m in group)
            verdict = "met" if spread <= FLATNESS else "NOT met"
            rows.append(f"| flatness, {mode}: reservations/s ÷ pgbench TPS at {sizes} queued, (max − min) / max"
                        f" | {_flatness_figures(group)} | — |"
                        f" {spread:.0%} | ≤ {FLATNESS:.0%} ({verdict}) |")
    details = [
        f"| {_step_name(m)} | {_PLURAL[m.mode]} | {m.size:,} | {m.done:,} | {m.p50_ms:.1f} / {m.p99_ms:.1f} | {m.statements:.1f} |"
        f" {m.transactions:.1f} | {m.db_ms:.1f} of {m.wall_ms:.1f} |"
        f" {m.deposit_ms:.1f} / {m.reserve_ms:.1f} / {m.invoice_ms:.1f} |"
        f" {m.requests_used:,} (deepest {m.deepest:,}; {m.top16_share:.0%} on the first 16) |"
        f" {m.python_cpu_ms:.1f} / {m.backend_cpu_ms:.1f} / {m.machine_cpu_ms:.1f} ({m.baseline_cpu_ms:.2f}) |"
        f" {m.idle:.0%} |"
        f" {m.slots_recycled:,} | {m.setup_seconds:.0f} s |"
        for m in measurements
    ]
    checks = "; ".join(
        f"{_step_name(m)}, {_PLURAL[m.mode]} at {m.size:,}: `{m.verify}`,"
        f" market {'ok' if m.market_ok else 'PROBLEMS: ' + ', '.join(m.market_problems)}"
        for m in measurements)
    lines = [
        "## Matching vs pgbench",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} by `python -m bench.matching`.",
        "",
        "| measured | ours | baseline | ratio | target |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Per reservation, averaged over the {first.seconds} s window.  Statements: SQL statements sent (besides"
        " them each transaction costs a BEGIN and a COMMIT; connections are pinged only after sitting idle);"
        " transactions: commits;"
        " db ms: time from sending a statement to having its result (with threads this includes waiting for"
        " the GIL), the rest is Python; p50 / p99: per reservation, per call (a batch) in the batch step;"
        " deposit / reserve / invoice: `create_deposit` + commit (none in the match and batch steps),"
        " `matching.reserve`, `matching.create_invoice` with the publish (the batch step calls neither unless a"
        " deposit falls back to `match`); requests used: distinct requests"
        " the reservations went to, and how deep in the queue the deepest was; slots recycled: full requests"
        " given their open-invoice slots back (the stand-in for invoices ending); CPU: the buyers' own thread"
        " time per reservation, their PostgreSQL backends' CPU, and the whole machine's busy CPU (PostgreSQL, buyers, anything else running)"
        " over the window per reservation, next to the same for one pgbench transaction — with the machine"
        " saturated, the ratio is about the inverse ratio of these.",
        "",
        "| step | buyers | queued | reservations | p50 / p99 ms | statements | transactions | db ms of wall ms |"
        " deposit / reserve / invoice ms | requests used |"
        " CPU ms: buyers' Python / their PostgreSQL backends / whole machine (one pgbench txn) |"
        " machine idle | slots recycled | setup |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *details,
        "",
        f"Machine: {machine()}.  After each run: {checks}.",
    ]
    write_section("matching", lines)
    summary = [row(f"reservations/s ({_step_name(m)}), {m.size:,} queued, {m.buyers} buyer {_PLURAL[m.mode]}",
                   f"{m.rate:,.0f}", f"{m.baseline:,.0f} pgbench TPS", f"{m.ratio:.2f}", f"≥ {TARGET}",
                   m.ratio >= TARGET,
                   goal=GOAL_RATE if (m.step, _PLURAL[m.mode], m.limits) == ("batch", "processes", False) else None)
               for m in measurements]
    for mode, group in _by_mode(measurements).items():
        spread = flatness(group)
        if spread is not None:
            summary.append(row(f"flatness 100 → 100,000 queued, {mode}",
                               _flatness_figures(group), "—", f"{spread:.0%} apart",
                               f"≤ {FLATNESS:.0%}", spread <= FLATNESS,
                               goal=GOAL_FLAT if mode == "batch, processes" else None))
    record("matching", summary)


def profile_summary(profile_dir: str, limit: int = 30) -> str:
    files = sorted(Path(profile_dir).glob("*.prof"))
    if not files:
        return ""
    stream = io.StringIO()
    stats = pstats.Stats(str(files[0]), stream=stream)
    for f in files[1:]:
        stats.add(str(f))
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats("/app/", limit)
    return stream.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,10000,100000",
                        type=lambda s: [int(x.replace("_", "")) for x in s.split(",") if x])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--buyers", type=int, default=16)
    parser.add_argument("--modes", default="thread,process", type=lambda s: [x for x in s.split(",") if x],
                        help="thread, process or both: how the buyers run")
    parser.add_argument("--steps", default="purchase,match,batch", type=lambda s: [x for x in s.split(",") if x],
                        help="purchase (deposit + match) and/or match (the match job alone)")
    parser.add_argument("--limits", default="none", type=lambda s: [x for x in s.split(",") if x],
                        help="none (forms without limits) and/or set (every form with limits that never bind)")
    parser.add_argument("--profile", action="store_true", help="cProfile the buyers and print the hot spots")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = parser.parse_args(argv)
    if not set(args.modes) <= {"thread", "process"}:
        parser.error("--modes: thread and/or process")
    if not args.steps or not set(args.steps) <= set(_STEP_TEXT):
        parser.error("--steps: some of purchase, match, batch")
    if not args.limits or not set(args.limits) <= {"none", "set"}:
        parser.error("--limits: none and/or set")

    print("pgbench: initialising scale 8 …", flush=True)
    init_pgbench()
    measurements = []
    for size in args.sizes:
        print(f"[{size:,} queued] pgbench tpcb-like -c 8 -j 2 -T {args.seconds} …", flush=True)
        baseline = run_pgbench(args.seconds)
        print(f"[{size:,} queued] pgbench TPS {baseline[0]:,.0f} ({baseline[1]:.2f} ms of machine CPU per transaction)",
              flush=True)
        for step in args.steps:
            for limits in args.limits:
                for mode in args.modes:
                    with tempfile.TemporaryDirectory(prefix="bench-matching-") as profile_dir:
                        measurements.append(measure(size, args.seconds, args.buyers, mode, baseline,
                                                    profile_dir if args.profile else None, step, limits == "set"))
                        if args.profile:
                            print(profile_summary(profile_dir))
    print()
    print_table(measurements)
    for m in measurements:
        print(f"{_step_name(m)}, {_PLURAL[m.mode]} at {m.size:,} queued: {m.verify}; market {'ok' if m.market_ok else m.market_problems}")
    if not args.no_write:
        write_report(measurements)
        print(f"written to {BENCHMARKS.relative_to(ROOT)}")
    healthy = all("0 violations" in m.verify and m.market_ok for m in measurements)
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main())
