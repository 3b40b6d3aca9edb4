"""What a weekly report says, gathered once and shared by the Markdown, HTML and PDF renderers.

:func:`gather` takes the report dict of :func:`glassbox.metrics.summary.build_report` (SPEC §5 plus
its extras: last period, what shipped, open waits, the runs' story) and adds small aggregated frames
for the charts, computed from the same history and latency samples the report was built on (already
filtered through the report's view), so the client view hides internal work in every format and chart
alike and nothing is read or computed twice.
:meth:`ReportContent.from_report` builds the same thing from a report dict alone (no store), which is
what the renderers' tests use.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from glassbox.config import Config
from glassbox.metrics.latency import LATENCIES, summarize
from glassbox.periods import TREND_WEEKS, Period, PeriodKind, iso_week

log = logging.getLogger(__name__)

FLOW_WEEKS = 8
MAX_LISTED = 15
MAX_NOTE = 280  # characters of a run note a report quotes: notes are free text of any length
MAX_TITLE = 200  # characters of a title a page or report shows: a commit's first line can be any length

COUNT_LABELS = {
    "commits": "commits",
    "pull_requests_opened": "PRs opened",
    "pull_requests_merged": "PRs merged",
    "reviews": "reviews",
    "tickets_created": "tickets created",
    "tickets_resolved": "tickets resolved",
    "comments": "comments",
    "runs": "runs",
}
HEADLINE_COUNTS = ("commits", "pull_requests_merged", "tickets_resolved", "runs")

LATENCY_LABELS = {
    "client_response": "Client message → team reply",
    "client_turnaround": "Waiting on client → client reply",
    "ticket_pickup": "Ticket created → work started",
    "ticket_cycle": "Work started → done",
    "ticket_lead": "Ticket created → done",
    "pr_pickup": "PR opened → first review",
    "pr_merge": "PR opened → merged",
    "commit_to_run": "Commit → first run",
}

# latency name -> (who the open waits are waiting on, what is waiting: one, several)
WAITING_ON = {
    "client_response": ("team", ("client message without a team reply", "client messages without a team reply")),
    "ticket_pickup": ("team", ("ticket not started yet", "tickets not started yet")),
    "pr_pickup": ("team", ("pull request without a review", "pull requests without a review")),
    "pr_merge": ("team", ("pull request open, not merged", "pull requests open, not merged")),
    "ticket_cycle": ("team", ("ticket in progress", "tickets in progress")),
    "client_turnaround": ("client", ("ticket waiting for the client's answer", "tickets waiting for the client's answer")),
}


@dataclass(frozen=True)
class Item:
    """One thing that shipped: a merged pull request or a resolved ticket."""

    kind: str
    thread: str
    title: str
    url: str | None
    at: str


@dataclass(frozen=True)
class Waiting:
    """Open waits of one kind at the period's end, and who has to act."""

    on: str
    what: str
    count: int
    oldest_hours: float | None


@dataclass(frozen=True)
class RunListing:
    """The runs a report lists for one experiment, and how many more the period had."""

    runs: list[dict[str, Any]]
    more: int


