"""StateMachine.transition: the compare-and-set every status change goes through (here on deposits).

It builds each UPDATE once per shape and, on PostgreSQL, sends the ones whose
columns take plain values on the driver's cursor; these pin what must not
change with that: the extra ``only_if`` conditions, expression values, and a
naive datetime refused as ``UTCDateTime`` refuses it.
"""
from datetime import datetime

import pytest
import sqlalchemy as sa

from app.database import utcnow
from app.extensions import db
from app.models.market import Deposit
from app.states import DEPOSIT, IllegalTransition


def _status(deposit_id: int) -> tuple[str, str | None]:
    row = db.session.execute(sa.select(Deposit.status, Deposit.reason).where(Deposit.id == deposit_id)).one()
    return row.status, row.reason


@pytest.fixture
def matching_deposit(market):
    market.seller("seller@example.com", "tbank", dollars=500_00)
    return market.deposit(market.buyer("buyer@example.com"), "tbank", 500_00)


def test_only_if_must_hold_too_and_the_loaded_object_follows(market, matching_deposit):
    """Does a transition whose only_if no longer holds change nothing and say so, and the one that holds move the
    row and refresh the object already loaded in the session?"""
    d = matching_deposit
    assert not DEPOSIT.transition(Deposit, d.id, "failed", expect="matching", only_if={"match_attempts": 7},
                                  reason="stale attempt")
    assert _status(d.id) == ("matching", None)
    assert DEPOSIT.transition(Deposit, d.id, "failed", expect="matching", only_if={"match_attempts": 0},
                              reason="no seller")
    assert d.status == "failed" and d.reason == "no seller"  # the loaded object was expired and reloaded
    # the second time the row is no longer in an allowed source state: False, nothing written
    assert not DEPOSIT.transition(Deposit, d.id, "failed", expect="matching", reason="again")
    assert _status(d.id) == ("failed", "no seller")


def test_the_same_shape_with_other_values_reuses_nothing_stale(market):
    """Are a cached statement's values those of each call (two deposits, the same shape, different reasons)?"""
    market.seller("seller@example.com", "tbank", dollars=900_00)
    buyer = market.buyer("buyer@example.com")
    first, second = (market.deposit(buyer, "tbank", 300_00) for _ in range(2))
    assert DEPOSIT.transition(Deposit, first.id, "failed", expect="matching", reason="first")
    assert DEPOSIT.transition(Deposit, second.id, "failed", expect="matching", reason="second")
    assert _status(first.id) == ("failed", "first") and _status(second.id) == ("failed", "second")


def test_an_expression_value_is_computed_by_the_database(market, matching_deposit):
    """Does a value given as an SQL expression (not a plain value) still work, in a statement of its own?"""
    table = Deposit.__table__
    assert DEPOSIT.transition(Deposit, matching_deposit.id, "failed", expect="matching",
                              match_attempts=table.c.match_attempts + 2, reason="expr")
    assert db.session.scalar(sa.select(Deposit.match_attempts).where(Deposit.id == matching_deposit.id)) == 2


def test_bad_calls_are_refused_before_anything_is_written(market, matching_deposit):
    """A naive datetime, an only_if against NULL, and an edge the machine does not have: refused, row unchanged."""
    d = matching_deposit
    with pytest.raises((ValueError, sa.exc.StatementError)):
        DEPOSIT.transition(Deposit, d.id, "failed", expect="matching", settled_at=datetime(2026, 1, 1))  # noqa: DTZ001
    db.session.rollback()
    with pytest.raises(ValueError):
        DEPOSIT.transition(Deposit, d.id, "failed", expect="matching", only_if={"hold_transfer_id": None})
    with pytest.raises(IllegalTransition):
        DEPOSIT.transition(Deposit, d.id, "settled", expect="matching")
    assert _status(d.id) == ("matching", None)
    assert DEPOSIT.transition(Deposit, d.id, "failed", expect="matching", settled_at=utcnow())  # an aware one is fine


def test_transition_many_moves_only_the_rows_whose_conditions_hold(market):
    """transition_many: does each row get its own values, a row whose only_if or status no longer holds stay as it
    is (and not count as moved), an object already loaded follow its row, and bad calls change nothing?"""
    market.seller("seller@example.com", "tbank", dollars=900_00)
    buyer = market.buyer("buyer@example.com")
    first, second, third = (market.deposit(buyer, "tbank", 300_00) for _ in range(3))
    assert DEPOSIT.transition(Deposit, third.id, "failed", expect="matching", reason="gone")
    db.session.commit()
    rows = [{"id": d.id, "match_attempts": attempts, "reason": f"r{d.id}"}
            for d, attempts in ((first, 0), (second, 5), (third, 0))]
    with pytest.raises(IllegalTransition):
        DEPOSIT.transition_many(Deposit, "settled", rows, expect="matching", only_if=("match_attempts",))
    with pytest.raises((ValueError, sa.exc.StatementError)):
        DEPOSIT.transition_many(Deposit, "failed", [{"id": first.id, "settled_at": datetime(2026, 1, 1)}],  # noqa: DTZ001
                                expect="matching")
    db.session.rollback()
    moved = DEPOSIT.transition_many(Deposit, "failed", rows, expect="matching", only_if=("match_attempts",))
    assert moved == {first.id}  # second: its only_if misses; third: no longer matching
    assert first.status == "failed" and first.reason == f"r{first.id}"  # the loaded object was refreshed
    assert _status(second.id) == ("matching", None) and _status(third.id) == ("failed", "gone")
    assert DEPOSIT.transition_many(Deposit, "failed", [], expect="matching") == set()
    if db.engine.dialect.name == "postgresql":  # SQLite does not enforce a string's length at all
        with pytest.raises(sa.exc.DataError):  # too long for the column: refused, never cut
            DEPOSIT.transition_many(Deposit, "failed", [{"id": second.id, "provider_payment_id": "x" * 200}],
                                    expect="matching")
