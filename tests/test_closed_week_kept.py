"""A closed week's report says what was true at its end, so a sync that brings only what came later
leaves it as it was — what lets the dashboard keep it (``loaders.as_of``) while the week's mark
(``Store.changed_before``) stays the same.

The engagement is the benchmarks' stream (``bench/seed_store.py``), cut in two: everything up to the
Tuesday after the week, then, through the real sync path, the rest of the stream up to "now" — the
tickets open at the week's end moving on and resolving, pull requests reviewed and merged, comments,
commits and runs. Both views, both stores.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import pytest
import streamlit as st

from dashboard import loaders
from glassbox import readmodel
from glassbox.config import Config, load_config
from glassbox.events import Event, event_id
from glassbox.periods import Period, iso_week
from glassbox.report_model import ReportModel
from glassbox.store import Store
from glassbox.sync import sync_connectors
from glassbox.views import View
from glassbox.workspace import open_engagement

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from seed_store import SeedSource, seed, synthetic_events  # noqa: E402  (bench/ is not a package)

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # a Friday afternoon; the week before it is closed


class Engagement(NamedTuple):
    store: Store
    config: Config
    path: Path
    week: Period  # the week before NOW's, closed
    later: list[Event]  # the stream after the Tuesday that follows it, not yet written


@pytest.fixture(params=["sqlite", "postgresql"])
def engagement(request: pytest.FixtureRequest, tmp_path: Path) -> Engagement:
    """The stream's first part written and derived; the rest still to come."""
    url = "sqlite:///glassbox.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    path = seed(tmp_path, 0, store_url=url)
    config = load_config(path)
    store = open_engagement(config)
    zone = config.engagement.zone
    week = iso_week((NOW - timedelta(days=7)).astimezone(zone).date(), zone)
    cut = (week.end + timedelta(days=1)).astimezone(UTC).replace(hour=0, minute=0)  # past the week's UTC day
    stream = list(synthetic_events(4000, 11, NOW, days=120))
    store.write([item for item in stream if item.occurred_at < cut])
    readmodel.rebuild(store, config)
    return Engagement(store, config, path, week, [item for item in stream if item.occurred_at >= cut])


def report(store: Store, config: Config, week: Period, view: View) -> dict:
    figures = ReportModel.load(store, config, week, view.value, NOW).report
    return json.loads(json.dumps({key: value for key, value in figures.items() if key != "generated_at"},
                                 default=str))


def test_a_sync_of_later_events_changes_neither_the_closed_weeks_report_nor_its_team_mark(
        engagement: Engagement) -> None:
    store, config, _, week, later = engagement
    before = {view: report(store, config, week, view) for view in View}
    mark = store.changed_before(week.end, View.TEAM)
    earlier_threads = set(store.read_events(end=week.end, columns=("thread",))["thread"])
    moved_on = {item.category for item in later if item.thread in earlier_threads}
    assert {"ticket_transition", "comment", "review"} <= moved_on  # the week's open threads go on

    summaries = sync_connectors(config, store, [SeedSource(later)])

    assert all(summary.ok for summary in summaries) and summaries[0].counts.new == len(later)
    assert store.changed_before(week.end, View.TEAM) == mark
    for view in View:
        assert report(store, config, week, view) == before[view], view


def test_an_event_of_the_closed_week_changes_its_mark_and_its_report(
        engagement: Engagement) -> None:
    store, config, _, week, _ = engagement
    before, mark = report(store, config, week, View.TEAM), store.changed_before(week.end, View.TEAM)
    late = Event(id=event_id("jira", "https://jira", "late-comment"), source="jira", origin="https://jira",
                 category="comment", occurred_at=week.end - timedelta(hours=30), actor="carol", thread="CHURN-1",
                 title="Comment on CHURN-1", body="Synced late, dated in the week.")

    sync_connectors(config, store, [SeedSource([late])])

    assert store.changed_before(week.end, View.TEAM) > mark
    assert report(store, config, week, View.TEAM)["counts"] != before["counts"]


def test_the_dashboard_keeps_a_closed_weeks_report_across_a_sync_of_later_events(engagement: Engagement) -> None:
    store, config, path, week, later = engagement
    st.cache_data.clear()
    st.cache_resource.clear()
    source = loaders.source(str(path), config.store_url, config.engagement_id)
    model = loaders.report(source, View.TEAM, week, None)

    sync_connectors(config, store, [SeedSource(later)])
    st.cache_data.clear()  # the store's version is read again, as a minute later

    synced = loaders.source(str(path), config.store_url, config.engagement_id)
    assert synced.version != source.version
    assert loaders.report(synced, View.TEAM, week, None) is model
    this_week = iso_week(datetime.now(UTC).astimezone(config.engagement.zone).date(), config.engagement.zone)
    assert loaders.as_of(synced, View.TEAM, this_week.end) == synced  # a week still running: every sync counts
