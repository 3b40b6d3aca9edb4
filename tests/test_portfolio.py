"""The Portfolio's order (glassbox/portfolio.py): the engagement needing attention most comes first."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from glassbox.portfolio import PortfolioRow, agreements_breached, ranked

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
