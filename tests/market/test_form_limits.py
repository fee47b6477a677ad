"""An API form's own limits in the market, over live sandboxes, on both engines and both matching paths.

``match`` (one deposit) and ``match_waiting`` (the batch) must both pass over a
seller whose form's limits refuse the invoice, give the deposit to the next
seller, and count only what the form really got today.  On PostgreSQL, 20
buyers at once never get a form limited to 3 invoices a 4th.
"""
from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import ledger
from app.core.settings import current_settings
from app.database import utcnow
from app.extensions import db
from app.market import form_limits, invoices, matching, matching_batch, payment_forms, quotes
from app.models import User
from app.models.market import Deposit
from tests.helpers import gen_user

PATHS = ["match", "batch"]


def _match(path: str, deposit_id: int) -> str:
    if path == "match":
        return matching.match(deposit_id)
    return matching_batch.match_waiting(deposit_id)[deposit_id]


def _limit(user, form, **values) -> None:
    settings = {"day_kopecks": None, "day_invoices": None, "gap_minutes": None, "hours_start": None,
                "hours_end": None, "zone": "Europe/Moscow", **values}
    payment_forms.set_limits(user, form.id, **settings)
    db.session.commit()


def _form_of(deposit_id: int) -> int | None:
    db.session.expire_all()
    return db.session.get(Deposit, deposit_id).payment_form_id


def _two_sellers(market):
    """The limited seller first in the queue, an unlimited one behind them."""
    limited = market.seller("limited@example.com", "tbank", dollars=500_00, max_open=20)
    spare = market.seller("spare@example.com", "tbank", dollars=500_00, max_open=20)
    return limited, spare


@pytest.mark.parametrize("path", PATHS)
def test_invoices_per_day(market, path):
    """A form limited to 2 invoices a day: do the first two deposits get it and the third the next seller?"""
    (user, form, _), (_, spare_form, _) = _two_sellers(market)
    _limit(user, form, day_invoices=2)
    buyer = market.buyer()
    forms = []
    for _n in range(3):
        deposit = market.deposit(buyer, "tbank", 1_000_00)
        assert _match(path, deposit.id) == "awaiting_payment"
        forms.append(_form_of(deposit.id))
    assert forms == [form.id, form.id, spare_form.id]
    usage = form_limits.usage_today(form.id, form_limits.limits_of(form), utcnow())
    assert (usage.invoices, usage.kopecks) == (2, 2_000_00)


@pytest.mark.parametrize("path", PATHS)
def test_rubles_per_day_to_the_kopeck(market, path):
    """2,500 ₽ a day: 1,000 + 1,000 fit, a third 1,000 goes elsewhere, and a 500 that fits exactly still comes."""
    (user, form, _), (_, spare_form, _) = _two_sellers(market)
    _limit(user, form, day_kopecks=2_500_00)
    buyer = market.buyer()
    got = []
    for kopecks in (1_000_00, 1_000_00, 1_000_00, 500_00):
        deposit = market.deposit(buyer, "tbank", kopecks)
        assert _match(path, deposit.id) == "awaiting_payment"
        got.append(_form_of(deposit.id))
    assert got == [form.id, form.id, spare_form.id, form.id]


@pytest.mark.parametrize("path", PATHS)
def test_gap_between_invoices(market, path):
    """30 minutes between invoices: the second deposit right after the first goes to the next seller, and once
    the first invoice is older than the gap the form takes one again."""
    (user, form, _), (_, spare_form, _) = _two_sellers(market)
    _limit(user, form, gap_minutes=30)
    buyer = market.buyer()
    first = market.deposit(buyer, "tbank", 1_000_00)
    assert _match(path, first.id) == "awaiting_payment"
    second = market.deposit(buyer, "tbank", 1_000_00)
    assert _match(path, second.id) == "awaiting_payment"
    assert (_form_of(first.id), _form_of(second.id)) == (form.id, spare_form.id)
    # the first invoice 31 minutes ago (the gap reads what the database says)
    db.session.execute(sa.update(Deposit).where(Deposit.id == first.id)
                       .values(reserved_at=utcnow() - timedelta(minutes=31)))
    db.session.commit()
    third = market.deposit(buyer, "tbank", 1_000_00)
    assert _match(path, third.id) == "awaiting_payment"
    assert _form_of(third.id) == form.id


