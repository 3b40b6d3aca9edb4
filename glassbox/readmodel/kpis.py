"""The read model's KPI stories (``rm_kpi_runs``): per ``[[kpi]]`` and view, each top-level run's result
and the best so far, so a period reads its own runs and the new bests before them, not every run.

A KPI's story (:func:`glassbox.metrics.experiments.kpi_story`) judges each run against the best run
before it, so every figure about a period's runs (its best, its metric drops, the reports' runs table)
needed every run of the experiment up to the period's end: 74,000 runs read and judged per Portfolio
row at 1M events. The sync keeps the part that depends on the history instead — each run's family
result (:func:`~glassbox.metrics.experiments.kpi_results`) and the best so far
(:func:`~glassbox.metrics.experiments.running_best`) — and a period judges its own rows
(:func:`~glassbox.metrics.experiments.judged`: drops, targets and parameter changes depend on the
config and the period only).

**Incremental.** A run's row depends on the runs started before it (the best so far) and its family
(its descendants). A write that touches runs re-derives every row from the earliest start among the
touched runs, their old and new relatives (:func:`glassbox.readmodel.runs.family_runs`), continuing
from the best before it: new runs arrive at the end of a story, so a sync re-derives a few rows.

**As of a period's end.** The rows are the runs as last synced, as the runs are read
(:mod:`glassbox.readmodel.runs`). A family whose members were not all seen before a period's end
(a search whose children started after the week ended, a parent synced after its child) was another
family then: ``first_at`` and ``last_at`` bound when its members started and were seen, and a period
ending between the two reads the runs and judges them again (:func:`period_stories` returns None).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, delete, func, insert, select, true

from glassbox import schema
from glassbox.config import Kpi
from glassbox.metrics.experiments import DESCRIPTIVE, Best, Stories, judged, kpi_results, running_best
from glassbox.metrics.story import JudgedRuns
from glassbox.readmodel.runs import family_runs, runs_by_id, stored_runs
from glassbox.store import Store
from glassbox.views import View

STORED = ("run_id", "started_at", "value", "value_run_id", "counted", "children", "new_best", "best_so_far",
          "best_run_id", "previous_best", "previous_best_run_id")
_FLOATS = ("value", "best_so_far", "previous_best")
_INSERT_CHUNK = 2000
_IN_CHUNK = 500


def derive(store: Store, kpis: list[Kpi], since: dict[View, datetime | None] | None = None) -> int:
    """Replace the rows of ``kpis`` started at or after ``since`` (per view; every row of both views
    when None) with what the stored runs give now; returns how many rows were written.

    When the client sees every run (nothing internal names one: most engagements), its stories are
    the team's, derived once. ``store`` is bound to the write's transaction, after its ``rm_runs``
    rows changed.
    """
    written = 0
    mirrored = _client_sees_every_run(store)
    for view in (View.TEAM,) if mirrored else tuple(View):
        starts = [since.get(one) for one in ((View.TEAM, View.CLIENT) if mirrored else (view,))] if since else []
        known = [start for start in starts if start is not None]
        if since is not None and not known:
            continue
        start = min(known) if known else None
        targets = tuple(View) if mirrored else (view,)
        with store.transaction() as conn:
            for target in targets:
                _forget(conn, store, target, start)
            runs = stored_runs(store, view, seen=True) if start is None else family_runs(store, view,
                                                                                         started_from=start)
            for kpi in kpis:
                before = None if start is None else _best_before(conn, store, view, kpi, start)
                rows = [{"engagement": store.engagement, "view": target.value, "experiment": kpi.experiment,
                         "metric": kpi.metric, **row} for row in _rows(runs, kpi, start, before) for target in targets]
                for index in range(0, len(rows), _INSERT_CHUNK):
                    conn.execute(insert(schema.rm_kpi_runs), rows[index:index + _INSERT_CHUNK])
                written += len(rows)
    return written


def _client_sees_every_run(store: Store) -> bool:
    """Whether the client view holds as many runs as the team's (it holds no other: a subset)."""
    table = schema.rm_runs
    with store.transaction() as conn:
        query = select(table.c.view, func.count()).where(table.c.engagement == store.engagement).group_by(table.c.view)
        counted: dict[str, int] = {str(view): int(number) for view, number in conn.execute(query).all()}
    return counted.get(View.CLIENT.value, 0) == counted.get(View.TEAM.value, 0)


