"""Each slice the pages read instead of the whole history gives what the whole history gave.

The old path is the metric functions over the view's whole timeline (what the dashboard held in
memory before issue #17); the new one reads a slice by key or category (:mod:`glassbox.slices`).
Both run on the seeded engagement — tickets waiting on the client, an internal ticket, pull
requests reviewed, a sweep of child runs, a regression — plus a registered model promoted twice and
a run on a short SHA, on SQLite and PostgreSQL, in both views.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from conftest import pg_schema
from seed import seeded_engagement, write_config

from connectors.mlflow.models import alias_moved
from glassbox import readmodel, slices
from glassbox.config import Config, load_config
from glassbox.events import Event, Ref, commit_event_id, event_id
from glassbox.metrics.agreements import ticket_pause_intervals
from glassbox.metrics.compute import compute_frame
from glassbox.metrics.datasets import datasets_by_run
from glassbox.metrics.latency import compute_all_latencies
from glassbox.metrics.linking import RUN_CATEGORIES, build_links, runs_frame, ticket_keys
from glassbox.metrics.models import alias_moves, models_summary, positions_at, versions_frame
from glassbox.metrics.runs import run_table
from glassbox.metrics.story import judge_every_run, ticket_story
from glassbox.readmodel.kpis import judged_runs
from glassbox.slices import with_run_notes
from glassbox.sources import configured_sources
from glassbox.store import Store
from glassbox.timeline import load_timeline
from glassbox.views import View
from glassbox.visibility import internal_origins
from glassbox.workspace import open_engagement

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
MLFLOW = "http://127.0.0.1:5000"


def model_events(store: Store) -> list[Event]:
    """``churn-model`` v1 and v2 from the two newest finished runs, @champion moved to v1 then v2."""
    finished = store.read_events(categories=["run_finished"], columns=("id", "occurred_at", "attrs"))
    newest = finished.sort_values("occurred_at").tail(2)
    events = []
    for version, (moment, attrs) in enumerate(zip(newest["occurred_at"], newest["attrs"], strict=True), start=1):
        run_id = attrs["run_id"]
        events.append(Event(id=event_id("mlflow", MLFLOW, f"model:churn-model:{version}"), source="mlflow",
                            origin=MLFLOW, category="model_version_created", occurred_at=moment + timedelta(minutes=5),
                            actor="dana", thread="churn-model", title=f"churn-model version {version}",
                            attrs={"model": "churn-model", "version": str(version), "run_id": run_id}))
        events.append(alias_moved(origin=MLFLOW, model="churn-model", alias="champion",
                                  from_version=str(version - 1) if version > 1 else None, to_version=str(version),
                                  seen_at=moment + timedelta(minutes=10), run_id=run_id))
    return events


def short_sha_run(store: Store) -> Event:
    """A run tagged with the first 8 digits of a commit naming a ticket: its tickets come through the commit."""
    commits = store.read_events(categories=["commit"], columns=("id", "attrs", "occurred_at"))
    sha = commits.iloc[len(commits) // 2]["attrs"]["sha"]
    return Event(id=event_id("mlflow", MLFLOW, "run:short-sha"), source="mlflow", origin=MLFLOW,
                 category="run_finished", occurred_at=NOW - timedelta(days=2), actor="dana", thread="churn",
                 title="short-sha", body="Tagged by a short SHA", refs=(Ref("commit", sha[:8]),),
                 attrs={"run_id": "short-sha", "experiment": "churn", "status": "FINISHED",
                        "metrics": {"val_auc": 0.5}, "start_time": (NOW - timedelta(days=2, hours=1)).isoformat()})


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Config]]:
    with ExitStack() as stack:
        url = stack.enter_context(pg_schema()) if request.param == "postgresql" else None
        yield seeded_store(tmp_path_factory.mktemp("slices"), url)


def seeded_store(folder: Path, url: str | None) -> tuple[Store, Config]:
    path = seeded_engagement(folder, store_url=url, now=NOW)
    config = load_config(Path(path))
    store = open_engagement(config)
    store.write([*model_events(store), short_sha_run(store)])
    readmodel.rebuild(store, config)
    return store, config


def whole(store: Store, config: Config, view: View) -> pd.DataFrame:
    return with_run_notes(load_timeline(store, config, view=view), store, NOW + timedelta(days=1))


def run_rows(frame: pd.DataFrame) -> pd.DataFrame:
    table = run_table(runs_frame(frame.loc[frame["category"].isin(["commit", *RUN_CATEGORIES])]), frame)
    return table.sort_values("run_id").reset_index(drop=True)


@pytest.mark.parametrize("view", list(View))
def test_runs_models_datasets_and_compute_come_from_the_runs_alone(seeded: tuple[Store, Config], view: View) -> None:
    store, config = seeded
    old, new = whole(store, config, view), slices.ml_history(store, config, view)
    assert len(new) < len(old) / 3
    old_runs, new_runs = run_rows(old), run_rows(new)
    pd.testing.assert_frame_equal(new_runs, old_runs)
    assert new_runs.loc[new_runs["run_id"] == "short-sha", "tickets"].item()  # resolved through its commit
    start, end = NOW - timedelta(days=30), NOW
    assert (models_summary(new, new_runs, config.kpi, start, end)
            == models_summary(old, old_runs, config.kpi, start, end))
    pd.testing.assert_frame_equal(versions_frame(new, new_runs, config.kpi), versions_frame(old, old_runs, config.kpi))
    assert positions_at(alias_moves(new)) == positions_at(alias_moves(old)) == {"churn-model": {"champion": 2}}
    assert datasets_by_run(new_runs) == datasets_by_run(old_runs)
    pd.testing.assert_frame_equal(compute_frame(new_runs), compute_frame(old_runs))


@pytest.mark.parametrize("view", list(View))
def test_titles_and_story_tickets_are_read_by_key(seeded: tuple[Store, Config], view: View) -> None:
    store, config = seeded
    old = whole(store, config, view)
    heads = old.loc[old["category"].isin(slices.HEADS)]
    every_title = dict(zip(heads["thread"], heads["title"], strict=True))
    asked = sorted(every_title)[::3] + ["NOPE-1"]
    expected = {key: every_title[key] for key in asked if key in every_title}
    assert slices.titles_of(store, config, view, asked) == expected

    tickets = set(old.loc[old["category"] == "ticket_created", "thread"]) | {
        key for refs, kinds in zip(old["refs"], old["ref_kinds"], strict=True) for key in ticket_keys(refs, kinds)}
    assert slices.story_tickets(store, config, view) == sorted(tickets)
    assert ("CHURN-900" in tickets) is (view is View.TEAM)  # the internal ticket
    threads = set(old["thread"].head(200)) | {"CHURN-900", "NOPE-1"}
    assert slices.tickets_among(store, config, view, threads) == tickets & threads


@pytest.mark.parametrize("view", list(View))
def test_a_periods_tickets_are_those_its_events_are_or_name(seeded: tuple[Store, Config], view: View) -> None:
    """The Timeline's ticket picker: each Jira ticket with an event in the period, each key an event of it names."""
    store, config = seeded
    old = whole(store, config, view)
    for days in (1, 7, 30, 400):
        start, end = NOW - timedelta(days=days), NOW - timedelta(hours=6)
        inside = old.loc[(old["occurred_at"] >= start) & (old["occurred_at"] < end)]
        expected = set(inside.loc[inside["source"] == "jira", "thread"]) | {
            key for refs, kinds in zip(inside["refs"], inside["ref_kinds"], strict=True)
            for key in ticket_keys(refs, kinds)}
        assert slices.period_tickets(store, config, view, start, end) == sorted(expected), f"{days} days"
    assert "CHURN-900" not in slices.period_tickets(store, config, View.CLIENT, NOW - timedelta(days=400), NOW)


