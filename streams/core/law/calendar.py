"""Deadline arithmetic in a jurisdiction's zone: straight elapsed hours, or hours counted on working days.

Elapsed hours are added in UTC, so a DST change inside the window moves the local wall-clock end (S06, S07).
Counted hours run only on local calendar days that are Monday to Friday and not federal legal public holidays
(their actual dates; observed days count, A1/A2) nor excluded one-off closures; each such day contributes its
real length (23 or 25 hours on DST days). Pure: no clock reads.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays

HOUR = timedelta(hours=1)


@functools.lru_cache(maxsize=256)
def federal_holidays(year: int) -> frozenset[date]:
    """Federal legal public holidays (5 U.S.C. 6103(a)) of a year on their actual dates, without observed days."""
    return frozenset(holidays.country_holidays("US", years=year, observed=False))


def is_counted_day(day: date, closures: frozenset[date] = frozenset()) -> bool:
    """True when hours on this local day count toward a legacy I-247 hold (8 CFR 287.7(d))."""
    return day.weekday() < 5 and day not in federal_holidays(day.year) and day not in closures


def add_elapsed_hours(start: datetime, hours: int) -> datetime:
    """`start` plus `hours` of real elapsed time (I-247D, I-247A, I-247X)."""
    return (start.astimezone(UTC) + hours * HOUR).astimezone(start.tzinfo)


def add_counted_hours(start: datetime, hours: int, zone: ZoneInfo,
                      closures: frozenset[date] = frozenset()) -> datetime:
    """`start` plus `hours` counted only on working days in `zone` (legacy I-247), as an instant in `zone`."""
    remaining = hours * HOUR
    cursor = start.astimezone(zone)
    day = cursor.date()
    for _ in range(3660):  # ten years of days: far beyond any real hold, a guard against a bad closure list
        day_end = _midnight(day + timedelta(days=1), zone)
        if is_counted_day(day, closures):
            available = day_end.astimezone(UTC) - cursor.astimezone(UTC)
            if available >= remaining:
                return (cursor.astimezone(UTC) + remaining).astimezone(zone)
            remaining -= available
        day += timedelta(days=1)
        cursor = day_end
    raise ValueError(f"no {hours} counted hours within ten years of {start.isoformat()}")


def local_date(at: datetime, zone: ZoneInfo) -> date:
    """The calendar date of an instant in a zone."""
    return at.astimezone(zone).date()


def years_before(day: date, years: int) -> date:
    """The same calendar day `years` earlier; 29 February falls on 1 March (the shorter window, A4)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return date(day.year - years, 3, 1)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)
