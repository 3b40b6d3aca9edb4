"""The read model's runs (``rm_runs``) are the runs table the metric functions give over the run events.

Pages and reports read every run up to a period's end from these rows instead of building the table
from every run event. Each test writes through the sync's hooked :meth:`Store.write` and compares the
stored rows with :func:`glassbox.metrics.runs.run_table` over the view's run events, on SQLite and
PostgreSQL: a seeded engagement (a search with children, notes, runs tagged with commits), and the
orders a sync can meet a run's relatives in. ``tests/test_read_model.py`` replays random syncs, edits
and deletions (short tags, internal tickets) against the same comparison.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from seed import seeded_engagement
from test_read_model import comparable_runs, derived_runs, stored_runs

from glassbox import readmodel
from glassbox.config import Config, load_config
from glassbox.events import Event, Ref, Tombstone, commit_event_id, commit_ref, run_event_ids
from glassbox.store import Store
from glassbox.views import View
from glassbox.workspace import open_engagement

MLFLOW = "sqlite:///mlruns.db"
AT = datetime(2026, 11, 2, 15, tzinfo=UTC)
CONFIG = Config.model_validate({
    "engagement": {"name": "Runs", "timezone": "America/New_York"},
    "team": {"timezone": "Asia/Ho_Chi_Minh"},
    "kpi": [{"experiment": "churn", "metric": "val_auc", "target": 0.85}],
})
SHA = "abcdef0123456789abcdef0123456789abcdef01"


def run(run_id: str, *, parent: str | None = None, commit: str | None = None, at: datetime = AT) -> list[Event]:
    """Both events of a finished MLflow run, as the connector writes them (the same attrs on each)."""
    attrs = {"run_id": run_id, "experiment": "churn", "status": "FINISHED", "metrics": {"val_auc": 0.8},
             "parent_run_id": parent, "commit": commit, "start_time": at.isoformat(),
             "end_time": (at + timedelta(minutes=5)).isoformat()}
    started, finished = run_event_ids(MLFLOW, run_id)
    common = {"source": "mlflow", "origin": MLFLOW, "thread": "churn", "title": run_id, "actor": "ana",
              "refs": commit_ref(commit), "attrs": attrs}
    return [Event(id=started, category="run_started", occurred_at=at, **common),
            Event(id=finished, category="run_finished", occurred_at=at + timedelta(minutes=5), **common)]


def commit(sha: str, ticket: str) -> Event:
    return Event(id=commit_event_id(sha), source="git", origin="/src/churn", category="commit",
                 occurred_at=AT - timedelta(hours=1), actor="ana", thread="churn", title=f"{ticket} fix",
                 refs=(*commit_ref(sha), Ref("ticket", ticket)), attrs={"sha": sha})


def kept_current(store: Store, config: Config = CONFIG) -> Store:
    readmodel.attach(store, config)
    readmodel.ensure_current(store, config)
    return store


def test_seeded_runs_are_the_runs_table_of_the_run_events_in_both_views(tmp_path: Path, store: Store) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    config = load_config(seeded_engagement(tmp_path, store_url=url))
    seeded = open_engagement(config)
    readmodel.rebuild(seeded, config)
    stored = stored_runs(seeded)
    pd.testing.assert_frame_equal(stored, derived_runs(seeded, config))
    assert (stored["children"] > 0).any() and stored["note"].notna().any() and stored["sha"].notna().any()
    assert set(stored["view"]) == {"team", "client"}


def test_a_period_end_keeps_the_runs_with_an_event_before_it(tmp_path: Path, store: Store) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    config = load_config(seeded_engagement(tmp_path, store_url=url))
    seeded = open_engagement(config)
    readmodel.rebuild(seeded, config)
    end = stored_runs(seeded)["started_at"].median().to_pydatetime()  # runs on both sides of it
    before = pd.concat([readmodel.stored_runs(seeded, view, end).assign(view=view.value) for view in View])
    assert 0 < len(before) < len(stored_runs(seeded))
    derived = derived_runs(seeded, config, end)
    stored = comparable_runs(before)
    # a run finishing after the end is read as last synced (glassbox.readmodel.runs); the seed, unlike the
    # connector, gives a run's start event the attrs it had while running, so those three may differ
    pd.testing.assert_frame_equal(stored.drop(columns=["status", "metrics", "ended_at"]),
                                  derived.drop(columns=["status", "metrics", "ended_at"]))


def test_a_child_synced_before_its_parent_folds_into_it_once_the_parent_arrives(store: Store) -> None:
    kept_current(store)
    store.write(run("child", parent="parent"))
    assert readmodel.stored_runs(store, View.TEAM).set_index("run_id").loc["child", "top_level"]
    store.write(run("parent"))
    runs = readmodel.stored_runs(store, View.TEAM).set_index("run_id")
    assert runs.loc["child", "family"] == "parent" and not runs.loc["child", "top_level"]
    assert runs.loc["parent", "children"] == 1
    pd.testing.assert_frame_equal(stored_runs(store), derived_runs(store, CONFIG))


def test_a_commit_synced_after_the_run_resolves_its_short_tag_and_gives_it_the_commit_tickets(store: Store) -> None:
    kept_current(store)
    store.write(run("tagged", commit=SHA[:8]))
    assert readmodel.stored_runs(store, View.TEAM).iloc[0][["sha", "tickets"]].tolist() == [None, []]
    store.write([commit(SHA, "CHURN-7")])
    assert readmodel.stored_runs(store, View.TEAM).iloc[0][["sha", "tickets"]].tolist() == [SHA, ["CHURN-7"]]
    store.write([commit(SHA[:8] + "f" * 32, "CHURN-8")])  # a second commit with that prefix: ambiguous now
    assert readmodel.stored_runs(store, View.TEAM).iloc[0][["sha", "tickets"]].tolist() == [None, []]
    pd.testing.assert_frame_equal(stored_runs(store), derived_runs(store, CONFIG))


def test_a_run_deleted_at_its_source_leaves_no_row(store: Store) -> None:
    kept_current(store)
    store.write([*run("kept"), *run("doomed")])
    store.write([], [Tombstone(event) for event in run_event_ids(MLFLOW, "doomed")])
    assert set(stored_runs(store)["run_id"]) == {"kept"}
