"""Exact kopeck ↔ ruble-text conversion (no float anywhere)."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.connectors.payments.amounts import format_rubles, parse_rubles


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