def rederive_from(store: Store, touched: Iterable[str], earlier: dict[View, pd.Series]) -> dict[View, datetime | None]:
    """Per view, the earliest start whose rows the runs ``touched`` may change: theirs, their
    relatives' now (:func:`~glassbox.readmodel.runs.family_runs`, their children's included) and
    ``earlier`` (:func:`starts_of`, before the write)."""
    ids = set(touched)
    table = schema.rm_runs
    since: dict[View, datetime | None] = {}
    for view in View:
        with store.transaction() as conn:
            children = {row[0] for row in conn.execute(select(table.c.run_id).where(
                table.c.engagement == store.engagement, table.c.view == view.value,
                table.c.parent_run_id.in_(sorted(ids))))} if ids else set()
        before = earlier.get(view, pd.Series(dtype="datetime64[us, UTC]"))
        related = family_runs(store, view, run_ids=ids | children | set(before.index))
        starts = pd.to_datetime(pd.concat([related["started_at"], before]), utc=True).dropna()
        since[view] = None if starts.empty else starts.min().to_pydatetime()
    return since


def starts_of(store: Store, run_ids: Iterable[str]) -> dict[View, pd.Series]:
    """Per view, ``run_id -> started_at`` of the stored runs ``run_ids`` and their relatives (asked
    before a write: a run deleted or moved leaves its old family and its old place in the story)."""
    out: dict[View, pd.Series] = {}
    for view in View:
        runs = family_runs(store, view, run_ids=set(run_ids))
        out[view] = pd.Series(list(runs["started_at"]), index=list(runs["run_id"]), dtype="datetime64[us, UTC]")
    return out


def _forget(conn: Connection, store: Store, view: View, start: datetime | None) -> None:
    table = schema.rm_kpi_runs
    query = delete(table).where(table.c.engagement == store.engagement, table.c.view == view.value)
    conn.execute(query if start is None else query.where(table.c.started_at >= _utc(start)))


def _best_before(conn: Connection, store: Store, view: View, kpi: Kpi, start: datetime) -> Best | None:
    """The best so far of the last row started before ``start``: where the story continues from."""
    table = schema.rm_kpi_runs
    row = conn.execute(select(table.c.best_so_far, table.c.best_run_id)
                       .where(*_of(store, view, kpi), table.c.started_at < _utc(start))
                       .order_by(table.c.started_at.desc(), table.c.run_id.desc()).limit(1)).first()
    if row is None or row.best_so_far is None or row.best_run_id is None:
        return None
    return Best(value=float(row.best_so_far), run_id=str(row.best_run_id))


def _rows(runs: pd.DataFrame, kpi: Kpi, start: datetime | None, before: Best | None) -> list[dict[str, Any]]:
    """The rows of ``kpi``'s story started at or after ``start`` (every one without it) over ``runs``
    (every run then, else the runs started since with their families; ``seen_at`` included)."""
    members = runs.loc[runs["started_at"].notna()]  # a period's runs are those started before its end
    results = kpi_results(members, kpi)
    if start is not None:
        results = results.loc[results["started_at"] >= start]
    if results.empty:
        return []
    story = running_best(results.reset_index(drop=True), kpi.goal, before)
    seen = runs[["started_at", "seen_at"]].max(axis=1)
    first, last = members["started_at"].groupby(members["family"]).min(), seen.groupby(runs["family"]).max()
    story["first_at"] = story["run_id"].map(first)
    story["last_at"] = story["run_id"].map(last)
    return [{name: _plain(row[name]) for name in (*STORED, "first_at", "last_at")}
            for row in story.to_dict("records")]


def period_stories(store: Store, kpis: list[Kpi], view: View, start: datetime,
                   end: datetime) -> Stories | None:
    """Each KPI's story as a period ``[start, end)`` shows it — its runs started in the period and
    every new best before — judged as :func:`~glassbox.metrics.experiments.kpi_story` judges the
    runs before ``end`` (``diffs_from=start``); None when a family was not yet whole at ``end``."""
    table = schema.rm_kpi_runs
    frames: dict[tuple[str, str], pd.DataFrame] = {}
    with store.transaction() as conn:
        for kpi in kpis:
            if _not_whole_at(conn, store, view, kpi, end):
                return None
            columns = select(*(table.c[name] for name in STORED)).where(*_of(store, view, kpi))
            bests = columns.where(table.c.new_best == true(), table.c.started_at < _utc(start))  # two index ranges
            own = columns.where(table.c.started_at >= _utc(start), table.c.started_at < _utc(end))
            rows = [*conn.execute(bests).cursor.fetchall(), *conn.execute(own).cursor.fetchall()]
            frame = pd.DataFrame(rows, columns=list(STORED), dtype=object)
            frames[(kpi.experiment, kpi.metric)] = frame
    ids = {run_id for frame in frames.values() for run_id in frame["run_id"]}
    about = runs_by_id(store, view, ids).set_index("run_id")
    stories: Stories = {}
    for kpi in kpis:
        story = _typed(frames[(kpi.experiment, kpi.metric)]).sort_values(["started_at", "run_id"], kind="stable")
        for name in DESCRIPTIVE:
            story[name] = list(about[name].reindex(story["run_id"]))
        stories[(kpi.experiment, kpi.metric)] = judged(story, kpi, diffs_from=start)
    return stories


