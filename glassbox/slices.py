"""What a page reads of the store besides a period's events: small slices of the history, never all of it.

The dashboard used to hold every event of the engagement in memory (2.7 GB at 1M events) and cut
each page's frame out of it. Each function here reads one slice instead, by key or by category,
through :func:`glassbox.timeline.load_timeline` (so the view, names and ticket keys are decided in
the one place they always were), and hands it to the same metric functions the full history went
to. Why each slice is enough for its figures is in its docstring; ``tests/test_slices.py`` pins each
against the full history.

- :func:`ml_history`: runs, model events and the commits the runs name (datasets, compute, a
  ticket's story; the runs table itself is the read model's, :mod:`glassbox.readmodel.runs`), and
  :func:`run_history`, the same for a few runs; :func:`model_history`: the model events alone.
- :func:`titles_of`: what given tickets and pull requests are called.
- :func:`story_tickets`: every ticket with a story; :func:`tickets_among`: which of given threads are;
  :func:`period_tickets`: a period's, from its :class:`TicketCandidates` (:func:`visible_tickets`).
- :func:`status_history`: the status changes of given tickets (agreements' pauses).
- :func:`ticket_neighbourhood`: every event a ticket's story reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

import pandas as pd

from glassbox.config import Config
from glassbox.events import commit_event_id, is_sha
from glassbox.metrics.agreements import TICKET_STATUS_EVENTS
from glassbox.metrics.linking import RUN_CATEGORIES, ticket_project
from glassbox.metrics.models import MODEL_CATEGORIES
from glassbox.store import Store
from glassbox.timeline import jira_projects, load_timeline
from glassbox.views import View
from glassbox.visibility import internal_origins, internal_threads

HEADS = ("ticket_created", "pull_request_opened")  # where a thread's title comes from


def ml_history(store: Store, config: Config, view: View, end: datetime | None = None) -> pd.DataFrame:
    """Every run and model event before ``end`` with the commits their tags may name, in timeline order.

    What :func:`~glassbox.metrics.linking.runs_frame` reads: the runs and, to resolve a run's
    (possibly short) commit tag to one SHA and that commit's tickets, every commit whose SHA begins
    with a tag — all of them, so an ambiguous prefix stays ambiguous. Model versions and alias moves
    name runs, never commits. Run bodies (their notes) are attached.
    """
    categories = (*RUN_CATEGORIES, *MODEL_CATEGORIES)
    runs = load_timeline(store, config, end=end, view=view, categories=categories)
    return with_run_notes(_with_named_commits(store, config, view, runs, end), store, end)


def model_history(store: Store, config: Config, view: View, end: datetime | None = None) -> pd.DataFrame:
    """Every model version and alias move before ``end``: what the model figures read besides the runs
    (:func:`glassbox.metrics.models.models_summary`); a few events, whatever the number of runs."""
    return load_timeline(store, config, end=end, view=view, categories=MODEL_CATEGORIES)


def run_history(store: Store, config: Config, view: View, ids: Sequence[str]) -> pd.DataFrame:
    """The run events among ``ids`` with the commits their tags may name and their notes: what
    :func:`ml_history` holds of those runs (the read model re-deriving the runs a write touched)."""
    runs = load_timeline(store, config, view=view, categories=RUN_CATEGORIES, ids=ids)
    return with_notes_of_its_runs(_with_named_commits(store, config, view, runs, None), store)


def _with_named_commits(store: Store, config: Config, view: View, runs: pd.DataFrame,
                        end: datetime | None) -> pd.DataFrame:
    """``runs`` and every commit (before ``end``) whose SHA begins with one of their tags, in timeline order."""
    tags = {value for refs, kinds in zip(runs["refs"], runs["ref_kinds"], strict=True)
            for value, kind in zip(refs, kinds, strict=True) if kind == "commit"}
    tags = {tag.lower() for tag in tags if is_sha(tag)}
    shas = store.commit_refs_starting(tags)  # a commit's id is its SHA's: looked up by key, not by its refs
    ids = sorted({commit_event_id(sha) for sha in shas})
    commits = load_timeline(store, config, end=end, view=view, categories=("commit",), ids=ids)
    frame = pd.concat([frame for frame in (runs, commits) if len(frame)] or [runs], ignore_index=True)
    return frame.sort_values(["occurred_at", "id"], kind="stable").reset_index(drop=True)


def with_run_notes(events: pd.DataFrame, store: Store, end: datetime | None) -> pd.DataFrame:
    """``events`` with a ``body`` column holding each run's MLflow note (the timeline leaves bodies out;
    only the runs that have one are read)."""
    bodies = store.bodies(RUN_CATEGORIES, end)
    return events.assign(body=events["id"].map(bodies)) if bodies else events


def with_notes_of_its_runs(events: pd.DataFrame, store: Store) -> pd.DataFrame:
    """``events`` with a ``body`` column holding the MLflow note of each of its runs, read by id: a few
    events' notes, where :func:`with_run_notes` reads every run's up to a moment."""
    runs = events.loc[events["category"].isin(RUN_CATEGORIES), "id"]
    bodies = store.bodies(RUN_CATEGORIES, ids=sorted(runs))
    return events.assign(body=events["id"].map(bodies)) if bodies else events


def _events_on(store: Store, config: Config, view: View, threads: Iterable[str],
               categories: Iterable[str] | None = None, end: datetime | None = None) -> pd.DataFrame:
    """Events of ``view`` on ``threads`` (of ``categories``, before ``end``), in timeline order."""
    wanted = set(threads)
    if not wanted:
        return load_timeline(store, config, view=view, ids=[])
    ids = sorted(store.event_ids_on(wanted, categories))
    frame = load_timeline(store, config, end=end, view=view, categories=categories, ids=ids)
    return frame.loc[frame["thread"].isin(wanted)].reset_index(drop=True)


def titles_of(store: Store, config: Config, view: View, threads: Iterable[str],
              end: datetime | None = None) -> dict[str, str]:
    """What each of ``threads`` (tickets, pull requests) is called in ``view``: its opening event's title
    (of those opened before ``end``)."""
    heads = _events_on(store, config, view, threads, HEADS, end)
    return dict(zip(heads["thread"], heads["title"], strict=True))


def tickets_among(store: Store, config: Config, view: View, values: Iterable[str]) -> set[str]:
    """Those of ``values`` that are tickets with a story in ``view`` (:func:`story_tickets`), asked of a few."""
    wanted = set(values)
    return set(_story_tickets(store, config, view, wanted)) if wanted else set()


def story_tickets(store: Store, config: Config, view: View) -> list[str]:
    """Every ticket ``view`` may see, sorted: each Jira ticket, and each key an event refers to.

    Read as distinct keys (:meth:`Store.ticket_keys_named`), never as events. With Jira configured
    only keys of its projects count (:func:`glassbox.timeline.load_timeline`'s rule). The client view
    drops internal tickets, and keys named only by events of internal sources; a key named only on
    an internal ticket's own thread (a comment there) is listed, though its story may be empty.
    """
    return _story_tickets(store, config, view, None)


def period_tickets(store: Store, config: Config, view: View, start: datetime, end: datetime) -> list[str]:
    """The tickets of ``[start, end)``, sorted: each Jira ticket with an event in it, and each key an event
    in it refers to, under :func:`story_tickets`'s rules (what the Timeline's ticket picker offers).
    Read as distinct keys and threads of the period, never as its events."""
    return visible_tickets(store, config, view, period_ticket_candidates(store, config, view, start, end))


class TicketCandidates(NamedTuple):
    """What the events of a period say of its tickets, before the rules that depend on the whole store
    (:func:`visible_tickets`): its Jira tickets (thread → origin) and the keys its events name, from
    outside the view's internal sources. Two periods' candidates join (:meth:`joined`), so the days
    before today can be read once and today's again after each sync."""

    created: dict[str, str]
    named: frozenset[str]

    def joined(self, other: TicketCandidates) -> TicketCandidates:
        return TicketCandidates({**self.created, **other.created}, self.named | other.named)


