"""Working time between two instants: only the team's working hours on its working days, in its zone.

A client question asked on Friday evening and answered on Monday morning waited ~60 calendar hours
but only an hour or two of the team's time; the ``*_working_hours`` figures (SPEC §4) count the latter.

The count is a difference of one cumulative function, ``W(t)`` = working nanoseconds from a fixed day
to ``t``, looked up in a table with one row per calendar day (its working window in UTC, built with
:mod:`zoneinfo`, so a day on which daylight saving starts or ends gets its true length). A hundred
thousand samples cost a few array operations, not a Python loop over samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from glassbox.config import Team

_NS_PER_HOUR = 3_600_000_000_000


@dataclass(frozen=True)
class _DayTable:
    """One row per local calendar day from ``first``: its working window in UTC nanoseconds."""

    first: date
    starts: np.ndarray  # int64 ns; window start (equal to end on days off)
    ends: np.ndarray
    before: np.ndarray  # working ns in all earlier days of the table


def _build_table(first: date, last: date, team: Team) -> _DayTable:
    tz = team.zone
    open_at, close_at = team.hours
    working = team.weekday_numbers
    count = (last - first).days + 1
    starts = np.empty(count, dtype=np.int64)
    ends = np.empty(count, dtype=np.int64)
    for index in range(count):
        day = first + timedelta(days=index)
        start = pd.Timestamp(datetime.combine(day, open_at, tzinfo=tz)).as_unit("ns").value
        end = pd.Timestamp(datetime.combine(day, close_at, tzinfo=tz)).as_unit("ns").value
        starts[index] = start
        ends[index] = end if day.weekday() in working else start
    lengths = ends - starts
    before = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    return _DayTable(first, starts, ends, before)


def _local_days(moments: pd.Series, tz: ZoneInfo) -> pd.Series:
    return moments.dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()


def _cumulative(moments: pd.Series, table: _DayTable, tz: ZoneInfo) -> np.ndarray:
    """``W(t)`` for each moment (NaT gives NaN)."""
    valid = moments.notna().to_numpy()
    out = np.full(len(moments), np.nan)
    if not valid.any():
        return out
    present = moments[valid]
    first = np.datetime64(table.first, "D")
    index = (_local_days(present, tz).to_numpy(dtype="datetime64[D]") - first).astype(np.int64)
    ns = present.dt.as_unit("ns").to_numpy(dtype="datetime64[ns]").astype(np.int64)
    today = np.clip(ns - table.starts[index], 0, table.ends[index] - table.starts[index])
    out[valid] = (table.before[index] + today).astype(np.float64)
    return out


def working_hours_between(starts: pd.Series, ends: pd.Series, team: Team) -> pd.Series:
    """Working hours from each ``starts[i]`` to ``ends[i]`` (aware timestamps); NaN where either is NaT.

    An end before its start gives 0, never a negative figure.
    """
    starts = pd.to_datetime(pd.Series(starts), utc=True).reset_index(drop=True)
    ends = pd.to_datetime(pd.Series(ends), utc=True).reset_index(drop=True)
    both = pd.concat([starts, ends]).dropna()
    if both.empty:
        return pd.Series(np.nan, index=range(len(starts)), dtype=float)
    days = _local_days(both, team.zone)
    first = days.min().date() - timedelta(days=1)
    last = days.max().date() + timedelta(days=1)
    table = _build_table(first, last, team)
    span = _cumulative(ends, table, team.zone) - _cumulative(starts, table, team.zone)
    return pd.Series(np.clip(span, 0, None) / _NS_PER_HOUR, dtype=float)


def working_hours(start: datetime, end: datetime, team: Team) -> float:
    """Working hours between two aware instants."""
    return float(working_hours_between(pd.Series([pd.Timestamp(start)]), pd.Series([pd.Timestamp(end)]), team)[0])


def is_working_day(day: date, team: Team) -> bool:
    return day.weekday() in team.weekday_numbers


def previous_working_day(day: date, team: Team) -> date:
    """The last working day strictly before ``day`` (a Monday's is the Friday before, for Mon-Fri)."""
    if not team.weekday_numbers:
        return day - timedelta(days=1)
    candidate = day - timedelta(days=1)
    while not is_working_day(candidate, team):
        candidate -= timedelta(days=1)
    return candidate
