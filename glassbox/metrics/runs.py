"""What a run is, how child runs fold into their parent, and which runs may be best (SPEC §5).

Hyperparameter searches and ``mlflow.sklearn.autolog()`` log one parent run per training and a
child run per candidate (``mlflow.parentRunId``). Counted one by one, a single training reads as
dozens of runs and every page said a different number, so the rules live here and nowhere else:

- A **run** is a top-level run: one without a parent, or whose parent is not in the store (its
  result is not lost). ``runs`` figures count top-level runs *started* in a period, whatever their
  status; a child folds into its top-level ancestor (its **family**), however deep the nesting.
- A run **may be best** only when it FINISHED and is not excluded: tagged ``glassbox.exclude =
  "true"`` in MLflow (a leaky or broken run the team disowns; read by the MLflow connector into the
  ``excluded`` attribute). Excluded runs are still shown and counted as runs, marked excluded.
- A family's **result** on a metric is the best value among its members (the parent and every
  descendant) that may be best, so a parent carries its best child's result. The family takes part
  in "best" only when its top-level run may be best: excluding a parent disowns its whole search.

Frames without ``parent_run_id`` or ``excluded`` (stores synced before these attributes existed,
hand-built test frames) read as "no parent" and "not excluded".
"""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd

RUN_EVENT_CATEGORIES = ("run_started", "run_finished")
FAILED_STATUSES = ("FAILED", "KILLED")  # MLflow's end states of a run that did not finish
FAMILY_COLUMNS = ("excluded", "top_level", "family", "children")
MAX_DEPTH = 32  # nesting levels followed up to the top; deeper (or cyclic) chains stop there


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(None, index=frame.index, dtype=object)


