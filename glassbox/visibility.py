"""The client view: what a client may see of their own engagement (SPEC §5, last paragraph).

Hidden from clients: every event on a thread (ticket or pull request) that carries one of the
engagement's ``internal_labels`` or belongs to an ``internal_projects`` Jira project, every event that
references such a ticket (a commit message naming it would reveal it), and everything from a source
marked ``internal = true``. Reports and dashboard pages filter through :func:`client_view` before
counting, so hidden items vanish from the counts too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from glassbox.config import Config
from glassbox.events import LABELLED_CATEGORIES
from glassbox.metrics.linking import ticket_project
from glassbox.sources import configured_sources
from glassbox.store import Store
from glassbox.views import View


@dataclass(frozen=True)
class ThreadRule:
    """What makes a thread internal under a config: an opening event (a ticket's or pull request's)
    with one of its ``labels`` (lower case), or a Jira ticket of one of its ``projects`` (upper case)."""

    labels: frozenset[str]
    projects: frozenset[str]

    @classmethod
    def of(cls, config: Config) -> ThreadRule:
        return cls(config.internal_labels(),
                   frozenset(p.upper() for section in config.jira for p in section.internal_projects))

    def hides(self, source: str, thread: str, labels: Iterable[str]) -> bool:
        """Whether an opening event of ``thread`` from ``source`` with ``labels`` makes the thread internal."""
        return any(label.lower() in self.labels for label in labels) or (
            source == "jira" and ticket_project(thread).upper() in self.projects)


def internal_threads(store: Store, config: Config) -> frozenset[str]:
    """Ticket keys and PR threads the client must not see, judged by their current labels."""
    rule = ThreadRule.of(config)
    frame = store.heads_maybe_internal(LABELLED_CATEGORIES, rule.projects)
    return frozenset(thread for thread, labels, source in frame.itertuples(index=False)
                     if rule.hides(source, thread, labels or ()))


def hides_anything(config: Config) -> bool:
    """Whether the client view can hide anything: internal labels, projects or sources configured."""
    return bool(config.internal_labels()) or any(section.internal_projects for section in config.jira) \
        or bool(internal_origins(config))


def internal_origins(config: Config) -> frozenset[str]:
    """Origins of every source marked ``internal = true`` in the config."""
    return frozenset(
        spec.section.origin(config.folder)
        for spec in configured_sources(config)
        if getattr(spec.section, "internal", False)
    )


def sources_for_view(sources: pd.DataFrame, config: Config, view: View | str) -> pd.DataFrame:
    """The source rows (with an ``origin`` column) ``view`` may see: a client never sees an internal one.

    An internal source's name, and its sync failures, would reveal it; any view but ``team`` is
    filtered (fail closed).
    """
    if view == View.TEAM:  # a View or its text; anything else is filtered
        return sources
    return sources.loc[~sources["origin"].isin(internal_origins(config))]


def client_view(
    events: pd.DataFrame, refs: pd.DataFrame, store: Store, config: Config
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``events`` and their ``refs`` (``event_id, kind, value``) without anything internal.

    A commit, PR or run that mentions an internal ticket is hidden whole (its title would reveal
    the ticket); a public ticket that merely links to an internal one stays, minus that link.
    """
    if events.empty:
        return events, refs
    threads = internal_threads(store, config)
    origins = internal_origins(config)
    internal_labels = config.internal_labels()
    hidden = events["thread"].isin(threads) | events["origin"].isin(origins)
    if "labels" in events:
        hidden |= events["labels"].map(lambda labels: any(label.lower() in internal_labels for label in labels or ()))
    internal_refs = (refs["kind"] == "ticket") & refs["value"].isin(threads) if not refs.empty else None
    if internal_refs is not None and threads:
        revealing = set(refs.loc[internal_refs, "event_id"])
        hidden |= events["id"].isin(revealing) & (events["source"] != "jira")
        refs = refs.loc[~internal_refs]
    return events.loc[~hidden], refs
