"""The experiments' story: runs over time, the best so far per KPI, what changed, and metric drops.

For each ``[[kpi]]`` (an experiment, a metric and a goal), top-level runs are taken in start order,
each carrying its family's result (:mod:`glassbox.metrics.runs`: children fold into their parent,
only FINISHED, non-excluded runs may be best). Each run is compared with the best run before it:
which parameters it changed, whether it set a new best, and whether it fell more than
``alert_drop`` (a fraction of the best's magnitude) below it — a ``metric_drop`` alert; an excluded
run never alerts. Loops here run over runs of one experiment (hundreds to thousands), never over all events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from glassbox.config import Kpi
from glassbox.metrics.runs import family_results, may_be_best, started_in, top_level, with_families

STORY_COLUMNS = ("run_id", "name", "started_at", "status", "actor", "value", "counted", "new_best",
                 "best_so_far", "best_run_id", "previous_best", "previous_best_run_id", "param_diff",
                 "drop", "drop_fraction", "met", "note", "commit", "sha", "tickets", "url",
                 "excluded", "children", "value_run_id")


def is_better(value: float, than: float, goal: str) -> bool:
    return value > than if goal == "max" else value < than


def meets(value: float | None, kpi: Kpi) -> bool | None:
    """Whether ``value`` reaches the KPI's target (None when there is no target or no value)."""
    if kpi.target is None or value is None:
        return None
    return value >= kpi.target if kpi.goal == "max" else value <= kpi.target


def target_gap(best: float | None, target: float | None) -> float | None:
    """How far the best value is from the target (best minus target, four decimals); None without both.

    Positive is above the target: good for a ``max`` KPI, bad for a ``min`` one.
    """
    if best is None or target is None:
        return None
    return round(float(best) - float(target), 4)


def dropped(value: float, best: float, kpi: Kpi) -> float | None:
    """The fraction by which ``value`` is worse than ``best``, when it exceeds ``alert_drop``; else None."""
    scale = abs(best) or 1.0
    worse = (best - value) if kpi.goal == "max" else (value - best)
    fraction = worse / scale
    return fraction if fraction > kpi.alert_drop else None


def param_diff(before: dict | None, after: dict | None) -> dict[str, dict[str, object]]:
    """``{param: {"from": old, "to": new}}`` for every parameter that differs (absent is None)."""
    before, after = before or {}, after or {}
    return {key: {"from": before.get(key), "to": after.get(key)}
            for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)}


def kpi_story(runs: pd.DataFrame, kpi: Kpi, diffs_from: datetime | None = None) -> pd.DataFrame:
    """One row per top-level run of ``kpi.experiment``, oldest first, judged against the best run before it.

    ``runs`` comes from :func:`glassbox.metrics.linking.runs_frame` (family columns from
    :func:`glassbox.metrics.runs.with_families` are added when missing). ``value`` is the family's
    result and ``value_run_id`` the member holding it; ``counted`` says whether the run takes part in
    "best" (FINISHED, not excluded, with a finite value); ``children`` how many runs fold into it.
    ``param_diff`` is against the previous best, for the new bests and the runs started at or after
    ``diffs_from`` (every run without it); ``{}`` for the others: what a period shows of its story
    are those, and diffing each of 74,000 runs cost most of the story.
    """
    table = runs if "family" in runs else with_families(runs)
    mine = table.loc[table["experiment"] == kpi.experiment]
    results = family_results(mine, kpi.metric, kpi.goal)
    story = top_level(mine).sort_values("started_at", kind="stable").reset_index(drop=True)
    value = pd.Series(results["value"].reindex(story["run_id"]).to_numpy(dtype=float))
    eligible = results["eligible"].reindex(story["run_id"]).fillna(False).to_numpy(dtype=bool)
    counted = may_be_best(story).to_numpy() & eligible & value.notna().to_numpy()
    sign = 1.0 if kpi.goal == "max" else -1.0
    scored = (sign * value).where(counted)
    best_so_far = scored.cummax().ffill() * sign
    previous_best = best_so_far.shift(1)
    new_best = pd.Series(counted & (previous_best.isna() | (sign * value > sign * previous_best)).to_numpy())
    best_index = pd.Series(story.index.where(new_best), dtype=float).ffill()
    previous_index = best_index.shift(1)
    fraction = sign * (previous_best - value) / previous_best.abs().replace(0.0, 1.0)
    drop = pd.Series(counted) & previous_best.notna() & (fraction > kpi.alert_drop)
    out = story.loc[:, ["run_id", "name", "started_at", "status", "actor", "note", "commit", "sha", "tickets", "url",
                        "excluded", "children"]]
    out["value_run_id"] = list(results["value_run_id"].reindex(story["run_id"]))
    out["value"] = value.astype(object).where(value.notna(), None)
    out["counted"] = counted
    out["new_best"] = new_best
    out["best_so_far"] = _objects(best_so_far)
    out["best_run_id"] = _pick(story["run_id"], best_index)
    out["previous_best"] = _objects(previous_best)
    out["previous_best_run_id"] = _pick(story["run_id"], previous_index)
    params = story["params"].to_numpy()
    shown = new_best.to_numpy() | (True if diffs_from is None else (story["started_at"] >= diffs_from).to_numpy())
    out["param_diff"] = [param_diff(params[int(i)], after) if wanted and pd.notna(i) else {}
                         for i, after, wanted in zip(previous_index.to_numpy(), params, shown, strict=True)]
    out["drop"] = drop
    out["drop_fraction"] = _objects(fraction.where(drop))
    out["met"] = [meets(v, kpi) if ok else None for v, ok in zip(out["value"], counted, strict=True)]
    return out.loc[:, list(STORY_COLUMNS)]


