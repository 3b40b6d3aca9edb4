"""One report, built once: every figure, list and chart frame of a period's report, for one view.

A report used to be assembled on the way out: the command read the timeline, built links and
latency samples, handed them to the summary, then to the content gatherer, and the dashboard did the
same again its own way — the path returned to the same modules fourteen times. :class:`ReportModel`
is built once, from the period's history (:meth:`ReportModel.build`, pure) or from the store
(:meth:`ReportModel.load`, the one place a report reads it), and then the dashboard's Weekly report
page, its downloads and every format (json, md, html, pdf, csv) render that same object.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from glassbox.config import Config
from glassbox.metrics.chart_data import activity, activity_unit, latency_trend, ticket_flow
from glassbox.metrics.latency import compute_all_latencies
from glassbox.metrics.linking import RUN_CATEGORIES, build_links
from glassbox.metrics.summary import report_from_events
from glassbox.periods import Period
from glassbox.reports import SPEC_KEYS
from glassbox.reports.content import ReportContent
from glassbox.store import Store
from glassbox.timeline import load_timeline

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportModel:
    """A period's report: ``report`` is SPEC §5's dict plus its extras, the frames are its charts and rows.

    ``rows`` are the period's timeline rows (the CSV format); ``activity``, ``flow`` and ``trend``
    the aggregated chart frames of :mod:`glassbox.metrics.chart_data`. Shared read-only (the
    dashboard caches one per period and view): never modify its frames.
    """

    config: Config
    period: Period
    view: str
    now: datetime
    report: dict[str, Any]
    rows: pd.DataFrame
    activity: pd.DataFrame
    activity_unit: str
    flow: pd.DataFrame
    trend: pd.DataFrame

    @classmethod
    def build(cls, history: pd.DataFrame, config: Config, period: Period, view: str,
              now: datetime) -> ReportModel:
        """The report from ``history``: the view's timeline up to ``period.end`` (:func:`load_history`)."""
        tz = config.engagement.timezone
        links = build_links(history)
        samples = compute_all_latencies(history, config, now, links)
        report = report_from_events(history, config, period, view, now, samples=samples, links=links)
        rows = history.loc[history["occurred_at"] >= pd.Timestamp(period.start)]
        return cls(config=config, period=period, view=view, now=now, report=report, rows=rows,
                   activity=activity(rows, period, tz), activity_unit=activity_unit(period),
                   flow=ticket_flow(history, period, tz), trend=latency_trend(samples, period, now=now))

    @classmethod
    def load(cls, store: Store, config: Config, period: Period, view: str,
             now: datetime | None = None) -> ReportModel:
        """:meth:`build` on the store's history for ``view``."""
        return cls.build(load_history(store, config, period, view), config, period, view,
                         now or datetime.now(timezone.utc))

    def spec(self) -> dict[str, Any]:
        """SPEC §5's report: exactly its keys, in its order (the ``json`` format)."""
        return {key: self.report[key] for key in SPEC_KEYS}

    def content(self) -> ReportContent:
        """What the Markdown, HTML and PDF renderers read: the dict in words, with the chart frames."""
        content = ReportContent.from_report(self.report, self.config.engagement.timezone)
        content.activity = self.activity
        content.activity_unit = self.activity_unit
        content.flow = self.flow
        content.trend = self.trend
        return content


def load_history(store: Store, config: Config, period: Period, view: str) -> pd.DataFrame:
    """All history up to the period's end for ``view`` (waits can start long before it), with run notes."""
    events = with_run_notes(load_timeline(store, config, end=period.end, view=view), store, period.end)
    log.info("report %s (%s view): %d events up to the period's end", period.label, view, len(events))
    return events


def with_run_notes(events: pd.DataFrame, store: Store, end: datetime) -> pd.DataFrame:
    """Attach run bodies (their MLflow notes): the timeline leaves bodies out, runs are few."""
    bodies = store.read_events(end=end, categories=RUN_CATEGORIES, columns=("id", "body"))
    if bodies.empty:
        return events
    return events.assign(body=events["id"].map(bodies.set_index("id")["body"]))


def build_report(store: Store, config: Config, period: Period, view: str = "team",
                 now: datetime | None = None) -> dict[str, Any]:
    """Everything the report of ``period`` says, for ``view`` (SPEC §5 plus the extras), as one dict."""
    return ReportModel.load(store, config, period, view, now).report
