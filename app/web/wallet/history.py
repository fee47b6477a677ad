"""A user's money history in plain words: every ledger movement of their wallet and sale escrows.

Each business event is one entry: an ordinary transfer, or a two-phase hold
together with its resolution (the post or void row is never listed on its own,
so a purchase does not read as two credits).  The entry's *state* is where the
hold stands now — reserved, completed, released — and its *effect* is what the
event has done, in the end, to the money the user can spend: a hold on the
wallet takes the dollars out of "available" at once (``−``) and gives them back
if released; dollars on the way in count only once posted (``+``, of the amount
posted).  An entry with no effect is still listed (greyed out) so the story
reads whole: "cash-out released", "purchase on the way".

Pages are keyset-paginated on the transfer id (newest first, ``before=<id>``),
so the query is the same cost on page 1 and page 1000 and a new movement never
shifts the next page.  The CSV export walks the same keyset in batches and is
streamed.  The balance chart sums posted wallet movements per day in SQL.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_babel import lazy_gettext as _l

from app import ledger
from app.database import utcnow
from app.extensions import db
from app.ledger.models import LedgerAccount, LedgerTransfer, Phase, TransferKind
from app.web.labels import movement_label

PAGE_SIZE = 25
EXPORT_BATCH = 500

_K = TransferKind
_PURCHASE_KINDS = (_K.PURCHASE_HOLD, _K.PURCHASE)

#: the history filter: a plain category → which movements it covers (see :func:`_category_clause`)
CATEGORIES = {
    "deposit": _l("Deposits from the room"),
    "purchase": _l("Purchases"),
    "sale": _l("Sales"),
    "cashout": _l("Cash-outs"),
    "fee": _l("Commissions and fees"),
    "adjustment": _l("Adjustments"),
}

#: what a hold's own row shows, by its current status
_HOLD_STATE = {"pending": _l("reserved"), "posted": _l("completed"), "voided": _l("released"),
               "expired": _l("released")}


@dataclass(frozen=True)
class Entry:
    id: int
    at: datetime
    kind: str
    #: the movement in words, e.g. "Cash-out to the room"
    label: str
    #: where it stands: "reserved", "released", "completed", "" for an ordinary movement
    state: str
    #: the transfer's amount, cents, signed from the user's side (+ in, − out)
    amount: int
    #: what it changed in the user's available dollars, cents (0: nothing more)
    effect: int


@dataclass(frozen=True)
class HistoryPage:
    entries: list[Entry]
    #: the ``before`` cursor of the next page, None on the last page
    next_before: int | None


@dataclass(frozen=True)
class Filters:
    category: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def as_args(self) -> dict[str, str]:
        args = {}
        if self.category:
            args["kind"] = self.category
        if self.date_from:
            args["date_from"] = self.date_from.isoformat()
        if self.date_to:
            args["date_to"] = self.date_to.isoformat()
        return args


@dataclass(frozen=True)
class _Accounts:
    wallet_id: int
    ids: tuple[int, ...]


def _accounts_of(user_id: int) -> _Accounts:
    """The wallet (created on first use) and every account the user owns (their sale escrows)."""
    wallet = ledger.wallet_of(user_id)
    ids = tuple(db.session.scalars(sa.select(LedgerAccount.id).where(LedgerAccount.owner_id == user_id)))
    return _Accounts(wallet.id, ids or (wallet.id,))


def accounts_from(wallet_id: int, owned: list[ledger.OwnedAccount]) -> _Accounts:
    """The same, from accounts the caller has already read (``ledger.balances_of_owner``): no query."""
    return _Accounts(wallet_id, tuple(a.id for a in owned) or (wallet_id,))


def _category_clause(category: str, acc: _Accounts):
    t = LedgerTransfer
    from_escrow = sa.and_(t.debit_account_id.in_(acc.ids), t.debit_account_id != acc.wallet_id)
    if category == "deposit":
        return t.kind == _K.ROOM_DEPOSIT
    if category == "purchase":
        return sa.and_(t.kind.in_(_PURCHASE_KINDS), sa.not_(from_escrow))
    if category == "sale":
        return sa.or_(t.kind.in_([_K.ESCROW_FUND, _K.ESCROW_RELEASE, _K.SALE]),
                      sa.and_(t.kind.in_(_PURCHASE_KINDS), from_escrow))
    if category == "cashout":
        return t.kind.in_([_K.CASHOUT_HOLD, _K.CASHOUT])
    if category == "fee":
        return t.kind.in_([_K.COMMISSION, _K.BUYER_FEE])
    if category == "adjustment":
        return t.kind == _K.ADJUSTMENT
    raise ValueError(f"unknown history category {category!r}")


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


#: the resolution (post or void) of a hold, joined onto the hold's own row
_resolution = so.aliased(LedgerTransfer, name="resolution")


def _query(acc: _Accounts, filters: Filters):
    """One row per event: ordinary transfers and holds, each hold with the amount its post moved (or NULL)."""
    t = LedgerTransfer
    query = (
        sa.select(t, _resolution.amount)
        .outerjoin(_resolution, sa.and_(_resolution.pending_id == t.id,
                                        _resolution.phase == Phase.POST_PENDING.value))
        .where(sa.or_(t.debit_account_id.in_(acc.ids), t.credit_account_id.in_(acc.ids)),
               t.phase.in_([Phase.SINGLE.value, Phase.PENDING.value]))
    )
    if filters.category:
        query = query.where(_category_clause(filters.category, acc))
    if filters.date_from:
        query = query.where(t.created_at >= _start_of(filters.date_from))
    if filters.date_to:
        query = query.where(t.created_at < _start_of(filters.date_to + timedelta(days=1)))
    return query.order_by(t.id.desc())


def _entry(row: LedgerTransfer, posted: int | None, acc: _Accounts) -> Entry:
    """The event in words; ``posted`` is what the hold's post moved (None: not posted, or not a hold)."""
    wallet = acc.wallet_id
    debit_mine, credit_mine = row.debit_account_id in acc.ids, row.credit_account_id in acc.ids
    # between two of the user's own accounts (into or out of a sale) it is seen from the wallet
    outgoing = row.debit_account_id == wallet if debit_mine and credit_mine else debit_mine
    hold = row.phase == Phase.PENDING.value
    # a hold posted in part moved only that part (the rest was released)
    moved = posted if hold and posted is not None else row.amount
    amount = -moved if outgoing else moved
    if wallet not in (row.debit_account_id, row.credit_account_id):
        effect = 0  # a sale escrow's movement: the wallet did not change
    elif not hold:
        effect = amount
    elif row.status == "pending":
        effect = amount if outgoing else 0  # reserved now; dollars on the way count once posted
    elif row.status == "posted":
        effect = amount
    else:  # released (voided or expired): the held dollars went back, nothing changed in the end
        effect = 0
    state = str(_HOLD_STATE.get(row.status, row.status)) if hold else ""
    if row.kind in _PURCHASE_KINDS and outgoing and row.debit_account_id != wallet:
        label = str(_l("Sale to a buyer"))
    else:
        label = movement_label(row.kind)
    return Entry(id=row.id, at=row.created_at, kind=row.kind, label=label, state=state, amount=amount, effect=effect)


