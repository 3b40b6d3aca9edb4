"""Commits from a local clone, read with one streamed ``git log`` so a 30k-commit history stays cheap.

Every commit reachable from any ref (branches, remote-tracking branches, tags, HEAD) becomes a
``commit`` event whose id is :func:`glassbox.events.commit_event_id`, so the same commit seen on
GitHub is the same row. One ``git log --numstat`` process is read as a stream and each commit is
yielded as soon as its numstat block ends: never a process per commit, never the whole history in
memory. Commits are framed by NUL-separated fields, so no byte a message may contain can break the
parse; a partial clone or an unreadable object costs the line counts (None), never the commits.

Cursor strategy: the JSON list of ref tips walked last time. A re-sync walks ``new tips --not old
tips`` (passed on stdin, so thousands of refs never hit the argument limit), i.e. only commits that
became reachable since; tips that no longer exist (a force-push followed by gc) are dropped from
the exclusion list instead of failing the walk.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from connectors.base import Connector, FetchItem, NotFound, SourceUnavailable
from glassbox.config import Config, GitSource
from glassbox.events import (
    DEFAULT_TICKET_PATTERN,
    Checkpoint,
    Event,
    commit_event_id,
    commit_ref,
    ticket_refs,
)

log = logging.getLogger(__name__)

# Every commit is printed as a NUL, then its header fields and its raw message, each followed by a
# NUL, then what git writes after the message (numstat lines). Git cannot put a NUL in any of these
# (it refuses NUL in a commit message), so counting NUL-separated fields frames any message bytes.
_HEADER_FIELDS = ("sha", "parents", "author_name", "author_email", "authored_at",
                  "committer_name", "committer_email", "committed_at")
_PLACEHOLDERS = ("%H", "%P", "%aN", "%aE", "%aI", "%cN", "%cE", "%cI", "%B")
GIT_LOG_FORMAT = "--format=%x00" + "%x00".join(_PLACEHOLDERS) + "%x00"
GIT_LOG_ARGS = ("log", "--stdin", "--no-color", "--no-show-signature", GIT_LOG_FORMAT)
_FIELDS_PER_COMMIT = len(_PLACEHOLDERS) + 1  # the header, the message, then the numstat text
_READ_SIZE = 1 << 16


def git_log_args(*, line_counts: bool = True) -> tuple[str, ...]:
    """The ``git log`` arguments :func:`parse_git_log` reads; ``--numstat`` only with line counts."""
    return (*GIT_LOG_ARGS, "--numstat") if line_counts else GIT_LOG_ARGS


@dataclass
class GitCommitRecord:
    """One commit as parsed from ``git log``: the header fields, its message and numstat totals.

    The totals are None when the walk ran without ``--numstat`` (a partial clone, an unreadable blob):
    unknown, which is not the same as a commit that changed nothing.
    """

    header: dict[str, str]
    message: str = ""
    files_changed: int | None = None
    lines_added: int | None = None
    lines_removed: int | None = None

    def add_numstat(self, text: str) -> None:
        """Count git's ``added<TAB>removed<TAB>path`` lines; binary files show ``-`` and add no lines."""
        self.files_changed = self.lines_added = self.lines_removed = 0
        for line in text.split("\n"):
            parts = line.split("\t", 2)
            if len(parts) != 3:
                continue
            added, removed, _path = parts
            self.files_changed += 1
            self.lines_added += int(added) if added.isdigit() else 0
            self.lines_removed += int(removed) if removed.isdigit() else 0