def _objects(values: pd.Series) -> pd.Series:
    """Floats as Python objects with None (not NaN) where missing."""
    return values.astype(object).where(values.notna(), None)


def _pick(items: pd.Series, positions: pd.Series) -> list[object]:
    """``items`` at each float position (NaN gives None)."""
    at = positions.to_numpy(dtype=float)
    known = ~np.isnan(at)
    picked = np.full(len(at), None, dtype=object)
    picked[known] = items.to_numpy(dtype=object)[at[known].astype(int)]
    return picked.tolist()


def _in(moments: pd.Series, start: datetime, end: datetime) -> pd.Series:
    return (moments >= start) & (moments < end)


def experiments_summary(runs: pd.DataFrame, kpis: list[Kpi], start: datetime,
                        end: datetime) -> tuple[list[dict], list[dict], dict[tuple[str, str], pd.DataFrame]]:
    """SPEC §5's ``experiments`` and ``alerts`` for ``[start, end)``, plus each KPI's story up to ``end``.

    One ``experiments`` entry per KPI (``runs`` = top-level runs of its experiment started in the period,
    ``best`` = the best counted run started before the period's end), and one with ``best`` and
    ``kpi`` null for each other experiment with runs in the period. Alerts are the period's drops.
    The stories' ``param_diff`` is the period's runs' and the new bests' (:func:`kpi_story`).
    """
    runs = runs if "family" in runs else with_families(runs)
    before_end = runs.loc[runs["started_at"] < end]
    in_period = started_in(runs, start, end)
    entries: list[dict] = []
    alerts: list[dict] = []
    stories: dict[tuple[str, str], pd.DataFrame] = {}
    for kpi in kpis:
        story = kpi_story(before_end, kpi, diffs_from=start)
        stories[(kpi.experiment, kpi.metric)] = story
        best = story.loc[story["new_best"]].tail(1)
        best_value = None if best.empty else float(best.iloc[0]["value"])
        best_entry = None if best_value is None else {"run_id": str(best.iloc[0]["run_id"]), "metric": kpi.metric,
                                                      "value": best_value}
        met = meets(best_value, kpi)
        entries.append({
            "experiment": kpi.experiment,
            "runs": int((in_period["experiment"] == kpi.experiment).sum()),
            "best": best_entry,
            "kpi": {"metric": kpi.metric, "target": kpi.target, "goal": kpi.goal,
                    "met": bool(met) if met is not None else (False if kpi.target is not None else None)},
        })
        drops = story.loc[story["drop"] & _in(story["started_at"], start, end)]
        names = dict(zip(story["run_id"], story["name"], strict=True)) if "name" in story else {}
        alerts.extend(_alert(kpi, row, names) for row in drops.itertuples(index=False))
    covered = {kpi.experiment for kpi in kpis}
    for experiment in sorted(set(in_period["experiment"].dropna()) - covered):
        entries.append({"experiment": experiment, "runs": int((in_period["experiment"] == experiment).sum()),
                        "best": None, "kpi": None})
    return entries, alerts, stories


def _alert(kpi: Kpi, row: Any, names: dict[str, object]) -> dict[str, str]:
    """A drop in words a client reads: runs by their names (the id only for a run without one; the
    JSON's ``run_id`` keeps it for scripts)."""
    # ``row`` is an ``itertuples`` namedtuple of a story frame (pandas types it only as ``tuple[Any, ...]``)
    best_id = str(row.previous_best_run_id)
    message = (f"Run {_run_name(row.name, row.run_id)} scored {kpi.metric} {row.value:.4g}, {row.drop_fraction:.1%} "
               f"{'below' if kpi.goal == 'max' else 'above'} the best so far ({row.previous_best:.4g}, "
               f"run {_run_name(names.get(best_id), best_id)}).")
    return {"kind": "metric_drop", "experiment": kpi.experiment, "run_id": str(row.run_id), "message": message}


def _run_name(name: object, run_id: object) -> str:
    return f"'{name}'" if isinstance(name, str) and name and name != run_id else str(run_id)
