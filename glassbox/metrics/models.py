"""Registered models: their versions, where each alias points at a moment, the champion, and regressions.

Built from ``model_version_created`` and ``model_alias_moved`` events (the MLflow connector's
registry sync) and the runs frame (:func:`glassbox.metrics.runs.with_families`). A model is judged
on the ``[[kpi]]`` of the experiment its versions' runs belong to; a version's value is its run's
family result on that metric (a search's parent carries its best child's). SPEC §9:

- ``models``: one entry per model with a version before the period's end — ``latest_version``,
  ``aliases`` (alias -> version as of the end), and ``champion``: the version behind the first of the
  KPI's ``alias`` names that the model has, measured on the KPI's metric (None without one).
- ``model_regressed``: an alias moved during the period to a version whose value is worse than the
  value of the version it left (an alias set for the first time has nothing to regress from).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from glassbox.config import Kpi
from glassbox.metrics.experiments import is_better
from glassbox.metrics.runs import family_results, metric_value

VERSION_CATEGORY = "model_version_created"
ALIAS_CATEGORY = "model_alias_moved"
MODEL_CATEGORIES = (VERSION_CATEGORY, ALIAS_CATEGORY)
VERSION_COLUMNS = ("model", "version", "run_id", "created_at", "url", "experiment", "value", "metric")


def _attrs(frame: pd.DataFrame, key: str) -> list[object]:
    return [a.get(key) if isinstance(a, dict) else None for a in frame["attrs"]]


def versions_frame(events: pd.DataFrame, runs: pd.DataFrame, kpis: list[Kpi], end: datetime | None = None
                   ) -> pd.DataFrame:
    """One row per model version created before ``end``: ``model, version`` (int), ``run_id, created_at, url``,
    and its run's ``experiment`` and KPI ``value`` on ``metric`` (None when the run or the KPI is unknown)."""
    rows = events.loc[events["category"] == VERSION_CATEGORY]
    if end is not None:
        rows = rows.loc[rows["occurred_at"] < end]
    if rows.empty:
        return pd.DataFrame(columns=list(VERSION_COLUMNS))
    out = pd.DataFrame({"model": _attrs(rows, "model"), "version": [int(str(v)) for v in _attrs(rows, "version")],
                        "run_id": _attrs(rows, "run_id"), "created_at": list(rows["occurred_at"]),
                        "url": list(rows["url"])})
    experiment_of = dict(zip(runs["run_id"], runs["experiment"], strict=True)) if len(runs) else {}
    family_of = dict(zip(runs["run_id"], runs["family"], strict=True)) if "family" in runs else {}
    out["experiment"] = out["run_id"].map(experiment_of)
    values: list[float | None] = []
    metrics: list[str | None] = []
    results: dict[str, pd.DataFrame] = {}
    for run_id, experiment in zip(out["run_id"], out["experiment"], strict=True):
        kpi = kpi_for(kpis, experiment)
        if kpi is None:
            values.append(None)
            metrics.append(None)
            continue
        key = f"{kpi.experiment}\x1f{kpi.metric}"
        if key not in results:
            results[key] = family_results(runs.loc[runs["experiment"] == kpi.experiment], kpi.metric, kpi.goal)
        own = _own_value(runs, run_id, kpi)
        family = results[key]["value"].get(family_of.get(run_id, run_id)) if own is None else None
        values.append(own if own is not None else (None if family is None or pd.isna(family) else float(family)))
        metrics.append(kpi.metric)
    out["value"] = values
    out["metric"] = metrics
    return out.sort_values(["model", "version"]).reset_index(drop=True).loc[:, list(VERSION_COLUMNS)]


def version_runs(events: pd.DataFrame) -> set[str]:
    """The runs the model versions among ``events`` were built from: the runs whose values the model
    figures read besides a period's own."""
    rows = events.loc[events["category"] == VERSION_CATEGORY]
    return {run_id for run_id in _attrs(rows, "run_id") if isinstance(run_id, str)}


def _own_value(runs: pd.DataFrame, run_id: object, kpi: Kpi) -> float | None:
    """The version's own run's value when it logged the metric (a child registered directly, say)."""
    rows = runs.loc[runs["run_id"] == run_id]
    return None if rows.empty else metric_value(rows.iloc[0]["metrics"], kpi.metric)


