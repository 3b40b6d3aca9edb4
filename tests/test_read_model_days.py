"""The read model's day counts are the counts the metric functions give, on the engagement's local days.

The hand-built engagement of test_summary (New York weeks; CHURN-3 internal) plus events around the
end of summer time in New York (Sunday 1 Nov 2026 has 25 hours: 01:30 happens twice) and a ticket
imported years after it was created, on the day summer time began in 2019. Written through the sync's
hooked :meth:`Store.write`, then edited and deleted from: for every view and period, the summed day
counts must equal :func:`glassbox.metrics.summary.counts` and :func:`glassbox.metrics.chart_data.activity`
over the timeline.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from test_read_model import derived_days, stored_days
from test_summary import CONFIG, WEEK, commit, created, engagement, github, jira

from glassbox import readmodel
from glassbox.events import Event, Tombstone
from glassbox.metrics import chart_data
from glassbox.metrics.linking import build_links
from glassbox.metrics.summary import counts
from glassbox.periods import Period, day_range, iso_week
from glassbox.readmodel.days import category_counts, counted_days, daily_counts, period_days
from glassbox.store import Store
from glassbox.timeline import load_timeline
from glassbox.views import View

NEW_YORK = ZoneInfo("America/New_York")
LONG_DAY = date(2026, 11, 1)  # summer time ends at 02:00 EDT: the day has 25 hours
SPRING_2019 = date(2019, 3, 10)  # summer time begins at 02:00 EST: 23 hours


AROUND_THE_CLOCK_CHANGE = [
    commit("4" * 40, "2026-11-01 03:59", "ben"),  # Saturday 31 Oct 23:59 EDT
    jira("comment", "2026-11-01 04:00", "carol-acme", "CHURN-1"),  # Sunday 00:00 EDT
    jira("comment", "2026-11-01 05:30", "ana", "CHURN-1"),  # 01:30 EDT
    jira("comment", "2026-11-01 06:30", "ana", "CHURN-1"),  # 01:30 EST, the same hour again
    jira("comment", "2026-11-02 04:59", "ben", "CHURN-1"),  # Sunday 23:59 EST
    github("review", "2026-11-02 05:00", "ben", 7, state="APPROVED"),  # Monday 00:00 EST: W45
]


IMPORTED_YEARS_AGO = [
    created("2019-03-10 04:59", "carol-acme", "LEGACY-1", "Migrate the old scoring job"),  # Sat 9th 23:59 EST
    created("2019-03-10 07:30", "carol-acme", "LEGACY-2", "Retire the v1 model"),  # 03:30 EDT on the 10th
    jira("ticket_resolved", "2019-03-11 03:59", "ana", "LEGACY-2", to_status="Done"),  # 23:59 EDT on the 10th
]


PERIODS = (WEEK, WEEK.previous(), iso_week(SPRING_2019, NEW_YORK), day_range(date(2019, 3, 1), date(2026, 11, 30),
                                                                             NEW_YORK))


@pytest.fixture
def written(store: Store) -> Store:
    """The engagement as a sync would leave it: written in batches, then one event moved, one deleted."""
    readmodel.attach(store, CONFIG)
    readmodel.ensure_current(store, CONFIG)
    store.write(engagement())
    store.write(AROUND_THE_CLOCK_CHANGE)
    store.write(IMPORTED_YEARS_AGO)
    moved = AROUND_THE_CLOCK_CHANGE[1]
    store.write([Event(**{**moved.__dict__, "occurred_at": pd.Timestamp("2026-11-03 12:00", tz="UTC")})])
    store.write([], [Tombstone(IMPORTED_YEARS_AGO[0].id)])
    return store


def expected_counts(store: Store, view: View, period: Period) -> dict[str, int]:
    """SPEC §5 ``counts`` of the view's timeline, but for runs (counted from runs, not days)."""
    timeline = load_timeline(store, CONFIG, view=view)
    figures = counts(timeline, build_links(timeline), period.start, period.end)
    return {name: number for name, number in figures.items() if name != "runs"}