NO_CANDIDATES = TicketCandidates({}, frozenset())


def period_ticket_candidates(store: Store, config: Config, view: View, start: datetime,
                             end: datetime) -> TicketCandidates:
    """The :class:`TicketCandidates` of ``[start, end)``: they depend on that period's events only."""
    return _candidates(store, config, view, None, (start, end))


def visible_tickets(store: Store, config: Config, view: View, candidates: TicketCandidates) -> list[str]:
    """The tickets of ``candidates``, sorted, under the store's rules as they stand: with Jira configured
    a named key counts only in one of its projects, and the client view drops internal threads."""
    created, named = candidates.created, set(candidates.named)
    if config.jira:
        projects = jira_projects(store)
        named = {value for value in named if ticket_project(value) in projects}
    if view is not View.TEAM:  # fail closed, as the timeline
        hidden, origins = internal_threads(store, config), internal_origins(config)
        created = {thread: origin for thread, origin in created.items()
                   if thread not in hidden and origin not in origins}
        named -= hidden
    return sorted(set(created) | named)


def _candidates(store: Store, config: Config, view: View, among: set[str] | None,
                between: tuple[datetime, datetime] | None = None) -> TicketCandidates:
    origins = internal_origins(config) if view is not View.TEAM else frozenset()
    created = store.threads_of("ticket_created", among) if between is None else store.threads_between("jira", *between)
    named = store.ticket_keys_named(among, except_origins=origins, between=between)  # one read, in either view
    return TicketCandidates(created, frozenset(named))


