"""Parse the room's exported transfer history (CSV) into :class:`RoomTransfer` rows.

Ops upload this file when the room offers no API.  The file is accepted or
rejected *whole*: a partly imported statement would leave ops guessing which
rows made it, so every bad line is collected and reported together, numbered
as a person counts lines in an editor (the header is line 1).

Amounts are dollar strings ("12.50", "1 000,50") turned into integer cents by
string arithmetic only -- never float -- and anything ambiguous is an error.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from .base import MAX_TRANSFER_CENTS, RoomTransfer

#: logical field -> column header in the file (matched case-insensitively)
DEFAULT_COLUMNS: Mapping[str, str] = {
    "id": "id",
    "direction": "direction",
    "counterparty": "counterparty",
    "amount": "amount",
    "occurred_at": "occurred_at",
    "note": "note",
}
_OPTIONAL = frozenset({"note"})
_DIRECTIONS = {"in": "in", "incoming": "in", "out": "out", "outgoing": "out"}
_DELIMITERS = (";", ",", "\t")

# Whole dollars, optionally grouped by spaces (incl. no-break and narrow no-break) in threes,
# then an optional decimal part after "." or ",".  ASCII digits only: \d would accept "١٢".
_AMOUNT = re.compile(r"(?P<whole>[0-9]+|[0-9]{1,3}(?:[ \u00a0\u202f][0-9]{3})+)(?:[.,](?P<frac>[0-9]+))?")
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}")
_MAX_FIELD = 256


class StatementError(ValueError):
    """The statement was rejected; ``errors`` lists ``(line_number, reason)`` for every problem."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        self.errors = errors
        shown = "; ".join(f"line {line}: {reason}" for line, reason in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"statement rejected: {shown}{more}")


def parse_statement(
    data: bytes | str,
    columns: Mapping[str, str] | None = None,
    max_amount: int = MAX_TRANSFER_CENTS,
) -> list[RoomTransfer]:
    """All transfers in the file, in file order, repeats of identical rows removed.

    ``columns`` overrides some or all of :data:`DEFAULT_COLUMNS`.  Raises
    :class:`StatementError` listing every bad line when anything is wrong.
    """
    mapping = {**DEFAULT_COLUMNS, **(columns or {})}
    text = _decode(data)
    if not text.strip():
        raise StatementError([(1, "the file is empty")])
    delimiter = _sniff_delimiter(text.split("\n", 1)[0], mapping)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
        index = _column_index(header, mapping)
        return _parse_rows(reader, index, len(header), max_amount)
    except csv.Error as exc:
        raise StatementError([(reader.line_num, f"broken CSV: {exc}")]) from None


def parse_amount(text: str, max_amount: int = MAX_TRANSFER_CENTS) -> int:
    """Dollars as written in a statement -> cents; ValueError with a reason a person understands."""
    value = text.strip()
    if not value:
        raise ValueError("amount is empty")
    if len(value) > 32:
        raise ValueError("amount is too long")
    if value[0] in "-\u2212(":
        raise ValueError("amount must not be negative")
    match = _AMOUNT.fullmatch(value)
    if not match:
        raise ValueError(f"amount {value!r} is not a number like 12.50 or 1 000,50")
    frac = match["frac"] or ""
    if len(frac) > 2:
        raise ValueError(f"amount {value!r} has more than 2 decimal places")
    whole = re.sub(r"[^0-9]", "", match["whole"])
    cents = int(whole) * 100 + int(frac.ljust(2, "0"))
    if cents <= 0:
        raise ValueError("amount must be greater than zero")
    if cents > max_amount:
        raise ValueError(f"amount {value!r} is larger than the allowed maximum")
    return cents


def parse_timestamp(text: str) -> datetime:
    """ISO 8601 date and time -> aware UTC datetime; a time without offset is UTC."""
    value = text.strip()
    if not _DATE_TIME.match(value):
        raise ValueError(f"occurred_at {value!r} is not an ISO 8601 date and time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"occurred_at {value!r} is not a valid date and time") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise StatementError([(line, f"the file is not {encoding.upper()} text")]) from None


def _sniff_delimiter(header_line: str, mapping: Mapping[str, str]) -> str:
    """The delimiter that splits the header into the most expected column names."""
    wanted = {name.strip().lower() for name in mapping.values()}

    def hits(delimiter: str) -> int:
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
        return sum(cell.strip().lower() in wanted for cell in cells)

    return max(_DELIMITERS, key=hits)  # ties keep the first: ";" then ","


def _column_index(header: list[str], mapping: Mapping[str, str]) -> dict[str, int]:
    names = [cell.strip().lower() for cell in header]
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        raise StatementError([(1, f"column(s) appear more than once: {', '.join(repeated)}")])
    index: dict[str, int] = {}
    missing = []
    for field, column in mapping.items():
        wanted = column.strip().lower()
        if wanted in names:
            index[field] = names.index(wanted)
        elif field not in _OPTIONAL:
            missing.append(column)
    if missing:
        found = ", ".join(cell.strip() for cell in header) or "nothing"
        raise StatementError([(1, f"missing column(s): {', '.join(missing)} (found: {found})")])
    return index


def _parse_rows(reader, index: dict[str, int], width: int, max_amount: int) -> list[RoomTransfer]:
    errors: list[tuple[int, str]] = []
    kept: dict[str, tuple[int, RoomTransfer]] = {}
    line = reader.line_num
    for cells in reader:
        first_line, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # blank lines (often trailing) carry nothing
        if len(cells) != width:
            errors.append((first_line, f"expected {width} fields, found {len(cells)}"))
            continue
        try:
            transfer = _parse_row(cells, index, max_amount)
        except ValueError as exc:
            errors.append((first_line, str(exc)))
            continue
        earlier = kept.setdefault(transfer.room_transfer_id, (first_line, transfer))
        if earlier[1] != transfer:
            errors.append((first_line, f"id {transfer.room_transfer_id!r} already on line {earlier[0]} "
                                       "with different content"))
    if errors:
        raise StatementError(errors)
    return [transfer for _, transfer in kept.values()]


def _parse_row(cells: list[str], index: dict[str, int], max_amount: int) -> RoomTransfer:
    """One data row; a ValueError carries every problem of the row, joined."""
    value = {field: cells[i].strip() for field, i in index.items()}
    problems = []
    for field in ("id", "counterparty", "note"):
        if len(value.get(field, "")) > _MAX_FIELD:
            problems.append(f"{field} is longer than {_MAX_FIELD} characters")
    if not value["id"]:
        problems.append("id is empty")
    if not value["counterparty"]:
        problems.append("counterparty is empty")
    direction = _DIRECTIONS.get(value["direction"].lower())
    if direction is None:
        problems.append(f"direction {value['direction']!r} is not in/out")
    amount = occurred_at = None
    try:
        amount = parse_amount(value["amount"], max_amount)
    except ValueError as exc:
        problems.append(str(exc))
    try:
        occurred_at = parse_timestamp(value["occurred_at"])
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))
    return RoomTransfer(
        room_transfer_id=value["id"],
        direction=direction,
        counterparty=value["counterparty"],
        amount=amount,
        occurred_at=occurred_at,
        note=value.get("note") or None,
    )
