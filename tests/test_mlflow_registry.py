"""The model registry, datasets and compute against real MLflow stores: sqlite, and ``mlflow server``.

Each test makes its own sqlite tracking store (a copy of an empty one), registers versions from real runs,
moves aliases between syncs and deletes versions, then reads what the sync stored. The served test
uses the session's ``mlflow server`` (conftest.py), in an experiment and a model of its own.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from conftest import NewMlflowStore, ServedMlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, RunTag

from connectors.mlflow.connector import MlflowConnector
from connectors.mlflow.normalize import restate
from glassbox.config import load_config
from glassbox.events import Event
from glassbox.periods import day_range, iso_week
from glassbox.report_model import build_report
from glassbox.reports import render_report
from glassbox.store import CursorKey, Store
from glassbox.sync import sync_connector

SHA = "3f1c2a9be0d4c5e6f708192a3b4c5d6e7f809123"
T0 = int(datetime(2025, 3, 3, 9, 0, tzinfo=UTC).timestamp() * 1000)
HOUR = 3_600_000


@dataclass
class Registry:
    uri: str
    folder: Path
    client: MlflowClient
    experiment_id: str
    experiment: str = "churn"


class Clock:
    """The connector's clock, moved by hand between syncs."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def registry(tmp_path: Path, new_mlflow_store: NewMlflowStore) -> Registry:
    uri = new_mlflow_store(tmp_path / "mlflow.db")
    client = MlflowClient(uri)
    experiment_id = client.create_experiment("churn", artifact_location=str(tmp_path / "artifacts"))
    return Registry(uri, tmp_path, client, experiment_id)


def make_run(registry: Registry, name: str, start: int, hours: float, *, auc: float,
             tags: dict[str, str] | None = None, metrics: dict[str, float] | None = None) -> str:
    client = registry.client
    run_id = client.create_run(registry.experiment_id, start_time=start, run_name=name,
                               tags={"mlflow.user": "dana", **(tags or {})}).info.run_id
    points = [Metric("val_auc", auc, start, 0)] + [Metric(k, v, start, 0) for k, v in (metrics or {}).items()]
    client.log_batch(run_id, metrics=points, tags=[RunTag(k, v) for k, v in (tags or {}).items()])
    client.set_terminated(run_id, status="FINISHED", end_time=start + int(hours * HOUR))
    return run_id


def register(registry: Registry, model: str, run_id: str) -> str:
    client = registry.client
    with contextlib.suppress(mlflow.exceptions.MlflowException):  # already there
        client.create_registered_model(model)
    version = client.create_model_version(model, f"{registry.folder}/artifacts/{run_id}/model", run_id=run_id)
    return str(version.version)


def connector(registry: Registry, write_config, clock: Clock, uri: str | None = None) -> MlflowConnector:
    path = write_config(f'[[mlflow]]\ntracking_uri = "{uri or registry.uri}"\n'
                        f'experiments = ["{registry.experiment}"]\n\n'
                        f'[[kpi]]\nexperiment = "{registry.experiment}"\nmetric = "val_auc"\n')
    config = load_config(path)
    made = MlflowConnector.from_config(config.mlflow[0], config, "mlflow[0]")
    made.clock = clock
    return made


def model_events(store: Store) -> list[dict[str, Any]]:
    rows = [e for e in model_events_and_runs(store) if e["category"] in ("model_version_created", "model_alias_moved")]
    return sorted(rows, key=lambda e: (e["category"], e["occurred_at"], e["title"]))


def model_events_and_runs(store: Store) -> list[dict[str, Any]]:
    return store.read_events(sources=["mlflow"], columns=("id", "category", "occurred_at", "thread", "title", "url",
                                                          "origin", "actor", "attrs", "raw")).to_dict("records")


def sync(made: MlflowConnector, store: Store) -> None:
    summary = sync_connector(made, store)
    assert summary.ok, summary.error


