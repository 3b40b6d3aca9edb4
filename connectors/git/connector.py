"""Commits from a local clone, read with one streamed ``git log`` so a 30k-commit history stays cheap.

Every commit reachable from any ref (branches, remote-tracking branches, tags, HEAD) becomes a
``commit`` event whose id is :func:`glassbox.events.commit_event_id`, so the same commit seen on
GitHub is the same row. One ``git log --numstat`` process is read line by line and each commit is
yielded as soon as its numstat block ends: never a process per commit, never the whole history in
memory.

Cursor strategy: the JSON list of ref tips walked last time. A re-sync walks ``new tips --not old
tips`` (passed on stdin, so thousands of refs never hit the argument limit), i.e. only commits that
became reachable since; tips that no longer exist (a force-push followed by gc) are dropped from
the exclusion list instead of failing the walk.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
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

HEADER_MARK = "\x1e"
FIELD_SEP = "\x1f"
MESSAGE_END = "\x1d"
# One header line (sha, parents, author/committer with mailmap, strict ISO times with offsets),
# the raw message, an end-of-message mark, then git's numstat lines.
GIT_LOG_FORMAT = (
    f"--format={HEADER_MARK}%H{FIELD_SEP}%P{FIELD_SEP}%aN{FIELD_SEP}%aE{FIELD_SEP}%aI"
    f"{FIELD_SEP}%cN{FIELD_SEP}%cE{FIELD_SEP}%cI%n%B{MESSAGE_END}"
)
GIT_LOG_ARGS = ("log", "--stdin", "--numstat", "--no-color", "--no-show-signature", GIT_LOG_FORMAT)
_HEADER_FIELDS = ("sha", "parents", "author_name", "author_email", "authored_at",
                  "committer_name", "committer_email", "committed_at")


@dataclass
class GitCommitRecord:
    """One commit as parsed from ``git log``: the header fields, its message and numstat totals."""

    header: dict[str, str]
    message_lines: list[str] = field(default_factory=list)
    files_changed: int = 0
    lines_added: int = 0
    lines_removed: int = 0

    @property
    def message(self) -> str:
        return "\n".join(self.message_lines).rstrip("\n")

    def add_numstat(self, line: str) -> None:
        """Count one ``added<TAB>removed<TAB>path`` line; binary files show ``-`` and add no lines."""
        added, removed, _path = line.split("\t", 2)
        self.files_changed += 1
        self.lines_added += int(added) if added.isdigit() else 0
        self.lines_removed += int(removed) if removed.isdigit() else 0


def parse_git_log(lines: Iterable[bytes | str]) -> Iterator[GitCommitRecord]:
    """Parse the output of ``git log`` run with :data:`GIT_LOG_ARGS`, one commit at a time.

    ``lines`` may be a process's binary stdout; undecodable bytes are replaced, never fatal.
    """
    record: GitCommitRecord | None = None
    in_message = False
    for raw_line in lines:
        line = raw_line.decode("utf-8", "replace") if isinstance(raw_line, bytes) else raw_line
        line = line[:-1] if line.endswith("\n") else line
        if line.startswith(HEADER_MARK):
            if record is not None:
                yield record
            record = GitCommitRecord(dict(zip(_HEADER_FIELDS, line[1:].split(FIELD_SEP), strict=True)))
            in_message = True
        elif record is None:
            continue
        elif in_message:
            if line.endswith(MESSAGE_END):
                record.message_lines.append(line[:-1])
                in_message = False
            else:
                record.message_lines.append(line)
        elif line:
            record.add_numstat(line)
    if record is not None:
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

    def _walk(self, tips: list[str], exclude: list[str]) -> Iterator[GitCommitRecord]:
        """Stream ``git log`` over ``tips`` minus everything reachable from ``exclude``."""
        revisions = "".join(f"{sha}\n" for sha in tips) + "".join(f"^{sha}\n" for sha in exclude)
        command = ["git", "-C", str(self.path), "-c", "core.quotepath=off", *GIT_LOG_ARGS]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        try:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(revisions.encode())
            process.stdin.close()
            yield from parse_git_log(process.stdout)
            errors = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
            if process.wait() != 0:
                raise SourceUnavailable(f"{self.label}: git log failed: {_first_line(errors)}")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["no message"])[0]
