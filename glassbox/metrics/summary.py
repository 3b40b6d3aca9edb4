"""The report's data: SPEC §5's JSON object for one period and view, plus what the renderers need.

:func:`report_from_events` takes the timeline (all history up to the period's end, since waits ending
this week may have started long ago), with its links and latency samples, and returns plain JSON-ready
Python values: pure, frames in and figures out. Reading the store is
:class:`glassbox.report_model.ReportModel`'s job, and every format starts from its one dict.

SPEC §5 keys: ``engagement, view, period, counts, latency, links, experiments, alerts`` (and §7's
``agreements``) — exactly as
specified. Extra keys (not in the spec; the ``json`` format may keep or drop them):

- ``compute``: ``{hours: {wall, gpu}, by_ticket: [{ticket, wall, gpu, runs}]}`` for the top-level runs
  started in the period (:mod:`glassbox.metrics.compute`); ``models`` (SPEC §9) is
  :func:`glassbox.metrics.models.models_summary`'s, whose ``model_regressed`` alerts join ``alerts``.
- ``timezone``: the engagement's time zone; ``generated_at``: ISO time the report was computed for.
- ``previous``: ``{label, start, end, counts, latency, links}`` for the period before (week over week).
- ``waiting``: open waits at the period's end (or now, if earlier), longest first, each
  ``{latency, thread, title, url, on, since, hours, working_hours}``; the waits and who each is
  ``on`` (``team`` or ``client``) are :data:`glassbox.vocabulary.WAITS`.
- ``shipped``: ``{pull_requests: [...], tickets: [...]}`` merged PRs and resolved tickets of the
  period, each ``{at, actor, side, thread, title, url}`` (PRs also ``tickets``).
- ``daily``: one row per day and side, ``{day, side, commits, pull_requests_merged, tickets_moved,
  runs, active_people}`` (:func:`glassbox.metrics.progress.daily_progress`).
- ``experiment_runs``: per KPI ``{experiment, metric, goal, target, runs: [...]}``, each run
  ``{run_id, name, started_at, status, value, best_so_far, new_best, drop, param_diff, note,
  commit, tickets, url, excluded, children, value_run_id}`` for the period's top-level runs and
  every earlier run that set a new best (the experiments' story, bounded however long the
  history); ``value`` is the family's result, held by the child ``value_run_id``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from datetime import datetime
from typing import SupportsFloat
from zoneinfo import ZoneInfo

import pandas as pd

from glassbox.config import Config, Team
from glassbox.metrics.agreements import AgreementFrames, agreements_report, needs_pauses, ticket_pause_intervals
from glassbox.metrics.compute import by_ticket, compute_frame, started_between, totals
from glassbox.metrics.experiments import Stories, experiments_summary
from glassbox.metrics.latency import LATENCIES, compute_all_latencies, open_wait_moment, open_waits, summarize
from glassbox.metrics.linking import Links, build_links, links_summary
from glassbox.metrics.models import models_summary
from glassbox.metrics.progress import daily_progress, items
from glassbox.metrics.runs import count_runs, run_table, top_level
from glassbox.periods import Period
from glassbox.vocabulary import WAITS

log = logging.getLogger(__name__)

COUNTED = {
    "commits": "commit",
    "pull_requests_opened": "pull_request_opened",
    "pull_requests_merged": "pull_request_merged",
    "reviews": "review",
    "tickets_created": "ticket_created",
    "tickets_resolved": "ticket_resolved",
    "comments": "comment",
}
HEAD_CATEGORIES = ("ticket_created", "pull_request_opened")  # where a thread's title and url come from
_STORY_FIELDS = ("run_id", "name", "status", "value", "best_so_far", "new_best", "drop", "param_diff",
                 "note", "commit", "tickets", "url", "excluded", "children", "value_run_id")


def report_from_events(events: pd.DataFrame, config: Config, period: Period, view: str,
                       now: datetime, *, samples: dict[str, pd.DataFrame] | None = None,
                       links: Links | None = None, heads: pd.DataFrame | None = None,
                       stories: Stories | None = None,
                       previous_counts: dict[str, int] | None = None) -> dict[str, object]:
    """Everything the report of ``period`` says, for ``view``, from its timeline (all history up to ``period.end``).

    ``links`` and ``samples`` (:func:`compute_all_latencies`) over ``events`` when the caller has them;
    ``heads``, the opening events of the threads it names (their titles), when ``events`` lacks them;
    ``stories``, the KPIs' stories as the period shows them (the read model's), when the links' runs
    are only the period's (:func:`glassbox.metrics.experiments.experiments_summary`);
    ``previous_counts``, the previous period's :data:`COUNTED` figures (the read model's day counts),
    when ``events`` does not hold that period (then ``links`` must still hold its commits and runs).
    """
    return _report(events, config, period, view, now, samples, links, heads, stories, previous_counts,
                   extras=True)


def figures_from_events(events: pd.DataFrame, config: Config, period: Period, view: str,
                        now: datetime, *, samples: dict[str, pd.DataFrame] | None = None,
                        links: Links | None = None, stories: Stories | None = None) -> dict[str, object]:
    """SPEC §5's part of :func:`report_from_events` alone (the ``json`` format): the same figures,
    without the extras the renderers read, so no thread's title is needed."""
    return _report(events, config, period, view, now, samples, links, None, stories, None, extras=False)


