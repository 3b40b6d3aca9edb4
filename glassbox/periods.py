"""Reporting periods: ISO weeks and day ranges in the engagement's time zone.

A period is half-open, ``[start, end)``, with aware datetimes, so a sample ending exactly at midnight
Monday belongs to the new week (SPEC §4: a sample belongs to the period in which it ends). A period
knows its :class:`PeriodKind`, so what comes before it is never guessed from its label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from glassbox.errors import ConfigError


class PeriodKind(StrEnum):
    WEEK = "week"  # one ISO week: the one before is the previous ISO week
    DAYS = "days"  # any run of whole days: the one before is as many days just before it

# The days a user may ask for. Timestamps become pandas nanosecond timestamps (1677-09-21 to
# 2262-04-11), and a custom range's previous period — as long again, just before it — must fit too:
# from 1970 to 2199, the period before the longest range starts on 1740-01-01. Outside these days,
# datetime or pandas would overflow deep in the metrics.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2199, 12, 31)

@dataclass(frozen=True)
class Period:
    label: str
    start: datetime
    end: datetime
    kind: PeriodKind = PeriodKind.DAYS

    def previous(self) -> Period:
        """The period of the same length just before this one (for week-over-week deltas)."""
        if self.kind is PeriodKind.WEEK:
            return iso_week(self.start.date() - timedelta(days=7), self.start.tzinfo)  # type: ignore[arg-type]
        days = (self.end.date() - self.start.date()).days  # calendar days: a DST change keeps midnights
        return day_range(self.start.date() - timedelta(days=days), self.start.date() - timedelta(days=1),
                         self.start.tzinfo)  # type: ignore[arg-type]


def start_of_day(day: date, tz: ZoneInfo) -> datetime:
    """Midnight at the start of ``day`` in ``tz``."""
    return datetime.combine(day, time(0), tzinfo=tz)


def iso_week(day: date, tz: ZoneInfo) -> Period:
    """The ISO week containing ``day``, from Monday 00:00 to the next Monday 00:00 in ``tz``."""
    year, week, _ = day.isocalendar()
    monday = date.fromisocalendar(year, week, 1)
    return Period(f"{year}-W{week:02d}", start_of_day(monday, tz), start_of_day(monday + timedelta(days=7), tz),
                  PeriodKind.WEEK)


def parse_week(text: str, tz: ZoneInfo, today: date) -> Period:
    """``2026-W47``, ``last`` (the previous full week) or ``this``."""
    if text == "last":
        return iso_week(today - timedelta(days=7), tz)
    if text == "this":
        return iso_week(today, tz)
    match = re.fullmatch(r"(\d{4})-W(\d{2})", text)
    if not match:
        raise ConfigError(f"--week {text!r}: expected YYYY-Www (e.g. 2026-W47), 'last' or 'this'")
    try:
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise ConfigError(f"--week {text!r}: no such ISO week") from None
    if not FIRST_DAY <= monday <= LAST_DAY:
        raise ConfigError(f"--week {text!r}: out of range — give a week from {FIRST_DAY.year} to {LAST_DAY.year}")
    return iso_week(monday, tz)


def parse_day(text: str, option: str) -> date:
    """A day given on the command line, within :data:`FIRST_DAY`..:data:`LAST_DAY`."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option} {text!r}: expected a date as YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ConfigError(f"{option} {text}: out of range — give a day from {FIRST_DAY} to {LAST_DAY}")
    return day


def day_bounds(start: date | None, end_inclusive: date | None, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """``[start of start, end of end_inclusive)`` in ``tz`` for an open-ended filter; either may be missing.

    Both given in the wrong order is the same error as :func:`day_range`'s.
    """
    if start is not None and end_inclusive is not None:
        period = day_range(start, end_inclusive, tz)
        return period.start, period.end
    return (start_of_day(start, tz) if start else None,
            start_of_day(end_inclusive + timedelta(days=1), tz) if end_inclusive else None)


def day_range(start: date, end_inclusive: date, tz: ZoneInfo) -> Period:
    """From the start of ``start`` to the end of ``end_inclusive`` in ``tz``."""
    if end_inclusive < start:
        raise ConfigError(f"--to {end_inclusive} is before --from {start}")
    end = start_of_day(end_inclusive + timedelta(days=1), tz)
    return Period(f"{start}..{end_inclusive}", start_of_day(start, tz), end)
