"""The one envelope every source's activity is normalized into.

Connectors turn raw API payloads into :class:`Event` objects; the store persists them; metrics,
the dashboard and reports read them back. Keeping a single envelope (as Perceval does) is what lets
a commit, a Jira transition and an MLflow run sit on one timeline and reference each other.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeGuard

SOURCES = ("github", "git", "jira", "mlflow")

CATEGORIES = (
    "commit",
    "pull_request_opened",
    "pull_request_merged",
    "pull_request_closed",
    "review",
    "comment",
    "ticket_created",
    "ticket_transition",
    "ticket_resolved",
    "run_started",
    "run_finished",
    "model_version_created",
    "model_alias_moved",
)

RefKind = Literal["ticket", "commit"]

# The events whose labels (and, for a ticket, project) decide whether their thread is internal: hidden
# from the client with every event on or naming it (glassbox.visibility).
LABELLED_CATEGORIES = ("ticket_created", "pull_request_opened")
DEFAULT_TICKET_PATTERN = r"\b[A-Z][A-Z0-9]+-\d+\b"
SHA = re.compile(r"[0-9a-fA-F]{7,40}")  # a commit SHA or a prefix of one: the only definition, match it whole
FULL_SHA = 40  # digits of a whole SHA-1 commit id; fewer make a prefix (a short tag)
_CONTINUED = re.compile(r"-\d")


@dataclass(frozen=True)
class Ref:
    """Something an event mentions or belongs to: a ticket key or a commit SHA (full or 7+ prefix)."""

    kind: RefKind
    value: str


@dataclass
class Event:
    """One thing that happened, in the shape of SPEC §3 plus what the dashboard needs.

    ``actor`` is the raw primary identity (login, email, Jira accountId); ``actor_ids`` lists every
    identity the source knows for that person so the ``[[people]]`` config can match any of them.
    Resolution to a person's name and side happens when reading, so editing the config never
    requires a re-sync. ``attrs`` holds normalized category-specific fields (statuses, branches,
    review state, run metrics); ``raw`` keeps the source payload as received.
    """

    id: str
    source: str
    origin: str
    category: str
    occurred_at: datetime
    actor: str | None
    thread: str
    title: str
    url: str | None = None
    body: str | None = None
    actor_ids: tuple[str, ...] = ()
    refs: tuple[Ref, ...] = ()
    labels: tuple[str, ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict)
    raw: Any = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}")
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown category {self.category!r}")
        if self.occurred_at.tzinfo is None:
            raise ValueError(f"event {self.id} has a naive timestamp; connectors must give aware ones")
        self.occurred_at = self.occurred_at.astimezone(UTC)


@dataclass(frozen=True)
class Checkpoint:
    """Yielded by a connector when every event before it is safe to commit with this cursor.

    The sync writes pending events and moves the cursor in one transaction, so an interrupted sync
    resumes from the last checkpoint and loses nothing.
    """

    cursor: str


@dataclass(frozen=True)
class Tombstone:
    """Yielded by a connector when an event it produced earlier no longer exists at the source."""

    event_id: str


def event_id(source: str, origin: str, native_id: str) -> str:
    """A stable id from where an event comes from and its id there (as Perceval's ``uuid()``)."""
    return hashlib.sha1(f"{source}\x1f{origin}\x1f{native_id}".encode()).hexdigest()


def commit_event_id(sha: str) -> str:
    """Commits are identified by SHA alone, so a local clone and GitHub yield the same event."""
    return hashlib.sha1(f"commit\x1f{sha.lower()}".encode()).hexdigest()


def run_event_ids(origin: str, run_id: str) -> tuple[str, str]:
    """The ids of MLflow run ``run_id``'s ``run_started`` and ``run_finished`` events: what a deleted
    run's tombstones name, and how the read model finds a run's other event when a write touches one."""
    return (event_id("mlflow", origin, f"{run_id}:started"), event_id("mlflow", origin, f"{run_id}:finished"))


def find_ticket_keys(*texts: str | None, pattern: str = DEFAULT_TICKET_PATTERN) -> list[str]:
    """Ticket keys mentioned in any of ``texts``, in order of first appearance, without duplicates.

    A match followed by ``-`` and a digit is the start of something longer (``CVE-2017-5638``), not
    a key: taking ``CVE-2017`` would cut it short, whatever the pattern.
    """
    compiled = re.compile(pattern)
    seen: dict[str, None] = {}
    for text in texts:
        if text:
            for match in compiled.finditer(text):
                if not _CONTINUED.match(text, match.end()):
                    seen.setdefault(match.group(0), None)
    return list(seen)


def ticket_refs(*texts: str | None, pattern: str = DEFAULT_TICKET_PATTERN) -> tuple[Ref, ...]:
    """:func:`find_ticket_keys` as refs."""
    return tuple(Ref("ticket", key) for key in find_ticket_keys(*texts, pattern=pattern))


def is_sha(value: object) -> TypeGuard[str]:
    """Whether ``value`` is, as a whole, 7 to 40 hex digits (a trailing newline is not part of a SHA)."""
    return isinstance(value, str) and SHA.fullmatch(value) is not None


def commit_ref(sha: str | None) -> tuple[Ref, ...]:
    """A commit ref for ``sha`` when it looks like a SHA (7 to 40 hex digits), else nothing."""
    if is_sha(sha):
        return (Ref("commit", sha.lower()),)
    return ()


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; refuses naive datetimes instead of guessing their zone."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC)
