"""Pulls every configured source into the store, one source at a time, each on its own.

Events are written in batches; a batch and the cursor it advances commit in one transaction (see
:class:`glassbox.events.Checkpoint`). A source that fails is recorded as a failed sync run with a
one-line message (bounded and cleaned by :func:`glassbox.redaction.one_line`, whatever the source
answered); what it wrote before failing stays, and the next source still runs.

A run is ``running`` until it ends ``ok``, ``failed`` or ``interrupted``. SIGINT and SIGTERM (Ctrl-C,
``systemctl stop``, a cron timeout's ``kill``) end it as ``interrupted`` and the process exits
128 + the signal's number, having released the sync lock. A process killed outright (``kill -9``,
a lost machine) cannot record anything, so its run stays ``running`` with the lock free: the next
sync, and ``doctor``, mark such runs interrupted (:func:`settle_abandoned_runs`), and the dashboard
shows them so (:func:`sync_state`). Freshness counts an interrupted run as a failure.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING

import pandas as pd

from glassbox import readmodel, schema
from glassbox.config import Config
from glassbox.errors import ConfigError, GlassboxError, SyncLocked
from glassbox.events import Checkpoint, Event, Tombstone
from glassbox.lock import sync_lock
from glassbox.redaction import QUOTE_LIMIT, one_line
from glassbox.sources import SourceSpec, build_connector, configured_sources, known_names
from glassbox.store import CursorKey, Store, WriteCounts
from glassbox.sync_progress import SyncProgress

if TYPE_CHECKING:
    from connectors.base import Connector

log = logging.getLogger(__name__)

BATCH_SIZE = 2000  # events per transaction: fewer commits, bounded memory
PROGRESS_SECONDS = 30.0  # how often a running sync records how far it has come, for the dashboard
FAILED_STATES = schema.FAILED_STATES  # what freshness counts as a source failing
ABANDONED = ("interrupted: the sync process ended without recording it (killed, or its machine stopped)"
             " — the next sync resumes from the last saved batch")


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived during a sync. A ``KeyboardInterrupt``, so SIGTERM unwinds exactly as
    Ctrl-C does: the run is recorded, the transaction in flight rolls back, the lock is released."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def interruptible() -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM raise :class:`Interrupted` (Python's default for
    SIGTERM would end the process without unwinding, leaving the run ``running``)."""
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(signum)

    previous = {signum: signal.signal(signum, interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


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
        self.reset()

    def reset(self) -> None:
        """Start afresh with new (not emptied) lists, so what was handed to the store stays intact."""
        self.events: list[Event] = []
        self.tombstones: list[Tombstone] = []
        self.cursor: str | None = None

    def __len__(self) -> int:
        return len(self.events) + len(self.tombstones)


class _Watch:
    """Passes each fetched item's count to the watcher, and to the store's run row every
    :data:`PROGRESS_SECONDS` (the dashboard's Sources panel shows a running sync's count)."""

    def __init__(self, store: Store, run_id: int, label: str, progress: SyncProgress | None) -> None:
        self.store, self.run_id, self.label, self.progress = store, run_id, label, progress
        self.recorded = time.monotonic()

    def item(self, category: str, fetched: int) -> None:
        if self.progress is not None:
            self.progress.advanced(self.label, category, fetched)
        if time.monotonic() - self.recorded >= PROGRESS_SECONDS:
            self.store.record_progress(self.run_id, fetched)
            self.recorded = time.monotonic()


def sync_connector(connector: Connector, store: Store, batch_size: int = BATCH_SIZE,
                   progress: SyncProgress | None = None) -> SyncSummary:
    """Sync every category of one connector; never raises for the source's own failures."""
    summary = SyncSummary(label=connector.label)
    run_id = store.start_run(connector.source, connector.origin)
    started = time.monotonic()
    watch = _Watch(store, run_id, connector.label, progress)
    if progress is not None:
        progress.source_started(connector.label)
    try:
        for category in connector.categories:
            _sync_category(connector, category, store, summary, batch_size, watch)
    except GlassboxError as exc:
        summary.error = one_line(str(exc))
    except Exception as exc:  # a connector bug must not stop the other sources
        log.debug("unexpected failure syncing %s", connector.label, exc_info=True)
        summary.error = one_line(f"unexpected {type(exc).__name__}: {one_line(str(exc), QUOTE_LIMIT)}"
                                 " — please report this")
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: record it, then let the process end
        name = str(exc) if isinstance(exc, Interrupted) else "SIGINT"
        _finish(store, run_id, summary, started, "interrupted",
                f"interrupted ({name}) — what was synced so far is kept; the next sync resumes")
        raise
    _finish(store, run_id, summary, started, "ok" if summary.ok else "failed", summary.error)
    return summary


def _finish(store: Store, run_id: int, summary: SyncSummary, started: float, status: str,
            message: str | None) -> None:
    summary.seconds = time.monotonic() - started
    store.finish_run(run_id, status=status, fetched=summary.fetched, counts=summary.counts,
                     first_at=summary.first_at, last_at=summary.last_at, message=message)


def _sync_category(connector: Connector, category: str, store: Store, summary: SyncSummary, batch_size: int,
                   watch: _Watch) -> None:
    key = CursorKey(connector.source, connector.origin, category)
    batch = _Batch()

    def flush() -> None:
        cursor = (key, batch.cursor) if batch.cursor is not None else None
        summary.counts.add(store.write(batch.events, batch.tombstones, cursor))
        batch.reset()

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
            watch.item(category, summary.fetched)
        if len(batch) >= batch_size:
            flush()
    flush()


def sync_sources(config: Config, store: Store, only: str | None = None,
                 report: Callable[[SyncSummary], None] | None = None,
                 progress: SyncProgress | None = None) -> list[SyncSummary]:
    """Sync each configured source in turn (``only`` limits them); returns one summary per source.

    Missing secrets are checked for every selected source before anything runs, so a config
    mistake is reported as such (exit 2) rather than as half a sync. ``progress`` is told of every
    item as it arrives and of each source's summary line (:mod:`glassbox.sync_progress`).
    """
    specs = selected_sources(config, only)
    connectors = [build_connector(spec, config) for spec in specs]
    return sync_connectors(config, store, connectors, report=report, progress=progress)


def sync_connectors(config: Config, store: Store, connectors: list[Connector],
                    report: Callable[[SyncSummary], None] | None = None,
                    progress: SyncProgress | None = None) -> list[SyncSummary]:
    """Sync ``connectors`` in turn into ``store`` with ``config``'s read model kept current: every
    batch in its transaction, and at the end what only the sync's end derives (a rebuild after
    batches too large to update one by one, the week's run figures)."""
    readmodel.attach(store, config)  # every batch keeps the read model current in its transaction
    readmodel.ensure_current(store, config)
    summaries = []
    for connector in connectors:
        summary = sync_connector(connector, store, progress=progress)
        if progress is not None:
            progress.source_finished(connector.label, summary.line())
        if report:
            report(summary)
        summaries.append(summary)
    readmodel.ensure_current(store, config)
    return summaries


def settle_abandoned_runs(store: Store, *, lock_held: bool = False) -> int:
    """Record runs left ``running`` by a sync that died as interrupted, unless a sync is running now.

    ``lock_held``: the caller holds the sync lock (the sync itself), so no run can be in progress.
    Without it the lock is taken for the update; a store whose lock cannot be taken here (a sync
    running, a read-only folder) is left as it is. Returns how many runs were settled.
    """
    if lock_held:
        return _settle(store)
    try:
        with sync_lock(store):
            return _settle(store)
    except SyncLocked:
        return 0
    except OSError as exc:  # no write access to the lock file's folder: only the sync's user can settle
        log.debug("cannot take the sync lock to settle abandoned runs: %s", exc)
        return 0


def _settle(store: Store) -> int:
    settled = store.interrupt_running_runs(ABANDONED)
    if settled:
        log.info("marked %d sync run(s) left running by a process that died as interrupted", settled)
    return settled


def sync_state(runs: pd.DataFrame, running_now: bool) -> str:
    """One source's state from its runs, newest first: ``never``, ``ok``, ``running``, ``failed`` or
    ``interrupted``. A ``running`` run with no sync holding the lock (``running_now`` false) was
    abandoned — interrupted, even before a sync or ``doctor`` records it so."""
    if runs.empty:
        return "never"
    status = str(runs.iloc[0]["status"])
    if status == "running" and not running_now:
        return "interrupted"
    return status


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

