"""One sync at a time per engagement of a store, so cron or a systemd timer can fire every few minutes safely.

SQLite stores take a file lock beside the database file; PostgreSQL stores a session-level
advisory lock, which the server releases by itself if the sync process dies. A second sync does
not wait: it raises :class:`SyncLocked` at once, the CLI prints one line and exits 1, and the next
scheduled run catches up.

PostgreSQL advisory locks are per database, so the key also names the schema: several stores in
one database (one schema per engagement) lock independently. Within one store each engagement has
its own lock (SPEC §6): two syncs of one engagement refuse each other, two of different ones run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout
from sqlalchemy import Connection, TextClause, text

from glassbox.errors import SyncLocked

if TYPE_CHECKING:
    from glassbox.store import Store

SYNC_LOCK_SPACE = 0x61A55B0C  # any constant: it names "the glassbox sync" among the server's locks
_KEY = "hashtext(current_schema() || '/' || :engagement)"
_TRY_LOCK = text(f"SELECT pg_try_advisory_lock(:space, {_KEY})")
_UNLOCK = text(f"SELECT pg_advisory_unlock(:space, {_KEY})")


def sync_lock_path(database: str, engagement: str) -> Path:
    """The lock file a SQLite store's sync of one engagement holds: ``glassbox.db`` → ``glassbox.acme.sync.lock``."""
    return Path(database).with_suffix(f".{engagement}.sync.lock")


@contextmanager
def sync_lock(store: Store) -> Iterator[None]:
    """Hold the store's sync lock for the duration of the block, or raise :class:`SyncLocked` at once.

    The lock is released when the block ends, whether it returns or raises — or a signal ends the
    process through an exception (see :func:`glassbox.sync.interruptible`). After ``kill -9`` the
    operating system (SQLite's file lock) or the server (PostgreSQL's session lock) releases it.
    """
    if store.dialect == "postgresql":
        with _advisory_lock(store):
            yield
        return
    database = store.engine.url.database
    if not database or database == ":memory:":  # a private in-memory store: nobody to overlap with
        yield
        return
    lock = FileLock(str(sync_lock_path(database, store.engagement)))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise SyncLocked(_busy(store)) from None
    try:
        yield
    finally:
        lock.release()


def sync_running(store: Store) -> bool:
    """Whether a sync holds the store's lock right now (it is taken and released at once to find out).

    A run recorded as ``running`` while this is false was left by a sync that died. A lock this
    process cannot even try (a reader without write access to the lock file's folder) counts as held,
    so nothing is called abandoned on a guess.
    """
    try:
        with sync_lock(store):
            return False
    except (SyncLocked, OSError):
        return True


@contextmanager
def _advisory_lock(store: Store) -> Iterator[None]:
    # AUTOCOMMIT: the lock belongs to the session, so no transaction stays open for the whole sync.
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if not _scalar(conn, _TRY_LOCK, store.engagement):
            raise SyncLocked(_busy(store))
        try:
            yield
        finally:
            _scalar(conn, _UNLOCK, store.engagement)


def _scalar(conn: Connection, statement: TextClause, engagement: str) -> bool:
    return bool(conn.execute(statement, {"space": SYNC_LOCK_SPACE, "engagement": engagement}).scalar())


def _busy(store: Store) -> str:
    where = store.engine.url.render_as_string(hide_password=True)
    return (f"store {where}: another sync is already running for engagement {store.engagement} —"
            " this one exits; the next scheduled run will catch up")
