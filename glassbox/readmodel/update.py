"""Keeping the read model current: the full rebuild, and the incremental update inside each write.

A write (a sync batch, a deletion) touches a few events. Their threads (before and after the
write: an event may stop naming a ticket) and the tickets and commits their refs name are the only
threads whose waits can change, so :func:`update` re-derives just those: it reads the events near
them (on those threads, or naming them), runs the metric functions over that neighbourhood in both
views, and replaces those threads' rows — in the write's own transaction, so the events and the
rows change together on SQLite and PostgreSQL alike.

Why the neighbourhood is enough: every wait lives on one thread (a ticket, a pull request, or a
commit's SHA for ``commit_to_run``) and is decided by the events on it and the events whose refs
name it. Commit SHAs need a closure: a run's tag may be a short prefix, and whether it names one
commit depends on every commit it could begin, so the neighbourhood holds all of those. What the
rows depend on beyond the events — the config and the store's Jira projects (which keys count as
tickets) — is fingerprinted; when it differs, the next write rebuilds everything instead.

The day counts (``rm_days``) are simpler: an event counts on its own local day only, and whether a
view counts it depends on the event alone — until a ticket or pull request turns internal, which
hides every event on or naming it from the client. So a write takes away what its events counted
before it and adds what they count after (an edit may move an event to another day), reading only
those events; a write that turns a thread internal, or public again, re-counts the whole days of
every event on or naming it instead (any other write, a new public ticket included, changes what
no other event counts).

The run figures of the week still running (``rm_week_runs``, what a Portfolio row shows of its runs)
depend on every run of the week and the best before it: a write that re-derived any run or wrote a
model event forgets them, and :func:`ensure_current` at the sync's end derives them again, once
(:mod:`glassbox.readmodel.weeks`).

The dashboard never writes, so it never rebuilds: it reads the rows as the last sync left them and,
while they are stale (a config edited since), measures from the events as before.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import pandas as pd
from sqlalchemy import Table, delete, insert, select, text
from sqlalchemy import update as sql_update

from glassbox import schema
from glassbox.config import Config
from glassbox.events import LABELLED_CATEGORIES, is_sha, run_event_ids
from glassbox.metrics.linking import RUN_CATEGORIES
from glassbox.metrics.models import MODEL_CATEGORIES
from glassbox.periods import start_of_day
from glassbox.readmodel import kpis, weeks
from glassbox.readmodel.derive import (
    DAY_KEYS,
    config_fingerprint,
    day_rows,
    local_days,
    projects_fingerprint,
    wait_rows,
)
from glassbox.readmodel.query import counted_projects, is_current, meta_key, stored_fingerprint
from glassbox.readmodel.runs import run_rows, runs_among
from glassbox.slices import run_history, with_run_notes
from glassbox.store import Store, WriteCounts
from glassbox.timeline import load_both_views, load_timeline
from glassbox.views import View
from glassbox.visibility import ThreadRule, hides_anything, internal_threads

log = logging.getLogger(__name__)

_CLOSURE_ROUNDS = 8  # short-SHA closure rounds; each adds only commits sharing a prefix with the last
_THREADLESS = frozenset({"commit", *RUN_CATEGORIES})  # their thread (a repo, an experiment) holds no wait
_INSERT_CHUNK = 2000
# A write whose neighbourhood is larger than this (a first sync's batches, whose tickets are being
# filled in) marks the rows stale instead: re-deriving that much per batch would cost more than one
# rebuild when the sync ends (sync_sources calls ensure_current), and readers fall back meanwhile.
BULK_EVENTS = 20_000
# Re-deriving costs about ten times more per written event than a rebuild per stored event (30k
# commits: 22 s batch by batch, 3 s rebuilt), so a write that is more than a tenth of the store (a
# first sync's batches) marks the rows stale and the sync's end rebuilds them once. Only a large write
# (a small one costs little either way, and direct writes keep the rows current).
REBUILD_BELOW = 10
LARGE_WRITE = 1000
_TABLES = (schema.rm_waits, schema.rm_days, schema.rm_runs, schema.rm_kpi_runs, schema.rm_week_runs)  # the rows


def attach(store: Store, config: Config) -> None:
    """Keep the read model current on every :meth:`Store.write` of ``store`` (the sync's), and let the
    store judge by ``config`` which new tickets and pull requests are internal (:attr:`Store.hides_thread`):
    a Jira ticket of a project the client sees no longer lets the client's closed weeks go."""
    store.write_hook = partial(_write_keeping_current, config=config)
    store.hides_thread = ThreadRule.of(config).hides


def _write_keeping_current(store: Store, ids: list[str], write: Callable[[], WriteCounts], *,
                           config: Config) -> WriteCounts:
    if len(ids) >= LARGE_WRITE and len(ids) * REBUILD_BELOW > store.count_events():  # a first sync's batch
        counts = write()
        if counts.new + counts.updated + counts.deleted:
            mark_stale(store)
        return counts
    if not stored_fingerprint(store):  # stale since an earlier large write: the sync's end rebuilds
        return write()
    before, runs_before = store.event_keys(ids), _stored_runs_among(store, ids)
    counted_before = _day_rows(_both_views(store, config, ids), config, store.engagement)
    internal_before = internal_threads(store, config) if hides_anything(config) else frozenset()
    counts = write()
    if counts.new + counts.updated + counts.deleted:
        after = store.event_keys(ids)
        update(store, config, before[0] | after[0], before[1] | after[1],
               DayChange(ids, counted_before, internal_before),
               {**runs_before, **_stored_runs_among(store, ids)})
    return counts


def _stored_runs_among(store: Store, ids: list[str]) -> dict[str, tuple[str, str]]:
    """The runs of the stored run events among ``ids`` (asked before and after a write, so a deleted
    run's row goes too)."""
    columns = ("id", "category", "origin", "attrs")
    return runs_among(store.read_events(ids=ids, categories=RUN_CATEGORIES, columns=columns))


def ensure_current(store: Store, config: Config) -> bool:
    """Rebuild the rows when they were derived with another config (or never); True if it rebuilt.

    Else derive the run figures of the week running now when they are missing (a write since changed
    a run or a model) or of an earlier week: the sync calls this when its sources are done."""
    if not is_current(store, config):
        rebuild(store, config)
        return True
    now = datetime.now(UTC)
    if not weeks.keeps_week_of(store, config, now):
        with store.transaction() as conn:
            weeks.keep_current_week(store.bound_to(conn), config, now)
    return False


def rebuild(store: Store, config: Config) -> int:
    """Derive every row again from all the events, in one transaction; returns how many waits."""
    with store.transaction() as conn:
        bound = store.bound_to(conn)
        timelines = _both_views(bound, config, None)
        rows = _wait_rows(timelines, config, store.engagement, None)
        days = _day_rows(timelines, config, store.engagement)
        runs = _run_rows({view: with_run_notes(timeline, bound, None) for view, timeline in timelines.items()},
                         store.engagement)
        for table in _TABLES:
            conn.execute(delete(table).where(table.c.engagement == store.engagement))
        _insert(conn, schema.rm_waits, rows)
        _insert(conn, schema.rm_days, days)
        _insert(conn, schema.rm_runs, runs)
        kpi_rows = kpis.derive(bound, config.kpi)
        weeks.keep_current_week(bound, config, datetime.now(UTC))
        _save_fingerprint(bound, config)
        if store.dialect == "postgresql":  # rows replaced wholesale: plan the next reads on their statistics
            conn.execute(text(f"ANALYZE {', '.join(table.name for table in _TABLES)}"))
    log.info("read model rebuilt: %d waits, %d day counts, %d runs, %d KPI rows", len(rows), len(days), len(runs),
             kpi_rows)
    return len(rows)


@dataclass(frozen=True)
class DayChange:
    """The events a write touched, ``ids``, the ``rm_days`` rows they made before it (both views), and
    the threads internal before it (:func:`glassbox.visibility.internal_threads`)."""

    ids: list[str]
    counted_before: list[dict]
    internal_before: frozenset[str]


def update(store: Store, config: Config, threads: set[tuple[str, str]], values: set[str],
           days: DayChange, runs: dict[str, tuple[str, str]] | None = None) -> None:
    """Re-derive the waits that events of ``threads`` (``(thread, category)`` pairs) naming ``values``
    may change, move the day counts of the events ``days`` names from what they counted before to
    what they count now, and re-derive ``runs`` (``event id -> (origin, run_id)`` of the run events
    written) with every run naming the commits and tickets whose waits are re-derived (a new commit
    may resolve a run's tag, a ticket turned internal leaves the client's runs).

    ``store`` is bound to the write's transaction. A changed config, or a new (or vanished) Jira
    project, rebuilds instead: either changes rows far from the touched threads.
    """
    categories = {category for _, category in threads}
    stored = stored_fingerprint(store)
    projects_may_change = "ticket_created" in categories and bool(config.jira)
    if stored.get("config") != config_fingerprint(config) or (
            projects_may_change and stored.get("projects") != projects_fingerprint(counted_projects(store, config))):
        rebuild(store, config)
        return
    touched = _waiting_threads(threads) | values
    if not categories.isdisjoint(LABELLED_CATEGORIES):  # a thread turning internal hides every event naming it
        touched |= _keys_of(store, store.event_ids_near((), {thread for thread, _ in threads}))
    touched |= _sha_closure(store, {value for value in touched if is_sha(value)})
    near = store.event_ids_near(touched, touched | _prefixes(store, touched))
    counted_after = _day_rows(_both_views(store, config, days.ids), config, store.engagement)
    labelled = _relabelled(store, config, threads, days.internal_before)
    if labelled:  # ... and the days of every event on it or naming it count it in the client view, or not
        moments = store.event_times(sorted(store.event_ids_near(labelled, labelled)))
        recounted = {row["day"] for row in (*days.counted_before, *counted_after)} | set(
            local_days(moments, config.engagement.zone))
        on_days = store.event_ids_between(_windows(recounted, config))
    else:
        recounted, on_days = set(), set()
    if max(len(near), len(on_days)) > BULK_EVENTS:
        mark_stale(store)
        return
    with store.transaction() as conn:
        table = schema.rm_waits
        mine = table.c.engagement == store.engagement
        ordered = sorted(touched)
        for index in range(0, len(ordered), 500):
            conn.execute(delete(table).where(mine, table.c.thread.in_(ordered[index:index + 500])))
        timelines = _both_views(store, config, sorted(near))
        _insert(conn, table, _wait_rows(timelines, config, store.engagement, touched))
        if recounted:
            _recount_days(conn, store, config, recounted, sorted(on_days))
        else:
            _move_day_counts(conn, store, days.counted_before, counted_after)
        runs_changed = _rederive_runs(conn, store, config, {**(runs or {}), **runs_among(timelines[View.TEAM])})
        if runs_changed or categories & set(MODEL_CATEGORIES):
            weeks.forget(store)  # the sync's end derives them again (ensure_current)


def _relabelled(store: Store, config: Config, threads: set[tuple[str, str]],
                internal_before: frozenset[str]) -> set[str]:
    """The threads among ``threads`` that a write turned internal, or public again: only those change
    what the client counts of the events on or naming them (a new public ticket, most Jira batches,
    changes none of theirs)."""
    candidates = {thread for thread, category in threads if category in LABELLED_CATEGORIES} \
        if hides_anything(config) else set()
    return candidates & (internal_before ^ internal_threads(store, config)) if candidates else set()


def _rederive_runs(conn: object, store: Store, config: Config, runs: dict[str, tuple[str, str]]) -> bool:
    """Replace the ``rm_runs`` rows of ``runs`` (``event id -> (origin, run_id)``, both views) with what
    their events (these and each run's other one, :func:`glassbox.events.run_event_ids`) give now:
    none for a run whose events are gone. Then the KPI stories from the earliest start those runs
    may change (:mod:`glassbox.readmodel.kpis`). Returns whether there were any."""
    if not runs:
        return False
    table = schema.rm_runs
    ordered = sorted({run_id for _, run_id in runs.values()})
    earlier = kpis.starts_of(store, ordered) if config.kpi else {}
    for index in range(0, len(ordered), 500):
        conn.execute(delete(table).where(  # type: ignore[attr-defined]
            table.c.engagement == store.engagement, table.c.run_id.in_(ordered[index:index + 500])))
    ids = sorted(set(runs) | {event for origin, run_id in runs.values() for event in run_event_ids(origin, run_id)})
    views = (View.TEAM, View.CLIENT) if hides_anything(config) else (View.TEAM,)
    _insert(conn, table, _run_rows({view: run_history(store, config, view, ids) for view in views},
                                   store.engagement))
    if config.kpi:
        kpis.derive(store, config.kpi, kpis.rederive_from(store, ordered, earlier))
    return True


def _recount_days(conn: object, store: Store, config: Config, days: set[date], ids: list[str]) -> None:
    """Replace the ``rm_days`` rows of ``days`` (both views) with the counts of their events, ``ids``."""
    table = schema.rm_days
    ordered = sorted(days)
    for index in range(0, len(ordered), 500):
        conn.execute(delete(table).where(  # type: ignore[attr-defined]
            table.c.engagement == store.engagement, table.c.day.in_(ordered[index:index + 500])))
    _insert(conn, table, _day_rows(_both_views(store, config, ids), config, store.engagement))


def _move_day_counts(conn: object, store: Store, before: list[dict], after: list[dict]) -> None:
    """Take ``before``'s counts (``rm_days`` rows of some events before a write) off the stored day
    counts and add ``after``'s (the same events' rows now): rewrites only the days either names."""
    change: Counter[tuple[Any, ...]] = Counter()
    for sign, rows in ((-1, before), (1, after)):
        for row in rows:
            change[_day_key(row)] += sign * row["events"]
    days = sorted({key[1] for key, number in change.items() if number})
    if not days:
        return
    table = schema.rm_days
    columns = ("view", *DAY_KEYS, "events")
    mine = (table.c.engagement == store.engagement, table.c.day.in_(days))
    stored = conn.execute(select(*(table.c[name] for name in columns)).where(*mine))  # type: ignore[attr-defined]
    counts = Counter({_day_key(dict(zip(columns, row, strict=True))): int(row[-1]) for row in stored})
    counts.update({key: number for key, number in change.items() if key[1] in days})
    conn.execute(delete(table).where(*mine))  # type: ignore[attr-defined]
    _insert(conn, table, [{"engagement": store.engagement, **dict(zip(("view", *DAY_KEYS), key, strict=True)),
                           "events": number} for key, number in sorted(counts.items()) if number > 0])


def _day_key(row: dict) -> tuple[Any, ...]:
    return (row["view"], *(row[name] for name in DAY_KEYS))


def _windows(days: set[date], config: Config) -> list[tuple[datetime, datetime]]:
    """``days`` as moments ``[start, end)``, consecutive days as one window (fewer conditions to test)."""
    zone = config.engagement.zone
    windows: list[tuple[datetime, datetime]] = []
    for day in sorted(days):
        start, end = start_of_day(day, zone), start_of_day(day + timedelta(days=1), zone)
        if windows and windows[-1][1] == start:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
    return windows


def _both_views(store: Store, config: Config, ids: list[str] | None) -> dict[View, pd.DataFrame]:
    """The timeline of the events ``ids`` (all when None) as each view sees it.

    The client view is the team's minus what it hides; when it hides nothing here (most batches, and
    every one of an engagement with nothing internal), the client's rows are the team's, so they are
    derived once (only the team's timeline is returned).
    """
    if not hides_anything(config):
        return {View.TEAM: load_timeline(store, config, view=View.TEAM, ids=ids)}
    views = load_both_views(store, config, ids)
    return {View.TEAM: views[View.TEAM]} if views[View.CLIENT] is views[View.TEAM] else views


def _wait_rows(timelines: dict[View, pd.DataFrame], config: Config, engagement: str,
               threads: set[str] | None) -> list[dict]:
    """The waits of both views, those on ``threads`` (all when None)."""
    rows = wait_rows(timelines[View.TEAM], config, engagement, View.TEAM, threads)
    if View.CLIENT not in timelines:
        return [*rows, *({**row, "view": View.CLIENT.value} for row in rows)]
    return [*rows, *wait_rows(timelines[View.CLIENT], config, engagement, View.CLIENT, threads)]


def _day_rows(timelines: dict[View, pd.DataFrame], config: Config, engagement: str) -> list[dict]:
    """The day counts of both views."""
    zone = config.engagement.zone
    rows = day_rows(timelines[View.TEAM], zone, engagement, View.TEAM)
    if View.CLIENT not in timelines:
        return [*rows, *({**row, "view": View.CLIENT.value} for row in rows)]
    return [*rows, *day_rows(timelines[View.CLIENT], zone, engagement, View.CLIENT)]


def _run_rows(histories: dict[View, pd.DataFrame], engagement: str) -> list[dict]:
    """The runs of both views (the team's rows again for the client when only the team's is given)."""
    rows = run_rows(histories[View.TEAM], engagement, View.TEAM)
    if View.CLIENT not in histories:
        return [*rows, *({**row, "view": View.CLIENT.value} for row in rows)]
    return [*rows, *run_rows(histories[View.CLIENT], engagement, View.CLIENT)]


def _waiting_threads(threads: set[tuple[str, str]]) -> set[str]:
    """The threads that may hold waits: not a commit's repository or a run's experiment (thousands of
    events each, none of them a wait's thread; what they name is in their refs)."""
    return {thread for thread, category in threads if category not in _THREADLESS}


def _keys_of(store: Store, ids: set[str]) -> set[str]:
    """The waiting threads and ref values of the events ``ids``."""
    threads, values = store.event_keys(sorted(ids))
    return _waiting_threads(threads) | values


def _prefixes(store: Store, values: set[str]) -> set[str]:
    """The short tags (a run's, 7+ digits) in the store that begin one of the SHAs among ``values``."""
    return store.short_commit_tags_of(value for value in values if is_sha(value))


def _sha_closure(store: Store, shas: set[str]) -> set[str]:
    """The commit SHAs whose ``commit_to_run`` may change with ``shas``: each SHA, every commit a
    short tag among them may begin, and again for the runs naming those (until nothing is added)."""
    known: set[str] = set()
    frontier = set(shas)
    for _ in range(_CLOSURE_ROUNDS):
        found = store.commit_refs_starting(frontier) | frontier
        runs = store.event_ids_near((), _prefixes(store, found) | found)
        found |= {value for value in _keys_of(store, runs) if is_sha(value)}
        frontier = found - known
        known |= found
        if not frontier:
            break
    return known


def _insert(conn: object, table: Table, rows: list[dict]) -> None:
    for index in range(0, len(rows), _INSERT_CHUNK):
        conn.execute(insert(table), rows[index:index + _INSERT_CHUNK])  # type: ignore[attr-defined]


def mark_stale(store: Store) -> None:
    """Forget the fingerprint (in the caller's transaction): the next sync or ``rebuild`` derives all."""
    with store.transaction() as conn:
        conn.execute(delete(schema.meta).where(schema.meta.c.key == meta_key(store)))


def _save_fingerprint(store: Store, config: Config) -> None:
    value = json.dumps({"config": config_fingerprint(config),
                        "projects": projects_fingerprint(counted_projects(store, config))})
    with store.transaction() as conn:
        table = schema.meta
        if conn.execute(sql_update(table).where(table.c.key == meta_key(store)).values(value=value)).rowcount == 0:
            conn.execute(insert(table).values(key=meta_key(store), value=value))