def test_with_an_internal_source_a_clients_ticket_lists_keep_only_jira_keys(tmp_path: Path) -> None:
    """Jira and an internal source configured: the client's lists drop keys only the internal source
    names, and in both views a key outside Jira's projects (``ISO-9001`` in a commit) is no ticket."""
    path = write_config(tmp_path, f"sqlite:///{tmp_path / 'glassbox.db'}")
    path.write_text(path.read_text(encoding="utf-8") + '\n[[git]]\npath = "vendor-notes"\ninternal = true\n',
                    encoding="utf-8")
    config = load_config(path)
    store = open_engagement(config)
    jira, = (spec.section.origin(config.folder) for spec in configured_sources(config) if spec.kind == "jira")
    vendor, = internal_origins(config)
    moment = NOW - timedelta(days=3)

    def commit(sha: str, origin: str, keys: tuple[str, ...]) -> Event:
        return Event(id=commit_event_id(sha), source="git", origin=origin, category="commit", occurred_at=moment,
                     actor="lan@agency.example", thread="churn", title=f"Touch {' '.join(keys)}",
                     refs=tuple(Ref("ticket", key) for key in keys), attrs={"sha": sha})

    store.write([
        Event(id=event_id("jira", jira, "CHURN-1:created"), source="jira", origin=jira, category="ticket_created",
              occurred_at=moment - timedelta(days=1), actor="carol", thread="CHURN-1", title="Churn scores"),
        commit("a" * 40, "churn", ("CHURN-1", "ISO-9001")),
        commit("b" * 40, vendor, ("CHURN-777",)),
    ])
    readmodel.rebuild(store, config)
    start, end = NOW - timedelta(days=7), NOW
    assert slices.story_tickets(store, config, View.TEAM) == ["CHURN-1", "CHURN-777"]
    assert slices.period_tickets(store, config, View.TEAM, start, end) == ["CHURN-1", "CHURN-777"]
    assert slices.story_tickets(store, config, View.CLIENT) == ["CHURN-1"]
    assert slices.period_tickets(store, config, View.CLIENT, start, end) == ["CHURN-1"]


