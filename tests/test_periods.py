"""Periods: ISO weeks and day ranges in the engagement's zone, and the period before each."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from glassbox.errors import ConfigError
from glassbox.periods import Period, PeriodKind, day_range, iso_week, parse_week

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