def _window(start_offset: int, end_offset: int, zone: str = "Asia/Vladivostok") -> tuple[int, int]:
    """Working hours relative to the seller's local now (minutes, wrapped around midnight)."""
    local = utcnow().astimezone(form_limits.zone_of(zone))
    now = local.hour * 60 + local.minute
    return (now + start_offset) % 1440, (now + end_offset) % 1440


@pytest.mark.parametrize("path", PATHS)
def test_working_hours(market, path):
    """Outside the form's hours (in the seller's zone) the next seller gets the deposit; inside, the form does —
    also with a window that crosses midnight (an end before the start)."""
    (user, form, _), (_, spare_form, _) = _two_sellers(market)
    buyer = market.buyer()
    start, end = _window(120, 180)
    _limit(user, form, hours_start=start, hours_end=end, zone="Asia/Vladivostok")
    closed = market.deposit(buyer, "tbank", 1_000_00)
    assert _match(path, closed.id) == "awaiting_payment"
    assert _form_of(closed.id) == spare_form.id
    # open: from an hour ago to 23 hours later (the end is before the start: across midnight)
    start, end = _window(-60, -120)
    _limit(user, form, hours_start=start, hours_end=end, zone="Asia/Vladivostok")
    assert end < start or start < end  # either way the rule reads it; the CHECK forbids equal ends
    opened = market.deposit(buyer, "tbank", 1_000_00)
    assert _match(path, opened.id) == "awaiting_payment"
    assert _form_of(opened.id) == form.id


@pytest.mark.parametrize("path", PATHS)
def test_invoices_that_brought_no_money_do_not_count(market, path):
    """One invoice a day: an expired one frees the day again, a settled one keeps it used."""
    (user, form, _), (_, spare_form, _) = _two_sellers(market)
    _limit(user, form, day_invoices=1)
    buyer = market.buyer()
    first = market.deposit(buyer, "tbank", 1_000_00)
    assert _match(path, first.id) == "awaiting_payment"
    invoices.expire(first.id)
    db.session.commit()
    second = market.deposit(buyer, "tbank", 1_000_00)
    assert _match(path, second.id) == "awaiting_payment"
    assert _form_of(second.id) == form.id
    invoices.settle_paid(second.id, 1_000_00, source="test")
    db.session.commit()
    third = market.deposit(buyer, "tbank", 1_000_00)
    assert _match(path, third.id) == "awaiting_payment"
    assert _form_of(third.id) == spare_form.id


def test_no_other_seller_means_no_seller(market):
    """With the only form at its limit, the deposit fails with the usual reason, and no hold is left."""
    user, form, request = market.seller("only@example.com", "tbank", dollars=500_00, max_open=20)
    _limit(user, form, day_invoices=0)
    deposit = market.deposit(market.buyer(), "tbank", 1_000_00)
    assert matching.match(deposit.id) == "failed"
    db.session.expire_all()
    assert db.session.get(type(request), request.id).open_invoices == 0
    assert ledger.balance(request.escrow_account_id).pending_debits == 0


def test_batch_counts_its_own_invoices(market):
    """Three deposits matched together against a form limited to 2 a day: the batch counts the ones it has
    just given the form (in memory, under the form's lock), so the third goes to the next seller."""
    (user, form, _), (_, spare_form, _) = _two_sellers(market)
    _limit(user, form, day_invoices=2)
    buyer = market.buyer()
    deposits = [market.deposit(buyer, "tbank", 1_000_00) for _n in range(3)]
    statuses = matching_batch.match_waiting(deposits[0].id)
    assert set(statuses.values()) == {"awaiting_payment"}
    assert [_form_of(d.id) for d in deposits] == [form.id, form.id, spare_form.id]


