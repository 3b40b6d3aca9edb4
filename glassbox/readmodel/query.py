"""Reading the read model: a period's waits for reports and pages, and whether the rows are current."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import select

from glassbox import schema
from glassbox.config import Config
from glassbox.metrics.latency import LATENCIES, SAMPLE_COLUMNS
from glassbox.readmodel.derive import config_fingerprint, projects_fingerprint
from glassbox.store import Store, off_index
from glassbox.timeline import jira_projects
from glassbox.views import View

_TIMES = ("started_at", "ended_at", "abandoned_at")
# Latencies whose waits exist only once they end: a commit is a commit_to_run wait only when some run
# names it (commits never run are not waits), so before that run it was no wait at all, not an open one.
ONLY_ONCE_ENDED = frozenset({"commit_to_run"})
_IN_CHUNK = 500


def meta_key(store: Store) -> str:
    """Where the fingerprint of the engagement's rows is kept in ``meta``."""
    return f"readmodel:{store.engagement}"[:64]


def stored_fingerprint(store: Store) -> dict[str, str]:
    """``{"config": …, "projects": …}`` the rows were derived with; empty before the first rebuild."""
    with store.transaction() as conn:
        value = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == meta_key(store))).scalar()
    return json.loads(value) if value else {}


def is_current(store: Store, config: Config) -> bool:
    """Whether the rows were derived with this config and the store's Jira projects (else rebuild)."""
    stored = stored_fingerprint(store)
    return (stored.get("config") == config_fingerprint(config)
            and stored.get("projects") == projects_fingerprint(counted_projects(store, config)))


def counted_projects(store: Store, config: Config) -> frozenset[str]:
    """The Jira projects whose keys count as tickets: only with Jira sources configured (``load_timeline``)."""
    return jira_projects(store) if config.jira else frozenset()


def samples(store: Store, view: View, since: datetime | None = None, until: datetime | None = None,
            threads: Iterable[str] | None = None, latencies: Sequence[str] = LATENCIES) -> dict[str, pd.DataFrame]:
    """Each latency's samples (of ``latencies``) that matter to periods within ``[since, until)``, as
    the metric functions give them (:data:`glassbox.metrics.latency.SAMPLE_COLUMNS`, in their order).

    That is every wait started before ``until`` that ended or was abandoned at ``since`` or later, or
    is still open — never the whole history: :func:`glassbox.metrics.latency.summarize` and
    :func:`~glassbox.metrics.latency.open_waits` give the same figures for any period in the window.
    A wait ending at or after ``until`` reads as open (as it was at ``until``). Without bounds, all.
    ``threads`` keeps only the waits on those threads (one ticket's story).
    """
    table = schema.rm_waits
    query = select(table.c.latency, *(table.c[name] for name in SAMPLE_COLUMNS)).where(
        table.c.engagement == store.engagement, table.c.view == View(view).value)
    if tuple(latencies) != LATENCIES:
        query = query.where(table.c.latency.in_(list(latencies)))
    if until is not None:  # in UTC: SQLite compares the stored text, which is UTC; off its index when the
        # window's ends serve (SQLite chose the starts and read every wait started before ``until``)
        started = table.c.started_at if since is None else off_index(table.c.started_at, store.dialect)
        query = query.where(started < until.astimezone(UTC))
    queries = [query]
    if since is not None:  # three index ranges of ix_rm_waits_ended: an OR would scan every row of the view,
        # and the waits never ended but abandoned long ago (PRs closed unreviewed: thousands) would be read
        since = since.astimezone(UTC)
        queries = [query.where(table.c.ended_at >= since),
                   query.where(table.c.ended_at.is_(None), table.c.abandoned_at.is_(None)),
                   query.where(table.c.ended_at.is_(None), table.c.abandoned_at >= since)]
    if threads is not None:
        wanted = sorted(set(threads))
        queries = [part.where(table.c.thread.in_(wanted[index:index + _IN_CHUNK]))
                   for part in queries for index in range(0, len(wanted), _IN_CHUNK)]
    with store.transaction() as conn:  # the driver's tuples: times are parsed below, in bulk
        rows = [row for part in queries for row in conn.execute(part).cursor.fetchall()]
    frame = pd.DataFrame(rows, columns=["latency", *SAMPLE_COLUMNS], dtype=object)
    for name in _TIMES:
        frame[name] = pd.to_datetime(frame[name], utc=True)
    if until is not None:  # as it was at ``until``: what happened later is not known yet
        limit = pd.Timestamp(until)
        unknown = frame["latency"].isin(ONLY_ONCE_ENDED) & ~(frame["ended_at"] < limit)
        frame = frame.loc[~unknown]
        frame["ended_at"] = frame["ended_at"].where(frame["ended_at"] < limit)
        frame["abandoned_at"] = frame["abandoned_at"].where(frame["abandoned_at"] < limit)
    frame["thread"] = frame["thread"].astype(object)
    for name in ("hours", "working_hours"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
        if until is not None:  # a wait ending later was not measured yet
            frame[name] = frame[name].where(frame["ended_at"].notna())
    frame = frame.sort_values(["started_at", "thread"], kind="stable")
    found = {str(latency): rows for latency, rows in frame.groupby("latency", sort=False)}
    none = frame.iloc[:0]
    return {latency: found.get(latency, none).loc[:, list(SAMPLE_COLUMNS)].reset_index(drop=True)
            for latency in latencies}
