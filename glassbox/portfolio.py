"""The Portfolio page's figures (SPEC §6): one row per engagement, ranked by its need of attention.

Every figure of a row comes from :func:`engagement_week`, the one place that knows how: this week
against last, the waits open on the team now, the KPIs' best against their targets, alerts,
agreements breached, and the state of the last sync. :func:`ranked` orders the rows: a failed or
stale sync first (nothing else on the row can be trusted), then breached agreements, the oldest wait
on the team, a KPI falling.

A page lists many engagements, so a row reads only what it shows (issue #17: 50 ms at 1M events):
the read model's day counts, its waits open now, and the week's run figures the last sync kept
(:mod:`glassbox.readmodel.weeks`; measured from the read model's runs for a week it did not keep),
each figure computed by the same metric function the week's report
(:class:`~glassbox.report_model.ReportModel`) calls. While the read model is stale (its config
changed since the last sync) the row is read off the week's whole report instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from glassbox import readmodel
from glassbox.config import Config
from glassbox.metrics.agreements import (
    PAUSED_LATENCIES,
    AgreementFrames,
    agreements_report,
    no_pauses,
    ticket_pause_intervals,
)
from glassbox.metrics.latency import LATENCIES, METRICS
from glassbox.metrics.summary import open_waits_on_people
from glassbox.periods import Period
from glassbox.readmodel.days import category_counts, period_days
from glassbox.readmodel.weeks import kept_week, week_run_figures
from glassbox.report_model import AS_OF_END, ReportModel, merge_samples, tickets_moved_since
from glassbox.slices import status_history
from glassbox.sources import configured_sources, source_keys
from glassbox.store import Store
from glassbox.sync import FAILED_STATES
from glassbox.timeline import load_timeline
from glassbox.views import View
from glassbox.vocabulary import WAITS

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
    """``config``'s row for ``period`` (a week, compared with the one before) as ``view`` sees it.

    Read in one transaction: one state of the store while a sync writes, and one round trip to begin
    and end on PostgreSQL instead of one per query (a dozen)."""
    with store.transaction() as conn:
        return _row(store.bound_to(conn), config, period, view, now)


def _row(store: Store, config: Config, period: Period, view: View, now: datetime) -> PortfolioRow:
    week = (_week_from_read_model(store, config, period, view, now) if readmodel.is_current(store, config)
            else _week_from_report(ReportModel.load(store, config, period, view, now)))
    last_ok, failed = _sync_health(store, config)
    on_team = week.waits.loc[week.waits["on"] == "team"]
    return PortfolioRow(
        engagement=config.engagement_id,
        name=config.engagement.name,
        last_ok=last_ok,
        sync_failed=failed,
        stale=last_ok is None or now - last_ok > STALE_AFTER,
        this_week={name: int(week.counts[name]) for name in HEADLINE},
        last_week={name: int(week.previous_counts[name]) for name in HEADLINE},
        team_waits=len(on_team),
        oldest_team_wait_hours=float(on_team["hours"].max()) if not on_team.empty else None,
        agreements_breached=agreements_breached({"agreements": week.agreements}),
        kpi=_kpi_text(week.experiments),
        kpi_falling=any(alert.get("kind") == "metric_drop" for alert in week.alerts),
        alerts=len(week.alerts),
    )


@dataclass(frozen=True)
class _Week:
    """The parts of a week's report a row shows, under the report's own keys."""

    counts: dict[str, int]
    previous_counts: dict[str, int]
    waits: pd.DataFrame  # open_waits_on_people at the week's end, or now
    agreements: list[dict[str, Any]]
    experiments: list[dict[str, Any]]
    alerts: list[dict[str, Any]]


def _week_from_report(model: ReportModel) -> _Week:
    """The row's parts off the whole report: what a stale read model leaves."""
    report = model.report
    return _Week(counts=report["counts"], previous_counts=report["previous"]["counts"],
                 waits=open_waits_on_people(model.samples, min(model.now, model.period.end), model.config.team),
                 agreements=report["agreements"], experiments=report["experiments"], alerts=report["alerts"])


def _week_from_read_model(store: Store, config: Config, period: Period, view: View, now: datetime) -> _Week:
    """The row's parts from the read model, by the report's own functions.

    The counts are the day counts' sums, with the week's runs; the run figures (runs, KPIs, alerts) are
    those the last sync kept for the week still running (:mod:`glassbox.readmodel.weeks`), measured
    from the read model's runs for any other week; the waits are the read model's samples of the waits
    on the team open at the week's end (or now) and, for working agreements, of their latencies since
    the week began, and the agreements are measured over those.
    """
    until = min(period.end, now)
    samples = _samples(store, config, period, view, now, _latencies_shown(config))
    previous = period.previous()
    runs = kept_week(store, view, period) or week_run_figures(store, config, period, view)
    frames = AgreementFrames(samples, _pauses(store, config, period, view, samples), config.team)
    return _Week(
        counts={**category_counts(store, view, *period_days(period)), "runs": runs.runs},
        previous_counts={**category_counts(store, view, *period_days(previous)), "runs": runs.previous_runs},
        waits=open_waits_on_people(samples, until, config.team),
        agreements=agreements_report(config.agreement, frames, period.start, period.end, now),
        experiments=runs.experiments, alerts=runs.alerts)


def _latencies_shown(config: Config) -> tuple[str, ...]:
    """The latencies a row's figures read: the waits on the team, and those working agreements hold."""
    wanted = {wait.latency for wait in WAITS if wait.on == "team"} | {item.latency for item in config.agreement}
    return tuple(name for name in LATENCIES if name in wanted)


def _samples(store: Store, config: Config, period: Period, view: View, now: datetime,
             latencies: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """The read model's waits of ``latencies`` the week's figures need — open at its end (or now), and
    ended in it when working agreements measure them — with the :data:`~glassbox.report_model.AS_OF_END`
    samples of tickets moved since measured from their events, as the report does (:attr:`ReportModel.samples`)."""
    until = min(period.end, now)
    since = period.start if config.agreement else until
    waits = readmodel.samples(store, view, since=since, until=until, latencies=latencies)
    again = [name for name in AS_OF_END if name in latencies]
    moved = tickets_moved_since(store, until) if again else set()
    if not moved:
        return waits
    tickets = load_timeline(store, config, end=period.end, view=view, ids=sorted(store.event_ids_near(moved, ())))
    tickets = tickets.loc[tickets["occurred_at"] <= pd.Timestamp(now)]
    return {**waits, **{name: merge_samples(waits[name], METRICS[name](tickets, config.team), moved)
                        for name in again}}


def _pauses(store: Store, config: Config, period: Period, view: View,
            samples: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """When the tickets of the paused agreements' waits sat in a waiting status
    (:func:`~glassbox.metrics.agreements.ticket_pause_intervals`, from those tickets' status events)."""
    paused = {agreement.latency for agreement in config.agreement} & PAUSED_LATENCIES
    threads = {thread for name in paused for thread in samples[name]["thread"]}
    if not threads:  # no paused agreement, or no wait of one: nothing to read
        return no_pauses()
    return ticket_pause_intervals(status_history(store, config, view, threads, end=period.end))


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
    runs = store.sync_runs(source_keys(config))
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
