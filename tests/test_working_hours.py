"""Working hours: only the team's hours and days count, in its own zone, across DST changes."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from glassbox.config import Team
from glassbox.metrics.working_hours import previous_working_day, working_hours, working_hours_between

BERLIN = ZoneInfo("Europe/Berlin")
TEAM = Team(timezone="Europe/Berlin", working_hours="09:00-18:00", working_days=["Mon", "Tue", "Wed", "Thu", "Fri"])


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def test_wait_within_one_working_day_counts_fully() -> None:
    assert working_hours(at(2026, 11, 4, 10), at(2026, 11, 4, 13, 30), TEAM) == 3.5


def test_weekend_wait_counts_only_working_hours() -> None:
    """Friday 17:00 to Monday 10:00 is 65 calendar hours but two working hours."""
    assert working_hours(at(2026, 11, 6, 17), at(2026, 11, 9, 10), TEAM) == 2.0


def test_time_outside_hours_counts_nothing() -> None:
    assert working_hours(at(2026, 11, 4, 19), at(2026, 11, 5, 8), TEAM) == 0.0
    assert working_hours(at(2026, 11, 7, 10), at(2026, 11, 8, 16), TEAM) == 0.0


def test_full_week_counts_five_days() -> None:
    assert working_hours(at(2026, 11, 2, 0), at(2026, 11, 9, 0), TEAM) == 45.0


def test_dst_start_weekend_does_not_shift_the_working_day() -> None:
    """Clocks go forward on Sunday 2026-03-29 in Berlin; Monday still starts at 09:00 local."""
    assert working_hours(at(2026, 3, 27, 17), at(2026, 3, 30, 10), TEAM) == 2.0


def test_dst_in_the_team_zone_when_samples_are_utc() -> None:
    """The same UTC instant is 09:00 local before the change and 10:00 after it."""
    start = pd.Timestamp("2026-10-23T07:00Z")  # Friday 09:00 CEST
    end = pd.Timestamp("2026-10-26T08:00Z")  # Monday 09:00 CET
    assert working_hours(start, end, TEAM) == 9.0


def test_a_day_when_clocks_change_inside_working_hours_has_its_true_length() -> None:
    """A team working 00:00-06:00 on Sundays loses an hour the night clocks go forward."""
    night = Team(timezone="Europe/Berlin", working_hours="00:00-06:00", working_days=["Sun"])
    assert working_hours(at(2026, 3, 29, 0), at(2026, 3, 29, 7), night) == 5.0
    assert working_hours(at(2026, 3, 22, 0), at(2026, 3, 22, 7), night) == 6.0


def test_end_before_start_is_zero_and_missing_end_is_nan() -> None:
    starts = pd.Series([pd.Timestamp("2026-11-04T12:00Z"), pd.Timestamp("2026-11-04T12:00Z")])
    ends = pd.Series([pd.Timestamp("2026-11-04T10:00Z"), pd.NaT], dtype="datetime64[ns, UTC]")
    result = working_hours_between(starts, ends, TEAM)
    assert result[0] == 0.0
    assert pd.isna(result[1])


def test_vectorized_over_many_samples_matches_scalar() -> None:
    starts = pd.Series(pd.date_range("2026-01-01", periods=500, freq="7h13min", tz="UTC"))
    ends = starts + pd.Timedelta(hours=53)
    vector = working_hours_between(starts, ends, TEAM)
    for index in (0, 17, 250, 499):
        assert vector[index] == pytest.approx(working_hours(starts[index], ends[index], TEAM))


def test_previous_working_day_skips_the_weekend() -> None:
    assert previous_working_day(date(2026, 11, 9), TEAM) == date(2026, 11, 6)
    assert previous_working_day(date(2026, 11, 5), TEAM) == date(2026, 11, 4)
