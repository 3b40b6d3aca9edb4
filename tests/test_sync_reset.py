"""``sync --reset NAME``: one source's cursors cleared (NAME as ``--only`` takes it), its events kept,
the next sync re-fetching it whole — on both stores, with real git repositories and the real connector."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli_sync import sync, sync_config  # noqa: F401 — the fixture

from glassbox.cli import main
from glassbox.config import load_config
from glassbox.store import CursorKey, Store


@pytest.fixture
def two_repos(store: Store, sync_config, tmp_path: Path) -> tuple[str, str, str]:  # noqa: F811 (the fixture)
    """A config of two real 3-commit repositories, synced once; returns it and both origins."""
    config = sync_config("ok-a", "ok-b")
    assert sync(config) == 0
    return config, str((tmp_path / "ok-a").resolve()), str((tmp_path / "ok-b").resolve())


def test_reset_clears_one_sources_cursor_and_the_next_sync_refetches_it(
        store: Store, two_repos: tuple[str, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    config, first, second = two_repos
    assert load_config(config).git[0].origin(Path(config).parent) == first
    kept = store.cursor(CursorKey("git", second, "commits"))
    assert store.cursor(CursorKey("git", first, "commits")) is not None and kept is not None
    capsys.readouterr()

    assert main(["sync", "--config", config, "--reset", "git[0]"]) == 0
    assert capsys.readouterr().err == f"git ({first}): cleared 1 cursor(s) (commits) — the next sync re-fetches it\n"
    assert store.cursor(CursorKey("git", first, "commits")) is None
    assert store.cursor(CursorKey("git", second, "commits")) == kept
    assert store.count_events() == 6  # 3 commits per repository: nothing deleted

    assert sync(config) == 0
    lines = capsys.readouterr().err.splitlines()
    # the reset source is read whole again (3 commits, all already stored); the other one from its cursor
    assert lines[0].startswith(f"git ({first}): 3 fetched, 0 new, 0 updated, 0 removed")
    assert lines[1].startswith(f"git ({second}): 0 fetched, 0 new")
    assert store.cursor(CursorKey("git", first, "commits")) is not None


def test_reset_by_kind_clears_every_source_of_that_kind(
        store: Store, two_repos: tuple[str, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    config, first, second = two_repos
    capsys.readouterr()
    assert main(["sync", "--config", config, "--reset", "git"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"git ({first}): cleared 1 cursor(s) (commits) — the next sync re-fetches it",
        f"git ({second}): cleared 1 cursor(s) (commits) — the next sync re-fetches it",
    ]
    assert main(["sync", "--config", config, "--reset", "git"]) == 0
    assert capsys.readouterr().err.splitlines()[0] == f"git ({first}): had no cursor — the next sync re-fetches it"


def test_reset_of_an_unknown_source_is_one_line_and_exit_2(
        store: Store, two_repos: tuple[str, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    config, _, _ = two_repos
    capsys.readouterr()
    assert main(["sync", "--config", config, "--reset", "jira"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--reset 'jira' matches no configured source (known: git, git[0], git[1])" in err
