"""The dashboard reads while a sync writes, and several processes open one store at once.

Readers open their own store on the same database, as a dashboard replica does, and run while a
writer commits batches as the sync does. Each batch (its events, their refs and the cursor) is one
transaction, so a reader must only ever see whole batches: never "database is locked", never an
event without its refs, never a cursor ahead of the events it covers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from glassbox import migrations, schema
from glassbox.config import Config
from glassbox.events import Event, Ref, event_id
from glassbox.store import CursorKey, Store, open_store
from glassbox.timeline import load_timeline

BATCH = 100
BATCHES = 6  # a count, not a deadline: a loaded machine writes slower, and the test must not care
ORIGIN = "https://jira.example"
CURSOR = CursorKey("jira", ORIGIN, "issues")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def batch_events(batch: int, edit: int = 0) -> list[Event]:
    """``BATCH`` events, each with two refs (a ticket and a commit) written in the same transaction."""
    return [
        Event(
            id=event_id("jira", ORIGIN, f"{batch}-{n}"), source="jira", origin=ORIGIN, category="comment",
            occurred_at=T0 + timedelta(minutes=batch * BATCH + n), actor="carol", thread=f"CHURN-{batch}",
            title=f"comment {batch}-{n}", body=f"edit {edit}",
            refs=(Ref("ticket", f"CHURN-{batch}"), Ref("commit", f"{batch:04x}{n:04x}abc")),
        )
        for n in range(BATCH)
    ]


def url_of(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def run_threads(targets: list[Callable[[], None]]) -> list[BaseException]:
    """Run ``targets`` in parallel threads; return what they raised."""
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # reported by the test, never swallowed
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


class Writer:
    """A sync-like loop: new batches, and every third one re-writes an earlier batch with edits."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.done = threading.Event()
        self.batches = 0
        self.seen = threading.Condition()
        self.seen_events: set[int] = set()  # the event counts readers saw

    def __call__(self) -> None:
        try:
            while self.batches < BATCHES:
                if self.batches % 3 == 2:
                    self.store.write(batch_events(self.batches // 2, edit=self.batches))
                self.batches += 1
                self.store.write(batch_events(self.batches), cursor=(CURSOR, str(self.batches)))
                self.wait_for_a_reader(BATCH * self.batches)
        finally:
            self.done.set()

    def saw(self, events: int) -> None:
        with self.seen:
            self.seen_events.add(events)
            self.seen.notify_all()

    def wait_for_a_reader(self, events: int) -> None:
        """Write the next batch only once a reader has seen this one, so reads overlap the writes on a
        fast machine as on a slow one."""
        with self.seen:
            if not self.seen.wait_for(lambda: events in self.seen_events, timeout=60):
                raise TimeoutError(f"no reader saw {events} events within 60 s")


class Reader:
    """Reads as the dashboard does and checks each view holds whole batches only."""

    def __init__(self, url: str, writer: Writer) -> None:
        self.url = url
        self.writer = writer

    def __call__(self) -> None:
        store = open_store(self.url)
        try:
            while not self.writer.done.is_set():
                self.check_snapshot(store)
                self.check_timeline(store)
        finally:
            store.engine.dispose()

    def check_snapshot(self, store: Store) -> None:
        """Events, refs and the cursor read in one statement, so one consistent snapshot."""
        counts = select(
            select(func.count()).select_from(schema.events).scalar_subquery(),
            select(func.count()).select_from(schema.refs).scalar_subquery(),
            select(schema.sync_state.c.cursor).scalar_subquery(),
        )
        with store.engine.connect() as conn:
            events, refs, cursor = conn.execute(counts).one()
        assert events % BATCH == 0, f"saw {events} events: a half-written batch"
        assert refs == 2 * events, f"saw {events} events but {refs} refs"
        assert events == BATCH * int(cursor or 0), f"cursor {cursor} does not match {events} events"
        self.writer.saw(events)

    def check_timeline(self, store: Store) -> None:
        frame = load_timeline(store, Config())
        assert len(frame) % BATCH == 0
        assert frame["refs"].map(len).eq(2).all(), "an event showed up without its refs"
        comments = store.read_events(categories=["comment"], start=T0)
        assert len(comments) % BATCH == 0


def test_readers_see_whole_batches_while_a_sync_writes(store: Store) -> None:
    writer = Writer(store)
    readers = [Reader(url_of(store), writer) for _ in range(2)]
    errors = run_threads([writer, *readers])
    assert not errors, errors
    assert writer.batches == BATCHES
    assert store.count_events() == BATCH * writer.batches
    seen = writer.seen_events
    assert len(seen) >= 3, f"readers saw only {sorted(seen)}: they did not overlap the writer"


@pytest.fixture(params=["sqlite", "postgresql"])
def new_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'new' / 'glassbox.db'}"
    return request.getfixturevalue("pg_url")


def test_processes_opening_a_new_store_at_once_create_it_once(new_store_url: str) -> None:
    """A timer's sync, a report and app replicas starting together on an empty database."""
    start = threading.Barrier(4)
    opened: list[Store] = []

    def open_together() -> None:
        start.wait()
        opened.append(open_store(new_store_url))

    errors = run_threads([open_together] * 4)
    assert not errors, errors
    with opened[0].engine.connect() as conn:
        assert migrations.stored_version(conn) == schema.SCHEMA_VERSION
        assert conn.execute(select(func.count()).select_from(schema.meta)).scalar_one() == 1
    for each in opened:
        each.engine.dispose()
