"""An API form's own limits: is this form open for an invoice of X rubles at time T, given today's use?

Sellers' bank accounts get restricted when they receive too many
person-to-person payments too fast, so a seller may limit each API form:
rubles per day, invoices per day, a minimum gap between two invoices, and
working hours.  "Day" and "hours" are the seller's own, in the IANA zone
they picked for the form: a day runs from one local midnight to the next (23
or 25 hours across a DST change), and hours are read off the local wall
clock, so a window of 22:00-06:00 crosses midnight and no DST change moves
it.

**What counts** (:func:`usage_today`): the form's invoices whose reservation
(``deposit.reserved_at``) falls in the local day and whose deposit is still
open or went through — ``matching`` with a reservation, ``awaiting_payment``,
``paid``, ``settled``, ``disputed``.  Those are the payments that reach, or may
still reach, the seller's account.  An invoice that expired, was cancelled or
rejected, or an attempt given up after a provider failure (it loses its form)
brought no money and does not count; one paid after expiring becomes ``paid``
and counts again.  The gap is measured from the last counted invoice, even
one of the day before.

**The lock.**  A limit is only a limit if the use it counts is read under a
lock that every competing reservation takes first.  Several withdrawal
requests can share one form, so the request rows matchers lock are not that
lock; the form's own row is (it exists as long as any request uses it).  A
matcher that is about to reserve on a form with limits locks the row
``FOR NO KEY UPDATE SKIP LOCKED`` (all the forms a batch's candidates bring
in one statement, in id order), reads the limits and today's use under it,
and keeps the lock until its reservation is committed: the next matcher sees
that reservation (READ COMMITTED gives each statement after the lock a fresh
snapshot).  ``SKIP LOCKED``: a form another matcher holds is skipped like a
locked request (*busy*, the buyer waits or goes to the next seller), so form
locks are never waited for and can never deadlock with the request and
ledger locks.  Forms without limits are not locked at all: nothing to protect,
and matching keeps its speed.  SQLite: the transaction is the only writer.

The rule itself (:func:`verdict`, :func:`next_allowed`) is pure; both matching
paths (``matching.reserve`` and ``matching_batch._assign``) ask a
:class:`Gate`, which holds the locks and the use of the forms one
transaction looked at.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import sqlalchemy as sa

from app.extensions import db
from app.models.market import COUNTED_FOR_FORM_LIMITS, Deposit
from app.models.payment_form import PaymentForm

#: the limit columns of ``payment_form``, in the order the matchers' statements select them
COLUMNS = ("limit_day_kopecks", "limit_day_invoices", "limit_gap_minutes", "hours_start_minute",
           "hours_end_minute", "limits_timezone")
#: deposit states whose invoice counts against its form's limits (see the module's docstring)
COUNTED_STATES = COUNTED_FOR_FORM_LIMITS
DEFAULT_ZONE = "Europe/Moscow"
#: the longest gap between invoices a seller may ask for (the CHECK's bound): a day
MAX_GAP_MINUTES = 1440

#: a verdict's reasons, in the order they are checked
OPEN, HOURS, DAY_INVOICES, DAY_KOPECKS, GAP = "open", "hours", "day_invoices", "day_kopecks", "gap"
#: every verdict (app.web.labels.FORM_LIMIT_STATE names each for the seller)
STATES = (OPEN, HOURS, DAY_INVOICES, DAY_KOPECKS, GAP)
#: a Gate's answer for a form another transaction holds
BUSY = "busy"

_f = PaymentForm.__table__
_d = Deposit.__table__


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """The IANA zones a seller may pick (the system's tz database, or the tzdata package)."""
    return frozenset(available_timezones())


def zone_of(name: str | None) -> ZoneInfo:
    """The zone by its IANA name; the default for a name this system does not know (never raises)."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


@dataclass(frozen=True)
class Limits:
    """One form's limits; None is "no limit" for each."""

    day_kopecks: int | None = None
    day_invoices: int | None = None
    gap_minutes: int | None = None
    #: working hours as (start, end) minutes of the local day, [start, end); end < start crosses midnight
    hours: tuple[int, int] | None = None
    zone: str = DEFAULT_ZONE

    @property
    def counts_use(self) -> bool:
        """Does a verdict need the form's use of the day?  Working hours alone do not."""
        return self.day_kopecks is not None or self.day_invoices is not None or bool(self.gap_minutes)

    @property
    def any(self) -> bool:
        return self.counts_use or self.hours is not None


def limits_of(row) -> Limits | None:
    """The limits of a form (an object or a row with :data:`COLUMNS`), or None when it has none: the fast path."""
    start, end = row.hours_start_minute, row.hours_end_minute
    if (start is None and row.limit_day_kopecks is None and row.limit_day_invoices is None
            and not row.limit_gap_minutes):
        return None  # every candidate of every batch passes here: no object made
    limits = Limits(day_kopecks=row.limit_day_kopecks, day_invoices=row.limit_day_invoices,
                    gap_minutes=row.limit_gap_minutes,
                    hours=(start, end) if start is not None and end is not None else None,
                    zone=row.limits_timezone or DEFAULT_ZONE)
    return limits if limits.any else None


@dataclass(frozen=True)
class Usage:
    """A form's use on one local day: invoices and rubles counted, and the last counted invoice's moment."""

    invoices: int = 0
    kopecks: int = 0
    last_at: datetime | None = None

    def plus(self, amount_kopecks: int, at: datetime) -> Usage:
        return replace(self, invoices=self.invoices + 1, kopecks=self.kopecks + amount_kopecks, last_at=at)


# --- the rule (pure) -----------------------------------------------------------------------------

def local_day(zone: str, at: datetime) -> tuple[datetime, datetime]:
    """The seller's calendar day holding ``at``: from local midnight to the next one, as aware datetimes.

    Built from the local date, not by adding 24 hours, so a DST day is 23 or 25 hours long.  Returned in UTC:
    Python subtracts and compares two datetimes of one zone by their wall clocks, which is wrong across a
    DST change."""
    tz = zone_of(zone)
    day = at.astimezone(tz).date()
    return (datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC),
            datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC))


