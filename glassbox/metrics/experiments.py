"""The experiments' story: runs over time, the best so far per KPI, what changed, and metric drops.

For each ``[[kpi]]`` (an experiment, a metric and a goal), top-level runs are taken in start order,
each carrying its family's result (:mod:`glassbox.metrics.runs`: children fold into their parent,
only FINISHED, non-excluded runs may be best). Each run is compared with the best run before it:
which parameters it changed, whether it set a new best, and whether it fell more than
``alert_drop`` (a fraction of the best's magnitude) below it — a ``metric_drop`` alert; an excluded
run never alerts. Loops here run over runs of one experiment (hundreds to thousands), never over all events.
"""

from __future__ import annotations

from dataclasses import dataclass
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


# each KPI's story by (experiment, metric), as the reports key them
Stories = dict[tuple[str, str], pd.DataFrame]
RESULT_COLUMNS = ("run_id", "started_at", "value", "value_run_id", "counted", "children")
BEST_COLUMNS = ("new_best", "best_so_far", "best_run_id", "previous_best", "previous_best_run_id")
DESCRIPTIVE = ("name", "status", "actor", "note", "commit", "sha", "tickets", "url", "excluded", "params")


@dataclass(frozen=True)
class Best:
    """The best counted run so far: where a story continued from a later run starts (the read model's)."""

    value: float
    run_id: str


def kpi_story(runs: pd.DataFrame, kpi: Kpi, diffs_from: datetime | None = None) -> pd.DataFrame:
    """One row per top-level run of ``kpi.experiment``, oldest first, judged against the best run before it.

    ``runs`` comes from :func:`glassbox.metrics.linking.runs_frame` (family columns from
    :func:`glassbox.metrics.runs.with_families` are added when missing). ``value`` is the family's
    result and ``value_run_id`` the member holding it; ``counted`` says whether the run takes part in
    "best" (FINISHED, not excluded, with a finite value); ``children`` how many runs fold into it.
    ``param_diff`` is against the previous best, for the new bests and the runs started at or after
    ``diffs_from`` (every run without it); ``{}`` for the others: what a period shows of its story
    are those, and diffing each of 74,000 runs cost most of the story.

    Three steps, each the one home of its part: :func:`kpi_results` (each run's family result),
    :func:`running_best` (the best so far, which the read model keeps per run) and :func:`judged`
    (drops, targets and parameter changes, which depend on the config and the period only).
    """
    results = kpi_results(runs, kpi)
    return judged(running_best(results, kpi.goal), kpi, diffs_from)


def kpi_results(runs: pd.DataFrame, kpi: Kpi) -> pd.DataFrame:
    """The top-level runs of ``kpi.experiment`` in start order, each with its family's result:
    :data:`RESULT_COLUMNS` and the :data:`DESCRIPTIVE` columns of the run."""
    table = runs if "family" in runs else with_families(runs)
    mine = table.loc[table["experiment"] == kpi.experiment]
    results = family_results(mine, kpi.metric, kpi.goal)
    story = top_level(mine).sort_values("started_at", kind="stable").reset_index(drop=True)
    value = pd.Series(results["value"].reindex(story["run_id"]).to_numpy(dtype=float))
    eligible = results["eligible"].reindex(story["run_id"]).fillna(False).to_numpy(dtype=bool)
    out = story.loc[:, ["run_id", "started_at", "children", *DESCRIPTIVE]]
    out["value_run_id"] = list(results["value_run_id"].reindex(story["run_id"]))
    out["value"] = _objects(value)
    out["counted"] = may_be_best(story).to_numpy() & eligible & value.notna().to_numpy()
    return out


