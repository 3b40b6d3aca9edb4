"""The sync lock: one sync per store, refused at once, and always released — even when a sync dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from glassbox.errors import SyncLocked
from glassbox.lock import SYNC_LOCK_SPACE, sync_lock
from glassbox.store import Store, open_store

ROOT = Path(__file__).resolve().parents[1]
HOLDER = """
import sys, time
from glassbox.lock import sync_lock
from glassbox.store import open_store
with sync_lock(open_store(sys.argv[1], sys.argv[2])):
    print("locked", flush=True)
    time.sleep(120)
"""


def url_of(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def holder(store: Store) -> Iterator[subprocess.Popen]:
    """Another process that holds the store's sync lock until it is killed."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, url_of(store), store.engagement], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.stdout is not None and process.stdout.readline().strip() == "locked"
    yield process
    process.kill()
    process.wait(timeout=10)


def can_lock(store: Store) -> bool:
    try:
        with sync_lock(store):
            return True
    except SyncLocked:
        return False


def eventually_lockable(store: Store, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if can_lock(store):
            return True
        time.sleep(0.1)
    return False


def test_second_sync_is_refused_at_once_while_one_runs(store: Store) -> None:
    other = open_store(url_of(store), store.engagement)  # another process's view of the same store
    with sync_lock(store):
        started = time.monotonic()
        with pytest.raises(SyncLocked, match="another sync is already running"), sync_lock(other):
            pytest.fail("two syncs held the lock")
        assert time.monotonic() - started < 2
    assert can_lock(other)
    other.engine.dispose()


def test_refusal_names_the_store_without_its_password(store: Store) -> None:
    with sync_lock(store), pytest.raises(SyncLocked) as refused, sync_lock(open_store(url_of(store), store.engagement)):
        pass
    message = str(refused.value)
    assert message.startswith(f"store {store.engine.url.render_as_string(hide_password=True)}: ")
    assert "\n" not in message


def test_lock_is_released_when_the_sync_fails(store: Store) -> None:
    with pytest.raises(RuntimeError, match="source exploded"), sync_lock(store):
        raise RuntimeError("source exploded")
    assert can_lock(store)


def test_sync_in_another_process_is_refused_until_it_ends(store: Store, holder: subprocess.Popen) -> None:
    assert not can_lock(store)
    holder.send_signal(signal.SIGTERM)
    holder.wait(timeout=10)
    assert eventually_lockable(store)


def test_lock_of_a_killed_sync_is_released(store: Store, holder: subprocess.Popen) -> None:
    """cron kills a hung sync or the machine's OOM killer does: the next run must not be locked out."""
    holder.kill()
    holder.wait(timeout=10)
    assert eventually_lockable(store)


def test_sqlite_lock_file_sits_beside_the_database_one_per_engagement(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'data' / 'glassbox.db'}", "acme")
    with sync_lock(store):
        assert (tmp_path / "data" / "glassbox.acme.sync.lock").exists()
    store.engine.dispose()


def test_syncs_of_one_engagement_refuse_each_other_and_of_two_engagements_do_not(store: Store) -> None:
    first, same, other = store.scoped("acme"), store.scoped("acme"), store.scoped("globex")
    with sync_lock(first):
        assert can_lock(other)
        with pytest.raises(SyncLocked, match="already running for engagement acme"), sync_lock(same):
            pass


@pytest.fixture
def second_pg_schema_url(pg_url: str) -> Iterator[str]:
    """Another engagement's store in the same PostgreSQL database (its own schema)."""
    base = pg_url.split("?")[0]
    name = f"gb_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    yield f"{base}?options=-csearch_path%3D{name}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    admin.dispose()


def test_stores_in_one_postgres_database_lock_independently(pg_url: str, second_pg_schema_url: str) -> None:
    first, second = open_store(pg_url), open_store(second_pg_schema_url)
    with sync_lock(first):
        assert can_lock(second)
    first.engine.dispose()
    second.engine.dispose()


def test_postgres_lock_keeps_no_transaction_open(pg_url: str) -> None:
    """An 'idle in transaction' session for a whole sync would trip idle_in_transaction_session_timeout."""
    store = open_store(pg_url)
    held = text("SELECT a.state FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.classid = CAST(:space AS oid) AND l.granted"
                " AND l.objid = CAST(hashtext(current_schema() || '/' || :engagement) AS oid)")
    with sync_lock(store), store.engine.connect() as conn:
        states = conn.execute(held, {"space": SYNC_LOCK_SPACE, "engagement": store.engagement}).scalars().all()
    assert states == ["idle"]
    store.engine.dispose()