def stored_story(store: Store, kpi: Kpi, view: View, end: datetime,
                 columns: Sequence[str] = STORED) -> pd.DataFrame | None:
    """Every row of ``kpi``'s story started before ``end``, in start order, with ``columns`` of :data:`STORED`
    (each run's result and the best so far, as :func:`~glassbox.metrics.experiments.running_best` gives
    them; no descriptive columns): what the Experiments page charts over the whole history, read from
    narrow rows instead of judging every run again. None when a family was not yet whole at ``end``."""
    table = schema.rm_kpi_runs
    with store.transaction() as conn:
        if _not_whole_at(conn, store, view, kpi, end):
            return None
        rows = conn.execute(select(*(table.c[name] for name in columns))
                            .where(*_of(store, view, kpi), table.c.started_at < _utc(end))).cursor.fetchall()
    frame = _typed(pd.DataFrame(rows, columns=list(columns), dtype=object))
    return frame.sort_values(["started_at", "run_id"], kind="stable").reset_index(drop=True)


def judged_runs(store: Store, kpis: list[Kpi], view: View, run_ids: Iterable[str]) -> JudgedRuns:
    """How the runs ``run_ids`` fared on each KPI (:class:`~glassbox.metrics.story.JudgedRuns`), from the
    stored stories: their rows and those of the best runs before them, and the runs holding those
    results with their families. What a ticket's story says of its runs, without every run of the history."""
    wanted = set(run_ids)
    stories: dict[str, tuple[Kpi, pd.DataFrame]] = {}
    named = set(wanted)
    with store.transaction() as conn:
        for kpi in kpis:
            rows = _stored_rows(conn, store, view, kpi, wanted)
            before = {run for run in rows["previous_best_run_id"] if isinstance(run, str)} - set(rows["run_id"])
            rows = pd.concat([rows, _stored_rows(conn, store, view, kpi, before)], ignore_index=True)
            story = _typed(rows).sort_values(["started_at", "run_id"], kind="stable").set_index("run_id")
            stories[kpi.experiment] = (kpi, story)
            named |= set(story.index) | {run for run in story["value_run_id"] if isinstance(run, str)}
    return JudgedRuns(family_runs(store, view, run_ids=named), stories)


def _stored_rows(conn: Connection, store: Store, view: View, kpi: Kpi, run_ids: set[str]) -> pd.DataFrame:
    table = schema.rm_kpi_runs
    ordered = sorted(run_ids)
    rows = [row for index in range(0, len(ordered), _IN_CHUNK) for row in conn.execute(
        select(*(table.c[name] for name in STORED)).where(
            *_of(store, view, kpi), table.c.run_id.in_(ordered[index:index + _IN_CHUNK]))).cursor.fetchall()]
    return pd.DataFrame(rows, columns=list(STORED), dtype=object)


def _not_whole_at(conn: Connection, store: Store, view: View, kpi: Kpi, end: datetime) -> bool:
    """Whether a family of ``kpi``'s story was not yet whole at ``end`` (members started before it, others
    seen after): its stored rows are not what a period ending then saw, so the runs are judged again."""
    table = schema.rm_kpi_runs
    spanning = select(table.c.run_id).where(*_of(store, view, kpi), table.c.last_at >= _utc(end),
                                            table.c.first_at < _utc(end)).limit(1)
    return conn.execute(spanning).first() is not None


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Stored rows as :func:`~glassbox.metrics.experiments.running_best` gives them."""
    out = frame.reset_index(drop=True)
    out["started_at"] = pd.to_datetime(out["started_at"], utc=True).dt.as_unit("us")
    for name in (name for name in _FLOATS if name in out):  # floats, None where missing (objects, as running_best)
        numbers = pd.to_numeric(out[name], errors="coerce").astype(float)
        out[name] = numbers.astype(object).where(numbers.notna(), None)
    for name in (name for name in ("counted", "new_best") if name in out):
        out[name] = out[name].astype(bool)
    if "children" in out:
        out["children"] = out["children"].astype(int)
    return out


def _of(store: Store, view: View, kpi: Kpi) -> tuple[Any, ...]:
    table = schema.rm_kpi_runs
    return (table.c.engagement == store.engagement, table.c.view == view.value,
            table.c.experiment == kpi.experiment, table.c.metric == kpi.metric)


def _plain(value: Any) -> Any:
    """A cell as the database takes it: a datetime, a float, a bool or None for every kind of missing."""
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.to_pydatetime()
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)  # SQLite compares the stored text, which is UTC