@dataclass
class ReportContent:
    """The report dict plus the extras the renderers show; frames are empty when unknown.

    ``previous``, ``shipped``, ``open_items`` and ``kpi_runs`` come from the extra keys of
    :func:`~glassbox.metrics.summary.build_report` when present; ``activity``, ``flow`` and ``trend``
    are chart frames that :func:`gather` reads from the store.
    """

    report: dict[str, Any]
    timezone: str = "UTC"
    previous: dict[str, int] | None = None
    shipped: list[Item] = field(default_factory=list)
    open_items: list[dict[str, Any]] = field(default_factory=list)
    kpi_runs: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    activity: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["day", "source", "events"]))
    activity_unit: str = "day"
    flow: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["week", "created", "resolved"]))
    trend: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["week", "latency", "median_hours", "p90_hours"]))

    @classmethod
    def from_report(cls, report: dict[str, Any], timezone: str | None = None) -> ReportContent:
        """Everything a report dict alone can tell (SPEC §5 keys, and the extras when there)."""
        previous = report.get("previous")
        counts = previous.get("counts", previous) if isinstance(previous, dict) else None
        return cls(report=report, timezone=timezone or report.get("timezone") or "UTC", previous=counts,
                   shipped=_shipped_items(report.get("shipped")),
                   open_items=[{**item, "title": short_title(item.get("title"))}
                               for item in report.get("waiting") or []],
                   kpi_runs=_kpi_runs(report.get("experiment_runs") or []))

    # -- what the renderers ask --------------------------------------------------------------

    @property
    def engagement(self) -> str:
        return str(self.report.get("engagement", ""))

    @property
    def label(self) -> str:
        return str(self.report["period"]["label"])

    @property
    def dates(self) -> str:
        """The period's days for people, e.g. ``16–22 Nov 2026`` (the end is exclusive)."""
        start = _local(self.report["period"]["start"], self.timezone).date()
        last = (_local(self.report["period"]["end"], self.timezone) - timedelta(microseconds=1)).date()
        return _day_span(start, last)

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.report.get("counts", {}))

    def delta(self, name: str) -> int | None:
        """This period's count minus the previous one's; ``None`` when there is no previous."""
        if not self.previous or name not in self.previous:
            return None
        return int(self.counts.get(name, 0)) - int(self.previous[name])

    @property
    def latencies(self) -> list[tuple[str, str, dict[str, Any]]]:
        """``(name, label, figures)`` for each latency, in SPEC §4's order."""
        latency = self.report.get("latency", {})
        return [(name, LATENCY_LABELS.get(name, name), latency[name]) for name in LATENCY_LABELS if name in latency] \
            + [(name, name, figures) for name, figures in latency.items() if name not in LATENCY_LABELS]

    @property
    def waiting(self) -> list[Waiting]:
        """Open waits at the period's end, grouped by who must act (the team first)."""
        latency = self.report.get("latency", {})
        rows = []
        for name, (on, (one, several)) in WAITING_ON.items():
            figures = latency.get(name, {})
            count = int(figures.get("open") or 0)
            rows.append(Waiting(on, one if count == 1 else several, count, figures.get("oldest_open_hours")))
        return sorted((row for row in rows if row.count), key=lambda row: row.on != "team")

    @property
    def experiments(self) -> list[dict[str, Any]]:
        return list(self.report.get("experiments", []))

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return list(self.report.get("alerts", []))

    @property
    def links(self) -> dict[str, int]:
        return dict(self.report.get("links", {}))

    def run_listing(self, experiment: dict[str, Any]) -> RunListing:
        """The period's runs behind one entry of ``experiments``, newest first, at most :data:`MAX_LISTED`.

        Runs are top-level runs (a search's children are folded into their parent, which carries
        its best child's value). The experiment's best run, new bests and runs that raised an alert
        are always listed, even past the limit; ``more`` counts the runs left out.
        """
        start = _local(self.report["period"]["start"], self.timezone)
        end = _local(self.report["period"]["end"], self.timezone)
        key = (experiment.get("experiment"), _kpi_metric(experiment))
        best = (experiment.get("best") or {}).get("run_id")
        for story in self.report.get("experiment_runs") or []:
            if (story.get("experiment"), story.get("metric")) == key:
                runs = [run for run in story.get("runs", [])
                        if run.get("started_at") and start <= _local(run["started_at"], self.timezone) < end][::-1]
                kept = {index for index, run in enumerate(runs)
                        if run.get("new_best") or run.get("drop") or (best and run.get("run_id") == best)}
                for index in range(len(runs)):
                    if len(kept) >= MAX_LISTED:
                        break
                    kept.add(index)
                listed = [{**run, "note": clip(run.get("note")), "changes": clip(changes(run.get("param_diff")))}
                          for index, run in enumerate(runs) if index in kept]
                return RunListing(listed, len(runs) - len(listed))
        return RunListing([], 0)

    def runs_of(self, experiment: dict[str, Any]) -> pd.DataFrame | None:
        """The KPI runs (``at, value, run``) behind one entry of ``experiments``, if known."""
        return self.kpi_runs.get((experiment.get("experiment", ""), _kpi_metric(experiment) or ""))


def gather(config: Config, period: Period, report: dict[str, Any], history: pd.DataFrame,
           samples: dict[str, pd.DataFrame], *, now: datetime | None = None) -> ReportContent:
    """The report dict plus the chart frames, from the history and latency samples it was built on."""
    tz = config.engagement.timezone
    content = ReportContent.from_report(report, tz)
    in_period = history.loc[history["occurred_at"] >= pd.Timestamp(period.start)]
    content.activity = activity(in_period, period, config.engagement.zone)
    content.activity_unit = activity_unit(period)
    content.flow = ticket_flow(history, period, config.engagement.zone)
    content.trend = latency_trend(samples, period, now=now)
    return content


