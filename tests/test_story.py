"""A ticket's story, read from the demo engagement (a real git repository, MLflow store with a
registry, and recorded Jira/GitHub payloads), in the team and the client view. The demo is the
session's (conftest.py's ``demo_build``)."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import BuiltDemo

from glassbox.config import Config, load_config
from glassbox.metrics.latency import compute_all_latencies
from glassbox.metrics.linking import build_links
from glassbox.metrics.story import Step, ticket_story
from glassbox.slices import with_run_notes
from glassbox.timeline import load_timeline
from glassbox.workspace import open_engagement


@pytest.fixture(scope="module")
def demo(demo_build: BuiltDemo) -> Config:
    return load_config(demo_build.config)


def story(config: Config, key: str, view: str = "team") -> pd.DataFrame:
    store = open_engagement(config)
    try:
        events = with_run_notes(load_timeline(store, config, view=view), store, pd.Timestamp.now(tz="UTC"))
        return ticket_story(events, build_links(events), compute_all_latencies(events, config), key, config.kpi)
    finally:
        store.engine.dispose()


def test_story_runs_from_the_ticket_through_commits_and_runs_to_the_model_and_its_champion(demo: Config) -> None:
    chain = story(demo, "CHURN-7")
    assert chain["at"].is_monotonic_increasing
    steps = list(chain["step"])
    assert steps[0] == Step.CREATED
    assert {Step.COMMIT, Step.RUN, Step.MODEL_VERSION, Step.ALIAS} <= set(steps)
    runs = chain.loc[chain["step"] == Step.RUN]
    assert list(runs["title"]) == ["gbm-tuned", "gbm-tuned-3seeds"]
    assert "val_auc 0.862 (new best)" in runs.iloc[1]["detail"]
    assert "changed seeds None→3" in runs.iloc[1]["detail"]  # against gbm-tuned, the best before it
    assert list(chain.loc[chain["step"] == Step.MODEL_VERSION, "title"]) == [
        "churn-model version 2", "churn-model version 3"]
    assert list(chain.loc[chain["step"] == Step.ALIAS, "detail"]) == [
        "@champion: version — → 2", "@champion: version 2 → 3"]


def test_story_names_the_data_a_run_trained_on(demo: Config) -> None:
    runs = story(demo, "CHURN-5").query("step == 'run'")
    fixed = runs.loc[runs["title"] == "gbm-group-split", "detail"].iloc[0]
    leaky = runs.loc[runs["title"] == "gbm-features-v2", "detail"].iloc[0]
    assert "data churn-train@" in fixed and "data churn-train@" in leaky
    assert fixed.split("data ")[1][:20] != leaky.split("data ")[1][:20]  # the split by customer is new data


def test_story_lists_every_wait_with_who_it_was_on(demo: Config) -> None:
    waits = story(demo, "CHURN-8").query("step == 'wait'")
    assert "client" in set(waits["side"])  # waiting for Carol's answer on the churn definition
    assert all(detail.startswith(f"on the {side}") for detail, side in zip(waits["detail"], waits["side"],
                                                                           strict=True))


def test_an_internal_ticket_has_no_story_for_the_client(demo: Config) -> None:
    assert not story(demo, "CHURN-10", "team").empty
    assert story(demo, "CHURN-10", "client").empty


def test_a_public_story_leaves_internal_items_out_for_the_client(demo: Config) -> None:
    team, client = story(demo, "CHURN-7", "team"), story(demo, "CHURN-7", "client")
    assert not client.empty
    assert len(client) <= len(team)
    assert not client["title"].str.contains("CHURN-10").any()


def test_experiments_page_shows_the_model_its_champion_and_the_data_change(demo: Config,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.test_dashboard import APP, texts

    monkeypatch.setenv("GLASSBOX_CONFIG", str(demo.path))
    monkeypatch.delenv("GLASSBOX_DB_URL", raising=False)
    app = AppTest.from_file(APP, default_timeout=60)
    app.switch_page("views/experiments.py")
    app.run()
    assert not app.exception, app.exception[0].value if app.exception else ""
    shown = texts(app)
    assert "Models" in shown and "@champion → version 3" in shown and "as good as the best run" in shown
    versions = next(t.value for t in app.dataframe if "Aliases" in t.value.columns)
    assert list(versions.loc[versions["Aliases"] == "@champion", "Version"]) == [3]
    table = next(t.value for t in app.dataframe if "Data changed" in t.value.columns)
    assert bool(table.loc[table["Run"] == "gbm-group-split", "Data changed"].iloc[0])  # the split by customer
