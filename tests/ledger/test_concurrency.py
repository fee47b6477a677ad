"""Many writers at once on PostgreSQL: no overdraft, no lost update, no deadlock, exact final balances.

Each thread has its own application context, hence its own session and
connection, and commits every posting on its own, as request handlers and
jobs do.  SQLite is skipped: it serialises every writer with BEGIN IMMEDIATE,
so there is no row-level concurrency to test.
"""
import random
import threading
from collections import Counter

import pytest

from app import ledger
from app.extensions import db
from app.ledger import AccountKind
from app.ledger.accounts import get_or_create

THREADS = 8
OPS_PER_THREAD = 250
OPENING = 20_000


@pytest.fixture
def pg_app(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("row-level concurrency needs PostgreSQL (SQLite serialises writers with BEGIN IMMEDIATE)")
    return app  # the default pool (5 + 10 overflow) serves the 12 threads


def _run_threads(target, n):
    errors = []

    def guarded(i):
        try:
            target(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung (deadlock?)"
    assert not errors, f"unexpected errors: {errors[:3]!r}"


def test_concurrent_writers_keep_exact_balances(pg_app):
    """With 8 threads transferring, holding, posting, voiding and retrying among four wallets: are balances
    exact, never negative, and is InsufficientFunds the only error anyone sees?"""
    with pg_app.app_context():
        source = get_or_create("test:source", AccountKind.ADJUSTMENTS)
        wallets = [get_or_create(f"test:w{i}", AccountKind.WALLET) for i in range(4)]
        for w in wallets:
            ledger.transfer(f"open:{w.code}", source, w, OPENING, "opening")
        db.session.commit()
        ids = [w.id for w in wallets]

    # What each thread saw succeed; summed afterwards into the expected balances.
    posted = Counter()   # (debit, credit) -> amount posted
    refused = Counter()
    lock = threading.Lock()

    def writer(n):
        rng = random.Random(n)
        mine_posted, mine_refused, holds = Counter(), 0, []
        with pg_app.app_context():
            for i in range(OPS_PER_THREAD):
                debit, credit = rng.sample(ids, 2)
                amount = rng.randint(1, 3_000)
                key = f"t{n}:{i}"
                choice = rng.random()
                try:
                    if choice < 0.5:
                        ledger.transfer(key, debit, credit, amount, "sale")
                        effect = [((debit, credit), amount)]
                    elif choice < 0.8:
                        hold = ledger.reserve(key, debit, credit, amount, "purchase_hold")
                        holds.append((hold.id, debit, credit, amount))
                        effect = []
                    elif holds:
                        hold_id, d, c, a = holds.pop(rng.randrange(len(holds)))
                        if rng.random() < 0.6:
                            part = rng.randint(1, a)
                            ledger.post_pending(key, hold_id, amount=part)
                            effect = [((d, c), part)]
                        else:
                            ledger.void_pending(key, hold_id)
                            effect = []
                    else:
                        continue
                    db.session.commit()
                except ledger.InsufficientFunds:
                    db.session.rollback()
                    mine_refused += 1
                    continue
                for pair, value in effect:
                    mine_posted[pair] += value
                # Every tenth posting is retried at once with the same key: it must change nothing.
                if i % 10 == 0 and choice < 0.5:
                    ledger.transfer(key, debit, credit, amount, "sale")
                    db.session.commit()
            for hold_id, *_ in holds:  # leave nothing open
                ledger.void_pending(f"t{n}:cleanup:{hold_id}", hold_id)
                db.session.commit()
        with lock:
            posted.update(mine_posted)
            refused["n"] += mine_refused

    _run_threads(writer, THREADS)

    with pg_app.app_context():
        for account_id in ids:
            expected = OPENING + sum(v for (d, c), v in posted.items() if c == account_id) \
                - sum(v for (d, c), v in posted.items() if d == account_id)
            b = ledger.balance(account_id)
            assert b == ledger.Balance(posted=expected, pending_debits=0, pending_credits=0, available=expected)
            assert b.posted >= 0
        report = ledger.verify_ledger()
        assert report.ok, report.violations
    assert refused["n"] > 0, "the test should also exercise refusals"


def test_concurrent_overdraft_attempts_never_overdraw(pg_app):
    """When 8 threads race to spend the same 10.00 in 1.00 pieces, do exactly ten succeed?"""
    with pg_app.app_context():
        wallet = get_or_create("test:wallet", AccountKind.WALLET)
        sink = get_or_create("test:sink", AccountKind.WALLET)
        ledger.transfer("open", get_or_create("test:source", AccountKind.ADJUSTMENTS), wallet, 1_000, "opening")
        db.session.commit()
        wallet_id, sink_id = wallet.id, sink.id
    successes = Counter()
    lock = threading.Lock()

    def spender(n):
        with pg_app.app_context():
            for i in range(5):
                try:
                    if i % 2:
                        ledger.reserve(f"s{n}:{i}", wallet_id, sink_id, 100, "purchase_hold")
                    else:
                        ledger.transfer(f"s{n}:{i}", wallet_id, sink_id, 100, "sale")
                    db.session.commit()
                    with lock:
                        successes["ok"] += 1
                except ledger.InsufficientFunds:
                    db.session.rollback()

    _run_threads(spender, THREADS)
    with pg_app.app_context():
        assert successes["ok"] == 10
        assert ledger.balance(wallet_id).available == 0
        assert ledger.verify_ledger().ok


def test_concurrent_duplicates_post_once(pg_app):
    """When 8 threads submit the same key and content at once, is there one transfer that all of them get?"""
    with pg_app.app_context():
        source = get_or_create("test:source", AccountKind.ADJUSTMENTS)
        wallet = get_or_create("test:wallet", AccountKind.WALLET)
        db.session.commit()
        source_id, wallet_id = source.id, wallet.id
    seen = []
    barrier = threading.Barrier(THREADS)

    def submit(n):
        with pg_app.app_context():
            barrier.wait()
            seen.append(ledger.transfer("same-key", source_id, wallet_id, 700, "sale").id)
            db.session.commit()

    _run_threads(submit, THREADS)
    with pg_app.app_context():
        assert len(set(seen)) == 1 and len(seen) == THREADS
        assert ledger.balance(wallet_id).posted == 700


def test_concurrent_get_or_create_makes_one_account(pg_app):
    """When 8 threads ask for the same new platform account at once, is one row created?"""
    seen = []
    barrier = threading.Barrier(THREADS)

    def ask(n):
        with pg_app.app_context():
            barrier.wait()
            seen.append(ledger.platform_account(AccountKind.FEE_REVENUE).id)
            db.session.commit()

    _run_threads(ask, THREADS)
    assert len(set(seen)) == 1
