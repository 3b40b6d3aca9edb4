"""The read model keeps the run figures of the week still running (``rm_week_runs``), as its runs give them.

Each test writes the demo engagement (and a drop in this week, whatever its day) through the sync's hooked
:meth:`Store.write`, on SQLite and PostgreSQL, and compares what is kept with
:func:`glassbox.readmodel.weeks.week_run_figures` measured then: after the rebuild, after a sync that
adds a better run or moves a model's alias to a worse version, after the first sync of a new week,
and against a rebuild. A write that changes a run forgets the figures (never stale, only missing)
and the sync's end (``ensure_current``) derives them. Dates are relative to the real clock, because
the sync keeps the week running now.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from seed import EXPERIMENT, seed_store, write_config
from sqlalchemy import update

from connectors.mlflow.models import alias_moved, version_event_id
from glassbox import readmodel, schema
from glassbox.config import Config, load_config
from glassbox.events import Event, event_id
from glassbox.readmodel.weeks import WeekRuns, current_week, kept_week, week_run_figures
from glassbox.store import Store
from glassbox.views import View


@pytest.fixture
def demo(store: Store, tmp_path: Path) -> tuple[Store, Config]:
    """Six weeks of the demo engagement up to now, written through the sync's hook, then rebuilt, and a
    run of this week far below the best: the demo's own sweep, a day ago, is last week's from Monday
    to Tuesday noon."""
    config = load_config(write_config(tmp_path / "demo", "sqlite:///unused.db"))
    readmodel.attach(store, config)
    now = datetime.now(UTC)
    seed_store(store, config, now=now, weeks=6)
    store.write(run_of(config, max(current_week(config, now).start, now - timedelta(hours=2)), "r-drop", 0.70))
    readmodel.ensure_current(store, config)
    return store, config


def measured(store: Store, config: Config) -> dict[View, WeekRuns]:
    week = current_week(config, datetime.now(UTC))
    return {view: week_run_figures(store, config, week, view) for view in View}


def kept(store: Store, config: Config) -> dict[View, WeekRuns | None]:
    week = current_week(config, datetime.now(UTC))
    return {view: kept_week(store, view, week) for view in View}


def test_the_week_still_running_is_kept_as_its_runs_and_models_give_it(demo: tuple[Store, Config]) -> None:
    store, config = demo
    figures = measured(store, config)
    assert kept(store, config) == figures
    team = figures[View.TEAM]
    assert team.runs and team.experiments[0]["best"] is not None, "the week has runs and a best"
    assert {alert["kind"] for alert in team.alerts} == {"metric_drop"}, "this week's drop"


def test_a_model_moved_to_a_worse_version_is_kept_among_the_weeks_alerts(demo: tuple[Store, Config]) -> None:
    store, config = demo
    runs = readmodel.stored_runs(store, View.TEAM)
    runs = runs.loc[runs["top_level"] & (runs["status"] == "FINISHED")]
    value = runs["metrics"].map(lambda metrics: metrics.get("val_auc"))
    better, worse = str(runs.loc[value.idxmax(), "run_id"]), str(runs.loc[value.idxmin(), "run_id"])
    store.write(model_moved_to_worse(config, better, worse))  # model events only: no run changes
    assert kept(store, config) == dict.fromkeys(View), "forgotten by the write"
    readmodel.ensure_current(store, config)  # the sync's end
    figures = measured(store, config)
    assert {alert["kind"] for alert in figures[View.TEAM].alerts} == {"metric_drop", "model_regressed"}
    assert kept(store, config) == figures


def test_a_better_run_synced_changes_the_kept_best_and_a_rebuild_changes_nothing(
        demo: tuple[Store, Config]) -> None:
    store, config = demo
    started = max(current_week(config, datetime.now(UTC)).start, datetime.now(UTC) - timedelta(hours=1))
    store.write(run_of(config, started, "r-best", 0.99))  # better than every other
    readmodel.ensure_current(store, config)
    figures = measured(store, config)
    assert figures[View.TEAM].experiments[0]["best"]["run_id"] == "r-best"
    assert kept(store, config) == figures
    readmodel.rebuild(store, config)
    assert kept(store, config) == figures


def test_the_first_sync_of_a_new_week_keeps_that_week(demo: tuple[Store, Config]) -> None:
    store, config = demo
    last_week = current_week(config, datetime.now(UTC)).previous()
    with store.engine.begin() as conn:  # as the last sync of last week left it
        conn.execute(update(schema.rm_week_runs).values(week=last_week.label))
    assert kept(store, config) == dict.fromkeys(View)
    store.write([pull_request_comment(config)])  # no run, no model: the write leaves the figures alone
    assert kept_week(store, View.TEAM, last_week) is not None
    readmodel.ensure_current(store, config)
    assert kept(store, config) == measured(store, config)
    assert kept_week(store, View.TEAM, last_week) is None, "only the week running is kept"


def run_of(config: Config, started: datetime, run_id: str, val_auc: float) -> list[Event]:
    """Both events of a finished run of the demo's experiment, as the MLflow connector writes them."""
    origin = config.mlflow[0].origin(config.folder)
    attrs = {"run_id": run_id, "experiment": EXPERIMENT, "status": "FINISHED", "params": {"max_depth": "4"},
             "metrics": {"val_auc": val_auc}, "parent_run_id": None, "start_time": started.isoformat(),
             "end_time": (started + timedelta(minutes=10)).isoformat()}
    common = {"source": "mlflow", "origin": origin, "thread": EXPERIMENT, "title": run_id, "actor": "minh-dev",
              "attrs": attrs}
    return [Event(id=event_id("mlflow", origin, f"{run_id}:started"), category="run_started", occurred_at=started,
                  **common),
            Event(id=event_id("mlflow", origin, f"{run_id}:finished"), category="run_finished",
                  occurred_at=started + timedelta(minutes=10), **common)]


def model_moved_to_worse(config: Config, better: str, worse: str) -> list[Event]:
    """Versions 1 and 2 of a model from runs ``better`` and ``worse``; @champion moved from 1 to 2 an hour ago."""
    origin = config.mlflow[0].origin(config.folder)
    moved = datetime.now(UTC) - timedelta(hours=1)
    versions = [Event(id=version_event_id(origin, "churn-model", number), source="mlflow", origin=origin,
                      category="model_version_created", occurred_at=moved - timedelta(hours=2), actor="minh-dev",
                      thread="churn-model", title=f"churn-model version {number}",
                      attrs={"model": "churn-model", "version": number, "run_id": run_id, "status": "READY"})
                for number, run_id in (("1", better), ("2", worse))]
    return [*versions,
            alias_moved(origin=origin, model="churn-model", alias="champion", from_version=None, to_version="1",
                        seen_at=moved - timedelta(minutes=30), run_id=better),
            alias_moved(origin=origin, model="churn-model", alias="champion", from_version="1", to_version="2",
                        seen_at=moved, run_id=worse)]


def pull_request_comment(config: Config) -> Event:
    """A comment on a pull request no run names: a write that touches no run and no model."""
    origin = config.github[0].origin(config.folder)
    return Event(id=event_id("github", origin, "pr1:comment:new"), source="github", origin=origin,
                 category="comment", occurred_at=datetime.now(UTC) - timedelta(minutes=5), actor="dan-acme",
                 thread=f"{origin}#1", title=f"Comment on {origin}#1")
