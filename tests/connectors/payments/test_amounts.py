"""Exact kopeck ↔ ruble-text conversion (no float anywhere)."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.connectors.payments.amounts import covers, format_rubles, gross_of, parse_rubles, surplus


@given(st.integers(min_value=0, max_value=10**15))
def test_round_trip(kopecks):
    """Does every kopeck amount survive formatting as "R.KK" and parsing back?"""
    text = format_rubles(kopecks)
    assert parse_rubles(text) == kopecks
    assert parse_rubles(Decimal(text)) == kopecks


@pytest.mark.parametrize(("text", "kopecks"), [("100.00", 10000), ("0.5", 50), ("7", 700), ("0.01", 1)])
def test_accepted_forms(text, kopecks):
    """Are the forms providers actually send parsed to the right kopecks?"""
    assert parse_rubles(text) == kopecks


@pytest.mark.parametrize("bad", ["1.005", "-1", "1e3", "", " 1", "1.", "1,00", "NaN", Decimal("1.005"),
                                 Decimal("NaN"), Decimal("-1"), 1.5, True, None])
def test_rejected_forms(bad):
    """Is anything that is not an exact, non-negative amount with ≤2 decimals refused (floats too)?"""
    with pytest.raises(ValueError):
        parse_rubles(bad)


def test_json_numbers_with_trailing_zeros():
    """Is a JSON number like 98.000 (read as Decimal) still exact?"""
    assert parse_rubles(Decimal("98.000")) == 9800
    assert parse_rubles(Decimal("1E+2")) == 10000


def test_format_refuses_non_integers():
    """Does formatting refuse floats, booleans and negatives instead of rounding?"""
    for bad in (1.5, True, -1):
        with pytest.raises(ValueError):
            format_rubles(bad)


@given(st.integers(min_value=1, max_value=10**12), st.sampled_from(["AC", "PC"]),
       st.sampled_from(["up", "half"]))
def test_fee_rule_accepts_every_exact_payment(gross, payment_type, rounding):
    """However YooMoney rounds its fee to the kopeck, is an exact card or wallet payment read back (net) as
    paying the invoice in full, and never as an overpayment?"""
    bp = {"AC": 300, "PC": 100}[payment_type]
    fee = (gross * bp + 9_999) // 10_000 if rounding == "up" else (gross * bp + 5_000) // 10_000
    paid = gross_of("yoomoney", payment_type, gross - fee)
    assert covers("yoomoney", gross, paid) and surplus("yoomoney", gross, paid) == 0


@given(st.integers(min_value=200, max_value=10**12), st.sampled_from(["AC", "PC"]))
def test_fee_rule_refuses_a_payment_short_by_more_than_rounding(gross, payment_type):
    """A payer who sends 3 kopecks less than the invoice is never paid in full, even with the fee rounded down
    in their favour (the rounding allowance is at most 2 kopecks: one of the fee, one of the rule)."""
    bp = {"AC": 300, "PC": 100}[payment_type]
    sent = gross - 3
    assert not covers("yoomoney", gross, gross_of("yoomoney", payment_type, sent - sent * bp // 10_000))


def test_fee_rule_without_a_fee_is_exact():
    """For fee-free providers and unknown payment types, is the amount taken as is and the rule exact?"""
    assert gross_of("tbank", None, 12_345) == gross_of("yoomoney", "XX", 12_345) == 12_345
    assert covers("tbank", 100, 100) and not covers("tbank", 100, 99) and surplus("tbank", 100, 101) == 1
    assert not covers("yoomoney", 100, None) and surplus("yoomoney", 100, 101) == 0