def in_hours(limits: Limits, at: datetime) -> bool:
    """Is ``at`` inside the working hours, read off the seller's wall clock?"""
    if limits.hours is None:
        return True
    start, end = limits.hours
    local = at.astimezone(zone_of(limits.zone))
    minute = local.hour * 60 + local.minute
    return start <= minute < end if start < end else minute >= start or minute < end


def verdict(limits: Limits, usage: Usage, amount_kopecks: int, at: datetime) -> str:
    """:data:`OPEN`, or the first limit this invoice would break: hours, invoices, rubles, gap."""
    if not in_hours(limits, at):
        return HOURS
    if limits.day_invoices is not None and usage.invoices + 1 > limits.day_invoices:
        return DAY_INVOICES
    if limits.day_kopecks is not None and usage.kopecks + amount_kopecks > limits.day_kopecks:
        return DAY_KOPECKS
    if limits.gap_minutes and usage.last_at is not None and at < usage.last_at + timedelta(minutes=limits.gap_minutes):
        return GAP
    return OPEN


#: :func:`largest_invoice` of a form without a rubles-per-day limit
UNCAPPED = 2**62


def largest_invoice(limits: Limits, usage: Usage, at: datetime) -> int | None:
    """The largest invoice in kopecks the form takes now (:data:`UNCAPPED` without a rubles-per-day limit),
    or None when it takes none (outside its hours, its invoices of the day used up, inside its gap)."""
    if verdict(limits, usage, 0, at) != OPEN:
        return None
    if limits.day_kopecks is None:
        return UNCAPPED
    left = limits.day_kopecks - usage.kopecks
    return left if left > 0 else None


