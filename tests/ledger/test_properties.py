"""Property tests: random sequences of postings against a model of the ledger (SQLite and PostgreSQL).

Each example gets its own five accounts in the test's database: one without
limits (the source of funds), three wallets (must not be overdrawn) and one
debit-normal account (must not be credited beyond its debits).  A sequence
mixes transfers, holds, full and partial posts, voids, retries with the same
key, reuses of a key for other content, commits, rollbacks and sweeps; each
call's outcome (result or error) is predicted by a plain-Python model first.
After each sequence: balances equal the model's, totals are conserved, and
``verify_ledger`` finds nothing.
"""
import copy
import itertools
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import ledger
from app.database import utcnow
from app.extensions import db
from app.ledger import AccountKind
from app.ledger.accounts import get_or_create

FREE, WALLETS, DEBIT_LIMITED = 0, (1, 2, 3), 4
N_ACCOUNTS = 5

# Every operation has one shape, (name, pair, amount, index, flag, part); each name uses what it needs.
# The names are drawn uniformly from this list: repeating a name weights it.
OP_NAMES = ["transfer"] * 4 + ["reserve"] * 3 + ["post"] * 3 + ["void"] * 2 + [
    "retry", "conflict", "commit", "rollback", "sweep"]
pairs = st.tuples(st.integers(0, N_ACCOUNTS - 1), st.integers(0, N_ACCOUNTS - 1)).filter(lambda p: p[0] != p[1])
amounts = st.one_of(st.integers(1, 200), st.integers(1_000, 6_000))
operations = st.tuples(
    st.sampled_from(OP_NAMES),
    pairs,
    amounts,
    st.integers(0, 50),                                  # which earlier hold or call
    st.sampled_from([False, False, False, True]),        # a hold born expired: one in four
    st.one_of(st.none(), st.integers(1, 4_000)),         # a post's amount (None = all); may exceed the hold
)
#: funding made before each sequence: (debit, credit, amount)
OPENING = [(FREE, 1, 3_000), (FREE, 2, 3_000), (FREE, 3, 3_000), (DEBIT_LIMITED, FREE, 3_000)]


class Model:
    """What the ledger should hold, for one example's accounts."""

    def __init__(self):
        self.dp = [0] * N_ACCOUNTS
        self.cp = [0] * N_ACCOUNTS
        self.dpend = [0] * N_ACCOUNTS
        self.cpend = [0] * N_ACCOUNTS
        #: holds made: dicts with id, key, debit, credit, amount, expired, status
        self.holds = []
        #: successful calls: (function name, args, kwargs, transfer id)
        self.calls = []

    def refuses(self, debit: int, credit: int, amount: int) -> bool:
        if debit in WALLETS and self.dp[debit] + self.dpend[debit] + amount > self.cp[debit]:
            return True
        return credit == DEBIT_LIMITED and self.cp[credit] + self.cpend[credit] + amount > self.dp[credit]

    def release(self, hold: dict, posted: int) -> None:
        d, c = hold["debit"], hold["credit"]
        self.dpend[d] -= hold["amount"]
        self.cpend[c] -= hold["amount"]
        self.dp[d] += posted
        self.cp[c] += posted


def _expect_error(error, call):
    try:
        call()
    except error:
        return
    raise AssertionError(f"expected {error.__name__}")


