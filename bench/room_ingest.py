"""Batched room-transfer ingestion per second on PostgreSQL (target ≥ 5,000/s).

    .venv/bin/python -m bench.room_ingest [--seconds 20] [--page 1000] [--senders 1000] [--no-write]

A fresh database ``pokerpay_bench_room`` migrated by the app's migrations;
``--senders`` users, each with a verified room account.  Pages of ``--page``
incoming transfers (90 % from the verified senders, 10 % from unknown ones)
are ingested the way the feed poller stores a page: one
:func:`app.room.room_ingest.ingest_page` and the cursor, committed as one
transaction per page, by one poller (the feed is read in order) for
``--seconds``.  The same run measures the one-at-a-time path
(:func:`room_ingest.ingest`: a statement set per transfer) on fresh pages as
the baseline.  Then every page is ingested again (a replay of the whole feed:
nothing may be stored or credited twice), and ``verify_ledger()`` runs.
"""
from __future__ import annotations

import argparse
import random
import time
from datetime import timedelta

import psycopg

from bench._common import REDIS_URL, db_url, machine, record, recreate, row, sqlalchemy_url, write_section

BENCH_DB = "pokerpay_bench_room"
TARGET = 5_000


def _make_app():
    from app import create_app
    from config import TestingConfig

    return create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=sqlalchemy_url(BENCH_DB), REDIS_URL=REDIS_URL)


_USERS = """
INSERT INTO "user" (email, password_hash, role, locale, session_token, totp_enabled, kyc_status, is_frozen,
                    created_at)
SELECT 'player' || g || '@bench.invalid', 'bench: no login', 'user', 'ru', md5('p' || g), false, 'verified',
       false, now()
FROM generate_series(1, :n) AS g
"""
_ACCOUNTS = """
INSERT INTO room_account (user_id, identifier, identifier_key, status, verification_amount, verified_by, verified_at,
                          created_at)
SELECT u.id, 'player' || u.id, 'player' || u.id, 'verified', 101, 'ops', now(), now() FROM "user" u
WHERE u.email LIKE 'player%@bench.invalid'
"""


