"""``sync`` exit statuses for schedulers: 0 all synced, 1 a source failed or a sync is already running,
2 bad config — each problem one line on stderr, and the lock never outlives a sync. A sync ended by
SIGINT or SIGTERM records its run as interrupted; one killed outright is found interrupted by the
next sync, ``doctor`` and the dashboard's Sources panel — never reported as healthy.

The sources are real git repositories read by the real ``[[git]]`` connector; a folder that is not a
repository is the failing source.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from github_server import REPO, FakeGitHub
from github_server import TOKEN as GITHUB_TOKEN
from pytest_httpserver import HTTPServer
from streamlit.testing.v1 import AppTest

from glassbox.cli import main
from glassbox.lock import sync_lock, sync_running
from glassbox.store import Store
from glassbox.sync import ABANDONED, sync_state

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


# -- a sync ended by a signal -------------------------------------------------------------------
# The source is the real GitHub connector against a real TCP server that accepts and never answers,
# so the sync is certainly mid-run (its run recorded ``running``) when the signal arrives.

@pytest.fixture
def silent_server() -> Iterator[str]:
    """A real server that accepts connections and never answers: a source that hangs."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def github_config(write_config, store: Store, base_url: str, name: str = "glassbox.toml") -> str:
    url = store.engine.url.render_as_string(hide_password=False)  # both files: one engagement, the store's
    return str(write_config(f'[engagement]\nid = "{store.engagement}"\n\n'
                            f'[store]\nurl = "{url}"\n\n[[github]]\nrepo = "{REPO}"\nbase_url = "{base_url}"\n'
                            'token_env = "GB_TEST_GITHUB_TOKEN"\n', name))


def start_sync(config: str, store: Store) -> subprocess.Popen:
    """``sync`` in its own process, as cron starts it; returns once its run is recorded ``running``."""
    env = {key: value for key, value in os.environ.items() if key != "GLASSBOX_DB_URL"}
    env.update(PYTHONPATH=str(ROOT), GB_TEST_GITHUB_TOKEN=GITHUB_TOKEN)
    process = subprocess.Popen([sys.executable, "-m", "glassbox", "sync", "--config", config], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while (store.sync_runs()["status"] != "running").all():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    return process


def wait_until_freed(store: Store) -> None:
    """Until the killed sync's lock is free. SIGKILL is delivered at once, but the lock goes a moment
    later: PostgreSQL ends the session holding it once its backend sees the connection closed (on a
    busy machine, after this test had already asked)."""
    deadline = time.monotonic() + 30
    while sync_running(store):
        assert time.monotonic() < deadline, "the killed sync's lock was never freed"
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_the_run_as_interrupted_and_releases_the_lock(
        store: Store, write_config, silent_server: str, signum: int) -> None:
    process = start_sync(github_config(write_config, store, silent_server), store)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum  # 130 for SIGINT, 143 for SIGTERM, as shells report them
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("interrupted — what was synced so far is kept")
    runs = store.sync_runs()
    assert runs["status"].tolist() == ["interrupted"]
    assert signal.Signals(signum).name in runs["message"].iloc[0] and runs["errors"].iloc[0] == 1
    assert runs["finished_at"].notna().all()
    assert not sync_running(store)


def test_a_killed_sync_is_interrupted_for_freshness_and_settled_by_the_next_sync(
        store: Store, write_config, silent_server: str, sync_config, tmp_path: Path, capsys) -> None:
    process = start_sync(github_config(write_config, store, silent_server), store)
    process.kill()  # SIGKILL: nothing in the process runs, so its run stays "running"
    process.communicate(timeout=60)
    assert store.sync_runs()["status"].tolist() == ["running"]
    wait_until_freed(store)  # the OS (SQLite's file lock) or the server (advisory lock) frees it
    assert sync_state(store.sync_runs(), running_now=False) == "interrupted"

    assert sync(sync_config("ok-a")) == 0  # another engagement's config on the same store
    runs = store.sync_runs().set_index("source")
    assert runs.loc["github", "status"] == "interrupted" and runs.loc["github", "message"] == ABANDONED
    assert runs.loc["github", "finished_at"] >= runs.loc["github", "started_at"]
    assert runs.loc["git", "status"] == "ok"


def test_doctor_fails_on_a_killed_sync_and_records_it(
        store: Store, write_config, silent_server: str, httpserver: HTTPServer, capsys,
        monkeypatch: pytest.MonkeyPatch) -> None:
    start_sync(github_config(write_config, store, silent_server), store).kill()
    FakeGitHub(httpserver)  # the same repository, now answering, so only the killed sync is wrong
    monkeypatch.delenv("GLASSBOX_DB_URL", raising=False)
    monkeypatch.setenv("GB_TEST_GITHUB_TOKEN", GITHUB_TOKEN)
    config = github_config(write_config, store, httpserver.url_for("/").rstrip("/"), "answering.toml")
    wait_until_freed(store)
    assert main(["doctor", "--config", config]) == 1
    lines = stderr_lines(capsys)
    assert ": ok — " in lines[-2]  # the source answers and accepts the token
    assert lines[-1] == f"github[0]: last sync interrupted — {ABANDONED}"
    assert store.sync_runs()["status"].tolist() == ["interrupted"]


def test_today_shows_a_killed_sync_as_interrupted_not_ok(
        store: Store, write_config, silent_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config = github_config(write_config, store, silent_server)
    process = start_sync(config, store)
    process.kill()
    process.communicate(timeout=60)
    wait_until_freed(store)
    monkeypatch.setenv("GLASSBOX_CONFIG", config)
    monkeypatch.delenv("GLASSBOX_DB_URL", raising=False)
    app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60)
    app.switch_page("views/today.py")
    app.run()
    assert not app.exception
    sources = next(table.value for table in app.dataframe if "Problem" in table.value.columns)
    assert sources[["Status", "Last successful sync", "Problem"]].values.tolist() == [
        ["interrupted", "never", ABANDONED]]