@pytest.mark.parametrize("view", list(View))
def test_summed_day_counts_are_the_reports_counts_in_every_period(written: Store, view: View) -> None:
    for period in PERIODS:
        assert category_counts(written, view, *period_days(period)) == expected_counts(written, view, period), \
            period.label


@pytest.mark.parametrize("view", list(View))
def test_day_counts_are_the_activity_chart_the_ticket_flow_and_what_counting_the_events_gives(
        written: Store, view: View) -> None:
    timeline = load_timeline(written, CONFIG, view=view)
    weeks_long = day_range(date(2026, 6, 1), date(2026, 11, 30), NEW_YORK)  # weekly bars
    for period in (*PERIODS, weeks_long):  # the 2019–2026 range has monthly bars
        shown = timeline.loc[(timeline["occurred_at"] >= period.start) & (timeline["occurred_at"] < period.end)]
        days = daily_counts(written, view, *period_days(period))
        by_source = daily_counts(written, view, *period_days(period), by=("source",))
        for counted in (days, by_source):
            pd.testing.assert_frame_equal(chart_data.activity_of_days(counted, period, NEW_YORK),
                                          chart_data.activity(shown, period, NEW_YORK), obj=period.label)
        pd.testing.assert_frame_equal(counted_days(shown, NEW_YORK), days, obj=period.label)
        flow_days = daily_counts(written, view, chart_data.flow_start(period, NEW_YORK).date(), period.end.date(),
                                 by=("category",))
        up_to_end = timeline.loc[timeline["occurred_at"] < period.end]
        pd.testing.assert_frame_equal(chart_data.ticket_flow_of_days(flow_days, period, NEW_YORK),
                                      chart_data.ticket_flow(up_to_end, period, NEW_YORK), obj=period.label)


def test_a_day_is_the_engagements_local_day_across_clock_changes(written: Store) -> None:
    long_day = daily_counts(written, View.TEAM, LONG_DAY, date(2026, 11, 2))
    # 00:00 EDT to 23:59 EST: three comments (the 00:00 one moved to 3 Nov) and CHURN-1, created at
    # 22:00 EST; the 23:59 EDT commit is Saturday's, the 00:00 EST review Monday's
    assert long_day[["source", "category", "person", "side", "events"]].to_dict("records") == [
        {"source": "jira", "category": "comment", "person": "Ana", "side": "team", "events": 2},
        {"source": "jira", "category": "comment", "person": "Ben", "side": "team", "events": 1},
        {"source": "jira", "category": "ticket_created", "person": "Carol", "side": "client", "events": 1},
    ]
    by_category = daily_counts(written, View.TEAM, LONG_DAY, date(2026, 11, 2), by=("category",))
    assert by_category.to_dict("records") == [{"day": LONG_DAY, "category": "comment", "events": 3},
                                              {"day": LONG_DAY, "category": "ticket_created", "events": 1}], \
        "summed over source, person and side"
    spring = daily_counts(written, View.TEAM, date(2019, 3, 9), date(2019, 3, 12))
    assert spring[["day", "category", "person", "events"]].to_dict("records") == [
        {"day": SPRING_2019, "category": "ticket_created", "person": "Carol", "events": 1},
        {"day": SPRING_2019, "category": "ticket_resolved", "person": "Ana", "events": 1},
    ], "the ticket deleted at its source is no longer counted on 9 March"


def test_the_client_does_not_count_what_it_may_not_see(written: Store) -> None:
    week = {view: category_counts(written, view, *period_days(WEEK)) for view in View}
    assert week[View.TEAM]["commits"] == 3 and week[View.CLIENT]["commits"] == 2  # C3 names internal CHURN-3
    assert week[View.TEAM]["tickets_created"] == 2 and week[View.CLIENT]["tickets_created"] == 1


def test_incremental_day_counts_are_the_rebuilds(written: Store) -> None:
    incremental = stored_days(written)
    pd.testing.assert_frame_equal(incremental, derived_days(written, CONFIG))
    readmodel.rebuild(written, CONFIG)
    pd.testing.assert_frame_equal(incremental, stored_days(written))