def prepare(senders: int) -> list[str]:
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from app import ledger
    from app.core.settings import current_settings
    from app.extensions import db

    recreate(BENCH_DB)
    app = _make_app()
    with app.app_context():
        upgrade()
        current_settings()
        db.session.execute(sa.text(_USERS), {"n": senders})
        db.session.execute(sa.text(_ACCOUNTS))
        identifiers = list(db.session.scalars(sa.text("SELECT identifier FROM room_account ORDER BY id")))
        # depositors have wallets already (made at their first deposit or sign-up), as in steady state
        for user_id in db.session.scalars(sa.text("SELECT user_id FROM room_account ORDER BY id")):
            ledger.wallet_of(user_id)
        db.session.commit()
        db.engine.dispose()
    with psycopg.connect(db_url(BENCH_DB), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return identifiers


def _pages(identifiers: list[str], size: int, tag: str, rng: random.Random):
    from app.connectors.room.base import RoomTransfer as FeedTransfer
    from app.database import utcnow

    n = 0
    while True:
        now = utcnow()
        page = []
        for _ in range(size):
            sender = rng.choice(identifiers) if rng.random() < 0.9 else f"stranger{rng.randrange(10**6)}"
            page.append(FeedTransfer(room_transfer_id=f"{tag}-{n}", direction="in", counterparty=sender,
                                     amount=rng.randrange(1_000, 100_000), occurred_at=now + timedelta(microseconds=n),
                                     note=None))
            n += 1
        yield page


def run(ingest, identifiers: list[str], seconds: float, size: int, tag: str) -> tuple[float, list, float]:
    """Ingest fresh pages for ``seconds``: transfers per second, the pages, and CPU ms per transfer (this process)."""
    from app.extensions import db
    from app.room import room_ingest

    rng = random.Random(tag)
    pages, done = [], 0
    source = _pages(identifiers, size, tag, rng)
    cpu = time.process_time()
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        page = next(source)
        ingest(page, "bench")
        room_ingest.set_cursor(f"bench-{tag}", page[-1].room_transfer_id)
        db.session.commit()
        pages.append(page)
        done += len(page)
    elapsed = time.perf_counter() - started
    return done / elapsed, pages, (time.process_time() - cpu) / max(done, 1) * 1000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=1000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    import sqlalchemy as sa

    from app import ledger
    from app.extensions import db
    from app.room import room_ingest

    print(f"room ingest: {args.senders} verified senders …", flush=True)
    identifiers = prepare(args.senders)
    app = _make_app()
    with app.app_context():
        # warm-up: the wallets are created by the first page that credits each sender
        run(room_ingest.ingest_page, identifiers, 2, args.page, "warm")
        print(f"batched: pages of {args.page} for {args.seconds:.0f} s …", flush=True)
        batched, pages, batched_cpu = run(room_ingest.ingest_page, identifiers, args.seconds, args.page, "batch")
        print(f"  {batched:,.0f} transfers/s ({batched_cpu:.3f} ms of poller CPU each)", flush=True)
        print(f"one at a time (room_ingest.ingest) for {args.seconds / 2:.0f} s …", flush=True)
        single, _, single_cpu = run(room_ingest.ingest, identifiers, args.seconds / 2, 100, "single")
        print(f"  {single:,.0f} transfers/s ({single_cpu:.3f} ms each)", flush=True)
        before = db.session.scalar(sa.text("SELECT count(*) FROM ledger_transfer"))
        replayed = {"credited": 0, "unmatched": 0}
        started = time.perf_counter()
        for page in pages:
            for k, v in room_ingest.ingest_page(page, "bench").items():
                replayed[k] += v
            db.session.commit()
        replay_rate = sum(len(p) for p in pages) / (time.perf_counter() - started)
        after = db.session.scalar(sa.text("SELECT count(*) FROM ledger_transfer"))
        report = ledger.verify_ledger()
        summary = report.summary()
        db.engine.dispose()
    twice = replayed["credited"] + replayed["unmatched"] + (after - before)
    print(f"replay of {len(pages)} pages: {replayed}, {after - before} new ledger transfers ({replay_rate:,.0f}/s);"
          f" {summary}", flush=True)
    ok = report.ok and twice == 0
    if not args.no_write:
        write_section("room_ingest", [
            "## Batched room-transfer ingestion",
            "",
            f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} by `python -m bench.room_ingest`: pages of"
            f" {args.page:,} incoming transfers (90 % from {args.senders:,} verified senders: a credit and a"
            " commission posting each; 10 % from unknown senders: a suspense posting), each page stored, settled and"
            " its cursor saved in one transaction (`room_ingest.ingest_page`), one poller, for"
            f" {args.seconds:.0f} s.  Baseline in the same run: the one-at-a-time path (`room_ingest.ingest`,"
            " pages of 100).",
            "",
            "| measured | ours | baseline | ratio | target |",
            "|---|---|---|---|---|",
            f"| room transfers ingested per second, batched | {batched:,.0f} | {single:,.0f} one at a time |"
            f" {batched / single:.1f}× | ≥ {TARGET:,}/s ({'met' if batched >= TARGET else 'NOT met'}) |",
            "",
            f"CPU of the poller per transfer: {batched_cpu:.3f} ms batched, {single_cpu:.3f} ms one at a time (the"
            " rest of the machine is PostgreSQL).  Per page the batched path sends a fixed number of statements:"
            " insert ignoring duplicates, read back the rows still `new`, the senders' room accounts, the settings,"
            " the platform accounts and wallets, one compare-and-set `new` → credited and one → unmatched"
            " (`UPDATE … WHERE status = 'new' RETURNING id`: only what this call moved is posted), the ledger's"
            " lock of every touched account, one `INSERT … ON CONFLICT (key) DO NOTHING` of all postings, one"
            " executemany of the sums and of the commissions.",
            "",
            f"Exactly once: every page ingested again afterwards ({sum(len(p) for p in pages):,} transfers,"
            f" {replay_rate:,.0f}/s): {replayed['credited']} credited, {replayed['unmatched']} parked,"
            f" {after - before} ledger transfers written.  `{summary}`.  Machine: {machine()}.",
        ])
        record("room_ingest", [row("room transfers ingested/s, batched pages of "
                                   f"{args.page:,}", f"{batched:,.0f}", f"{single:,.0f} one at a time",
                                   f"{batched / single:.1f}×", f"≥ {TARGET:,}/s", batched >= TARGET,
                                   goal="room transfers ingested/s")])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
