"""``sync`` exit statuses for schedulers: 0 all synced, 1 a source failed or a sync is already running,
2 bad config — each problem one line on stderr, and the lock never outlives a sync.

The sources are real git repositories read by the real ``[[git]]`` connector; a folder that is not a
repository is the failing source.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from glassbox.cli import main
from glassbox.lock import sync_lock
from glassbox.store import Store

ROOT = Path(__file__).resolve().parents[1]


def git_repository(folder: Path, commits: int = 3) -> Path:
    """A real repository with ``commits`` commits of fixed dates."""
    folder.mkdir(parents=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@team.example",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@team.example"}
    subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True, env=env)
    for n in range(commits):
        (folder / "model.py").write_text(f"NAME = {folder.name!r}\nVERSION = {n}\n")
        subprocess.run(["git", "-C", str(folder), "add", "model.py"], check=True, env=env)
        dated = {**env, "GIT_AUTHOR_DATE": f"2026-11-02T09:0{n}:00+07:00",
                 "GIT_COMMITTER_DATE": f"2026-11-02T09:0{n}:00+07:00"}
        subprocess.run(["git", "-C", str(folder), "commit", "-q", "-m", f"CHURN-{n + 1} step {n}"],
                       check=True, env=dated)
    return folder


@pytest.fixture
def sync_config(store: Store, write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a config with ``[[git]]`` sources — ``ok-*`` real repositories of 3 commits, ``broken-*``
    plain folders — its store given by ``GLASSBOX_DB_URL`` as on a deployed host."""
    monkeypatch.setenv("GLASSBOX_DB_URL", store.engine.url.render_as_string(hide_password=False))

    def write(*names: str) -> str:
        for name in names:
            folder = tmp_path / name
            if name.startswith("ok") and not folder.exists():
                git_repository(folder)
            folder.mkdir(exist_ok=True)
        return str(write_config("".join(f'[[git]]\npath = "{name}"\n' for name in names)))

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


def test_sync_exits_1_when_a_source_failed_and_keeps_the_others(
        store: Store, sync_config, tmp_path: Path, capsys) -> None:
    assert sync(sync_config("broken-a", "ok-b")) == 1
    lines = stderr_lines(capsys)
    assert len(lines) == 2
    assert str(tmp_path / "broken-a") in lines[0] and "not a git repository" in lines[0]
    assert "3 new" in lines[1]
    assert store.count_events() == 3
    runs = store.sync_runs().set_index("origin")["status"].to_dict()
    assert runs == {str(tmp_path / "broken-a"): "failed", str(tmp_path / "ok-b"): "ok"}


@pytest.mark.parametrize(("config_text", "extra", "named"), [
    ("[[git]]\npath = 'ok-a'\ncolour = 'red'\n", (), "colour"),
    ("[[git]]\npath = 'ok-a'\n", ("--only", "jira"), "--only 'jira'"),
    ("[[github]]\nrepo = 'acme/churn'\ntoken_env = 'GB_TEST_UNSET_TOKEN'\n", (), "GB_TEST_UNSET_TOKEN"),
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
