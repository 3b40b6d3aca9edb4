"""One sync at a time per store, so cron or a systemd timer can fire every few minutes safely.

SQLite stores take a file lock beside the database file; PostgreSQL stores a session-level
advisory lock, which the server releases by itself if the sync process dies.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import text

from glassbox.errors import SyncLocked
from glassbox.store import Store

ADVISORY_LOCK_ID = 0x61A55B0C  # any constant: it names "the glassbox sync" among the server's locks
_BUSY = "another sync is already running on this store — this one exits; the running sync will catch up"


@contextmanager
def sync_lock(store: Store) -> Iterator[None]:
    """Hold the store's sync lock for the duration of the block, or raise :class:`SyncLocked` at once."""
    if store.dialect == "sqlite":
        database = store.engine.url.database
        if not database or database == ":memory:":
            yield
            return
        lock = FileLock(str(Path(database).with_suffix(".sync.lock")))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise SyncLocked(_BUSY) from None
        try:
            yield
        finally:
            lock.release()
        return
    with store.engine.connect() as conn:
        if not conn.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": ADVISORY_LOCK_ID}).scalar():
            raise SyncLocked(_BUSY)
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": ADVISORY_LOCK_ID})