def activity_unit(period: Period) -> str:
    """``day`` bars for up to four months, ``week`` up to three years, else ``month``.

    Keeps a chart readable and under Altair's 5,000-row limit whatever custom range is asked for.
    """
    days = (period.end - period.start).days
    return "day" if days <= 120 else "week" if days <= 3 * 366 else "month"


_BUCKETS = {"day": "D", "week": "W-MON", "month": "MS"}


def activity(events: pd.DataFrame, period: Period, zone: ZoneInfo) -> pd.DataFrame:
    """Events per bucket (see :func:`activity_unit`) and source over the whole period, zeros included.

    ``day`` holds each bucket's first day.
    """
    columns = ["day", "source", "events"]
    if events.empty:
        return pd.DataFrame(columns=columns)
    unit = activity_unit(period)
    first = period.start.astimezone(zone).date()
    last = (period.end - timedelta(microseconds=1)).astimezone(zone).date()
    local_days = events["occurred_at"].dt.tz_convert(zone).dt.tz_localize(None).dt.normalize()
    if unit == "week":
        local_days = local_days - pd.to_timedelta(local_days.dt.day_of_week, unit="D")
        first -= timedelta(days=first.weekday())
    elif unit == "month":
        local_days = local_days.dt.to_period("M").dt.start_time
        first = first.replace(day=1)
    counts = events.assign(day=local_days).groupby(["day", "source"]).size()
    buckets = pd.date_range(first, last, freq=_BUCKETS[unit])
    index = pd.MultiIndex.from_product([buckets, sorted(events["source"].unique())], names=["day", "source"])
    return counts.reindex(index, fill_value=0).rename("events").reset_index()[columns]


def week_label(moment: datetime) -> str:
    """``W47``: short enough for a chart axis; the report's title carries the year."""
    return f"W{moment.isocalendar()[1]:02d}"


def short_label(period: Period) -> str:
    """A period on a chart axis: ``W47`` for an ISO week, else its first day (``16 Nov``)."""
    if period.kind is PeriodKind.WEEK:
        return period.label.split("-")[1]
    return f"{period.start.day} {period.start:%b}"


def ticket_flow(history: pd.DataFrame, period: Period, zone: ZoneInfo) -> pd.DataFrame:
    """Tickets created and resolved per ISO week, for the weeks up to the period's end."""
    last_day = (period.end - timedelta(microseconds=1)).astimezone(zone).date()
    first = iso_week(last_day - timedelta(weeks=FLOW_WEEKS - 1), zone)
    weeks = [week_label(first.start + timedelta(weeks=n)) for n in range(FLOW_WEEKS)]
    tickets = history.loc[history["category"].isin(["ticket_created", "ticket_resolved"])
                          & (history["occurred_at"] >= pd.Timestamp(first.start))]
    if tickets.empty:
        return pd.DataFrame({"week": weeks, "created": 0, "resolved": 0})
    labels = tickets["occurred_at"].dt.tz_convert(zone).map(week_label)
    table = pd.crosstab(labels, tickets["category"]).reindex(
        index=weeks, columns=["ticket_created", "ticket_resolved"], fill_value=0)
    return pd.DataFrame({"week": weeks, "created": table["ticket_created"].to_numpy(),
                         "resolved": table["ticket_resolved"].to_numpy()})


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


def _shipped_items(shipped: dict[str, list[dict[str, Any]]] | None) -> list[Item]:
    if not shipped:
        return []
    kinds = (("pull_requests", "pull request"), ("tickets", "ticket"))
    return [Item(kind, str(row.get("thread", "")), short_title(row.get("title")), row.get("url"), str(row.get("at", "")))
            for key, kind in kinds for row in shipped.get(key, [])]


