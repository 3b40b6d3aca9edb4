"""Creating a new store and upgrading an older one to :data:`glassbox.schema.SCHEMA_VERSION`.

Each entry of :data:`STEPS` upgrades a store from version ``n`` to ``n + 1``; ``prepare`` runs the
missing ones in order, in one transaction with the version it records, so an upgrade that fails
leaves the store as it was. A store written by a newer Glassbox is refused rather than silently
misread.

Every command and every dashboard replica opens the store, often at the same moment (a timer's
sync, a report, three app replicas starting). A store already at the current version is only read;
creating or upgrading one first takes a lock — a transaction-scoped advisory lock on PostgreSQL, the
write lock (``BEGIN IMMEDIATE``) on SQLite — and looks again, so exactly one process does the work.

A step takes only the connection. What a step needs from the caller — whose rows a store from before
workspaces holds — travels in ``conn.info[LEGACY_ENGAGEMENT]``, set by :func:`prepare`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC

from sqlalchemy import Connection, Engine, MetaData, Table, func, inspect, select, text
from sqlalchemy.schema import CreateTable

from glassbox import schema
from glassbox.errors import ConfigError
from glassbox.events import Event, Ref
from glassbox.notify.sent import notifications_sent

log = logging.getLogger(__name__)

PREPARE_LOCK_SPACE = 0x61A55B0D  # advisory-lock namespace of "creating or upgrading a glassbox store"
LEGACY_ENGAGEMENT = "glassbox_legacy_engagement"  # conn.info key: the engagement a pre-workspace store's rows get


_UNSCOPED_INDEXES = ("ix_events_thread", "ix_events_category_occurred_at")  # replaced in 5 → 6
_NEW_INDEXES = {"events": ("ix_events_engagement_thread", "ix_events_engagement_category", "ix_events_labelled"),
                "refs": ("ix_refs_short_commit",)}
SQLITE_ONLY_INDEXES = frozenset({"ix_events_labelled"})


def _add_category_time_index(conn: Connection) -> None:
    """1 → 2: the metrics, reports and client view read one category at a time over a period."""
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_events_category_occurred_at ON events (category, occurred_at)"))


TICKET_CATEGORIES = ("ticket_created", "ticket_transition", "ticket_resolved")


def _restate_jira_tickets(conn: Connection) -> None:
    """2 → 3: ticket figures from the status a ticket was created in, and ``resolutiondate``.

    Stores synced before version 3 gave ``ticket_created`` the issue's *current* status (so every
    ticket that had moved on had no pickup) and no ``ticket_resolved`` to a done ticket whose history
    records no move into done. Each stored issue is normalized again from the raw payloads the store
    kept (:func:`connectors.jira.normalize.restate_ticket`); nothing needs fetching again. Waiting statuses are
    config, not store, so a status counts as waiting if a stored event already marked it so.
    """
    # imported here: the store imports this module, and the connector the store
    from connectors.jira.normalize import restate_ticket
    from glassbox.store import Store

    _add_engagements(conn)  # the rewrite below goes through today's Store, which needs today's tables
    stored = _stored_jira_tickets(conn)
    waiting: dict[str, set[str]] = {}
    for event in (e for events in stored.values() for e in events):
        name = event.attrs.get("to_status" if event.category == "ticket_transition" else "status")
        if event.category != "ticket_resolved" and event.attrs.get("waiting") and name:
            waiting.setdefault(event.origin, set()).add(name)
    rewritten = []
    for (origin, _), events in stored.items():
        created = [e for e in events
                   if e.category == "ticket_created" and isinstance(e.raw, dict) and "fields" in e.raw]
        if not created:
            continue
        transitions = sorted((e for e in events if e.category == "ticket_transition" and isinstance(e.raw, dict)),
                             key=lambda e: (e.occurred_at, str(e.raw.get("id"))))
        restated, resolved = restate_ticket(created[0], transitions, waiting.get(origin, ()))
        rewritten.extend([restated, *([resolved] if resolved is not None else [])])
    counts = Store(conn.engine, engagement=_legacy_engagement(conn)).write_in(conn, rewritten)
    log.info("re-normalized %d stored Jira tickets: %d events updated, %d added",
             sum(e.category == "ticket_created" for e in rewritten), counts.updated, counts.new)


def _stored_jira_tickets(conn: Connection) -> dict[tuple[str, str], list[Event]]:
    """Every stored Jira ticket event with its refs, by (origin, ticket key)."""
    table = schema.events
    refs: dict[str, list[Ref]] = {}
    query = (select(schema.refs).join(table, table.c.id == schema.refs.c.event_id)
             .where(table.c.source == "jira", table.c.category.in_(TICKET_CATEGORIES)))
    for ref in conn.execute(query).mappings():
        refs.setdefault(ref["event_id"], []).append(Ref(ref["kind"], ref["value"]))
    tickets: dict[tuple[str, str], list[Event]] = {}
    rows = conn.execute(select(table).where(table.c.source == "jira", table.c.category.in_(TICKET_CATEGORIES)))
    for row in rows.mappings():
        moment = row["occurred_at"]
        tickets.setdefault((row["origin"], row["thread"]), []).append(Event(
            id=row["id"], source=row["source"], origin=row["origin"], category=row["category"],
            occurred_at=moment if moment.tzinfo else moment.replace(tzinfo=UTC),
            actor=row["actor"], thread=row["thread"], title=row["title"], url=row["url"], body=row["body"],
            actor_ids=tuple(row["actor_ids"] or ()), refs=tuple(refs.get(row["id"], ())),
            labels=tuple(row["labels"] or ()), attrs=dict(row["attrs"] or {}), raw=row["raw"],
        ))
    return tickets


_KEYED_TABLES = (schema.events, schema.refs, schema.sync_state)  # engagement joins their primary key
_V3_INDEXES = ("ix_events_occurred_at", "ix_events_thread", "ix_events_source_category",
               "ix_events_category_occurred_at", "ix_refs_value")


def _add_engagements(conn: Connection) -> None:
    """3 → 4: every row belongs to an engagement (SPEC §6), the engagement that wrote the store.

    ``events``, ``refs`` and ``sync_state`` get ``engagement`` as the first column of their primary
    key, which neither database can add in place on SQLite: each is rebuilt (created under a new
    name, filled, swapped in, its indexes made again), the same statements on both databases.
    ``sync_runs`` keeps its key and gains the column. A store that already has the column (the
    2 → 3 step calls this first) is left alone.
    """
    if any(column["name"] == "engagement" for column in inspect(conn).get_columns("events")):
        return
    engagement = _legacy_engagement(conn)
    for name in _V3_INDEXES:
        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
    for table in _KEYED_TABLES:
        _rebuild_with_engagement(conn, table, engagement)
    conn.execute(text("ALTER TABLE sync_runs ADD COLUMN engagement VARCHAR(64) NOT NULL DEFAULT ''"))
    conn.execute(schema.sync_runs.update().values(engagement=engagement))
    for table in (*_KEYED_TABLES, schema.sync_runs):
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _rebuild_with_engagement(conn: Connection, table: Table, engagement: str) -> None:
    staging = table.to_metadata(MetaData(), name=f"{table.name}_v4")
    conn.execute(CreateTable(staging))
    columns = ", ".join(column.name for column in table.columns if column.name != "engagement")
    conn.execute(text(f"INSERT INTO {staging.name} (engagement, {columns}) SELECT :engagement, {columns}"
                      f" FROM {table.name}"), {"engagement": engagement})
    conn.execute(text(f"DROP TABLE {table.name}"))
    conn.execute(text(f"ALTER TABLE {staging.name} RENAME TO {table.name}"))
    if conn.dialect.name == "postgresql":  # the key keeps the staging table's name otherwise
        conn.execute(text(f"ALTER TABLE {table.name} RENAME CONSTRAINT {staging.name}_pkey TO {table.name}_pkey"))


def _legacy_engagement(conn: Connection) -> str:
    """Whose rows a store from before workspaces holds; a store with rows and no answer is refused."""
    engagement = conn.info.get(LEGACY_ENGAGEMENT)
    if engagement is not None:
        return str(engagement)
    if conn.execute(select(func.count()).select_from(schema.events)).scalar():
        raise ConfigError(f"the store at {conn.engine.url.render_as_string(hide_password=True)} was written before"
                          " workspaces, by one engagement: run one command with --engagement ID to say whose"
                          " events it holds")
    return ""


def _add_read_model_notes_and_ledger(conn: Connection) -> None:
    """4 → 5: the read model's tables (:mod:`glassbox.readmodel`), the week's note (SPEC §5) and the
    ledger of sent notifications (SPEC §8, :mod:`glassbox.notify.sent`).

    The read model is left without a fingerprint: deriving its rows needs the config (people's sides,
    working hours, internal labels), which opening a store does not have; a store without a
    fingerprint is stale, so the first command that has the config and may write — ``sync``,
    ``report``, ``rebuild`` — runs the full rebuild.
    """
    schema.rm_waits.create(conn, checkfirst=True)
    schema.week_notes.create(conn, checkfirst=True)
    notifications_sent.create(conn, checkfirst=True)


def _add_daily_counts(conn: Connection) -> None:
    """5 → 6: the read model's per-day counts (``rm_days``), which the Portfolio and pages sum by period.

    As in 4 → 5, the rows need the config: every engagement's fingerprint is forgotten, so the read
    model is stale and the first command that has the config and may write rebuilds both tables.
    """
    schema.rm_days.create(conn, checkfirst=True)
    conn.execute(schema.meta.delete().where(schema.meta.c.key.like("readmodel:%")))
    _lead_indexes_with_the_engagement(conn)


def _lead_indexes_with_the_engagement(conn: Connection) -> None:
    """Every read names its engagement: an index on ``thread`` or ``category`` alone lost to the one on
    ``(engagement, occurred_at)`` in SQLite's planner, which then walked all of an engagement's events
    to find one thread's (0.2 s a lookup at 100k events). And the few short commit tags (a run's) and
    labelled events get indexes of their own, instead of a scan of every commit ref or ticket per
    sync batch. Part of 5 → 6."""
    for name in _UNSCOPED_INDEXES:
        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
    for table in (schema.events, schema.refs):
        for index in table.indexes:
            if index.name in _NEW_INDEXES[table.name] and (index.name not in SQLITE_ONLY_INDEXES
                                                           or conn.dialect.name == "sqlite"):
                index.create(conn, checkfirst=True)


def _add_runs(conn: Connection) -> None:
    """6 → 7: the read model's runs (``rm_runs``), which pages and reports read instead of every run event.

    As in 4 → 5, the rows need the config: every engagement's fingerprint is forgotten, so the read
    model is stale and the first command that has the config and may write rebuilds it.
    """
    schema.rm_runs.create(conn, checkfirst=True)
    conn.execute(schema.meta.delete().where(schema.meta.c.key.like("readmodel:%")))


def _add_kpi_runs(conn: Connection) -> None:
    """7 → 8: each KPI's story (``rm_kpi_runs``) and ``rm_runs`` indexed by start and by parent, so a
    period reads its own runs, their families and the best before it.

    Filled like ``rm_runs`` in 6 → 7: the read model goes stale, and the next command that has the
    config and may write rebuilds it.
    """
    schema.rm_kpi_runs.create(conn, checkfirst=True)
    for index in schema.rm_runs.indexes:
        if index.name in ("ix_rm_runs_started", "ix_rm_runs_parent"):
            index.create(conn, checkfirst=True)
    conn.execute(schema.meta.delete().where(schema.meta.c.key.like("readmodel:%")))


def _add_week_runs(conn: Connection) -> None:
    """8 → 9: the current week's run figures (``rm_week_runs``), which a Portfolio row reads instead of
    the week's runs, ``ix_rm_waits_ended`` extended by ``abandoned_at`` (the waits still open), and
    ``sync_runs`` indexed by source and status (how each source stands: ``Store.sync_runs``).

    Filled like ``rm_runs`` in 6 → 7: the read model goes stale, and the next command that has the
    config and may write rebuilds it.
    """
    schema.rm_week_runs.create(conn, checkfirst=True)
    conn.execute(text("DROP INDEX IF EXISTS ix_rm_waits_ended"))
    next(index for index in schema.rm_waits.indexes if index.name == "ix_rm_waits_ended").create(conn)
    for index in schema.sync_runs.indexes:
        if index.name in ("ix_sync_runs_latest", "ix_sync_runs_since"):
            index.create(conn, checkfirst=True)
    conn.execute(schema.meta.delete().where(schema.meta.c.key.like("readmodel:%")))


def _add_event_changes(conn: Connection) -> None:
    """9 → 10: ``event_changes``, where each write marks the earliest day it changed. Empty at first:
    what was cached before the upgrade is keyed by the store's version too, and the first write after
    it marks its day."""
    schema.event_changes.create(conn, checkfirst=True)


def _add_jira_tickets_and_latest_change_indexes(conn: Connection) -> None:
    """10 → 11: ``ix_events_jira_tickets``, from which the Jira projects are read (``Store.jira_tickets``),
    and ``ix_event_changes_latest`` (``Store.last_change``), now that changes are marked by the
    quarter-hour. The day marks already written start quarter-hours too: they stay as they are."""
    for table, name in ((schema.events, "ix_events_jira_tickets"), (schema.event_changes, "ix_event_changes_latest")):
        next(index for index in table.indexes if index.name == name).create(conn, checkfirst=True)


STEPS: dict[int, Callable[[Connection], None]] = {
    1: _add_category_time_index,
    2: _restate_jira_tickets,
    3: _add_engagements,
    4: _add_read_model_notes_and_ledger,
    5: _add_daily_counts,
    6: _add_runs,
    7: _add_kpi_runs,
    8: _add_week_runs,
    9: _add_event_changes,
    10: _add_jira_tickets_and_latest_change_indexes,
}


def stored_version(conn: Connection) -> int | None:
    """The schema version recorded in ``meta``, or ``None`` for an empty database."""
    if not inspect(conn).has_table("meta"):
        return None
    value = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")).scalar()
    return int(value) if value is not None else None


def prepare(engine: Engine, legacy_engagement: str | None = None) -> None:
    """Create the tables of a new store, or bring an existing one up to the current version.

    ``legacy_engagement``: the engagement whose rows a store from before workspaces holds (the
    single config's id); ``None`` when the caller cannot say (a workspace of several).
    """
    with engine.connect() as conn:
        version = stored_version(conn)
    _refuse_newer(engine, version)
    if version == schema.SCHEMA_VERSION:
        return
    with engine.begin() as conn:
        conn.info[LEGACY_ENGAGEMENT] = legacy_engagement
        try:
            _serialize(conn)
            version = stored_version(conn)  # another process may have done it while we waited
            _refuse_newer(engine, version)
            if version is None:
                _create(conn)
            else:
                _upgrade(conn, version)
        finally:
            conn.info.pop(LEGACY_ENGAGEMENT, None)


def _serialize(conn: Connection) -> None:
    """Make this transaction the only one creating or upgrading the store until it ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(current_schema()))"),
                     {"space": PREPARE_LOCK_SPACE})
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # also makes the DDL below part of the transaction


def _create(conn: Connection) -> None:
    log.info("creating a new store at schema version %d", schema.SCHEMA_VERSION)
    schema.metadata.create_all(conn)
    conn.execute(schema.meta.insert().values(key="schema_version", value=str(schema.SCHEMA_VERSION)))


def _upgrade(conn: Connection, version: int) -> None:
    for step in range(version, schema.SCHEMA_VERSION):
        log.info("upgrading the store from schema version %d to %d", step, step + 1)
        STEPS[step](conn)
        conn.execute(schema.meta.update().where(schema.meta.c.key == "schema_version")
                     .values(value=str(step + 1)))


def _refuse_newer(engine: Engine, version: int | None) -> None:
    if version is not None and version > schema.SCHEMA_VERSION:
        raise ConfigError(
            f"the store at {engine.url.render_as_string(hide_password=True)} has schema version {version},"
            f" newer than this Glassbox understands ({schema.SCHEMA_VERSION}) — upgrade Glassbox"
            " (pip install -U) before using this store"
        )