def _nul_fields(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The NUL-separated fields of a byte stream, each as soon as its closing NUL has been read."""
    pending = bytearray()
    for chunk in chunks:
        pending += chunk
        if b"\0" not in chunk:
            continue
        *complete, rest = bytes(pending).split(b"\0")
        yield from complete
        pending = bytearray(rest)
    yield bytes(pending)


def parse_git_log(chunks: Iterable[bytes], *, line_counts: bool = True) -> Iterator[GitCommitRecord]:
    """Parse the output of ``git log`` run with :func:`git_log_args`, one commit at a time.

    ``chunks`` is the process's binary stdout in pieces of any size; undecodable bytes are replaced,
    never fatal. A commit is yielded as soon as the next one starts, never after the whole history.
    """
    fields = _nul_fields(chunks)
    next(fields, None)  # nothing precedes the first commit's leading NUL
    while True:
        block = [raw.decode("utf-8", "replace") for raw in itertools.islice(fields, _FIELDS_PER_COMMIT)]
        if len(block) < _FIELDS_PER_COMMIT:
            return
        header = dict(zip(_HEADER_FIELDS, block[:len(_HEADER_FIELDS)], strict=True))
        record = GitCommitRecord(header, message=block[len(_HEADER_FIELDS)].rstrip("\n"))
        if line_counts:
            record.add_numstat(block[-1])
        yield record


def commit_to_event(record: GitCommitRecord, *, origin: str, thread: str,
                    ticket_pattern: str = DEFAULT_TICKET_PATTERN) -> Event:
    """A ``commit`` event from one parsed record: committer time, author e-mail as the actor."""
    header = record.header
    message = record.message
    sha = header["sha"]
    committed_at = datetime.fromisoformat(header["committed_at"])
    attrs: dict[str, Any] = {
        "sha": sha,
        "parents": header["parents"].split(),
        "author_name": header["author_name"],
        "author_email": header["author_email"],
        "authored_at": header["authored_at"],
        "committer_name": header["committer_name"],
        "committer_email": header["committer_email"],
        "committed_at": header["committed_at"],
        "files_changed": record.files_changed,
        "lines_added": record.lines_added,
        "lines_removed": record.lines_removed,
    }
    actor_ids = tuple(dict.fromkeys(v for v in (header["author_email"], header["author_name"]) if v))
    return Event(
        id=commit_event_id(sha),
        source="git",
        origin=origin,
        category="commit",
        occurred_at=committed_at,
        actor=header["author_email"] or header["author_name"] or None,
        actor_ids=actor_ids,
        thread=thread,
        title=message.split("\n", 1)[0],
        body=message,
        refs=(*commit_ref(sha), *ticket_refs(message, pattern=ticket_pattern)),
        attrs=attrs,
        raw=dict(header),
    )


class GitLocalConnector(Connector):
    """Commits of one local clone (``[[git]] path``)."""

    source: ClassVar[str] = "git"
    categories: ClassVar[tuple[str, ...]] = ("commits",)

    def __init__(self, path: Path, *, origin: str | None = None,
                 ticket_pattern: str = DEFAULT_TICKET_PATTERN) -> None:
        self.path = path
        self.origin = origin or str(path)
        self.thread = path.name
        self.ticket_pattern = ticket_pattern

    @classmethod
    def from_config(cls, section: GitSource, config: Config, key: str) -> GitLocalConnector:
        return cls(config.resolve_path(section.path), origin=section.origin(config.folder),
                   ticket_pattern=config.engagement.ticket_pattern)

    def check(self) -> str:
        tips = self._tips()
        return f"git repository at {self.path} with {len(tips)} ref tip(s)"

    def fetch(self, category: str, since: str | None) -> Iterator[FetchItem]:
        if category not in self.categories:
            raise ValueError(f"{self.label}: unknown category {category!r}")
        tips = self._tips()
        seen = set(json.loads(since)) if since else set()
        if not set(tips) - seen:
            return
        exclude = self._existing(seen)
        for record in self._walk(tips, exclude):
            yield commit_to_event(record, origin=self.origin, thread=self.thread,
                                  ticket_pattern=self.ticket_pattern)
        yield Checkpoint(json.dumps(sorted(tips)))

    # -- git plumbing ------------------------------------------------------------------------

    def _git(self, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        self._ensure_repository()
        return subprocess.run(["git", "-C", str(self.path), *args], input=input_text, capture_output=True,
                              text=True, encoding="utf-8", errors="replace", check=False)

    def _ensure_repository(self) -> None:
        if shutil.which("git") is None:
            raise SourceUnavailable(f"{self.label}: the git executable was not found — install git")
        if not self.path.exists():
            raise NotFound(f"{self.label}: folder does not exist — check the [[git]] path in the config")
        if not self.path.is_dir():
            raise NotFound(f"{self.label}: not a folder — point the [[git]] path at a clone")
        probe = subprocess.run(["git", "-C", str(self.path), "rev-parse", "--git-dir"],
                               capture_output=True, text=True, check=False)
        if probe.returncode != 0:
            raise NotFound(f"{self.label}: not a git repository — point the [[git]] path at a clone")

    def _tips(self) -> list[str]:
        """The commits every ref (and a detached HEAD) points at, annotated tags peeled."""
        refs = self._git("for-each-ref", "--format=%(objecttype) %(objectname) %(*objecttype) %(*objectname)")
        if refs.returncode != 0:
            raise SourceUnavailable(f"{self.label}: git for-each-ref failed: {_first_line(refs.stderr)}")
        tips: dict[str, None] = {}
        for line in refs.stdout.splitlines():
            kind, name, peeled_kind, peeled_name = (line.split(" ") + ["", ""])[:4]
            if kind == "commit":
                tips[name] = None
            elif peeled_kind == "commit":
                tips[peeled_name] = None
        head = self._git("rev-parse", "--verify", "--quiet", "HEAD^{commit}")
        if head.returncode == 0 and head.stdout.strip():
            tips[head.stdout.strip()] = None
        return list(tips)

    def _existing(self, shas: set[str]) -> list[str]:
        """The subset of ``shas`` still present in the object store (old tips may be gone)."""
        if not shas:
            return []
        batch = self._git("cat-file", "--batch-check=%(objectname) %(objecttype)",
                          input_text="".join(f"{sha}\n" for sha in sorted(shas)))
        return [line.split(" ")[0] for line in batch.stdout.splitlines() if line.endswith(" commit")]

    def _partial_clone(self) -> bool:
        """Whether the clone was made with ``--filter`` (its blobs are fetched from the remote on demand)."""
        found = self._git("config", "--get-regexp", r"^(extensions\.partialclone|remote\..*\.partialclonefilter)$")
        return found.returncode == 0 and bool(found.stdout.strip())

    def _walk(self, tips: list[str], exclude: list[str]) -> Iterator[GitCommitRecord]:
        """Every commit of ``tips`` minus everything reachable from ``exclude``, with line counts if possible.

        Line counts need every changed blob. A partial clone would fetch each one from its remote (a
        real one ran for over 300 s without storing a commit), so it is walked without them; and when
        ``--numstat`` stops at an unreadable object, the rest of the history is walked again without
        them, so one bad object costs line counts, never the commits.
        """
        if self._partial_clone():
            log.warning("%s: partial clone — syncing commits without line counts (they would fetch every blob)",
                        self.label)
            yield from self._log(tips, exclude, line_counts=False)
            return
        seen: set[str] = set()
        try:
            for record in self._log(tips, exclude, line_counts=True):
                seen.add(record.header["sha"])
                yield record
        except SourceUnavailable as error:
            log.warning("%s; reading the rest of the history without line counts", error)
            for record in self._log(tips, exclude, line_counts=False):
                if record.header["sha"] not in seen:
                    yield record

    def _log(self, tips: list[str], exclude: list[str], *, line_counts: bool) -> Iterator[GitCommitRecord]:
        """Stream ``git log`` over ``tips`` minus everything reachable from ``exclude``."""
        revisions = "".join(f"{sha}\n" for sha in tips) + "".join(f"^{sha}\n" for sha in exclude)
        command = ["git", "-C", str(self.path), "-c", "core.quotepath=off", *git_log_args(line_counts=line_counts)]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        try:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(revisions.encode())
            process.stdin.close()
            descriptor = process.stdout.fileno()
            # The last commit is held back until git exits cleanly: when git dies while writing a
            # commit's numstat, that commit's counts are cut short and the fallback walk re-reads it.
            last: GitCommitRecord | None = None
            for record in parse_git_log(iter(lambda: os.read(descriptor, _READ_SIZE), b""), line_counts=line_counts):
                if last is not None:
                    yield last
                last = record
            errors = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
            if process.wait() != 0:
                raise SourceUnavailable(f"{self.label}: git log failed: {_first_line(errors)}")
            if last is not None:
                yield last
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["no message"])[0]
