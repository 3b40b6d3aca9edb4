"""How compute was spent: wall and GPU hours of runs, summed per experiment, week and ticket.

A run's hours are its ``compute_hours`` attribute (the MLflow connector: wall hours, and wall hours
× GPUs where system metrics were logged). Only top-level runs are summed: a search's children ran
inside their parent's wall time, so adding them would count the same hours twice. Hours belong to the
period in which the run *started*, as runs do (SPEC §5). GPU hours are ``None`` where no run in the
group logged GPU metrics — unknown, not zero.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from glassbox.metrics.runs import top_level

COLUMNS = ("run_id", "experiment", "started_at", "tickets", "wall", "gpu")


def logged_hours(attrs: object) -> dict:
    """A run event's ``compute_hours``; runs synced before ``compute_hours`` existed get their wall
    hours from ``duration_s``."""
    value = attrs.get("compute_hours") if isinstance(attrs, dict) else None
    if isinstance(value, dict):
        return value
    duration = attrs.get("duration_s") if isinstance(attrs, dict) else None
    return {"wall": duration / 3600 if isinstance(duration, int | float) else None}


def compute_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per top-level run: ``run_id, experiment, started_at, tickets, wall, gpu`` (hours or NaN),
    from the runs' ``hours`` (:func:`glassbox.metrics.linking.runs_frame`, the run's latest event's)."""
    mine = top_level(runs)
    if mine.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    out = mine.loc[:, ["run_id", "experiment", "started_at", "tickets"]].copy()
    out["wall"] = [_number(hours.get("wall")) for hours in mine["hours"]]
    out["gpu"] = [_number(hours.get("gpu")) for hours in mine["hours"]]
    return out.reset_index(drop=True)


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else float("nan")


def totals(frame: pd.DataFrame) -> dict[str, float | None]:
    """``{"wall", "gpu"}`` hours of ``frame``'s runs, two decimals; each None when no run measured it."""
    wall, gpu = frame["wall"].dropna(), frame["gpu"].dropna()
    return {"wall": round(float(wall.sum()), 2) if len(wall) else None,
            "gpu": round(float(gpu.sum()), 2) if len(gpu) else None}


def started_between(frame: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    return frame.loc[(frame["started_at"] >= start) & (frame["started_at"] < end)]


def by_experiment(frame: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    return {str(name): totals(group) for name, group in frame.groupby("experiment", sort=True)}


def by_ticket(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Hours per ticket the runs serve (a run serving two tickets counts for each), most first;
    runs serving none are ``ticket`` None."""
    exploded = frame.assign(ticket=frame["tickets"].map(lambda t: list(t) if isinstance(t, list | tuple) and t
                                                        else [None])).explode("ticket")
    rows = [{"ticket": None if pd.isna(ticket) else str(ticket), **totals(group), "runs": len(group)}
            for ticket, group in exploded.groupby("ticket", dropna=False, sort=True)]
    return sorted(rows, key=lambda row: (row["ticket"] is None, -float(row["wall"] or 0)))


def by_week(frame: pd.DataFrame, tz: ZoneInfo) -> pd.DataFrame:
    """``week`` (the ISO week's Monday, local), ``wall``, ``gpu`` per week with runs."""
    if frame.empty:
        return pd.DataFrame(columns=["week", "wall", "gpu"])
    local = frame["started_at"].dt.tz_convert(tz)
    week = (local.dt.normalize() - pd.to_timedelta(local.dt.day_of_week, unit="D")).dt.date
    return frame.assign(week=week).groupby("week", sort=True)[["wall", "gpu"]].sum(min_count=1).reset_index()