def kpi_for(kpis: list[Kpi], experiment: object) -> Kpi | None:
    return next((kpi for kpi in kpis if kpi.experiment == experiment), None)


def alias_moves(events: pd.DataFrame, end: datetime | None = None) -> pd.DataFrame:
    """``model, alias, from_version, to_version`` (ints or None), ``at``, oldest first, before ``end``."""
    rows = events.loc[events["category"] == ALIAS_CATEGORY]
    if end is not None:
        rows = rows.loc[rows["occurred_at"] < end]
    rows = rows.sort_values("occurred_at", kind="stable")
    return pd.DataFrame({"model": _attrs(rows, "model"), "alias": _attrs(rows, "alias"),
                         "from_version": [_int(v) for v in _attrs(rows, "from_version")],
                         "to_version": [_int(v) for v in _attrs(rows, "to_version")],
                         "at": list(rows["occurred_at"])},
                        columns=["model", "alias", "from_version", "to_version", "at"])


def _int(value: object) -> int | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else int(str(value))


def positions_at(moves: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Where every alias points after ``moves`` (model -> alias -> version); a removed alias is gone."""
    where: dict[str, dict[str, int]] = {}
    for move in moves.itertuples(index=False):
        aliases = where.setdefault(str(move.model), {})
        if move.to_version is None or pd.isna(move.to_version):
            aliases.pop(str(move.alias), None)
        else:
            aliases[str(move.alias)] = int(move.to_version)
    return where


def models_summary(events: pd.DataFrame, runs: pd.DataFrame, kpis: list[Kpi], start: datetime,
                   end: datetime) -> tuple[list[dict], list[dict]]:
    """SPEC §9's ``models`` as of ``end`` and the period's ``model_regressed`` alerts."""
    versions = versions_frame(events, runs, kpis, end)
    moves = alias_moves(events, end)
    where = positions_at(moves)
    entries = []
    for model, mine in versions.groupby("model", sort=True):
        known = set(mine["version"])  # a version the view hides is not shown through its alias either
        aliases = {alias: v for alias, v in sorted(where.get(str(model), {}).items()) if v in known}
        entries.append({"model": str(model), "latest_version": int(mine["version"].max()), "aliases": aliases,
                        "champion": _champion(mine, aliases, kpis)})
    alerts = [alert for move in moves.loc[(moves["at"] >= start) & (moves["at"] < end)].itertuples(index=False)
              if (alert := _regressed(move, versions, kpis)) is not None]
    return entries, alerts


def _champion(versions: pd.DataFrame, aliases: dict[str, int], kpis: list[Kpi]) -> dict | None:
    experiment = versions["experiment"].dropna()
    kpi = kpi_for(kpis, experiment.iloc[-1]) if len(experiment) else None
    names = kpi.alias if kpi is not None else ("champion",)
    alias = next((name for name in names if name in aliases), None)
    if alias is None:
        return None
    row = versions.loc[versions["version"] == aliases[alias]]
    if row.empty:
        return None
    version = row.iloc[0]
    return {"alias": alias, "version": int(version["version"]), "run_id": version["run_id"],
            "metric": kpi.metric if kpi else None, "value": version["value"]}


def _regressed(move: Any, versions: pd.DataFrame, kpis: list[Kpi]) -> dict | None:
    # ``move`` is an ``itertuples`` row of :func:`alias_moves`
    model, alias, before, after = str(move.model), str(move.alias), move.from_version, move.to_version
    if before is None or after is None or pd.isna(before) or pd.isna(after):
        return None
    mine = versions.loc[versions["model"] == model].set_index("version")
    if int(before) not in mine.index or int(after) not in mine.index:
        return None
    old, new = mine.loc[int(before)], mine.loc[int(after)]
    kpi = kpi_for(kpis, new["experiment"])
    if kpi is None or old["value"] is None or new["value"] is None or pd.isna(old["value"]) or pd.isna(new["value"]):
        return None
    if not is_better(float(old["value"]), float(new["value"]), kpi.goal):
        return None
    message = (f"model {model}: @{alias} moved from version {int(before)} ({kpi.metric} {float(old['value']):.4g})"
               f" to version {int(after)} ({float(new['value']):.4g}), a worse {kpi.metric}")
    return {"kind": "model_regressed", "experiment": kpi.experiment, "model": model, "alias": alias,
            "run_id": str(new["run_id"]), "message": message}