def running_best(results: pd.DataFrame, goal: str, before: Best | None = None) -> pd.DataFrame:
    """``results`` (:func:`kpi_results`, in start order) with :data:`BEST_COLUMNS`: the best counted
    value up to and including each run and the run holding it, the best before it, and whether it set
    a new best. ``before`` is the best before the first of ``results`` (a story continued from there)."""
    sign = 1.0 if goal == "max" else -1.0
    value = pd.Series(results["value"].to_numpy(dtype=float))
    counted = results["counted"].to_numpy(dtype=bool)
    initial = pd.Series([np.nan if before is None else sign * before.value])
    best = pd.concat([initial, (sign * value).where(counted)], ignore_index=True).cummax().ffill() * sign
    best_so_far = pd.Series(best.iloc[1:].to_numpy())
    previous_best = pd.Series(best.iloc[:-1].to_numpy())
    new_best = counted & (previous_best.isna() | (sign * value > sign * previous_best)).to_numpy()
    holders = pd.Series([None if before is None else before.run_id,
                         *np.where(new_best, results["run_id"].to_numpy(dtype=object), None)], dtype=object).ffill()
    out = results.copy()
    out["new_best"] = new_best
    out["best_so_far"] = _objects(best_so_far).to_numpy()
    out["best_run_id"] = _missing_as_none(holders.iloc[1:])
    out["previous_best"] = _objects(previous_best).to_numpy()
    out["previous_best_run_id"] = _missing_as_none(holders.iloc[:-1])
    return out


def judged(story: pd.DataFrame, kpi: Kpi, diffs_from: datetime | None = None) -> pd.DataFrame:
    """A story (:func:`running_best`, every row or a period's rows with the new bests before them)
    judged on ``kpi``: :data:`STORY_COLUMNS`, with the drops below the best before each run, whether
    it meets the target, and (see :func:`kpi_story`) the parameters changed against the previous best."""
    out = story.reset_index(drop=True)
    sign = 1.0 if kpi.goal == "max" else -1.0
    value = pd.Series(out["value"].to_numpy(dtype=float))
    previous_best = pd.Series(out["previous_best"].to_numpy(dtype=float))
    counted = out["counted"].to_numpy(dtype=bool)
    fraction = sign * (previous_best - value) / previous_best.abs().replace(0.0, 1.0)
    drop = counted & previous_best.notna().to_numpy() & (fraction > kpi.alert_drop).to_numpy()
    out["drop"] = drop
    out["drop_fraction"] = _objects(fraction.where(drop)).to_numpy()
    out["met"] = [meets(v, kpi) if ok else None for v, ok in zip(out["value"], counted, strict=True)]
    params = dict(zip(out["run_id"], out["params"], strict=True))
    shown = out["new_best"].to_numpy(dtype=bool) | (
        True if diffs_from is None else (out["started_at"] >= diffs_from).to_numpy())
    out["param_diff"] = [param_diff(params.get(previous), after) if wanted and isinstance(previous, str) else {}
                         for previous, after, wanted in zip(out["previous_best_run_id"], out["params"], shown,
                                                            strict=True)]
    return out.loc[:, list(STORY_COLUMNS)]


def _missing_as_none(values: pd.Series) -> list[object]:
    return [value if isinstance(value, str) else None for value in values]


def _objects(values: pd.Series) -> pd.Series:
    """Floats as Python objects with None (not NaN) where missing."""
    return values.astype(object).where(values.notna(), None)


def _in(moments: pd.Series, start: datetime, end: datetime) -> pd.Series:
    return (moments >= start) & (moments < end)


def experiments_summary(runs: pd.DataFrame, kpis: list[Kpi], start: datetime, end: datetime,
                        kept: Stories | None = None) -> tuple[list[dict], list[dict], Stories]:
    """SPEC §5's ``experiments`` and ``alerts`` for ``[start, end)``, plus each KPI's story up to ``end``.

    One ``experiments`` entry per KPI (``runs`` = top-level runs of its experiment started in the period,
    ``best`` = the best counted run started before the period's end), and one with ``best`` and
    ``kpi`` null for each other experiment with runs in the period. Alerts are the period's drops.
    The stories' ``param_diff`` is the period's runs' and the new bests' (:func:`kpi_story`).

    ``kept``: each KPI's story as the period shows it, its runs and every new best before them
    (the read model's, :func:`glassbox.readmodel.kpis.period_stories`), which is all these figures
    read of it; then ``runs`` need only hold the period's runs and their families.
    """
    runs = runs if "family" in runs else with_families(runs)
    before_end = runs.loc[runs["started_at"] < end]
    in_period = started_in(runs, start, end)
    entries: list[dict] = []
    alerts: list[dict] = []
    stories: Stories = {}
    for kpi in kpis:
        story = kpi_story(before_end, kpi, diffs_from=start) if kept is None else kept[(kpi.experiment, kpi.metric)]
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