def _run_sequence(prefix: str, ops) -> None:
    codes = [f"{prefix}:free", f"{prefix}:w1", f"{prefix}:w2", f"{prefix}:w3", f"{prefix}:omnibus"]
    kinds = [AccountKind.ADJUSTMENTS, AccountKind.WALLET, AccountKind.WALLET, AccountKind.WALLET,
             AccountKind.ROOM_OMNIBUS]
    ids = [get_or_create(code, kind).id for code, kind in zip(codes, kinds)]
    model = Model()
    for n, (debit, credit, amount) in enumerate(OPENING):
        ledger.transfer(f"{prefix}:open{n}", ids[debit], ids[credit], amount, "opening")
        model.dp[debit] += amount
        model.cp[credit] += amount
    db.session.commit()
    committed = copy.deepcopy(model)
    keys = itertools.count()
    past = utcnow() - timedelta(hours=1)

    for name, (debit, credit), amount, index, expired, part in ops:
        if name in ("transfer", "reserve"):
            key = f"{prefix}:{next(keys)}"
            kwargs = {"timeout_at": past if expired else None} if name == "reserve" else {}
            args = (key, ids[debit], ids[credit], amount, name)
            call = getattr(ledger, name)
            if model.refuses(debit, credit, amount):
                _expect_error(ledger.InsufficientFunds, lambda: call(*args, **kwargs))
                continue
            row = call(*args, **kwargs)
            model.calls.append((name, args, kwargs, row.id))
            if name == "transfer":
                model.dp[debit] += amount
                model.cp[credit] += amount
            else:
                model.dpend[debit] += amount
                model.cpend[credit] += amount
                model.holds.append({"id": row.id, "key": key, "debit": debit, "credit": credit, "amount": amount,
                                    "expired": expired, "status": "pending"})
        elif name in ("post", "void"):
            if not model.holds:
                continue
            hold = model.holds[index % len(model.holds)]
            key = f"{prefix}:{next(keys)}"
            if name == "post":
                args = (key, hold["id"], part)
                if part is not None and part > hold["amount"]:
                    _expect_error(ledger.InvalidAmount, lambda: ledger.post_pending(*args))
                    continue
                if hold["status"] != "pending":
                    _expect_error(ledger.AlreadyResolved, lambda: ledger.post_pending(*args))
                    continue
                if hold["expired"]:
                    _expect_error(ledger.PendingExpired, lambda: ledger.post_pending(*args))
                    continue
                row = ledger.post_pending(*args)
                model.release(hold, hold["amount"] if part is None else part)
                hold["status"] = "posted"
                model.calls.append(("post_pending", args, {}, row.id))
            else:
                args = (key, hold["id"])
                if hold["status"] != "pending":
                    _expect_error(ledger.AlreadyResolved, lambda: ledger.void_pending(*args))
                    continue
                row = ledger.void_pending(*args)
                model.release(hold, 0)
                hold["status"] = "voided"
                model.calls.append(("void_pending", args, {}, row.id))
        elif name == "retry":
            if not model.calls:
                continue
            fn, args, kwargs, transfer_id = model.calls[index % len(model.calls)]
            assert getattr(ledger, fn)(*args, **kwargs).id == transfer_id
        elif name == "conflict":
            if not model.calls:
                continue
            fn, args, kwargs, _ = model.calls[index % len(model.calls)]
            if fn in ("transfer", "reserve"):
                changed = (args[0], args[1], args[2], args[3] + 1, args[4])
                _expect_error(ledger.IdempotencyConflict, lambda: getattr(ledger, fn)(*changed, **kwargs))
            elif fn == "post_pending":
                _expect_error(ledger.IdempotencyConflict, lambda: ledger.void_pending(args[0], args[1]))
            else:
                _expect_error(ledger.IdempotencyConflict, lambda: ledger.post_pending(args[0], args[1]))
        elif name == "commit":
            db.session.commit()
            committed = copy.deepcopy(model)
        elif name == "rollback":
            db.session.rollback()
            model = copy.deepcopy(committed)
        elif name == "sweep":
            model = copy.deepcopy(committed)  # the sweeper ends the open transaction first
            ledger.void_expired_holds()
            for hold in model.holds:
                if hold["expired"] and hold["status"] == "pending":
                    model.release(hold, 0)
                    hold["status"] = "expired"
            committed = copy.deepcopy(model)

    db.session.commit()
    for i, account_id in enumerate(ids):
        row = db.session.get(ledger.LedgerAccount, account_id)
        db.session.refresh(row)
        assert (row.debits_posted, row.credits_posted, row.debits_pending, row.credits_pending) == (
            model.dp[i], model.cp[i], model.dpend[i], model.cpend[i]), codes[i]
    assert sum(model.dp) == sum(model.cp) and sum(model.dpend) == sum(model.cpend)
    for i in WALLETS:
        assert ledger.balance(ids[i]).available >= 0
    assert ledger.balance(ids[DEBIT_LIMITED]).available >= 0
    report = ledger.verify_ledger()
    assert report.ok, report.violations


def test_random_sequences_keep_the_ledger_consistent(app_ctx):
    """Whatever the sequence of postings, retries and rollbacks: do balances match the model, totals balance
    and verify pass?"""
    examples = itertools.count()

    @settings(max_examples=100, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(st.lists(operations, min_size=10, max_size=60))
    def check(ops):
        db.session.rollback()
        _run_sequence(f"prop{next(examples)}", ops)

    check()
