"""The local git connector against real repositories built here with ``git`` and fixed dates."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.git.connector import GitLocalConnector, git_log_args, parse_git_log
from glassbox.config import load_config
from glassbox.errors import NotFound
from glassbox.events import Checkpoint, Event, Ref
from glassbox.store import Store
from glassbox.sync import sync_connector

ALICE = ("Alice Nguyễn", "alice@agency.example")
ZOE = ("Zoë Ñandú", "zoe@acme.example")
BOB = ("Bob", "bob@agency.example")


class Repo:
    """A throwaway repository whose commits get the author and date the test asks for."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {**os.environ, "HOME": str(path.parent), "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C.UTF-8",
                    "GIT_AUTHOR_NAME": ALICE[0], "GIT_AUTHOR_EMAIL": ALICE[1],
                    "GIT_COMMITTER_NAME": ALICE[0], "GIT_COMMITTER_EMAIL": ALICE[1]}
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, input_text: str | None = None, env: dict[str, str] | None = None) -> str:
        return subprocess.run(["git", "-C", str(self.path), *args], check=True, capture_output=True, text=True,
                              input=input_text, env={**self.env, **(env or {})}).stdout.strip()

    def commit(self, message: str, *, author: tuple[str, str] = ALICE, when: str = "2024-03-01T10:00:00+07:00",
               files: dict[str, str | bytes] | None = None) -> str:
        for name, content in (files or {f"{len(self.git('rev-list', '--all').split())}.txt": "x\n"}).items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
            self.git("add", name)
        env = {"GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1], "GIT_AUTHOR_DATE": when,
               "GIT_COMMITTER_NAME": author[0], "GIT_COMMITTER_EMAIL": author[1], "GIT_COMMITTER_DATE": when}
        self.git("commit", "-q", "-F", "-", input_text=message, env=env)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "churn")


def events(connector: GitLocalConnector, since: str | None = None) -> tuple[list[Event], str | None]:
    """The events of one fetch and the cursor of its last checkpoint."""
    found, cursor = [], None
    for item in connector.fetch("commits", since):
        if isinstance(item, Checkpoint):
            cursor = item.cursor
        else:
            found.append(item)
    return found, cursor


def test_commit_carries_author_committer_time_offset_and_line_counts(repo: Repo) -> None:
    sha = repo.commit("CHURN-12 tune the model\n\nLonger explanation.\n", author=ZOE,
                      when="2024-03-01T10:00:00+07:00",
                      files={"model.py": "a\nb\nc\n", "notes/ré sumé.md": "one\n", "logo.png": b"\x89PNG\x00\x01"})
    [event], _ = events(GitLocalConnector(repo.path))
    assert event.source == "git" and event.category == "commit"
    assert event.occurred_at == datetime(2024, 3, 1, 3, 0, tzinfo=UTC)
    assert event.attrs["committed_at"] == "2024-03-01T10:00:00+07:00"
    assert event.actor == "zoe@acme.example" and "Zoë Ñandú" in event.actor_ids
    assert event.attrs["author_name"] == "Zoë Ñandú"
    assert (event.attrs["files_changed"], event.attrs["lines_added"], event.attrs["lines_removed"]) == (3, 4, 0)
    assert event.title == "CHURN-12 tune the model"
    assert event.body == "CHURN-12 tune the model\n\nLonger explanation."
    assert event.thread == "churn"
    assert Ref("commit", sha) in event.refs and Ref("ticket", "CHURN-12") in event.refs


def test_every_branch_and_a_merge_are_walked(repo: Repo) -> None:
    base = repo.commit("start", when="2024-03-01T09:00:00+00:00")
    repo.git("switch", "-q", "-c", "feature")
    feature = repo.commit("feature work", author=BOB, when="2024-03-01T10:00:00+00:00")
    repo.git("switch", "-q", "main")
    main = repo.commit("main work", when="2024-03-01T11:00:00+00:00")
    repo.git("switch", "-q", "-c", "unmerged")
    unmerged = repo.commit("never merged", author=ZOE, when="2024-03-01T11:30:00+00:00")
    repo.git("switch", "-q", "main")
    env = {"GIT_COMMITTER_DATE": "2024-03-01T12:00:00+00:00", "GIT_AUTHOR_DATE": "2024-03-01T12:00:00+00:00"}
    repo.git("merge", "-q", "--no-ff", "-m", "Merge feature", "feature", env=env)
    merge = repo.git("rev-parse", "HEAD")

    found, _ = events(GitLocalConnector(repo.path))

    by_sha = {e.attrs["sha"]: e for e in found}
    assert set(by_sha) == {base, feature, main, unmerged, merge}
    assert by_sha[merge].attrs["parents"] == [main, feature]
    assert by_sha[base].attrs["parents"] == []
    assert {e.actor for e in found} == {ALICE[1], BOB[1], ZOE[1]}


