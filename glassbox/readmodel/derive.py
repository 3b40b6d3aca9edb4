"""From a timeline to read-model rows, and the fingerprint of what those rows depend on.

The wait rows are the metric functions' own samples (:func:`glassbox.metrics.latency.compute_all_latencies`)
stored as they are, and the day rows count the timeline's own rows (what :func:`glassbox.metrics.summary.counts`
and :func:`glassbox.metrics.chart_data.activity` count): derivation never re-implements a figure, so a
figure from the read model is the figure the metric functions give.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Set as AbstractSet
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd

from glassbox.config import Config
from glassbox.metrics.latency import LATENCIES, compute_all_latencies
from glassbox.readmodel.runs import RUN_COLUMNS
from glassbox.views import View
from glassbox.visibility import internal_origins
from glassbox.vocabulary import wait_of


def wait_rows(timeline: pd.DataFrame, config: Config, engagement: str, view: View,
              threads: set[str] | None = None) -> list[dict[str, Any]]:
    """One ``rm_waits`` row per latency sample of ``timeline``; only those on ``threads`` when given.

    ``seq`` numbers a thread's waits of one latency in start order (a thread may wait many times).
    """
    rows: list[dict[str, Any]] = []
    for latency, frame in compute_all_latencies(timeline, config).items():
        if threads is not None:
            frame = frame.loc[frame["thread"].isin(threads)]
        if frame.empty:
            continue
        wait = wait_of(latency)
        seq = frame.groupby("thread", sort=False).cumcount()
        for sample, number in zip(frame.itertuples(index=False), seq, strict=True):
            rows.append({
                "engagement": engagement, "view": view.value, "latency": latency, "thread": sample.thread,
                "seq": int(number), "started_at": _moment(sample.started_at), "ended_at": _moment(sample.ended_at),
                "abandoned_at": _moment(sample.abandoned_at), "hours": _number(sample.hours),
                "working_hours": _number(sample.working_hours), "on": wait.on if wait else None,
            })
    return rows


DayKey = Literal["source", "category", "person", "side"]  # what a day's events are counted by, besides the day
EVERY_KEY: tuple[DayKey, ...] = ("source", "category", "person", "side")
DAY_KEYS = ("day", *EVERY_KEY)  # what one ``rm_days`` row counts the events of
NO_PERSON = ""  # an event without an actor: a key column cannot be null


def day_rows(timeline: pd.DataFrame, zone: ZoneInfo, engagement: str, view: View) -> list[dict[str, Any]]:
    """One ``rm_days`` row per local day (in ``zone``), source, category, person and side of ``timeline``.

    ``person`` is the timeline's ``actor`` (the name :func:`glassbox.timeline.load_timeline` resolved).
    """
    if timeline.empty:
        return []
    keys = pd.DataFrame({"day": local_days(timeline["occurred_at"], zone), "source": timeline["source"],
                         "category": timeline["category"], "person": timeline["actor"].fillna(NO_PERSON),
                         "side": timeline["side"]})
    counted = keys.groupby(list(DAY_KEYS), sort=True).size()
    return [{"engagement": engagement, "view": view.value, **dict(zip(DAY_KEYS, key, strict=True)),
             "events": int(number)} for key, number in counted.items()]


def local_days(moments: pd.Series, zone: ZoneInfo) -> pd.Series:
    """Each moment's calendar day in ``zone`` (the engagement's: its periods start at local midnight)."""
    return pd.to_datetime(moments, utc=True).dt.tz_convert(zone).dt.date


def _moment(value: Any) -> Any:
    return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def config_fingerprint(config: Config) -> str:
    """A hash of every config value the rows depend on: when it changes, the read model is rebuilt.

    People (their names decide which events are one person's; sides decide who waits), the team's
    working hours and days (``working_hours``), what the client view hides (internal labels,
    projects and sources), and the engagement's time zone (whose midnights divide the days). The
    latencies' names and what a stored run holds are in it too, so a new latency or run column
    rebuilds, and the KPIs whose stories are kept (their experiment, metric and goal; a target or an
    alert threshold is judged on reading).
    """
    basis = {
        "timezone": config.engagement.timezone,
        "people": [person.model_dump(mode="json") for person in config.people],
        "team": config.team.model_dump(mode="json"),
        "internal_labels": sorted(config.internal_labels()),
        "internal_projects": sorted(p.upper() for section in config.jira for p in section.internal_projects),
        "internal_origins": sorted(internal_origins(config)),
        "jira": bool(config.jira),
        "latencies": list(LATENCIES),
        "runs": list(RUN_COLUMNS),
        "kpis": [[kpi.experiment, kpi.metric, kpi.goal] for kpi in config.kpi],
    }
    return hashlib.sha1(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()


def projects_fingerprint(projects: AbstractSet[str]) -> str:
    """The Jira projects in the store decide which ticket keys count (``known_tickets``)."""
    return hashlib.sha1(json.dumps(sorted(projects)).encode()).hexdigest()
