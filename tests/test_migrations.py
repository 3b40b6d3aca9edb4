"""Upgrades keep existing stores: a version-1 store is brought to the current version with its data.

A version-2 store's Jira tickets are re-normalized from the raw payloads it kept (version 3); a
version-3 store's rows become the engagement that wrote it (version 4, SPEC §6 workspaces).

``V1`` is a frozen copy of the tables as the first release created them (glassbox/schema.py at
schema version 1), ``V3`` as versions 2 and 3 left them (one more index); they must never follow
later changes to the schema. Old stores are filled by copying the rows today's store writes into
the old tables, without the columns they did not have.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from jira_server import load
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
    update,
)

from connectors.jira.normalize import issue_to_events, resolved_event_id, status_categories_from
from glassbox import migrations, schema
from glassbox.cli import main
from glassbox.config import Config
from glassbox.errors import ConfigError
from glassbox.events import Event, Ref, Tombstone, event_id
from glassbox.metrics import latency
from glassbox.store import EVENT_COLUMNS, CursorKey, Store, WriteCounts, make_engine, open_store
from glassbox.timeline import load_timeline

V1 = MetaData()
Table("meta", V1, Column("key", String(64), primary_key=True), Column("value", Text, nullable=False))
Table(
    "events", V1,
    Column("id", String(40), primary_key=True),
    Column("source", String(16), nullable=False),
    Column("sources", JSON, nullable=False),
    Column("origin", Text, nullable=False),
    Column("category", String(32), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("actor", Text),
    Column("actor_ids", JSON, nullable=False),
    Column("thread", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text),
    Column("url", Text),
    Column("labels", JSON, nullable=False),
    Column("attrs", JSON, nullable=False),
    Column("raw", JSON),
    Column("content_hash", String(40), nullable=False),
    Column("synced_at", DateTime(timezone=True), nullable=False),
    Index("ix_events_occurred_at", "occurred_at"),
    Index("ix_events_thread", "thread"),
    Index("ix_events_source_category", "source", "category"),
)
Table(
    "refs", V1,
    Column("event_id", String(40), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("value", String(128), primary_key=True),
    Index("ix_refs_value", "value"),
)
Table(
    "sync_state", V1,
    Column("source", String(16), primary_key=True),
    Column("origin", String(512), primary_key=True),
    Column("category", String(32), primary_key=True),
    Column("cursor", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Table(
    "sync_runs", V1,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(16), nullable=False),
    Column("origin", Text, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(16), nullable=False),
    Column("fetched", Integer, nullable=False, default=0),
    Column("new", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("deleted", Integer, nullable=False, default=0),
    Column("errors", Integer, nullable=False, default=0),
    Column("first_at", DateTime(timezone=True)),
    Column("last_at", DateTime(timezone=True)),
    Column("message", Text),
    Index("ix_sync_runs_source_origin", "source", "origin"),
)

V3 = MetaData()
for old in V1.tables.values():
    old.to_metadata(V3)
Index("ix_events_category_occurred_at", V3.tables["events"].c.category, V3.tables["events"].c.occurred_at)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
JIRA = "https://jira.example"
CURSOR = CursorKey("jira", JIRA, "issues")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no store in it yet, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'glassbox.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def scratch() -> Iterator[Store]:
    """Today's store (in memory) holding events, refs, a cursor and a sync run: what old stores get copied."""
    store = open_store("sqlite://")
    store.write([ticket_event(n) for n in range(30)], cursor=(CURSOR, "2026-11-02T09:29"))
    run = store.start_run("jira", JIRA)
    store.finish_run(run, status="ok", fetched=30, counts=WriteCounts(new=30), first_at=T0,
                     last_at=T0 + timedelta(minutes=29), message=None)
    yield store
    store.engine.dispose()


