"""Sync orchestration: batches commit with their cursor, failures are isolated and recorded.

The connector here is a scripted source (a list of items), so these tests pin the orchestration
itself; every real connector has its own tests against real clients and servers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from connectors.base import Connector
from glassbox.errors import AuthError
from glassbox.events import Checkpoint, Event, Tombstone, event_id
from glassbox.store import CursorKey, Store
from glassbox.sync import sync_connector

T0 = datetime(2026, 11, 2, tzinfo=UTC)


def ticket(n: int) -> Event:
    return Event(id=event_id("jira", "site", str(n)), source="jira", origin="site", category="ticket_created",
                 occurred_at=T0 + timedelta(hours=n), actor="carol", thread=f"CHURN-{n}", title=f"ticket {n}")


class ScriptedSource(Connector):
    source = "jira"
    categories = ("issues",)

    def __init__(self, script: list, fail_after: Exception | None = None) -> None:
        self.origin = "site"
        self.script = script
        self.fail_after = fail_after
        self.seen_since: list[str | None] = []

    def check(self) -> str:
        return "scripted"

    def fetch(self, category: str, since: str | None) -> Iterator:
        self.seen_since.append(since)
        yield from self.script
        if self.fail_after:
            raise self.fail_after


def test_resync_adds_no_duplicates_and_resumes_from_the_saved_cursor(store: Store) -> None:
    script = [ticket(1), ticket(2), Checkpoint("c2"), ticket(3), Checkpoint("c3")]
    first = sync_connector(ScriptedSource(script), store)
    again = ScriptedSource(script)
    second = sync_connector(again, store)
    assert (first.counts.new, second.counts.new, second.counts.updated) == (3, 0, 0)
    assert again.seen_since == ["c3"]
    assert store.count_events() == 3


def test_failure_mid_sync_keeps_committed_batches_and_cursor(store: Store) -> None:
    script = [ticket(1), Checkpoint("c1"), ticket(2)]
    summary = sync_connector(ScriptedSource(script, fail_after=AuthError("jira (site): authentication failed")), store)
    assert not summary.ok and summary.error == "jira (site): authentication failed"
    assert store.cursor(CursorKey("jira", "site", "issues")) == "c1"
    assert store.count_events() == 1  # the tail after the last checkpoint is fetched again next time
    runs = store.sync_runs()
    assert runs.loc[0, "status"] == "failed" and "authentication failed" in runs.loc[0, "message"]


def test_unexpected_connector_bug_is_reported_not_raised(store: Store) -> None:
    summary = sync_connector(ScriptedSource([ticket(1)], fail_after=KeyError("fields")), store)
    assert summary.error.startswith("unexpected KeyError") and "please report" in summary.error


def test_events_are_written_in_batches_even_without_checkpoints(store: Store) -> None:
    summary = sync_connector(ScriptedSource([ticket(n) for n in range(1200)]), store, batch_size=500)
    assert summary.counts.new == 1200 and summary.fetched == 1200
    assert summary.first_at == T0 and summary.last_at == T0 + timedelta(hours=1199)


def test_tombstones_remove_events(store: Store) -> None:
    sync_connector(ScriptedSource([ticket(1), ticket(2)]), store)
    summary = sync_connector(ScriptedSource([Tombstone(ticket(1).id)]), store)
    assert summary.counts.deleted == 1 and store.count_events() == 1
