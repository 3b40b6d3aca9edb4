"""The chassis every connector is built on (modelled on Perceval's backends and tap-github's streams).

A connector is built from one config section, answers ``check()`` for ``doctor``, and streams
``fetch(category, since)``: events, interleaved with :class:`Checkpoint` items whenever all events
so far may be committed together with a new cursor. The cursor is an opaque string the connector
alone interprets; the sync stores it beside the events in the same transaction.

What is the same for every source lives here, once: refusing an unknown category and dispatching
to ``fetch_<category>`` (Perceval's ``Backend.fetch``), a parent category's listing handed to its
child (tap-github's ``parent_stream_type``), the one :class:`RetryPolicy` each client hands to its
library's own retry machinery, and the one HTTP-status-to-error mapping (:func:`status_error`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from logging import Logger
from typing import Any, ClassVar

from glassbox.errors import AuthError, NotFound, RateLimited, SourceError, SourceUnavailable
from glassbox.events import Checkpoint, Event, Tombstone

__all__ = [
    "AuthError",
    "Connector",
    "FetchItem",
    "Listing",
    "NotFound",
    "RateLimited",
    "RetryPolicy",
    "SourceError",
    "SourceUnavailable",
    "error_class",
    "status_error",
]

FetchItem = Event | Checkpoint | Tombstone


@dataclass(frozen=True)
class RetryPolicy:
    """How hard every client tries: retries per request, the longest single wait, backoff base, timeout (s).

    Each client passes it to its library's own retry machinery (jira's ``ResilientSession``,
    PyGithub's ``GithubRetry``, MLflow's HTTP retry settings) and adds only what that lacks.
    """

    max_retries: int = 3
    max_retry_delay: float = 60.0
    backoff: float = 1.0
    timeout: float = 30.0


def error_class(status: int | None) -> type[SourceError]:
    """The error type an HTTP status means, the same for every source.

    401/403 are credentials, 404 a wrong name or path, 429 a rate limit, 5xx (or no answer at all)
    an unavailable source; anything else is a plain :class:`SourceError` (e.g. a rejected query).
    """
    if status in (401, 403):
        return AuthError
    if status == 404:
        return NotFound
    if status == 429:
        return RateLimited
    if status is None or status >= 500:
        return SourceUnavailable
    return SourceError


def status_error(status: int | None, message: str) -> SourceError:
    """``message`` as the error type :func:`error_class` gives ``status``."""
    return error_class(status)(message)


@dataclass
class Listing:
    """What a parent category listed (down to ``since``), handed once to the child category after it.

    ``records`` are the parent's child contexts (e.g. the few fields of each pull request its reviews
    need), added by the parent's fetch method as it lists.
    """

    since: str | None
    records: list[dict[str, Any]] = field(default_factory=list)


class Connector(ABC):
    """One configured source (a repository, a Jira site, a tracking server).

    Subclasses set ``source`` (``github``, ``git``, ``jira``, ``mlflow``), ``categories`` (the
    cursor families they fetch separately, in the order a sync runs them) and a ``fetch_<category>``
    method for each, and set ``origin`` in ``__init__``. A category listed in ``parents`` (child ->
    parent) is fetched with the parent's :class:`Listing` from the same sync when there is one:
    the parent's method takes ``listing`` and fills it, the child's takes ``parent``.
    """

    source: ClassVar[str]
    categories: ClassVar[tuple[str, ...]]
    parents: ClassVar[dict[str, str]] = {}
    origin: str

    @property
    def label(self) -> str:
        """How errors and progress lines name this source: ``jira (https://acme.atlassian.net)``."""
        return f"{self.source} ({self.origin})"

    @abstractmethod
    def check(self) -> str:
        """Reach the source and verify its credentials; return a short description of what answered.

        Raises a :class:`SourceError` subclass with an actionable message otherwise.
        """

    def errors(self) -> AbstractContextManager[None]:
        """Where a connector turns its library's exceptions into :class:`SourceError` lines; none by default."""
        return nullcontext()

    def fetch(self, category: str, since: str | None) -> Iterator[FetchItem]:
        """Everything in ``category`` changed since the cursor ``since`` (all of it when ``None``)."""
        if category not in self.categories:
            raise ValueError(f"{self.label}: unknown category {category!r} (known: {', '.join(self.categories)})")
        method: Callable[..., Iterator[FetchItem]] = getattr(self, f"fetch_{category}")
        listings: dict[str, Listing] = self.__dict__.setdefault("_listings", {})
        parent = self.parents.get(category)
        with self.errors():
            if parent is not None:
                yield from method(since, parent=listings.pop(parent, None))
            elif category in self.parents.values():
                listings.pop(category, None)
                listing = Listing(since)
                yield from method(since, listing=listing)
                listings[category] = listing  # only a complete listing is handed on
            else:
                yield from method(since)


WAIT_RECORD = "glassbox_wait"  # the attribute a waiting record carries: (source label, when the wait ends)


def log_wait(logger: Logger, label: str, reason: str, seconds: float) -> None:
    """Say that ``label`` waits ``seconds`` before retrying (a rate limit, a server error), with when it
    ends: a sync can wait for many minutes, and whoever watches should see until when. The record
    carries :data:`WAIT_RECORD`, so a live progress display can show the wait in the source's row."""
    until = datetime.now(UTC) + timedelta(seconds=seconds)
    logger.warning("%s: %s, waiting %.0f s (until %s UTC) before retrying", label, reason, seconds,
                   f"{until:%H:%M:%S}", extra={WAIT_RECORD: (label, until)})
