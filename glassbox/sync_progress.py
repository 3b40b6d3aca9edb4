"""How far a long sync has come, for whoever is waiting on it.

A first sync of a real GitHub history makes one request per pull request for its reviews, at 5,000
requests an hour: it runs for hours, and a command that prints one line per source *when the source
is done* looks hung all that time. On a terminal, :class:`TerminalProgress` keeps one live row per
source (rich's progress display): the category being fetched, the items so far, the time spent, and
a rate-limit wait with the time it ends (the connectors say so through ``connectors.base.log_wait``).
Without one (cron, a systemd timer, a CI log) a live display would be noise, so :class:`LineProgress`
writes one line per source about once a minute. Both end each source with its summary line. The
dashboard learns the same figures from the running sync's row in the store
(:meth:`glassbox.store.Store.record_progress`).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TextIO

from glassbox.redaction import redact

if TYPE_CHECKING:
    from rich.progress import TaskID

LINE_INTERVAL = 60.0  # seconds between two progress lines of one source without a terminal


class SyncProgress(Protocol):
    """What a sync tells its watcher; every method is cheap enough to call once per item."""

    def source_started(self, label: str) -> None: ...

    def advanced(self, label: str, category: str, fetched: int) -> None: ...

    def source_finished(self, label: str, line: str) -> None: ...

    def step(self, line: str) -> None:
        """A long command's next step (the demo build: repository, tracking store, sync)."""

    def close(self) -> None: ...


class LineProgress:
    """A line per source about every :data:`LINE_INTERVAL` seconds, and its summary line at the end."""

    def __init__(self, write: Callable[[str], None], *, interval: float = LINE_INTERVAL,
                 clock: Callable[[], float] = time.monotonic, prefix: str = "") -> None:
        self._write, self._interval, self._clock, self._prefix = write, interval, clock, prefix
        self._started: dict[str, float] = {}
        self._last: dict[str, float] = {}

    def source_started(self, label: str) -> None:
        self._started[label] = self._last[label] = self._clock()

    def advanced(self, label: str, category: str, fetched: int) -> None:
        now = self._clock()
        if now - self._last.get(label, now) < self._interval:
            return
        self._last[label] = now
        minutes = max(now - self._started.get(label, now), 1e-9) / 60
        self._write(redact(f"{self._prefix}{label}: {category} — {fetched:,} items so far"
                           f" ({fetched / minutes:,.0f}/min)"))

    def source_finished(self, label: str, line: str) -> None:
        self._write(redact(self._prefix + line))

    def step(self, line: str) -> None:
        self._write(redact(self._prefix + line))

    def close(self) -> None:
        return None


class TerminalProgress:
    """rich's live display on standard error: one row per source, its summary line printed above it."""

    def __init__(self, stream: TextIO | None = None, prefix: str = "") -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._display = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TextColumn("[dim]{task.fields[category]}"),
            TextColumn("{task.completed:,} items"), TimeElapsedColumn(),
            console=Console(file=stream or sys.stderr), transient=True)
        self._tasks: dict[str, TaskID] = {}
        self._prefix = prefix
        self._waits = _WaitWatcher(self.waiting)
        logging.getLogger().addHandler(self._waits)
        self._display.start()

    def waiting(self, label: str, until: datetime) -> None:
        """A source waits (a rate limit): its row says until when, in local time."""
        task = self._tasks.get(label)
        if task is not None:
            self._display.update(task, category=f"waiting until {until.astimezone():%H:%M:%S}")

    def source_started(self, label: str) -> None:
        self._tasks[label] = self._display.add_task(redact(self._prefix + label), total=None, category="starting")

    def advanced(self, label: str, category: str, fetched: int) -> None:
        task = self._tasks.get(label)
        if task is not None:
            self._display.update(task, completed=fetched, category=category)

    def source_finished(self, label: str, line: str) -> None:
        task = self._tasks.pop(label, None)
        if task is not None:
            self._display.remove_task(task)
        self._display.console.print(redact(self._prefix + line), markup=False, highlight=False)

    def step(self, line: str) -> None:
        self._display.console.print(redact(self._prefix + line), markup=False, highlight=False)

    def close(self) -> None:
        logging.getLogger().removeHandler(self._waits)
        self._display.stop()


class _WaitWatcher(logging.Handler):
    """Hears the connectors' waits (:func:`connectors.base.log_wait`) and passes them to the display."""

    def __init__(self, tell: Callable[[str, datetime], None]) -> None:
        from connectors.base import WAIT_RECORD  # connectors are imported lazily by the core

        super().__init__(logging.WARNING)
        self._attribute, self._tell = WAIT_RECORD, tell

    def emit(self, record: logging.LogRecord) -> None:
        wait = getattr(record, self._attribute, None)
        if wait is not None:
            self._tell(*wait)


@contextmanager
def working(stream: TextIO, what: str) -> Iterator[None]:
    """While a long command works (a report over a large store): a spinner with the time spent on a
    terminal, nothing without one — cron mails what a command prints, and a report's output is the report."""
    if not stream.isatty():
        yield
        return
    from rich.console import Console

    with Console(file=stream).status(what):
        yield


def progress_for(stream: TextIO, prefix: str = "") -> SyncProgress:
    """The live display on a terminal, a line a minute otherwise; ``prefix`` (an engagement's id) starts
    every line."""
    if stream.isatty():
        return TerminalProgress(stream, prefix)
    return LineProgress(lambda line: print(line, file=stream, flush=True), prefix=prefix)
