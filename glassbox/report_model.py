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
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import pandas as pd

from glassbox import readmodel
from glassbox.config import Config
from glassbox.metrics import chart_data
from glassbox.metrics.agreements import PAUSED_LATENCIES, TICKET_STATUS_EVENTS, needs_pauses
from glassbox.metrics.experiments import Stories
from glassbox.metrics.latency import METRICS, compute_all_latencies
from glassbox.metrics.linking import (
    PR_CATEGORIES,
    Links,
    build_links,
    commits_frame,
    pull_requests_frame,
)
from glassbox.metrics.models import MODEL_CATEGORIES, version_runs
from glassbox.metrics.summary import HEAD_CATEGORIES, figures_from_events, report_from_events
from glassbox.notes import WeekNote
from glassbox.periods import Period, PeriodKind
from glassbox.readmodel.days import category_counts, daily_counts, period_days
from glassbox.readmodel.kpis import period_stories
from glassbox.readmodel.query import ONLY_ONCE_ENDED
from glassbox.readmodel.runs import family_runs
from glassbox.reports import SPEC_KEYS
from glassbox.reports.content import ReportContent
from glassbox.slices import with_notes_of_its_runs, with_run_notes
from glassbox.store import Store
from glassbox.timeline import load_timeline
from glassbox.views import View

log = logging.getLogger(__name__)
# measured from a ticket's status history, which a later move (a reopening) rewrites: see ``samples``
AS_OF_END = ("ticket_pickup", "ticket_cycle", "ticket_lead")
_TICKET_MOVES = ("ticket_transition", "ticket_resolved")
_KEY_READ_COST = 3  # an event looked up by key costs about as much as this many read in time order (2-3 measured)


