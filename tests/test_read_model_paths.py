"""The read model gives every figure the old whole-history path gave, on the seeded and the hand-built
engagements: the report JSON of several weeks in both views, and each dashboard loader that reads it.

The old path is the metric functions run over the view's whole timeline up to the period's end
(:meth:`ReportModel.build` without samples); the new one reads the period's waits from the read model.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from seed import seeded_engagement
from test_summary import CONFIG, NOW, created, engagement, moved

from dashboard import loaders
from glassbox import readmodel
from glassbox.config import Config, load_config
from glassbox.metrics.latency import LATENCIES, compute_all_latencies
from glassbox.periods import Period, iso_week
from glassbox.report_model import ReportModel, load_history
from glassbox.store import Store
from glassbox.timeline import load_timeline
from glassbox.views import View
from glassbox.workspace import open_engagement

SEED_NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)


def old_report(store: Store, config: Config, period: Period, view: View, now: datetime) -> dict:
    history = load_history(store, config, period, view)
    return json.loads(json.dumps(ReportModel.build(history, config, period, view, now).report, default=str))


def new_report(store: Store, config: Config, period: Period, view: View, now: datetime) -> dict:
    model = ReportModel.load(store, config, period, view, now)
    assert readmodel.is_current(store, config)
    return json.loads(json.dumps(model.report, default=str))


def weeks_before(day: date, config: Config, count: int) -> list[Period]:
    return [iso_week(day - timedelta(weeks=n), config.engagement.zone) for n in range(count)]


@pytest.fixture
def hand_built(store: Store) -> Store:
    readmodel.attach(store, CONFIG)
    readmodel.ensure_current(store, CONFIG)
    store.write(engagement())
    return store


@pytest.mark.parametrize("view", list(View))
def test_hand_built_reports_are_the_same_from_the_read_model(hand_built: Store, view: View) -> None:
    for period in weeks_before(date(2026, 11, 16), CONFIG, 4):  # W47 (running at NOW) back to W44
        assert new_report(hand_built, CONFIG, period, view, NOW) == old_report(hand_built, CONFIG, period, view, NOW)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Config, Path]:
    path = seeded_engagement(tmp_path_factory.mktemp("seeded"), now=SEED_NOW)
    config = load_config(path)
    store = open_engagement(config)
    readmodel.rebuild(store, config)
    return store, config, path


@pytest.mark.parametrize("view", list(View))
def test_seeded_reports_are_the_same_from_the_read_model(seeded: tuple[Store, Config, Path], view: View) -> None:
    store, config, _ = seeded
    for period in weeks_before(SEED_NOW.date(), config, 5):
        old = old_report(store, config, period, view, SEED_NOW)
        assert new_report(store, config, period, view, SEED_NOW) == old, period.label
        assert any(figures["n"] for figures in old["latency"].values())


@pytest.mark.parametrize("view", list(View))
def test_dashboard_loaders_read_the_same_waits(seeded: tuple[Store, Config, Path], view: View) -> None:
    store, config, path = seeded
    source = loaders.source(str(path), config.store_url, config.engagement_id)
    week = iso_week(SEED_NOW.date(), config.engagement.zone)
    weeks = tuple((p.label, p.start, p.end) for p in weeks_before(SEED_NOW.date(), config, 6))

    def frames() -> dict[str, object]:
        st.cache_data.clear()
        st.cache_resource.clear()
        report = loaders.report(source, view, week, None)
        return {"samples": loaders.latency_samples(source, view),
                "open": loaders.open_waits_now(source, view, SEED_NOW),
                "trend": loaders.latency_trend(source, view, weeks, SEED_NOW),
                "distribution": loaders.latency_distribution(source, view, week.start, week.end),
                "flow": loaders.ticket_flow(source, view, week.label, week.start, week.end),
                "report": {key: value for key, value in report.report.items() if key != "generated_at"}}

    new = frames()
    everything = compute_all_latencies(load_timeline(store, config, view=view), config)
    for name in LATENCIES:
        pd.testing.assert_frame_equal(new["samples"][name], everything[name], check_dtype=False, obj=name)
    with store.engine.begin() as conn:  # stale: the loaders measure from the events, as before
        conn.exec_driver_sql("DELETE FROM meta WHERE key LIKE 'readmodel:%'")
    try:
        old = frames()
    finally:
        readmodel.rebuild(store, config)
    assert new["flow"]["created"].sum() > 0, "tickets in the flow's weeks to compare"
    for name in ("open", "trend", "distribution", "flow"):
        pd.testing.assert_frame_equal(new[name], old[name], check_dtype=False, obj=name)
    assert new["report"] == old["report"]


def test_the_distribution_draws_quantiles_but_counts_every_wait_that_ended(seeded: tuple[Store, Config, Path]) -> None:
    _, config, path = seeded
    source = loaders.source(str(path), config.store_url, config.engagement_id)
    week = iso_week(SEED_NOW.date(), config.engagement.zone)
    st.cache_data.clear()
    drawn = loaders.latency_distribution(source, View.TEAM, week.start, week.end, points=3)
    for name, frame in loaders.latency_samples(source, View.TEAM).items():
        ended = int(frame["ended_at"].between(week.start, week.end, inclusive="left").sum())
        mine = drawn.loc[drawn["latency"] == name]
        assert len(mine) == min(ended, 3) and set(mine["waits"]) == ({ended} if ended else set()), name
    assert drawn["waits"].max() > 3  # some latency had more waits than ticks


def test_a_ticket_reopened_after_the_week_keeps_that_weeks_figures(store: Store) -> None:
    """CHURN-9 is done in W45 and reopened in W46: W45's report still says it took 24 h of work and
    48 h in all (as at W45's end), though the latest rows end its cycle in W46."""
    readmodel.attach(store, CONFIG)
    readmodel.ensure_current(store, CONFIG)
    store.write([
        created("2026-11-02 10:00", "carol-acme", "CHURN-9", "Reopened later"),
        moved("2026-11-03 10:00", "CHURN-9", "In Progress", "indeterminate", "new"),  # pickup 24 h
        moved("2026-11-04 10:00", "CHURN-9", "Done", "done", "indeterminate"),  # cycle 24 h, lead 48 h
        moved("2026-11-10 10:00", "CHURN-9", "In Progress", "indeterminate", "done"),  # W46: reopened
        moved("2026-11-12 10:00", "CHURN-9", "Done", "done", "indeterminate"),
    ])
    week = iso_week(date(2026, 11, 2), CONFIG.engagement.zone)
    new = new_report(store, CONFIG, week, View.TEAM, NOW)
    assert new == old_report(store, CONFIG, week, View.TEAM, NOW)
    assert (new["latency"]["ticket_cycle"]["n"], new["latency"]["ticket_cycle"]["median_hours"]) == (1, 24.0)
    assert (new["latency"]["ticket_lead"]["n"], new["latency"]["ticket_lead"]["open"]) == (1, 0)
    assert new["latency"]["ticket_lead"]["median_hours"] == 48.0
