"""The Portfolio (glassbox/portfolio.py): the engagement needing attention most comes first, and a
row's figures are its week's report's."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from seed import seed_store, write_config

from glassbox import readmodel
from glassbox.config import Agreement, Config, load_config
from glassbox.events import Event, Ref, event_id
from glassbox.metrics.summary import open_waits_on_people
from glassbox.periods import Period, iso_week
from glassbox.portfolio import HEADLINE, PortfolioRow, _kpi_text, agreements_breached, engagement_week, ranked
from glassbox.readmodel.update import mark_stale
from glassbox.readmodel.weeks import current_week, kept_week
from glassbox.report_model import ReportModel
from glassbox.store import Store
from glassbox.views import View
from glassbox.workspace import open_engagement

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from seed_store import seed  # noqa: E402  (bench/ is a folder of scripts, not a package)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WEEK = {"commits": 0, "pull_requests_merged": 0, "tickets_resolved": 0, "runs": 0}
CALM = PortfolioRow(engagement="calm", name="Calm", last_ok=NOW, sync_failed=False, stale=False,
                    this_week=WEEK, last_week=WEEK, team_waits=0, oldest_team_wait_hours=None,
                    agreements_breached=None, kpi="", kpi_falling=False, alerts=0)


def test_a_failed_or_stale_sync_outranks_breaches_which_outrank_the_oldest_wait_then_a_falling_kpi() -> None:
    rows = [
        replace(CALM, engagement="kpi", name="A kpi", kpi_falling=True),
        replace(CALM, engagement="wait-30", name="B wait", oldest_team_wait_hours=30.0),
        replace(CALM, engagement="wait-50", name="C wait", oldest_team_wait_hours=50.0),
        replace(CALM, engagement="breach", name="D breach", agreements_breached=2),
        replace(CALM, engagement="stale", name="E stale", stale=True, last_ok=None),
        replace(CALM, engagement="failed", name="F failed", sync_failed=True),
        CALM,
    ]
    order = [row.engagement for row in ranked(rows)]
    assert order == ["stale", "failed", "breach", "wait-50", "wait-30", "kpi", "calm"]  # ties by name


def test_attention_says_why_in_words() -> None:
    row = replace(CALM, sync_failed=True, agreements_breached=1, oldest_team_wait_hours=72.0, kpi_falling=True)
    assert row.attention == ["last sync failed", "1 agreement(s) breached", "a wait on the team for 3 d",
                             "KPI falling"]
    assert replace(CALM, stale=True, last_ok=None).attention == ["never synced"]
    assert CALM.attention == []


def test_agreements_count_only_where_some_were_agreed() -> None:
    assert agreements_breached({"counts": {}}) is None
    assert agreements_breached({"agreements": []}) is None, "no agreement configured: nothing to breach"
    assert agreements_breached({"agreements": [{"met": True, "open_breaching": 0}, {"met": False},
                                               {"met": None, "open_breaching": 1}]}) == 2


# -- a row's figures are the week's report's -----------------------------------------------------
# The row reads only what it shows (the read model's day counts and waits, the run events); each
# figure must be what the whole report of the week (ReportModel) gives, in every view, for the week
# still running and the one before (whose tickets have moved since), on the demo engagement and on a
# seeded benchmark store, with working agreements, on both stores.

AGREEMENTS = [Agreement(latency="client_response", within_working_hours=2),
              Agreement(latency="ticket_cycle", within_hours=48, target_share=0.8),
              Agreement(latency="pr_pickup", within_hours=4)]


def shown(row: PortfolioRow) -> dict[str, Any]:
    """What a row shows of the week (not its sync health, read the same way on both paths)."""
    return {name: getattr(row, name) for name in ("this_week", "last_week", "team_waits", "oldest_team_wait_hours",
                                                  "agreements_breached", "kpi", "kpi_falling", "alerts")}


def from_report(store: Store, config: Config, period: Period, view: View, now: datetime) -> dict[str, Any]:
    """The same figures off the week's whole report."""
    model = ReportModel.load(store, config, period, view, now)
    report = model.report
    waits = open_waits_on_people(model.samples, min(now, period.end), config.team)
    on_team = waits.loc[waits["on"] == "team"]
    return {"this_week": {name: report["counts"][name] for name in HEADLINE},
            "last_week": {name: report["previous"]["counts"][name] for name in HEADLINE},
            "team_waits": len(on_team),
            "oldest_team_wait_hours": float(on_team["hours"].max()) if not on_team.empty else None,
            "agreements_breached": agreements_breached(report), "kpi": _kpi_text(report["experiments"]),
            "kpi_falling": any(alert.get("kind") == "metric_drop" for alert in report["alerts"]),
            "alerts": len(report["alerts"])}


def assert_rows_are_the_reports(store: Store, config: Config, now: datetime) -> list[dict[str, Any]]:
    zone = config.engagement.zone
    this_week = iso_week(now.astimezone(zone).date(), zone)
    readmodel.ensure_current(store, config)
    rows = []
    for period in (this_week, this_week.previous()):
        for view in View:
            row = engagement_week(store, config, period, view, now)
            assert shown(row) == from_report(store, config, period, view, now), (period.label, view)
            rows.append(shown(row))
    mark_stale(store)  # a stale read model: the row is read off the report, the same figures
    assert [shown(engagement_week(store, config, period, view, now))
            for period in (this_week, this_week.previous()) for view in View] == rows
    return rows


def test_a_row_is_its_weeks_report_on_the_demo_engagement(store: Store, tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path / "demo", "sqlite:///unused.db"))
    config = config.model_copy(update={"agreement": AGREEMENTS})
    seed_store(store, config, now=NOW, weeks=6)
    store.write([unanswered(config, NOW - timedelta(hours=30))])
    rows = assert_rows_are_the_reports(store, config, NOW)
    this_week = rows[0]
    assert sum(this_week["this_week"].values()) and sum(this_week["last_week"].values())
    assert this_week["team_waits"] and this_week["agreements_breached"] is not None and this_week["kpi"]
    assert any(row["alerts"] for row in rows), "the demo's regression and sweep drop are the week's alerts"


def unanswered(config: Config, at: datetime) -> Event:
    """A ticket the client opened that nobody has answered or picked up: waits on the team."""
    origin = config.jira[0].origin(config.folder)
    return Event(id=event_id("jira", origin, "CHURN-777:created"), source="jira", origin=origin,
                 category="ticket_created", occurred_at=at, actor="carol-acme", thread="CHURN-777",
                 title="Scores missing for the renewals segment", refs=(Ref("ticket", "CHURN-777"),),
                 attrs={"key": "CHURN-777", "status": "To Do", "status_category": "new", "waiting": False})


@pytest.fixture(params=["sqlite", "postgresql"])
def bench_engagement(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """bench/seed_store.py's engagement of 3,000 events over the last year, on each store."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else "sqlite:///glassbox.db"
    return seed(tmp_path / "bench", 3000, store_url=url)


def test_a_row_is_its_weeks_report_on_a_seeded_benchmark_store(bench_engagement: Path) -> None:
    config = load_config(bench_engagement).model_copy(update={"agreement": AGREEMENTS})
    store = open_engagement(config)
    now = datetime.now(UTC)
    readmodel.ensure_current(store, config)  # its agreements are new: a rebuild, which keeps this week's runs
    assert all(kept_week(store, view, current_week(config, now)) for view in View), "this week's row reads them"
    rows = assert_rows_are_the_reports(store, config, now)
    assert sum(rows[2]["this_week"].values()), "last week had events"
    store.engine.dispose()
