"""The read model's runs: one ``rm_runs`` row per MLflow run and view, what every run figure starts from.

A KPI's best so far, the metric-drop alerts, the models' values and the Experiments page need every
run up to a period's end, and building that table from the run events (reading them, resolving each
run's commit tag among the commits, folding notes in) cost seconds per page and report at 80,000
runs. The sync keeps the result instead: the row :func:`glassbox.metrics.linking.runs_frame` gives
a run, with its ``excluded`` flag (:func:`glassbox.metrics.runs.run_table`), as the run's events and
the commits its tag names stand in the view.

Families (which run is a child of which) are not stored: they depend on every other run, so
:func:`stored_runs` folds them in on reading (:func:`glassbox.metrics.runs.with_families`, a few
vectorized passes). Everything else about a run depends only on its own two events and the commits
its tag may begin, so a write re-derives just the runs it touched (:mod:`glassbox.readmodel.update`).

Read at a period's end, the runs are those with an event before it (``seen_at``), each as last
synced, not as it stood then: both of a run's events carry its latest attrs (the connector writes
them together), so a run reads the same either way. Its commit is resolved among every commit known,
where reading the events up to the end resolved it among the commits made before the end: the same
commit, as a run's commit is made before the run starts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pandas as pd
from sqlalchemy import Connection, or_, select

from glassbox import schema
from glassbox.metrics.linking import RUN_CATEGORIES, attr, runs_frame
from glassbox.metrics.runs import MAX_DEPTH, with_excluded, with_families
from glassbox.store import Store, off_index
from glassbox.views import View

RUN_COLUMNS = ("run_id", "experiment", "name", "started_at", "ended_at", "status", "actor", "side", "url",
               "params", "metrics", "note", "parent_run_id", "commit", "sha", "tickets", "datasets", "hours",
               "excluded")
DETAIL = ("params", "metrics", "tickets", "datasets", "hours")  # kept together as one JSON text, read together
_PLAIN = tuple(name for name in RUN_COLUMNS if name not in DETAIL)
_TIMES = ("started_at", "ended_at")
_READ = (*_PLAIN, "seen_at", "detail")
_IN_CHUNK = 500


def run_rows(history: pd.DataFrame, engagement: str, view: View) -> list[dict[str, Any]]:
    """One ``rm_runs`` row per run in ``history`` (run events, the commits they name, notes in ``body``)."""
    runs = history.loc[history["category"].isin(["commit", *RUN_CATEGORIES])]
    table = with_excluded(runs_frame(runs), history)  # families are folded in on reading
    seen = _first_events(runs)
    rows = []
    for run in table.to_dict("records"):
        row = {name: _plain(run[name]) for name in _PLAIN}
        row["seen_at"] = seen[run["run_id"]].to_pydatetime()
        row["excluded"] = bool(run.get("excluded", False))
        row["detail"] = json.dumps({name: run[name] for name in DETAIL}, default=str)
        rows.append({"engagement": engagement, "view": view.value, **row})
    return rows


def _first_events(runs: pd.DataFrame) -> pd.Series:
    """``run_id ->`` when the run's first event occurred (the run is known from then on; its start time
    may be missing)."""
    events = runs.loc[runs["category"].isin(RUN_CATEGORIES)]
    run_ids = attr(events, "run_id").fillna(events["id"])  # as runs_frame names a run
    return events["occurred_at"].groupby(run_ids).min()


def runs_among(timeline: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """``event id -> (origin, run_id)`` of the run events of ``timeline``."""
    events = timeline.loc[timeline["category"].isin(RUN_CATEGORIES)]
    return {event: (origin, attrs["run_id"])
            for event, origin, attrs in zip(events["id"], events["origin"], events["attrs"], strict=True)
            if isinstance(attrs, dict) and isinstance(attrs.get("run_id"), str)}


def _plain(value: Any) -> Any:
    """A cell as the database takes it: a datetime, a str, or None for every kind of missing."""
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.to_pydatetime()
    return None if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT else value


def stored_runs(store: Store, view: View, end: datetime | None = None, *, seen: bool = False) -> pd.DataFrame:
    """Every run of ``view`` with an event before ``end`` (all without one) as
    :func:`~glassbox.metrics.runs.run_table` gives it: the columns of
    :func:`~glassbox.metrics.linking.runs_frame`, ``excluded`` and the family columns, in start order
    (and ``seen_at``, when the run was first seen, with ``seen``)."""
    with store.transaction() as conn:
        frame = _read(conn, store, view, end)
    return with_families(_in_start_order(frame).loc[:, [*RUN_COLUMNS, *(("seen_at",) if seen else ())]])


def family_runs(store: Store, view: View, end: datetime | None = None, *, started_from: datetime | None = None,
                run_ids: Iterable[str] = ()) -> pd.DataFrame:
    """The runs of ``view`` started at or after ``started_from`` (none without it) and the runs ``run_ids``,
    with every ancestor of theirs and every descendant of those, as :func:`stored_runs` gives them at
    ``end`` plus ``seen_at``.

    The family columns of every run here are those of :func:`stored_runs`: a run's family is decided
    by its ancestors and a top-level run's members are its descendants, and all of them are here. So
    a period's run figures (its counts, its models' values) read the period's runs, not the history.
    """
    table = schema.rm_runs
    with store.transaction() as conn:
        since = () if started_from is None else (table.c.started_at >= _utc(started_from),)
        seeds = [_read(conn, store, view, end, *since)] if since else []
        seeds += _by_ids(conn, store, view, end, table.c.run_id, set(run_ids))
        seeded = _concat(seeds).drop_duplicates("run_id")  # a model's run may be one of the period's
        frame = _with_relatives(conn, store, view, end, seeded, started_from)
    return with_families(_in_start_order(frame).loc[:, [*RUN_COLUMNS, "seen_at"]])


LATEST_AMONG = 200  # the newest runs in which the latest top-level run is looked for first


def newest_run_ids(store: Store, view: View, limit: int, *, before: datetime | None = None,
                   experiment: str | None = None) -> list[str]:
    """The ``limit`` runs of ``view`` (of ``experiment``) started last (before ``before``), newest first:
    one index range, whatever the history holds."""
    table = schema.rm_runs
    query = select(table.c.run_id).where(table.c.engagement == store.engagement, table.c.view == View(view).value,
                                         table.c.started_at.is_not(None))
    if before is not None:
        query = query.where(table.c.started_at < _utc(before))
    if experiment is not None:
        query = query.where(off_index(table.c.experiment, store.dialect) == experiment)
    with store.transaction() as conn:
        return [row[0] for row in conn.execute(query.order_by(table.c.started_at.desc()).limit(limit))]


def experiments_of(store: Store, view: View) -> list[str]:
    """The experiments ``view`` has runs in, by name."""
    table = schema.rm_runs
    query = (select(table.c.experiment).distinct()
             .where(table.c.engagement == store.engagement, table.c.view == View(view).value,
                    table.c.experiment.is_not(None)))
    with store.transaction() as conn:
        return sorted(row[0] for row in conn.execute(query))


def run_names(store: Store, view: View, experiment: str) -> dict[str, str | None]:
    """``run_id -> name`` of every run of ``experiment`` in ``view``: two narrow columns, no details parsed."""
    table = schema.rm_runs
    query = select(table.c.run_id, table.c.name).where(
        table.c.engagement == store.engagement, table.c.view == View(view).value, table.c.experiment == experiment)
    with store.transaction() as conn:
        return dict(conn.execute(query).cursor.fetchall())


def latest_run(store: Store, view: View) -> pd.Series | None:
    """The top-level run of ``view`` started last (the Today page's "latest run"), None without one.

    Looked for among the :data:`LATEST_AMONG` runs started last and their ancestors: a top-level run
    started after the oldest of them is one of them. Only when all of them are children (a search
    of hundreds) is every run read.
    """
    ids = newest_run_ids(store, view, LATEST_AMONG)
    if not ids:
        return None
    newest = family_runs(store, view, run_ids=ids)
    since = newest.loc[newest["run_id"].isin(ids), "started_at"].min()
    top = newest.loc[newest["top_level"] & (newest["started_at"] >= since)]
    if top.empty:
        every = stored_runs(store, view)
        top = every.loc[every["top_level"] & every["started_at"].notna()]
    return top.sort_values(["started_at", "run_id"], kind="stable").iloc[-1] if len(top) else None


def runs_by_id(store: Store, view: View, run_ids: Iterable[str]) -> pd.DataFrame:
    """The stored runs ``run_ids`` of ``view`` as they were last synced, without their families: what
    a story shows of its runs (their names, statuses, notes and parameters)."""
    with store.transaction() as conn:
        return _concat(_by_ids(conn, store, view, None, schema.rm_runs.c.run_id, set(run_ids)))


def _with_relatives(conn: Connection, store: Store, view: View, end: datetime | None, frame: pd.DataFrame,
                    started_from: datetime | None) -> pd.DataFrame:
    """``frame`` with the ancestors of its runs, then every descendant of those (each level one query;
    those started at or after ``started_from`` are in ``frame`` already)."""
    table = schema.rm_runs
    known = set(frame["run_id"])
    frames = [frame]
    wanted = _parents(frame) - known
    for _ in range(MAX_DEPTH):
        if not wanted:
            break
        found = _concat(_by_ids(conn, store, view, end, table.c.run_id, wanted))
        frames.append(found)
        known |= set(found["run_id"])
        wanted = _parents(found) - known
    frontier = set(known)
    older = () if started_from is None else (
        or_(table.c.started_at < _utc(started_from), table.c.started_at.is_(None)),)
    for _ in range(MAX_DEPTH):
        found = _concat(_by_ids(conn, store, view, end, table.c.parent_run_id, frontier, *older))
        found = found.loc[~found["run_id"].isin(known)]
        if found.empty:
            break
        frames.append(found)
        frontier = set(found["run_id"])
        known |= frontier
    return _concat(frames)


def _parents(frame: pd.DataFrame) -> set[str]:
    return {parent for parent in frame["parent_run_id"] if isinstance(parent, str)}


def _by_ids(conn: Connection, store: Store, view: View, end: datetime | None, column: Any,
            values: set[str], *where: Any) -> list[pd.DataFrame]:
    ordered = sorted(values)
    return [_read(conn, store, view, end, column.in_(ordered[index:index + _IN_CHUNK]), *where)
            for index in range(0, len(ordered), _IN_CHUNK)]


def _read(conn: Connection, store: Store, view: View, end: datetime | None, *where: Any) -> pd.DataFrame:
    """The ``rm_runs`` rows of ``view`` seen before ``end`` matching ``where``, their details parsed."""
    table = schema.rm_runs
    query = (select(*(table.c[name] for name in _READ))
             .where(table.c.engagement == store.engagement, table.c.view == View(view).value, *where))
    if end is not None:  # off its index when ``where`` has one to serve (a period's starts, ids, parents)
        seen = off_index(table.c.seen_at, store.dialect) if where else table.c.seen_at
        query = query.where(seen < _utc(end))
    rows = conn.execute(query).cursor.fetchall()  # the driver's tuples: times are parsed below, in bulk
    if not rows:  # most family levels: nothing to parse
        return _empty()
    # object columns, as the events read (pandas' Arrow strings cost twice as much in the family passes)
    frame = pd.DataFrame(rows, columns=list(_READ), dtype=object)
    details = json.loads(f"[{','.join(frame.pop('detail'))}]")  # one parse: a call per row costs more
    for name in DETAIL:
        frame[name] = pd.Series([detail[name] for detail in details], index=frame.index, dtype=object)
    for name in (*_TIMES, "seen_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True).dt.as_unit("us")  # as the events read
    frame["excluded"] = frame["excluded"].astype(bool)
    return frame


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return _empty()
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _empty() -> pd.DataFrame:
    """No runs, in the columns and types :func:`_read` gives (a copy: most family levels find none, and
    building the frame cost 8 ms each time)."""
    return _no_runs().copy()


@cache
def _no_runs() -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype=object) for name in (*_PLAIN, "seen_at", *DETAIL)})
    for name in (*_TIMES, "seen_at"):
        frame[name] = pd.Series(dtype="datetime64[us, UTC]")
    frame["excluded"] = frame["excluded"].astype(bool)
    return frame


def _in_start_order(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["started_at", "run_id"], kind="stable").reset_index(drop=True)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)  # SQLite compares the stored text, which is UTC
