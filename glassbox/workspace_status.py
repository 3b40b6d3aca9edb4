"""Each engagement of a workspace at a glance: its sources, its events and how its last sync went.

The ``engagements`` command prints these rows (SPEC §6) and the dashboard's Portfolio page shows the
same last sync, so "when, ok or failed" is decided here once: the newest run of every configured
source, failed when any of them failed or was interrupted (as freshness counts it).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from glassbox.config import Config
from glassbox.lock import sync_running
from glassbox.sources import configured_sources, source_keys
from glassbox.store import Store
from glassbox.sync import FAILED_STATES, sync_state


def last_sync(store: Store, config: Config) -> dict[str, Any] | None:
    """``{"at": ISO time, "ok": bool}`` of the engagement's last sync, or ``None`` before its first."""
    runs = store.sync_runs(source_keys(config))
    running_now = sync_running(store)
    latest, states = [], []
    for spec in configured_sources(config):
        mine = runs.loc[(runs["source"] == spec.kind) & (runs["origin"] == spec.origin(config))]
        if mine.empty:
            continue
        newest = mine.iloc[0]
        latest.append(newest["finished_at"] if pd.notna(newest["finished_at"]) else newest["started_at"])
        states.append(sync_state(mine, running_now))
    if not latest:
        return None
    return {"at": max(latest).isoformat(), "ok": not FAILED_STATES.intersection(states)}


def engagement_rows(store: Store, configs: list[Config]) -> list[dict[str, Any]]:
    """SPEC §6's ``engagements --format json``: ``id, name, sources, events, last_sync`` per engagement."""
    rows = []
    for config in configs:
        scoped = store.scoped(config.engagement_id)
        rows.append({
            "id": config.engagement_id,
            "name": config.engagement.name,
            "sources": [spec.label(config) for spec in configured_sources(config)],
            "events": scoped.count_events(),
            "last_sync": last_sync(scoped, config),
        })
    return rows


def rows_table(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned plain-text table (``engagements --format table``)."""
    header = ("ID", "NAME", "SOURCES", "EVENTS", "LAST SYNC")
    lines = [header]
    for row in rows:
        sync = row["last_sync"]
        when = "never" if sync is None else \
            f"{sync['at'][:16].replace('T', ' ')} UTC {'ok' if sync['ok'] else 'FAILED'}"
        lines.append((row["id"], row["name"], str(len(row["sources"])), str(row["events"]), when))
    widths = [max(len(line[index]) for line in lines) for index in range(len(header))]
    return "".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() + "\n"
                   for line in lines)
