"""``renormalize``: the normalizers run again over the stored payloads give what a re-fetch would.

A store synced with the default ``ticket_pattern`` is re-normalized with a new one; its events and
refs must then equal a fresh sync made with the new pattern, and a second run must change nothing.
Real parts: the recorded GitHub repository served by the fake API and read by the real connector,
a real MLflow sqlite store; both stores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from github_server import REPO, TOKEN, FakeGitHub
from pytest_httpserver import HTTPServer
from test_github import serve_recorded
from test_mlflow_runs import Tracking, tracking  # noqa: F401 — the fixture

from connectors.github.connector import GitHubConnector
from connectors.mlflow.connector import MlflowConnector
from glassbox.cli import main
from glassbox.config import load_config
from glassbox.store import Store, open_store
from glassbox.sync import sync_connector

# GitHub-style issue numbers as "tickets": the recorded commits name pull requests #759, #757, #755.
ISSUE_NUMBERS = r"#\d{3}\b"
FOLDS = r"\b(?:[A-Z][A-Z0-9]+|fold)-\d+\b"  # the default pattern, plus the run named "fold-1"


def snapshot(store: Store) -> dict[str, tuple[str, str, frozenset[tuple[str, str]]]]:
    """id -> (title, attrs, refs) of every stored event."""
    events = store.read_events(columns=("id", "title", "attrs"))
    refs = store.read_refs()
    by_event: dict[str, set[tuple[str, str]]] = {}
    for event_id, kind, value in refs.itertuples(index=False):
        by_event.setdefault(event_id, set()).add((kind, value))
    return {row.id: (row.title, json.dumps(row.attrs, sort_keys=True), frozenset(by_event.get(row.id, ())))
            for row in events.itertuples(index=False)}


def github(fake: FakeGitHub, pattern: str | None = None) -> GitHubConnector:
    options = {"ticket_pattern": pattern} if pattern else {}
    return GitHubConnector(REPO, TOKEN, base_url=fake.base, seconds_between_requests=0, backoff=0.0, **options)


def test_renormalize_github_equals_a_refetch_with_the_new_pattern(
        store: Store, httpserver: HTTPServer, write_config, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = serve_recorded(FakeGitHub(httpserver))
    assert sync_connector(github(fake), store).ok
    before = snapshot(store)
    config = write_config(
        f'[engagement]\nticket_pattern = {json.dumps(ISSUE_NUMBERS)}\n\n[[github]]\nrepo = "{REPO}"\n')
    url = store.engine.url.render_as_string(hide_password=False)
    fresh = open_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert sync_connector(github(fake, ISSUE_NUMBERS), fresh).ok
    expected = snapshot(fresh)
    changed = sum(before[event_id] != expected[event_id] for event_id in expected)
    assert changed > 0  # at least the three merge commits below

    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GLASSBOX_DB_URL", url)
        assert main(["renormalize", "--config", str(config)]) == 0
        assert capsys.readouterr().err == f"github ({REPO}): {len(expected)} events checked, {changed} changed\n"
        assert snapshot(store) == expected
        commits = {event_id: refs for event_id, (_, _, refs) in expected.items()
                   if ("ticket", "#759") in refs or ("ticket", "#757") in refs or ("ticket", "#755") in refs}
        assert len(commits) >= 3  # "Merge pull request #759 / #757 / #755 from …"

        assert main(["renormalize", "--config", str(config), "--only", "github"]) == 0
        assert capsys.readouterr().err == f"github ({REPO}): {len(expected)} events checked, 0 changed\n"


def test_renormalize_mlflow_equals_a_refetch_and_skips_what_it_cannot_rederive(
        store: Store, tracking: Tracking, write_config, tmp_path: Path,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "clone").mkdir()
    text = (f'[[mlflow]]\ntracking_uri = "{tracking.uri}"\nexperiments = ["churn"]\n\n'
            '[[kpi]]\nexperiment = "churn*"\nmetric = "val_auc"\n\n[[git]]\npath = "clone"\n')
    config = load_config(write_config(text))
    assert sync_connector(MlflowConnector.from_config(config.mlflow[0], config, "mlflow[0]"), store).ok
    before = snapshot(store)
    renamed = load_config(write_config(f'[engagement]\nid = "{store.engagement}"\n'  # the same engagement
                                       f'ticket_pattern = {json.dumps(FOLDS)}\n\n' + text, "new.toml"))
    fresh = open_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert sync_connector(MlflowConnector.from_config(renamed.mlflow[0], renamed, "mlflow[0]"), fresh).ok
    expected = snapshot(fresh)
    # the churn runs are parent, fold-1, oom and diverged; only "fold-1" gains a ref, on both its
    # run_started and run_finished events: 2 changed
    assert sum(before[event_id] != expected[event_id] for event_id in expected) == 2

    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GLASSBOX_DB_URL", store.engine.url.render_as_string(hide_password=False))
        assert main(["renormalize", "--config", str(renamed.path)]) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"git ({tmp_path / 'clone'}): skipped — its events cannot be re-derived from the store;"
        " `sync --reset` re-fetches them",
        f"mlflow ({tracking.uri}): {len(expected)} events checked, 2 changed",
    ]
    assert snapshot(store) == expected
