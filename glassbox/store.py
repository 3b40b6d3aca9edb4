"""Where events, their references and the sync cursors live: SQLite by default, PostgreSQL for teams.

Writes go through :meth:`Store.write`, one transaction per batch that upserts events by id and moves
the cursor the batch covers, so a re-sync adds nothing and an interrupted one resumes where the last
committed batch ended (dlt's incremental-loading model). Reads return pandas frames for the metrics.

Source text is hostile: the write path drops NUL characters from every text and JSON value, which
PostgreSQL refuses (one NUL in a run note would otherwise fail that source's every sync), so both
stores hold the same. A database error becomes a one-line :class:`StoreError` naming the store and
what failed: the driver's message carries the SQL and the row's data, which a user must not see.

A :class:`Store` is scoped to one engagement (SPEC §6): every read and write it makes filters on,
or fills in, its ``engagement``, so code that reads through it needs no idea of workspaces. Two
engagements sharing a repository each keep their own copy of its events, refs and cursors.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Text,
    bindparam,
    cast,
    create_engine,
    delete,
    event,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.types import JSON
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_random

from glassbox import migrations, schema
from glassbox.errors import ConfigError, StoreError, StoreUnavailable
from glassbox.events import FULL_SHA, LABELLED_CATEGORIES, Event, Tombstone
from glassbox.notes import WeekNote
from glassbox.views import View

log = logging.getLogger(__name__)

_IN_CHUNK = 500  # ids per IN (...) clause; well under SQLite's bound-parameter limit
EVENT_COLUMNS = tuple(column.name for column in schema.events.columns)
_JSON_COLUMNS = frozenset(c.name for c in schema.events.columns if isinstance(c.type, JSON))
_HASHED_COLUMNS = tuple(c for c in EVENT_COLUMNS if c not in {"engagement", "content_hash", "synced_at"})
_MERGE_KEEPS_OLD = ("source", "origin", "thread", "title", "body", "raw", "occurred_at", "labels")
_DATETIME_COLUMNS = frozenset(c.name for c in schema.events.columns if isinstance(c.type, DateTime))
LIGHT_COLUMNS = tuple(c for c in EVENT_COLUMNS if c not in {"engagement", "raw", "body", "content_hash", "synced_at"})
DEFAULT_ENGAGEMENT = "default"


@dataclass
class WriteCounts:
    """What one :meth:`Store.write` changed."""

    new: int = 0
    updated: int = 0
    deleted: int = 0

    def add(self, other: WriteCounts) -> None:
        self.new += other.new
        self.updated += other.updated
        self.deleted += other.deleted


@dataclass(frozen=True)
class CursorKey:
    """Identifies one cursor: a source, its origin, and the connector's category."""

    source: str
    origin: str
    category: str


SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets its folder created, WAL mode and a busy timeout.

    A URL for another database, or for a driver that is not installed, is a config error: SQLAlchemy
    would otherwise fail later with a plugin or import traceback.
    """
    try:
        parsed = make_url(url)
    except Exception:
        raise ConfigError(f"store url {url!r} is not a database URL (e.g. sqlite:///data/glassbox.db)") from None
    where = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise ConfigError(f"store {where}: unsupported database — use sqlite:///PATH or postgresql+psycopg://…"
                          " in [store] url or $GLASSBOX_DB_URL")
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(url, where, parsed.database)
        return create_engine(url, pool_pre_ping=True)
    except ImportError as exc:  # SQLAlchemy's NoSuchModuleError is an ImportError too
        raise ConfigError(f"store {where}: its database driver is not installed ({exc}) —"
                          " use postgresql+psycopg://… (psycopg is installed with Glassbox)") from None


def _sqlite_engine(url: str, where: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        folder = Path(database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"store {where}: cannot create the folder {folder} ({exc.strerror}) —"
                                   " choose a writable path in [store] url or $GLASSBOX_DB_URL") from None
    engine = create_engine(url, connect_args={"timeout": 30})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the dashboard read while a sync writes; NORMAL sync is safe under WAL."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@retry(retry=retry_if_exception_type(sqlite3.OperationalError), wait=wait_random(0.02, 0.2),
       stop=stop_after_delay(30), reraise=True)
def _switch_to_wal(cursor: Any) -> None:
    """Switching a new file to WAL needs it to itself, and SQLite answers "locked" at once rather than
    waiting when processes open a new store together; so retry briefly. WAL then stays on the file."""
    cursor.execute("PRAGMA journal_mode=WAL")


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes; PostgreSQL aware ones."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _without_nul(value: Any) -> Any:
    """``value`` with NUL removed from every string in it, keys included (PostgreSQL text refuses NUL)."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(item) for item in value]
    return value


def _row(item: Event) -> dict[str, Any]:
    return {
        "id": item.id,
        "source": item.source,
        "sources": [item.source],
        "origin": item.origin,
        "category": item.category,
        "occurred_at": item.occurred_at,
        "actor": item.actor,
        "actor_ids": list(item.actor_ids),
        "thread": item.thread,
        "title": item.title,
        "body": item.body,
        "url": item.url,
        "labels": list(item.labels),
        "attrs": item.attrs,
        "raw": item.raw,
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str)


