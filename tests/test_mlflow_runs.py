"""The MLflow connector against real tracking stores: a sqlite store built here and a served one.

One sqlite store is shared by the module (see conftest's new_mlflow_store); tests that change
runs make their own experiment in it so they do not disturb each other. The served store is the
session's ``mlflow server`` (conftest.py), where the test makes its own experiment.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import NewMlflowStore, ServedMlflow, free_port
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from connectors.mlflow.connector import MlflowConnector, SyncState
from connectors.mlflow.normalize import run_to_events
from glassbox.config import Config, load_config
from glassbox.events import Ref, event_id, run_event_ids
from glassbox.store import CursorKey, Store
from glassbox.sync import sync_connector
from glassbox.timeline import load_timeline

T0 = int(datetime(2025, 3, 3, 9, 0, tzinfo=UTC).timestamp() * 1000)
MINUTE = 60_000
SHA = "3f1c2a9be0d4c5e6f708192a3b4c5d6e7f809123"
PREFIX = "a1b2c3d"
HTTP_ENV = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "MLFLOW_HTTP_REQUEST_TIMEOUT")


@dataclass
class Tracking:
    """The shared sqlite tracking store and the ids of the runs the module's tests look at."""

    uri: str
    path: Path
    client: MlflowClient
    runs: dict[str, str]


def make_run(client: MlflowClient, experiment_id: str, name: str, start: int, *, end: int | None = None,
             status: str = "FINISHED", params: dict[str, str] | None = None, tags: dict[str, str] | None = None,
             metrics: dict[str, list[float]] | None = None) -> str:
    """A run with explicit times; each metric's values are logged at steps 0, 1, 2…"""
    run = client.create_run(experiment_id, start_time=start, run_name=name,
                            tags={"mlflow.user": "carol", **(tags or {})})
    run_id = run.info.run_id
    points = [Metric(key, value, start + step * 1000, step)
              for key, values in (metrics or {}).items() for step, value in enumerate(values)]
    client.log_batch(run_id, metrics=points, params=[Param(k, v) for k, v in (params or {}).items()],
                     tags=[RunTag(k, v) for k, v in (tags or {}).items()])
    if status != "RUNNING":
        client.set_terminated(run_id, status=status, end_time=end)
    return run_id


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory, new_mlflow_store: NewMlflowStore) -> Tracking:
    folder = tmp_path_factory.mktemp("mlflow")
    path = folder / "mlflow.db"
    client = MlflowClient(new_mlflow_store(path))
    churn = client.create_experiment("churn", artifact_location=str(folder / "artifacts"))
    v2 = client.create_experiment("churn-v2", artifact_location=str(folder / "artifacts"))
    client.create_experiment("scratch", artifact_location=str(folder / "artifacts"))
    runs = churn_runs(client, churn)
    runs["v2"] = make_run(client, v2, "v2 first", T0 + 60 * MINUTE, end=T0 + 70 * MINUTE, metrics={"val_auc": [0.9]})
    return Tracking(f"sqlite:///{path}", path, client, runs)


def churn_runs(client: MlflowClient, churn: str) -> dict[str, str]:
    """The four runs of the churn experiment: a parent with a child, a failed one and one that diverged."""
    runs: dict[str, str] = {}
    runs["parent"] = make_run(
        client, churn, "baseline for CHURN-1", T0, end=T0 + 30 * MINUTE,
        params={"lr": "0.1", "模型": "gradient-boosté ✓"},
        tags={"mlflow.source.git.commit": SHA, "mlflow.note.content": "Tried the CHURN-2 features",
              "ticket": "CHURN-3"},
        metrics={"val_auc": [0.70, 0.78, 0.81], "loss": [0.9, 0.5, 0.4]})
    runs["child"] = make_run(
        client, churn, "fold-1", T0 + MINUTE, end=T0 + 10 * MINUTE,
        tags={"mlflow.parentRunId": runs["parent"], "mlflow.source.git.commit": PREFIX},
        metrics={"val_auc": [0.8]})
    runs["failed"] = make_run(client, churn, "oom", T0 + 40 * MINUTE, end=T0 + 41 * MINUTE, status="FAILED")
    runs["nan"] = make_run(client, churn, "diverged", T0 + 50 * MINUTE, end=T0 + 55 * MINUTE,
                           metrics={"val_auc": [0.6, float("nan")], "loss": [1.0, float("inf")]})
    return runs


