"""The shared charts: each renders to SVG from a small frame, and a source keeps its colour everywhere."""

from __future__ import annotations

import re

import altair as alt
import pandas as pd
import pytest

from glassbox import charts
from glassbox.chart_words import activity_words, kpi_words
from glassbox.metrics import chart_data

DAYS = pd.date_range("2026-11-16", periods=3)


def activity() -> pd.DataFrame:
    return pd.DataFrame({"day": [DAYS[0], DAYS[0], DAYS[1], DAYS[2]], "source": ["git", "jira", "github", "mlflow"],
                         "events": [3, 2, 4, 5]})


def every_chart() -> dict[str, alt.TopLevelMixin]:
    kpi = pd.DataFrame({"at": pd.to_datetime(["2026-11-16 10:00", "2026-11-17 10:00"], utc=True),
                        "value": [0.80, 0.83], "run": ["<script>alert(1)</script>", "b"]})
    return {
        "activity": charts.activity_by_day(activity()),
        "trend": charts.latency_trend(pd.DataFrame({"week": ["W46", "W47"], "median_hours": [2.0, None],
                                                    "p90_hours": [6.0, None]})),
        "distribution": charts.latency_distribution(pd.DataFrame({"latency": ["pr_pickup"] * 3, "hours": [1, 2, 9]})),
        "kpi": charts.kpi_progress(kpi, "val_auc", goal="max", target=0.85),
        "flow": charts.ticket_flow(pd.DataFrame({"week": ["W46", "W47"], "created": [3, 4], "resolved": [2, 5]})),
    }


@pytest.mark.parametrize("name", list(every_chart()))
def test_each_chart_renders_to_svg(name: str) -> None:
    svg = charts.to_svg(every_chart()[name])
    assert svg.startswith("<svg") and "</svg>" in svg
    assert "<script" not in svg


def test_ticket_flow_weeks_read_in_time_order_not_as_text() -> None:
    weeks = ["12 Oct", "19 Oct", "26 Oct", "2 Nov", "9 Nov", "16 Nov"]
    frame = pd.DataFrame({"week": weeks, "created": [1] * 6, "resolved": [0] * 6})
    assert charts.ticket_flow(frame).to_dict()["encoding"]["x"]["scale"]["domain"] == weeks


def test_a_source_has_the_same_colour_in_every_chart() -> None:
    spec = charts.activity_by_day(activity()).to_dict()
    scale = spec["encoding"]["color"]["scale"]
    assert dict(zip(scale["domain"], scale["range"], strict=True)) == charts.SOURCE_COLORS
    svg = charts.to_svg(charts.activity_by_day(activity()))
    for colour in charts.SOURCE_COLORS.values():
        assert colour in svg


def test_svgs_inlined_together_have_unique_ids() -> None:
    first, second = (charts.to_svg(charts.activity_by_day(activity())) for _ in range(2))
    ids = re.findall(r'\bid="([^"]+)"', first + second)
    assert ids and len(ids) == len(set(ids))
    for reference in re.findall(r"url\(#([^)]+)\)", first):
        assert f'id="{reference}"' in first


def test_best_so_far_follows_the_goal() -> None:
    frame = pd.DataFrame({"at": pd.date_range("2026-11-16", periods=3, tz="UTC"), "value": [0.5, 0.3, 0.4],
                          "run": ["a", "b", "c"]})
    layer = charts.kpi_progress(frame, "loss", goal="min").to_dict()
    values = next(iter(layer["datasets"].values()))
    assert [row["best"] for row in values] == [0.5, 0.3, 0.3]


def test_a_year_of_runs_is_dated_by_month_and_a_week_by_day() -> None:
    """A year-long KPI chart once read "01 Dec01 Jan 01 Feb …": no year, and two labels run together."""
    def x_labels(start: str, periods: int, freq: str) -> list[str]:
        at = pd.date_range(start, periods=periods, freq=freq, tz="UTC")
        frame = pd.DataFrame({"at": at, "value": [0.7 + n / 1000 for n in range(periods)], "run": "r"})
        labels = re.findall(r">([^<>]+)</text>", charts.to_svg(charts.kpi_progress(frame, "auc")))
        return [label for label in labels if re.fullmatch(r"(\d\d )?[A-Z][a-z]{2}( \d{4})?", label)]

    year = x_labels("2025-11-30", 370, "D")
    assert year and all(re.fullmatch(r"[A-Z][a-z]{2} \d{4}", label) for label in year)
    assert "Dec 2025" in year and "Nov 2026" in year
    week = x_labels("2026-11-16", 7, "D")
    assert week and all(re.fullmatch(r"\d\d [A-Z][a-z]{2}", label) for label in week)