def _db_params(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The row as bound parameters: JSON serialized once, for both the hash and the column, NUL dropped.

    ``json.dumps`` writes NUL as ``\\u0000``; only a value whose text shows one is walked and written again.
    """
    params = {name: _without_nul(value) if isinstance(value, str) else value for name, value in row.items()}
    for name in _JSON_COLUMNS:
        text = _dumps(row[name])
        params[name] = _dumps(_without_nul(row[name])) if "\\u0000" in text else text
    hashed = "\x1f".join(str(params[name]) for name in _HASHED_COLUMNS)
    params["content_hash"] = hashlib.sha1(hashed.encode()).hexdigest()
    params["synced_at"] = now
    return params


# The client view's start: a write that may change which threads are internal changes all of it.
_EVERYTHING = datetime(1970, 1, 1, tzinfo=UTC)


# Whether an opening event (source, thread, labels) makes its thread internal under the config
# (glassbox.visibility.ThreadRule.hides): given to the store by whoever writes with the config.
HidesThread = Callable[[str, str, Sequence[str]], bool]


def _may_hide(row: dict[str, Any], hides: HidesThread | None) -> bool:
    """Whether ``row`` (an event written or deleted) can decide that its thread is internal — every
    event on or naming the thread, of any date, then shows or hides in the client view: a ticket or
    pull request's opening event that ``hides`` it; without the config's rule, any such event with
    labels (which labels count is the config's) or any Jira ticket (its project may be internal)."""
    if row["category"] not in LABELLED_CATEGORIES:
        return False
    if hides is None:
        return bool(row.get("labels")) or row["source"] == "jira"
    return hides(row["source"], row["thread"], row.get("labels") or ())


class _Changed:
    """The earliest moment a write changed in each view: the times of every event it inserted,
    updated (before and after), re-referenced or deleted; ``hides``, the config's rule of what makes a
    thread internal, when the writer knows it (:attr:`Store.hides_thread`)."""

    def __init__(self, hides: HidesThread | None) -> None:
        self.team: datetime | None = None
        self.client: datetime | None = None
        self._hides = hides

    def add(self, row: dict[str, Any], old: dict[str, Any] | None = None) -> None:
        """``row`` inserted or deleted, or (with ``old``, as it was) updated."""
        moments = [_aware(row["occurred_at"]), *([old["occurred_at"]] if old is not None else [])]
        self.team = min([*moments, *([self.team] if self.team else [])])
        if old is None:
            hides = _may_hide(row, self._hides)
        else:  # an edit hides or shows its thread only by its labels or its thread (a ticket moved)
            relabelled = row["labels"] != old["labels"] or row["thread"] != old["thread"]
            hides = relabelled and (_may_hide(row, self._hides) or _may_hide(old, self._hides))
        self.client = _EVERYTHING if hides else min(self.team, self.client or self.team)

    def earliest_marks(self) -> dict[View, datetime]:
        """Per view, the start of the UTC quarter-hour of its earliest change; empty when nothing changed.

        Every zone's midnight starts a UTC quarter-hour (offsets are whole quarters: +5:30, +5:45), so a
        change counts for a week exactly when it is before the week's end. Marked by the UTC day, a sync
        of Monday's events changed the week that ended at 05:00 UTC (midnight in New York), and the
        Weekly report page built its report again after every sync of the day it is read most."""
        moments = {View.TEAM: self.team, View.CLIENT: self.client}
        return {view: moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)
                for view, moment in moments.items() if moment is not None}


def _merge_commit(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """One commit seen by two sources: keep both sources and the richest value of each field.

    The first-stored row wins every field both sources fill (commits are immutable), except the actor,
    where GitHub's login beats a git e-mail; so re-sending either source's copy changes nothing.
    """
    merged = {**new, **{name: old[name] for name in _MERGE_KEEPS_OLD}}
    merged["sources"] = sorted(set(old["sources"]) | set(new["sources"]))
    merged["attrs"] = {**new["attrs"], **old["attrs"]}
    merged["actor_ids"] = list(dict.fromkeys([*old["actor_ids"], *new["actor_ids"]]))
    merged["url"] = old["url"] or new["url"]
    merged["actor"] = new["actor"] if new["source"] == "github" else old["actor"] or new["actor"]
    return merged


def _json_as_text(dialect: str) -> dict[str, Any]:
    """JSON columns bound as text, serialized once by :func:`_db_params` rather than again by the type.

    PostgreSQL's json columns need the text cast back; SQLite stores JSON as text already.
    """
    if dialect == "postgresql":
        return {name: cast(bindparam(name, type_=Text), schema.events.c[name].type) for name in _JSON_COLUMNS}
    return {name: bindparam(name, type_=Text) for name in _JSON_COLUMNS}


WriteHook = Callable[["Store", list[str], Callable[[], WriteCounts]], WriteCounts]


class Store:
    """One engagement's part of the store behind one engine. Create with :func:`open_store`.

    ``engagement`` scopes every row this store reads and writes: events, refs, cursors, sync runs and
    the derived rows (:mod:`glassbox.readmodel`).
    ``write_hook`` (set by :func:`glassbox.readmodel.attach`) wraps every :meth:`write` inside its
    transaction, so the read model changes with the events or not at all.
    """

    def __init__(self, engine: Engine, *, engagement: str = DEFAULT_ENGAGEMENT) -> None:
        self.engine = engine
        self.engagement = engagement
        self.write_hook: WriteHook | None = None
        # set with the write hook (glassbox.readmodel.attach): which new tickets and PRs are internal
        # under the config, so a new one that is not leaves the client's earlier days as they were
        self.hides_thread: HidesThread | None = None
        self._bound: Connection | None = None
        self._json_params = _json_as_text(engine.dialect.name)
        self._jira_tickets: tuple[int, frozenset[str]] | None = None  # (last_change, keys): jira_tickets

    def scoped(self, engagement: str) -> Store:
        """The same store (and engine) seen as ``engagement``: a workspace opens its store once."""
        return Store(self.engine, engagement=engagement)

    def _mine(self, table: Any) -> Any:
        """The condition that keeps a query to this store's engagement."""
        return table.c.engagement == self.engagement

    def bound_to(self, conn: Connection) -> Store:
        """This store reading through ``conn``: inside a write's transaction, its uncommitted rows included."""
        bound = Store(self.engine, engagement=self.engagement)
        bound._bound = conn
        return bound

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The write's transaction this store is bound to, else a new one (committed when the block ends)."""
        if self._bound is not None:
            yield self._bound
        else:
            with self.engine.begin() as conn:
                yield conn

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        if self._bound is not None:
            yield self._bound
        else:
            with self.engine.connect() as conn:
                yield conn

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def name(self) -> str:
        """The store's URL as a message may show it: the password masked."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """A database failure during ``what`` as one :class:`StoreError` line, without SQL or parameters."""
        try:
            yield
        except SQLAlchemyError as exc:
            log.debug("store failure while %s", what, exc_info=True)
            cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
            if isinstance(exc, OperationalError | InterfaceError):
                advice = "check that the database is running and reachable, then sync again"
            else:
                advice = "the database refused the data; please report this"
            raise StoreError(f"store ({self.name}): {what} failed ({type(cause).__name__}) — {advice}") from None

    # -- writing -----------------------------------------------------------------------------

    def write(
        self,
        items: Sequence[Event],
        tombstones: Sequence[Tombstone] = (),
        cursor: tuple[CursorKey, str] | None = None,
        *,
        refresh_refs: bool = False,
    ) -> WriteCounts:
        """Upsert ``items``, delete ``tombstones`` and move ``cursor``, all in one transaction.

        Refs are not part of an event's content hash; ``refresh_refs`` rewrites them for every item
        even when the row itself is unchanged (``renormalize`` after a ``ticket_pattern`` change).
        """
        what = f"writing {len(items)} events and {len(tombstones)} removals"
        with self._errors(what), self.engine.begin() as conn:
            def write() -> WriteCounts:
                return self.write_in(conn, items, tombstones, cursor, refresh_refs=refresh_refs)
            if self.write_hook is None:
                return write()
            ids = list(dict.fromkeys([*(item.id for item in items), *(t.event_id for t in tombstones)]))
            return self.write_hook(self.bound_to(conn), ids, write)

    def write_in(
        self,
        conn: Connection,
        items: Sequence[Event],
        tombstones: Sequence[Tombstone] = (),
        cursor: tuple[CursorKey, str] | None = None,
        *,
        refresh_refs: bool = False,
    ) -> WriteCounts:
        """:meth:`write` inside the caller's transaction on ``conn`` (a migration re-deriving events)."""
        counts = WriteCounts()
        rows = {row["id"]: row for row in map(_row, items)}
        for row in rows.values():
            row["engagement"] = self.engagement
        now = _now()
        existing = self._existing(conn, list(rows))
        inserts, updates, refs_to_replace = [], [], []
        changed = _Changed(self.hides_thread)
        for event_id, row in rows.items():
            old = existing.get(event_id)
            if old is not None and row["category"] == "commit" and set(old["sources"]) - {row["source"]}:
                row = _merge_commit(old, row)
            params = _db_params(row, now)
            if old is None:
                inserts.append(params)
            elif old["content_hash"] != params["content_hash"]:
                params["b_id"] = params.pop("id")
                updates.append(params)
            elif not refresh_refs:
                continue
            refs_to_replace.append(event_id)
            changed.add(row, old)
        if inserts:
            conn.execute(insert(schema.events).values(self._json_params), inserts)
        if updates:
            statement = update(schema.events).where(self._mine(schema.events), schema.events.c.id == bindparam("b_id"))
            conn.execute(statement.values(self._json_params), updates)
        self._replace_refs(conn, refs_to_replace, {e.id: e for e in items}, existing)
        counts.new, counts.updated = len(inserts), len(updates)
        counts.deleted = self._delete(conn, [t.event_id for t in tombstones], changed)
        self._mark_changes(conn, changed)
        if cursor is not None:
            self._save_cursor(conn, cursor[0], cursor[1], now)
        return counts

    def _mark_changes(self, conn: Any, changed: _Changed) -> None:
        """Record, per view, the earliest quarter-hour ``changed`` touched (:data:`schema.event_changes`),
        keeping the table a staircase: a row's id grows with its moment, so :meth:`changed_before` reads
        one row."""
        table = schema.event_changes
        for view, earliest in changed.earliest_marks().items():
            mine = self._mine(table) & (table.c.view == view.value)
            conn.execute(delete(table).where(mine, table.c.earliest >= earliest))
            conn.execute(insert(table).values(engagement=self.engagement, view=view.value, earliest=earliest))

    def changed_before(self, moment: datetime, view: View) -> int:
        """Which write last changed what ``view`` shows of the time before ``moment`` (0: none since the
        store's upgrade to version 10). A figure standing at ``moment`` — a closed week's report, which
        says what was true at its end — can be kept while this stays the same.

        Conservative: a write counts from the start of its earliest quarter-hour (UTC; exact for a
        moment that starts one, as every zone's midnight does), and a thread-opening
        event that may hide its thread from the client (:func:`_may_hide`) counts for the whole history
        of the client view.
        """
        table = schema.event_changes
        query = select(table.c.id).where(self._mine(table), table.c.view == view.value,
                                         table.c.earliest < moment.astimezone(UTC))
        with self._errors("reading the store's changes"), self.transaction() as conn:
            return conn.execute(query.order_by(table.c.earliest.desc()).limit(1)).scalar() or 0

    def last_change(self) -> int:
        """Which write last changed any event of the engagement (0: none since the store's upgrade to
        version 10): ids only grow, and every write that inserts, edits or deletes an event records
        one (:meth:`_mark_changes`), so this moves with every such write and with no other. Read
        off ``ix_event_changes_latest`` (up to 96 marks a day and view), where counting the events
        walked an index of every event (57–63 ms at 1M events)."""
        table = schema.event_changes
        with self._errors("reading the store's changes"), self.transaction() as conn:
            return conn.execute(select(func.max(table.c.id)).where(self._mine(table))).scalar() or 0

    def _existing(self, conn: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
        table = schema.events
        columns = [table.c[name] for name in ("id", "content_hash", "sources", "attrs", "url", "actor",
                                              "actor_ids", "category", *_MERGE_KEEPS_OLD)]
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(ids, _IN_CHUNK):
            for row in conn.execute(select(*columns).where(self._mine(table), table.c.id.in_(chunk))).mappings():
                found[row["id"]] = {**row, "occurred_at": _aware(row["occurred_at"])}
        return found

    def _replace_refs(
        self, conn: Any, ids: list[str], items: dict[str, Event], existing: dict[str, dict[str, Any]]
    ) -> None:
        if not ids:
            return
        rows: dict[tuple[str, str, str], None] = {}
        refs, mine = schema.refs, self._mine(schema.refs)
        keep_old = [i for i in ids if i in existing and items[i].category == "commit"]
        for chunk in _chunks(keep_old, _IN_CHUNK):
            for ref in conn.execute(select(refs).where(mine, refs.c.event_id.in_(chunk))).mappings():
                rows[(ref["event_id"], ref["kind"], ref["value"])] = None
        for chunk in _chunks([i for i in ids if i in existing], _IN_CHUNK):
            conn.execute(delete(refs).where(mine, refs.c.event_id.in_(chunk)))
        for event_id in ids:
            for ref in items[event_id].refs:
                rows[(event_id, ref.kind, _without_nul(ref.value)[:128])] = None
        if rows:
            conn.execute(insert(refs), [{"engagement": self.engagement, "event_id": e, "kind": k, "value": v}
                                        for e, k, v in rows])

    def _delete(self, conn: Any, ids: list[str], changed: _Changed) -> int:
        deleted, table = 0, schema.events
        for chunk in _chunks(ids, _IN_CHUNK):
            for row in conn.execute(select(table.c.occurred_at, table.c.category, table.c.source, table.c.labels,
                                           table.c.thread).where(self._mine(table), table.c.id.in_(chunk))).mappings():
                changed.add({**row, "occurred_at": _aware(row["occurred_at"])})
            conn.execute(delete(schema.refs).where(self._mine(schema.refs), schema.refs.c.event_id.in_(chunk)))
            deleted += conn.execute(delete(schema.events).where(self._mine(schema.events),
                                                                schema.events.c.id.in_(chunk))).rowcount
        return deleted

    def _save_cursor(self, conn: Any, key: CursorKey, value: str, now: datetime) -> None:
        table = schema.sync_state
        match = self._mine(table) & (table.c.source == key.source) & (table.c.origin == key.origin) \
            & (table.c.category == key.category)
        if conn.execute(update(table).where(match).values(cursor=_without_nul(value), updated_at=now)).rowcount == 0:
            conn.execute(insert(table).values(engagement=self.engagement, source=key.source, origin=key.origin,
                                              category=key.category, cursor=_without_nul(value), updated_at=now))

    def cursor(self, key: CursorKey) -> str | None:
        """The last committed cursor for ``key``, or ``None`` before the first sync."""
        table = schema.sync_state
        match = self._mine(table) & (table.c.source == key.source) & (table.c.origin == key.origin) \
            & (table.c.category == key.category)
        with self._errors("reading a sync cursor"), self.engine.connect() as conn:
            return conn.execute(select(table.c.cursor).where(match)).scalar_one_or_none()

    def clear_cursors(self, source: str, origin: str) -> list[str]:
        """Delete every cursor of one source (``sync --reset``); returns the categories that had one."""
        table = schema.sync_state
        match = self._mine(table) & (table.c.source == source) & (table.c.origin == origin)
        with self._errors("clearing sync cursors"), self.engine.begin() as conn:
            categories = sorted(conn.execute(select(table.c.category).where(match)).scalars())
            conn.execute(delete(table).where(match))
        return categories

    # -- sync runs ---------------------------------------------------------------------------

    def start_run(self, source: str, origin: str) -> int:
        with self._errors("recording a sync run"), self.engine.begin() as conn:
            result = conn.execute(insert(schema.sync_runs).values(
                engagement=self.engagement, source=source, origin=origin, started_at=_now(), status="running",
                fetched=0, new=0, updated=0, deleted=0, errors=0))
            key = result.inserted_primary_key
            if key is None:
                raise RuntimeError("the sync_runs insert returned no primary key")
            return int(key[0])

    def finish_run(self, run_id: int, *, status: str, fetched: int, counts: WriteCounts,
                   first_at: datetime | None, last_at: datetime | None, message: str | None) -> None:
        with self._errors("recording a sync run's end"), self.engine.begin() as conn:
            conn.execute(update(schema.sync_runs).where(schema.sync_runs.c.id == run_id).values(
                finished_at=_now(), status=status, fetched=fetched, new=counts.new,
                updated=counts.updated, deleted=counts.deleted, errors=int(status != "ok"),
                first_at=first_at, last_at=last_at, message=message))

    def record_progress(self, run_id: int, fetched: int) -> None:
        """How many items a running sync has fetched so far (the dashboard shows it while it runs)."""
        with self._errors("recording a sync run's progress"), self.engine.begin() as conn:
            conn.execute(update(schema.sync_runs).where(schema.sync_runs.c.id == run_id).values(fetched=fetched))

    def interrupt_running_runs(self, message: str) -> int:
        """Mark every run still ``running`` as ``interrupted``; only for a caller holding the sync lock,
        when no run can really be in progress. Returns how many there were."""
        with self.engine.begin() as conn:
            running = self._mine(schema.sync_runs) & (schema.sync_runs.c.status == "running")
            return int(conn.execute(update(schema.sync_runs).where(running).values(
                finished_at=_now(), status="interrupted", errors=1, message=message)).rowcount)

    def sync_runs(self, sources: Iterable[tuple[str, str]] | None = None) -> pd.DataFrame:
        """The sync runs that say how each source stands, newest first: per source and origin, every run
        since its newest successful one (all of them before its first) and its newest failure — what
        freshness, the Portfolio, ``doctor`` and the source alerts read of them. Not every run ever:
        a store synced every five minutes records about 100,000 runs a year per source, and each
        page and Portfolio row asks (``ix_sync_runs_latest`` and ``ix_sync_runs_since`` make each
        part a seek). ``sources``: those ``(kind, origin)`` pairs (a config's sources), else every
        source that ever synced, found by a scan of the index."""
        runs = schema.sync_runs
        mine = self._mine(runs)
        statuses = ("ok", *sorted(schema.FAILED_STATES))
        with self.engine.connect() as conn:
            pairs = list(dict.fromkeys(sources)) if sources is not None else conn.execute(
                select(runs.c.source, runs.c.origin).where(mine).distinct()).all()
            parts = []
            for source, origin in pairs:
                of = (mine, runs.c.source == source, runs.c.origin == origin)
                newest_ok, *newest_failures = conn.execute(select(*(  # one seek each
                    select(func.max(runs.c.id)).where(*of, runs.c.status == status).scalar_subquery()
                    for status in statuses))).one()
                since = newest_ok or 0
                parts.append(select(runs).where(*of, runs.c.id >= since))
                newest_failure = max((run for run in newest_failures if run is not None), default=None)
                if newest_failure is not None and newest_failure < since:
                    parts.append(select(runs).where(runs.c.id == newest_failure))
            query = union_all(*parts).order_by(runs.c.id.desc()) if parts else select(runs).limit(0)
            frame = pd.read_sql(query, conn)
        for column in ("started_at", "finished_at", "first_at", "last_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame

    # -- reading -----------------------------------------------------------------------------

    def read_events(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        sources: Iterable[str] | None = None,
        categories: Iterable[str] | None = None,
        columns: Sequence[str] = LIGHT_COLUMNS,
        ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Events with ``start <= occurred_at < end`` (and among ``ids``, when given), oldest first,
        ``occurred_at`` as UTC."""
        if ids is not None:
            return self._events_among(ids, columns, start, end, sources, categories)
        table = schema.events
        query = _filter(select(*self._selected(columns)).where(self._mine(table)), table, start, end, sources,
                        categories)
        # by category: off the time index, so SQLite reads the category index and sorts what it found
        moment = table.c.occurred_at if categories is None else off_index(table.c.occurred_at, self.dialect)
        with self._reading() as conn:
            frame = _columnar(_raw_rows(conn, query.order_by(moment, table.c.id)), columns)
        return self._decoded(frame, columns)

    def jira_tickets(self) -> frozenset[str]:
        """The keys of the tickets the Jira sources created (the threads of their ``ticket_created``
        events), read off the covering index ``ix_events_jira_tickets``, and kept until a write changes
        an event (:meth:`last_change`). Every read of a timeline with Jira configured asks (a report five
        times): at 1M events fetching the 50k events one by one took 0.2 s a time, the index 0.05 s, the
        kept keys 0.5 ms. A store bound to a write reads them again, its own uncommitted rows included."""
        change = None if self._bound is not None else self.last_change()
        if change is not None and self._jira_tickets is not None and self._jira_tickets[0] == change:
            return self._jira_tickets[1]
        table = schema.events
        query = select(table.c.thread).where(self._mine(table), text(schema.JIRA_TICKETS))
        with self._errors("reading the Jira tickets"), self._reading() as conn:
            keys = frozenset(thread for (thread,) in _raw_rows(conn, query))
        if change is not None:
            self._jira_tickets = (change, keys)
        return keys

    def _events_among(self, ids: Sequence[str], columns: Sequence[str], start: datetime | None,
                      end: datetime | None, sources: Iterable[str] | None,
                      categories: Iterable[str] | None) -> pd.DataFrame:
        """:meth:`read_events` of ``ids``: looked up by key, the other bounds applied to what was found.

        With the time bounds in the query, SQLite's planner walks the engagement's events by time
        (every chunk scanning most of the store) instead of looking the ids up.
        """
        table = schema.events
        extra = [name for name in ("id", "occurred_at", "source", "category") if name not in columns]
        read = [*columns, *extra]
        query = select(*self._selected(read)).where(self._mine(table))
        with self._reading() as conn:
            rows = [row for chunk in _chunks(list(ids), _IN_CHUNK)
                    for row in _raw_rows(conn, query.where(table.c.id.in_(chunk)))]
        frame = self._decoded(_columnar(rows, read), read)
        keep = pd.Series(True, index=frame.index)
        if start is not None:
            keep &= frame["occurred_at"] >= pd.Timestamp(start.astimezone(UTC))
        if end is not None:
            keep &= frame["occurred_at"] < pd.Timestamp(end.astimezone(UTC))
        if sources is not None:
            keep &= frame["source"].isin(list(sources))
        if categories is not None:
            keep &= frame["category"].isin(list(categories))
        frame = frame.loc[keep].sort_values(["occurred_at", "id"], kind="stable")
        return frame.drop(columns=extra).reset_index(drop=True)

    def _selected(self, columns: Sequence[str]) -> list[Any]:
        table = schema.events
        return [cast(table.c[name], Text) if name in _JSON_COLUMNS else table.c[name] for name in columns]

    def _decoded(self, frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        for name in _JSON_COLUMNS.intersection(columns):
            frame[name] = _decode_json(frame[name], cache=name != "attrs" and name != "raw")
        for name in _DATETIME_COLUMNS.intersection(columns):
            frame[name] = self._datetimes(frame[name])
        return frame

    def _datetimes(self, values: pd.Series) -> pd.Series:
        """UTC timestamps from the driver's values: ISO text on SQLite, aware datetimes on PostgreSQL."""
        if self.dialect == "sqlite":
            return pd.to_datetime(values, utc=True, format="ISO8601")
        return pd.to_datetime(values, utc=True)

    def read_refs(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        sources: Iterable[str] | None = None,
        categories: Iterable[str] | None = None,
        ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """``event_id, kind, value`` for the refs of the events :meth:`read_events` would return.

        Without a filter only ``refs`` is read, scanned in the order its rows were written (a message's
        order); joining ``events`` for nothing would let the planner walk the key's sorted order instead.
        """
        events, refs = schema.events, schema.refs
        query = select(refs.c.event_id, refs.c.kind, refs.c.value).where(self._mine(refs))
        bounded = any(bound is not None for bound in (start, end, sources, categories))
        if ids is not None:  # by key, as :meth:`_events_among` reads their events
            if bounded:
                ids = list(self._events_among(ids, ("id",), start, end, sources, categories)["id"])
            with self._reading() as conn:
                rows = [row for chunk in _chunks(list(ids), _IN_CHUNK)
                        for row in _raw_rows(conn, query.where(refs.c.event_id.in_(chunk)))]
            return _columnar(rows, ("event_id", "kind", "value"))
        if bounded:
            query = query.join(events, (events.c.engagement == refs.c.engagement) & (events.c.id == refs.c.event_id))
            query = _filter(query, events, start, end, sources, categories)
        with self._reading() as conn:
            return _columnar(_raw_rows(conn, query), ("event_id", "kind", "value"))

    def event_keys(self, ids: Sequence[str]) -> tuple[set[tuple[str, str]], set[str]]:
        """The (thread, category) pairs and the ref values of the stored events among ``ids``.

        The read model asks before and after a write, so what an event stopped naming is re-derived too.
        """
        events, refs = schema.events, schema.refs
        threads: set[tuple[str, str]] = set()
        values: set[str] = set()
        with self._reading() as conn:
            for chunk in _chunks(list(ids), _IN_CHUNK):
                threads.update((thread, category) for thread, category in conn.execute(
                    select(events.c.thread, events.c.category).where(self._mine(events), events.c.id.in_(chunk))))
                values.update(conn.execute(select(refs.c.value).where(
                    self._mine(refs), refs.c.event_id.in_(chunk))).scalars())
        return threads, values

    def event_ids_near(self, threads: Iterable[str], values: Iterable[str]) -> set[str]:
        """Ids of the events on one of ``threads`` or with a ref to one of ``values``."""
        refs = schema.refs
        found = self.event_ids_on(threads)
        with self._reading() as conn:
            for chunk in _chunks(sorted(values), _IN_CHUNK):
                found.update(conn.execute(select(refs.c.event_id).where(
                    self._mine(refs), refs.c.value.in_(chunk))).scalars())
        return found

    def commit_refs_starting(self, prefixes: Iterable[str]) -> set[str]:
        """Every commit ref value beginning with one of ``prefixes`` (the SHAs a run's short tag may name).

        A full 40-digit SHA begins only itself: those are looked up by key, many per query; only the
        short ones need a range each.
        """
        refs = schema.refs
        wanted = set(prefixes)
        full = sorted(prefix for prefix in wanted if len(prefix) == FULL_SHA)
        query = select(refs.c.value).where(self._mine(refs), refs.c.kind == "commit")
        found: set[str] = set()
        with self._reading() as conn:
            for chunk in _chunks(full, _IN_CHUNK):
                found.update(conn.execute(query.where(refs.c.value.in_(chunk))).scalars())
            for prefix in sorted(wanted.difference(full)):
                found.update(conn.execute(query.where(refs.c.value >= prefix, refs.c.value < prefix + "~")).scalars())
        return found

    def short_commit_tags_of(self, shas: Iterable[str]) -> set[str]:
        """The commit refs shorter than a full SHA (a run's tag: few) that begin one of ``shas``.

        Asking for every prefix of every SHA instead (33 per SHA) cost a first sync of 30k commits
        a million lookups.
        """
        refs = schema.refs
        query = select(refs.c.value).distinct().where(  # the condition of ix_refs_short_commit, as written there
            self._mine(refs), text(f"refs.kind = 'commit' AND length(refs.value) < {FULL_SHA}"))
        with self._reading() as conn:
            tags = set(conn.execute(query).scalars())
        lengths = {len(tag) for tag in tags}
        return {sha[:length] for sha in shas for length in lengths if sha[:length] in tags}

    def threads_of(self, category: str, among: Iterable[str] | None = None) -> dict[str, str]:
        """``thread -> origin`` of the events of ``category`` (on one of the threads ``among``)."""
        events = schema.events
        query = select(events.c.thread, events.c.origin).where(self._mine(events))
        with self._reading() as conn:
            if among is None:
                return dict(_raw_rows(conn, query.where(events.c.category == category)))
            by_thread = query.where(off_index(events.c.category, self.dialect) == category)
            return {thread: origin for chunk in _chunks(sorted(among), _IN_CHUNK)
                    for thread, origin in _raw_rows(conn, by_thread.where(events.c.thread.in_(chunk)))}

    def threads_between(self, source: str, start: datetime, end: datetime) -> dict[str, str]:
        """``thread -> origin`` of ``source``'s events in ``[start, end)``: the tickets a Jira source
        moved in a period, read by time (a few columns of the period's events)."""
        events = schema.events
        query = (select(events.c.thread, events.c.origin).distinct()
                 .where(self._mine(events), events.c.occurred_at >= start.astimezone(UTC),
                        events.c.occurred_at < end.astimezone(UTC), off_index(events.c.source, self.dialect) == source))
        with self._reading() as conn:
            return dict(_raw_rows(conn, query))

    def bodies(self, categories: Sequence[str], end: datetime | None = None,
               ids: Sequence[str] | None = None) -> dict[str, str]:
        """``id -> body`` of the events of ``categories`` before ``end`` (among ``ids``) that have one
        (a run's note: most runs have none, so only those that do are read)."""
        events = schema.events
        query = select(events.c.id, events.c.body).where(self._mine(events), events.c.body.is_not(None))
        if ids is None:
            with self._reading() as conn:
                return dict(_raw_rows(conn, _filter(query, events, None, end, None, categories)))
        # by key: the other terms off their indexes, or SQLite walks every event of the categories per chunk
        query = query.where(off_index(events.c.category, self.dialect).in_(list(categories)))
        if end is not None:
            query = query.where(off_index(events.c.occurred_at, self.dialect) < end.astimezone(UTC))
        with self._reading() as conn:
            return {key: body for chunk in _chunks(list(ids), _IN_CHUNK)
                    for key, body in _raw_rows(conn, query.where(events.c.id.in_(chunk)))}

    def heads_maybe_internal(self, categories: Sequence[str], projects: Iterable[str]) -> pd.DataFrame:
        """``thread, labels, source`` of the events of ``categories`` that carry a label or are a Jira
        ticket of one of ``projects`` (keys as Jira writes them, upper case): the only heads that can make
        a thread internal. Each is one index range (``ix_events_labelled``, a key prefix); the rest of
        the heads, nearly all of them, are never read."""
        events = schema.events
        query = select(events.c.thread, cast(events.c.labels, Text), events.c.source).where(
            self._mine(events), events.c.category.in_(list(categories)))
        parts = [query.where(text(schema.LABELLED[self.dialect]))]  # as the partial index's condition is written
        parts += [query.where(events.c.source == "jira", events.c.thread >= f"{project}-",
                              events.c.thread < f"{project}.") for project in sorted(set(projects))]
        with self._reading() as conn:
            rows = list(dict.fromkeys(row for part in parts for row in _raw_rows(conn, part)))
        frame = _columnar(rows, ("thread", "labels", "source"))
        frame["labels"] = _decode_json(frame["labels"], cache=True)
        return frame

    def ticket_keys_named(self, among: Iterable[str] | None = None, *, except_origins: Iterable[str] = (),
                          between: tuple[datetime, datetime] | None = None) -> set[str]:
        """Every ticket key some event refers to (one of ``among``), by an event from outside
        ``except_origins`` (that occurred in ``between``'s ``[start, end)``).

        Distinct values of ``refs``: a million events name a few thousand keys. Only excluding
        origins or a time window needs the events joined (a window's events by time, then each one's refs
        by key).
        """
        events, refs = schema.events, schema.refs
        query = select(refs.c.value).distinct().where(self._mine(refs), refs.c.kind == "ticket")
        excluded = sorted(set(except_origins))
        if excluded or between:
            query = query.join(events, (events.c.engagement == refs.c.engagement) & (events.c.id == refs.c.event_id))
        if excluded:
            query = query.where(events.c.origin.not_in(excluded))
        if between:
            query = query.where(events.c.occurred_at >= between[0].astimezone(UTC),
                                events.c.occurred_at < between[1].astimezone(UTC))
        with self._reading() as conn:
            if among is None:
                return set(conn.execute(query).scalars())
            return {value for chunk in _chunks(sorted(among), _IN_CHUNK)
                    for value in conn.execute(query.where(refs.c.value.in_(chunk))).scalars()}

    # -- the read model's days (additive: since schema version 6) ------------------------------

    def event_times(self, ids: Sequence[str]) -> pd.Series:
        """When the stored events among ``ids`` occurred (UTC): the days a write re-counts, before and after it."""
        table = schema.events
        query = select(table.c.occurred_at).where(self._mine(table))
        with self._reading() as conn:
            rows = [row for chunk in _chunks(list(ids), _IN_CHUNK)
                    for row in _raw_rows(conn, query.where(table.c.id.in_(chunk)))]
        return self._datetimes(pd.Series([row[0] for row in rows], dtype=object))

    def event_ids_between(self, windows: Sequence[tuple[datetime, datetime]]) -> set[str]:
        """Ids of the events with ``start <= occurred_at < end`` for one of ``windows`` (a few days each)."""
        table = schema.events
        found: set[str] = set()
        with self._reading() as conn:
            for index in range(0, len(windows), _IN_CHUNK // 2):
                bounds = [(table.c.occurred_at >= start.astimezone(UTC)) & (table.c.occurred_at < end.astimezone(UTC))
                          for start, end in windows[index:index + _IN_CHUNK // 2]]
                found.update(conn.execute(select(table.c.id).where(self._mine(table), or_(*bounds))).scalars())
        return found

    # -- the week's note (SPEC §5) ----------------------------------------------------------

    def week_note(self, week: str) -> WeekNote | None:
        """The note of ISO week ``week`` (``2026-W47``), or ``None`` when it has none."""
        table = schema.week_notes
        query = select(table.c.text, table.c.updated_at).where(table.c.engagement == self.engagement,
                                                               table.c.week == week)
        with self._errors("reading the week's note"), self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else WeekNote(week, row.text, _aware(row.updated_at))

    def set_week_note(self, week: str, text: str) -> WeekNote | None:
        """Save ``text`` as the note of ``week``; an empty text deletes it. Returns what is stored now."""
        table = schema.week_notes
        key = (table.c.engagement == self.engagement) & (table.c.week == week)
        now = _now()
        with self._errors("saving the week's note"), self.engine.begin() as conn:
            conn.execute(delete(table).where(key))
            if text:
                conn.execute(insert(table).values(engagement=self.engagement, week=week, text=text, updated_at=now))
        return WeekNote(week, text, now) if text else None

    def count_events(self) -> int:
        with self._reading() as conn:
            query = select(func.count()).select_from(schema.events).where(self._mine(schema.events))
            return int(conn.execute(query).scalar_one())

    # -- a few events by key (issue #17): what reports and pages read instead of the history ---------

    def event_ids_on(self, threads: Iterable[str], categories: Iterable[str] | None = None) -> set[str]:
        """Ids of the events on one of ``threads`` (of ``categories`` only, when given: a thread's opening
        event, say), so a report reads those alone rather than every comment of every thread."""
        events = schema.events
        query = select(events.c.id).where(self._mine(events))
        if categories is not None:  # by thread, not by walking each category's events per chunk
            query = query.where(off_index(events.c.category, self.dialect).in_(sorted(set(categories))))
        with self._reading() as conn:
            return {event_id for chunk in _chunks(sorted(threads), _IN_CHUNK)
                    for event_id in conn.execute(query.where(events.c.thread.in_(chunk))).scalars()}

    def count_events_of(self, categories: Iterable[str], end: datetime) -> int:
        """How many events of ``categories`` happened before ``end``: whether reading them all in time
        order is cheaper than looking some up by key (:meth:`event_ids_on`)."""
        events = schema.events
        query = select(func.count()).select_from(events).where(
            self._mine(events), events.c.category.in_(sorted(set(categories))),
            events.c.occurred_at < end.astimezone(UTC))
        with self._reading() as conn:
            return int(conn.execute(query).scalar_one())


def off_index(column: Any, dialect: str) -> Any:
    """``column`` in a term SQLite's planner cannot serve from an index: ``+column``, SQLite's documented
    way to steer it; the column itself on PostgreSQL, whose statistics choose well on their own.

    SQLite has no statistics on how few events most categories hold, or how few a thread does, and
    guessed wrong both ways: ordered by the bare time column, a read of a few categories walked every
    event of the engagement by time to save a sort (the model events before a week's end, none, cost
    0.2 s at 1M events); filtered by thread and category, a lookup walked every event of those
    categories once per chunk of threads (the pull requests' events: 110,000 rows a chunk), and a
    lookup by id walked every run event per chunk of ids (2,800 runs' notes: 0.6 s). A lookup by key
    or thread keeps its other terms off their indexes.
    """
    if dialect != "sqlite":
        return column
    return literal_column(f"+{column.table.name}.{column.name}", type_=column.type)


def _filter(query: Any, table: Any, start: datetime | None, end: datetime | None,
            sources: Iterable[str] | None, categories: Iterable[str] | None) -> Any:
    if start is not None:
        query = query.where(table.c.occurred_at >= start.astimezone(UTC))
    if end is not None:
        query = query.where(table.c.occurred_at < end.astimezone(UTC))
    if sources is not None:
        query = query.where(table.c.source.in_(list(sources)))
    if categories is not None:
        query = query.where(table.c.category.in_(list(categories)))
    return query


def _raw_rows(conn: Any, query: Any) -> list[tuple[Any, ...]]:
    """The driver's own tuples, skipping SQLAlchemy's per-value result processing.

    Reading a million events is dominated by per-row Python work; JSON columns are selected as text
    and decoded in bulk, and timestamps are parsed by pandas, so no processor is needed here.
    """
    return conn.execute(query).cursor.fetchall()


def _columnar(rows: list[tuple[Any, ...]], columns: Sequence[str]) -> pd.DataFrame:
    """A frame of object columns from the driver's tuples, transposed in C by numpy.

    dtype=object: pandas 3 would otherwise convert every text column to Arrow strings, which costs
    seconds per million rows here and more again in every per-value pass the metrics make.
    """
    table = np.array(rows, dtype=object) if rows else np.empty((0, len(columns)), dtype=object)
    return pd.DataFrame({name: table[:, index] for index, name in enumerate(columns)}, dtype=object)


def _decode_json(texts: pd.Series, *, cache: bool) -> pd.Series:
    """Decode JSON text; columns with few distinct values (labels, sources) decode each value once."""
    loads = json.loads
    if cache:
        decoded = {text: None if text is None else loads(text) for text in set(texts)}
        values = [decoded[text] for text in texts]
    else:
        values = [None if text is None else loads(text) for text in texts]
    return pd.Series(values, index=texts.index, dtype=object)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for index in range(0, len(items), size):
        yield items[index:index + size]


def open_store(url: str, engagement: str = DEFAULT_ENGAGEMENT, *, owns_legacy_rows: bool = True) -> Store:
    """Open (creating or upgrading as needed) the store at ``url``, scoped to ``engagement``.

    ``owns_legacy_rows``: a store written before workspaces holds ``engagement``'s rows (a single
    config's store); a workspace of several engagements passes false, and such a store is refused
    until a command names the engagement (see :func:`glassbox.migrations.prepare`).

    Failing to reach it — the server down, its database or role missing, a SQLite file that cannot be
    opened — raises :class:`StoreUnavailable` with one line naming the store (never its password)
    and what to do: every command opens the store first, and cron mails whatever it prints.
    """
    engine = make_engine(url)
    try:
        migrations.prepare(engine, engagement if owns_legacy_rows else None)
    except DBAPIError as exc:
        engine.dispose()
        raise StoreUnavailable(_unreachable(engine, exc)) from None
    return Store(engine, engagement=engagement)


def _unreachable(engine: Engine, exc: DBAPIError) -> str:
    """``store URL: the driver's reason — what to do``, in one bounded line without SQL."""
    where = engine.url.render_as_string(hide_password=True)
    reason = str(exc.orig).splitlines()[0] if str(exc.orig) else type(exc.orig).__name__
    reason = reason.rsplit(" failed: ", 1)[-1].replace("FATAL:", "").strip()
    reason = " ".join(reason.split())[:200]
    if engine.dialect.name == "sqlite":
        folder = Path(engine.url.database or ".").parent
        return (f"store {where}: cannot open the database file ({reason}) — check that {folder} is a"
                " writable folder and the file a SQLite database")
    if "does not exist" in reason and reason.startswith("database"):
        hint = "create it (createdb) or fix the database name in [store] url / $GLASSBOX_DB_URL"
    elif "does not exist" in reason and reason.startswith("role"):
        hint = "create the role (createuser) or fix the user name in [store] url / $GLASSBOX_DB_URL"
    elif "authentication failed" in reason:
        hint = "check the user and password in [store] url / $GLASSBOX_DB_URL"
    else:
        hint = "check that PostgreSQL is running there and that [store] url / $GLASSBOX_DB_URL is right"
    return f"store {where}: cannot connect ({reason}) — {hint}"