def _next_opening(limits: Limits, at: datetime) -> datetime:
    """The first moment at or after ``at`` inside the working hours."""
    if in_hours(limits, at):
        return at
    tz = zone_of(limits.zone)
    start = time(limits.hours[0] // 60, limits.hours[0] % 60)
    day = at.astimezone(tz).date()
    opening = datetime.combine(day, start, tzinfo=tz).astimezone(UTC)
    if opening < at:
        opening = datetime.combine(day + timedelta(days=1), start, tzinfo=tz).astimezone(UTC)
    return opening


def next_allowed(limits: Limits, usage: Usage, at: datetime) -> datetime:
    """The earliest moment at or after ``at`` when the form takes an invoice again, whatever its amount
    (``at`` itself when it does now).  A used-up day waits for the next local midnight."""
    moment = at
    day_used_up = ((limits.day_invoices is not None and usage.invoices >= limits.day_invoices)
                   or (limits.day_kopecks is not None and usage.kopecks >= limits.day_kopecks))
    if day_used_up:
        moment = local_day(limits.zone, at)[1]
    if limits.gap_minutes and usage.last_at is not None:
        moment = max(moment, usage.last_at + timedelta(minutes=limits.gap_minutes))
    return _next_opening(limits, moment)


# --- what the database says ------------------------------------------------------------------------

def _usage_select(form_id: int, limits: Limits, at: datetime) -> sa.Select:
    """One form's use (see :func:`usage_today`) as a one-row select: (form id, invoices, kopecks, last)."""
    day_start, day_end = local_day(limits.zone, at)
    since = day_start
    if limits.gap_minutes:
        since = min(since, at - timedelta(minutes=limits.gap_minutes))
    in_day = _d.c.reserved_at >= day_start
    return (sa.select(sa.literal(form_id, type_=_d.c.payment_form_id.type).label("form_id"),
                      sa.func.sum(sa.case((in_day, 1), else_=0)).label("invoices"),
                      sa.func.sum(sa.case((in_day, _d.c.amount_kopecks), else_=0)).label("kopecks"),
                      sa.func.max(_d.c.reserved_at).label("last_at"))
            .where(_d.c.payment_form_id == form_id, _d.c.reserved_at >= since, _d.c.reserved_at < day_end,
                   # inlined, not bound: a generic plan must still see that the partial index covers them
                   _d.c.status.in_(sa.bindparam("counted", COUNTED_STATES, expanding=True, literal_execute=True))))


def usages_today(forms: dict[int, Limits], at: datetime) -> dict[int, Usage]:
    """:func:`usage_today` of several forms in one statement (a branch per form, each its own index range read:
    the forms' days start at different moments when their zones differ)."""
    if not forms:
        return {}
    selects = [_usage_select(form_id, limits, at) for form_id, limits in sorted(forms.items())]
    statement = selects[0] if len(selects) == 1 else sa.union_all(*selects)
    # int(): PostgreSQL sums BIGINT as NUMERIC, and money is never a Decimal here.
    return {row.form_id: Usage(invoices=int(row.invoices or 0), kopecks=int(row.kopecks or 0), last_at=row.last_at)
            for row in db.session.execute(statement)}


def usage_today(form_id: int, limits: Limits, at: datetime) -> Usage:
    """The form's counted invoices of the seller's day holding ``at`` (see the module's docstring), and its
    last counted invoice since the gap began (that may be the day before).  One range read of
    ``ix_deposit_form_counted``, which holds the counted invoices and their amounts."""
    return usages_today({form_id: limits}, at)[form_id]


#: Locks the forms of ``:ids`` that no other transaction holds, in id order, and reads their limits under the lock.
_LOCK = (sa.select(_f.c.id, *(_f.c[name] for name in COLUMNS))
         .where(_f.c.id.in_(sa.bindparam("ids", expanding=True))).order_by(_f.c.id)
         .with_for_update(key_share=True, skip_locked=True))


@dataclass
class _Form:
    """A form with limits as one transaction sees it: its limits and use, and the verdict for a zero-ruble
    invoice at the gate's moment (hours, invoices and gap do not depend on the amount; only the rubles do)."""

    limits: Limits
    usage: Usage
    base: str


#: a form without limits, in a Gate
_UNLIMITED = "unlimited"


class Gate:
    """The forms with limits one reserving transaction looked at: locked and their use read together (two
    statements for all the forms a batch's candidates bring, :meth:`prepare`), then counted on in memory as
    the transaction gives them invoices (a batch gives one form several).

    ``admits(row, amount)`` — ``row`` is a pick or candidate row with ``payment_form_id`` and
    :data:`COLUMNS`; a form they say has no limits is open without a lock or a read.  A batch asks this for
    every deposit and candidate it pairs, so the answer is a few comparisons: whatever does not depend on the
    amount is worked out once per form and again only when :meth:`take` changes its use.
    """

    def __init__(self, at: datetime, *, lock: bool = True) -> None:
        self.at = at
        #: False: read the limits and use without locking the forms (an offer shown, nothing reserved)
        self.lock = lock
        #: form id → its state, _UNLIMITED or BUSY
        self._forms: dict[int, _Form | str] = {}

    def prepare(self, rows) -> None:
        """Lock and read, in two statements in all, the forms with limits among ``rows`` not looked at yet.

        A form another transaction holds is BUSY for the rest of this one (``SKIP LOCKED``: never waited
        for, see the module's docstring); one whose limits were removed meanwhile is open."""
        wanted: dict[int, object] = {}
        for row in rows:
            form_id = row.payment_form_id
            if form_id in self._forms or form_id in wanted:
                continue
            if limits_of(row) is None:
                self._forms[form_id] = _UNLIMITED
            else:
                wanted[form_id] = row
        if not wanted:
            return
        if self.lock:
            read = {row.id: limits_of(row) for row in db.session.execute(_LOCK, {"ids": sorted(wanted)})}
        else:
            read = {form_id: limits_of(row) for form_id, row in wanted.items()}
        usages = usages_today({form_id: limits for form_id, limits in read.items()
                               if limits is not None and limits.counts_use}, self.at)
        for form_id in wanted:
            if form_id not in read:
                self._forms[form_id] = BUSY
            elif read[form_id] is None:
                self._forms[form_id] = _UNLIMITED
            else:
                limits, usage = read[form_id], usages.get(form_id, Usage())
                self._forms[form_id] = _Form(limits, usage, verdict(limits, usage, 0, self.at))

    def admits(self, row, amount_kopecks: int) -> str:
        """:data:`OPEN`, :data:`BUSY`, or the limit this invoice would break (:func:`verdict`'s answer)."""
        state = self._state(row)
        if state is _UNLIMITED:
            return OPEN
        if state is BUSY:
            return BUSY
        # verdict()'s order: hours and invoices come before the rubles, the gap after them
        if state.base != OPEN and state.base != GAP:
            return state.base
        cap = state.limits.day_kopecks
        if cap is not None and state.usage.kopecks + amount_kopecks > cap:
            return DAY_KOPECKS
        return state.base

    def largest(self, row) -> int | None:
        """:func:`largest_invoice` of the row's form; None too when another transaction holds it."""
        state = self._state(row)
        if state is _UNLIMITED:
            return UNCAPPED
        if state is BUSY:
            return None
        return largest_invoice(state.limits, state.usage, self.at)

    def take(self, row, amount_kopecks: int) -> None:
        """Count an invoice this transaction gives the form (after :meth:`admits` said open)."""
        state = self._forms.get(row.payment_form_id)
        if isinstance(state, _Form):
            state.usage = state.usage.plus(amount_kopecks, self.at)
            state.base = verdict(state.limits, state.usage, 0, self.at)

    def _state(self, row) -> _Form | str:
        state = self._forms.get(row.payment_form_id)
        if state is None:
            self.prepare([row])
            state = self._forms[row.payment_form_id]
        return state


# --- what the seller sees ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Today:
    """A form's use against its limits now, for the dashboard."""

    limits: Limits
    usage: Usage
    #: :data:`OPEN`, or why even the smallest invoice (one kopeck) would be refused now
    state: str
    in_hours: bool
    #: None when the form takes an invoice now
    next_at: datetime | None
    zone: str


def today_of(form: PaymentForm, at: datetime) -> Today | None:
    """The form's use today against its limits (no lock: a picture, not a decision); None without limits."""
    limits = limits_of(form)
    if limits is None:
        return None
    usage = usage_today(form.id, limits, at)
    upcoming = next_allowed(limits, usage, at)
    return Today(limits=limits, usage=usage, state=verdict(limits, usage, 1, at), in_hours=in_hours(limits, at),
                 next_at=upcoming if upcoming > at else None, zone=limits.zone)