@pytest.mark.parametrize("name", ["trend", "distribution"])
def test_hours_axis_of_sub_second_waits_reads_in_tenths(name: str) -> None:
    """Waits of 0.036 s (1e-5 h, a ticket moved by automation) once labelled the hours axis "0.000000"."""
    hours = [0.0, 1e-5]
    chart = (charts.latency_trend(pd.DataFrame({"week": ["W46", "W47"], "median_hours": hours, "p90_hours": hours}))
             if name == "trend" else
             charts.latency_distribution(pd.DataFrame({"latency": ["ticket_pickup"] * 2, "hours": hours})))
    labels = re.findall(r">([^<>]+)</text>", charts.to_svg(chart))
    numbers = [label for label in labels if re.fullmatch(r"[\d.]+", label)]
    # the axis spans at least the first hour, ticked at 0.1 h or more: 0.0 … 1.0 at most one decimal
    assert "0.000000" not in labels and numbers
    assert all(len(label.partition(".")[2]) <= 1 for label in numbers)


def test_the_activity_chart_says_what_it_shows_in_one_sentence() -> None:
    """Its text alternative: a screen reader (and a mail client without SVG) gets the total and the peak."""
    frame = pd.DataFrame({"day": pd.to_datetime(["2026-11-23", "2026-11-23", "2026-11-24"]),
                          "source": ["git", "jira", "git"], "events": [2, 3, 1]})
    assert activity_words(frame) == "Activity per day: 6 events; the busiest day was Mon 23 Nov 2026 with 5."
    assert activity_words(frame.iloc[:0]) == "Activity per day: no events."


def test_no_chart_label_reads_undefined() -> None:
    frame = pd.DataFrame({"day": pd.to_datetime(["2026-11-23", "2026-11-24"]), "source": ["git", "jira"],
                          "events": [2, 0]})
    assert "undefined" not in charts.to_svg(charts.activity_by_day(frame))


def test_a_trend_past_two_days_reads_in_days() -> None:
    """228 hours on an axis is nine and a half days: past 48 h the trend is drawn in days."""
    short = charts.latency_trend(pd.DataFrame({"week": ["16 Nov", "23 Nov"], "median_hours": [2.0, 30.0],
                                               "p90_hours": [6.0, 40.0]})).to_dict()
    long = charts.latency_trend(pd.DataFrame({"week": ["16 Nov", "23 Nov"], "median_hours": [2.0, 120.0],
                                              "p90_hours": [6.0, 228.0]})).to_dict()
    assert short["encoding"]["y"]["title"] == "hours"
    assert long["encoding"]["y"]["title"] == "days"
    values = {(row["week"], row["statistic"]): row["value"] for row in long["datasets"][long["data"]["name"]]}
    assert values[("23 Nov", "p90")] == 9.5 and values[("23 Nov", "median")] == 5.0


@pytest.mark.parametrize("goal", ["max", "min"])
def test_a_printed_chart_draws_one_dot_where_many_overlap_and_keeps_every_new_best(goal: str) -> None:
    """1,000 runs in one day, their values within a hundredth: a printed chart draws a few of them,
    with every run that moves the best-so-far line or bounds the axes, so the line is the same."""
    at = pd.Series(pd.date_range("2026-01-01", periods=10, freq="30D", tz="UTC").append(
        pd.date_range("2026-11-20", periods=1000, freq="1min", tz="UTC")))
    values = [0.5 + n / 100 for n in range(10)] + [0.6 + (n % 97) / 10_000 for n in range(1000)]
    frame = pd.DataFrame({"at": at, "value": values, "run": [f"r{n}" for n in range(len(at))]})
    printed = charts.printed_runs(frame, goal)
    assert len(printed) < len(frame) / 5
    def best_line(runs: pd.DataFrame) -> pd.DataFrame:
        data = next(iter(charts.kpi_progress(runs, "auc", goal=goal).to_dict()["datasets"].values()))
        steps = pd.DataFrame(data)
        return steps.loc[steps["best"].ne(steps["best"].shift()), ["at", "best"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(best_line(printed), best_line(frame))
    assert printed["at"].min() == frame["at"].min() and printed["at"].max() == frame["at"].max()
    assert printed["value"].min() == frame["value"].min() and printed["value"].max() == frame["value"].max()


def test_past_two_thousand_runs_the_kpi_chart_draws_each_days_best_and_its_words_count_every_run() -> None:
    """Five days of 500 runs, one a minute from 08:00: five points, each its day's best and how many
    runs it stands for, while the sentence counts all 2,500 runs and ends on the latest one's result."""
    days = pd.date_range("2026-11-30", periods=5, freq="D", tz="America/New_York")
    runs = pd.DataFrame([{"at": day + pd.Timedelta(hours=8, minutes=n), "value": 0.70 + 0.01 * d + n / 1e6,
                          "run": f"sweep-{d}-{n}"} for d, day in enumerate(days) for n in range(500)])
    runs.loc[100, "value"] = 0.80  # the first day's best, and the best of all

    points = chart_data.kpi_points(runs, "max")

    assert points["at"].tolist() == list(days)
    assert points["value"].round(6).tolist() == [0.80, 0.710499, 0.720499, 0.730499, 0.740499]
    assert set(points["run"]) == {"500 runs"}
    assert kpi_words(runs, "val_auc", "max", 0.85) == (
        "val_auc per run: 2500 runs, best so far 0.8, latest 0.7405; target 0.85.")
    assert len(chart_data.kpi_points(runs.head(2000), "max")) == 2000  # up to 2,000 runs, each is drawn
