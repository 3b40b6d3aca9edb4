"""Chart data: small per-day and per-week frames aggregated from a timeline or latency samples.

Charts get aggregated rows, never raw events (Altair's 5,000-row limit, and a PDF that stays small);
the report's charts and the dashboard's pages draw from these same frames. Pure: frames in, frames out.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from glassbox.metrics.latency import LATENCIES, summarize
from glassbox.periods import Period, iso_week

TREND_WEEKS = 6  # every week-by-week trend: the report's and the Feedback page's
FLOW_WEEKS = 8


def activity_unit(period: Period) -> str:
    """``day`` bars for up to four months, ``week`` up to three years, else ``month``.

    Keeps a chart readable and under Altair's 5,000-row limit whatever custom range is asked for.
    """
    days = (period.end - period.start).days
    return "day" if days <= 120 else "week" if days <= 3 * 366 else "month"


_BUCKETS = {"day": "D", "week": "W-MON", "month": "MS"}
_ACTIVITY_COLUMNS = ["day", "source", "events"]
_FLOW_CATEGORIES = ("ticket_created", "ticket_resolved")


def activity(events: pd.DataFrame, period: Period, zone: ZoneInfo) -> pd.DataFrame:
    """Events per bucket (see :func:`activity_unit`) and source over the whole period, zeros included.

    ``day`` holds each bucket's first day.
    """
    if events.empty:
        return pd.DataFrame(columns=_ACTIVITY_COLUMNS)
    local_days = events["occurred_at"].dt.tz_convert(zone).dt.tz_localize(None).dt.normalize()
    per_day = events.assign(day=local_days).groupby(["day", "source"]).size().rename("events").reset_index()
    return activity_of_days(per_day, period, zone)


def activity_of_days(days: pd.DataFrame, period: Period, zone: ZoneInfo) -> pd.DataFrame:
    """:func:`activity` of events already counted per local day: ``day, source, events`` rows (the read
    model's day counts, :func:`glassbox.readmodel.days.daily_counts`), so a page draws its period's
    chart from a few hundred rows instead of from the period's events."""
    days = days.loc[days["events"] > 0]
    if days.empty:
        return pd.DataFrame(columns=_ACTIVITY_COLUMNS)
    unit = activity_unit(period)
    first = period.start.astimezone(zone).date()
    last = (period.end - timedelta(microseconds=1)).astimezone(zone).date()
    buckets_of = pd.to_datetime(days["day"])
    if unit == "week":
        buckets_of = buckets_of - pd.to_timedelta(buckets_of.dt.day_of_week, unit="D")
        first -= timedelta(days=first.weekday())
    elif unit == "month":
        buckets_of = buckets_of.dt.to_period("M").dt.start_time
        first = first.replace(day=1)
    counts = days.assign(day=buckets_of).groupby(["day", "source"])["events"].sum()
    buckets = pd.date_range(first, last, freq=_BUCKETS[unit])
    index = pd.MultiIndex.from_product([buckets, sorted(days["source"].unique())], names=["day", "source"])
    return counts.reindex(index, fill_value=0).astype(int).rename("events").reset_index()[_ACTIVITY_COLUMNS]


def week_label(moment: date) -> str:
    """The ISO week of ``moment`` on a chart axis, by its Monday: ``23 Nov`` (people read dates, not
    ``W48``); the report's title carries the year."""
    year, week, _ = moment.isocalendar()
    monday = date.fromisocalendar(year, week, 1)
    return f"{monday.day} {monday:%b}"


def short_label(period: Period) -> str:
    """A period on a chart axis: its first day (``16 Nov``, a week's Monday)."""
    return f"{period.start.day} {period.start:%b}"


def flow_start(period: Period, zone: ZoneInfo) -> datetime:
    """The first moment :func:`ticket_flow` counts: the Monday of its first week."""
    last_day = (period.end - timedelta(microseconds=1)).astimezone(zone).date()
    return iso_week(last_day - timedelta(weeks=FLOW_WEEKS - 1), zone).start


def ticket_flow(history: pd.DataFrame, period: Period, zone: ZoneInfo) -> pd.DataFrame:
    """Tickets created and resolved per ISO week, for the weeks up to the period's end."""
    tickets = history.loc[history["category"].isin(_FLOW_CATEGORIES)
                          & (history["occurred_at"] >= pd.Timestamp(flow_start(period, zone)))]
    per_day = tickets.assign(day=tickets["occurred_at"].dt.tz_convert(zone).dt.date) \
        .groupby(["day", "category"]).size().rename("events").reset_index()
    return ticket_flow_of_days(per_day, period, zone)


def ticket_flow_of_days(days: pd.DataFrame, period: Period, zone: ZoneInfo) -> pd.DataFrame:
    """:func:`ticket_flow` of events already counted per local day and category (``day, category, events``
    rows: the read model's day counts, :func:`glassbox.readmodel.days.daily_counts`)."""
    first = flow_start(period, zone)
    weeks = [week_label(first + timedelta(weeks=n)) for n in range(FLOW_WEEKS)]
    tickets = days.loc[days["category"].isin(_FLOW_CATEGORIES) & (days["day"] >= first.date())]
    if tickets.empty:
        return pd.DataFrame({"week": weeks, "created": 0, "resolved": 0})
    table = tickets.assign(week=tickets["day"].map(week_label)).pivot_table(
        index="week", columns="category", values="events", aggfunc="sum", fill_value=0).reindex(
        index=weeks, columns=list(_FLOW_CATEGORIES), fill_value=0)
    return pd.DataFrame({"week": weeks, "created": table["ticket_created"].to_numpy(dtype=int),
                         "resolved": table["ticket_resolved"].to_numpy(dtype=int)})


def latency_trend(samples: dict[str, pd.DataFrame], period: Period,
                  *, now: datetime | None = None) -> pd.DataFrame:
    """Median and p90 of each latency for the last few periods, this one last."""
    periods = [period]
    for _ in range(TREND_WEEKS - 1):
        periods.insert(0, periods[0].previous())
    rows = []
    for each in periods:
        for name in LATENCIES:
            figures = summarize(samples[name], each.start, each.end, now)
            rows.append({"week": short_label(each), "latency": name, "median_hours": figures["median_hours"],
                         "p90_hours": figures["p90_hours"]})
    return pd.DataFrame(rows, columns=["week", "latency", "median_hours", "p90_hours"])


MOST_RUNS_DRAWN = 2000  # past this many runs an interactive chart draws each day's best, one point a day


def kpi_points(runs: pd.DataFrame, goal: str = "max") -> pd.DataFrame:
    """The points the dashboard's KPI chart draws of ``runs`` (``at``, ``value``, ``run``; in time order):
    every run, or past :data:`MOST_RUNS_DRAWN` each day's best, its ``run`` saying how many runs it
    stands for ("312 runs") — a year of sweeps is 70,000 runs, too many marks for a browser to draw.
    Its words (:func:`glassbox.chart_words.kpi_words`) are those of ``runs``, not of the points."""
    if len(runs) <= MOST_RUNS_DRAWN:
        return runs
    days = runs.assign(at=runs["at"].dt.normalize()).groupby("at", as_index=False).agg(
        value=("value", "max" if goal == "max" else "min"), run=("run", "count"))
    return days.assign(run=days["run"].astype(str) + " runs")
