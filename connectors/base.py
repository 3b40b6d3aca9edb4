"""The small contract every connector fulfils (modelled on Perceval's backends).

A connector is built from one config section, answers ``check()`` for ``doctor``, and streams
``fetch(category, since)``: events, interleaved with :class:`Checkpoint` items whenever all events
so far may be committed together with a new cursor. The cursor is an opaque string the connector
alone interprets; the sync stores it beside the events in the same transaction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar

from glassbox.errors import AuthError, NotFound, RateLimited, SourceError, SourceUnavailable
from glassbox.events import Checkpoint, Event, Tombstone

__all__ = [
    "AuthError",
    "Connector",
    "FetchItem",
    "NotFound",
    "RateLimited",
    "SourceError",
    "SourceUnavailable",
]

FetchItem = Event | Checkpoint | Tombstone


class Connector(ABC):
    """One configured source (a repository, a Jira site, a tracking server).

    Subclasses set ``source`` (``github``, ``git``, ``jira``, ``mlflow``) and ``categories`` (the
    cursor families they fetch separately, e.g. ``("commits", "pulls", "comments")``), and set
    ``origin`` in ``__init__``: the repository, site or tracking URI the events come from.
    """

    source: ClassVar[str]
    categories: ClassVar[tuple[str, ...]]
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

    @abstractmethod
    def fetch(self, category: str, since: str | None) -> Iterator[FetchItem]:
        """Everything in ``category`` changed since the cursor ``since`` (all of it when ``None``)."""
