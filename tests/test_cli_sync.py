"""``sync`` exit statuses for schedulers: 0 all synced, 1 a source failed or a sync is already running,
2 bad config — each problem one line on stderr, and the lock never outlives a sync.

The sources here are :class:`ScriptedConnector`, a connector on the real base class registered in
place of ``[[git]]``: these tests pin the command's contract, not a source's client (each
connector's own tests drive its real client). The store, the lock and the CLI are the real ones.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from connectors.base import Connector, SourceUnavailable
from glassbox import sources
from glassbox.cli import main
from glassbox.events import Checkpoint, Event, Ref, commit_event_id
from glassbox.lock import sync_lock
from glassbox.store import Store

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


class ScriptedConnector(Connector):
    """A ``[[git]]`` source whose path says what it does: ``ok-*`` syncs 3 commits, ``broken-*``
    commits one batch and then loses its server."""

    source = "git"
    categories = ("commits",)

    def __init__(self, origin: str) -> None:
        self.origin = origin

    @classmethod
    def from_config(cls, section, config, key: str) -> ScriptedConnector:
        return cls(section.path)

    def check(self) -> str:
        return "scripted"

    def fetch(self, category: str, since: str | None) -> Iterator[Event | Checkpoint]:
        for n in range(3):
            sha = hashlib.sha1(f"{self.origin} {n}".encode()).hexdigest()
            yield Event(id=commit_event_id(sha), source="git", origin=self.origin, category="commit",
                        occurred_at=T0 + timedelta(minutes=n), actor="dev@team.example", thread="churn",
                        title=f"CHURN-{n} commit", refs=(Ref("commit", sha),))
            if n == 0:
                yield Checkpoint(cursor="1")
                if self.origin.startswith("broken"):
                    raise SourceUnavailable("the server stopped answering — check it is up, then sync again")
        yield Checkpoint(cursor="3")


@pytest.fixture
def sync_config(store: Store, write_config, monkeypatch: pytest.MonkeyPatch):
    """Write a config with the given ``[[git]]`` paths, its store given by ``GLASSBOX_DB_URL``."""
    monkeypatch.setitem(sources.CONNECTOR_CLASSES, "git", (__name__, "ScriptedConnector"))
    monkeypatch.setenv("GLASSBOX_DB_URL", store.engine.url.render_as_string(hide_password=False))

    def write(*paths: str) -> str:
        return str(write_config("".join(f'[[git]]\npath = "{path}"\n' for path in paths)))

    return write


def sync(config: str, *extra: str) -> int:
    return main(["sync", "--config", config, *extra])


def stderr_lines(capsys: pytest.CaptureFixture) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_sync_exits_0_when_every_source_synced(store: Store, sync_config, capsys) -> None:
    assert sync(sync_config("ok-a", "ok-b")) == 0
    lines = stderr_lines(capsys)
    assert len(lines) == 2 and all("3 fetched, 3 new" in line for line in lines)
    assert store.count_events() == 6


def test_sync_exits_1_when_a_source_failed_and_keeps_the_others(store: Store, sync_config, capsys) -> None:
    assert sync(sync_config("broken-a", "ok-b")) == 1
    lines = stderr_lines(capsys)
    assert lines[0] == "git (broken-a): the server stopped answering — check it is up, then sync again"
    assert "3 new" in lines[1]
    assert store.count_events() == 4  # the failed source's committed batch is kept
    runs = store.sync_runs().set_index("origin")["status"].to_dict()
    assert runs == {"broken-a": "failed", "ok-b": "ok"}


@pytest.mark.parametrize(("config_text", "extra", "named"), [
    ("[[git]]\npath = 'ok'\ncolour = 'red'\n", (), "colour"),
    ("[[git]]\npath = 'ok'\n", ("--only", "jira"), "--only 'jira'"),
])
def test_sync_exits_2_on_bad_config(store: Store, sync_config, write_config, capsys,
                                    config_text: str, extra: tuple[str, ...], named: str) -> None:
    assert sync(str(write_config(config_text)), *extra) == 2
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0]
    assert store.count_events() == 0


def test_overlapping_sync_is_refused_with_one_line_and_exit_1(store: Store, sync_config, capsys) -> None:
    with sync_lock(store):
        assert sync(sync_config("ok-a")) == 1
    lines = stderr_lines(capsys)
    assert len(lines) == 1
    assert lines[0].startswith("error: store ") and "another sync is already running" in lines[0]
    assert store.count_events() == 0 and store.sync_runs().empty


def test_sync_started_by_a_scheduler_while_one_runs_exits_1(store: Store, sync_config) -> None:
    """The real command in its own process, as cron or a systemd timer starts it."""
    config = sync_config()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with sync_lock(store):
        done = subprocess.run([sys.executable, "-m", "glassbox", "sync", "--config", config], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "another sync is already running" in done.stderr
    assert "Traceback" not in done.stderr


def test_next_sync_runs_after_a_failed_one(store: Store, sync_config, capsys) -> None:
    assert sync(sync_config("broken-a")) == 1
    assert sync(sync_config("ok-a")) == 0
    assert "already running" not in capsys.readouterr().err
    with sync_lock(store):
        pass


def test_next_sync_runs_after_one_was_interrupted(store: Store, sync_config, monkeypatch) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr("glassbox.sync.sync_sources", interrupted)
        assert sync(sync_config("ok-a")) == 130
    assert sync(sync_config("ok-a")) == 0
    assert store.count_events() == 3