def _report(events: pd.DataFrame, config: Config, period: Period, view: str, now: datetime,
            samples: dict[str, pd.DataFrame] | None, links: Links | None, heads: pd.DataFrame | None,
            stories: Stories | None, previous_counts: dict[str, int] | None, *, extras: bool) -> dict[str, object]:
    tz = config.engagement.zone
    links = links if links is not None else build_links(events)
    if samples is None:
        samples = compute_all_latencies(events, config, now, links)
    previous = period.previous()
    runs = run_table(links.runs, events)
    entries, alerts, stories = experiments_summary(runs, config.kpi, period.start, period.end, stories)
    models, regressions = models_summary(events, runs, config.kpi, period.start, period.end)
    compute = started_between(compute_frame(runs), period.start, period.end)
    for entry in entries:
        entry["compute_hours"] = totals(compute.loc[compute["experiment"] == entry["experiment"]])
    # SPEC §5: a run is a top-level run everywhere, the links' run figures included
    links = replace(links, runs=top_level(runs))
    figures: dict[str, object] = {
        "engagement": config.engagement.name,
        "engagement_id": config.engagement_id,
        "view": view,
        "period": _period(period),
        "counts": counts(events, links, period.start, period.end),
        "latency": {name: summarize(samples[name], period.start, period.end, now) for name in LATENCIES},
        "links": links_summary(links, period.start, period.end),
        "experiments": entries,
        "alerts": alerts + regressions,
        "agreements": agreements_report(config.agreement, AgreementFrames(samples, _pauses(events, config),
                                                                          config.team), period.start, period.end, now),
        "models": models,
    }
    if not extras:
        return figures
    titles = _thread_titles(events if heads is None else heads)
    return {
        **figures,
        "compute": {"hours": totals(compute), "by_ticket": by_ticket(compute)},
        "timezone": config.engagement.timezone,
        "generated_at": pd.Timestamp(now).tz_convert(tz).isoformat(),
        "previous": {
            **_period(previous),
            "counts": counts(events, links, previous.start, previous.end) if previous_counts is None
            else {**previous_counts, "runs": count_runs(links.runs, previous.start, previous.end)},
            "latency": {name: summarize(samples[name], previous.start, previous.end, now) for name in LATENCIES},
            "links": links_summary(links, previous.start, previous.end),
        },
        "waiting": waiting(titles, samples, config, open_wait_moment(period.end, now)),
        "shipped": shipped(events, links, period, tz, titles),
        "daily": _daily(events, period, tz),
        "experiment_runs": [_story(kpi_key, story, config, period) for kpi_key, story in stories.items()],
    }


def _pauses(events: pd.DataFrame, config: Config) -> pd.DataFrame:
    """The tickets' pause intervals, measured only when an agreement judges a paused latency (else unused)."""
    return ticket_pause_intervals(events if needs_pauses(config.agreement) else events.iloc[0:0])


def _period(period: Period) -> dict[str, str]:
    return {"label": period.label, "start": period.start.isoformat(), "end": period.end.isoformat()}


def _between(moments: pd.Series, start: datetime, end: datetime) -> pd.Series:
    return (moments >= start) & (moments < end)


def counts(events: pd.DataFrame, links: Links, start: datetime, end: datetime) -> dict[str, int]:
    """SPEC §5 ``counts`` for ``[start, end)``; ``runs`` counts top-level runs started in the period
    (:mod:`glassbox.metrics.runs`)."""
    window = events.loc[_between(events["occurred_at"], start, end), "category"].value_counts()
    out = {name: int(window.get(category, 0)) for name, category in COUNTED.items()}
    out["runs"] = count_runs(links.runs, start, end)
    return out


def _thread_titles(events: pd.DataFrame) -> pd.DataFrame:
    """``title, url`` by thread, from each thread's first opening event (a ticket's or a PR's)."""
    heads = events.loc[events["category"].isin(HEAD_CATEGORIES)]
    return heads.sort_values("occurred_at").groupby("thread")[["title", "url"]].first()


