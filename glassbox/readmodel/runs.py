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
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import select

from glassbox import schema
from glassbox.metrics.linking import RUN_CATEGORIES, attr, runs_frame
from glassbox.metrics.runs import with_excluded, with_families
from glassbox.store import Store
from glassbox.views import View

RUN_COLUMNS = ("run_id", "experiment", "name", "started_at", "ended_at", "status", "actor", "side", "url",
               "params", "metrics", "note", "parent_run_id", "commit", "sha", "tickets", "excluded")
DETAIL = ("params", "metrics", "tickets")  # kept together as one JSON text, read together
_PLAIN = tuple(name for name in RUN_COLUMNS if name not in DETAIL)
_TIMES = ("started_at", "ended_at")


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


def stored_runs(store: Store, view: View, end: datetime | None = None) -> pd.DataFrame:
    """Every run of ``view`` with an event before ``end`` (all without one) as
    :func:`~glassbox.metrics.runs.run_table` gives it: the columns of
    :func:`~glassbox.metrics.linking.runs_frame`, ``excluded`` and the family columns, in start order."""
    table = schema.rm_runs
    query = (select(*(table.c[name] for name in (*_PLAIN, "detail")))
             .where(table.c.engagement == store.engagement, table.c.view == View(view).value))
    if end is not None:  # in UTC: SQLite compares the stored text, which is UTC
        query = query.where(table.c.seen_at < end.astimezone(UTC))
    with store.transaction() as conn:  # the driver's tuples: times are parsed below, in bulk
        rows = conn.execute(query).cursor.fetchall()
    # object columns, as the events read (pandas' Arrow strings cost twice as much in the family passes)
    frame = pd.DataFrame(rows, columns=[*_PLAIN, "detail"], dtype=object)
    details = json.loads(f"[{','.join(frame.pop('detail'))}]")  # one parse: a call per row costs more
    for name in DETAIL:
        frame[name] = pd.Series([detail[name] for detail in details], index=frame.index, dtype=object)
    for name in _TIMES:
        frame[name] = pd.to_datetime(frame[name], utc=True).dt.as_unit("us")  # as the events read
    frame["excluded"] = frame["excluded"].astype(bool)
    frame = frame.sort_values(["started_at", "run_id"], kind="stable").reset_index(drop=True)
    return with_families(frame.loc[:, list(RUN_COLUMNS)])
