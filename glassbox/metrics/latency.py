"""The feedback-cycle latencies of SPEC §4, as samples over the whole history, summarized per period.

Each function takes a timeline frame (:func:`glassbox.timeline.load_timeline`) and returns one row
per wait: ``thread, started_at, ended_at, abandoned_at, hours, working_hours``. ``ended_at`` is NaT
while the wait is still open; ``abandoned_at`` marks a wait that stopped without ending (a PR closed
before anyone reviewed it) — it was open until then and never becomes a sample. Samples must be
computed over all history, since a wait ending this week may have started months ago;
:func:`summarize` then reduces them to SPEC §5's object for one period.

Common exclusions: bot events are dropped before anything else (SPEC §4: bots never start or end a
wait), so a bot's comment answers nobody and a ticket a bot created has no pickup or lead time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from glassbox.config import Config, Team
from glassbox.metrics.linking import Links, attr, build_links
from glassbox.metrics.working_hours import working_hours_between

LATENCIES = ("client_response", "client_turnaround", "ticket_pickup", "ticket_cycle", "ticket_lead",
             "pr_pickup", "pr_merge", "commit_to_run")
SAMPLE_COLUMNS = ("thread", "started_at", "ended_at", "abandoned_at", "hours", "working_hours")
CLIENT_STARTS = ("ticket_created", "comment", "review")
TEAM_ANSWERS = ("comment", "review", "ticket_transition", "pull_request_merged", "pull_request_closed")
APPROVED = "APPROVED"  # a review's ``state`` that asks for nothing
REFERRING = ("commit", "pull_request_opened", "pull_request_merged", "pull_request_closed")
_NS_PER_HOUR = 3_600_000_000_000


def _people(events: pd.DataFrame) -> pd.DataFrame:
    return events.loc[events["side"] != "bot"]


def _marks(frame: pd.DataFrame, thread: str = "thread") -> pd.DataFrame:
    return pd.DataFrame({"thread": frame[thread].astype(object).reset_index(drop=True),
                         "at": pd.to_datetime(frame["occurred_at"], utc=True).reset_index(drop=True)})


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(pd.Series(values), utc=True).reset_index(drop=True)


def _finish(frame: pd.DataFrame, team: Team) -> pd.DataFrame:
    """Add ``hours`` and ``working_hours`` to ``thread, started_at, ended_at[, abandoned_at]`` rows."""
    out = pd.DataFrame({
        "thread": pd.Series(frame["thread"].to_numpy(), dtype=object),
        "started_at": _utc(frame["started_at"]),
        "ended_at": _utc(frame["ended_at"]),
    })
    abandoned = _utc(frame["abandoned_at"]) if "abandoned_at" in frame else pd.Series(pd.NaT, index=out.index)
    out["abandoned_at"] = pd.to_datetime(abandoned, utc=True).where(out["ended_at"].isna())
    out["hours"] = ((out["ended_at"] - out["started_at"]).dt.total_seconds() / 3600).clip(lower=0)
    out["working_hours"] = working_hours_between(out["started_at"], out["ended_at"], team).to_numpy()
    out = out.sort_values(["started_at", "thread"], kind="stable").reset_index(drop=True)
    return out.loc[:, list(SAMPLE_COLUMNS)]


def _waits(starts: pd.DataFrame, ends: pd.DataFrame) -> pd.DataFrame:
    """Per thread, a wait opens at a start mark when none is open and closes at the next end mark.

    ``starts`` and ``ends`` are ``thread, at`` frames. A start and an end at the same instant: the
    start comes first, so the end answers it (a zero-hour wait).
    """
    if starts.empty:
        return pd.DataFrame(columns=["thread", "started_at", "ended_at"])
    ends = ends.loc[ends["thread"].isin(set(starts["thread"]))]
    marks = pd.concat([starts.assign(is_end=0), ends.assign(is_end=1)], ignore_index=True)
    marks = marks.sort_values(["thread", "at", "is_end"], kind="stable")
    marks["seg"] = marks.groupby("thread")["is_end"].cumsum() - marks["is_end"]
    opened = marks.loc[marks["is_end"] == 0].groupby(["thread", "seg"], as_index=False)["at"].min()
    closed = marks.loc[marks["is_end"] == 1, ["thread", "seg", "at"]].rename(columns={"at": "ended_at"})
    waits = opened.rename(columns={"at": "started_at"}).merge(closed, on=["thread", "seg"], how="left")
    return waits.loc[:, ["thread", "started_at", "ended_at"]]


def client_response(events: pd.DataFrame, team: Team) -> pd.DataFrame:
    """How long the client waits for the team to answer.

    Starts: a client's ticket creation, comment or review on a thread, unless a client wait is
    already open there (a second question before any answer is the same wait). An approving review
    (state ``APPROVED``) asks for nothing and starts no wait.
    Ends: the next team event on the same thread — a comment, a review, a ticket transition, the PR
    merged or closed — or a team commit or pull-request event whose refs name the thread (a ticket key).
    Excludes: bots (they neither ask nor answer); client events never answer a client wait.
    """
    people = _people(events)
    approvals = (people["category"] == "review") & (attr(people, "state") == APPROVED)
    asks = people.loc[(people["side"] == "client") & people["category"].isin(CLIENT_STARTS) & ~approvals]
    team_side = people.loc[people["side"] == "team"]
    answers = team_side.loc[team_side["category"].isin(TEAM_ANSWERS)]
    referring = team_side.loc[team_side["category"].isin(REFERRING)]
    ends = pd.concat([_marks(answers), _referring_marks(referring, set(asks["thread"]))], ignore_index=True)
    return _finish(_waits(_marks(asks), ends), team)


def _referring_marks(events: pd.DataFrame, threads: set[str]) -> pd.DataFrame:
    """``thread, at`` for each ref of ``events`` naming one of ``threads`` (a loop over short ref lists)."""
    rows = [(index, ref) for index, refs in enumerate(events["refs"]) for ref in refs if ref in threads]
    positions = [index for index, _ in rows]
    return pd.DataFrame({"thread": pd.Series([ref for _, ref in rows], dtype=object),
                         "at": events["occurred_at"].iloc[positions].reset_index(drop=True)})


def client_turnaround(events: pd.DataFrame, team: Team) -> pd.DataFrame:
    """How long the team waits for the client once a ticket is put in a waiting status.

    Starts: a ticket transition into one of the ``waiting_statuses`` (attrs ``waiting``), or a ticket
    created in one, unless a turnaround wait is already open on that ticket.
    Ends: the next client event of any kind on that ticket.
    Excludes: bots; team events never end it, even moving the ticket out of the waiting status.
    """
    people = _people(events)
    tickets = people.loc[people["category"].isin(("ticket_transition", "ticket_created"))]
    waiting = tickets.loc[attr(tickets, "waiting").fillna(False).astype(bool)]
    replies = people.loc[people["side"] == "client"]
    return _finish(_waits(_marks(waiting), _marks(replies)), team)


def _ticket_states(events: pd.DataFrame) -> pd.DataFrame:
    """Per ticket: ``created_at``, created category, first in-progress, first done and resolving times.

    ``created_category`` is the category the ticket was created in (the connector reads it from the
    changelog; see :mod:`connectors.jira`). ``has_history`` says whether any status change of the
    ticket is recorded (by anyone, bots too): without one, the created category is only the current
    status. ``resolved_at`` is the resolving transition, else the ticket's ``ticket_resolved`` event
    (Jira's ``resolutiondate`` for a done ticket whose history records no move into done).
    """
    people = _people(events)
    created = people.loc[people["category"] == "ticket_created"]
    resolved = people.loc[people["category"] == "ticket_resolved"]
    moves = people.loc[people["category"] == "ticket_transition"].copy()
    moves["to"] = attr(moves, "to_category")
    moves["from"] = attr(moves, "from_category")
    moves = moves.sort_values(["occurred_at", "id"], kind="stable")
    out = pd.DataFrame(index=pd.Index(pd.concat([created["thread"], moves["thread"]]).unique(), name="thread"))
    first_created = created.sort_values("occurred_at").groupby("thread").first()
    out["created_at"] = first_created["occurred_at"]
    out["created_category"] = attr(first_created, "status_category").reindex(out.index)
    out["first_progress"] = moves.loc[moves["to"] == "indeterminate"].groupby("thread")["occurred_at"].min()
    out["first_done"] = moves.loc[moves["to"] == "done"].groupby("thread")["occurred_at"].min()
    final_category = moves.groupby("thread")["to"].last().reindex(out.index)
    entering_done = moves.loc[(moves["to"] == "done") & (moves["from"] != "done")]
    last_entry = entering_done.groupby("thread")["occurred_at"].max().reindex(out.index)
    fallback = resolved.groupby("thread")["occurred_at"].max().reindex(out.index)
    out["resolved_at"] = last_entry.where(final_category == "done").fillna(fallback)
    out["has_history"] = out.index.isin(events.loc[events["category"] == "ticket_transition", "thread"])
    for column in ("created_at", "first_progress", "first_done", "resolved_at"):
        out[column] = pd.to_datetime(out[column], utc=True)
    return out.reset_index()


def ticket_pickup(events: pd.DataFrame, team: Team) -> pd.DataFrame:
    """How long a new ticket waits before someone starts on it.

    Starts: the ticket is created in a to-do status — the status it was *created in*, which the
    connector takes from the ``from`` side of the first status change in its changelog (the current
    status only for a ticket with no recorded status change). A ticket still in to-do is an open
    wait; once picked up it is a completed sample, whatever its status now. One created already in
    progress or done has no pickup wait. Ends: its first transition into an "in progress" status
    (Jira category ``indeterminate``). Abandoned: a ticket done (a move into done, else its
    ``resolutiondate``) before ever being in progress.
    Excludes: tickets created by bots and transitions made by bots.
    """
    states = _ticket_states(events)
    states = states.loc[states["created_at"].notna() & ~states["created_category"].isin(("indeterminate", "done"))]
    done_at = states["first_done"].fillna(states["resolved_at"])
    skipped = done_at.notna() & (states["first_progress"].isna() | (done_at < states["first_progress"]))
    frame = pd.DataFrame({
        "thread": states["thread"],
        "started_at": states["created_at"],
        "ended_at": states["first_progress"].where(~skipped),
        "abandoned_at": done_at.where(skipped),
    })
    return _finish(frame, team)


def ticket_cycle(events: pd.DataFrame, team: Team) -> pd.DataFrame:
    """How long a ticket takes from the start of work to its resolution.

    Starts: the ticket's first transition into an "in progress" status (category ``indeterminate``);
    a ticket whose changelog shows it was created in progress (its first status change leaves an
    in-progress status) starts at creation. Ends: the transition into a "done" status (category
    ``done``, entered from another category) that left it resolved — for a ticket reopened after
    done, its final resolution; a ticket reopened and not yet done again is open. A done ticket
    whose history records no move into done ends at its ``resolutiondate`` (its ``ticket_resolved``).
    Excludes: tickets never in progress; a ticket in progress (or done) with no status change
    recorded at all — when work started is unknown, so it gives no cycle sample rather than one
    counted from creation; transitions made by bots.
    """
    states = _ticket_states(events)
    created_in_progress = states["has_history"] & (states["created_category"] == "indeterminate")
    start = states["first_progress"].fillna(states["created_at"].where(created_in_progress))
    frame = pd.DataFrame({"thread": states["thread"], "started_at": start, "ended_at": states["resolved_at"]})
    return _finish(frame.loc[frame["started_at"].notna()], team)


def ticket_lead(events: pd.DataFrame, team: Team) -> pd.DataFrame:
    """How long a ticket takes from creation to resolution.

    Starts: the ticket is created. Ends: the same resolving transition as :func:`ticket_cycle` (the
    final one for a reopened ticket), or the ``resolutiondate`` of a done ticket whose history records
    no move into done. Excludes: tickets created by bots; transitions made by bots.
    """
    states = _ticket_states(events)
    frame = pd.DataFrame({"thread": states["thread"], "started_at": states["created_at"],
                          "ended_at": states["resolved_at"]})
    return _finish(frame.loc[frame["started_at"].notna()], team)


def _opened_prs(events: pd.DataFrame) -> pd.DataFrame:
    people = _people(events)
    opened = people.loc[people["category"] == "pull_request_opened"].sort_values("occurred_at")
    return opened.groupby("thread", as_index=False).first()[["thread", "occurred_at", "actor"]].rename(
        columns={"occurred_at": "started_at", "actor": "author"})


def _lookup(keys: pd.Series, table: pd.Series) -> pd.Series:
    """``table[key]`` for each key (NaT/NaN when absent), aligned with ``keys``."""
    return pd.Series(table.reindex(keys.to_numpy()).to_numpy(), index=keys.index, dtype=table.dtype)


def _first_at(events: pd.DataFrame, category: str) -> pd.Series:
    return events.loc[events["category"] == category].groupby("thread")["occurred_at"].min()


def pr_pickup(events: pd.DataFrame, team: Team) -> pd.DataFrame:
    """How long a pull request waits for its first look.

    Starts: the PR is opened. Ends: the first review or comment on it by anyone but its author.
    Abandoned: the PR is merged or closed before anyone else looked at it.
    Excludes: PRs opened by bots; bots' reviews and comments; the author's own replies.
    """
    people = _people(events)
    opened = _opened_prs(events)
    looks = people.loc[people["category"].isin(("review", "comment")), ["thread", "occurred_at", "actor"]]
    looks = looks.merge(opened, on="thread")
    looks = looks.loc[(looks["actor"] != looks["author"]) & (looks["occurred_at"] >= looks["started_at"])]
    first_look = looks.groupby("thread")["occurred_at"].min()
    finished = pd.concat([_first_at(people, "pull_request_merged"), _first_at(people, "pull_request_closed")])
    finished = finished.groupby(level=0).min()
    ended = _lookup(opened["thread"], first_look)
    stop = _lookup(opened["thread"], finished)
    abandoned = stop.where(stop.notna() & (ended.isna() | (stop < ended)))
    frame = opened.assign(ended_at=ended.where(abandoned.isna()), abandoned_at=abandoned)
    return _finish(frame, team)


def pr_merge(events: pd.DataFrame, team: Team) -> pd.DataFrame:
    """How long a pull request takes from opening to merge.

    Starts: the PR is opened. Ends: it is merged. Abandoned: closed without being merged.
    Excludes: PRs opened by bots; merges made by bots.
    """
    people = _people(events)
    opened = _opened_prs(events)
    merged = _lookup(opened["thread"], _first_at(people, "pull_request_merged"))
    closed = _lookup(opened["thread"], _first_at(people, "pull_request_closed"))
    frame = opened.assign(ended_at=merged, abandoned_at=closed.where(merged.isna()))
    return _finish(frame, team)


def commit_to_run(events: pd.DataFrame, team: Team, links: Links | None = None) -> pd.DataFrame:
    """How long a commit waits for its first experiment run.

    Starts: a commit, at its committer time. Ends: the start of the first MLflow run whose
    ``mlflow.source.git.commit`` tag is that commit (a 7+ digit prefix matches). The ``thread`` is
    the commit's SHA. Excludes: commits never run (not every commit is meant for a run, so those
    are not waits), bots' commits and runs. A run clocked before its commit counts 0 hours.
    ``links`` (from :func:`glassbox.metrics.linking.build_links` on the same events) saves rebuilding them.
    """
    links = links or build_links(events)
    commits = links.commits.loc[links.commits["side"] != "bot"].dropna(subset=["sha"]).drop_duplicates("sha")
    runs = links.runs.loc[links.runs["side"] != "bot"].dropna(subset=["sha", "started_at"])
    first_run = runs.groupby("sha")["started_at"].min()
    commits = commits.loc[commits["sha"].isin(first_run.index)]
    frame = pd.DataFrame({"thread": commits["sha"], "started_at": commits["occurred_at"],
                          "ended_at": _lookup(commits["sha"], first_run)})
    return _finish(frame, team)


METRICS: dict[str, Callable[[pd.DataFrame, Team], pd.DataFrame]] = {
    "client_response": client_response,
    "client_turnaround": client_turnaround,
    "ticket_pickup": ticket_pickup,
    "ticket_cycle": ticket_cycle,
    "ticket_lead": ticket_lead,
    "pr_pickup": pr_pickup,
    "pr_merge": pr_merge,
    "commit_to_run": commit_to_run,
}


def compute_all_latencies(events: pd.DataFrame, config: Config, now: datetime | None = None,
                          links: Links | None = None) -> dict[str, pd.DataFrame]:
    """Samples of every SPEC §4 latency over ``events`` (all history); events after ``now`` are ignored.

    ``links`` built from the same events (and no events after ``now``) is reused, not rebuilt.
    """
    if now is not None:
        late = events["occurred_at"] > pd.Timestamp(now)
        if late.any():
            events, links = events.loc[~late], None
    links = links or build_links(events)
    samples = {name: metric(events, config.team) for name, metric in METRICS.items() if name != "commit_to_run"}
    samples["commit_to_run"] = commit_to_run(events, config.team, links)
    return {name: samples[name] for name in LATENCIES}


def _hours(value: float | None) -> float | None:
    if value is None or pd.isna(value):
        return None
    return round(float(value), 2)


def open_wait_moment(period_end: datetime, now: datetime | None = None) -> pd.Timestamp:
    """The moment a period's open waits are measured at: its end, or now if it has not ended (SPEC §4).

    Never later than now: measured at the end of a week still running, every oldest-open figure
    would run days into the future. ``now`` defaults to the clock; callers that cache or test pass it.
    """
    moment = pd.Timestamp(now if now is not None else datetime.now(UTC))
    return min(pd.Timestamp(period_end), moment)


def summarize(samples: pd.DataFrame, period_start: datetime, period_end: datetime,
              now: datetime | None = None) -> dict[str, object]:
    """SPEC §5's latency object for ``[period_start, period_end)``.

    ``n`` and the hour figures cover samples ending in the period; ``open`` counts waits started
    before :func:`open_wait_moment` (the period's end, or now if earlier) and neither ended nor
    abandoned by then; ``oldest_open_hours`` is the longest of those, measured at that same moment.
    Percentiles interpolate linearly; hours are rounded to 2 decimals.
    """
    start, end = pd.Timestamp(period_start), pd.Timestamp(period_end)
    cutoff = open_wait_moment(end, now)
    ended_at = samples["ended_at"]
    done = samples.loc[ended_at.notna() & (ended_at >= start) & (ended_at < end)]
    still = samples["started_at"].loc[_still_open(samples, cutoff)]
    hours = done["hours"].to_numpy(dtype=float)
    oldest = (cutoff - still).dt.total_seconds().max() / 3600 if len(still) else None
    return {
        "n": int(len(done)),
        "median_hours": _hours(np.median(hours)) if len(hours) else None,
        "p90_hours": _hours(np.percentile(hours, 90)) if len(hours) else None,
        "max_hours": _hours(hours.max()) if len(hours) else None,
        "median_working_hours": _hours(done["working_hours"].median()) if len(hours) else None,
        "open": int(len(still)),
        "oldest_open_hours": _hours(oldest),
    }


def _still_open(samples: pd.DataFrame, cutoff: pd.Timestamp) -> pd.Series:
    """Which samples were waiting at ``cutoff``: started before it, neither ended nor abandoned by it."""
    return ((samples["started_at"] < cutoff)
            & (samples["ended_at"].isna() | (samples["ended_at"] >= cutoff))
            & (samples["abandoned_at"].isna() | (samples["abandoned_at"] >= cutoff)))


def open_waits(samples: pd.DataFrame, moment: datetime, team: Team) -> pd.DataFrame:
    """Samples still waiting at ``moment``, ``hours`` and ``working_hours`` measured to it, longest first."""
    cutoff = pd.Timestamp(moment)
    still = samples.loc[_still_open(samples, cutoff)].copy().reset_index(drop=True)
    still["hours"] = (cutoff - still["started_at"]).dt.total_seconds() / 3600
    still["working_hours"] = working_hours_between(
        still["started_at"], pd.Series(cutoff, index=still.index), team).to_numpy()
    return still.sort_values("hours", ascending=False, kind="stable").reset_index(drop=True)
