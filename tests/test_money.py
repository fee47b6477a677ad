"""Parsing what people type as money, and formatting minor units in Russian and English."""
from decimal import Decimal

import pytest
from flask import render_template_string
from hypothesis import given
from hypothesis import strategies as st

from app import money
from app.money import AmountError, format_number, format_rub, format_usd, parse_amount

NNBSP = "\u202f"
NBSP = "\u00a0"


@pytest.mark.parametrize("text, minor", [
    ("12.34", 1234),
    ("12,34", 1234),
    ("1 000,50", 100050),
    (f"1{NBSP}000,50", 100050),
    (f"1{NNBSP}000.5", 100050),
    ("1 234 567", 123456700),
    ("12", 1200),
    ("12.3", 1230),
    ("0.01", 1),
    ("007", 700),
    ("  12.34\t", 1234),
    ("1000000", 100000000),
])
def test_parse_accepts_plain_amounts(text, minor):
    """Are the usual ways of writing an amount read as the right number of minor units?"""
    value = parse_amount(text)
    assert value == minor and type(value) is int


@pytest.mark.parametrize("text", [
    "1.234",          # three decimals
    "12,345",         # three decimals (or an English thousands separator: ambiguous either way)
    "1,000.50",       # two kinds of separator
    "-1", "+1", "−1",  # signs
    "1e3", "1E3",     # exponents
    "NaN", "nan", "inf", "Infinity",
    "", " ", "\t", NBSP,
    "١٢", "１２", "१२",  # digits from other scripts
    "12.", ".5", ",5", "12.3.4", "12..3",
    "10 00", "1 0000", "1  000",  # broken thousands groups
    "1_000", "0x10", "12 $", "$12", "12abc",
    "0", "0.00", "0,0",  # not positive
    "1" * 40,         # absurdly long
    "1000000000.01",  # above the default bound
])
def test_parse_refuses_anything_else(text):
    """Are signs, exponents, NaN, empty input, extra decimals, foreign digits and huge values refused?"""
    with pytest.raises(AmountError):
        parse_amount(text)


def test_parse_refuses_non_strings():
    """Is a float or None (not typed text) refused rather than converted?"""
    for value in (12.34, None, 12):
        with pytest.raises(AmountError):
            parse_amount(value)


def test_parse_honours_the_callers_bound():
    """Does max_minor cap what is accepted?"""
    assert parse_amount("50", max_minor=5_000) == 5_000
    with pytest.raises(AmountError):
        parse_amount("50.01", max_minor=5_000)


def test_amount_error_is_a_value_error_with_a_readable_message(app):
    """Can a form show the error as a plain sentence (in both languages' requests)?"""
    assert issubclass(AmountError, ValueError)
    with app.test_request_context("/?lang=en"):
        with pytest.raises(AmountError) as caught:
            parse_amount("1.234")
        assert "two" in str(caught.value)


@pytest.mark.parametrize("cents, ru, en", [
    (100050, f"1{NNBSP}000,50{NBSP}$", "$1,000.50"),
    (0, f"0,00{NBSP}$", "$0.00"),
    (5, f"0,05{NBSP}$", "$0.05"),
    (99, f"0,99{NBSP}$", "$0.99"),
    (123456789012, f"1{NNBSP}234{NNBSP}567{NNBSP}890,12{NBSP}$", "$1,234,567,890.12"),
    (-100, f"−1,00{NBSP}$", "−$1.00"),
])
def test_format_usd_in_both_languages(cents, ru, en):
    """Is a dollar amount written the Russian way and the English way?"""
    assert format_usd(cents, "ru") == ru
    assert format_usd(cents, "en") == en


def test_format_rub_in_both_languages():
    """Is a ruble amount written with ₽ after (Russian) or before (English) the number?"""
    assert format_rub(100050, "ru") == f"1{NNBSP}000,50{NBSP}₽"
    assert format_rub(100050, "en") == "₽1,000.50"
    assert format_rub(100050, "ru_RU") == format_rub(100050, "ru")


@pytest.mark.parametrize("value", [1.5, Decimal("1.50"), "150", True])
def test_format_refuses_anything_but_int(value):
    """Is money that is not an int of minor units a programming error (no silent rounding)?"""
    with pytest.raises(TypeError):
        format_usd(value, "en")


@given(st.integers(min_value=1, max_value=money.DEFAULT_MAX_MINOR))
def test_what_we_print_in_russian_we_read_back(minor):
    """Does every amount formatted the Russian way parse back to the same minor units?"""
    assert parse_amount(format_number(minor, "ru")) == minor


@given(st.integers(min_value=1, max_value=99_999))
def test_english_amounts_below_a_thousand_read_back(minor):
    """Does an English-formatted amount without a thousands comma parse back exactly?"""
    assert parse_amount(format_number(minor, "en")) == minor


def test_jinja_filters_follow_the_current_language(app):
    """Do the usd and rub filters format in the request's language?"""
    money.init_app(app)
    template = "{{ 100050|usd }} / {{ 250|rub }}"
    with app.test_request_context("/?lang=en"):
        assert render_template_string(template) == "$1,000.50 / ₽2.50"
    with app.test_request_context("/"):
        assert render_template_string(template) == f"1{NNBSP}000,50{NBSP}$ / 2,50{NBSP}₽"
