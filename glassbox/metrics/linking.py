"""How work items point at each other: commits and PRs to tickets, runs to commits and so to tickets.

The timeline gives every event its ``refs`` (ticket keys and commit SHAs it mentions or belongs to,
SPEC §3). This module turns them into three small tables — commits, pull requests and runs, each with
the tickets they serve — so a ticket can list its commits, PRs and runs, a run can name its code and
ticket, and the report can say how much work is unlinked (SPEC §5 ``links``).

A run's commit is its ``mlflow.source.git.commit`` tag; a prefix of 7+ hex digits matches the one
known commit it begins with (an ambiguous prefix matches none). A run's tickets are the ones its own
tags or refs name, else those of its commit.

A ref's kind (ticket key or commit SHA) is the one the store keeps (``refs.kind``, carried by
:func:`glassbox.timeline.load_timeline` as ``ref_kinds``), never re-guessed from its text. Which
ticket keys count is decided when reading, by :func:`known_tickets`: with Jira sources configured,
only keys of the Jira projects they returned, so ``CVE-2017-5638``, ``UTF-8`` or ``SHA-512`` in a
commit message link to nothing, and what older syncs stored is re-linked without a re-sync.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from glassbox.events import is_sha
from glassbox.metrics.compute import logged_hours
from glassbox.metrics.datasets import logged_datasets

PR_CATEGORIES = ("pull_request_opened", "pull_request_merged", "pull_request_closed")
RUN_CATEGORIES = ("run_started", "run_finished")


def ticket_project(key: str) -> str:
    """The Jira project of a ticket key: ``DRILL`` for ``DRILL-138``."""
    return key.rsplit("-", 1)[0]


def known_tickets(refs: pd.DataFrame, projects: AbstractSet[str]) -> pd.DataFrame:
    """``refs`` (``event_id, kind, value``) without the ticket keys of projects outside ``projects``.

    Why at read time: the connectors match a pattern, which cannot know that ``CVE-2017`` names no
    project; the Jira projects the store holds can. Commit refs pass untouched.
    """
    if refs.empty:
        return refs
    tickets = refs["kind"].to_numpy() == "ticket"
    keep = ~tickets
    keep[tickets] = [ticket_project(value) in projects for value in refs["value"].to_numpy()[tickets]]
    return refs.loc[keep]


def ticket_keys(refs: list[str], kinds: list[str]) -> list[str]:
    """The refs of one event that are ticket keys."""
    return [ref for ref, kind in zip(refs, kinds, strict=True) if kind == "ticket"]


def first_sha(refs: list[str], kinds: list[str]) -> str | None:
    return next((ref.lower() for ref, kind in zip(refs, kinds, strict=True) if kind == "commit"), None)


def exploded_refs(events: pd.DataFrame) -> pd.DataFrame:
    """One row per (event, ref): ``id, value, kind`` where kind is ``commit`` or ``ticket``."""
    if events.empty:
        return pd.DataFrame({"id": pd.Series(dtype=object), "value": pd.Series(dtype=object),
                             "kind": pd.Series(dtype=object)})
    rows = [(event_id, value, kind)
            for event_id, refs, kinds in zip(events["id"], events["refs"], events["ref_kinds"], strict=True)
            for value, kind in zip(refs, kinds, strict=True)]
    return pd.DataFrame(rows, columns=["id", "value", "kind"], dtype=object)


def attr(frame: pd.DataFrame, key: str) -> pd.Series:
    """The ``attrs`` field ``key`` of each row (None where absent)."""
    values = [attrs.get(key) if isinstance(attrs, dict) else None for attrs in frame["attrs"]]
    return pd.Series(values, index=frame.index, dtype=object)


def commits_frame(events: pd.DataFrame) -> pd.DataFrame:
    """One row per commit: ``id, sha, occurred_at, thread, actor, side, title, url, tickets`` (a list)."""
    commits = events.loc[events["category"] == "commit"].copy()
    shas = attr(commits, "sha").astype(object)
    missing = shas.isna()
    kinds = commits["ref_kinds"]
    if missing.any():
        shas[missing] = [first_sha(refs, k) for refs, k in zip(commits.loc[missing, "refs"], kinds[missing],
                                                                 strict=True)]
    commits["sha"] = [sha.lower() if isinstance(sha, str) else None for sha in shas]
    commits["tickets"] = [ticket_keys(refs, k) for refs, k in zip(commits["refs"], kinds, strict=True)]
    columns = ["id", "sha", "occurred_at", "thread", "actor", "side", "title", "url", "tickets"]
    return commits.loc[:, columns].reset_index(drop=True)


def pull_requests_frame(events: pd.DataFrame) -> pd.DataFrame:
    """One row per PR thread: ``thread, number, title, url, author, opened_at, merged_at, closed_at, tickets``."""
    prs = events.loc[events["category"].isin(PR_CATEGORIES)]
    columns = ["thread", "number", "title", "url", "author", "opened_at", "merged_at", "closed_at", "tickets"]
    if prs.empty:
        return pd.DataFrame(columns=columns)
    times = prs.pivot_table(index="thread", columns="category", values="occurred_at", aggfunc="min")
    first = prs.sort_values("occurred_at").groupby("thread").first()
    opened = prs.loc[prs["category"] == "pull_request_opened"].groupby("thread").first()
    out = pd.DataFrame(index=first.index)
    out["number"] = attr(first, "number")
    out["title"] = first["title"]
    out["url"] = first["url"]
    out["author"] = opened["actor"].reindex(out.index).fillna(first["actor"])
    for column, category in (("opened_at", "pull_request_opened"), ("merged_at", "pull_request_merged"),
                             ("closed_at", "pull_request_closed")):
        out[column] = times.get(category, pd.NaT)
    tickets: dict[str, dict[str, None]] = {}
    for thread, refs, kinds in zip(prs["thread"], prs["refs"], prs["ref_kinds"], strict=True):
        tickets.setdefault(thread, {}).update(dict.fromkeys(ticket_keys(refs, kinds)))
    out["tickets"] = [list(tickets.get(thread, {})) for thread in out.index]
    return out.reset_index().loc[:, columns]


def resolve_prefixes(prefixes: pd.Series, shas: Iterable[str]) -> pd.Series:
    """The one full SHA each prefix (7+ hex digits) begins, else None (unknown, too short or ambiguous).

    Binary search over the sorted SHAs: a prefix's matches are the SHAs in ``[prefix, prefix + "~")``.
    """
    known = np.array(sorted({sha.lower() for sha in shas if isinstance(sha, str)}), dtype="U40")
    valid = [is_sha(prefix) for prefix in prefixes]
    wanted = [str(p).lower() if ok else "" for p, ok in zip(prefixes, valid, strict=True)]
    low = np.searchsorted(known, np.array(wanted, dtype="U41"), side="left")
    high = np.searchsorted(known, np.array([w + "~" for w in wanted], dtype="U41"), side="left")
    unique = (high - low == 1) & np.array(valid, dtype=bool)
    found = [str(known[index]) if ok else None for index, ok in zip(low, unique, strict=True)]
    return pd.Series(found, index=prefixes.index, dtype=object)


def runs_frame(events: pd.DataFrame, commits: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per MLflow run, its latest state, with its commit resolved and its tickets.

    Columns: ``run_id, experiment, name, started_at, ended_at, status, actor, side, url, params,
    metrics, note`` (the run's ``body`` when the frame has one, else attrs ``note``),
    ``parent_run_id, commit`` (the tag as given), ``sha`` (the known full SHA or
    None), ``tickets``, ``datasets`` (:func:`~glassbox.metrics.datasets.logged_datasets`) and ``hours``
    (:func:`~glassbox.metrics.compute.logged_hours`). ``started_at`` is the ``run_started`` event's time
    (else the run's start_time).
    """
    commits = commits_frame(events) if commits is None else commits
    runs = events.loc[events["category"].isin(RUN_CATEGORIES)].copy()
    columns = ["run_id", "experiment", "name", "started_at", "ended_at", "status", "actor", "side", "url",
               "params", "metrics", "note", "parent_run_id", "commit", "sha", "tickets", "datasets", "hours"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    runs["run_id"] = attr(runs, "run_id").fillna(runs["id"])
    runs["order"] = (runs["category"] == "run_finished").astype(int)
    latest = runs.sort_values(["order", "occurred_at"], kind="stable").drop_duplicates("run_id", keep="last")
    latest = latest.set_index("run_id")
    started = runs.loc[runs["category"] == "run_started"].groupby("run_id")["occurred_at"].min()
    out = pd.DataFrame(index=latest.index)
    out["experiment"] = attr(latest, "experiment").fillna(latest["thread"])
    out["name"] = latest["title"]
    fallback = pd.to_datetime(attr(latest, "start_time"), utc=True, errors="coerce", format="ISO8601")
    out["started_at"] = started.reindex(out.index).fillna(fallback)
    out["ended_at"] = pd.to_datetime(attr(latest, "end_time"), utc=True, errors="coerce", format="ISO8601")
    out["status"] = attr(latest, "status")
    for column in ("actor", "side", "url"):
        out[column] = latest[column]
    for column in ("params", "metrics"):
        out[column] = attr(latest, column).map(lambda v: v if isinstance(v, dict) else {})
    notes = attr(latest, "note")
    out["note"] = latest["body"].where(latest["body"].notna(), notes) if "body" in latest else notes
    out["parent_run_id"] = attr(latest, "parent_run_id")
    kinds = latest["ref_kinds"]
    own_sha = pd.Series([first_sha(refs, k) for refs, k in zip(latest["refs"], kinds, strict=True)],
                        index=latest.index, dtype=object)
    out["commit"] = attr(latest, "commit").fillna(own_sha).astype(object)
    out["sha"] = resolve_prefixes(out["commit"], commits["sha"].dropna())
    out["tickets"] = _run_tickets(latest, out["sha"], commits)
    out["datasets"] = latest["attrs"].map(logged_datasets).astype(object)
    out["hours"] = latest["attrs"].map(logged_hours).astype(object)
    return out.reset_index().loc[:, columns].sort_values("started_at", kind="stable").reset_index(drop=True)


def _run_tickets(latest: pd.DataFrame, shas: pd.Series, commits: pd.DataFrame) -> pd.Series:
    by_sha = dict(zip(commits["sha"], commits["tickets"], strict=True))
    tag = attr(latest, "ticket")
    own = [ticket_keys(refs, kinds) for refs, kinds in zip(latest["refs"], latest["ref_kinds"], strict=True)]
    result = []
    for ticket, mentioned, sha in zip(tag, own, shas, strict=True):
        named = list(dict.fromkeys(([ticket] if isinstance(ticket, str) and ticket else []) + mentioned))
        from_commit = list(by_sha.get(sha, [])) if isinstance(sha, str) else []
        result.append(named or from_commit)
    return pd.Series(result, index=latest.index, dtype=object)


@dataclass(frozen=True)
class Links:
    """Commits, PRs and runs with the tickets they serve, built once from a timeline frame."""

    commits: pd.DataFrame
    pull_requests: pd.DataFrame
    runs: pd.DataFrame

    def for_ticket(self, key: str) -> dict[str, pd.DataFrame]:
        """The commits, PRs and runs that serve ticket ``key``."""
        return {
            "commits": self.commits.loc[self.commits["tickets"].map(lambda t: key in t)],
            "pull_requests": self.pull_requests.loc[self.pull_requests["tickets"].map(lambda t: key in t)],
            "runs": self.runs.loc[self.runs["tickets"].map(lambda t: key in t)],
        }

    def for_run(self, run_id: str) -> dict[str, object]:
        """A run's commit (a row as a dict, or None when unknown) and its tickets."""
        rows = self.runs.loc[self.runs["run_id"] == run_id]
        if rows.empty:
            return {"commit": None, "tickets": []}
        run = rows.iloc[0]
        commit = self.commits.loc[self.commits["sha"] == run["sha"]] if pd.notna(run["sha"]) else self.commits.iloc[0:0]
        return {"commit": commit.iloc[0].to_dict() if not commit.empty else None, "tickets": list(run["tickets"])}


def build_links(events: pd.DataFrame) -> Links:
    commits = commits_frame(events)
    return Links(commits, pull_requests_frame(events), runs_frame(events, commits))


def links_summary(links: Links, start: datetime, end: datetime) -> dict[str, int]:
    """SPEC §5 ``links`` for commits made and runs started in ``[start, end)``.

    A commit is linked when it names a ticket; a run when its commit tag resolves to a known commit.
    """
    commits = links.commits.loc[(links.commits["occurred_at"] >= start) & (links.commits["occurred_at"] < end)]
    runs = links.runs.loc[(links.runs["started_at"] >= start) & (links.runs["started_at"] < end)]
    with_ticket = sum(1 for tickets in commits["tickets"] if tickets)
    with_commit = int(runs["sha"].notna().sum())
    return {
        "commits_with_ticket": with_ticket,
        "commits_without_ticket": len(commits) - with_ticket,
        "runs_with_commit": with_commit,
        "runs_without_commit": len(runs) - with_commit,
    }