def _kpi_runs(stories: list[dict[str, Any]]) -> dict[tuple[str, str], pd.DataFrame]:
    """``(experiment, metric) -> frame(at, value, run)`` from the report's ``experiment_runs``."""
    frames = {}
    for story in stories:
        rows = [{"at": run.get("started_at"), "value": run.get("value"), "run": run.get("name") or run.get("run_id")}
                for run in story.get("runs", []) if run.get("value") is not None and run.get("started_at")]
        if rows:
            frame = pd.DataFrame(rows)
            frame["at"] = pd.to_datetime(frame["at"], utc=True)
            frames[(story["experiment"], story["metric"])] = frame
    return frames


def _kpi_metric(experiment: dict[str, Any]) -> str | None:
    kpi = experiment.get("kpi") or {}
    best = experiment.get("best") or {}
    return kpi.get("metric") or best.get("metric")


def _local(text: str, tz: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(ZoneInfo(tz))


def _day_span(start: date, last: date) -> str:
    if start == last:
        return f"{start.day} {start:%b %Y}"
    if (start.year, start.month) == (last.year, last.month):
        return f"{start.day}–{last.day} {last:%b %Y}"
    if start.year == last.year:
        return f"{start.day} {start:%b} – {last.day} {last:%b %Y}"
    return f"{start.day} {start:%b %Y} – {last.day} {last:%b %Y}"


def clip(text: object, limit: int = MAX_NOTE) -> str | None:
    """Free text on one line, cut at ``limit`` characters with an ellipsis; ``None`` stays ``None``."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


def short_title(text: object) -> str:
    """A title as pages and reports show it: its first line, cut at :data:`MAX_TITLE` with an ellipsis."""
    first = str(text).split("\n", 1)[0] if text is not None and not (isinstance(text, float) and math.isnan(text)) \
        else ""
    return clip(first, MAX_TITLE) or ""


def format_hours(hours: float | None) -> str:
    """A wait for people: ``45 min``, ``5.2 h``, ``3.1 d``; a dash when unknown."""
    if hours is None or (isinstance(hours, float) and math.isnan(hours)):
        return "—"
    if hours < 1:
        return f"{hours * 60:.0f} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} d"


def changes(diff: dict[str, dict[str, Any]] | None) -> str:
    """A run's parameter changes against the previous best: ``lr 0.1 → 0.05, depth 6 → 8``."""
    return ", ".join(f"{name} {change.get('from')} → {change.get('to')}" for name, change in (diff or {}).items())


def local_time(text: str | None, tz: str) -> str:
    """An ISO time as ``Tue 17 Nov 2026 14:05`` in ``tz``; empty when unknown.

    Always with the year: a wait listed as open may have started years before the report.
    """
    return f"{_local(text, tz):%a %d %b %Y %H:%M}" if text else ""


def format_value(value: float | None) -> str:
    """A metric value: four significant decimals at most, a dash when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.4g}"


def arrow(delta: int | None) -> str:
    """``▲ 3``, ``▼ 2``, ``= 0``, or nothing without a previous period."""
    if delta is None:
        return ""
    if delta > 0:
        return f"▲ {delta}"
    if delta < 0:
        return f"▼ {-delta}"
    return "= 0"


def kpi_sentence(experiment: dict[str, Any]) -> str:
    """Where an experiment stands against its KPI, in words (numbers and config names only)."""
    kpi = experiment.get("kpi") or {}
    best = experiment.get("best") or {}
    if not best or best.get("value") is None:
        return "No run has reported its KPI metric yet."
    sentence = f"Best {best.get('metric', kpi.get('metric', 'metric'))} so far: {format_value(best['value'])}"
    target = kpi.get("target")
    if target is None:
        return sentence + "."
    if kpi.get("met"):
        return sentence + f" — target {format_value(target)} met."
    gap = abs(float(target) - float(best["value"]))
    return sentence + f" — target {format_value(target)} not met yet ({format_value(gap)} to go)."


def links_sentence(links: dict[str, int]) -> str:
    """How much work is traceable: commits naming a ticket, runs pointing at a commit."""
    commits = links.get("commits_with_ticket", 0) + links.get("commits_without_ticket", 0)
    runs = links.get("runs_with_commit", 0) + links.get("runs_without_commit", 0)
    parts = []
    if commits:
        parts.append(f"{links.get('commits_with_ticket', 0)} of {commits} commits name a ticket")
    if runs:
        parts.append(f"{links.get('runs_with_commit', 0)} of {runs} runs point at a commit")
    return ("; ".join(parts) + ".") if parts else ""
