"""The demo engagement: built from real parts, usable by every command, the same story every time.

The demo is built once for the session (conftest.py's ``demo_build``) and once more here to check
that a second build holds the same events.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import BuiltDemo

from demo import _clear, ensure_demo
from glassbox.cli import main
from glassbox.config import load_config
from glassbox.sync import sync_sources
from glassbox.workspace import open_engagement

BUILD_SECONDS_LIMIT = 60
DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


@pytest.fixture
def demo_config(demo_build: BuiltDemo) -> Path:
    return demo_build.config


def test_the_build_says_each_step_and_each_source_as_it_goes(demo_build: BuiltDemo) -> None:
    """What the build told its watcher, as ``python -m glassbox demo`` prints it."""
    steps = [line for line in demo_build.lines if line.startswith("demo: ")]
    assert steps == ["demo: building a git repository of the engagement's history",
                     "demo: logging its experiment runs and registered model to an MLflow tracking store",
                     "demo: loading the recorded Jira and GitHub payloads"]
    assert any(line.startswith("git (") and " fetched, " in line for line in demo_build.lines)
    assert any(line.startswith("mlflow (") and " fetched, " in line for line in demo_build.lines)


def _timeline(config_file: Path, capsys: pytest.CaptureFixture[str], *options: str) -> list[dict]:
    capsys.readouterr()
    assert main(["timeline", "--config", str(config_file), *options]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _report(config_file: Path, capsys: pytest.CaptureFixture[str], *options: str) -> dict:
    capsys.readouterr()
    assert main(["report", "--config", str(config_file), "--format", "json", *options]) == 0
    return json.loads(capsys.readouterr().out)


def _built_at(config_file: Path) -> datetime:
    return datetime.fromisoformat(json.loads((config_file.parent / "demo.json").read_text())["built_at"])


def _composition(config_file: Path) -> Counter:
    store = open_engagement(load_config(config_file))
    try:
        frame = store.read_events(columns=("source", "category"))
    finally:
        store.engine.dispose()
    return Counter(zip(frame["source"], frame["category"], strict=True))


def test_demo_writes_config_beside_a_real_repository_and_tracking_store(demo_config: Path) -> None:
    folder = demo_config.parent
    assert demo_config.name == "glassbox.toml"
    assert (folder / "churn" / ".git").is_dir()
    assert (folder / "mlflow.db").is_file()
    assert (folder / "recorded" / "jira" / "issues.json").is_file()
    config = load_config(demo_config)
    assert config.engagement.name == "Acme churn model"
    assert config.team.timezone == "Asia/Ho_Chi_Minh"
    assert [(k.metric, k.target, k.alert_drop) for k in config.kpi] == [("val_auc", 0.85, 0.05)]
    assert not config.github and not config.jira


def test_demo_builds_within_a_minute(demo_config: Path) -> None:
    seconds = json.loads((demo_config.parent / "demo.json").read_text())["seconds"]
    assert seconds < BUILD_SECONDS_LIMIT


@pytest.mark.parametrize("command", [
    ["sync"],
    ["timeline"],
    ["timeline", "--format", "csv", "--view", "client"],
    ["report", "--format", "json"],
    ["report", "--week", "this", "--format", "md", "--view", "client"],
    ["doctor"],
])
def test_every_command_works_on_the_demo(demo_config: Path, command: list[str]) -> None:
    assert main([*command, "--config", str(demo_config)]) == 0


def test_timeline_holds_every_source_and_side(demo_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _timeline(demo_config, capsys)
    assert {row["source"] for row in rows} == {"git", "github", "jira", "mlflow"}
    assert {row["side"] for row in rows} == {"client", "team", "bot"}
    assert {"Carol Reyes", "Dan Okafor", "Linh Nguyen", "Minh Tran"} <= {row["actor"] for row in rows}


def test_the_two_hours_before_the_build_show_commits_comments_and_runs(
        demo_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    built_at = _built_at(demo_config)
    rows = _timeline(demo_config, capsys)
    moments = [datetime.fromisoformat(row["occurred_at"]) for row in rows]
    assert max(moments) <= built_at
    recent = {(row["source"], row["category"]) for row, moment in zip(rows, moments, strict=True)
              if moment >= built_at - timedelta(hours=2)}
    assert {("jira", "comment"), ("github", "comment"), ("mlflow", "run_finished")} <= recent
    assert any(category == "commit" for _, category in recent)


def test_resync_adds_and_changes_nothing(demo_config: Path) -> None:
    config = load_config(demo_config)
    store = open_engagement(config)
    try:
        before = store.count_events()
        summaries = sync_sources(config, store)
        assert all(s.ok and s.counts.new == 0 and s.counts.updated == 0 for s in summaries)
        assert store.count_events() == before
    finally:
        store.engine.dispose()


def test_commits_seen_by_the_clone_and_github_are_one_event(demo_config: Path) -> None:
    store = open_engagement(load_config(demo_config))
    try:
        commits = store.read_events(categories=["commit"], columns=("id", "sources"))
    finally:
        store.engine.dispose()
    both = [sources for sources in commits["sources"] if set(sources) == {"git", "github"}]
    assert len(commits) == commits["id"].nunique() == 29
    assert len(both) == 26  # the open pull request's and the closed experiment's commits are not on main


def test_runs_point_at_commits_of_the_repository(demo_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _timeline(demo_config, capsys)
    commits = {ref for row in rows if row["category"] == "commit" for ref in row["refs"]}
    runs = [row for row in rows if row["category"] == "run_started"]
    with_commit = [run for run in runs if any(ref in commits for ref in run["refs"])]
    assert len(with_commit) == len(runs) - 1  # the notebook exploration has no commit


def test_story_has_waiting_internal_and_client_reviewed_threads(demo_config: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    team = _timeline(demo_config, capsys)
    client = _timeline(demo_config, capsys, "--view", "client")
    assert any(row["thread"] == "CHURN-10" for row in team)
    assert not any(row["thread"] == "CHURN-10" for row in client)
    assert any(row["category"] == "review" and row["side"] == "client" for row in team)
    assert any(row["category"] == "comment" and row["side"] == "client" and row["source"] == "github" for row in team)
    merges = [row for row in team if row["category"] == "commit" and row["title"].startswith("Merge pull request")]
    assert len(merges) == 4


def test_kpi_is_reached_and_one_regression_alerts(demo_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    today = _built_at(demo_config).date()
    report = _report(demo_config, capsys, "--from", str(today - timedelta(days=60)),
                     "--to", str(today + timedelta(days=1)))
    (experiment,) = report["experiments"]
    assert experiment["kpi"]["met"] is True
    assert experiment["best"]["value"] == pytest.approx(0.862)
    assert [alert["kind"] for alert in report["alerts"]] == ["metric_drop"]
    assert "retrain-2024-03" in report["alerts"][0]["message"]
    assert report["latency"]["client_turnaround"]["open"] == 1


def test_the_sweep_is_one_run_and_the_leaky_run_is_excluded(demo_config: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    today = _built_at(demo_config).date()
    report = _report(demo_config, capsys, "--from", str(today - timedelta(days=60)),
                     "--to", str(today + timedelta(days=1)))
    started = [row for row in _timeline(demo_config, capsys) if row["category"] == "run_started"]
    # 17 MLflow runs: 11 on their own + the sweep's parent with its 5 candidates, which fold into it
    # -> 11 + 1 = 12 runs
    assert len(started) == 17
    assert report["counts"]["runs"] == report["experiments"][0]["runs"] == 12
    store = open_engagement(load_config(demo_config))
    try:
        excluded = {attrs["run_id"] for attrs in store.read_events(categories=["run_started"])["attrs"]
                    if attrs["excluded"]}
    finally:
        store.engine.dispose()
    assert len(excluded) == 1  # gbm-features-v2's leaky 0.842
    assert report["experiments"][0]["best"]["run_id"] not in excluded


@pytest.mark.parametrize("page", ["today", "timeline", "experiments", "feedback", "weekly_report"])
def test_every_dashboard_page_renders_the_demo(demo_config: Path, page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("GLASSBOX_CONFIG", str(demo_config))
    app = AppTest.from_file(str(DASHBOARD), default_timeout=60)
    app.switch_page(f"views/{page}.py")
    app.run()
    assert not app.exception


def test_second_build_holds_the_same_events_and_is_then_reused(demo_config: Path, tmp_path: Path) -> None:
    again = ensure_demo(tmp_path / "again")
    assert _composition(again) == _composition(demo_config)
    built = (again.parent / "demo.json").read_text()
    assert ensure_demo(tmp_path / "again") == again
    assert (again.parent / "demo.json").read_text() == built


def test_rebuild_clears_only_what_the_demo_made(tmp_path: Path) -> None:
    (tmp_path / "churn").mkdir()
    (tmp_path / "glassbox.db").write_text("old")
    (tmp_path / "notes.txt").write_text("mine")
    _clear(tmp_path)
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]