@dataclass(frozen=True, eq=False)
class ReportModel:
    """A period's report: ``report`` is SPEC §5's dict plus its extras, the frames are its charts and rows.

    ``history`` is the view's timeline up to the period's end (:func:`load_history`), given or read
    from ``store``. Everything is derived once, on first use, so a format that needs only the
    period's ``rows`` (CSV) reads only the period and never measures the latencies. ``activity``,
    ``flow`` and ``trend`` are the aggregated chart frames of :mod:`glassbox.metrics.chart_data`.
    Shared read-only (the dashboard caches one per period and view): never modify its frames.
    """

    config: Config
    period: Period
    view: str
    now: datetime
    given: pd.DataFrame | None = None
    store: Store | None = None
    given_samples: dict[str, pd.DataFrame] | None = None
    given_note: WeekNote | None = None

    @classmethod
    def build(cls, history: pd.DataFrame, config: Config, period: Period, view: str,
              now: datetime, samples: dict[str, pd.DataFrame] | None = None,
              note: WeekNote | None = None) -> ReportModel:
        """The report of ``period`` from ``history`` (the view's timeline up to ``period.end``), its
        note and, when the caller has them, the latency ``samples`` (:func:`samples_window`'s, from the
        read model)."""
        return cls(config=config, period=period, view=view, now=now, given=history, given_samples=samples,
                   given_note=note)

    @classmethod
    def load(cls, store: Store, config: Config, period: Period, view: str,
             now: datetime | None = None) -> ReportModel:
        """The report of ``period`` from the store, which is read when a figure first needs it."""
        return cls(config=config, period=period, view=view, now=now or datetime.now(UTC), store=store)

    @cached_property
    def history(self) -> pd.DataFrame:
        """The view's timeline up to the period's end, with run notes (:func:`load_history`)."""
        if self.given is not None:
            return self.given
        if self.store is None:
            raise ValueError("a report model needs a history or a store")
        if self.reads_window and self.waits is not None:
            return window_history(self.store, self.config, self.period, self.view, self.waits, self.moved_later)
        return load_history(self.store, self.config, self.period, self.view)

    @cached_property
    def reads_window(self) -> bool:
        """Whether :attr:`history` is the store's window (:func:`window_history`), neither given nor the
        whole history (a stale read model): then the threads' opening events are read apart (:attr:`heads`)."""
        return self.store is not None and self.given is None and self.given_samples is None \
            and self.waits is not None

    @cached_property
    def heads(self) -> pd.DataFrame | None:
        """The opening events of the threads the report names (:func:`window_heads`), read apart from a
        window's history; None when the history holds them all."""
        if not (self.reads_window and self.store is not None and self.waits is not None):
            return None
        return window_heads(self.store, self.config, self.period, self.view, self.history, self.waits)

    @cached_property
    def links(self) -> Links:
        """Commits, PRs and runs with their tickets; a window's runs are the read model's, which the
        window does not hold: the two periods' runs and the models' runs with their families, when
        the KPIs' stories are the read model's too (:attr:`stories`), else every run up to the end."""
        if not (self.reads_window and self.store is not None):
            return build_links(self.history)
        view = View(self.view)
        if self.stories is None:
            runs = readmodel.stored_runs(self.store, view, self.period.end)
        else:
            runs = family_runs(self.store, view, self.period.end, started_from=self.period.previous().start,
                               run_ids=version_runs(self.history))
        return Links(commits_frame(self.history), pull_requests_frame(self.history), runs)

    @cached_property
    def stories(self) -> Stories | None:
        """The KPIs' stories as the period shows them, from the read model (:func:`period_stories`),
        when the report reads a window; None when it reads the history, or a search was not yet whole
        at the period's end (then every run up to the end is read and judged)."""
        if not (self.reads_window and self.store is not None):
            return None
        return period_stories(self.store, self.config.kpi, View(self.view), self.period.start, self.period.end)

    @cached_property
    def read_model_current(self) -> bool:
        """Whether the store's read model was derived with this config (asked once per report)."""
        return self.store is not None and readmodel.is_current(self.store, self.config)

    @cached_property
    def waits(self) -> dict[str, pd.DataFrame] | None:
        """The read model's waits for this report (:func:`samples_window`), or None while it is stale."""
        if self.given_samples is not None:
            return self.given_samples
        if self.store is not None and self.given is None and self.read_model_current:
            return samples_window(self.store, self.period, self.view, self.now)
        if self.store is not None:
            log.info("read model stale (config changed since the last sync): measuring from the events")
        return None

    @cached_property
    def samples(self) -> dict[str, pd.DataFrame]:
        """Every latency's samples the report's periods need: the read model's :attr:`waits`, else
        measured over the history once for the figures and the trend.

        The :data:`AS_OF_END` figures of a ticket that moved after the period ended are measured
        over the history instead: a ticket reopened since had, at the period's end, a resolution
        the latest rows no longer show, and a report says what was true at its period's end. The
        history holds every event of those tickets (:attr:`moved_later`); with a given history
        (the dashboard's, complete up to the period's end) every ticket is measured so.
        """
        if self.waits is None:
            return compute_all_latencies(self.history, self.config, self.now, self.links)
        history = self.history.loc[self.history["occurred_at"] <= pd.Timestamp(self.now)]
        if self.store is None:
            return {**self.waits, **{name: METRICS[name](history, self.config.team) for name in AS_OF_END}}
        moved = self.moved_later  # a ticket's figures depend on its own events only
        tickets = history.loc[history["thread"].isin(moved)]
        return {**self.waits, **{name: merge_samples(self.waits[name], METRICS[name](tickets, self.config.team), moved)
                                 for name in AS_OF_END}}

    @cached_property
    def moved_later(self) -> set[str]:
        """Tickets with a status change or resolution at or after the moment the report stands at."""
        if self.store is None:
            return set()
        return tickets_moved_since(self.store, min(self.period.end, self.now))

    @cached_property
    def note(self) -> WeekNote | None:
        """The week's note (SPEC §5): given to :meth:`build`, else read with the report; a custom period has none."""
        if self.store is None or self.period.kind is not PeriodKind.WEEK:
            return self.given_note
        return self.store.week_note(self.period.label)

    @cached_property
    def previous_counts(self) -> dict[str, int] | None:
        """The previous period's event counts (week over week), summed from the read model's day counts
        when the report reads a window, which holds only the period; None when it reads a history."""
        if not (self.reads_window and self.store is not None):
            return None
        return category_counts(self.store, View(self.view), *period_days(self.period.previous()))

    @cached_property
    def report_links(self) -> Links:
        """:attr:`links` with the previous period's commits (its ``links`` figures, week over week): a
        window holds only the period's, so the previous period's commit events are read apart — its
        runs are the read model's already (:attr:`links`)."""
        if not (self.reads_window and self.store is not None):
            return self.links
        previous = self.period.previous()
        commits = load_timeline(self.store, self.config, start=previous.start, end=self.period.start,
                                view=self.view, categories=("commit",))
        if commits.empty:
            return self.links
        # the window's commits are all the period's, so the two frames neither overlap nor interleave
        return replace(self.links, commits=pd.concat([commits_frame(commits), self.links.commits], ignore_index=True))

    @cached_property
    def report(self) -> dict[str, Any]:
        figures = report_from_events(self.history, self.config, self.period, self.view, self.now,
                                     samples=self.samples, links=self.report_links, heads=self.heads,
                                     stories=self.stories, previous_counts=self.previous_counts)
        return {**figures, "note": self.note.as_json() if self.note else None}

    @cached_property
    def figures(self) -> dict[str, Any]:
        """SPEC §5's part of :attr:`report` (:func:`figures_from_events`): the ``json`` format needs no more."""
        if "report" in self.__dict__:
            return self.report
        figures = figures_from_events(self.history, self.config, self.period, self.view, self.now,
                                      samples=self.samples, links=self.links, stories=self.stories)
        return {**figures, "note": self.note.as_json() if self.note else None}

    @cached_property
    def rows(self) -> pd.DataFrame:
        """The period's timeline rows (the CSV format): from the history when it is read, else the period alone."""
        if self.store is not None and "history" not in self.__dict__:
            return load_timeline(self.store, self.config, start=self.period.start, end=self.period.end,
                                 view=self.view)
        return self.history.loc[self.history["occurred_at"] >= pd.Timestamp(self.period.start)]

    @property
    def activity_unit(self) -> str:
        return chart_data.activity_unit(self.period)

    @cached_property
    def activity(self) -> pd.DataFrame:
        zone = self.config.engagement.zone
        if self.day_counts is None:
            return chart_data.activity(self.rows, self.period, zone)
        shown = self.day_counts.loc[self.day_counts["day"] >= period_days(self.period)[0]]
        return chart_data.activity_of_days(shown, self.period, zone)

    @cached_property
    def flow(self) -> pd.DataFrame:
        zone = self.config.engagement.zone
        if self.day_counts is None:
            return chart_data.ticket_flow(self.history, self.period, zone)
        return chart_data.ticket_flow_of_days(self.day_counts, self.period, zone)

    @cached_property
    def day_counts(self) -> pd.DataFrame | None:
        """The read model's day counts of the charts' days (the ticket flow's weeks and the period), by
        source and category, when the report reads a window: the activity and ticket flow charts are
        summed from them, and the flow's earlier weeks are never read as events. None when the report
        reads a history."""
        if not (self.reads_window and self.store is not None):
            return None
        first = min(chart_data.flow_start(self.period, self.config.engagement.zone), self.period.start)
        return daily_counts(self.store, View(self.view), first.date(), period_days(self.period)[1],
                            by=("source", "category"))

    @cached_property
    def trend(self) -> pd.DataFrame:
        return chart_data.latency_trend(self.samples, self.period, now=self.now)

    def derived(self) -> ReportModel:
        """This model with every figure and chart frame computed now and the events it read them from
        let go: a cache then holds the report, not its window of events (at 1M events the window and
        its threads' titles were 60 MB of the 100 MB a cached week held). Only the CSV format reads
        again, the period's rows, from the store (:attr:`rows`)."""
        _ = self.report, self.trend, self.activity, self.flow
        for name in ("history", "heads", "rows"):
            self.__dict__.pop(name, None)
        return self

    def spec(self) -> dict[str, Any]:
        """SPEC §5's report: exactly its keys, in its order (the ``json`` format)."""
        return {key: self.figures[key] for key in SPEC_KEYS}

    def content(self) -> ReportContent:
        """What the Markdown, HTML and PDF renderers read: the dict in words, with the chart frames."""
        content = ReportContent.from_report(self.report, self.config.engagement.timezone)
        content.activity = self.activity
        content.activity_unit = self.activity_unit
        content.flow = self.flow
        content.trend = self.trend
        content.descriptions = {kpi.experiment: kpi.description for kpi in self.config.kpi if kpi.description}
        return content