def open_waits_on_people(samples: dict[str, pd.DataFrame], moment: datetime, team: Team) -> pd.DataFrame:
    """Every wait on someone (:data:`glassbox.vocabulary.WAITS`) still open at ``moment``.

    ``latency, on, what, thread, started_at, hours, working_hours``, in :data:`~glassbox.vocabulary.WAITS`'
    order; ``what`` is one such wait in words. The report, the Today and the Feedback pages list these.
    """
    columns = ["latency", "on", "what", "thread", "started_at", "hours", "working_hours"]
    kinds = [(order, wait) for order, wait in enumerate(WAITS) if len(samples.get(wait.latency, ()))]
    if not kinds:
        return pd.DataFrame(columns=columns)
    every = pd.concat([samples[wait.latency].assign(order=order) for order, wait in kinds], ignore_index=True)
    still = open_waits(every, moment, team)  # measured once: one working-hours table for every kind
    if still.empty:
        return pd.DataFrame(columns=columns)
    still = still.sort_values("order", kind="stable").reset_index(drop=True)  # each kind longest first
    kind = [WAITS[order] for order in still["order"]]
    return still.assign(latency=[wait.latency for wait in kind], on=[wait.on for wait in kind],
                        what=[wait.one for wait in kind]).loc[:, columns]


def waiting(titles: pd.DataFrame, samples: dict[str, pd.DataFrame], config: Config,
            moment: pd.Timestamp) -> list[dict[str, object]]:
    """Open waits on people at ``moment`` (:func:`open_waits_on_people`), longest first, with their
    threads' ``titles`` (:func:`_thread_titles`)."""
    still = open_waits_on_people(samples, moment, config.team).join(titles, on="thread")
    if still.empty:
        return []
    since = [moment.isoformat() for moment in still["started_at"].dt.tz_convert(config.engagement.timezone)]
    rows = [{
        "latency": latency, "thread": thread, "on": on,
        "title": title if isinstance(title, str) else thread,
        "url": url if isinstance(url, str) else None,
        "since": started, "hours": round(float(hours), 2), "working_hours": _number(working),
    } for latency, thread, on, title, url, started, hours, working in zip(
        still["latency"], still["thread"], still["on"], still["title"], still["url"], since, still["hours"],
        still["working_hours"], strict=True)]
    return sorted(rows, key=lambda row: row["hours"], reverse=True)


def shipped(events: pd.DataFrame, links: Links, period: Period, tz: ZoneInfo,
            titles: pd.DataFrame) -> dict[str, list[dict]]:
    """Merged PRs and resolved tickets of the period, oldest first, with the tickets' ``titles``."""
    window = events.loc[_between(events["occurred_at"], period.start, period.end)]
    merged = window.loc[window["category"] == "pull_request_merged"]
    resolved = window.loc[window["category"] == "ticket_resolved"]
    pull_requests = items(merged, tz)
    tickets_by_pr = links.pull_requests.set_index("thread")["tickets"] if len(links.pull_requests) else {}
    for item in pull_requests:
        item["tickets"] = list(tickets_by_pr.get(item["thread"], []))
    tickets = items(resolved, tz)
    names = titles["title"]
    for item in tickets:
        item["title"] = names.get(item["thread"], item["title"])
    return {"pull_requests": pull_requests, "tickets": tickets}


def _daily(events: pd.DataFrame, period: Period, tz: ZoneInfo) -> list[dict[str, object]]:
    frame = daily_progress(events, tz, period.start, period.end)
    frame["day"] = frame["day"].map(lambda day: day.isoformat())
    return frame.to_dict(orient="records")


def _story(key: tuple[str, str], story: pd.DataFrame, config: Config, period: Period) -> dict[str, object]:
    """A KPI's runs of the period, plus the earlier runs that set a new best (the best-so-far line)."""
    experiment, metric = key
    kpi = next(k for k in config.kpi if (k.experiment, k.metric) == key)
    story = story.loc[story["new_best"] | (story["started_at"] >= period.start)]
    runs = []
    for row in story.to_dict(orient="records"):
        run = {field: _plain(row[field]) for field in _STORY_FIELDS}
        run["started_at"] = row["started_at"].tz_convert(config.engagement.timezone).isoformat() \
            if pd.notna(row["started_at"]) else None
        runs.append(run)
    return {"experiment": experiment, "metric": metric, "goal": kpi.goal, "target": kpi.target, "runs": runs}


def _number(value: SupportsFloat | None) -> float | None:
    """Hours to two decimals; None for none or NaN (a wait's unknown working hours)."""
    number = None if value is None else float(value)
    return None if number is None or math.isnan(number) else round(number, 2)


def _plain(value: object) -> object:
    """JSON-ready: numpy scalars to Python, NaN to None."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        return value.item()
    return value
