"""Cached reads of the store for the pages: the only place the dashboard touches data.

The store and config are opened once per process (``st.cache_resource``). Every loader is keyed by
:class:`Source`, which carries the store's *version* (its last changing write and newest sync, re-read at
most once a minute), the period and the view, so a sync shows up within a minute.

No loader reads the whole history (issue #17): a page reads its period's day counts, the events it
lists, the read model's waits of its period (plus the open ones), and small slices by key
(:mod:`glassbox.slices`: the period's runs, a ticket's neighbourhood, the titles of the threads it
lists). Only the Experiments page's *Whole engagement* switch asks for every run. What a sync changes is
therefore cheap to read again, and memory stays the size of what the pages show. Only while the read
model is stale (the config edited since the last sync; the dashboard never writes) are the waits
measured from every event, as before the read model. Loaders never call a source's API and have no
side effects but one: :func:`save_week_note`, the team's note for a week's report.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import streamlit as st
from sqlalchemy import func, select

from glassbox import readmodel, schema, slices
from glassbox.config import Config, Kpi, load_config
from glassbox.lock import sync_running
from glassbox.metrics import chart_data
from glassbox.metrics.agreements import AgreementFrames, agreement_figures, breaching_waits, ticket_pause_intervals
from glassbox.metrics.experiments import experiments_summary, kpi_story
from glassbox.metrics.latency import compute_all_latencies, summarize
from glassbox.metrics.linking import RUN_CATEGORIES, build_links, runs_frame, ticket_keys
from glassbox.metrics.models import alias_moves, models_summary, positions_at, version_runs, versions_frame
from glassbox.metrics.runs import run_table
from glassbox.metrics.story import ticket_story as story_of
from glassbox.metrics.summary import open_waits_on_people
from glassbox.metrics.working_hours import previous_working_day
from glassbox.notes import WeekNote, clean_note
from glassbox.periods import Period, PeriodKind
from glassbox.portfolio import PortfolioRow, engagement_week
from glassbox.readmodel.days import counted_days, daily_counts
from glassbox.readmodel.derive import EVERY_KEY, DayKey
from glassbox.readmodel.kpis import judged_runs, stored_story
from glassbox.readmodel.query import meta_key, stored_fingerprint
from glassbox.readmodel.runs import experiments_of, newest_run_ids, run_names
from glassbox.report_model import ReportModel
from glassbox.reports.content import short_title
from glassbox.sources import configured_sources, source_keys
from glassbox.store import DEFAULT_ENGAGEMENT, Store, open_store
from glassbox.sync import ABANDONED, FAILED_STATES, sync_state
from glassbox.timeline import load_timeline
from glassbox.views import View
from glassbox.workspace import Workspace, load_workspace

log = logging.getLogger(__name__)

TTL = 60  # how stale the store's version may be: a sync shows up within a minute
DATA_TTL = 3600  # data keyed by a version never goes stale; this only bounds memory
EVENT_COLUMNS = ["id", "occurred_at", "source", "category", "actor", "side", "thread", "title", "detail", "url",
                 "refs", "tickets"]


class Source(NamedTuple):
    """Where the data lives and which version of it (the cache key of every loader); see :func:`source`.

    ``config_path`` is the workspace's file (or the single config), ``engagement`` the engagement
    within it whose data every loader reads (the store is scoped to it, SPEC §6).
    """

    config_path: str
    store_url: str
    version: str = ""
    engagement: str = DEFAULT_ENGAGEMENT


def source(config_path: str, store_url: str, engagement: str = DEFAULT_ENGAGEMENT) -> Source:
    return Source(config_path, store_url, version(config_path, store_url, engagement), engagement)


@st.cache_data(ttl=TTL, show_spinner=False)
def version(config_path: str, store_url: str, engagement: str = DEFAULT_ENGAGEMENT) -> str:
    """Changes whenever a sync writes the engagement, its read model is rebuilt or the config is edited.

    The last write that changed an event (:meth:`~glassbox.store.Store.last_change`), the newest
    sync run and when it finished (the sources' freshness), and the read model's fingerprint. Not
    the event count (an index walk of 57–63 ms at 1M events, once a minute per engagement) nor the
    newest ``synced_at`` (no index holds it: 1.4–3.3 s).
    """
    opened = engagement_store(store_url, engagement)
    runs, meta = schema.sync_runs, schema.meta
    with opened.engine.connect() as conn:
        newest, finished = conn.execute(select(func.max(runs.c.id), func.max(runs.c.finished_at))
                                        .where(runs.c.engagement == engagement)).one()
        derived = conn.execute(select(meta.c.value).where(meta.c.key == meta_key(opened))).scalar()
    return f"{opened.last_change()}:{newest}:{finished}:{derived}:{Path(config_path).stat().st_mtime}"


@st.cache_data(ttl=TTL, show_spinner=False)
def version_before(config_path: str, store_url: str, engagement: str, view: View, end: datetime) -> str:
    """Changes whenever a write changes what ``view`` shows of the time before ``end``
    (:meth:`~glassbox.store.Store.changed_before`), the read model is rebuilt or the config is edited:
    not when a sync brings only newer events, as nearly every sync of a running engagement does."""
    opened = engagement_store(store_url, engagement)
    derived = stored_fingerprint(opened)
    return f"{opened.changed_before(end, view)}:{derived}:{Path(config_path).stat().st_mtime}"


def as_of(source: Source, view: View, end: datetime) -> Source:
    """``source`` keyed for figures that stand at ``end`` — a closed period's, which say what was true
    at its end — so they outlive the syncs that change only what came later; ``source`` itself while
    ``end`` is still to come."""
    if end > datetime.now(UTC):
        return source
    return source._replace(version=version_before(source.config_path, source.store_url, source.engagement,
                                                  view, end))


@st.cache_resource(show_spinner=False)
def workspace(path: str, mtime: float) -> Workspace:
    """The workspace (or single config) at ``path``; ``mtime`` makes an edited file load again."""
    return load_workspace(path)


@st.cache_resource(show_spinner=False)
def config(path: str, mtime: float) -> Config:
    """The config at ``path``; ``mtime`` makes an edited file load again."""
    return load_config(path)


@st.cache_resource(show_spinner=False)
def store(url: str) -> Store:
    return open_store(url)


@st.cache_resource(show_spinner=False)
def engagement_store(url: str, engagement: str) -> Store:
    """One engagement's part of the store, kept across reruns: it keeps what only a write changes
    (the Jira tickets' keys, :meth:`~glassbox.store.Store.jira_tickets`), which a page asks for in
    nearly every loader — a new one per call read them again, 3.9 s of a round of pages after a sync
    at 1M events."""
    return store(url).scoped(engagement)


def _open(source: Source) -> tuple[Store, Config]:
    path = Path(source.config_path)
    found = workspace(source.config_path, path.stat().st_mtime)
    return engagement_store(source.store_url, source.engagement), found.engagement(source.engagement)


def _detail(category: str, attrs: dict[str, Any]) -> str:
    """The one fact a row needs beyond its title: a status change, a review verdict, a run's result."""
    if category == "ticket_transition":
        return f"{attrs.get('from_status', '?')} → {attrs.get('to_status', '?')}"
    if category in ("ticket_created", "ticket_resolved"):
        return str(attrs.get("to_status") or attrs.get("status") or "")
    if category == "review":
        return str(attrs.get("state", "")).replace("_", " ").lower()
    if category == "run_finished":
        metrics = attrs.get("metrics") or {}
        shown = ", ".join(f"{name} {value:.4g}" for name, value in list(metrics.items())[:2]
                          if isinstance(value, (int, float)))
        return f"{str(attrs.get('status', '')).lower()} {shown}".strip()
    if category == "commit":
        sha = attrs.get("sha") or ""
        return sha[:8]
    return ""


def _slim(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame({column: pd.Series(dtype="datetime64[ns, UTC]" if column == "occurred_at" else object)
                             for column in EVENT_COLUMNS})
    out = frame.assign(
        detail=[_detail(category, attrs or {})
                for category, attrs in zip(frame["category"], frame["attrs"], strict=True)],
        title=frame["title"].map(short_title),
        refs=frame["refs"].map(" ".join),
        tickets=[" ".join(ticket_keys(refs, kinds))
                 for refs, kinds in zip(frame["refs"], frame["ref_kinds"], strict=True)],
    )
    return out.loc[:, EVENT_COLUMNS]


@st.cache_data(ttl=DATA_TTL, max_entries=32, show_spinner=False)
def events(source: Source, start: datetime, end: datetime, view: View,
           categories: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The timeline rows in ``[start, end)`` for ``view`` (of ``categories``), newest first, display columns only.

    A comment's title is its first line (the timeline keeps only "Comment on CHURN-8"): the bodies
    of the window's comments are read here, a few rows, never the history's.
    """
    opened, cfg = _open(source)
    frame = load_timeline(opened, cfg, start=start, end=end, view=view, categories=categories)
    comments = frame["category"] == "comment"
    if comments.any():
        bodies = opened.read_events(start=start, end=end, categories=["comment"], columns=("id", "body"))
        first_lines = bodies.set_index("id")["body"].map(short_title)
        said = frame.loc[comments, "id"].map(first_lines)
        frame = frame.assign(title=frame["title"].mask(comments & said.reindex(frame.index).fillna("").ne(""),
                                                       said.reindex(frame.index)))
    return _slim(frame).sort_values("occurred_at", ascending=False, kind="stable").reset_index(drop=True)


@st.cache_data(ttl=DATA_TTL, max_entries=16, show_spinner=False)
def day_counts(source: Source, view: View, start: datetime, end: datetime,
               by: tuple[DayKey, ...] = EVERY_KEY) -> pd.DataFrame:
    """How many events ``view`` has per local day and each of ``by`` (source, category, person and
    side unless told) in ``[start, end)`` (whole local days; :func:`glassbox.readmodel.days.daily_counts`):
    a period's totals, choices and chart without its events. Counted from the events while the read
    model is stale."""
    opened, cfg = _open(source)
    zone = cfg.engagement.zone
    if readmodel.is_current(opened, cfg):
        return daily_counts(opened, view, start.astimezone(zone).date(), end.astimezone(zone).date(), by)
    return counted_days(load_timeline(opened, cfg, start=start, end=end, view=view), zone, by)


@st.cache_data(ttl=DATA_TTL, max_entries=16, show_spinner=False)
def period_tickets(source: Source, view: View, start: datetime, end: datetime) -> list[str]:
    """The tickets ``view`` sees in ``[start, end)`` (:func:`glassbox.slices.period_tickets`): what the
    days before today's say is read once and kept as they stand (:func:`as_of`), so a sync of today's
    events reads today's alone (at 1M events the four weeks' keys took 0.3 s after every sync)."""
    opened, cfg = _open(source)
    split = _before_today(start, end)
    found = slices.NO_CANDIDATES
    if split > start:
        found = found.joined(_ticket_candidates(as_of(source, view, split), view, start, split))
    if end > split:
        found = found.joined(slices.period_ticket_candidates(opened, cfg, view, split, end))
    return slices.visible_tickets(opened, cfg, view, found)


@st.cache_data(ttl=DATA_TTL, max_entries=16, show_spinner=False)
def _ticket_candidates(source: Source, view: View, start: datetime, end: datetime) -> slices.TicketCandidates:
    opened, cfg = _open(source)
    return slices.period_ticket_candidates(opened, cfg, view, start, end)


def _before_today(start: datetime, end: datetime) -> datetime:
    """Where ``[start, end)`` stops being history a sync of today's events leaves alone: today's
    midnight (UTC), within the bounds."""
    return min(max(start, _today(datetime.now(UTC))), end)


@st.cache_resource(ttl=DATA_TTL, max_entries=4, show_spinner=False)
def ml_history(source: Source, view: View) -> pd.DataFrame:
    """Every run and model event with the commits the runs name (:func:`glassbox.slices.ml_history`),
    shared read-only: what a ticket's story and the runs (while the read model is stale) read."""
    opened, cfg = _open(source)
    return slices.ml_history(opened, cfg, view)


@st.cache_resource(ttl=DATA_TTL, max_entries=4, show_spinner=False)
def runs(source: Source, view: View) -> pd.DataFrame:
    """One row per MLflow run (:func:`glassbox.metrics.linking.runs_frame`) with its family columns
    (:func:`glassbox.metrics.runs.run_table`: top-level or child, excluded) and its note: the read
    model's rows, measured from the run events only while they are stale. Every run of the history:
    what the Experiments page's *Whole engagement* reads, and the figures while the read model is
    stale; shared read-only, too many to copy on each rerun (69,000 runs, 17 MB pickled, took 0.4–0.5 s
    a rerun to unpickle through ``cache_data``)."""
    opened, cfg = _open(source)
    if readmodel.is_current(opened, cfg):
        return readmodel.stored_runs(opened, view)
    frame = ml_history(source, view)
    return run_table(runs_frame(frame.loc[frame["category"].isin(["commit", *RUN_CATEGORIES])]), frame)


@st.cache_data(ttl=DATA_TTL, max_entries=8, show_spinner=False)
def model_events(source: Source, view: View) -> pd.DataFrame:
    """Every model version and alias move (:func:`glassbox.slices.model_history`)."""
    opened, cfg = _open(source)
    return slices.model_history(opened, cfg, view)


@st.cache_resource(ttl=DATA_TTL, max_entries=2, show_spinner="Measuring response times…")
def _measured(source: Source, view: View) -> dict[str, pd.DataFrame]:
    """Every wait measured from every event: only while the read model is stale (see the module docstring)."""
    opened, cfg = _open(source)
    return compute_all_latencies(load_timeline(opened, cfg, view=view), cfg)


def latency_samples(source: Source, view: View, since: datetime | None = None,
                    threads: tuple[str, ...] | None = None) -> dict[str, pd.DataFrame]:
    """Each SPEC §4 latency's samples that matter to periods from ``since`` on (every wait ended since,
    or still open), or those on ``threads``: the read model's rows, measured from the events while
    they are stale."""
    opened, cfg = _open(source)
    if not readmodel.is_current(opened, cfg):
        measured = _measured(source, view)
        if threads is None:
            return measured
        return {name: frame.loc[frame["thread"].isin(threads)].reset_index(drop=True)
                for name, frame in measured.items()}
    return _read_samples(source, view, since, threads)


@st.cache_data(ttl=DATA_TTL, max_entries=16, show_spinner=False)
def _read_samples(source: Source, view: View, since: datetime | None,
                  threads: tuple[str, ...] | None) -> dict[str, pd.DataFrame]:
    opened, _ = _open(source)
    return readmodel.samples(opened, view, since=since, threads=threads)


@st.cache_data(ttl=DATA_TTL, max_entries=32, show_spinner=False)
def thread_titles(source: Source, view: View, threads: tuple[str, ...]) -> dict[str, str]:
    """What each of ``threads`` (tickets, pull requests) is called, so a wait on CHURN-12 can say what CHURN-12 is.

    The titles of the threads opened before today stand (a retitled ticket rewrites its opening event,
    dated then, and so changes :func:`as_of`'s version): each is read once per version
    (:func:`_titles_read_before`), however the sets of threads the pages ask about change — a sync that
    lists a few new threads reads theirs alone. The others' are read after every sync."""
    opened, cfg = _open(source)
    today = _today(datetime.now(UTC))
    read = _titles_read_before(as_of(source, view, today), view, today)
    unread = [thread for thread in threads if thread not in read]
    if unread:
        found = slices.titles_of(opened, cfg, view, unread, today)
        read.update({thread: found.get(thread) for thread in unread})
    titles = {thread: title for thread in threads if (title := read.get(thread)) is not None}
    rest = [thread for thread in threads if thread not in titles]
    if rest:
        titles = {**titles, **slices.titles_of(opened, cfg, view, rest)}
    return {thread: short_title(title) for thread, title in titles.items()}


@st.cache_resource(ttl=DATA_TTL, max_entries=32, show_spinner=False)
def _titles_read_before(source: Source, view: View, end: datetime) -> dict[str, str | None]:
    """The titles of threads opened before ``end`` read so far, by thread (``None``: not opened before
    it), filled in by :func:`thread_titles` and shared by every session: ``source`` is keyed as of
    ``end``, so what it holds never goes stale. Keyed by the set of threads, as it was, the Timeline's
    four weeks of tickets were read again whenever a sync brought one more (0.37 s at 1M events)."""
    return {}


def _today(moment: datetime) -> datetime:
    """Midnight UTC of ``moment``'s day: a bound that keeps one cache entry all day."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@st.cache_data(ttl=TTL, max_entries=16, show_spinner=False)
def open_waits_now(source: Source, view: View, now: datetime) -> pd.DataFrame:
    """What is waiting on someone right now (:data:`glassbox.vocabulary.WAITS`), oldest first.

    ``latency, on, what, thread, title, started_at, hours, working_hours``: the Today and Feedback
    pages list these, the same waits a report lists.
    """
    _, cfg = _open(source)
    table = open_waits_on_people(latency_samples(source, view, since=_today(now)), now, cfg.team)
    table["title"] = table["thread"].map(thread_titles(source, view, tuple(sorted(set(table["thread"]))))).fillna("")
    columns = ["latency", "on", "what", "thread", "title", "started_at", "hours", "working_hours"]
    return table.sort_values("started_at", kind="stable").loc[:, columns].reset_index(drop=True)


@st.cache_data(ttl=TTL, show_spinner=False)
def freshness(source: Source) -> pd.DataFrame:
    """Per configured source: its :func:`~glassbox.sync.sync_state`, last successful sync, last failure
    and its message, and for a sync running now how many items it has fetched so far (``so_far``).
    A run left ``running`` by a sync that died counts as an interrupted failure."""
    opened, cfg = _open(source)
    history = opened.sync_runs(source_keys(cfg))
    running_now = sync_running(opened)
    rows = []
    for spec in configured_sources(cfg):
        origin = spec.section.origin(cfg.folder)
        mine = history.loc[(history["source"] == spec.kind) & (history["origin"] == origin)]
        state = sync_state(mine, running_now)
        ok = mine.loc[mine["status"] == "ok", "finished_at"]
        failed = mine.loc[mine["status"].isin(FAILED_STATES)]
        last_failure, message = (failed.iloc[0]["finished_at"], failed.iloc[0]["message"] or "") if not failed.empty \
            else (pd.NaT, "")
        if state == "interrupted" and mine.iloc[0]["status"] == "running":  # abandoned, not yet recorded so
            last_failure, message = mine.iloc[0]["started_at"], ABANDONED
        rows.append({
            "source": spec.kind,
            "origin": origin,
            "state": state,
            "last_ok": ok.max() if not ok.empty else pd.NaT,
            "last_failure": last_failure,
            "message": message if state in FAILED_STATES else "",
            "so_far": int(mine.iloc[0]["fetched"]) if state == "running" else None,
        })
    return pd.DataFrame(rows, columns=["source", "origin", "state", "last_ok", "last_failure", "message", "so_far"])


def since_previous_working_day(cfg: Config, now: datetime) -> Period:
    """From the start of the previous working day to the end of today, in the engagement's time zone.

    Whole days, so the bounds (and every cache key built from them) stay the same all day.
    """
    tz = cfg.engagement.zone
    today = now.astimezone(tz).date()
    first = previous_working_day(today, cfg.team)
    start = datetime.combine(first, time(0), tzinfo=tz)
    return Period(f"since {first:%a %d %b}", start, datetime.combine(today + timedelta(days=1), time(0), tzinfo=tz))


@st.cache_data(ttl=DATA_TTL, max_entries=16, show_spinner=False)
def experiments(source: Source, view: View, start: datetime, end: datetime) -> tuple[list[dict], list[dict], dict]:
    """SPEC §5's ``experiments`` and ``alerts`` for ``[start, end)`` plus each KPI's story as the
    period shows it: from the read model's stories and the period's runs (:func:`period_runs`), else
    (stale, or a search not yet whole at ``end``) every run judged again."""
    opened, cfg = _open(source)
    current = readmodel.is_current(opened, cfg)
    kept = readmodel.period_stories(opened, list(cfg.kpi), view, start, end) if current else None
    if kept is None:
        return experiments_summary(runs(source, view), list(cfg.kpi), start, end)
    return experiments_summary(period_runs(source, view, start, end), list(cfg.kpi), start, end, kept)


@st.cache_data(ttl=DATA_TTL, max_entries=8, show_spinner=False)
def experiment_names(source: Source, view: View) -> list[str]:
    """The experiments ``view`` has runs in, by name."""
    opened, cfg = _open(source)
    if readmodel.is_current(opened, cfg):
        return experiments_of(opened, view)
    return sorted(runs(source, view)["experiment"].dropna().unique())


@st.cache_resource(ttl=DATA_TTL, max_entries=4, show_spinner=False)
def experiment_runs(source: Source, view: View, experiment: str, since: datetime, end: datetime,
                    newest: int) -> pd.DataFrame:
    """The runs of ``experiment`` the Experiments page lists, counts and compares: those started from
    ``since`` (the period before the page's) with their families, its ``newest`` runs started before
    ``end`` (offered for comparison) and the models' runs, as :func:`period_runs` reads them; every run
    of the experiment while the read model is stale. Shared read-only."""
    opened, cfg = _open(source)
    if not readmodel.is_current(opened, cfg):
        every = runs(source, view)
        return every.loc[every["experiment"] == experiment]
    seeds = version_runs(model_events(source, view)) | set(
        newest_run_ids(opened, view, newest, before=end, experiment=experiment))
    found = readmodel.family_runs(opened, view, end, started_from=since, run_ids=seeds)
    return found.loc[found["experiment"] == experiment].reset_index(drop=True)


# what the Experiments page reads of a story (its chart, best, table and comparison)
STORY_SHOWN = ("run_id", "started_at", "name", "value", "value_run_id", "counted", "new_best", "best_so_far")


@st.cache_resource(ttl=DATA_TTL, max_entries=4, show_spinner=False)
def experiment_story(source: Source, view: View, experiment: str, metric: str, end: datetime) -> pd.DataFrame:
    """The Experiments page's story of ``experiment`` (:func:`glassbox.metrics.experiments.kpi_story`
    of its runs before ``end``, :data:`STORY_SHOWN` of it): judged by its ``[[kpi]]``, else by
    ``metric``, higher is better; the same for every period ending then. A KPI's is the read model's
    (:func:`~glassbox.readmodel.kpis.stored_story` with the runs' names: the results and bests the chart
    draws, no run judged again). Shared read-only: one row per top-level run of the history."""
    opened, cfg = _open(source)
    kpi = next((kpi for kpi in cfg.kpi if kpi.experiment == experiment), None)
    if kpi is not None and readmodel.is_current(opened, cfg):
        stored = stored_story(opened, kpi, view, end, [name for name in STORY_SHOWN if name != "name"])
        if stored is not None:
            return _shown_story(stored.assign(name=stored["run_id"].map(run_names(opened, view, experiment))))
    every = runs(source, view)
    mine = every.loc[(every["experiment"] == experiment) & (every["started_at"] < end)]
    # no run's parameters are shown, so none is diffed but the new bests' (diffs_from=end)
    return _shown_story(kpi_story(mine, kpi or Kpi(experiment=experiment, metric=metric, goal="max"),
                                  diffs_from=end))


def _shown_story(story: pd.DataFrame) -> pd.DataFrame:
    """The :data:`STORY_SHOWN` columns of a story, its figures as floats (NaN where missing): one row per
    top-level run of the history, kept in memory, so not a Python object per figure (a quarter of the size)."""
    out = story.loc[:, list(STORY_SHOWN)].reset_index(drop=True)
    for name in ("value", "best_so_far"):
        out[name] = pd.to_numeric(out[name], errors="coerce").astype(float)
    for name in ("counted", "new_best"):
        out[name] = out[name].astype(bool)
    return out


@st.cache_data(ttl=DATA_TTL, max_entries=16, show_spinner=False)
def period_runs(source: Source, view: View, start: datetime, end: datetime) -> pd.DataFrame:
    """The runs started in ``[start, end)`` and the models' runs, with their families
    (:func:`glassbox.readmodel.runs.family_runs`): what a period's run figures read. Every run while
    the read model is stale."""
    opened, cfg = _open(source)
    if not readmodel.is_current(opened, cfg):
        return runs(source, view)
    models = version_runs(model_events(source, view))
    return readmodel.family_runs(opened, view, end, started_from=start, run_ids=models)


@st.cache_data(ttl=DATA_TTL, max_entries=8, show_spinner=False)
def latest_run(source: Source, view: View) -> pd.Series | None:
    """The top-level run started last (:func:`glassbox.readmodel.runs.latest_run`), None without runs."""
    opened, cfg = _open(source)
    if readmodel.is_current(opened, cfg):
        return readmodel.latest_run(opened, view)
    every = runs(source, view)
    top = every.loc[every["top_level"] & every["started_at"].notna()] if "top_level" in every else every.iloc[:0]
    return top.sort_values(["started_at", "run_id"], kind="stable").iloc[-1] if len(top) else None


def alerts(source: Source, view: View, start: datetime, end: datetime) -> list[dict]:
    """The period's alerts, as the report lists them: metric drops, then models whose alias regressed."""
    return experiments(source, view, start, end)[1] + model_alerts(source, view, start, end)


@st.cache_data(ttl=DATA_TTL, max_entries=16, show_spinner=False)
def model_alerts(source: Source, view: View, start: datetime, end: datetime) -> list[dict]:
    """``model_regressed`` alerts of ``[start, end)`` (:func:`glassbox.metrics.models.models_summary`)."""
    _, cfg = _open(source)
    return models_summary(model_events(source, view), period_runs(source, view, start, end), cfg.kpi, start, end)[1]


def _earliest(since: datetime | None, *starts: datetime) -> datetime | None:
    """The earliest of ``starts`` and ``since``: a page whose loaders are given one ``since`` reads the
    samples once."""
    moments = [*starts, *([since] if since is not None else [])]
    return min(moments) if moments else None


@st.cache_data(ttl=DATA_TTL, max_entries=16, show_spinner=False)
def latency_trend(source: Source, view: View, weeks: tuple[tuple[str, datetime, datetime], ...],
                  now: datetime, since: datetime | None = None) -> pd.DataFrame:
    """Per latency and week: ``latency, week, n, median_hours, p90_hours`` (SPEC §4, a sample in its end week).

    ``open`` and ``oldest_open_hours`` are measured at each week's end or ``now``, whichever is earlier.
    ``since``, earlier than the weeks, reads the samples a page's other figures read too, once.
    """
    samples = latency_samples(source, view, since=_earliest(since, *(start for _, start, _ in weeks)))
    rows = [{"latency": name, "week": label, **summarize(frame, start, end, now)}
            for name, frame in samples.items() for label, start, end in weeks]
    return pd.DataFrame(rows, columns=["latency", "week", "n", "median_hours", "p90_hours", "max_hours",
                                       "median_working_hours", "open", "oldest_open_hours"])


@st.cache_data(ttl=DATA_TTL, max_entries=16, show_spinner=False)
def latency_distribution(source: Source, view: View, start: datetime, end: datetime,
                         points: int = 200, since: datetime | None = None) -> pd.DataFrame:
    """Completed waits ending in ``[start, end)`` as ``latency, hours, waits``: at most ``points`` quantiles
    of each latency's hours, and ``waits`` how many ended, in each of its rows — a busy latency's 3,000
    waits drawn as 200 ticks are still 3,000 waits (``since``: as :func:`latency_trend`'s)."""
    frames = []
    for name, frame in latency_samples(source, view, since=_earliest(since, start)).items():
        done = frame.loc[frame["ended_at"].notna() & (frame["ended_at"] >= start) & (frame["ended_at"] < end), "hours"]
        ended = len(done)
        if ended > points:
            done = done.quantile([index / (points - 1) for index in range(points)])
        frames.append(pd.DataFrame({"latency": name, "hours": done.to_numpy(dtype=float), "waits": ended}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["latency", "hours", "waits"])


@st.cache_data(ttl=DATA_TTL, max_entries=16, show_spinner=False)
def ticket_flow(source: Source, view: View, label: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Tickets created and resolved per ISO week, for the chart's weeks up to the period's end: summed
    from the day counts (:func:`day_counts`), not read as events."""
    _, cfg = _open(source)
    period, zone = Period(label, start, end), cfg.engagement.zone
    days = day_counts(source, view, chart_data.flow_start(period, zone), end, by=("category",))
    return chart_data.ticket_flow_of_days(days, period, zone)


def report(source: Source, view: View, week: Period, note: WeekNote | None) -> ReportModel:
    """The weekly report of one week and view with its note, built once: the page's preview and every
    download. A closed week's is kept across the syncs that leave its days alone (:func:`as_of`).

    ``note`` (from :func:`week_note`) is part of the cache key, so a saved note shows in the next
    download at once.
    """
    return _report(as_of(source, view, week.end), view, week, note)


@st.cache_resource(ttl=DATA_TTL, max_entries=4, show_spinner="Building the report…")  # each holds its window
def _report(source: Source, view: View, week: Period, note: WeekNote | None) -> ReportModel:
    """Shared read-only (``cache_resource``: the model's frames are not copied)."""
    opened, cfg = _open(source)
    return ReportModel.load(opened, cfg, week, view, datetime.now(UTC)).derived()


@st.cache_data(ttl=TTL, show_spinner=False)
def week_note(source: Source, week: str) -> WeekNote | None:
    """The note of ISO week ``week`` (SPEC §5); :func:`save_week_note` clears this cache."""
    opened, _ = _open(source)
    return opened.week_note(week)


def save_week_note(source: Source, week: str, text: str) -> WeekNote | None:
    """Save the team's note for ``week`` (the dashboard's one write; an empty text clears it)."""
    opened, _ = _open(source)
    saved = opened.set_week_note(week, clean_note(text, f"the note for {week}"))
    week_note.clear()
    return saved



def _agreement_frames(source: Source, view: View, since: datetime) -> AgreementFrames:
    """The waits that matter from ``since`` on, with the pauses of their tickets (waiting statuses)."""
    opened, cfg = _open(source)
    samples = latency_samples(source, view, since=since)
    tickets = {thread for name, frame in samples.items() if name != "commit_to_run" for thread in frame["thread"]}
    return AgreementFrames(samples, ticket_pause_intervals(slices.status_history(opened, cfg, view, tickets)), cfg.team)


@st.cache_data(ttl=DATA_TTL, max_entries=16, show_spinner=False)
def agreement_weeks(source: Source, view: View, weeks: tuple[tuple[str, datetime, datetime], ...],
                    now: datetime, since: datetime | None = None) -> pd.DataFrame:
    """Per working agreement (SPEC §7, config order) and week: its figures, ``agreement`` its index
    (``since``: as :func:`latency_trend`'s)."""
    _, cfg = _open(source)
    frames = _agreement_frames(source, view, _earliest(since, *(start for _, start, _ in weeks)) or now)
    rows = [{"agreement": index, "week": label, **agreement_figures(agreement, frames, start, end, now)}
            for index, agreement in enumerate(cfg.agreement) for label, start, end in weeks]
    return pd.DataFrame(rows)


@st.cache_data(ttl=TTL, max_entries=16, show_spinner=False)
def breaching_now(source: Source, view: View, now: datetime) -> pd.DataFrame:
    """Open waits already past their agreement's limit (:func:`~glassbox.metrics.agreements.breaching_waits`),
    most overdue first, with each thread's ``title``."""
    _, cfg = _open(source)
    table = breaching_waits(cfg.agreement, _agreement_frames(source, view, _today(now)), now)
    table["title"] = table["thread"].map(thread_titles(source, view, tuple(sorted(set(table["thread"]))))).fillna("")
    return table


@st.cache_data(ttl=DATA_TTL, max_entries=8, show_spinner=False)
def model_versions(source: Source, view: View, end: datetime) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """Registered model versions before ``end`` with their KPI values
    (:func:`glassbox.metrics.models.versions_frame`, from the versions' runs and their families alone),
    and where each alias points at ``end``."""
    opened, cfg = _open(source)
    frame = model_events(source, view)
    their_runs = readmodel.family_runs(opened, view, end, run_ids=version_runs(frame)) \
        if readmodel.is_current(opened, cfg) else runs(source, view)
    return versions_frame(frame, their_runs, cfg.kpi, end), positions_at(alias_moves(frame, end))


@st.cache_data(ttl=DATA_TTL, max_entries=32, show_spinner="Gathering the ticket's story…")
def ticket_story(source: Source, view: View, key: str) -> pd.DataFrame:
    """Ticket ``key``'s story (:func:`glassbox.metrics.story.ticket_story`) in ``view``: empty when the view
    has none of it (an internal ticket in the client view has no story)."""
    opened, cfg = _open(source)
    current = readmodel.is_current(opened, cfg)  # then the read model judges the ticket's runs: no ML history read
    frame = slices.ticket_neighbourhood(opened, cfg, view, key, None if current else ml_history(source, view))
    links = build_links(frame)
    served = links.for_ticket(key)
    judged = judged_runs(opened, cfg.kpi, view, served["runs"]["run_id"]) if current else None
    threads = {key, *served["pull_requests"]["thread"]}
    return story_of(frame, links, latency_samples(source, view, threads=tuple(sorted(threads))), key, cfg.kpi,
                    judged)


@st.cache_data(ttl=DATA_TTL, max_entries=8, show_spinner=False)
def story_tickets(source: Source, view: View) -> list[str]:
    """Tickets ``view`` may see (:func:`glassbox.slices.story_tickets`), sorted."""
    opened, cfg = _open(source)
    return slices.story_tickets(opened, cfg, view)


@st.cache_data(ttl=DATA_TTL, max_entries=32, show_spinner=False)
def tickets_among(source: Source, view: View, threads: tuple[str, ...]) -> set[str]:
    """Which of ``threads`` have a Ticket story in ``view`` (:func:`glassbox.slices.tickets_among`)."""
    opened, cfg = _open(source)
    return slices.tickets_among(opened, cfg, view, threads)


@st.cache_data(ttl=DATA_TTL, max_entries=256, show_spinner=False)
def portfolio_row(source: Source, view: View, label: str, start: datetime, end: datetime,
                  now: datetime) -> PortfolioRow:
    """One engagement's Portfolio row for the week ``[start, end)`` (:func:`glassbox.portfolio.engagement_week`)."""
    opened, cfg = _open(source)
    return engagement_week(opened, cfg, Period(label, start, end, PeriodKind.WEEK), view, now)
