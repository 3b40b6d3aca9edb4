"""The store: round trips on both backends, idempotent upserts, cursors moved with their events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from glassbox import schema
from glassbox.errors import StoreError
from glassbox.events import Event, Ref, Tombstone, commit_event_id, event_id
from glassbox.store import CursorKey, Store

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def comment(n: int, body: str = "looks good") -> Event:
    return Event(
        id=event_id("jira", "https://jira.example", f"comment-{n}"),
        source="jira", origin="https://jira.example", category="comment",
        occurred_at=T0 + timedelta(minutes=n), actor="carol", thread="CHURN-1",
        title=f"comment {n}", body=body, refs=(Ref("ticket", "CHURN-1"),), attrs={"n": n}, raw={"id": n},
    )


def commit(sha: str, source: str, **attrs) -> Event:
    return Event(
        id=commit_event_id(sha), source=source, origin="acme/churn" if source == "github" else "/src/churn",
        category="commit", occurred_at=T0, actor="dev@team.example", thread="acme/churn",
        title="CHURN-1 add features", refs=(Ref("ticket", "CHURN-1"), Ref("commit", sha)), attrs=attrs,
        url=f"https://github.com/acme/churn/commit/{sha}" if source == "github" else None,
    )


def count_and_distinct(store: Store) -> tuple[int, int]:
    with store.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(schema.events)).scalar_one()
        distinct = conn.execute(select(func.count(func.distinct(schema.events.c.id)))).scalar_one()
    return total, distinct


def test_events_round_trip_with_aware_utc_times(store: Store) -> None:
    store.write([comment(1, "unicode ✓ <b>html</b> 🚀")])
    frame = store.read_events(columns=("id", "occurred_at", "body", "attrs", "labels"))
    assert frame.loc[0, "occurred_at"] == T0 + timedelta(minutes=1)
    assert str(frame["occurred_at"].dt.tz) == "UTC"
    assert frame.loc[0, "body"] == "unicode ✓ <b>html</b> 🚀"
    assert frame.loc[0, "attrs"] == {"n": 1}


def test_loading_twice_adds_no_duplicates(store: Store) -> None:
    batch = [comment(n) for n in range(50)]
    first = store.write(batch)
    second = store.write(batch)
    assert (first.new, second.new, second.updated) == (50, 0, 0)
    assert count_and_distinct(store) == (50, 50)


def test_changed_event_is_updated_not_duplicated(store: Store) -> None:
    store.write([comment(1)])
    counts = store.write([comment(1, "edited")])
    assert (counts.new, counts.updated) == (0, 1)
    assert store.read_events(columns=("body",)).loc[0, "body"] == "edited"


def test_cursor_moves_only_with_its_batch(store: Store) -> None:
    key = CursorKey("jira", "https://jira.example", "issues")
    assert store.cursor(key) is None
    store.write([comment(1)], cursor=(key, "2026-11-02T09:31"))
    store.write([comment(2)], cursor=(key, "2026-11-02T09:32"))
    assert store.cursor(key) == "2026-11-02T09:32"


def test_commit_seen_by_git_and_github_is_one_event_with_both_sources(store: Store) -> None:
    sha = "a" * 40
    store.write([commit(sha, "git", lines_added=10)])
    store.write([commit(sha, "github", github_login="dev")])
    frame = store.read_events(columns=("id", "source", "sources", "attrs", "url"))
    assert len(frame) == 1
    assert sorted(frame.loc[0, "sources"]) == ["git", "github"]
    assert frame.loc[0, "attrs"] == {"lines_added": 10, "github_login": "dev"}
    assert frame.loc[0, "url"].endswith(sha)


def test_refs_are_replaced_on_update_and_removed_with_tombstones(store: Store) -> None:
    store.write([comment(1)])
    assert store.read_refs()["value"].tolist() == ["CHURN-1"]
    counts = store.write([], tombstones=[Tombstone(comment(1).id)])
    assert counts.deleted == 1
    assert store.read_refs().empty and store.count_events() == 0


def test_sync_runs_are_recorded(store: Store) -> None:
    from glassbox.store import WriteCounts

    run = store.start_run("git", "/src/churn")
    store.finish_run(run, status="failed", fetched=3, counts=WriteCounts(new=3), first_at=T0, last_at=T0,
                     message="boom")
    runs = store.sync_runs()
    assert runs.loc[0, "status"] == "failed" and runs.loc[0, "new"] == 3 and runs.loc[0, "message"] == "boom"


def sync_history(store: Store, source: str, origin: str, statuses: str) -> list[int]:
    """Runs of one source in order, one per letter: ``o`` ok, ``f`` failed, ``i`` interrupted, ``r`` still running."""
    from glassbox.store import WriteCounts

    words = {"o": "ok", "f": "failed", "i": "interrupted"}
    ids = []
    for letter in statuses:
        ids.append(run := store.start_run(source, origin))
        if letter != "r":
            store.finish_run(run, status=words[letter], fetched=0, counts=WriteCounts(), first_at=None, last_at=None,
                             message=None)
    return ids


def test_sync_runs_are_each_sources_runs_since_its_last_success_and_its_last_failure(store: Store) -> None:
    git = sync_history(store, "git", "/src/churn", "ffoooffr")  # a failure streak after the last success
    jira = sync_history(store, "jira", "https://jira", "fiooo")  # its last failure is older than its successes
    github = sync_history(store, "github", "acme/churn", "ff")  # never once ok: every run
    runs = store.sync_runs()
    assert runs["id"].tolist() == sorted([*git[4:], *jira[1:2], *jira[4:], *github], reverse=True), "newest first"
    assert runs.set_index("id").loc[git[-1], "status"] == "running"
    configured = store.sync_runs([("github", "acme/churn"), ("mlflow", "never-synced")])  # a config's sources
    assert configured["id"].tolist() == sorted(github, reverse=True)
    assert store.sync_runs([]).empty, "a config without sources has no runs to read"


def test_sqlite_finds_how_each_source_stands_by_seeks_not_by_every_run(sqlite_store: Store) -> None:
    for _ in range(3):
        sync_history(sqlite_store, "git", "/src/churn", "oof")
    plans = _plans_of(sqlite_store, sqlite_store.sync_runs, "sync_runs")
    assert plans and all("SCAN sync_runs" not in line or "COVERING INDEX ix_sync_runs_since" in line
                         for plan in plans for line in plan.split(" | ")), plans
    assert any("ix_sync_runs_latest" in plan for plan in plans), plans


def test_commit_resent_by_either_source_after_merging_changes_nothing(store: Store) -> None:
    sha = "c" * 40
    store.write([commit(sha, "github", login="dev")])
    store.write([commit(sha, "git", lines_added=3)])
    again = [store.write([commit(sha, source, **attrs)])
             for source, attrs in [("github", {"login": "dev"}), ("git", {"lines_added": 3})] * 2]
    assert all((c.new, c.updated) == (0, 0) for c in again)
    frame = store.read_events(columns=("origin", "sources", "attrs"))
    assert frame.loc[0, "origin"] == "acme/churn" and frame.loc[0, "attrs"] == {"login": "dev", "lines_added": 3}


def test_nul_characters_are_dropped_from_every_text_and_json_field(store: Store) -> None:
    """PostgreSQL refuses NUL in text; both stores keep the text without it, and a resend changes nothing."""
    nul = "\x00"
    item = Event(
        id=event_id("mlflow", "sqlite:///mlflow.db", "run-nul"), source="mlflow", origin="sqlite:///mlflow.db",
        category="run_finished", occurred_at=T0, actor=f"minh{nul}", actor_ids=(f"minh{nul}@team.example",),
        thread=f"churn{nul}", title=f"xgb{nul}-1", body=f"note with a{nul}NUL", url=f"http://mlflow/{nul}r",
        labels=(f"la{nul}bel",), refs=(Ref("ticket", f"CHURN-1{nul}"),),
        attrs={"params": {f"k{nul}": f"v{nul}", "depth": 3}, "tags": [f"t{nul}"]}, raw={"note": nul * 3},
    )
    cursor = (CursorKey("mlflow", "sqlite:///mlflow.db", "runs"), f'{{"after": "x{nul}"}}')
    assert store.write([item], cursor=cursor).new == 1
    row = store.read_events(columns=("actor", "actor_ids", "thread", "title", "body", "url", "labels", "attrs",
                                      "raw")).iloc[0].to_dict()
    assert row == {"actor": "minh", "actor_ids": ["minh@team.example"], "thread": "churn", "title": "xgb-1",
                   "body": "note with aNUL", "url": "http://mlflow/r", "labels": ["label"],
                   "attrs": {"params": {"k": "v", "depth": 3}, "tags": ["t"]}, "raw": {"note": ""}}
    assert store.read_refs()["value"].tolist() == ["CHURN-1"]
    assert store.cursor(cursor[0]) == '{"after": "x"}'
    assert store.write([item], cursor=cursor).updated == 0, "the stored row hashes like the cleaned resend"


def test_database_error_is_one_line_naming_the_store_without_sql_or_data(store: Store) -> None:
    """The driver's message carries the statement and the row; the user gets the store and what failed."""
    broken = Event(id=event_id("jira", "https://jira.example", "broken"), source="jira",
                   origin="https://jira.example", category="comment", occurred_at=T0, actor="carol",
                   thread="CHURN-1", title=None, body="PRIVATE-BODY-TEXT")  # type: ignore[arg-type]
    with pytest.raises(StoreError) as raised:
        store.write([broken])
    message = str(raised.value)
    assert message.startswith(f"store ({store.name}): writing 1 events and 0 removals failed (")
    assert "\n" not in message and len(message) < 300
    assert not [word for word in ("INSERT", "SQL", "PRIVATE-BODY-TEXT", "CHURN-1", "parameters") if word in message]
    assert store.count_events() == 0, "the transaction was rolled back"


