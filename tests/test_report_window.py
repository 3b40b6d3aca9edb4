"""A report read from its window says exactly what the metric functions say over the whole history.

The window is what :class:`glassbox.report_model.ReportModel` reads from a store whose read model is
current: the period's waits, its events, the previous period's commits and day counts, the runs,
and the few events of older threads each figure needs (a merged PR's earlier events, the titles of
the threads still waiting, a reopened ticket's history, a paused ticket's status changes). The
engagement is the benchmarks' own (``bench/seed_store.py``): a year of events in which every ticket
and pull request thread is spread over the whole year, so a figure that needed an older event the
window left out would move. With working agreements on a paused latency and an unpaused one, on both
stores.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from conftest import pg_schema
from test_read_model_paths import old_report, weeks_before

from glassbox import readmodel
from glassbox.config import Config, load_config
from glassbox.report_model import ReportModel, load_history
from glassbox.reports import SPEC_KEYS
from glassbox.store import Store
from glassbox.views import View
from glassbox.workspace import open_engagement

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from seed_store import seed  # noqa: E402  (bench/ is not a package)

NOW = datetime.now(UTC)
AGREEMENTS = """
[[agreement]]
latency = "ticket_cycle"
within_hours = 72
target_share = 0.8

[[agreement]]
latency = "client_response"
within_working_hours = 8
target_share = 0.9
"""


@pytest.fixture(scope="module")
def module_pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for this module's engagement (conftest's ``pg_schema``, once per module)."""
    with pg_schema() as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engagement(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Config]:
    """The benchmarks' engagement of 3,000 events, with the agreements, its read model current."""
    folder = tmp_path_factory.mktemp("bench-engagement")
    url = "sqlite:///glassbox.db" if request.param == "sqlite" else request.getfixturevalue("module_pg_url")
    path = seed(folder, 3000, store_url=url)
    path.write_text(path.read_text() + AGREEMENTS)
    config = load_config(path)
    store = open_engagement(config)
    readmodel.rebuild(store, config)
    return store, config


def as_json(report: dict) -> dict:
    return json.loads(json.dumps(report, default=str))


@pytest.mark.parametrize("view", list(View))
def test_every_week_of_the_benchmark_engagement_is_the_same_from_its_window(engagement: tuple[Store, Config],
                                                                            view: View) -> None:
    """Every figure, and the activity and ticket flow charts (summed from the day counts)."""
    store, config = engagement
    olds = []
    for period in weeks_before(NOW.date(), config, 4):  # this week, running, back to three weeks before
        old = ReportModel.build(load_history(store, config, period, view), config, period, view, NOW)
        new = ReportModel.load(store, config, period, view, NOW)
        olds.append(as_json(old.report))
        assert as_json(new.report) == olds[-1], period.label
        assert new.day_counts is not None and old.day_counts is None
        pd.testing.assert_frame_equal(new.activity, old.activity, obj=f"{period.label} activity")
        pd.testing.assert_frame_equal(new.flow, old.flow, obj=f"{period.label} flow")
    assert all(old["waiting"] for old in olds), "open waits (their titles) to compare"
    assert any(old["shipped"]["pull_requests"] for old in olds), "merged PRs (their tickets) to compare"
    assert any(old["agreements"][0]["n"] for old in olds), "paused tickets to compare"
    assert all(old["previous"]["counts"]["comments"] and old["previous"]["links"]["commits_with_ticket"]
               and old["previous"]["links"]["runs_with_commit"] for old in olds[1:]), \
        "the previous weeks' counts and links (from the day counts and its commits) to compare"


@pytest.mark.parametrize("view", list(View))
def test_the_json_format_reads_no_titles_and_says_the_same(engagement: tuple[Store, Config], view: View) -> None:
    """The ``json`` format is SPEC §5's keys only, so it never reads the waiting threads' titles."""
    store, config = engagement
    period = weeks_before(NOW.date(), config, 2)[1]
    model = ReportModel.load(store, config, period, view, NOW)
    spec = json.loads(json.dumps(model.spec(), default=str))
    assert "heads" not in model.__dict__ and "report" not in model.__dict__
    assert spec == {key: old_report(store, config, period, view, NOW)[key] for key in SPEC_KEYS}
