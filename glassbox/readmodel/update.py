"""Keeping the read model current: the full rebuild, and the incremental update inside each write.

A write (a sync batch, a deletion) touches a few events. Their threads (before and after the
write: an event may stop naming a ticket) and the tickets and commits their refs name are the only
threads whose waits can change, so :func:`update` re-derives just those: it reads the events near
them (on those threads, or naming them), runs the metric functions over that neighbourhood in both
views, and replaces those threads' rows — in the write's own transaction, so the events and the
rows change together on SQLite and PostgreSQL alike.

Why the neighbourhood is enough: every wait lives on one thread (a ticket, a pull request, or a
commit's SHA for ``commit_to_run``) and is decided by the events on it and the events whose refs
name it. Commit SHAs need a closure: a run's tag may be a short prefix, and whether it names one
commit depends on every commit it could begin, so the neighbourhood holds all of those. What the
rows depend on beyond the events — the config and the store's Jira projects (which keys count as
tickets) — is fingerprinted; when it differs, the next write rebuilds everything instead.

The dashboard never writes, so it never rebuilds: it reads the rows as the last sync left them and,
while they are stale (a config edited since), measures from the events as before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import partial

from sqlalchemy import delete, insert
from sqlalchemy import update as sql_update

from glassbox import schema
from glassbox.config import Config
from glassbox.events import is_sha
from glassbox.metrics.linking import RUN_CATEGORIES
from glassbox.readmodel.derive import config_fingerprint, projects_fingerprint, wait_rows
from glassbox.readmodel.query import counted_projects, is_current, meta_key, stored_fingerprint
from glassbox.store import Store, WriteCounts
from glassbox.timeline import load_timeline
from glassbox.views import View

log = logging.getLogger(__name__)

_CLOSURE_ROUNDS = 8  # short-SHA closure rounds; each adds only commits sharing a prefix with the last
_MIN_SHA = 7
_LABELLED = frozenset({"ticket_created", "pull_request_opened"})  # where labels make a thread internal
_THREADLESS = frozenset({"commit", *RUN_CATEGORIES})  # their thread (a repo, an experiment) holds no wait
_INSERT_CHUNK = 2000
# A write whose neighbourhood is larger than this (a first sync's batches, whose tickets are being
# filled in) marks the rows stale instead: re-deriving that much per batch would cost more than one
# rebuild when the sync ends (sync_sources calls ensure_current), and readers fall back meanwhile.
BULK_EVENTS = 20_000


def attach(store: Store, config: Config) -> None:
    """Keep the read model current on every :meth:`Store.write` of ``store`` (the sync's)."""
    store.write_hook = partial(_write_keeping_current, config=config)


def _write_keeping_current(store: Store, ids: list[str], write: Callable[[], WriteCounts], *,
                           config: Config) -> WriteCounts:
    before = store.event_keys(ids)
    counts = write()
    if counts.new + counts.updated + counts.deleted:
        after = store.event_keys(ids)
        update(store, config, before[0] | after[0], before[1] | after[1])
    return counts


def ensure_current(store: Store, config: Config) -> bool:
    """Rebuild the rows when they were derived with another config (or never); True if it rebuilt."""
    if is_current(store, config):
        return False
    rebuild(store, config)
    return True


def rebuild(store: Store, config: Config) -> int:
    """Derive every row again from all the events, in one transaction; returns how many waits."""
    with store.transaction() as conn:
        bound = store.bound_to(conn)
        rows = _rows_of_both_views(bound, config, None, None)
        conn.execute(delete(schema.rm_waits).where(schema.rm_waits.c.engagement == store.engagement))
        _insert(conn, rows)
        _save_fingerprint(bound, config)
    log.info("read model rebuilt: %d waits", len(rows))
    return len(rows)


def update(store: Store, config: Config, threads: set[tuple[str, str]], values: set[str]) -> None:
    """Re-derive the waits that events of ``threads`` (``(thread, category)`` pairs) naming ``values`` may change.

    ``store`` is bound to the write's transaction. A changed config, or a new (or vanished) Jira
    project, rebuilds instead: either changes rows far from the touched threads.
    """
    categories = {category for _, category in threads}
    stored = stored_fingerprint(store)
    if not stored:  # stale since an earlier large write: the sync's end rebuilds
        return
    projects_may_change = "ticket_created" in categories and bool(config.jira)
    if stored.get("config") != config_fingerprint(config) or (
            projects_may_change and stored.get("projects") != projects_fingerprint(counted_projects(store, config))):
        rebuild(store, config)
        return
    touched = _waiting_threads(threads) | values
    if categories & _LABELLED:  # a thread turning internal hides every event naming it from clients
        touched |= _keys_of(store, store.event_ids_near((), {thread for thread, _ in threads}))
    touched |= _sha_closure(store, {value for value in touched if is_sha(value)})
    near = store.event_ids_near(touched, touched | _prefixes(touched))
    if len(near) > BULK_EVENTS:
        mark_stale(store)
        return
    with store.transaction() as conn:
        table = schema.rm_waits
        mine = table.c.engagement == store.engagement
        ordered = sorted(touched)
        for index in range(0, len(ordered), 500):
            conn.execute(delete(table).where(mine, table.c.thread.in_(ordered[index:index + 500])))
        _insert(conn, _rows_of_both_views(store, config, sorted(near), touched))


def _rows_of_both_views(store: Store, config: Config, ids: list[str] | None,
                        threads: set[str] | None) -> list[dict]:
    """The rows of both views from the events ``ids`` (all when None), those on ``threads`` (all when None).

    The client view is the team's minus what it hides; when it hides nothing here (most batches),
    its rows are the team's, so they are measured once.
    """
    team = load_timeline(store, config, view=View.TEAM, ids=ids)
    client = load_timeline(store, config, view=View.CLIENT, ids=ids)
    rows = wait_rows(team, config, store.engagement, View.TEAM, threads)
    if len(client) == len(team) and client["refs"].map(len).sum() == team["refs"].map(len).sum():
        return [*rows, *({**row, "view": View.CLIENT.value} for row in rows)]
    return [*rows, *wait_rows(client, config, store.engagement, View.CLIENT, threads)]


def _waiting_threads(threads: set[tuple[str, str]]) -> set[str]:
    """The threads that may hold waits: not a commit's repository or a run's experiment (thousands of
    events each, none of them a wait's thread; what they name is in their refs)."""
    return {thread for thread, category in threads if category not in _THREADLESS}


def _keys_of(store: Store, ids: set[str]) -> set[str]:
    """The waiting threads and ref values of the events ``ids``."""
    threads, values = store.event_keys(sorted(ids))
    return _waiting_threads(threads) | values


def _prefixes(values: set[str]) -> set[str]:
    """Every short form (7+ digits) of the SHAs among ``values``: the tags a run may give them."""
    return {sha[:length] for sha in values if is_sha(sha) for length in range(_MIN_SHA, len(sha))}


def _sha_closure(store: Store, shas: set[str]) -> set[str]:
    """The commit SHAs whose ``commit_to_run`` may change with ``shas``: each SHA, every commit a
    short tag among them may begin, and again for the runs naming those (until nothing is added)."""
    known: set[str] = set()
    frontier = set(shas)
    for _ in range(_CLOSURE_ROUNDS):
        found = store.commit_refs_starting(frontier) | frontier
        runs = store.event_ids_near((), _prefixes(found) | found)
        found |= {value for value in _keys_of(store, runs) if is_sha(value)}
        frontier = found - known
        known |= found
        if not frontier:
            break
    return known


def _insert(conn: object, rows: list[dict]) -> None:
    for index in range(0, len(rows), _INSERT_CHUNK):
        conn.execute(insert(schema.rm_waits), rows[index:index + _INSERT_CHUNK])  # type: ignore[attr-defined]


def mark_stale(store: Store) -> None:
    """Forget the fingerprint (in the caller's transaction): the next sync or ``rebuild`` derives all."""
    with store.transaction() as conn:
        conn.execute(delete(schema.meta).where(schema.meta.c.key == meta_key(store)))


def _save_fingerprint(store: Store, config: Config) -> None:
    value = json.dumps({"config": config_fingerprint(config),
                        "projects": projects_fingerprint(counted_projects(store, config))})
    with store.transaction() as conn:
        table = schema.meta
        if conn.execute(sql_update(table).where(table.c.key == meta_key(store)).values(value=value)).rowcount == 0:
            conn.execute(insert(table).values(key=meta_key(store), value=value))