def config_for(write_config, uri: str, experiments: list[str], kpi: str = "churn*") -> Config:
    path = write_config(
        f'[[mlflow]]\ntracking_uri = "{uri}"\nexperiments = {json.dumps(experiments)}\n\n'
        f'[[kpi]]\nexperiment = "{kpi}"\nmetric = "val_auc"\n')
    return load_config(path)


def connector_for(write_config, uri: str, experiments: list[str]) -> MlflowConnector:
    config = config_for(write_config, uri, experiments)
    return MlflowConnector.from_config(config.mlflow[0], config, "mlflow[0]")


def run_events(store: Store, experiment: str) -> dict[tuple[str, str], dict[str, Any]]:
    """``(run_id, category) -> row`` for the stored events of one experiment."""
    frame = store.read_events(sources=["mlflow"])
    rows = frame[frame["thread"] == experiment].to_dict("records")
    return {(row["attrs"]["run_id"], row["category"]): row for row in rows}


def new_experiment(tracking: Tracking, name: str) -> str:
    return tracking.client.create_experiment(name, artifact_location=str(tracking.path.parent / "artifacts"))


# -- normalizing --------------------------------------------------------------------------------


def test_finished_run_becomes_started_and_finished_events(tracking: Tracking) -> None:
    run = tracking.client.get_run(tracking.runs["parent"])
    history = {"val_auc": [[0, T0, 0.7], [1, T0 + 1000, 0.78]], "loss": [[0, T0, 0.9]]}
    started, finished = run_to_events(run, origin=tracking.uri, experiment_name="churn",
                                      kpi_metrics=["val_auc"], history=history, ticket_pattern=r"CHURN-\d+")
    assert (started.category, finished.category) == ("run_started", "run_finished")
    assert started.occurred_at == datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    assert finished.occurred_at == datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
    assert started.id == event_id("mlflow", tracking.uri, f"{run.info.run_id}:started")
    assert (started.thread, started.title, started.actor) == ("churn", "baseline for CHURN-1", "carol")
    assert started.body == "Tried the CHURN-2 features"
    attrs = finished.attrs
    assert attrs["params"] == {"lr": "0.1", "模型": "gradient-boosté ✓"}
    assert attrs["metrics"] == {"val_auc": 0.81, "loss": 0.4}
    observed = (attrs["status"], attrs["duration_s"], attrs["commit"], attrs["ticket"])
    assert observed == ("FINISHED", 1800.0, SHA, "CHURN-3")
    assert attrs["end_time"] == "2025-03-03T09:30:00+00:00"
    assert attrs["history"] == {"val_auc": history["val_auc"]}, "only KPI metrics keep their history"
    assert set(started.refs) == {Ref("commit", SHA), Ref("ticket", "CHURN-1"), Ref("ticket", "CHURN-2"),
                                 Ref("ticket", "CHURN-3")}
    assert started.raw["info"]["run_id"] == run.info.run_id


def test_nan_and_infinite_metrics_become_null(tracking: Tracking) -> None:
    run = tracking.client.get_run(tracking.runs["nan"])
    (_, finished) = run_to_events(run, origin=tracking.uri, experiment_name="churn",
                                  history={"val_auc": [[0, T0, 0.6], [1, T0, float("nan")]]}, kpi_metrics=["val_auc"])
    assert finished.attrs["metrics"] == {"val_auc": None, "loss": None}
    json.dumps(finished.attrs, allow_nan=False)


def test_running_run_has_only_a_started_event(tracking: Tracking) -> None:
    experiment = new_experiment(tracking, "normalize-running")
    run = tracking.client.get_run(make_run(tracking.client, experiment, "live", T0, status="RUNNING"))
    events = run_to_events(run, origin=tracking.uri, experiment_name="normalize-running")
    assert [e.category for e in events] == ["run_started"]
    assert events[0].attrs["status"] == "RUNNING" and events[0].attrs["duration_s"] is None


# -- syncing a sqlite store -----------------------------------------------------------------------


def test_sync_stores_every_run_with_parent_failure_and_kpi_history(tracking: Tracking, sqlite_store: Store,
                                                                   write_config) -> None:
    summary = sync_connector(connector_for(write_config, tracking.uri, ["churn"]), sqlite_store)
    assert summary.ok, summary.error
    events = run_events(sqlite_store, "churn")
    runs = tracking.runs
    assert len(events) == 8
    assert events[(runs["child"], "run_finished")]["attrs"]["parent_run_id"] == runs["parent"]
    assert events[(runs["failed"], "run_finished")]["attrs"]["status"] == "FAILED"
    assert events[(runs["nan"], "run_finished")]["attrs"]["metrics"] == {"val_auc": None, "loss": None}
    nan_start = T0 + 50 * MINUTE
    assert events[(runs["nan"], "run_finished")]["attrs"]["history"] == {
        "val_auc": [[0, nan_start, 0.6], [1, nan_start + 1000, None]]}
    parent = events[(runs["parent"], "run_started")]["attrs"]
    assert parent["params"]["模型"] == "gradient-boosté ✓"
    assert parent["history"] == {"val_auc": [[0, T0, 0.7], [1, T0 + 1000, 0.78], [2, T0 + 2000, 0.81]]}


