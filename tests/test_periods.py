"""Periods: ISO weeks and day ranges in the engagement's zone, and the period before each."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from glassbox.errors import ConfigError
from glassbox.periods import (
    FIRST_DAY,
    LAST_DAY,
    Period,
    PeriodKind,
    day_bounds,
    day_range,
    iso_week,
    parse_day,
    parse_week,
)

NEW_YORK = ZoneInfo("America/New_York")


def test_iso_week_runs_monday_to_monday_in_the_engagement_zone() -> None:
    week = iso_week(date(2026, 11, 18), NEW_YORK)
    assert week.label == "2026-W47"
    assert week.start == datetime(2026, 11, 16, tzinfo=NEW_YORK)
    assert week.end == datetime(2026, 11, 23, tzinfo=NEW_YORK)


def test_last_week_is_the_previous_full_iso_week() -> None:
    assert parse_week("last", NEW_YORK, date(2026, 11, 25)).label == "2026-W47"


def test_previous_custom_range_starts_at_midnight_across_a_dst_change() -> None:
    # New York leaves daylight saving time on 1 November 2026.
    period = day_range(date(2026, 11, 1), date(2026, 11, 7), NEW_YORK)
    before = period.previous()
    assert before.start == datetime(2026, 10, 25, tzinfo=NEW_YORK)
    assert before.end == period.start
    assert before.end - before.start == timedelta(days=7)


@pytest.mark.parametrize("text", ["2026-47", "2026-W60", "next"])
def test_bad_weeks_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="--week"):
        parse_week(text, NEW_YORK, date(2026, 11, 25))


def test_a_period_carries_its_kind_and_the_label_is_only_a_label() -> None:
    """What comes before a period follows its kind; the label is never parsed back (it used to be, by regex)."""
    week = iso_week(date(2026, 11, 18), NEW_YORK)
    assert week.kind is PeriodKind.WEEK
    assert week.previous().label == "2026-W46" and week.previous().kind is PeriodKind.WEEK
    # Seven days labelled like a week but made as a day range: its previous is the seven days before
    # (9–15 Nov), labelled as a range, not an ISO week found by reading "2026-W47".
    days = Period("2026-W47", week.start, week.end)
    assert days.kind is PeriodKind.DAYS
    before = days.previous()
    assert before.kind is PeriodKind.DAYS and before.label == "2026-11-09..2026-11-15"
    assert day_range(date(2026, 11, 1), date(2026, 11, 7), NEW_YORK).kind is PeriodKind.DAYS
@pytest.mark.parametrize(("text", "ok"), [("1970-01-01", True), ("2199-12-31", True),
                                          ("1969-12-31", False), ("2200-01-01", False), ("0001-01-01", False)])
def test_days_outside_what_the_metrics_can_hold_are_config_errors(text: str, ok: bool) -> None:
    if ok:
        assert parse_day(text, "--from") == date.fromisoformat(text)
    else:
        expected = f"--from {text}: out of range — give a day from 1970-01-01 to 2199-12-31"
        with pytest.raises(ConfigError, match=expected):
            parse_day(text, "--from")


def test_the_widest_range_and_the_period_before_it_fit_in_pandas_timestamps() -> None:
    period = day_range(FIRST_DAY, LAST_DAY, NEW_YORK)
    before = period.previous()
    # 1970-01-01..2199-12-31: 230 years × 365 days + 56 leap days (1972…2196 is 57, less 2100) = 84,006;
    # the 84,006 days before start on 1740-01-01 (the same 230 years back), well after pandas' first
    # timestamp (1677-09-21).
    assert (period.end.date() - period.start.date()).days == 84_006
    assert before.start.date() == date(1740, 1, 1)
    assert pd.Timestamp(before.start) < pd.Timestamp(period.end)


def test_open_ended_day_bounds_and_their_order() -> None:
    start, end = day_bounds(date(2026, 11, 2), None, NEW_YORK)
    assert (start, end) == (datetime(2026, 11, 2, tzinfo=NEW_YORK), None)
    assert day_bounds(None, date(2026, 11, 2), NEW_YORK) == (None, datetime(2026, 11, 3, tzinfo=NEW_YORK))
    with pytest.raises(ConfigError, match="--to 2026-11-01 is before --from 2026-11-02"):
        day_bounds(date(2026, 11, 2), date(2026, 11, 1), NEW_YORK)


def test_a_week_past_the_last_day_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--week '9999-W52': out of range"):
        parse_week("9999-W52", NEW_YORK, date(2026, 11, 25))
