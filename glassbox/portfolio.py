"""The Portfolio page's figures (SPEC §6): one row per engagement, ranked by its need of attention.

Every figure of a row comes from :func:`engagement_week`, the one place that knows how: this week
against last (from the week's report, :class:`~glassbox.report_model.ReportModel`), the waits open
on the team now, the KPIs' best against their targets, alerts, agreements breached, and the state of
the last sync. :func:`ranked` orders the rows: a failed or stale sync first (nothing else on the row
can be trusted), then breached agreements, the oldest wait on the team, a KPI falling.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from glassbox.config import Config
from glassbox.metrics.summary import open_waits_on_people
from glassbox.periods import Period
from glassbox.report_model import ReportModel
from glassbox.sources import configured_sources
from glassbox.store import Store
from glassbox.sync import FAILED_STATES
from glassbox.views import View

HEADLINE = ("commits", "pull_requests_merged", "tickets_resolved", "runs")  # this week against last
STALE_AFTER = timedelta(hours=24)  # a last successful sync older than this needs attention


@dataclass(frozen=True)
class PortfolioRow:
    """One engagement's week at a glance. ``agreements_breached`` is ``None`` until agreements (§7) exist."""

    engagement: str
    name: str
    last_ok: datetime | None
    sync_failed: bool
    stale: bool
    this_week: dict[str, int]
    last_week: dict[str, int]
    team_waits: int
    oldest_team_wait_hours: float | None
    agreements_breached: int | None
    kpi: str
    kpi_falling: bool
    alerts: int

    @property
    def attention(self) -> list[str]:
        """Why this engagement needs someone to look, most urgent first (empty: it does not)."""
        reasons = []
        if self.sync_failed:
            reasons.append("last sync failed")
        elif self.stale:
            reasons.append("not synced in 24 h" if self.last_ok else "never synced")
        if self.agreements_breached:
            reasons.append(f"{self.agreements_breached} agreement(s) breached")
        if self.oldest_team_wait_hours is not None and self.oldest_team_wait_hours >= 24:
            reasons.append(f"a wait on the team for {self.oldest_team_wait_hours / 24:.0f} d")
        if self.kpi_falling:
            reasons.append("KPI falling")
        return reasons


def engagement_week(store: Store, config: Config, period: Period, view: View, now: datetime) -> PortfolioRow:
    """``config``'s row for ``period`` (a week, compared with the one before) as ``view`` sees it."""
    model = ReportModel.load(store, config, period, view, now)
    report = model.report
    waits = open_waits_on_people(model.samples, min(now, period.end), config.team)
    on_team = waits.loc[waits["on"] == "team"]
    last_ok, failed = _sync_health(store, config)
    return PortfolioRow(
        engagement=config.engagement_id,
        name=config.engagement.name,
        last_ok=last_ok,
        sync_failed=failed,
        stale=last_ok is None or now - last_ok > STALE_AFTER,
        this_week={name: int(report["counts"][name]) for name in HEADLINE},
        last_week={name: int(report["previous"]["counts"][name]) for name in HEADLINE},
        team_waits=len(on_team),
        oldest_team_wait_hours=float(on_team["hours"].max()) if not on_team.empty else None,
        agreements_breached=agreements_breached(report),
        kpi=_kpi_text(report["experiments"]),
        kpi_falling=any(alert.get("kind") == "metric_drop" for alert in report["alerts"]),
        alerts=len(report["alerts"]),
    )


def agreements_breached(report: dict[str, Any]) -> int | None:
    """How many working agreements (SPEC §7) the period missed — not met, or with waits already past
    their limit; ``None`` when the engagement has agreed none (the row then says so)."""
    agreements = report.get("agreements")
    if not agreements:
        return None
    return sum(1 for item in agreements if item.get("met") is False or item.get("open_breaching"))


def ranked(rows: list[PortfolioRow]) -> list[PortfolioRow]:
    """Rows needing attention first: a failed or stale sync, breached agreements, the oldest wait
    on the team, a KPI falling; then by name."""
    def key(row: PortfolioRow) -> tuple[Any, ...]:
        return (not (row.sync_failed or row.stale), -(row.agreements_breached or 0),
                -(row.oldest_team_wait_hours or 0.0), not row.kpi_falling, row.name.casefold())
    return sorted(rows, key=key)


def _sync_health(store: Store, config: Config) -> tuple[datetime | None, bool]:
    """The newest successful sync of any configured source, and whether any source's last sync failed."""
    runs = store.sync_runs()
    newest_ok: list[pd.Timestamp] = []
    failed = False
    for spec in configured_sources(config):
        mine = runs.loc[(runs["source"] == spec.kind) & (runs["origin"] == spec.origin(config))]
        ok = mine.loc[mine["status"] == "ok", "finished_at"]
        newest_ok.extend(ok.head(1))
        failed = failed or (not mine.empty and str(mine.iloc[0]["status"]) in FAILED_STATES)
    return (max(newest_ok).to_pydatetime() if newest_ok else None), failed


def _kpi_text(experiments: list[dict[str, Any]]) -> str:
    """The first KPI's best against its target (``val_auc 0.83 / 0.85``), or an empty string."""
    for entry in experiments:
        kpi, best = entry.get("kpi"), entry.get("best")
        if kpi and best and best.get("value") is not None:
            target = kpi.get("target")
            return f"{kpi['metric']} {best['value']:.3g}" + (f" / {target:.3g}" if target is not None else "")
    return ""