def samples_window(store: Store, period: Period, view: str, now: datetime) -> dict[str, pd.DataFrame]:
    """The read model's waits for ``period``'s report: its figures, the previous period's and the
    trend's weeks, as they stood at the period's end (or now, if earlier)."""
    first = period
    for _ in range(chart_data.TREND_WEEKS - 1):
        first = first.previous()
    until = min(period.end, now)
    return readmodel.samples(store, View(view), since=min(first.start, until), until=until)


def tickets_moved_since(store: Store, moment: datetime) -> set[str]:
    """Tickets with a status change or resolution at or after ``moment``: their :data:`AS_OF_END`
    figures as at ``moment`` are measured again from their events, not read from the latest rows."""
    return set(store.read_events(start=moment, categories=_TICKET_MOVES, columns=("thread",))["thread"])


def merge_samples(rows: pd.DataFrame, measured: pd.DataFrame, threads: set[str]) -> pd.DataFrame:
    """The read model's ``rows`` with those on ``threads`` replaced by the ``measured`` ones, in start order."""
    merged = pd.concat([rows.loc[~rows["thread"].isin(threads)], measured.loc[measured["thread"].isin(threads)]],
                       ignore_index=True)
    return merged.sort_values(["started_at", "thread"], kind="stable").reset_index(drop=True)