def _story_tickets(store: Store, config: Config, view: View, among: set[str] | None) -> list[str]:
    return visible_tickets(store, config, view, _candidates(store, config, view, among))


def status_history(store: Store, config: Config, view: View, tickets: Iterable[str],
                   end: datetime | None = None) -> pd.DataFrame:
    """Every creation and status change of ``tickets`` (before ``end``): what
    :func:`~glassbox.metrics.agreements.ticket_pause_intervals` reads of them."""
    return _events_on(store, config, view, tickets, TICKET_STATUS_EVENTS, end)


def ticket_neighbourhood(store: Store, config: Config, view: View, key: str,
                         runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every event the story of ticket ``key`` reads (:func:`glassbox.metrics.story.ticket_story`).

    The ticket's own events and every event naming it; the pull requests among those, whole (their
    reviews and comments), and the commits they or the ticket's events name, with every event
    naming those commits (a PR lists its commits by SHA, a run by a short tag: hence the prefixes);
    and ``runs``, the view's :func:`ml_history` (a run's result is judged against the runs before it,
    on any ticket), which the caller has already read. Without ``runs``, the runs among those events
    with the commits their tags may name, their notes and the model events: enough to tell which
    runs serve the ticket, when the read model judges them (:func:`glassbox.readmodel.kpis.judged_runs`).
    """
    first = store.event_ids_near({key}, {key})
    near = load_timeline(store, config, view=view, ids=sorted(first))
    pulls = set(near.loc[near["category"].str.startswith("pull_request") | (near["category"] == "review"), "thread"])
    shas = {value.lower() for refs, kinds in zip(near["refs"], near["ref_kinds"], strict=True)
            for value, kind in zip(refs, kinds, strict=True) if kind == "commit"}
    shas |= {sha for sha in _commit_shas(near) if sha}
    second = store.event_ids_near(pulls, shas | store.short_commit_tags_of(shas)) - first
    more = load_timeline(store, config, view=view, ids=sorted(second))
    frame = pd.concat([frame for frame in (near, more) if len(frame)] or [near], ignore_index=True)
    if runs is None:
        own = _with_named_commits(store, config, view, frame.loc[frame["category"].isin(RUN_CATEGORIES)], None)
        runs = with_notes_of_its_runs(pd.concat([own, model_history(store, config, view)], ignore_index=True), store)
        runs = runs.drop_duplicates("id")
    frame = pd.concat([frame.loc[~frame["id"].isin(runs["id"])], runs], ignore_index=True)
    return frame.sort_values(["occurred_at", "id"], kind="stable").reset_index(drop=True)


def _commit_shas(events: pd.DataFrame) -> list[str | None]:
    """The SHA each commit among ``events`` records about itself."""
    commits = events.loc[events["category"] == "commit", "attrs"]
    return [str(attrs.get("sha")).lower() if isinstance(attrs, dict) and attrs.get("sha") else None
            for attrs in commits]
