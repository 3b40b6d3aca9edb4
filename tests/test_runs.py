"""What a run is (SPEC §5): children fold into their parent, excluded runs are never best, one count.

The families come from a real MLflow store: ``mlflow.sklearn.autolog()`` around a ``GridSearchCV``
(one parent, one child per candidate, the candidates' scores on the children only), a search logged
by hand with ``mlflow.start_run(nested=True)``, and top-level runs, two of them tagged
``glassbox.exclude = "true"``. The store is synced by the real connector, then the report, the Today
page and the Experiments page must say the same thing.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import mlflow
import pandas as pd
import pytest
from conftest import NewMlflowStore
from streamlit.testing.v1 import AppTest

from connectors.mlflow.connector import MlflowConnector
from glassbox.config import Config, Kpi, load_config
from glassbox.metrics.experiments import experiments_summary, kpi_story
from glassbox.metrics.runs import count_runs, failed, family_results, with_families
from glassbox.periods import iso_week
from glassbox.report_model import build_report
from glassbox.reports.content import ReportContent
from glassbox.reports.markdown import render_markdown
from glassbox.store import Store
from glassbox.sync import sync_connector
from glassbox.timeline import load_timeline
from glassbox.workspace import open_engagement

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
EXPERIMENT = "iris-search"
METRIC = "mean_test_score"
C_GRID = [0.01, 0.1, 1.0]


@dataclass
class Families:
    """The synced engagement and what was logged, by role."""

    config_path: Path
    config: Config
    store: Store
    ids: dict[str, str]
    grid_best: float
    now: datetime


def _log_hand_search(ids: dict[str, str]) -> None:
    """A random-forest search logged by hand the way autolog does: the scores on the children only."""
    with mlflow.start_run(run_name="rf-search") as parent:
        ids["rf"] = parent.info.run_id
        mlflow.log_params({"estimator": "RandomForestClassifier()", "cv": "3"})
        for name, depth, score, status in (("rf-d2", 2, 0.90, "FINISHED"), ("rf-d4", 4, 0.95, "FINISHED"),
                                           ("rf-d8", 8, 0.99, "FAILED")):
            with mlflow.start_run(run_name=name, nested=True) as child:
                ids[name] = child.info.run_id
                mlflow.log_params({"max_depth": depth})
                mlflow.log_metric(METRIC, score)
                if status == "FAILED":
                    mlflow.end_run(status="FAILED")


def _log_top_level(ids: dict[str, str], name: str, score: float, *, excluded: bool = False) -> None:
    with mlflow.start_run(run_name=name) as run:
        ids[name] = run.info.run_id
        mlflow.log_metric(METRIC, score)
        if excluded:
            mlflow.set_tag("glassbox.exclude", "true")
    time.sleep(0.01)  # start times are in milliseconds: keep the order unambiguous


@pytest.fixture(scope="module")
def families(tmp_path_factory: pytest.TempPathFactory, new_mlflow_store: NewMlflowStore) -> Families:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    folder = tmp_path_factory.mktemp("families")
    uri = new_mlflow_store(folder / "mlflow.db")
    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    # autolog writes artifacts (cv_results.csv, plots): keep them in the test's folder, not ./mlruns
    mlflow.create_experiment(EXPERIMENT, artifact_location=(folder / "artifacts").as_uri())
    mlflow.set_experiment(EXPERIMENT)
    ids: dict[str, str] = {}
    x, y = load_iris(return_X_y=True)
    search = GridSearchCV(LogisticRegression(max_iter=500), {"C": C_GRID}, cv=3)
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    try:
        mlflow.sklearn.autolog(log_models=False, log_datasets=False, silent=True)
        with warnings.catch_warnings(), mlflow.start_run(run_name="lr-search") as parent:
            warnings.simplefilter("ignore")
            ids["lr"] = parent.info.run_id
            search.fit(x, y)
        mlflow.sklearn.autolog(disable=True)
        time.sleep(0.01)
        _log_hand_search(ids)
        time.sleep(0.01)
        _log_top_level(ids, "leaky", 0.999, excluded=True)
        _log_top_level(ids, "lr-small", 0.80)
        _log_top_level(ids, "broken", 0.10, excluded=True)
    finally:
        mlflow.sklearn.autolog(disable=True)
        mlflow.set_tracking_uri(previous_uri)
    config_path = folder / "glassbox.toml"
    config_path.write_text(
        f'[store]\nurl = "sqlite:///{folder / "glassbox.db"}"\n\n'
        f'[[mlflow]]\ntracking_uri = "{uri}"\nexperiments = ["{EXPERIMENT}"]\n\n'
        f'[[kpi]]\nexperiment = "{EXPERIMENT}"\nmetric = "{METRIC}"\ngoal = "max"\ntarget = 0.99\n'
        f'alert_drop = 0.05\n', encoding="utf-8")
    config = load_config(config_path)
    store = open_engagement(config)
    summary = sync_connector(MlflowConnector.from_config(config.mlflow[0], config, "mlflow[0]"), store)
    assert summary.ok, summary.error
    return Families(config_path, config, store, ids, float(search.best_score_), datetime.now(UTC))


def week(families: Families):
    zone = ZoneInfo(families.config.engagement.timezone)
    return iso_week(families.now.astimezone(zone).date(), zone)


# -- the connector -------------------------------------------------------------------------------


def test_connector_records_the_parent_and_the_exclude_tag(families: Families) -> None:
    frame = families.store.read_events(sources=["mlflow"], categories=["run_finished"])
    attrs = {row["run_id"]: row for row in frame["attrs"]}
    ids = families.ids
    # autolog: 1 parent + 3 candidates (one per C); by hand: 1 parent + 3; top-level: 3 -> 11 runs
    assert len(attrs) == 1 + len(C_GRID) + 1 + 3 + 3
    autolog_children = [a for a in attrs.values() if a["parent_run_id"] == ids["lr"]]
    assert sorted(float(a["params"]["C"]) for a in autolog_children) == C_GRID
    assert all(METRIC in a["metrics"] for a in autolog_children)
    assert METRIC not in attrs[ids["lr"]]["metrics"], "autolog logs the candidates' scores on the children"
    assert attrs[ids["rf-d4"]]["parent_run_id"] == ids["rf"]
    assert attrs[ids["lr"]]["parent_run_id"] is None
    assert {run_id for run_id, a in attrs.items() if a["excluded"]} == {ids["leaky"], ids["broken"]}


# -- the definitions -----------------------------------------------------------------------------


def _runs(families: Families) -> pd.DataFrame:
    from glassbox.metrics.linking import runs_frame
    from glassbox.metrics.runs import run_table

    events = load_timeline(families.store, families.config)
    return run_table(runs_frame(events), events)


def test_children_fold_into_their_parent_which_carries_the_best_child(families: Families) -> None:
    runs = _runs(families)
    ids = families.ids
    top = runs.loc[runs["top_level"]].set_index("run_id")
    # lr-search, rf-search, leaky, lr-small, broken
    assert set(top.index) == {ids["lr"], ids["rf"], ids["leaky"], ids["lr-small"], ids["broken"]}
    assert top.loc[ids["lr"], "children"] == 3 and top.loc[ids["rf"], "children"] == 3
    results = family_results(runs, METRIC, "max")
    # lr-search: the best of its candidates' mean CV accuracy, which GridSearchCV calls best_score_
    # (C=1.0: 146 of 150 iris flowers right across the 3 folds = 0.9733)
    assert results.loc[ids["lr"], "value"] == pytest.approx(families.grid_best)
    assert families.grid_best == pytest.approx(146 / 150)
    # rf-search: max(0.90, 0.95); rf-d8's 0.99 FAILED, so it may not be best
    assert results.loc[ids["rf"], "value"] == pytest.approx(0.95)
    assert results.loc[ids["rf"], "value_run_id"] == ids["rf-d4"]


def test_excluded_runs_are_shown_never_best_and_raise_no_alert(families: Families) -> None:
    runs = _runs(families)
    ids = families.ids
    kpi = families.config.kpi[0]
    story = kpi_story(runs, kpi).set_index("run_id")
    assert bool(story.loc[ids["leaky"], "excluded"]) and not story.loc[ids["leaky"], "counted"]
    assert story.loc[ids["leaky"], "value"] == pytest.approx(0.999), "shown with its value"
    entries, alerts, _ = experiments_summary(runs, [kpi], week(families).start, week(families).end)
    # best: lr-search 0.9733 beats rf-search 0.95; leaky's 0.999 is excluded
    assert entries[0]["best"] == {"run_id": ids["lr"], "metric": METRIC, "value": pytest.approx(146 / 150)}
    assert entries[0]["runs"] == 5
    # lr-small: (0.9733 - 0.80) / 0.9733 = 17.8 % below the best > 5 % -> one alert;
    # broken: (0.9733 - 0.10) / 0.9733 = 89.7 % below, but excluded -> none
    assert [alert["run_id"] for alert in alerts] == [ids["lr-small"]]


# -- one definition everywhere ---------------------------------------------------------------------


def _page(page: str, families: Families, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("GLASSBOX_CONFIG", str(families.config_path))
    monkeypatch.delenv("GLASSBOX_DB_URL", raising=False)
    app = AppTest.from_file(APP, default_timeout=60)
    app.switch_page(f"views/{page}.py")
    app.run()
    assert not app.exception, app.exception[0].value if app.exception else ""
    return app


def _metric(app: AppTest, label: str) -> str:
    return next(str(metric.value) for metric in app.metric if metric.label == label)


def test_today_experiments_and_the_report_count_the_same_runs(families: Families,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """11 MLflow runs (22 events) are 5 runs everywhere, with one best: lr-search's 0.9733."""
    period = week(families)
    report = build_report(families.store, families.config, period, now=families.now)
    assert report["counts"]["runs"] == 5
    assert report["experiments"][0]["runs"] == 5
    assert report["links"]["runs_with_commit"] + report["links"]["runs_without_commit"] == 5
    assert report["experiments"][0]["best"]["run_id"] == families.ids["lr"]
    assert sum(row["runs"] for row in report["daily"]) == 5

    today = _page("today", families, monkeypatch)
    assert _metric(today, "Runs started") == "5"
    assert _metric(today, f"Best {METRIC} · {EXPERIMENT}") == f"{146 / 150:.4g}"
    by_person = next(table.value for table in today.dataframe if "actor" in table.value.columns)
    assert by_person["runs"].sum() == 5, "a run's start and finish are one run, its children none"

    experiments = _page("experiments", families, monkeypatch)
    assert _metric(experiments, "Runs in period") == "5"
    assert _metric(experiments, f"Best {METRIC}") == f"{146 / 150:.4g}"
    table = next(table.value for table in experiments.dataframe if "Run" in table.value.columns)
    assert sorted(table["Run"]) == ["broken", "leaky", "lr-search", "lr-small", "rf-search"]
    assert set(table.loc[table["Excluded"], "Run"]) == {"broken", "leaky"}
    results = dict(zip(table["Run"], table["Result"], strict=True))
    assert results["lr-search"] == pytest.approx(146 / 150) and results["rf-search"] == pytest.approx(0.95)
    experiments.toggle(key="exp_children").set_value(True).run()
    unfolded = next(table.value for table in experiments.dataframe if "Run" in table.value.columns)
    rf = unfolded.index[unfolded["Run"] == "rf-search"][0]
    assert sorted(unfolded["Run"].iloc[rf + 1: rf + 4]) == ["↳ rf-d2", "↳ rf-d4", "↳ rf-d8"]
    assert len(unfolded) == 11

    markdown = render_markdown(ReportContent.from_report(report))
    assert "5 runs in this period" in markdown
    assert "best of 3 child runs" in markdown and "excluded" in markdown
    assert "rf-d4" not in markdown, "children are folded into their parent, not listed"