def test_bad_limits_are_refused_by_the_service_and_by_the_database(market, database):
    """Bad limits are refused with a reason and write nothing; the database's CHECKs refuse them too."""
    from app.errors import ValidationFailed

    user, form, _ = market.seller("checks@example.com", "tbank")
    bad = [{"day_kopecks": -1}, {"day_invoices": -1}, {"gap_minutes": 1441}, {"hours_start": 600},
           {"hours_start": 600, "hours_end": 600}, {"hours_start": 600, "hours_end": 1440}, {"zone": "Mars/Base"}]
    for values in bad:
        with pytest.raises(ValidationFailed):
            _limit(user, form, **values)
        db.session.rollback()
    db.session.expire_all()
    assert form_limits.limits_of(db.session.get(type(form), form.id)) is None
    for column, value in [("limit_day_invoices", -1), ("limit_gap_minutes", 2000), ("hours_start_minute", 1440),
                          ("hours_start_minute", 60)]:
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.update(type(form)).where(type(form).id == form.id).values({column: value}))
            db.session.flush()
        db.session.rollback()


BUYERS = 20


@pytest.mark.parametrize("path", PATHS)
def test_twenty_buyers_at_once_never_get_a_fourth_invoice(market_app, market, database, path):
    """20 concurrent buyers against a form limited to 3 invoices a day (several requests on that one form, so
    the request locks alone would not stop a 4th) and an unlimited seller behind it: exactly 3 invoices on
    the limited form, every other deposit with the next seller, nothing over-held."""
    if database.kind != "postgresql":
        pytest.skip("concurrency is a PostgreSQL property; SQLite serialises writers by design")
    user, form, _ = market.seller("limited@example.com", "tbank", dollars=500_00, max_open=50)
    # two more requests of the same seller on the same form
    from app.market import withdrawals

    market.fund(user, 600_00)
    for _n in range(2):
        withdrawals.create(user, payment_form_id=form.id, amount=300_00, min_invoice_kopecks=100_00,
                           max_invoice_kopecks=10_000_00, max_open_invoices=50, request_key=uuid.uuid4().hex)
    db.session.commit()
    _, spare_form, _ = market.seller("spare@example.com", "tbank", dollars=1_000_00, max_open=50)
    _limit(user, form, day_invoices=3)
    buyer_ids = [gen_user(f"b{i}@example.com").id for i in range(BUYERS)]
    db.session.commit()
    deposit_ids, errors = [], []
    barrier = threading.Barrier(BUYERS)

    def buy(buyer_id):
        with market_app.app_context(), market_app.test_request_context():
            try:
                buyer = db.session.get(User, buyer_id)
                deposit = matching.create_deposit(buyer, quotes.quote("tbank", 1_000_00, current_settings()),
                                                  uuid.uuid4().hex)
                deposit_id = deposit.id  # before the commit: reading it after would hold a connection
                db.session.commit()
                deposit_ids.append(deposit_id)
                barrier.wait(timeout=30)
                if path == "match":
                    matching.match(deposit_id)
                else:  # another thread's batch may have taken this deposit: then it reports nothing of it
                    matching_batch.match_waiting(deposit_id)
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=buy, args=(b,)) for b in buyer_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    # a batch may leave deposits it could not place waiting for their own job: run those jobs now
    for deposit_id in deposit_ids:
        if matching.still_waiting(deposit_id):
            matching.match(deposit_id)
    db.session.expire_all()
    deposits = db.session.scalars(sa.select(Deposit).where(Deposit.id.in_(deposit_ids))).all()
    assert len(deposits) == BUYERS
    assert {d.status for d in deposits} == {"awaiting_payment"}
    on_limited = [d for d in deposits if d.payment_form_id == form.id]
    assert len(on_limited) == 3
    assert {d.payment_form_id for d in deposits} == {form.id, spare_form.id}
    report = ledger.verify_ledger()
    assert report.ok, report.violations