def _flag(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _excluded(runs: pd.DataFrame) -> pd.Series:
    """Each run's ``excluded`` flag as a bool (none without the column); the read model's are bools already."""
    column = _column(runs, "excluded")
    return column if column.dtype == bool else column.map(_flag).astype(bool)


def roots(run_ids: pd.Series, parents: pd.Series) -> pd.Series:
    """Each run's top-level ancestor: follow ``parent`` while it names a known run."""
    known = set(run_ids.dropna())
    parent_of = {run: parent for run, parent in zip(run_ids, parents, strict=True)
                 if isinstance(parent, str) and parent in known and parent != run}
    root = run_ids.copy()
    if not parent_of:  # no children: every run is its own root (most engagements, and cheaper to say)
        return root
    for _ in range(MAX_DEPTH):
        up = root.map(parent_of)
        if up.isna().all():
            break
        root = up.where(up.notna(), root)
    return root


def with_families(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` (:func:`glassbox.metrics.linking.runs_frame`) plus ``excluded``, ``top_level``, ``family``
    (the top-level run's id) and ``children`` (how many runs fold into a top-level run; 0 for children).

    The one place these columns are computed; pages and reports call it once on their runs frame.
    """
    out = runs.copy()
    out["excluded"] = _excluded(out)
    family = roots(out["run_id"], _column(out, "parent_run_id")) if len(out) else out["run_id"]
    out["family"] = family
    out["top_level"] = (family == out["run_id"]).astype(bool)
    sizes = family.loc[~out["top_level"]].value_counts()
    out["children"] = out["run_id"].map(sizes).fillna(0).astype(int).where(out["top_level"], 0)
    if "experiment" in out and not out["top_level"].all():  # a family lives in its top-level run's experiment
        experiment_of = dict(zip(out["run_id"], out["experiment"], strict=True))
        out["experiment"] = family.map(experiment_of).fillna(out["experiment"])
    return out


def excluded_of(events: pd.DataFrame) -> pd.Series:
    """``run_id -> excluded`` from run events' attrs (the latest event of each run wins)."""
    runs = events.loc[events["category"].isin(RUN_EVENT_CATEGORIES)]
    if runs.empty:
        return pd.Series(dtype=bool)
    attrs = runs["attrs"]
    order = (runs["category"] == "run_finished").astype(int)
    frame = pd.DataFrame({"run_id": attrs.map(lambda a: a.get("run_id") if isinstance(a, dict) else None),
                          "excluded": attrs.map(lambda a: _flag(a.get("excluded")) if isinstance(a, dict) else False),
                          "order": order, "at": runs["occurred_at"]})
    latest = frame.dropna(subset=["run_id"]).sort_values(["order", "at"], kind="stable")
    return latest.drop_duplicates("run_id", keep="last").set_index("run_id")["excluded"]


def with_excluded(runs: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """A runs frame built from ``events`` with the ``excluded`` flag read from their attrs."""
    if "excluded" not in runs and len(runs):
        runs = runs.assign(excluded=runs["run_id"].map(excluded_of(events)).fillna(False))
    return runs


def run_table(runs: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """A runs frame built from ``events`` with its family columns, the ``excluded`` flag read from attrs
    (a frame that has them already, the read model's, is returned as it is)."""
    return runs if "family" in runs else with_families(with_excluded(runs, events))


def top_level(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that count as runs (see the module docstring)."""
    table = runs if "top_level" in runs else with_families(runs)
    return table.loc[table["top_level"]]


def started_in(runs: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """Top-level runs started in ``[start, end)``: what every ``runs`` count counts."""
    mine = top_level(runs)
    return mine.loc[(mine["started_at"] >= start) & (mine["started_at"] < end)]


def count_runs(runs: pd.DataFrame, start: datetime, end: datetime) -> int:
    return len(started_in(runs, start, end))


def failed(runs: pd.DataFrame) -> pd.Series:
    """Runs that ended FAILED or were killed (a run still RUNNING has not failed yet)."""
    return runs["status"].isin(FAILED_STATUSES)


def may_be_best(runs: pd.DataFrame) -> pd.Series:
    """FINISHED and not excluded: the runs whose values may count toward "best"."""
    return (runs["status"] == "FINISHED") & ~_excluded(runs)


def metric_value(metrics: object, name: str) -> float | None:
    """A finite metric value from a run's ``metrics`` dict, else ``None``."""
    value = metrics.get(name) if isinstance(metrics, dict) else None
    if value is None or isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def family_results(runs: pd.DataFrame, metric: str, goal: str) -> pd.DataFrame:
    """Per top-level run (index: its id) the family's result on ``metric``.

    ``value`` is the best value among the members that may be best, and ``eligible`` is True; when
    no such member has a value, ``value`` is the best of any member (shown, e.g. for an excluded or
    failed run, never counted) and ``eligible`` is False. ``value_run_id`` names the member holding it.
    """
    table = runs if "family" in runs else with_families(runs)
    values = pd.Series([metric_value(m, metric) for m in table["metrics"]], index=table.index, dtype=float)
    scored = pd.DataFrame({"family": table["family"], "run_id": table["run_id"],
                           "score": values if goal == "max" else -values,
                           "eligible": may_be_best(table)}).loc[values.notna()]
    index = pd.Index(top_level(table)["run_id"], name="family")
    best = scored.sort_values(["eligible", "score"], ascending=False, kind="stable").drop_duplicates("family")
    best = best.set_index("family").reindex(index)
    score = best["score"].astype(float)
    return pd.DataFrame({"value": score if goal == "max" else -score,
                         "value_run_id": best["run_id"].astype(object).where(best["run_id"].notna(), None),
                         "eligible": best["eligible"].fillna(False).astype(bool)}, index=index)


def top_level_run_starts(events: pd.DataFrame) -> pd.Series:
    """Mask over ``events``: the ``run_started`` events of top-level runs (children and finishes are not runs)."""
    started = events["category"] == "run_started"
    if not started.any() or "attrs" not in events:
        return started
    run_events = events.loc[events["category"].isin(RUN_EVENT_CATEGORIES), "attrs"]
    known = {a.get("run_id") for a in run_events if isinstance(a, dict)}
    parents = events.loc[started, "attrs"].map(lambda a: a.get("parent_run_id") if isinstance(a, dict) else None)
    child = parents.map(lambda parent: isinstance(parent, str) and parent in known)
    return started & ~child.reindex(events.index, fill_value=False).astype(bool)
