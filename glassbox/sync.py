"""Pulls every configured source into the store, one source at a time, each on its own.

Events are written in batches; a batch and the cursor it advances commit in one transaction (see
:class:`glassbox.events.Checkpoint`). A source that fails is recorded as a failed sync run with a
one-line message (bounded and cleaned by :func:`glassbox.redaction.one_line`, whatever the source
answered); what it wrote before failing stays, and the next source still runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from glassbox.config import Config
from glassbox.errors import ConfigError, GlassboxError
from glassbox.events import Checkpoint, Event, Tombstone
from glassbox.redaction import QUOTE_LIMIT, one_line
from glassbox.sources import SourceSpec, build_connector, configured_sources, known_names
from glassbox.store import CursorKey, Store, WriteCounts

if TYPE_CHECKING:
    from connectors.base import Connector

log = logging.getLogger(__name__)

BATCH_SIZE = 2000  # events per transaction: fewer commits, bounded memory


@dataclass
class SyncSummary:
    """What one source's sync did; also recorded in the ``sync_runs`` table."""

    label: str
    fetched: int = 0
    counts: WriteCounts = field(default_factory=WriteCounts)
    first_at: datetime | None = None
    last_at: datetime | None = None
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        """The progress line the CLI prints for this source."""
        if self.error:
            return self.error if self.error.startswith(self.label) else f"{self.label}: {self.error}"
        c = self.counts
        return (f"{self.label}: {self.fetched} fetched, {c.new} new, {c.updated} updated, "
                f"{c.deleted} removed in {self.seconds:.1f}s")


class _Batch:
    """Events, tombstones and the newest checkpoint not yet written."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.tombstones: list[Tombstone] = []
        self.cursor: str | None = None

    def __len__(self) -> int:
        return len(self.events) + len(self.tombstones)


def sync_connector(connector: Connector, store: Store, batch_size: int = BATCH_SIZE) -> SyncSummary:
    """Sync every category of one connector; never raises for the source's own failures."""
    summary = SyncSummary(label=connector.label)
    run_id = store.start_run(connector.source, connector.origin)
    started = time.monotonic()
    try:
        for category in connector.categories:
            _sync_category(connector, category, store, summary, batch_size)
    except GlassboxError as exc:
        summary.error = one_line(str(exc))
    except Exception as exc:  # a connector bug must not stop the other sources
        log.debug("unexpected failure syncing %s", connector.label, exc_info=True)
        summary.error = one_line(f"unexpected {type(exc).__name__}: {one_line(str(exc), QUOTE_LIMIT)}"
                                 " — please report this")
    summary.seconds = time.monotonic() - started
    store.finish_run(run_id, status="ok" if summary.ok else "failed", fetched=summary.fetched,
                     counts=summary.counts, first_at=summary.first_at, last_at=summary.last_at,
                     message=summary.error)
    return summary


def _sync_category(connector: Connector, category: str, store: Store, summary: SyncSummary, batch_size: int) -> None:
    key = CursorKey(connector.source, connector.origin, category)
    batch = _Batch()

    def flush() -> None:
        cursor = (key, batch.cursor) if batch.cursor is not None else None
        summary.counts.add(store.write(batch.events, batch.tombstones, cursor))
        batch.__init__()

    for item in connector.fetch(category, store.cursor(key)):
        if isinstance(item, Checkpoint):
            batch.cursor = item.cursor
            flush()
            continue
        if isinstance(item, Tombstone):
            batch.tombstones.append(item)
        else:
            summary.fetched += 1
            summary.first_at = min(summary.first_at or item.occurred_at, item.occurred_at)
            summary.last_at = max(summary.last_at or item.occurred_at, item.occurred_at)
            batch.events.append(item)
        if len(batch) >= batch_size:
            flush()
    flush()


def sync_sources(config: Config, store: Store, only: str | None = None,
                 report: Callable[[SyncSummary], None] | None = None) -> list[SyncSummary]:
    """Sync each configured source in turn (``only`` limits them); returns one summary per source.

    Missing secrets are checked for every selected source before anything runs, so a config
    mistake is reported as such (exit 2) rather than as half a sync.
    """
    specs = selected_sources(config, only)
    connectors = [build_connector(spec, config) for spec in specs]
    summaries = []
    for connector in connectors:
        summary = sync_connector(connector, store)
        if report:
            report(summary)
        summaries.append(summary)
    return summaries


def selected_sources(config: Config, only: str | None, option: str = "--only") -> list[SourceSpec]:
    """The sources ``only`` names (every one when ``None``); a name that matches none is a config error."""
    specs = configured_sources(config, only)
    if only is not None and not specs:
        names = ", ".join(known_names(configured_sources(config))) or "none configured"
        raise ConfigError(f"{config.path}: {option} {only!r} matches no configured source (known: {names})")
    return specs


def reset_sources(config: Config, store: Store, name: str) -> list[str]:
    """Clear the cursors of the sources ``name`` selects (as ``--only`` takes it), so the next sync re-fetches them.

    Events stay: the re-fetch upserts them by id. Returns one confirmation line per source.
    """
    lines = []
    for spec in selected_sources(config, name, "--reset"):
        cleared = store.clear_cursors(spec.kind, spec.origin(config))
        what = f"cleared {len(cleared)} cursor(s) ({', '.join(cleared)})" if cleared else "had no cursor"
        lines.append(f"{spec.label(config)}: {what} — the next sync re-fetches it")
    return lines