def page(user, filters: Filters = Filters(), before: int | None = None, size: int = PAGE_SIZE,  # noqa: B008
         accounts: _Accounts | None = None) -> HistoryPage:
    """One page of the user's history, newest first: two queries whatever the history's length (one when the
    caller passes the user's ``accounts``, see :func:`accounts_from`)."""
    acc = accounts or _accounts_of(user.id)
    query = _query(acc, filters)
    if before is not None:
        query = query.where(LedgerTransfer.id < before)
    rows = db.session.execute(query.limit(size + 1)).all()
    entries = [_entry(row, posted, acc) for row, posted in rows[:size]]
    return HistoryPage(entries=entries, next_before=entries[-1].id if len(rows) > size else None)


# --- CSV ------------------------------------------------------------------------------------

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    """A cell a spreadsheet will not run as a formula: text starting with = + - @ gets a leading quote."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text


def _dollars(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}{whole}.{rest:02d}"


CSV_HEADER = ("id", "time_utc", "kind", "description", "state", "amount_usd", "effect_on_available_usd")


def export_rows(user, filters: Filters = Filters()) -> Iterator[str]:  # noqa: B008
    """The whole filtered history as CSV text chunks, read in keyset batches (for a streamed response)."""
    acc = _accounts_of(user.id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_HEADER)
    yield flush()
    before = None
    while True:
        query = _query(acc, filters)
        if before is not None:
            query = query.where(LedgerTransfer.id < before)
        rows = db.session.execute(query.limit(EXPORT_BATCH)).all()
        for row, posted in rows:
            e = _entry(row, posted, acc)
            writer.writerow([csv_safe(c) for c in (
                e.id, e.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), e.kind, e.label, e.state,
                _dollars(e.amount), _dollars(e.effect))])
        if rows:
            yield flush()
        if len(rows) < EXPORT_BATCH:
            return
        before = rows[-1][0].id


# --- balance over time ----------------------------------------------------------------------

def _day(column):
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.func.date(sa.func.timezone("UTC", column))
    return sa.func.date(column)


def balance_by_day(user, days: int = 30, today: date | None = None,
                   wallet_id: int | None = None) -> list[tuple[date, int]]:
    """The wallet's posted balance at the end of each of the last ``days`` days (one query, and one more
    for the wallet unless the caller knows its ``wallet_id``).

    One grouped statement gives the sum before the window (the group whose day is NULL) and each day's
    movement inside it.
    """
    t = LedgerTransfer
    wallet_id = wallet_id or ledger.wallet_of(user.id).id
    today = today or utcnow().date()
    start = today - timedelta(days=days - 1)
    signed = sa.case((t.credit_account_id == wallet_id, t.amount), else_=-t.amount)
    posted = sa.and_(sa.or_(t.debit_account_id == wallet_id, t.credit_account_id == wallet_id),
                     t.phase.in_([Phase.SINGLE.value, Phase.POST_PENDING.value]))
    day = sa.case((t.created_at < _start_of(start), sa.null()), else_=_day(t.created_at))
    opening, per_day = 0, {}
    for d, total in db.session.execute(sa.select(day, sa.func.sum(signed)).where(posted).group_by(day)):
        if d is None:
            opening = int(total or 0)
        else:
            per_day[str(d)[:10]] = int(total)
    points, running = [], int(opening)
    for n in range(days):
        current = start + timedelta(days=n)
        running += per_day.get(current.isoformat(), 0)
        points.append((current, running))
    return points