def old_store(url: str, tables: MetaData, version: int, rows_from: Store) -> Engine:
    """A store as ``version`` created it (``tables``), holding ``rows_from``'s rows in its columns."""
    engine = make_engine(url)
    with engine.begin() as conn, rows_from.engine.connect() as source:
        tables.create_all(conn)
        conn.execute(tables.tables["meta"].insert().values(key="schema_version", value=str(version)))
        for name in ("events", "refs", "sync_state", "sync_runs"):
            table = tables.tables[name]
            copied = [c.name for c in table.columns if (name, c.name) != ("sync_runs", "id")]  # ids: the database's
            rows = source.execute(select(*(schema.metadata.tables[name].c[c] for c in copied)))
            conn.execute(table.insert(), [dict(row) for row in rows.mappings()])
    return engine


@pytest.fixture
def v1_engine(empty_url: str, scratch: Store) -> Iterator[Engine]:
    """A store as version 1 created it, holding events, refs, a cursor and a sync run."""
    engine = old_store(empty_url, V1, 1, scratch)
    yield engine
    engine.dispose()


def ticket_event(n: int) -> Event:
    return Event(
        id=event_id("jira", JIRA, f"comment-{n}"), source="jira", origin=JIRA,
        category="comment" if n % 2 else "ticket_transition", occurred_at=T0 + timedelta(minutes=n),
        actor="carol", thread=f"CHURN-{n % 5}", title=f"event {n}", body="ünïcode body",
        refs=(Ref("ticket", f"CHURN-{n % 5}"),), labels=("internal",) if n % 7 == 0 else (),
        attrs={"n": n}, raw={"id": n},
    )


def snapshot(store: Store) -> tuple:
    """Everything a user would miss if an upgrade lost it."""
    events = store.read_events(columns=[c for c in EVENT_COLUMNS if c != "engagement"])
    refs = store.read_refs().sort_values(["event_id", "value"]).reset_index(drop=True)
    runs = store.sync_runs().drop(columns=["id", "engagement"])
    return (events.to_json(date_format="iso"), refs.to_json(), store.cursor(CURSOR),
            runs.to_json(date_format="iso"))


def version_of(engine: Engine) -> int | None:
    with engine.connect() as conn:
        return migrations.stored_version(conn)


def index_names(engine: Engine) -> dict[str, set[str]]:
    found = inspect(engine)
    present = set(found.get_table_names())  # an older store lacks the tables later versions add
    return {table: {index["name"] for index in found.get_indexes(table)} for table in schema.metadata.tables
            if table in present}


def new_store_indexes(fresh: Store, dialect: str) -> dict[str, set[str]]:
    """The indexes of a new (SQLite) store as a new store of ``dialect`` has them: SQLite's own aside."""
    found = index_names(fresh.engine)
    if dialect == "sqlite":
        return found
    return {table: names - migrations.SQLITE_ONLY_INDEXES for table, names in found.items()}


def test_every_version_has_its_upgrade_step() -> None:
    assert set(migrations.STEPS) == set(range(1, schema.SCHEMA_VERSION))


def test_version_1_store_is_upgraded_keeping_its_data(v1_engine: Engine, empty_url: str, scratch: Store) -> None:
    before = snapshot(scratch)
    upgraded = open_store(empty_url)
    assert version_of(upgraded.engine) == schema.SCHEMA_VERSION
    assert snapshot(upgraded) == before
    assert upgraded.count_events() == 30
    upgraded.engine.dispose()


def test_upgraded_store_has_the_same_tables_and_indexes_as_a_new_one(
        v1_engine: Engine, empty_url: str, tmp_path: Path) -> None:
    upgraded = open_store(empty_url)
    fresh = open_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert index_names(upgraded.engine) == new_store_indexes(fresh, upgraded.dialect)
    assert {"ix_events_engagement_category", "ix_events_engagement_thread"} <= index_names(upgraded.engine)["events"]
    assert not {"ix_events_category_occurred_at", "ix_events_thread"} & index_names(upgraded.engine)["events"]
    upgraded.engine.dispose()
    fresh.engine.dispose()