# -- frames without the new attributes ------------------------------------------------------------


def test_a_frame_without_parent_or_exclude_columns_counts_every_run() -> None:
    """Stores synced before ``excluded`` existed (and hand-built frames) read as "not excluded"."""
    at = pd.Timestamp("2026-11-03 10:00", tz="UTC")
    runs = pd.DataFrame({"run_id": ["a", "b"], "experiment": ["e", "e"], "started_at": [at, at],
                         "status": ["FINISHED", "FAILED"], "metrics": [{"m": 0.5}, {"m": 0.9}],
                         "name": ["a", "b"], "actor": "dev", "params": [{}, {}], "note": None, "commit": None,
                         "sha": None, "tickets": [[], []], "url": None})
    table = with_families(runs)
    assert table["top_level"].all() and not table["excluded"].any()
    assert count_runs(table, at.to_pydatetime(), (at + pd.Timedelta(hours=1)).to_pydatetime()) == 2
    story = kpi_story(table, Kpi(experiment="e", metric="m"))
    assert story["counted"].tolist() == [True, False]  # b FAILED: shown with 0.9, never best


def test_failed_runs_are_the_failed_and_the_killed_not_the_running() -> None:
    """The Today and Experiments pages' "Failed" cards count MLflow's two end states of a failure."""
    runs = pd.DataFrame({"status": ["FINISHED", "FAILED", "KILLED", "RUNNING", "SCHEDULED"]})
    assert failed(runs).tolist() == [False, True, True, False, False]
