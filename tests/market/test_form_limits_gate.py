"""The Gate a reserving transaction asks about forms' limits: the rule's answers, fewer statements.

A batch asks the Gate for every deposit and candidate it pairs, so the Gate
works out once per form whatever does not depend on the amount, and locks and
reads all the forms a batch's candidates bring in two statements.  Here: its
answers are :func:`form_limits.verdict`'s for every amount, before and after it
counts invoices of its own; the forms are locked and read in one statement
each, and a form another transaction holds is busy while the others are open.
"""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from app.database import utcnow
from app.extensions import db
from app.market import form_limits, matching, payment_forms
from app.models.payment_form import PaymentForm

AMOUNTS = (1, 500_00, 999_99, 1_000_00, 1_000_01, 2_500_00, 10_000_00)


def _limit(user, form, **values) -> None:
    settings = {"day_kopecks": None, "day_invoices": None, "gap_minutes": None, "hours_start": None,
                "hours_end": None, "zone": "Europe/Moscow", **values}
    payment_forms.set_limits(user, form.id, **settings)
    db.session.commit()


def _row(form_id: int):
    """A candidate row of the form, as the matchers' statements select it."""
    db.session.expire_all()
    form = db.session.get(PaymentForm, form_id)
    return SimpleNamespace(payment_form_id=form.id, **{name: getattr(form, name) for name in form_limits.COLUMNS})


def _rule(form_id: int, amount: int, at, extra: form_limits.Usage | None = None) -> str:
    row = _row(form_id)
    limits = form_limits.limits_of(row)
    usage = extra or form_limits.usage_today(form_id, limits, at)
    return form_limits.verdict(limits, usage, amount, at)


@pytest.mark.parametrize("limits", [
    {"day_kopecks": 2_500_00},
    {"day_invoices": 2},
    {"day_kopecks": 2_000_00, "day_invoices": 3, "gap_minutes": 30},
    {"day_kopecks": 2_000_00, "hours_start": 0, "hours_end": 1},  # closed nearly all day
], ids=["rubles", "invoices", "rubles+invoices+gap", "rubles+hours"])
def test_the_gate_answers_as_the_rule_does(market, limits):
    """For every amount, with the form's own invoices of today and with those the gate counts on top."""
    user, form, _ = market.seller("limited@example.com", "tbank", dollars=500_00, max_open=20)
    _limit(user, form, **limits)
    buyer = market.buyer()
    first = market.deposit(buyer, "tbank", 1_000_00)
    matching.match(first.id)  # an invoice of today, if the limits let the form take it
    at = utcnow()
    gate = form_limits.Gate(at)
    row = _row(form.id)
    for amount in AMOUNTS:
        assert gate.admits(row, amount) == _rule(form.id, amount, at), amount
    # the gate's own invoices: as if the database held them too
    usage = form_limits.usage_today(form.id, form_limits.limits_of(row), at)
    for taken in (1_000_00, 500_00):
        gate.take(row, taken)
        usage = usage.plus(taken, at)
        for amount in AMOUNTS:
            assert gate.admits(row, amount) == _rule(form.id, amount, at, usage), (taken, amount)
    db.session.rollback()


def test_several_forms_use_in_one_statement_as_each_alone(market):
    """Two forms in zones whose days start 10 hours apart, one with a gap that reaches into the day before."""
    (u1, f1, _), (u2, f2, _) = (market.seller("a@example.com", "tbank", dollars=500_00, max_open=20),
                                market.seller("b@example.com", "tbank", dollars=500_00, max_open=20))
    _limit(u1, f1, day_invoices=100, zone="Asia/Vladivostok")
    _limit(u2, f2, day_kopecks=100_000_00, gap_minutes=1, zone="America/New_York")
    buyer = market.buyer()
    for _n in range(3):
        matching.match(market.deposit(buyer, "tbank", 1_000_00).id)
    at = utcnow() + timedelta(minutes=2)  # past the gap, so neither form is closed by it
    limits = {f.id: form_limits.limits_of(_row(f.id)) for f in (f1, f2)}
    together = form_limits.usages_today(limits, at)
    assert together == {form_id: form_limits.usage_today(form_id, lim, at) for form_id, lim in limits.items()}
    assert sum(u.invoices for u in together.values()) == 3


def _count_statements():
    counted = []

    def count(conn, cursor, statement, parameters, context, executemany):
        counted.append(statement)

    return counted, count


def test_a_batch_locks_its_forms_together_and_passes_over_one_another_holds(market, database):
    """Three limited forms: two statements (the locks, the use) for all of them; the one another transaction
    has locked is busy, the others open; an unlimited form costs nothing."""
    if database.kind != "postgresql":
        pytest.skip("row locks are a PostgreSQL matter; SQLite serialises writers by design")
    sellers = [market.seller(f"s{i}@example.com", "tbank", dollars=500_00, max_open=20) for i in range(4)]
    for user, form, _ in sellers[:3]:
        _limit(user, form, day_invoices=10)
    rows = [_row(form.id) for _u, form, _r in sellers]
    db.session.commit()
    held = sellers[1][1].id
    other = db.engine.connect()
    try:
        other.begin()
        other.execute(sa.text("SELECT id FROM payment_form WHERE id = :id FOR UPDATE"), {"id": held})
        counted, count = _count_statements()
        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            gate = form_limits.Gate(utcnow())
            gate.prepare(rows)
            answers = [gate.admits(row, 1_000_00) for row in rows]
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
        assert len(counted) == 2, counted
        assert answers == [form_limits.OPEN, form_limits.BUSY, form_limits.OPEN, form_limits.OPEN]
        # and the open ones are this transaction's now: another transaction skips them
        locked = other.execute(sa.text("SELECT id FROM payment_form WHERE id = ANY(:ids) FOR UPDATE SKIP LOCKED"),
                               {"ids": [row.payment_form_id for row in rows]}).scalars().all()
        assert sorted(locked) == sorted([held, rows[3].payment_form_id])
    finally:
        other.rollback()
        other.close()
        db.session.rollback()