def test_versions_are_events_linked_to_their_run_commit_and_ticket(registry: Registry, store: Store,
                                                                    write_config) -> None:
    run_id = make_run(registry, "gbm for CHURN-7", T0, 1.5, auc=0.84, tags={"mlflow.source.git.commit": SHA})
    version = register(registry, "churn-model", run_id)
    sync(connector(registry, write_config, Clock()), store)
    (event,) = model_events(store)
    assert event["category"] == "model_version_created"
    assert event["thread"] == "churn-model"
    assert {key: event["attrs"][key] for key in ("model", "version", "run_id")} == {
        "model": "churn-model", "version": version, "run_id": run_id}
    refs = {(r["kind"], r["value"]) for r in store.read_refs().to_dict("records") if r["event_id"] == event["id"]}
    assert refs == {("commit", SHA), ("ticket", "CHURN-7")}

    registry.client.set_registered_model_alias("churn-model", "champion", version)
    sync(connector(registry, write_config, Clock()), store)
    (moved,) = [e for e in model_events(store) if e["category"] == "model_alias_moved"]
    moved_refs = {(r["kind"], r["value"]) for r in store.read_refs().to_dict("records") if r["event_id"] == moved["id"]}
    assert moved_refs == refs  # a view that hides the version hides its alias moving too


def test_alias_moves_are_remembered_between_syncs(registry: Registry, sqlite_store: Store, write_config) -> None:
    """MLflow keeps only where an alias points now; the cursor remembers where it pointed before."""
    first = register(registry, "churn-model", make_run(registry, "a", T0, 1, auc=0.80))
    second = register(registry, "churn-model", make_run(registry, "b", T0 + HOUR, 1, auc=0.86))
    registry.client.set_registered_model_alias("churn-model", "champion", first)
    clock = Clock()
    made = connector(registry, write_config, clock)
    sync(made, sqlite_store)
    clock.now += timedelta(days=1)
    sync(made, sqlite_store)  # nothing moved: nothing new
    registry.client.set_registered_model_alias("churn-model", "champion", second)
    clock.now += timedelta(days=1)
    sync(made, sqlite_store)
    moves = [e for e in model_events(sqlite_store) if e["category"] == "model_alias_moved"]
    assert [(m["attrs"]["from_version"], m["attrs"]["to_version"], m["occurred_at"]) for m in moves] == [
        (None, first, datetime(2025, 3, 10, 12, 0, tzinfo=UTC)),
        (first, second, datetime(2025, 3, 12, 12, 0, tzinfo=UTC))]
    cursor = json.loads(sqlite_store.cursor(CursorKey("mlflow", made.origin, "models")) or "{}")
    assert cursor["models"]["churn-model"]["aliases"] == {"champion": second}


def test_resync_adds_no_duplicates(registry: Registry, sqlite_store: Store, write_config) -> None:
    version = register(registry, "churn-model", make_run(registry, "a", T0, 1, auc=0.80))
    registry.client.set_registered_model_alias("churn-model", "champion", version)
    made = connector(registry, write_config, Clock())
    sync(made, sqlite_store)
    sqlite_store.clear_cursors("mlflow", made.origin)
    sync(made, sqlite_store)
    events = sqlite_store.read_events()
    assert len(events) == events["id"].nunique()
    assert len(model_events(sqlite_store)) == 2


def test_deleted_version_and_model_leave_the_timeline(registry: Registry, sqlite_store: Store, write_config) -> None:
    first = register(registry, "churn-model", make_run(registry, "a", T0, 1, auc=0.80))
    register(registry, "churn-model", make_run(registry, "b", T0 + HOUR, 1, auc=0.82))
    register(registry, "other-model", make_run(registry, "c", T0 + 2 * HOUR, 1, auc=0.7))
    registry.client.set_registered_model_alias("other-model", "champion", "1")
    made = connector(registry, write_config, Clock())
    sync(made, sqlite_store)
    assert len(model_events(sqlite_store)) == 4
    registry.client.delete_model_version("churn-model", first)
    registry.client.delete_registered_model("other-model")
    sync(made, sqlite_store)
    assert [(e["thread"], e["attrs"]["version"]) for e in model_events(sqlite_store)] == [("churn-model", "2")]


@pytest.mark.filterwarnings("ignore:``mlflow.tracking.client.MlflowClient.transition_model_version_stage``")
def test_stage_changes_are_reported_as_aliases(registry: Registry, sqlite_store: Store, write_config) -> None:
    first = register(registry, "churn-model", make_run(registry, "a", T0, 1, auc=0.80))
    second = register(registry, "churn-model", make_run(registry, "b", T0 + HOUR, 1, auc=0.82))
    registry.client.transition_model_version_stage("churn-model", first, "Production")
    made = connector(registry, write_config, Clock())
    sync(made, sqlite_store)
    registry.client.transition_model_version_stage("churn-model", second, "Production", archive_existing_versions=True)
    sync(made, sqlite_store)
    moves = [e["attrs"] for e in model_events(sqlite_store) if e["category"] == "model_alias_moved"]
    assert [(m["alias"], m["from_version"], m["to_version"]) for m in moves] == [
        ("Production", None, first), ("Production", first, second)]


