"""Creating a new store and upgrading an older one to :data:`glassbox.schema.SCHEMA_VERSION`.

Each entry of :data:`STEPS` upgrades a store from version ``n`` to ``n + 1`` inside one transaction;
``prepare`` runs the missing ones in order. A store written by a newer Glassbox is refused rather
than silently misread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Connection, Engine, inspect, select

from glassbox import schema
from glassbox.errors import ConfigError

log = logging.getLogger(__name__)

STEPS: dict[int, Callable[[Connection], None]] = {}


def stored_version(conn: Connection) -> int | None:
    """The schema version recorded in ``meta``, or ``None`` for an empty database."""
    if not inspect(conn).has_table("meta"):
        return None
    value = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")).scalar()
    return int(value) if value is not None else None


def prepare(engine: Engine) -> None:
    """Create the tables of a new store, or bring an existing one up to the current version."""
    with engine.begin() as conn:
        version = stored_version(conn)
        if version is None:
            schema.metadata.create_all(conn)
            conn.execute(schema.meta.insert().values(key="schema_version", value=str(schema.SCHEMA_VERSION)))
            return
        if version > schema.SCHEMA_VERSION:
            raise ConfigError(
                f"the store at {engine.url.render_as_string(hide_password=True)} has schema version {version},"
                f" newer than this Glassbox understands ({schema.SCHEMA_VERSION}) — upgrade Glassbox"
            )
        for step in range(version, schema.SCHEMA_VERSION):
            log.info("upgrading the store from schema version %d to %d", step, step + 1)
            STEPS[step](conn)
            conn.execute(schema.meta.update().where(schema.meta.c.key == "schema_version")
                         .values(value=str(step + 1)))