def test_upgraded_store_keeps_syncing_where_it_left_off(v1_engine: Engine, empty_url: str) -> None:
    upgraded = open_store(empty_url)
    assert upgraded.cursor(CURSOR) == "2026-11-02T09:29"
    counts = upgraded.write([ticket_event(n) for n in range(25, 35)], cursor=(CURSOR, "2026-11-02T09:34"))
    assert (counts.new, counts.updated) == (5, 0)
    assert upgraded.count_events() == 35
    upgraded.engine.dispose()


def test_failed_upgrade_leaves_the_store_as_it_was(
        v1_engine: Engine, empty_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    step_one = migrations.STEPS[1]

    def half_done(conn) -> None:
        step_one(conn)  # creates ix_events_category_occurred_at
        raise RuntimeError("disk full")

    monkeypatch.setitem(migrations.STEPS, 1, half_done)
    with pytest.raises(RuntimeError, match="disk full"):
        open_store(empty_url)
    assert version_of(v1_engine) == 1
    assert "ix_events_category_occurred_at" not in index_names(v1_engine)["events"]
    monkeypatch.undo()
    retried = open_store(empty_url)
    assert version_of(retried.engine) == schema.SCHEMA_VERSION
    retried.engine.dispose()


def test_new_store_records_the_current_version(empty_url: str) -> None:
    created = open_store(empty_url)
    assert version_of(created.engine) == schema.SCHEMA_VERSION
    created.engine.dispose()


def test_store_newer_than_the_code_is_refused_with_a_clear_message(empty_url: str) -> None:
    created = open_store(empty_url)
    with created.engine.begin() as conn:
        conn.execute(update(schema.meta).where(schema.meta.c.key == "schema_version")
                     .values(value=str(schema.SCHEMA_VERSION + 1)))
    with pytest.raises(ConfigError, match=rf"schema version {schema.SCHEMA_VERSION + 1}, newer than this Glassbox"
                                          rf" understands \({schema.SCHEMA_VERSION}\) — upgrade Glassbox"):
        open_store(empty_url)
    created.engine.dispose()


def test_cli_refuses_a_newer_store_with_one_line_and_exit_2(
        empty_url: str, write_config, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    created = open_store(empty_url)
    with created.engine.begin() as conn:
        conn.execute(update(schema.meta).values(value="99"))
    monkeypatch.setenv("GLASSBOX_DB_URL", empty_url)
    assert main(["timeline", "--config", str(write_config(""))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "schema version 99" in err[0] and err[0].startswith("error: the store at ")
    created.engine.dispose()


def test_opening_a_current_sqlite_store_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    """The dashboard opens the store while a sync holds SQLite's write lock: only the upgrade path locks."""
    url = f"sqlite:///{tmp_path / 'glassbox.db'}"
    writer = open_store(url)
    with writer.engine.begin() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        started = datetime.now(UTC)
        reader = open_store(url)
        assert reader.count_events() == 0
        assert datetime.now(UTC) - started < timedelta(seconds=5)
    reader.engine.dispose()
    writer.engine.dispose()


@pytest.mark.parametrize(("where", "index"), [  # as the store reads them: a category over a period, threads by key
    (schema.events.c.category.in_(["ticket_transition"]) & (schema.events.c.occurred_at >= T0),
     "ix_events_engagement_category"),
    (schema.events.c.thread.in_(["CHURN-5", "CHURN-7"]), "ix_events_engagement_thread"),
])
def test_one_engagements_category_or_thread_is_read_by_the_index_leading_with_both(
        tmp_path: Path, where: object, index: str) -> None:
    """Not by ``(engagement, occurred_at)``, which would walk all of the engagement's events (version 6)."""
    store = open_store(f"sqlite:///{tmp_path / 'glassbox.db'}")
    query = select(schema.events.c.id).where(schema.events.c.engagement == store.engagement, where)
    with store.engine.connect() as conn:
        compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
    assert index in plan
    store.engine.dispose()


def test_a_runs_short_commit_tags_are_read_by_their_own_index(tmp_path: Path) -> None:
    """A sync batch asks for them (which commits a run's tag may name): not a scan of every commit ref."""
    store = open_store(f"sqlite:///{tmp_path / 'glassbox.db'}")
    with store.engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT DISTINCT value FROM refs WHERE engagement = 'default'"
            " AND refs.kind = 'commit' AND length(refs.value) < 40"))
    assert "ix_refs_short_commit" in plan
    store.engine.dispose()


# -- 2 → 3: Jira tickets re-normalized from their raw payloads ---------------------------------

DRILL = "https://issues.apache.org/jira"


def drill_issues_now() -> list[Event]:
    """DRILL-38 as recorded and DRILL-1 imported without a changelog, as the connector makes them now."""
    imported = load("drill_1.json")
    imported["changelog"] = {"startAt": 0, "maxResults": 0, "total": 0, "histories": []}
    statuses = status_categories_from(load("statuses.json"))
    return [event for raw in (load("drill_38.json"), imported)
            for event in issue_to_events(raw, origin=DRILL, server=DRILL, status_categories=statuses)]


def version_2_ticket_events() -> list[Event]:
    """The same issues as version 2 stored them.

    Version 2 gave ``ticket_created`` the issue's current status and no ``ticket_resolved`` to a done
    ticket whose history has no move into done; everything else is what the connector still makes.
    """
    events = []
    for event in drill_issues_now():
        if event.category == "ticket_created":
            current = event.raw["fields"]["status"]
            event.attrs.update(status=current["name"], status_category=current["statusCategory"]["key"])
        if event.category == "ticket_resolved" and "resolutiondate" in event.attrs:
            continue
        events.append(event)
    return events


def test_version_2_store_gets_ticket_figures_from_the_created_status_and_resolutiondate(empty_url: str) -> None:
    old = open_store(empty_url)
    with old.engine.begin() as conn:
        conn.execute(update(schema.meta).where(schema.meta.c.key == "schema_version").values(value="2"))
    old.write(version_2_ticket_events(), cursor=(CursorKey("jira", DRILL, "issues"), "2015-03-09T22:43:56+00:00"))
    before = timeline_of(old)
    assert latency.ticket_pickup(before, Config().team).empty  # the bug: created "Closed"
    assert latency.ticket_lead(before, Config().team)["ended_at"].isna().sum() == 1  # DRILL-1 never resolves
    old.engine.dispose()

    upgraded = open_store(empty_url)
    assert version_of(upgraded.engine) == schema.SCHEMA_VERSION
    after = timeline_of(upgraded)
    team = Config().team
    pickup = latency.ticket_pickup(after, team)
    # DRILL-38: created 02:04:42.952 in Open, In Progress at 17:43:46.087 = 15 h 39 min 3.135 s
    assert pickup["thread"].tolist() == ["DRILL-38"]
    assert round(float(pickup.loc[0, "hours"]), 2) == 15.65
    lead = latency.ticket_lead(after, team).set_index("thread")
    # DRILL-1: created 2012-09-05T16:34:55.991Z, resolutiondate 2014-05-28T22:58:39.042Z:
    # 630 days 6 h 23 min 43.051 s = 15126.40 h
    assert round(float(lead.loc["DRILL-1", "hours"]), 2) == 15126.40
    assert latency.ticket_cycle(after, team)["thread"].tolist() == ["DRILL-38"]  # DRILL-1 never in progress
    created = after.loc[after["category"] == "ticket_created"].set_index("thread")["attrs"]
    assert created["DRILL-38"]["status"] == "Open" and created["DRILL-1"]["status"] == "Resolved"
    assert upgraded.cursor(CursorKey("jira", DRILL, "issues")) == "2015-03-09T22:43:56+00:00"
    refs = upgraded.read_refs()
    assert "DRILL-1" in set(refs.loc[refs["event_id"] == resolved_event_id(DRILL, load("drill_1.json")), "value"])
    resynced = upgraded.write(drill_issues_now())  # what the next sync sends changes nothing
    assert (resynced.new, resynced.updated) == (0, 0)
    upgraded.engine.dispose()


def timeline_of(store: Store) -> pd.DataFrame:
    return load_timeline(store, Config())


# -- 3 → 4: one store for a workspace, every row an engagement's ----------------------------------

@pytest.fixture
def v3_engine(empty_url: str, scratch: Store) -> Iterator[Engine]:
    """A store as version 3 (the last before workspaces) left it, holding one engagement's rows."""
    engine = old_store(empty_url, V3, 3, scratch)
    yield engine
    engine.dispose()


def test_version_3_store_becomes_the_engagement_that_wrote_it(
        v3_engine: Engine, empty_url: str, scratch: Store) -> None:
    before = snapshot(scratch)
    upgraded = open_store(empty_url, "acme")
    assert version_of(upgraded.engine) == schema.SCHEMA_VERSION
    assert snapshot(upgraded) == before  # events, refs, the cursor and the run, all acme's now
    with upgraded.engine.connect() as conn:
        for table in ("events", "refs", "sync_state", "sync_runs"):
            owners = conn.execute(select(schema.metadata.tables[table].c.engagement).distinct()).scalars().all()
            assert owners == ["acme"], table
    other = upgraded.scoped("globex")
    assert other.count_events() == 0 and other.cursor(CURSOR) is None and other.sync_runs().empty
    upgraded.engine.dispose()


def test_upgraded_version_3_store_matches_a_new_one_and_resyncs_nothing(
        v3_engine: Engine, empty_url: str, tmp_path: Path) -> None:
    upgraded = open_store(empty_url, "acme")
    fresh = open_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert index_names(upgraded.engine) == new_store_indexes(fresh, upgraded.dialect)
    keys = {name: inspect(upgraded.engine).get_pk_constraint(name) for name in ("events", "refs", "sync_state")}
    assert keys["events"]["constrained_columns"] == ["engagement", "id"]
    assert keys["sync_state"]["constrained_columns"] == ["engagement", "source", "origin", "category"]
    again = upgraded.write([ticket_event(n) for n in range(30)])  # content hashes survive the move
    assert (again.new, again.updated) == (0, 0)
    assert upgraded.start_run("jira", JIRA) > 1  # PostgreSQL's id sequence still follows the copied runs
    upgraded.engine.dispose()
    fresh.engine.dispose()


def test_version_3_store_with_rows_is_refused_when_nobody_says_whose_they_are(
        v3_engine: Engine, empty_url: str) -> None:
    with pytest.raises(ConfigError, match="written before workspaces.*--engagement ID"):
        open_store(empty_url, "acme", owns_legacy_rows=False)
    assert version_of(v3_engine) == 3


def test_two_engagements_sharing_a_repository_keep_their_own_rows(empty_url: str) -> None:
    acme = open_store(empty_url, "acme")
    globex = acme.scoped("globex")
    shared = [ticket_event(n) for n in range(10)]
    assert acme.write(shared, cursor=(CURSOR, "acme-cursor")).new == 10
    assert globex.write(shared[:4], cursor=(CURSOR, "globex-cursor")).new == 4  # not "already stored"
    assert globex.write([], [Tombstone(shared[0].id)]).deleted == 1  # globex's copy only
    assert (acme.count_events(), acme.cursor(CURSOR), len(acme.read_refs())) == (10, "acme-cursor", 10)
    assert (globex.count_events(), globex.cursor(CURSOR), len(globex.read_refs())) == (3, "globex-cursor", 3)
    acme.engine.dispose()
