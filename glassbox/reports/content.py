"""What a weekly report says, in words and small tables, shared by the Markdown, HTML and PDF renderers.

:class:`ReportContent` wraps the report dict of :class:`glassbox.report_model.ReportModel` (SPEC §5
plus its extras: last period, what shipped, open waits, the runs' story) and the model's chart frames
(:mod:`glassbox.metrics.chart_data`), so every format says the same thing and nothing is read or
computed twice. :meth:`ReportContent.from_report` builds it from a report dict alone (no store, no
charts), which is what the renderers' tests use. The words come from :mod:`glassbox.vocabulary`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import pandas as pd

from glassbox.vocabulary import LATENCY_LABELS, WAITS, Side, agreement_sentence, latency_label, wait_of

log = logging.getLogger(__name__)

MAX_LISTED = 15
MAX_SHIPPED = 15  # of each kind: a busy week merges hundreds of PRs, and a report is read, not searched
MAX_ALERTS = 15  # of each kind: a noisy search can drop below the best hundreds of times a week
Listed = TypeVar("Listed")
ALERT_KINDS = {"metric_drop": "metric drop", "model_regressed": "model regression"}  # in words, for counts
MAX_NOTE = 280  # characters of a run note a report quotes: notes are free text of any length
MAX_TITLE = 200  # characters of a title a page or report shows: a commit's first line can be any length


@dataclass(frozen=True)
class Item:
    """One thing that shipped: a merged pull request or a resolved ticket."""

    kind: str
    thread: str
    title: str
    url: str | None
    at: str


@dataclass(frozen=True)
class Listing(Generic[Listed]):
    """What a report lists of a long list (what shipped, the alerts): the latest few of each kind,
    oldest first, and how many more of each kind the period had (the JSON export lists every one)."""

    items: list[Listed]
    more: dict[str, int]  # kind in words -> how many were not listed

    @classmethod
    def latest(cls, items: list[Listed], kind_of: Callable[[Listed], str], limit: int) -> Listing[Listed]:
        """The last ``limit`` of ``items`` of each kind (``kind_of``, in words), kinds in order of appearance."""
        listed: list[Listed] = []
        more: dict[str, int] = {}
        for kind in dict.fromkeys(kind_of(item) for item in items):
            mine = [item for item in items if kind_of(item) == kind]
            listed += mine[-limit:]
            more[kind] = max(0, len(mine) - limit)
        return cls(listed, more)

    @property
    def more_counted(self) -> str | None:
        """``689 more pull requests and 12 more tickets``; None when everything is listed."""
        parts = [f"{count} more {kind}{'' if count == 1 else 's'}" for kind, count in self.more.items() if count]
        return " and ".join(parts) if parts else None

    @property
    def more_sentence(self) -> str | None:
        """``…and 689 more pull requests and 12 more tickets, every one in the JSON export.``"""
        return f"…and {self.more_counted}, every one in the JSON export." if self.more_counted else None


@dataclass(frozen=True)
class Waiting:
    """Open waits of one kind at the period's end, and who has to act."""

    on: Side
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

    ``previous``, ``shipped``, ``open_items`` and ``kpi_runs`` come from the extra keys of the report
    dict when present; ``activity``, ``flow`` and ``trend`` are the chart frames of
    :class:`~glassbox.report_model.ReportModel` (:mod:`glassbox.metrics.chart_data`).
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
    descriptions: dict[str, str] = field(default_factory=dict)  # experiment -> its KPI's one-line description

    @classmethod
    def from_report(cls, report: dict[str, Any], timezone: str | None = None) -> ReportContent:
        """Everything a report dict alone can tell (SPEC §5 keys, and the extras when there)."""
        previous = report.get("previous")
        counts = previous.get("counts", previous) if isinstance(previous, dict) else None
        return cls(report=report, timezone=timezone or report.get("timezone") or "UTC", previous=counts,
                   shipped=_shipped_items(report.get("shipped")),
                   open_items=[{**item, "title": short_title(item.get("title")), "why": _why(item.get("latency"))}
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
        for wait in WAITS:
            figures = latency.get(wait.latency, {})
            count = int(figures.get("open") or 0)
            rows.append(Waiting(wait.on, wait.wording(count), count, figures.get("oldest_open_hours")))
        return sorted((row for row in rows if row.count), key=lambda row: row.on != "team")

    @property
    def note(self) -> list[str]:
        """The week's note (SPEC §5) as paragraphs, each keeping its line breaks; empty without one."""
        text = (self.report.get("note") or {}).get("text") or ""
        blocks = (block.strip("\n") for block in text.replace("\r\n", "\n").split("\n\n"))
        return [block for block in blocks if block.strip()]

    @property
    def experiments(self) -> list[dict[str, Any]]:
        return list(self.report.get("experiments", []))

    @property
    def agreements(self) -> list[tuple[str, bool | None]]:
        """Each working agreement (SPEC §7) in words, and whether it was kept (``None``: nothing ended)."""
        return [(agreement_sentence(figures), figures.get("met")) for figures in self.report.get("agreements") or []]

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return list(self.report.get("alerts", []))

    @property
    def links(self) -> dict[str, int]:
        return dict(self.report.get("links", {}))

    def run_listing(self, experiment: dict[str, Any]) -> RunListing:
        """The period's runs behind one entry of ``experiments``, newest first, at most :data:`MAX_LISTED`.

        Runs are top-level runs (a search's children are folded into their parent, which carries
        its best child's value). The experiment's best run and new bests are always listed, even past
        the limit; runs that raised an alert come before the others, up to it (a noisy search drops
        below the best hundreds of times a week: the alerts section counts them all); ``more`` counts
        the runs left out.
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
                        if run.get("new_best") or (best and run.get("run_id") == best)}
                alerted = [index for index, run in enumerate(runs) if run.get("drop")]
                for index in [*alerted, *range(len(runs))]:
                    if len(kept) >= MAX_LISTED:
                        break
                    kept.add(index)
                listed = [{**run, "note": clip(run.get("note")), "changes": clip(changes(run.get("param_diff")))}
                          for index, run in enumerate(runs) if index in kept]
                return RunListing(listed, len(runs) - len(listed))
        return RunListing([], 0)

    def shipped_listed(self) -> Listing[Item]:
        """What the Markdown, HTML and PDF formats list of :attr:`shipped`: the latest of each kind."""
        return Listing.latest(self.shipped, lambda item: item.kind, MAX_SHIPPED)

    def alerts_listed(self) -> Listing[dict[str, Any]]:
        """What the Markdown, HTML and PDF formats list of :attr:`alerts` (:func:`alerts_listing`)."""
        return alerts_listing(self.alerts)

    def runs_of(self, experiment: dict[str, Any]) -> pd.DataFrame | None:
        """The KPI runs (``at, value, run``) behind one entry of ``experiments``, if known."""
        return self.kpi_runs.get((experiment.get("experiment", ""), _kpi_metric(experiment) or ""))


def _shipped_items(shipped: dict[str, list[dict[str, Any]]] | None) -> list[Item]:
    if not shipped:
        return []
    kinds = (("pull_requests", "pull request"), ("tickets", "ticket"))
    return [Item(kind, str(row.get("thread", "")), short_title(row.get("title")), row.get("url"),
                 str(row.get("at", "")))
            for key, kind in kinds for row in shipped.get(key, [])]


def alerts_listing(alerts: list[dict[str, Any]]) -> Listing[dict[str, Any]]:
    """The latest :data:`MAX_ALERTS` alerts of each kind, as every report and page lists them."""
    return Listing.latest(alerts, _alert_kind, MAX_ALERTS)


def _alert_kind(alert: dict[str, Any]) -> str:
    kind = str(alert.get("kind", "alert"))
    return ALERT_KINDS.get(kind, kind.replace("_", " "))


def _why(latency: object) -> str:
    """One open wait of ``latency`` in words (the bullets' wording), so a thread listed twice says why."""
    wait = wait_of(str(latency))
    return wait.one if wait else latency_label(str(latency))


def _kpi_runs(stories: list[dict[str, Any]]) -> dict[tuple[str, str], pd.DataFrame]:
    """``(experiment, metric) -> frame(at, value, run)`` from the report's ``experiment_runs``."""
    frames = {}
    for story in stories:
        rows = [{"at": run.get("started_at"), "value": run.get("value"), "run": run.get("name") or run.get("run_id")}
                for run in story.get("runs", []) if run.get("value") is not None and run.get("started_at")]
        if rows:
            frame = pd.DataFrame(rows)
            frame["at"] = pd.to_datetime(frame["at"], utc=True, format="ISO8601")  # a whole second has no fraction
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


def format_working_hours(hours: float | None) -> str:
    """Working time for people: ``40 working min``, ``6.5 working h``, ``63 working h`` — never days,
    which a reader takes for 24-hour days (63 working hours are a week of work, not 2.6 days)."""
    if hours is None or (isinstance(hours, float) and math.isnan(hours)):
        return "—"
    if hours < 1:
        return f"{hours * 60:.0f} working min"
    return f"{hours:.1f} working h" if hours < 10 else f"{hours:.0f} working h"


def signed_hours(delta: float) -> str:
    """A change in a wait's length in its own unit: ``+2.0 d``, ``-45 min`` (a card's delta)."""
    return ("-" if delta < 0 else "+") + format_hours(abs(delta))


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


MAX_COMPUTE_TICKETS = 5  # tickets named in the compute sentence, most hours first


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


def compute_sentence(compute: dict[str, Any] | None) -> str:
    """How compute was spent in the period and on which tickets (report ``compute``), in words."""
    hours = (compute or {}).get("hours") or {}
    if not hours.get("wall"):
        return ""
    gpu = f" ({format_value(hours['gpu'])} GPU hours)" if hours.get("gpu") else ""
    tickets = [f"{row['ticket'] or 'no ticket'} {format_value(row['wall'])} h"
               for row in (compute or {}).get("by_ticket", [])[:MAX_COMPUTE_TICKETS] if row.get("wall")]
    spent = f": {', '.join(tickets)}" if tickets else ""
    return f"Compute: {format_value(hours['wall'])} wall hours of runs{gpu}{spent}."


def model_sentences(models: list[dict[str, Any]] | None) -> list[str]:
    """Each registered model and where its champion stands (report ``models``), one sentence each."""
    sentences = []
    for model in models or []:
        champion = model.get("champion") or {}
        said = f"{model.get('model')}: latest version {model.get('latest_version')}"
        if champion:
            value = f" ({champion.get('metric')} {format_value(champion.get('value'))})" \
                if champion.get("value") is not None else ""
            said += f"; @{champion.get('alias', 'champion')} on version {champion.get('version')}{value}"
        sentences.append(said + ".")
    return sentences


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