def test_runs_appear_in_the_timeline_linked_to_commits_and_tickets(tracking: Tracking, sqlite_store: Store,
                                                                   write_config) -> None:
    config = config_for(write_config, tracking.uri, ["churn"])
    sync_connector(MlflowConnector.from_config(config.mlflow[0], config, "mlflow[0]"), sqlite_store)
    timeline = load_timeline(sqlite_store, config, sources=["mlflow"])
    refs = {row["title"]: set(row["refs"]) for row in timeline.to_dict("records")}
    assert refs["baseline for CHURN-1"] == {SHA, "CHURN-1", "CHURN-2", "CHURN-3"}
    assert refs["fold-1"] == {PREFIX}
    assert refs["oom"] == set()


def test_resync_adds_no_duplicates(tracking: Tracking, store: Store, write_config) -> None:
    connector = connector_for(write_config, tracking.uri, ["churn*"])
    first = sync_connector(connector, store)
    second = sync_connector(connector, store)
    assert first.counts.new == 10
    assert (second.counts.new, second.counts.updated, second.fetched) == (0, 0, 0)
    with store.engine.connect() as conn:
        ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM events")]
    assert len(ids) == len(set(ids)) == 10


def test_experiments_by_glob_and_a_missing_one_is_a_warning(tracking: Tracking, sqlite_store: Store,
                                                            write_config, caplog: pytest.LogCaptureFixture) -> None:
    connector = connector_for(write_config, tracking.uri, ["churn*", "no-such-experiment"])
    summary = sync_connector(connector, sqlite_store)
    assert summary.ok
    assert set(sqlite_store.read_events()["thread"]) == {"churn", "churn-v2"}
    assert "experiment 'no-such-experiment' not found" in caplog.text
    assert connector.check() == "2 experiment(s): churn, churn-v2"


def test_running_run_shows_finished_after_the_next_sync(tracking: Tracking, sqlite_store: Store,
                                                        write_config) -> None:
    experiment = new_experiment(tracking, "lifecycle-running")
    run_id = make_run(tracking.client, experiment, "long training", T0, status="RUNNING")
    connector = connector_for(write_config, tracking.uri, ["lifecycle-running"])
    sync_connector(connector, sqlite_store)
    assert set(run_events(sqlite_store, "lifecycle-running")) == {(run_id, "run_started")}
    key = CursorKey("mlflow", connector.origin, "runs")
    assert SyncState.load(sqlite_store.cursor(key)).running == {run_id}

    tracking.client.set_terminated(run_id, "FINISHED", end_time=T0 + 90 * MINUTE)
    summary = sync_connector(connector, sqlite_store)
    events = run_events(sqlite_store, "lifecycle-running")
    assert events[(run_id, "run_finished")]["attrs"]["duration_s"] == 5400.0
    assert events[(run_id, "run_started")]["attrs"]["status"] == "FINISHED"
    assert (summary.counts.new, summary.counts.updated) == (1, 1)
    assert SyncState.load(sqlite_store.cursor(key)).running == set()


def test_resync_reads_only_new_runs_and_those_still_running(tracking: Tracking, sqlite_store: Store,
                                                            write_config) -> None:
    experiment = new_experiment(tracking, "lifecycle-incremental")
    make_run(tracking.client, experiment, "old", T0)
    make_run(tracking.client, experiment, "older still running", T0 - MINUTE, status="RUNNING")
    connector = connector_for(write_config, tracking.uri, ["lifecycle-incremental"])
    sync_connector(connector, sqlite_store)
    make_run(tracking.client, experiment, "new", T0 + 24 * 60 * MINUTE)
    summary = sync_connector(connector, sqlite_store)
    assert summary.fetched == 3, "the RUNNING run's start and the new run's two events"
    assert summary.counts.new == 2


