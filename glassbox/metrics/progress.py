"""Daily progress: what moved each day, split by side, and what happened since the last working day.

A client opening the dashboard on Monday wants "what happened since Friday", and the weekly report
wants one row per day for its charts — both aggregated here, per calendar day in the engagement's
time zone, so no chart ever receives raw events.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from glassbox.config import Config
from glassbox.metrics.runs import top_level_run_starts
from glassbox.metrics.working_hours import previous_working_day

SIDES = ("team", "client", "bot")
PROGRESS_COLUMNS = ("commits", "pull_requests_merged", "tickets_moved", "runs", "active_people")
RECENT_CATEGORIES = {
    "commits": ("commit",),
    "pull_requests_merged": ("pull_request_merged",),
    "tickets_moved": ("ticket_transition",),
    "tickets_resolved": ("ticket_resolved",),
    "runs": ("run_started",),
}


def local_days(moments: pd.Series, tz: ZoneInfo) -> pd.Series:
    """The calendar day of each UTC moment in ``tz``."""
    return moments.dt.tz_convert(tz).dt.date


def daily_progress(events: pd.DataFrame, tz: ZoneInfo, start: datetime, end: datetime) -> pd.DataFrame:
    """One row per day in ``[start, end)`` and side: commits, PRs merged, tickets moved, runs, active people.

    ``tickets_moved`` counts distinct tickets with a transition that day; ``runs`` counts top-level
    runs started (:mod:`glassbox.metrics.runs`: a search's children fold into their parent);
    ``active_people`` counts distinct actors with any event. Days without activity have zeros.
    """
    window = events.loc[(events["occurred_at"] >= start) & (events["occurred_at"] < end)]
    runs = top_level_run_starts(events).reindex(window.index)
    frame = pd.DataFrame({
        "day": local_days(window["occurred_at"], tz),
        "side": window["side"],
        "category": window["category"],
        "run": runs,
        "thread": window["thread"],
        "actor": window["actor"],
    })
    keys = ["day", "side"]
    counts = pd.DataFrame({
        "commits": frame.loc[frame["category"] == "commit"].groupby(keys).size(),
        "pull_requests_merged": frame.loc[frame["category"] == "pull_request_merged"].groupby(keys).size(),
        "tickets_moved": frame.loc[frame["category"] == "ticket_transition"].groupby(keys)["thread"].nunique(),
        "runs": frame.loc[frame["run"]].groupby(keys).size(),
        "active_people": frame.groupby(keys)["actor"].nunique(),
    })
    grid = pd.MultiIndex.from_product([_days(start, end, tz), SIDES], names=keys)
    counts = counts.reindex(grid).fillna(0).astype(int)
    return counts.reset_index().loc[:, ["day", "side", *PROGRESS_COLUMNS]]


def _days(start: datetime, end: datetime, tz: ZoneInfo) -> list[date]:
    first = pd.Timestamp(start).tz_convert(tz).date()
    last = (pd.Timestamp(end).tz_convert(tz) - pd.Timedelta(microseconds=1)).date()
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def since_previous_working_day(events: pd.DataFrame, config: Config, now: datetime) -> dict[str, object]:
    """What happened from the start of the team's previous working day (engagement time zone) to ``now``.

    Returns ``since`` (ISO), and lists ``commits``, ``pull_requests_merged``, ``tickets_moved``,
    ``tickets_resolved``, ``runs`` (top-level runs started) of ``{at, actor, side, thread, title, url}``
    items, newest first.
    """
    zone = config.engagement.zone
    today = pd.Timestamp(now).tz_convert(zone).date()
    since = datetime.combine(previous_working_day(today, config.team), time(0), tzinfo=zone)
    window = events.loc[(events["occurred_at"] >= since) & (events["occurred_at"] <= pd.Timestamp(now))]
    window = window.sort_values("occurred_at", ascending=False, kind="stable")
    runs = top_level_run_starts(events).reindex(window.index)
    result: dict[str, object] = {"since": since.isoformat()}
    for name, categories in RECENT_CATEGORIES.items():
        chosen = window["category"].isin(categories) & (runs if name == "runs" else True)
        result[name] = items(window.loc[chosen], zone)
    return result


def items(frame: pd.DataFrame, tz: ZoneInfo) -> list[dict[str, object]]:
    """Events as plain ``{at, actor, side, thread, title, url}`` dicts, ``at`` ISO 8601 in ``tz``."""
    out = frame.loc[:, ["occurred_at", "actor", "side", "thread", "title", "url"]].copy()
    out["occurred_at"] = out["occurred_at"].dt.tz_convert(tz).map(lambda moment: moment.isoformat())
    out["url"] = out["url"].astype(object).where(out["url"].notna(), None)
    return out.rename(columns={"occurred_at": "at"}).to_dict(orient="records")
