"""Parsing the room's exported transfer history (CSV)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.connectors.room import RoomTransfer, StatementError, parse_amount, parse_statement

HEADER = "id,direction,counterparty,amount,occurred_at,note\n"


def _errors(data, **kwargs) -> list[tuple[int, str]]:
    with pytest.raises(StatementError) as caught:
        parse_statement(data, **kwargs)
    return caught.value.errors


def test_good_file():
    """Does a well-formed statement become RoomTransfers with exact cents and UTC times?"""
    rows = parse_statement(HEADER
                           + "rt-1,in,seller@example.com,12.50,2024-05-01T10:00:00Z,first\n"
                           + "rt-2,outgoing,buyer,\"1 000,05\",2024-05-01 13:30:00+03:00,\n")
    assert rows == [
        RoomTransfer("rt-1", "in", "seller@example.com", 1250,
                     datetime(2024, 5, 1, 10, tzinfo=UTC), "first"),
        RoomTransfer("rt-2", "out", "buyer", 100_005,
                     datetime(2024, 5, 1, 10, 30, tzinfo=UTC), None),
    ]


def test_naive_time_is_utc_and_bytes_are_accepted():
    """Is a time without an offset read as UTC, and are bytes accepted as well as text?"""
    (row,) = parse_statement((HEADER + "a,incoming,x,1,2024-05-01T10:00:00,\n").encode())
    assert row.occurred_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert row.direction == "in"


@pytest.mark.parametrize("amount, reason", [
    ("", "empty"), ("-5.00", "negative"), ("0.00", "greater than zero"), ("1.234", "more than 2 decimal"),
    ("1e3", "not a number"), ("NaN", "not a number"), ("inf", "not a number"), ("12.", "not a number"),
    ("1,000.50", "not a number"), ("$5", "not a number"), ("99999999999", "maximum"),
    ("1" * 40, "too long"), ("١٢", "not a number"), ("10 00", "not a number"),
])
def test_bad_amounts(amount, reason):
    """Is each malformed amount rejected with a reason that names the problem?"""
    ((line, message),) = _errors(HEADER + f'a,in,x,"{amount}",2024-05-01T10:00:00Z,\n')
    assert line == 2 and reason in message


@pytest.mark.parametrize("text, cents", [
    ("12.50", 1250), ("12,5", 1250), ("12", 1200), (" 7.05 ", 705), ("1 000,50", 100_050),
    ("1\u00a0234\u00a0567.89", 123_456_789), ("0.01", 1),
])
def test_good_amounts(text, cents):
    """Are the accepted spellings of an amount converted to the exact number of cents?"""
    assert parse_amount(text) == cents


@given(st.integers(min_value=1, max_value=1_000_000_000))
def test_amount_round_trips_exactly(cents):
    """Does every cent amount written as dollars (plain or grouped) parse back to itself?"""
    whole, frac = divmod(cents, 100)
    assert parse_amount(f"{whole}.{frac:02d}") == cents
    assert parse_amount(f"{whole:,},{frac:02d}".replace(",", " ", f"{whole:,}".count(","))) == cents


@pytest.mark.parametrize("when", ["yesterday", "2024-05-01", "2024-13-01T10:00:00", "01.05.2024 10:00", ""])
def test_bad_dates(when):
    """Is anything but an ISO 8601 date and time rejected?"""
    ((line, message),) = _errors(HEADER + f"a,in,x,1.00,{when},\n")
    assert line == 2 and "occurred_at" in message


def test_bad_direction_and_empty_fields():
    """Are an unknown direction, an empty id and an empty counterparty all reported for the row?"""
    ((line, message),) = _errors(HEADER + ",sideways,,1.00,2024-05-01T10:00:00Z,\n")
    assert line == 2
    assert "id is empty" in message and "counterparty is empty" in message and "direction" in message


def test_missing_column():
    """Is a file without a required column rejected on the header line, naming the column?"""
    assert _errors("id,direction,counterparty,occurred_at\n") == [
        (1, "missing column(s): amount (found: id, direction, counterparty, occurred_at)")]


def test_note_column_is_optional_and_columns_are_configurable():
    """Can a file with other headers be mapped, and does it work without a note column?"""
    text = "ID;Type;Player;Sum;Date\nx1;IN;Bob;3,00;2024-05-01T10:00:00Z\n"
    columns = {"id": "ID", "direction": "Type", "counterparty": "Player", "amount": "Sum", "occurred_at": "Date"}
    (row,) = parse_statement(text, columns=columns)
    assert (row.room_transfer_id, row.direction, row.amount, row.note) == ("x1", "in", 300, None)


def test_duplicate_identical_rows_are_merged():
    """Are identical repeated rows kept once?"""
    line = "rt-1,in,x,1.00,2024-05-01T10:00:00Z,n\n"
    assert len(parse_statement(HEADER + line + line + line)) == 1


def test_duplicate_id_with_different_content_is_an_error():
    """Is one id with two different contents an error pointing at both lines?"""
    errors = _errors(HEADER + "rt-1,in,x,1.00,2024-05-01T10:00:00Z,\n" + "rt-1,in,x,2.00,2024-05-01T10:00:00Z,\n")
    assert errors == [(3, "id 'rt-1' already on line 2 with different content")]


def test_semicolon_delimiter():
    """Is a ';'-separated export (decimal commas unquoted) read correctly?"""
    text = HEADER.replace(",", ";") + "rt-1;in;x;12,50;2024-05-01T10:00:00Z;a, b\n"
    (row,) = parse_statement(text)
    assert (row.amount, row.note) == (1250, "a, b")


def test_bom_and_crlf():
    """Is a UTF-8 file with a BOM and Windows line ends read, header included?"""
    data = ("\ufeff" + HEADER + "rt-1,in,игрок,1.00,2024-05-01T10:00:00Z,привет\n").replace("\n", "\r\n")
    (row,) = parse_statement(data.encode("utf-8"))
    assert (row.room_transfer_id, row.counterparty, row.note) == ("rt-1", "игрок", "привет")


def test_utf16_excel_export():
    """Is a UTF-16 tab-separated export (Excel's "Unicode text") read?"""
    data = (HEADER + "rt-1,in,x,1.00,2024-05-01T10:00:00Z,\n").replace(",", "\t").encode("utf-16")
    assert parse_statement(data)[0].amount == 100


def test_not_utf8_points_at_the_line():
    """Does a file in a legacy encoding name the line with the first undecodable byte?"""
    data = (HEADER + "a,in,x,1.00,2024-05-01T10:00:00Z,\nb,in,игрок,1.00,2024-05-01T10:00:00Z,\n").encode("cp1251")
    assert _errors(data) == [(3, "the file is not UTF-8-SIG text")]


@pytest.mark.parametrize("data", ["", "   \n\n", b"", b"\xef\xbb\xbf"])
def test_empty_file(data):
    """Is an empty file rejected with a clear reason?"""
    assert _errors(data) == [(1, "the file is empty")]


def test_header_only_is_an_empty_statement():
    """Is a header without rows a valid statement with no transfers?"""
    assert parse_statement(HEADER) == []


def test_every_bad_line_is_listed_and_nothing_is_returned():
    """Does one rejection list every bad line with the number a person sees, skipping blank lines and good rows?"""
    text = (HEADER
            + "ok-1,in,x,1.00,2024-05-01T10:00:00Z,\n"        # 2 good
            + "b-1,in,x,1.001,2024-05-01T10:00:00Z,\n"        # 3 bad amount
            + "\n"                                           # 4 blank
            + 'ok-2,in,x,1.00,2024-05-01T10:00:00Z,"two\nlines"\n'  # 5-6 good, quoted newline
            + "b-2,in,x,1.00,never,\n"                        # 7 bad date
            + "b-3,in,x\n"                                    # 8 too few fields
            + "b-4,up,x,1.00,2024-05-01T10:00:00Z,\n")        # 9 bad direction
    errors = _errors(text)
    assert [line for line, _ in errors] == [3, 7, 8, 9]
    assert "expected 6 fields, found 3" in errors[2][1]


def test_duplicate_header_is_rejected():
    """Is a header with the same column twice rejected instead of silently using one?"""
    assert _errors("id,id,direction,counterparty,amount,occurred_at\n")[0][0] == 1


def test_broken_quoting_is_reported():
    """Is broken CSV quoting rejected with a line number rather than crashing?"""
    ((line, message),) = _errors(HEADER + 'a,in,x,"1.00"oops,2024-05-01T10:00:00Z,\n')
    assert line == 2 and "broken CSV" in message