def test_deleted_run_leaves_the_timeline_and_a_restored_one_returns(tracking: Tracking, sqlite_store: Store,
                                                                    write_config) -> None:
    experiment = new_experiment(tracking, "lifecycle-deleted")
    keep = make_run(tracking.client, experiment, "keep", T0)
    drop = make_run(tracking.client, experiment, "mistake", T0 + MINUTE)
    connector = connector_for(write_config, tracking.uri, ["lifecycle-deleted"])
    sync_connector(connector, sqlite_store)
    tracking.client.delete_run(drop)
    summary = sync_connector(connector, sqlite_store)
    assert summary.counts.deleted == 2
    assert {run_id for run_id, _ in run_events(sqlite_store, "lifecycle-deleted")} == {keep}
    tracking.client.restore_run(drop)
    sync_connector(connector, sqlite_store)
    assert {run_id for run_id, _ in run_events(sqlite_store, "lifecycle-deleted")} == {keep, drop}


def test_relative_sqlite_uri_is_read_from_the_config_folder(tracking: Tracking, sqlite_store: Store) -> None:
    config_path = tracking.path.parent / "glassbox.toml"
    config_path.write_text('[[mlflow]]\ntracking_uri = "sqlite:///mlflow.db"\nexperiments = ["churn-v2"]\n',
                           encoding="utf-8")
    config = load_config(config_path)
    connector = MlflowConnector.from_config(config.mlflow[0], config, "mlflow[0]")
    assert connector.origin == tracking.uri
    assert sync_connector(connector, sqlite_store).counts.new == 2


# -- faults ------------------------------------------------------------------------------------------


def test_missing_sqlite_file_is_reported_not_created(tmp_path: Path, sqlite_store: Store, write_config) -> None:
    missing = tmp_path / "typo.db"
    summary = sync_connector(connector_for(write_config, f"sqlite:///{missing}", ["churn"]), sqlite_store)
    assert summary.error == (f"mlflow (sqlite:///{missing}): no MLflow store at {missing}"
                             " — check tracking_uri in the [[mlflow]] section")
    assert not missing.exists()


def test_file_store_needs_mlflow_allow_file_store(tmp_path: Path, sqlite_store: Store, write_config,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient((tmp_path / "mlruns").as_uri())  # MLflow caches stores by URI: not the connector's
    make_run(client, client.create_experiment("files"), "from a file store", T0)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    refused = sync_connector(connector_for(write_config, "./mlruns", ["files"]), sqlite_store)
    assert "only when MLFLOW_ALLOW_FILE_STORE=true — export MLFLOW_ALLOW_FILE_STORE=true" in refused.error

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    summary = sync_connector(connector_for(write_config, "./mlruns", ["files"]), sqlite_store)
    assert summary.ok and summary.counts.new == 2


@pytest.fixture
def http_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The connector sets MLflow's HTTP retry defaults in the environment; restore them after the test."""
    for name in HTTP_ENV:
        monkeypatch.delenv(name, raising=False)


def test_unreachable_tracking_server_fails_fast_in_one_line(sqlite_store: Store, write_config, http_env) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    summary = sync_connector(connector_for(write_config, uri, ["churn"]), sqlite_store)
    assert time.monotonic() - started < 15
    assert summary.error.startswith(f"mlflow ({uri}): tracking server unreachable — connection refused;")
    assert "\n" not in summary.error


# -- a served store ----------------------------------------------------------------------------------


def test_served_store_gives_the_same_runs_with_links_and_bulk_history(
        mlflow_server: ServedMlflow, sqlite_store: Store, write_config, http_env) -> None:
    runs = churn_runs(mlflow_server.client, mlflow_server.create_experiment("churn-served-runs"))
    connector = connector_for(write_config, mlflow_server.uri, ["churn-served-runs"])
    assert connector.check() == "1 experiment(s): churn-served-runs"
    summary = sync_connector(connector, sqlite_store)
    assert summary.ok, summary.error
    assert connector.history_reader.available, "the server's bulk history endpoint answered"
    events = run_events(sqlite_store, "churn-served-runs")
    parent = events[(runs["parent"], "run_finished")]
    assert parent["url"].startswith(f"{mlflow_server.uri}/#/experiments/")
    assert parent["attrs"]["history"]["val_auc"] == [[0, T0, 0.7], [1, T0 + 1000, 0.78], [2, T0 + 2000, 0.81]]
    nan_history = events[(runs["nan"], "run_finished")]["attrs"]["history"]["val_auc"]
    assert nan_history == [[0, T0 + 50 * MINUTE, 0.6], [1, T0 + 50 * MINUTE + 1000, None]]
    assert parent["attrs"]["params"]["模型"] == "gradient-boosté ✓"
    assert len(events) == 8
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in parent["attrs"]["metrics"].values())
    assert set(run_event_ids(connector.origin, runs["parent"])) <= set(sqlite_store.read_events()["id"])