def test_sqlite_reads_a_few_categories_threads_or_ids_through_the_narrowest_index(sqlite_store: Store) -> None:
    """SQLite keeps no statistics here, and without them its planner walked every event of the
    engagement by time to save a sort, or every event of a category once per chunk of threads or ids
    (seconds at 1M events). Each read below must reach its rows through the index that holds only them."""
    sqlite_store.write([comment(n) for n in range(3)] + [commit("ab" * 20, "git")])
    many = [f"CHURN-{n}" for n in range(40)]  # a chunk's worth: a short list was planned well already
    models = ["model_version_created", "model_alias_moved"]
    reads = {
        "the model events before a moment": (
            lambda: sqlite_store.read_events(end=T0 + timedelta(days=1), categories=models),
            "ix_events_engagement_category"),
        "the opening events of some threads": (
            lambda: sqlite_store.event_ids_on(many, ["ticket_created", "pull_request_opened"]),
            "ix_events_engagement_thread"),
        "which of some threads are tickets": (
            lambda: sqlite_store.threads_of("ticket_created", set(many)), "ix_events_engagement_thread"),
        "the notes of some runs": (
            lambda: sqlite_store.bodies(["run_started", "run_finished"], ids=many), "sqlite_autoindex_events_1"),
        "the Jira tickets' keys": (sqlite_store.jira_tickets, "ix_events_jira_tickets"),
    }
    for what, (read, index) in reads.items():
        plans = _plans_of(sqlite_store, read)
        assert plans and all(f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan
                             for plan in plans), f"{what}: {plans}"


def test_sqlite_finds_the_last_change_by_its_own_index(sqlite_store: Store) -> None:
    """A sync every few minutes marks up to 96 quarter-hours a day: the newest is one index seek, not
    a walk of every mark (every page's first load after a minute asks)."""
    sqlite_store.write([comment(n) for n in range(3)])
    plans = _plans_of(sqlite_store, sqlite_store.last_change, table="event_changes")
    assert plans and all("ix_event_changes_latest" in plan for plan in plans), plans


def _plans_of(store: Store, read, table: str = "events") -> list[str]:
    """SQLite's query plan of each statement on ``table`` that ``read`` runs (its steps joined by `` | ``)."""
    statements: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT") and f"FROM {table}" in statement:
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        read()
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    with store.engine.connect() as conn:
        return [" | ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                           if table in row[-1].split(" USING")[0])
                for statement, parameters in statements]