def test_ten_thousand_line_message_is_kept_whole(repo: Repo) -> None:
    lines = ["Huge generated changelog"] + [f"line {n}" for n in range(1, 9_999)] + ["Refs CHURN-99"]
    repo.commit("\n".join(lines) + "\n")
    [event], _ = events(GitLocalConnector(repo.path))
    assert event.body is not None and len(event.body.split("\n")) == 10_000
    assert event.title == "Huge generated changelog"
    assert Ref("ticket", "CHURN-99") in event.refs


def test_empty_repository_yields_nothing(repo: Repo) -> None:
    connector = GitLocalConnector(repo.path)
    assert list(connector.fetch("commits", None)) == []
    assert "0 ref tip(s)" in connector.check()


def test_missing_path_is_not_found_with_a_clear_message(tmp_path: Path) -> None:
    connector = GitLocalConnector(tmp_path / "nowhere")
    with pytest.raises(NotFound, match=r"^git \(.*nowhere\): folder does not exist — check the \[\[git\]\] path"):
        list(connector.fetch("commits", None))


def test_plain_folder_is_not_a_repository(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(NotFound, match=r"not a git repository — point the \[\[git\]\] path at a clone"):
        GitLocalConnector(tmp_path / "plain").check()


def test_resync_walks_only_new_commits(repo: Repo) -> None:
    repo.commit("first", when="2024-03-01T09:00:00+00:00")
    connector = GitLocalConnector(repo.path)
    _, cursor = events(connector)
    assert cursor is not None and len(json.loads(cursor)) == 1

    assert events(connector, cursor) == ([], None)

    repo.git("switch", "-q", "-c", "topic")
    newer = repo.commit("second on a new branch", when="2024-03-02T09:00:00+00:00")
    found, next_cursor = events(connector, cursor)
    assert [e.attrs["sha"] for e in found] == [newer]
    assert next_cursor is not None and newer in json.loads(next_cursor)


def test_resync_after_history_was_rewritten_and_pruned(repo: Repo) -> None:
    """A pruned old tip cannot be excluded, so its surviving ancestors are walked (and upserted) again."""
    kept = repo.commit("kept", when="2024-03-01T09:00:00+00:00")
    repo.commit("rewritten away", when="2024-03-01T10:00:00+00:00")
    connector = GitLocalConnector(repo.path)
    _, cursor = events(connector)
    repo.git("reset", "-q", "--hard", "HEAD~1")
    repo.git("reflog", "expire", "--expire=now", "--all")
    repo.git("gc", "-q", "--prune=now")
    replacement = repo.commit("replacement", when="2024-03-01T11:00:00+00:00")

    found, _ = events(connector, cursor)

    assert [e.attrs["sha"] for e in found] == [replacement, kept]


def test_parser_yields_each_commit_before_reading_the_rest(repo: Repo) -> None:
    repo.commit("one", when="2024-03-01T09:00:00+00:00")
    repo.commit("two", when="2024-03-01T10:00:00+00:00")
    stdout = subprocess.run(["git", "-C", str(repo.path), *git_log_args()], input=b"HEAD\n",
                            capture_output=True, check=True).stdout
    output = [stdout[index:index + 16] for index in range(0, len(stdout), 16)]
    consumed: list[bytes] = []

    def chunks() -> Iterator[bytes]:
        for chunk in output:
            consumed.append(chunk)
            yield chunk

    first = next(parse_git_log(chunks()))
    assert first.message == "two"
    assert len(consumed) < len(output)


def test_message_with_the_old_separator_bytes_parses_whole(repo: Repo) -> None:
    """Control bytes a message may carry (\\x1e at a line start, \\x1d at a line end) are just text."""
    message = "Fix CHURN-7\n\n\x1eheader-like line\x1f with a unit separator\nends like a mark\x1d\n\x1d\n"
    first = repo.commit(message, when="2024-03-01T09:00:00+00:00", files={"a.txt": "1\n2\n"})
    second = repo.commit("next one", when="2024-03-01T10:00:00+00:00", files={"b.txt": "3\n"})

    found, cursor = events(GitLocalConnector(repo.path))

    by_sha = {e.attrs["sha"]: e for e in found}
    assert set(by_sha) == {first, second} and cursor is not None
    assert by_sha[first].body == message.rstrip("\n")
    assert by_sha[first].title == "Fix CHURN-7"
    assert by_sha[first].attrs["lines_added"] == 2 and by_sha[second].attrs["lines_added"] == 1


def test_partial_clone_syncs_without_line_counts_and_fetches_nothing(repo: Repo, tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A ``--filter=blob:none`` clone: --numstat would fetch every blob, so the walk skips line counts."""
    shas = [repo.commit(f"CHURN-{n} step", when=f"2024-03-0{n}T09:00:00+00:00", files={f"{n}.txt": f"{n}\n" * n})
            for n in range(1, 4)]
    bare = tmp_path / "origin.git"
    repo.git("clone", "-q", "--bare", str(repo.path), str(bare))
    repo.git("-C", str(bare), "config", "uploadpack.allowFilter", "true")
    partial = tmp_path / "partial"
    repo.git("clone", "-q", "--filter=blob:none", "--no-checkout", f"file://{bare}", str(partial))
    missing_before = _missing_objects(repo, partial)
    assert missing_before  # the blobs really are absent

    with caplog.at_level("WARNING", logger="connectors.git.connector"):
        found, cursor = events(GitLocalConnector(partial))

    assert sorted(e.attrs["sha"] for e in found) == sorted(shas) and cursor is not None
    assert {(e.attrs["files_changed"], e.attrs["lines_added"], e.attrs["lines_removed"]) for e in found} == {
        (None, None, None)}
    assert [e.title for e in found] == ["CHURN-3 step", "CHURN-2 step", "CHURN-1 step"]
    assert _missing_objects(repo, partial) == missing_before  # no blob was fetched
    warnings = [r.getMessage() for r in caplog.records if "partial clone" in r.getMessage()]
    assert len(warnings) == 1 and "without line counts" in warnings[0]


def _missing_objects(repo: Repo, clone: Path) -> set[str]:
    listed = repo.git("-C", str(clone), "rev-list", "--objects", "--all", "--missing=print")
    return {line[1:] for line in listed.splitlines() if line.startswith("?")}


def test_unreadable_blob_costs_only_line_counts(repo: Repo, caplog: pytest.LogCaptureFixture) -> None:
    """A blob lost from the object store stops ``--numstat``; the history is still read whole."""
    first = repo.commit("first", when="2024-03-01T09:00:00+00:00", files={"a.txt": "a\n"})
    second = repo.commit("second", when="2024-03-02T09:00:00+00:00", files={"b.txt": "lost\nblob\n"})
    third = repo.commit("third", when="2024-03-03T09:00:00+00:00", files={"c.txt": "c\nc\nc\n"})
    blob = repo.git("rev-parse", f"{second}:b.txt")
    (repo.path / ".git" / "objects" / blob[:2] / blob[2:]).unlink()

    with caplog.at_level("WARNING", logger="connectors.git.connector"):
        found, cursor = events(GitLocalConnector(repo.path))

    by_sha = {e.attrs["sha"]: e for e in found}
    assert sorted(by_sha) == sorted([first, second, third]) and cursor is not None
    assert len(found) == 3  # none twice: the second walk skips what the first one yielded
    assert by_sha[third].attrs["lines_added"] == 3  # read by --numstat before it stopped (newest first)
    assert by_sha[second].attrs["lines_added"] is None
    assert any("without line counts" in r.getMessage() for r in caplog.records)


def test_sync_twice_stores_each_commit_once(repo: Repo, store: Store) -> None:
    start = datetime(2024, 3, 1, 9, tzinfo=UTC)
    for n in range(12):
        repo.commit(f"CHURN-{n} step {n}", author=(ALICE, BOB, ZOE)[n % 3],
                    when=(start + timedelta(hours=n)).isoformat())
    connector = GitLocalConnector(repo.path)

    first = sync_connector(connector, store, batch_size=5)
    second = sync_connector(connector, store)

    assert first.ok and (first.fetched, first.counts.new) == (12, 12)
    assert second.ok and (second.fetched, second.counts.new, second.counts.updated) == (0, 0, 0)
    frame = store.read_events()
    assert len(frame) == frame["id"].nunique() == 12


def test_from_config_resolves_the_path_and_ticket_pattern(repo: Repo, write_config) -> None:
    repo.commit("ops#42 fix the cron job")
    config = load_config(write_config('[engagement]\nticket_pattern = "ops#\\\\d+"\n[[git]]\npath = "churn"\n'))

    connector = GitLocalConnector.from_config(config.git[0], config, "git[0]")

    assert connector.origin == str(repo.path.resolve())
    [event], _ = events(connector)
    assert Ref("ticket", "ops#42") in event.refs
