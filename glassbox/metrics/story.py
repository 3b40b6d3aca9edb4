"""A ticket's story: everything that happened for one ticket, in time order, across every source.

For ticket ``key`` the chain is: the ticket's own events (created — by whom, which side — comments,
transitions, resolution); the commits and pull requests that reference it, with the PRs' reviews and
comments; the runs on those commits or naming the ticket, with their notes, their result on the
experiment's KPI and the parameters they changed against the best run before them; the model
versions built from those runs and every alias move onto or off them; and every wait on someone
(:data:`glassbox.vocabulary.WAITS`) on the ticket or its pull requests, with who it was on.

Pure: the caller hands the timeline of its view (so a client's story has nothing internal, and an
internal ticket has no story at all), its links, the latency samples and the KPIs. Pages and reports
read the same frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pandas as pd

from glassbox.config import Kpi
from glassbox.metrics.datasets import datasets_by_run, describe
from glassbox.metrics.experiments import kpi_story, param_diff
from glassbox.metrics.linking import Links
from glassbox.metrics.models import ALIAS_CATEGORY, VERSION_CATEGORY
from glassbox.metrics.runs import RUN_EVENT_CATEGORIES, run_table
from glassbox.vocabulary import WAITS, latency_label

MAX_PARAMS = 4  # changed parameters named in a run's step; the rest are counted
COLUMNS = ("at", "step", "actor", "side", "title", "detail", "url", "thread")


class Step(StrEnum):
    """What one row of a story is."""

    CREATED = "created"
    COMMENT = "comment"
    TRANSITION = "transition"
    RESOLVED = "resolved"
    COMMIT = "commit"
    PULL_REQUEST = "pull request"
    REVIEW = "review"
    RUN = "run"
    MODEL_VERSION = "model version"
    ALIAS = "alias"
    WAIT = "wait"


TICKET_STEPS = {"ticket_created": Step.CREATED, "comment": Step.COMMENT, "ticket_transition": Step.TRANSITION,
                "ticket_resolved": Step.RESOLVED}
PR_STEPS = {"pull_request_opened": Step.PULL_REQUEST, "pull_request_merged": Step.PULL_REQUEST,
            "pull_request_closed": Step.PULL_REQUEST, "review": Step.REVIEW, "comment": Step.COMMENT}


def _attr(attrs: object, key: str) -> object:
    return attrs.get(key) if isinstance(attrs, dict) else None


@dataclass(frozen=True)
class JudgedRuns:
    """What a story says of its runs, when the caller has it: ``table``, the :func:`run_table` rows (with
    their families) of the ticket's runs, the best runs before them and the members holding their
    results; ``stories``, per KPI experiment, the KPI's :func:`kpi_story` rows of those runs by run id
    (judged against every run before them, not only the ticket's). The read model keeps both
    (:func:`glassbox.readmodel.kpis.judged_runs`); without them the story judges every run of ``events``."""

    table: pd.DataFrame
    stories: dict[str, tuple[Kpi, pd.DataFrame]]


def ticket_story(events: pd.DataFrame, links: Links, samples: dict[str, pd.DataFrame], key: str,
                 kpis: list[Kpi], judged: JudgedRuns | None = None) -> pd.DataFrame:
    """The story of ticket ``key`` (see the module docstring), oldest first; empty when the view has none of it.

    ``judged``, when given, says how the ticket's runs fared; else ``events`` must hold every run of the
    view (each is judged against the runs before it)."""
    rows: list[dict] = []
    mine = events.loc[events["thread"] == key]
    for event in mine.loc[mine["category"].isin(TICKET_STEPS)].itertuples(index=False):
        rows.append(_row(event, TICKET_STEPS[event.category], _ticket_detail(event.category, event.attrs)))
    served = links.for_ticket(key)
    commit_ids = set(served["commits"]["id"])
    for event in events.loc[events["id"].isin(commit_ids)].itertuples(index=False):
        rows.append(_row(event, Step.COMMIT, str(_attr(event.attrs, "sha") or "")[:8]))
    pr_threads = set(served["pull_requests"]["thread"])
    on_prs = events.loc[events["thread"].isin(pr_threads) & events["category"].isin(PR_STEPS)]
    for event in on_prs.itertuples(index=False):
        rows.append(_row(event, PR_STEPS[event.category], _pr_detail(event.category, event.attrs)))
    runs = served["runs"]
    if not runs.empty:
        rows += _runs(events, runs, judged or judge_every_run(events, links, kpis))
    rows += _models(events, set(runs["run_id"]))
    rows += _waits(samples, {key, *pr_threads})
    story = pd.DataFrame(rows, columns=list(COLUMNS))
    if story.empty:
        return story
    story["at"] = pd.to_datetime(story["at"], utc=True)
    return story.sort_values("at", kind="stable").reset_index(drop=True)


def _row(event: Any, step: Step, detail: str) -> dict:
    # ``event`` is an ``itertuples`` row of the timeline
    return {"at": event.occurred_at, "step": step, "actor": event.actor, "side": event.side, "title": event.title,
            "detail": detail, "url": event.url, "thread": event.thread}


def _ticket_detail(category: str, attrs: object) -> str:
    if category == "ticket_transition":
        return f"{_attr(attrs, 'from_status') or '?'} → {_attr(attrs, 'to_status') or '?'}"
    if category == "ticket_created":
        return str(_attr(attrs, "status") or "")
    if category == "ticket_resolved":
        return str(_attr(attrs, "to_status") or "resolved")
    return ""


def _pr_detail(category: str, attrs: object) -> str:
    if category == "review":
        return str(_attr(attrs, "state") or "").replace("_", " ").lower()
    return {"pull_request_opened": "opened", "pull_request_merged": "merged", "pull_request_closed": "closed"}.get(
        category, "")


def judge_every_run(events: pd.DataFrame, links: Links, kpis: list[Kpi]) -> JudgedRuns:
    """:class:`JudgedRuns` from every run of ``links`` (the view's whole ML history in ``events``)."""
    table = run_table(links.runs, events)
    return JudgedRuns(table, {kpi.experiment: (kpi, kpi_story(table, kpi).set_index("run_id")) for kpi in kpis})


def _runs(events: pd.DataFrame, runs: pd.DataFrame, fared: JudgedRuns) -> list[dict]:
    """One row per run serving the ticket, at its start: note, result, parameters changed against the best."""
    table, stories = fared.table, fared.stories
    data = datasets_by_run(table)
    finished = events.loc[events["category"].isin(RUN_EVENT_CATEGORIES)]
    by_run = {_attr(a, "run_id"): e for e, a in zip(finished.itertuples(index=False), finished["attrs"], strict=True)}
    rows = []
    for run in runs.itertuples(index=False):
        said = []
        kpi, story = stories.get(run.experiment, (None, None))
        if kpi is not None and story is not None and run.run_id in story.index:
            judged = story.loc[run.run_id]
            if judged["value"] is not None:
                best = " (new best)" if judged["new_best"] else ""
                said.append(f"{kpi.metric} {float(judged['value']):.4g}{best}")
            changes = _changes_against_best(story, table, run.run_id)
            if changes:
                shown = [f"{p} {c['from']}→{c['to']}" for p, c in sorted(changes.items())][:MAX_PARAMS]
                more = f" and {len(changes) - MAX_PARAMS} more" if len(changes) > MAX_PARAMS else ""
                said.append("changed " + ", ".join(shown) + more)
        elif run.status:
            said.append(str(run.status).lower())
        if data.get(run.run_id):
            said.append(f"data {describe(data[run.run_id])}")
        if isinstance(run.note, str) and run.note:
            said.append(f"note: {run.note}")
        event = by_run.get(run.run_id)
        rows.append({"at": run.started_at, "step": Step.RUN, "actor": run.actor, "side": run.side,
                     "title": str(run.name), "detail": " · ".join(said), "url": run.url,
                     "thread": run.experiment if event is None else event.thread})
    return rows


def _changes_against_best(story: pd.DataFrame, table: pd.DataFrame, run_id: str) -> dict:
    """Parameters changed against the best run before this one, member against member: a search's
    parent holds only the search's settings, its best child the parameters that won."""
    previous = story.loc[run_id, "previous_best_run_id"]
    if not isinstance(previous, str) or previous not in story.index:
        return {}
    params = dict(zip(table["run_id"], table["params"], strict=True))
    before = story.loc[previous, "value_run_id"] or previous
    after = story.loc[run_id, "value_run_id"] or run_id
    return param_diff(params.get(before), params.get(after))


def _models(events: pd.DataFrame, run_ids: set[str]) -> list[dict]:
    """Versions built from the ticket's runs, and every alias move onto or off those versions."""
    versions = events.loc[(events["category"] == VERSION_CATEGORY)
                          & events["attrs"].map(lambda a: _attr(a, "run_id") in run_ids)]
    ours = {(str(_attr(a, "model")), str(_attr(a, "version"))) for a in versions["attrs"]}
    rows = [_row(event, Step.MODEL_VERSION, f"from run {_attr(event.attrs, 'run_id')}")
            for event in versions.itertuples(index=False)]
    moves = events.loc[events["category"] == ALIAS_CATEGORY]
    for event in moves.itertuples(index=False):
        model = str(_attr(event.attrs, "model"))
        touched = {(model, str(_attr(event.attrs, "to_version"))), (model, str(_attr(event.attrs, "from_version")))}
        if touched & ours:
            before, after = _attr(event.attrs, "from_version") or "—", _attr(event.attrs, "to_version") or "—"
            row = _row(event, Step.ALIAS, f"@{_attr(event.attrs, 'alias')}: version {before} → {after}")
            rows.append(row | {"actor": None})  # MLflow records no one for an alias, only where it points
    return rows


def _waits(samples: dict[str, pd.DataFrame], threads: set[str]) -> list[dict]:
    """Every wait on someone on the ticket or its pull requests, at its start, with who it was on and how long."""
    rows = []
    for wait in WAITS:
        frame = samples.get(wait.latency)
        if frame is None or frame.empty:
            continue
        for sample in frame.loc[frame["thread"].isin(threads)].itertuples(index=False):
            ended = pd.notna(sample.ended_at)
            how_long = f"{float(sample.hours):.1f} h" if ended and pd.notna(sample.hours) else "still open"
            rows.append({"at": sample.started_at, "step": Step.WAIT, "actor": None, "side": wait.on,
                         "title": f"{wait.one} ({latency_label(wait.latency)})",
                         "detail": f"on the {wait.on} · {how_long}", "url": None, "thread": sample.thread})
    return rows