def test_versions_of_other_experiments_are_not_this_engagements(registry: Registry, sqlite_store: Store,
                                                                write_config) -> None:
    other = registry.client.create_experiment("someone-else", artifact_location=str(registry.folder / "x"))
    run_id = registry.client.create_run(other, start_time=T0).info.run_id
    register(registry, "their-model", run_id)
    sync(connector(registry, write_config, Clock()), sqlite_store)
    assert model_events(sqlite_store) == []


def test_runs_carry_their_datasets_and_compute_hours(registry: Registry, sqlite_store: Store, write_config) -> None:
    """Logged with ``mlflow.data.from_pandas`` and ``log_input``; GPU hours from logged ``system/gpu_*`` metrics."""
    mlflow.set_tracking_uri(registry.uri)
    try:
        frame = pd.DataFrame({"tenure": [1.0, 5.0, 9.0], "churned": [0.0, 1.0, 0.0]})
        dataset = mlflow.data.from_pandas(frame, source="s3://acme/churn/train.parquet", name="churn-train",
                                          targets="churned")
        with mlflow.start_run(experiment_id=registry.experiment_id, run_name="with data") as run:
            mlflow.log_input(dataset, context="training")
            mlflow.log_metric("system/gpu_0_utilization_percentage", 80.0)
            mlflow.log_metric("system/gpu_1_utilization_percentage", 60.0)
        data_run = run.info.run_id
    finally:
        mlflow.set_tracking_uri(None)
    start = registry.client.get_run(data_run).info.start_time
    registry.client.set_terminated(data_run, status="FINISHED", end_time=start + 2 * HOUR)
    plain = make_run(registry, "cpu only", T0, 0.5, auc=0.8)
    made = connector(registry, write_config, Clock())
    sync(made, sqlite_store)
    finished = {row["attrs"]["run_id"]: row for row in model_events_and_runs(sqlite_store)
                if row["category"] == "run_finished"}
    assert finished[data_run]["attrs"]["datasets"] == [{
        "name": "churn-train", "digest": dataset.digest, "source": json.dumps({"uri": "s3://acme/churn/train.parquet"}),
        "context": "training"}]
    assert finished[data_run]["attrs"]["compute_hours"] == {"wall": 2.0, "gpu": 4.0}  # 2 h × 2 GPUs
    assert finished[plain]["attrs"]["compute_hours"] == {"wall": 0.5, "gpu": None}
    assert finished[plain]["attrs"]["datasets"] == []


def test_restate_keeps_the_datasets(registry: Registry, sqlite_store: Store, write_config) -> None:
    mlflow.set_tracking_uri(registry.uri)
    try:
        dataset = mlflow.data.from_pandas(pd.DataFrame({"a": [1.0, 2.0]}), name="tiny")
        with mlflow.start_run(experiment_id=registry.experiment_id) as run:
            mlflow.log_input(dataset, context="eval")
    finally:
        mlflow.set_tracking_uri(None)
    sync(connector(registry, write_config, Clock()), sqlite_store)
    stored = model_events_and_runs(sqlite_store)
    events = [e for e in stored if e["category"] == "run_finished" and e["attrs"]["run_id"] == run.info.run_id]
    row = events[0]
    stored_event = Event(id=row["id"], source="mlflow", origin=row["origin"], category=row["category"],
                         occurred_at=row["occurred_at"], actor=row["actor"], thread=row["thread"], title=row["title"],
                         url=row["url"], attrs=row["attrs"], raw=row["raw"])
    again = restate(stored_event)
    assert again is not None and again.attrs["datasets"] == events[0]["attrs"]["datasets"]


