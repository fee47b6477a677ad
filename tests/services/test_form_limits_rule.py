"""The rule of an API form's own limits (app.market.form_limits), without a database: each limit, the
working-hours window across midnight, the seller's local day across DST changes, the next allowed moment."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from app.market import form_limits
from app.market.form_limits import (
    DAY_INVOICES,
    DAY_KOPECKS,
    GAP,
    HOURS,
    OPEN,
    Limits,
    Usage,
    in_hours,
    local_day,
    next_allowed,
    verdict,
)

MSK = ZoneInfo("Europe/Moscow")


def _at(zone: str, *args) -> datetime:
    """A local wall-clock moment of ``zone``, as an aware datetime."""
    return datetime(*args, tzinfo=ZoneInfo(zone))


def test_no_limit_is_always_open():
    """Does a form with no limit set admit any amount at any hour, and count as "no limits" (the fast path)?"""
    row = SimpleNamespace(limit_day_kopecks=None, limit_day_invoices=None, limit_gap_minutes=None,
                          hours_start_minute=None, hours_end_minute=None, limits_timezone="Europe/Moscow")
    assert form_limits.limits_of(row) is None
    row.limit_gap_minutes = 0  # a gap of 0 minutes limits nothing either
    assert form_limits.limits_of(row) is None
    assert verdict(Limits(), Usage(invoices=10**6, kopecks=10**12), 10**9, datetime.now(UTC)) == OPEN


def test_invoices_per_day():
    """Does the N-th invoice of the day pass and the N+1-th not?"""
    limits, now = Limits(day_invoices=3), datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert verdict(limits, Usage(invoices=2), 100_00, now) == OPEN
    assert verdict(limits, Usage(invoices=3), 100_00, now) == DAY_INVOICES
    assert verdict(Limits(day_invoices=0), Usage(), 100_00, now) == DAY_INVOICES


def test_rubles_per_day_counts_the_new_invoice():
    """Is the rubles limit about the day's total *with* this invoice, to the kopeck?"""
    limits, now = Limits(day_kopecks=150_000_00), datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert verdict(limits, Usage(invoices=5, kopecks=149_000_00), 1_000_00, now) == OPEN
    assert verdict(limits, Usage(invoices=5, kopecks=149_000_00), 1_000_01, now) == DAY_KOPECKS


def test_gap_between_invoices():
    """Is an invoice refused until the gap since the last one has passed, and admitted from then on?"""
    last = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    limits = Limits(gap_minutes=15)
    usage = Usage(invoices=1, kopecks=1_000_00, last_at=last)
    assert verdict(limits, usage, 1_000_00, last + timedelta(minutes=14, seconds=59)) == GAP
    assert verdict(limits, usage, 1_000_00, last + timedelta(minutes=15)) == OPEN
    assert next_allowed(limits, usage, last + timedelta(minutes=1)) == last + timedelta(minutes=15)


def test_hours_within_a_day():
    """09:00-18:00 Moscow: open at 09:00 and 17:59, closed at 18:00 and 08:59 (the end is exclusive)."""
    limits = Limits(hours=(9 * 60, 18 * 60), zone="Europe/Moscow")
    assert in_hours(limits, _at("Europe/Moscow", 2026, 12, 7, 9, 0))
    assert in_hours(limits, _at("Europe/Moscow", 2026, 12, 7, 17, 59))
    assert not in_hours(limits, _at("Europe/Moscow", 2026, 12, 7, 18, 0))
    assert not in_hours(limits, _at("Europe/Moscow", 2026, 12, 7, 8, 59))
    # the same instant seen from UTC: 06:30 UTC is 09:30 in Moscow
    assert verdict(limits, Usage(), 100_00, datetime(2026, 12, 7, 6, 30, tzinfo=UTC)) == OPEN
    assert verdict(limits, Usage(), 100_00, datetime(2026, 12, 7, 5, 30, tzinfo=UTC)) == HOURS