def window_history(store: Store, config: Config, period: Period, view: str,
                   samples: dict[str, pd.DataFrame], moved_later: set[str]) -> pd.DataFrame:
    """What the report of ``period`` reads besides the read model's waits: never the whole history.

    Each part of the report needs a few events of its own, and only those are read:

    - every event of the period (counts, links, shipped work, the daily table); the previous period's
      counts, the charts of activity and ticket flow are the read model's day counts
      (:attr:`ReportModel.previous_counts`, :attr:`ReportModel.day_counts`), its commits are read
      apart (:attr:`ReportModel.report_links`);
    - every model event up to the period's end (the models' figures); the runs themselves, with
      their families, commits and tickets, are the read model's (:attr:`ReportModel.links`);
    - every event on the tickets in ``moved_later`` (measured again, :attr:`ReportModel.samples`);
    - the PR events of the period's pull requests (a merged PR's tickets) — never the comments
      of every thread a wait was on (the threads' titles are :func:`window_heads`');
    - with an agreement on a paused latency, the status changes of its waits' tickets (their pauses).

    With the notes of its runs, in the timeline's order.
    """
    since = period.start
    window = load_timeline(store, config, start=since, end=period.end, view=view)
    earlier_models = load_timeline(store, config, end=since, view=view, categories=MODEL_CATEGORIES)
    ids = store.event_ids_on(moved_later)
    for categories, threads in _threads_read(window, samples, config).items():
        ids |= store.event_ids_on(threads, categories)
    extra = load_timeline(store, config, end=since, view=view,
                          ids=sorted(ids - set(window["id"]) - set(earlier_models["id"])))
    events = pd.concat([frame for frame in (window, earlier_models, extra) if len(frame)] or [window],
                       ignore_index=True)
    events = events.sort_values(["occurred_at", "id"], kind="stable").reset_index(drop=True)
    log.info("report %s (%s view): %d events in its window and threads", period.label, view, len(events))
    return with_notes_of_its_runs(events, store)


def window_heads(store: Store, config: Config, period: Period, view: str, history: pd.DataFrame,
                 samples: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The opening events (their titles) of the threads of the waits still open at the period's end
    and of the tickets resolved in its window (``history``, :func:`window_history`'s): what the
    report names besides its window's own events. Only the Markdown, HTML and PDF formats read them.

    Looked up by thread while those threads are few against every opening event up to the period's
    end, reading only those the window does not hold (most of its resolved tickets were opened in
    it); when most threads still wait, reading every opening event in time order is the cheaper read
    (a row found by key costs a few rows read in order).
    """
    threads = set(history.loc[history["category"] == "ticket_resolved", "thread"])
    for name, frame in samples.items():
        if name not in ONLY_ONCE_ENDED:
            threads |= set(frame.loc[frame["ended_at"].isna(), "thread"])
    if len(threads) * _KEY_READ_COST < store.count_events_of(HEAD_CATEGORIES, period.end):
        ids = store.event_ids_on(threads, HEAD_CATEGORIES)
        found = load_timeline(store, config, end=period.end, view=view, ids=sorted(ids - set(history["id"])))
        held = history.loc[history["id"].isin(ids), list(found.columns)]
        heads = pd.concat([frame for frame in (held, found) if len(frame)] or [found], ignore_index=True)
        return heads.sort_values(["occurred_at", "id"], kind="stable").reset_index(drop=True)
    heads = load_timeline(store, config, end=period.end, view=view, categories=HEAD_CATEGORIES)
    return heads.loc[heads["thread"].isin(threads)].reset_index(drop=True)


def _threads_read(window: pd.DataFrame, samples: dict[str, pd.DataFrame],
                  config: Config) -> dict[tuple[str, ...], set[str]]:
    """The threads whose events of some categories the report reads (see :func:`window_history`)."""
    pull_requests = set(window.loc[window["category"].isin(PR_CATEGORIES), "thread"])
    wanted: dict[tuple[str, ...], set[str]] = {PR_CATEGORIES: pull_requests}
    if needs_pauses(config.agreement):
        wanted[TICKET_STATUS_EVENTS] = {thread for name in PAUSED_LATENCIES for thread in samples[name]["thread"]}
    return wanted


def load_history(store: Store, config: Config, period: Period, view: str) -> pd.DataFrame:
    """All history up to the period's end for ``view`` (waits can start long before it), with run notes."""
    events = with_run_notes(load_timeline(store, config, end=period.end, view=view), store, period.end)
    log.info("report %s (%s view): %d events up to the period's end", period.label, view, len(events))
    return events


def build_report(store: Store, config: Config, period: Period, view: str = "team",
                 now: datetime | None = None) -> dict[str, Any]:
    """Everything the report of ``period`` says, for ``view`` (SPEC §5 plus the extras), as one dict."""
    return ReportModel.load(store, config, period, view, now).report