def test_served_registry_gives_versions_and_alias_moves(mlflow_server: ServedMlflow, sqlite_store: Store,
                                                        write_config, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    client, experiment = mlflow_server.client, "churn-served-registry"
    registry = Registry(mlflow_server.backend_uri, mlflow_server.folder, client,
                        mlflow_server.create_experiment(experiment), experiment)
    model = "churn-served-model"
    first = register(registry, model, make_run(registry, "a", T0, 1, auc=0.80))
    second = register(registry, model, make_run(registry, "b", T0 + HOUR, 1, auc=0.86))
    client.set_registered_model_alias(model, "champion", first)
    clock = Clock()
    made = connector(registry, write_config, clock, uri=mlflow_server.uri)
    sync(made, sqlite_store)
    client.set_registered_model_alias(model, "champion", second)
    client.delete_model_version(model, first)
    sync(made, sqlite_store)
    events = model_events(sqlite_store)
    versions = [e for e in events if e["category"] == "model_version_created"]
    assert [e["attrs"]["version"] for e in versions] == [second]
    assert versions[0]["url"] == f"{mlflow_server.uri}/#/models/{model}/versions/{second}"
    moves = [(e["attrs"]["from_version"], e["attrs"]["to_version"]) for e in events
             if e["category"] == "model_alias_moved"]
    assert moves == [(None, first), (first, second)]


def test_report_json_has_models_champion_regression_and_compute_hours(registry: Registry, sqlite_store: Store,
                                                                      write_config) -> None:
    """The champion moved from version 2 (AUC 0.86) to 3 (0.83) at the second sync: a regression then."""
    a = make_run(registry, "a for CHURN-1", T0, 1.5, auc=0.80, tags={"ticket": "CHURN-1"})
    b = make_run(registry, "b for CHURN-1", T0 + 2 * HOUR, 2.0, auc=0.86, tags={"ticket": "CHURN-1"})
    c = make_run(registry, "c for CHURN-2", T0 + 24 * HOUR, 0.5, auc=0.83, tags={"ticket": "CHURN-2"},
                 metrics={"system/gpu_0_utilization_percentage": 90.0})
    for run_id in (a, b, c):
        register(registry, "churn-model", run_id)  # created now: the registry stamps the real time
    registry.client.set_registered_model_alias("churn-model", "champion", "2")
    clock = Clock()
    clock.now = datetime.now(UTC) + timedelta(minutes=1)
    first_sync = clock.now
    made = connector(registry, write_config, clock)
    sync(made, sqlite_store)
    registry.client.set_registered_model_alias("churn-model", "champion", "3")
    clock.now += timedelta(days=1)
    sync(made, sqlite_store)
    config = load_config(registry.folder / "glassbox.toml")
    zone = config.engagement.zone
    later = datetime.now(UTC) + timedelta(days=5)
    runs_week = iso_week(date(2025, 3, 3), zone)  # the runs' week: their compute, no models yet
    report = build_report(sqlite_store, config, runs_week, now=later)
    assert report["experiments"][0]["compute_hours"] == {"wall": 4.0, "gpu": 0.5}  # 1.5 + 2 + 0.5; 0.5 h × 1 GPU
    assert report["compute"]["by_ticket"] == [
        {"ticket": "CHURN-1", "wall": 3.5, "gpu": None, "runs": 2},
        {"ticket": "CHURN-2", "wall": 0.5, "gpu": 0.5, "runs": 1}]
    assert report["models"] == []
    before_move = build_report(sqlite_store, config, day_range(date(2025, 3, 3), first_sync.date(), zone), now=later)
    assert before_move["models"] == [{"model": "churn-model", "latest_version": 3, "aliases": {"champion": 2},
                                      "champion": {"alias": "champion", "version": 2, "run_id": b,
                                                   "metric": "val_auc", "value": 0.86}}]
    assert before_move["alerts"] == []
    after = build_report(sqlite_store, config, day_range(date(2025, 3, 3), (clock.now + timedelta(days=1)).date(),
                                                         zone), now=later)
    assert after["models"][0]["aliases"] == {"champion": 3}
    assert after["models"][0]["champion"]["value"] == 0.83
    assert [(a["kind"], a["model"], a["run_id"]) for a in after["alerts"]] == [("model_regressed", "churn-model", c)]
    assert "from version 2 (val_auc 0.86) to version 3 (0.83)" in after["alerts"][0]["message"]
    markdown = render_report(sqlite_store, config, runs_week, fmt="md", view="team", now=later)
    unescaped = str(markdown).replace("\\", "")  # Markdown escapes the brackets
    assert "Compute: 4 wall hours of runs (0.5 GPU hours): CHURN-1 3.5 h, CHURN-2 0.5 h." in unescaped
