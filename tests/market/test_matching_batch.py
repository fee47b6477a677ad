"""One matcher, every waiting deposit: matching_batch gives each deposit what match would, over live sandboxes.

The batch reserves for all waiting deposits in one transaction and publishes
them in another; these pin that it changes only the cost: the same FIFO
choice per deposit (own request skipped, bounds, free dollars, open slots),
never more than a request's escrow, the next seller after a provider failure,
a crash between the two transactions finished once, and on PostgreSQL many
matchers at once over-allocating nothing.
"""
import threading
import uuid

import pytest
import sqlalchemy as sa

from app import ledger
from app.core.settings import current_settings
from app.extensions import db
from app.jobs import invoices as invoice_jobs
from app.market import matching, matching_batch, quotes
from app.models import AuditEvent
from app.models.market import Deposit, WithdrawalRequest
from tests.helpers import gen_user
from tests.querycount import count_queries


def _reload(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def _verify():
    report = ledger.verify_ledger()
    assert report.ok, report.violations


def _holds_of(deposit_ids) -> list:
    return db.session.scalars(sa.select(ledger.LedgerTransfer).where(
        ledger.LedgerTransfer.event.in_([f"deposit:{i}" for i in deposit_ids]),
        ledger.LedgerTransfer.phase == "pending")).all()


def test_each_deposit_gets_the_request_match_would_give_it(market):
    """Oldest deposit first, does each get the first request in queue order that can take it: not the buyer's
    own, within its bounds, with an open-invoice slot left after the deposits before it?"""
    own_buyer, _, own = market.seller("own@example.com", "tbank", dollars=500_00)
    _, _, small = market.seller("small@example.com", "tbank", dollars=500_00, max_kopecks=1_000_00, max_open=2)
    _, _, wide = market.seller("wide@example.com", "tbank", dollars=500_00, max_open=10)
    other_buyer = market.buyer("other@example.com")
    wanted = [
        (own_buyer, 500_00, small),     # their own request comes first: skipped
        (other_buyer, 500_00, own),     # the head of the queue
        (own_buyer, 5_000_00, wide),    # above the small request's bound
        (own_buyer, 500_00, small),     # the small request's second and last slot
        (own_buyer, 500_00, wide),      # the small request is full
    ]
    deposits = [market.deposit(buyer, "tbank", kopecks) for buyer, kopecks, _ in wanted]
    taken = matching_batch.match_waiting(deposits[2].id)
    assert taken == {d.id: "awaiting_payment" for d in deposits}
    for deposit, (_, _, request) in zip(deposits, wanted, strict=True):
        deposit = _reload(Deposit, deposit.id)
        assert deposit.withdrawal_id == request.id, deposit.id
        assert deposit.pay_url and deposit.provider_payment_id and deposit.match_attempts == 1
        hold = db.session.get(ledger.LedgerTransfer, deposit.hold_transfer_id)
        assert (hold.status, hold.amount) == ("pending", deposit.usd_cents)
        assert hold.debit_account_id == _reload(WithdrawalRequest, request.id).escrow_account_id
    assert [_reload(WithdrawalRequest, r.id).open_invoices for r in (own, small, wide)] == [1, 2, 2]
    invoiced = db.session.scalars(sa.select(AuditEvent.target_id).where(AuditEvent.action == "deposit.invoiced"))
    assert sorted(invoiced) == sorted(str(d.id) for d in deposits)
    assert matching_batch.match_waiting() == {}  # nothing waits any more
    _verify()


def test_a_deposit_beyond_the_locked_candidates_is_matched_one_by_one(market, monkeypatch):
    """When the first request that fits a deposit lies deeper in the queue than a batch may lock, is it put back
    untouched by another deposit's batch, and does its own job still give it that request (through match)?"""
    monkeypatch.setattr(matching_batch, "CANDIDATES", 2)
    _, _, first = market.seller("first@example.com", "tbank", max_kopecks=1_000_00, max_open=10)
    _, _, second = market.seller("second@example.com", "tbank", max_kopecks=1_000_00, max_open=10)
    _, _, wide = market.seller("wide@example.com", "tbank", max_open=10)
    buyer = market.buyer()
    small, large = market.deposit(buyer, "tbank", 500_00), market.deposit(buyer, "tbank", 5_000_00)
    assert matching_batch.match_waiting(small.id) == {small.id: "awaiting_payment"}  # the large one: put back
    assert _reload(Deposit, large.id).status == "matching" and _reload(Deposit, large.id).hold_transfer_id is None
    assert matching_batch.match_waiting(large.id) == {large.id: "awaiting_payment"}  # its own job: one by one
    assert _reload(Deposit, small.id).withdrawal_id == first.id
    assert _reload(Deposit, large.id).withdrawal_id == wide.id
    assert _reload(WithdrawalRequest, second.id).open_invoices == 0
    _verify()


def test_a_request_never_gives_more_than_its_free_dollars(market):
    """With dollars for two invoices, does the first request take two and the rest go on down the queue, and a
    deposit nobody can take fail with its reason?"""
    _, _, first = market.seller("first@example.com", "tbank", dollars=11_00, max_open=10)
    _, _, second = market.seller("second@example.com", "tbank", dollars=11_00, max_open=10)
    buyer = market.buyer()
    deposits = [market.deposit(buyer, "tbank", 500_00) for _ in range(5)]  # $5.20 each
    taken = matching_batch.match_waiting(deposits[-1].id)  # the last one's job
    assert list(taken.values()).count("awaiting_payment") == 4
    assert taken[deposits[-1].id] == "failed"
    assert _reload(Deposit, deposits[-1].id).reason
    assert [_reload(Deposit, d.id).withdrawal_id for d in deposits[:4]] == [first.id] * 2 + [second.id] * 2
    for request in (first, second):
        balance = ledger.balance(_reload(WithdrawalRequest, request.id).escrow_account_id)
        assert balance.pending_debits == 2 * deposits[0].usd_cents and balance.available >= 0
    _verify()


def test_a_provider_failure_sends_the_deposit_to_the_next_seller(market):
    """When the first seller's provider refuses one invoice of the batch, is that deposit matched to the next
    seller while the others keep theirs?"""
    _, _, first = market.seller("first@example.com", "yookassa", max_open=10)
    _, _, second = market.seller("second@example.com", "yookassa", max_open=10)
    buyer = market.buyer()
    deposits = [market.deposit(buyer, "yookassa", 500_00) for _ in range(3)]
    market.providers.post("/_sandbox/providers/glitches",
                          {"path": "/yookassa/v3/payments", "mode": "error_before", "status": 500, "count": 1})
    taken = matching_batch.match_waiting()
    assert taken == {d.id: "awaiting_payment" for d in deposits}
    requests = sorted(_reload(Deposit, d.id).withdrawal_id for d in deposits)
    assert requests == [first.id, first.id, second.id]
    retried = [d for d in deposits if _reload(Deposit, d.id).withdrawal_id == second.id][0]
    assert _reload(Deposit, retried.id).match_attempts == 2
    assert _reload(WithdrawalRequest, first.id).open_invoices == 2
    assert len([h for h in _holds_of([retried.id]) if h.status == "voided"]) == 1
    _verify()


def test_a_crash_between_reserving_and_publishing_is_finished_once(market):
    """A matcher that died after committing the holds: does the sweeper publish each deposit once, with the
    holds made, and does no later matcher take them again?"""
    market.seller("seller@example.com", "tbank", max_open=10)
    buyer = market.buyer()
    deposits = [market.deposit(buyer, "tbank", 500_00) for _ in range(3)]
    reservations, left = matching_batch._reserve(None, matching_batch.BATCH_SIZE)  # noqa: SLF001 - then it died
    db.session.commit()
    assert len(reservations) == 3 and not left
    assert matching_batch.match_waiting() == {}  # reserved deposits are not waiting: nobody takes them twice
    holds = {d.id: _reload(Deposit, d.id).hold_transfer_id for d in deposits}
    for deposit in deposits:  # what the sweeper does with a deposit stuck in matching
        assert matching.match(deposit.id) == "awaiting_payment"
    assert {d.id: _reload(Deposit, d.id).hold_transfer_id for d in deposits} == holds
    assert len(_holds_of(holds)) == 3
    _verify()


def test_the_job_reports_its_own_deposit(market):
    """Does the match job answer its deposit's status, whether its batch took it or it was matched before?"""
    market.seller("seller@example.com", "tbank")
    deposit_id = market.deposit(market.buyer(), "tbank", 500_00).id
    run_job = invoice_jobs.match_deposit.__wrapped__  # in the test's app context (SQLite: one writer)
    assert run_job(deposit_id) == "awaiting_payment"
    assert run_job(deposit_id) == "awaiting_payment"  # a duplicate job: nothing to do
    assert len(_holds_of([deposit_id])) == 1


#: statements of a batch on PostgreSQL, whatever its size (measured 2026-11-29): indexes only for the
#: transaction, the claim, the candidates, the settings in force, the slots, the holds' lock, insert and sums,
#: the attempts; then the forms' failure reset, the publish, the audit events
BATCH_STATEMENTS = 12


def test_a_batch_costs_the_same_statements_for_two_deposits_or_eight(market, market_app):
    """On PostgreSQL, does a batch run a fixed number of statements whatever its size (on SQLite, a few per
    deposit)?"""
    market.seller("seller@example.com", "tbank", dollars=900_00, max_open=50)
    buyer = market.buyer()
    matching.match(market.deposit(buyer, "tbank", 500_00).id)  # the buyer's wallet, made once
    counts = {}
    for size in (2, 8):
        for _ in range(size):
            market.deposit(buyer, "tbank", 500_00)
        with count_queries(market_app) as statements:
            assert list(matching_batch.match_waiting().values()) == ["awaiting_payment"] * size
        counts[size] = len(statements)
    if db.engine.dialect.name == "postgresql":
        assert counts == {2: BATCH_STATEMENTS, 8: BATCH_STATEMENTS}, counts
    else:  # the publish and the attempts are a statement per deposit there
        assert counts[8] - counts[2] <= 6 * 3, counts
    _verify()


MATCHERS = 16


def test_many_matchers_at_once_never_over_allocate(market_app, market, database, monkeypatch):
    """Do sixteen matchers taking the waiting deposits at once give no request more than its escrow and its open
    slots, leave every deposit published or failed, and keep the ledger consistent?"""
    if database.kind != "postgresql":
        pytest.skip("concurrency is a PostgreSQL property; SQLite serialises writers by design")
    sellers = [market.seller(f"s{i}@example.com", "tbank", dollars=40_00, max_open=5) for i in range(4)]
    buyers = [gen_user(f"b{i}@example.com") for i in range(8)]
    settings = current_settings()
    deposit_ids = [matching.create_deposit(buyers[i % 8], quotes.quote("tbank", 1_000_00, settings),
                                           uuid.uuid4().hex).id for i in range(48)]
    db.session.commit()
    barrier, errors = threading.Barrier(MATCHERS), []

    def matcher(own_ids):
        """An RQ worker running the deposits' own match jobs, batches of four."""
        with market_app.app_context(), market_app.test_request_context():
            try:
                barrier.wait(timeout=30)
                for deposit_id in own_ids:
                    invoice_jobs.match_deposit.__wrapped__(deposit_id)
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(repr(exc))
            finally:
                db.session.remove()

    monkeypatch.setattr(matching_batch, "BATCH_SIZE", 4)
    threads = [threading.Thread(target=matcher, args=(deposit_ids[i::MATCHERS],)) for i in range(MATCHERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    db.session.expire_all()
    deposits = db.session.scalars(sa.select(Deposit).where(Deposit.id.in_(deposit_ids))).all()
    assert {d.status for d in deposits} <= {"awaiting_payment", "failed"}, {d.status for d in deposits}
    usd_each = deposits[0].usd_cents  # $10.41: three fit in $40, and each request has five slots
    published = [d for d in deposits if d.status == "awaiting_payment"]
    assert len(published) == 4 * (40_00 // usd_each)
    for _, _, request in sellers:
        request = _reload(WithdrawalRequest, request.id)
        balance = ledger.balance(request.escrow_account_id)
        assert balance.available >= 0
        assert balance.pending_debits == request.open_invoices * usd_each <= 40_00
    assert len({d.hold_transfer_id for d in published}) == len(published)
    _verify()


def test_a_forked_matcher_asks_the_providers_with_threads_of_its_own():
    """A process forked after the provider pool was used (an RQ work horse, a gunicorn worker) inherits the pool
    but not its threads: does a batch there still get its answers instead of waiting forever?"""
    import os

    for _ in range(4):  # the pool's threads exist here, and count themselves idle
        assert matching_batch._ask_all([_Echo(n) for n in range(8)]) == list(range(8))  # noqa: SLF001
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit status only
        import signal

        signal.alarm(10)  # a child left waiting is killed: the test fails instead of hanging
        code = 1
        try:
            code = 0 if matching_batch._ask_all([_Echo(3), _Echo(4)]) == [3, 4] else 2  # noqa: SLF001
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


class _Echo:
    """A reservation whose adapter answers its own number at once (no provider, no database)."""

    def __init__(self, n):
        self.deposit_id, self.adapter, self.invoice, self.idempotence_key = n, self, n, None

    def create_invoice(self, invoice, key):
        return invoice