@pytest.mark.parametrize("view", list(View))
def test_pauses_come_from_the_tickets_status_history(seeded: tuple[Store, Config], view: View) -> None:
    store, config = seeded
    old = ticket_pause_intervals(whole(store, config, view))
    tickets = set(old["thread"]) | {"CHURN-1", "CHURN-2"}
    new = ticket_pause_intervals(slices.status_history(store, config, view, tickets))
    assert len(old)
    expected = old.loc[old["thread"].isin(tickets)].reset_index(drop=True)
    pd.testing.assert_frame_equal(new.reset_index(drop=True), expected)


@pytest.mark.parametrize("view", list(View))
def test_every_ticket_story_reads_only_its_neighbourhood(seeded: tuple[Store, Config], view: View) -> None:
    store, config = seeded
    old = whole(store, config, view)
    old_links = build_links(old)
    samples = compute_all_latencies(old, config, NOW, old_links)
    runs = slices.ml_history(store, config, view)
    told = judged = 0
    every_run = judge_every_run(old, old_links, config.kpi)  # what each whole-history story judges, once
    for key in slices.story_tickets(store, config, view):
        expected = ticket_story(old, old_links, samples, key, config.kpi, every_run)
        with_runs = bool((expected["step"] == "run").any()) if len(expected) else False
        if with_runs:  # the ML history beside the neighbourhood (a stale read model) differs only in the runs
            near = slices.ticket_neighbourhood(store, config, view, key, runs)
            pd.testing.assert_frame_equal(ticket_story(near, build_links(near), samples, key, config.kpi), expected,
                                          obj=key)
        # no ML history read (the read model current): the neighbourhood's own runs, judged by its stories
        own = slices.ticket_neighbourhood(store, config, view, key)
        own_links = build_links(own)
        served = own_links.for_ticket(key)["runs"]["run_id"]
        fared = judged_runs(store, config.kpi, view, served)
        pd.testing.assert_frame_equal(ticket_story(own, own_links, samples, key, config.kpi, fared), expected,
                                      obj=f"{key}, the read model's")
        told += len(expected) > 5
        judged += with_runs
    assert told >= 5  # stories with commits, pull requests and runs, not just a ticket's own events
    assert judged >= 3, "stories with runs judged against the best before them"