def test_hours_across_midnight():
    """22:00-06:00 works through midnight: open at 23:30 and 05:59, closed at 06:00 and 21:59."""
    limits = Limits(hours=(22 * 60, 6 * 60), zone="Asia/Yekaterinburg")
    for hour, minute, open_ in ((23, 30, True), (0, 0, True), (5, 59, True), (6, 0, False), (21, 59, False),
                                (22, 0, True), (12, 0, False)):
        assert in_hours(limits, _at("Asia/Yekaterinburg", 2026, 12, 7, hour, minute)) is open_, (hour, minute)
    # closed at noon: the next opening is 22:00 the same local day
    noon = _at("Asia/Yekaterinburg", 2026, 12, 7, 12, 0)
    assert next_allowed(limits, Usage(), noon) == _at("Asia/Yekaterinburg", 2026, 12, 7, 22, 0)


def test_the_local_day_is_the_sellers_and_dst_safe():
    """Is "today" the seller's calendar day — 23 hours on the spring DST day, 25 in autumn, 24 otherwise —
    and does an instant near UTC midnight fall into the right local day?"""
    start, end = local_day("Europe/Berlin", datetime(2026, 3, 29, 12, tzinfo=UTC))
    assert (start, end) == (_at("Europe/Berlin", 2026, 3, 29, 0, 0), _at("Europe/Berlin", 2026, 3, 30, 0, 0))
    # in UTC: two datetimes of one zone subtract by their wall clocks in Python, which would say 24 hours
    assert end - start == timedelta(hours=23)
    start, end = local_day("Europe/Berlin", datetime(2026, 10, 25, 12, tzinfo=UTC))
    assert end - start == timedelta(hours=25)
    start, end = local_day("Europe/Moscow", datetime(2026, 12, 7, 22, 30, tzinfo=UTC))  # 01:30 on the 8th
    assert start == _at("Europe/Moscow", 2026, 12, 8, 0, 0)
    assert end - start == timedelta(hours=24)


def test_hours_follow_the_wall_clock_across_dst():
    """09:00-18:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer: the window moves with the
    clocks, not with UTC."""
    limits = Limits(hours=(9 * 60, 18 * 60), zone="Europe/Berlin")
    assert in_hours(limits, datetime(2026, 1, 15, 8, 0, tzinfo=UTC))
    assert not in_hours(limits, datetime(2026, 1, 15, 7, 30, tzinfo=UTC))
    assert in_hours(limits, datetime(2026, 7, 15, 7, 30, tzinfo=UTC))
    # the night of the change: closed at 01:00 UTC (03:00 local, the hour 02:00-03:00 does not exist)
    assert next_allowed(limits, Usage(), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)) == datetime(
        2026, 3, 29, 7, 0, tzinfo=UTC)


def test_a_used_up_day_reopens_at_the_next_local_midnight():
    """Once the invoices (or rubles) of the day are used up, is the next allowed moment the next local midnight
    — and then the first working hour after it, if hours are set?"""
    noon = _at("Europe/Moscow", 2026, 12, 7, 12, 0)
    assert next_allowed(Limits(day_invoices=3), Usage(invoices=3), noon) == _at("Europe/Moscow", 2026, 12, 8, 0, 0)
    assert next_allowed(Limits(day_kopecks=1_000_00), Usage(invoices=1, kopecks=1_000_00), noon) == _at(
        "Europe/Moscow", 2026, 12, 8, 0, 0)
    limits = Limits(day_invoices=3, hours=(9 * 60, 21 * 60))
    assert next_allowed(limits, Usage(invoices=3), noon) == _at("Europe/Moscow", 2026, 12, 8, 9, 0)
    assert next_allowed(limits, Usage(invoices=2), noon) == noon  # open now


def test_checks_in_order_and_unknown_zone_falls_back():
    """Hours are said first (the reason the seller sees), and a zone this system lacks reads as Moscow time
    instead of failing the matcher."""
    limits = Limits(day_invoices=0, hours=(9 * 60, 10 * 60))
    assert verdict(limits, Usage(), 100_00, _at("Europe/Moscow", 2026, 12, 7, 12, 0)) == HOURS
    assert form_limits.zone_of("Mars/Olympus_Mons") == MSK
    assert "Europe/Moscow" in form_limits.zone_names() and "America/Sao_Paulo" in form_limits.zone_names()


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kathmandu"])
def test_far_zones_have_their_own_day(zone):
    """UTC+14, UTC-11 and UTC+5:45: the day boundary is the zone's midnight, whatever the offset."""
    at = datetime(2026, 12, 7, 12, tzinfo=UTC)
    start, end = local_day(zone, at)
    assert start <= at < end
    assert start.astimezone(ZoneInfo(zone)).time().isoformat() == "00:00:00"
