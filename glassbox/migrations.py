"""Creating a new store and upgrading an older one to :data:`glassbox.schema.SCHEMA_VERSION`.

Each entry of :data:`STEPS` upgrades a store from version ``n`` to ``n + 1``; ``prepare`` runs the
missing ones in order, in one transaction with the version it records, so an upgrade that fails
leaves the store as it was. A store written by a newer Glassbox is refused rather than silently
misread.

Every command and every dashboard replica opens the store, often at the same moment (a timer's
sync, a report, three app replicas starting). A store already at the current version is only read;
creating or upgrading one first takes a lock — a transaction-scoped advisory lock on PostgreSQL, the
write lock (``BEGIN IMMEDIATE``) on SQLite — and looks again, so exactly one process does the work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Connection, Engine, inspect, select, text

from glassbox import schema
from glassbox.errors import ConfigError

log = logging.getLogger(__name__)

PREPARE_LOCK_SPACE = 0x61A55B0D  # advisory-lock namespace of "creating or upgrading a glassbox store"


def _add_category_time_index(conn: Connection) -> None:
    """1 → 2: the metrics, reports and client view read one category at a time over a period."""
    index = next(i for i in schema.events.indexes if i.name == "ix_events_category_occurred_at")
    index.create(conn, checkfirst=True)


STEPS: dict[int, Callable[[Connection], None]] = {
    1: _add_category_time_index,
}


def stored_version(conn: Connection) -> int | None:
    """The schema version recorded in ``meta``, or ``None`` for an empty database."""
    if not inspect(conn).has_table("meta"):
        return None
    value = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")).scalar()
    return int(value) if value is not None else None


def prepare(engine: Engine) -> None:
    """Create the tables of a new store, or bring an existing one up to the current version."""
    with engine.connect() as conn:
        version = stored_version(conn)
    _refuse_newer(engine, version)
    if version == schema.SCHEMA_VERSION:
        return
    with engine.begin() as conn:
        _serialize(conn)
        version = stored_version(conn)  # another process may have done it while we waited
        _refuse_newer(engine, version)
        if version is None:
            _create(conn)
        else:
            _upgrade(conn, version)


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
