"""A long sync says how far it has come: a live row per source on a terminal, a line about once a
minute without one (cron), and the running sync's count in the store for the dashboard.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli_sync import sync, sync_config  # noqa: F401 — the fixture

from glassbox import sync as sync_module
from glassbox.config import load_config
from glassbox.lock import sync_lock
from glassbox.sources import build_connector, configured_sources
from glassbox.store import Store
from glassbox.sync import sync_connector
from glassbox.sync_progress import LineProgress

ROOT = Path(__file__).resolve().parents[1]


def on_a_terminal(*args: str) -> str:
    """``python -m glassbox ARGS`` with its standard error on a pseudo-terminal, as a person runs it;
    returns what it drew there once it exited 0."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "glassbox", *args], cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"},
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    output = b""
    while select.select([leader], [], [], 60)[0]:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    assert process.wait(timeout=60) == 0
    return output.decode("utf-8", "replace")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_without_a_terminal_a_line_about_every_minute_with_the_rate() -> None:
    clock, lines = Clock(), []
    progress = LineProgress(lines.append, interval=60, clock=clock)
    progress.source_started("github (acme/churn)")
    for fetched, at in ((100, 10.0), (900, 59.0), (1200, 61.0), (1500, 100.0), (3000, 125.0)):
        clock.now = at
        progress.advanced("github (acme/churn)", "pulls", fetched)
    progress.source_finished("github (acme/churn)", "github (acme/churn): 3000 fetched, 3000 new")
    # at 61 s: 1,200 items in 61/60 min = 1,180/min; at 125 s (64 s later): 3,000 in 125/60 min = 1,440/min
    assert lines == ["github (acme/churn): pulls — 1,200 items so far (1,180/min)",
                     "github (acme/churn): pulls — 3,000 items so far (1,440/min)",
                     "github (acme/churn): 3000 fetched, 3000 new"]


def test_the_watcher_hears_every_item_and_the_store_the_running_count(
        store: Store, sync_config, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    config = load_config(sync_config("ok-a"))
    monkeypatch.setattr(sync_module, "PROGRESS_SECONDS", 0.0)  # record on every item
    recorded: list[int] = []
    monkeypatch.setattr(Store, "record_progress", lambda self, run_id, fetched: recorded.append(fetched))
    heard: list[tuple[str, int]] = []

    class Watcher(LineProgress):
        def advanced(self, label: str, category: str, fetched: int) -> None:
            heard.append((category, fetched))

    connector = build_connector(configured_sources(config)[0], config)
    summary = sync_connector(connector, store, progress=Watcher(print))
    assert summary.fetched == 3
    assert heard == [("commits", 1), ("commits", 2), ("commits", 3)]
    assert recorded == [1, 2, 3]


def test_a_running_syncs_count_is_in_its_row(store: Store) -> None:
    run_id = store.start_run("git", "/repo")
    store.record_progress(run_id, 12_400)
    runs = store.sync_runs()
    assert runs.iloc[0]["status"] == "running" and runs.iloc[0]["fetched"] == 12_400


def test_on_a_terminal_the_sync_draws_a_live_display_and_ends_with_the_summary(
        sync_config, tmp_path: Path) -> None:  # noqa: F811
    config = sync_config("ok-a", "ok-b")
    text = on_a_terminal("sync", "--config", config)
    assert "\x1b[" in text, "rich drew on the terminal"
    assert text.count("3 fetched, 3 new") == 2 and "Traceback" not in text


def test_the_dashboard_shows_a_running_sync_and_how_far_it_has_come(
        store: Store, sync_config, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from streamlit.testing.v1 import AppTest

    config_path = sync_config("ok-a")
    assert sync(config_path) == 0
    config = load_config(config_path)
    origin = config.git[0].origin(config.folder)
    run_id = store.start_run("git", origin)
    store.record_progress(run_id, 12_400)
    monkeypatch.setenv("GLASSBOX_CONFIG", config_path)
    with sync_lock(store):  # a sync holds the lock while it runs
        app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60)
        app.run()
    assert not app.exception
    sources = next(table.value for table in app.dataframe if "Status" in table.value.columns)
    assert list(sources["Status"]) == ["syncing — 12,400 fetched so far"]


def test_a_report_written_from_a_terminal_shows_a_spinner_while_it_works(tmp_path: Path) -> None:
    from seed import seeded_engagement

    config = seeded_engagement(tmp_path / "engagement")
    text = on_a_terminal("report", "--config", str(config), "--format", "pdf", "--out", str(tmp_path / "report.pdf"))
    assert "Building the pdf report of" in text and "wrote " in text and "Traceback" not in text
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")


def test_a_rate_limit_wait_shows_in_the_sources_row_with_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    import io
    import logging
    from datetime import UTC, datetime, timedelta

    from connectors.base import log_wait
    from glassbox.sync_progress import TerminalProgress

    display = TerminalProgress(io.StringIO())
    try:
        display.source_started("github (acme/churn)")
        log_wait(logging.getLogger("connectors.github.client"), "github (acme/churn)",
                 "GitHub rate limit hit (HTTP 403)", 900)
        until = (datetime.now(UTC) + timedelta(seconds=900)).astimezone()
        row = display._display.tasks[0].fields["category"]  # what the live row shows beside the source
    finally:
        display.close()
    assert row.startswith("waiting until ")
    assert row.removeprefix("waiting until ") in {f"{until + timedelta(seconds=d):%H:%M:%S}" for d in (-2, -1, 0)}
    assert "GitHub rate limit hit (HTTP 403), waiting 900 s (until " in caplog.text  # and the log line, for cron
