"""The read model's KPI stories (``rm_kpi_runs``) are the stories the metric functions give over the runs.

Each test writes through the sync's hooked :meth:`Store.write`, on SQLite and PostgreSQL, and compares
the stored rows with :func:`glassbox.metrics.experiments.kpi_story` over the stored runs: after random
syncs of searches (children synced before and after their parents, re-parented, deleted), failed and
excluded runs, runs moved in time and runs edited, and after a rebuild. A period's story from the rows
(:func:`glassbox.readmodel.kpis.period_stories`) is the story of the runs before its end, and a week
whose searches were not yet whole at its end is read from the runs instead.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import select

from glassbox import readmodel, schema
from glassbox.config import Config
from glassbox.events import Event, Ref, Tombstone, event_id, run_event_ids
from glassbox.metrics.experiments import STORY_COLUMNS, kpi_story
from glassbox.readmodel.kpis import STORED, period_stories
from glassbox.readmodel.kpis import stored_story as story_before
from glassbox.readmodel.runs import family_runs
from glassbox.store import Store
from glassbox.views import View

MLFLOW = "sqlite:///mlruns.db"
START = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday
AUC = {"experiment": "churn", "metric": "val_auc", "target": 0.85, "alert_drop": 0.05}
LOSS = {"experiment": "churn", "metric": "loss", "goal": "min"}
CONFIG = Config.model_validate({
    "engagement": {"name": "Runs", "timezone": "UTC"},
    "team": {"timezone": "UTC"},
    "kpi": [AUC, LOSS, {"experiment": "ranker", "metric": "ndcg"}],
})


def run(run_id: str, at: datetime, *, experiment: str = "churn", parent: str | None = None,
        metrics: dict[str, float] | None = None, status: str = "FINISHED", excluded: bool = False,
        refs: tuple[Ref, ...] = ()) -> list[Event]:
    """Both events of an MLflow run, as the connector writes them (the same attrs on each)."""
    attrs = {"run_id": run_id, "experiment": experiment, "status": status, "metrics": metrics or {},
             "params": {"lr": round(at.minute / 60, 2)}, "parent_run_id": parent, "excluded": excluded,
             "start_time": at.isoformat(), "end_time": (at + timedelta(minutes=5)).isoformat()}
    started, finished = run_event_ids(MLFLOW, run_id)
    common = {"source": "mlflow", "origin": MLFLOW, "thread": experiment, "title": run_id, "actor": "ana",
              "attrs": attrs, "refs": refs}
    return [Event(id=started, category="run_started", occurred_at=at, **common),
            Event(id=finished, category="run_finished", occurred_at=at + timedelta(minutes=5), **common)]


SECRET = "CHURN-1"  # an internal ticket (labelled, then not, then again): the runs naming it are the team's


def secret_ticket(internal: bool) -> Event:
    return Event(id=event_id("jira", "https://jira", f"{SECRET}:created"), source="jira", origin="https://jira",
                 category="ticket_created", occurred_at=START, actor="ana", thread=SECRET, title="secret",
                 refs=(Ref("ticket", SECRET),), labels=("internal",) if internal else (), attrs={"status": "To Do"})


class RandomSearches:
    """Random runs and edits of them; ``runs`` is what the store should hold (run id -> its events).
    Some runs name an internal ticket, which turns public and internal again now and then."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.runs: dict[str, list[Event]] = {}
        self.count = 0
        self.internal = True

    def new_run(self) -> list[Event]:
        self.count += 1
        run_id = f"r{self.count}"
        roll = self.rng.random()
        # a child of a known run, of a run not synced yet (it may come later), or top-level
        parent = (self.rng.choice(sorted(self.runs)) if roll < 0.35 and self.runs
                  else f"r{self.count + self.rng.randint(1, 3)}" if roll < 0.45 else None)
        return self._events(run_id, parent)

    def _events(self, run_id: str, parent: str | None) -> list[Event]:
        at = START + timedelta(hours=self.rng.uniform(0, 24 * 28))
        metrics = {name: round(self.rng.uniform(0.6, 0.9), 3) for name in ("val_auc", "loss", "ndcg")
                   if self.rng.random() < 0.8}
        return run(run_id, at, experiment=self.rng.choice(("churn", "churn", "churn", "ranker")), parent=parent,
                   metrics=metrics, status=self.rng.choice(("FINISHED",) * 5 + ("FAILED",)),
                   excluded=self.rng.random() < 0.08,
                   refs=(Ref("ticket", SECRET),) if self.rng.random() < 0.2 else ())

    def edit(self) -> list[Event]:
        """A run changed at its source: a new start (both events move), metrics or parent."""
        run_id = self.rng.choice(sorted(self.runs))
        parent = self.runs[run_id][0].attrs.get("parent_run_id")
        if self.rng.random() < 0.3:
            parent = self.rng.choice([None, *sorted(self.runs)])
        return self._events(run_id, None if parent == run_id else parent)

    def batch(self) -> tuple[list[Event], list[Tombstone]]:
        events: list[Event] = []
        if not self.runs or self.rng.random() < 0.2:
            self.internal = not self.internal if self.runs else True
            events.append(secret_ticket(self.internal))
        for _ in range(self.rng.randint(1, 8)):
            made = self.edit() if self.runs and self.rng.random() < 0.25 else self.new_run()
            self.runs[made[0].attrs["run_id"]] = made
            events += made
        written = {event.attrs["run_id"] for event in events if event.source == "mlflow"}
        doomed = [run_id for run_id in sorted(self.runs) if run_id not in written and self.rng.random() < 0.04]
        for run_id in doomed:
            self.runs.pop(run_id)
        return events, [Tombstone(event_id) for run_id in doomed for event_id in run_event_ids(MLFLOW, run_id)]


def stored_story(store: Store, view: View, experiment: str, metric: str) -> pd.DataFrame:
    table = schema.rm_kpi_runs
    with store.engine.connect() as conn:
        rows = conn.execute(select(*(table.c[name] for name in STORED)).where(
            table.c.engagement == store.engagement, table.c.view == view.value,
            table.c.experiment == experiment, table.c.metric == metric)).all()
    return comparable(pd.DataFrame([tuple(row) for row in rows], columns=list(STORED)))


def derived_story(store: Store, view: View, kpi_index: int, end: datetime | None = None) -> pd.DataFrame:
    """The KPI's story over the stored runs (before ``end``), as every page and report judged it."""
    runs = readmodel.stored_runs(store, view, end)
    runs = runs.loc[runs["started_at"].notna() if end is None else runs["started_at"] < end]
    return kpi_story(runs, CONFIG.kpi[kpi_index])


def comparable(frame: pd.DataFrame, columns: tuple[str, ...] = STORED) -> pd.DataFrame:
    """Rows by run id, missing as None, floats to 9 digits (PostgreSQL's double precision round-trips)."""
    frame = frame.loc[:, list(columns)].copy()
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True).dt.as_unit("us")
    for name in frame.columns:
        if name in ("value", "best_so_far", "previous_best", "drop_fraction"):
            frame[name] = [None if value is None or pd.isna(value) else round(float(value), 9)
                           for value in frame[name]]
        elif name in ("counted", "new_best", "drop"):
            frame[name] = frame[name].astype(bool)
        elif name == "children":
            frame[name] = frame[name].astype(int)
        elif name != "started_at":
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame.sort_values(["started_at", "run_id"]).reset_index(drop=True)




def kept_current(store: Store, config: Config = CONFIG) -> Store:
    readmodel.attach(store, config)
    readmodel.ensure_current(store, config)
    return store


def assert_stories_are_the_runs_stories(store: Store, when: str) -> None:
    for view in View:
        for index, kpi in enumerate(CONFIG.kpi):
            pd.testing.assert_frame_equal(stored_story(store, view, kpi.experiment, kpi.metric),
                                          comparable(derived_story(store, view, index)),
                                          obj=f"{kpi.experiment}/{kpi.metric} ({view.value}) {when}")


def test_stories_after_random_syncs_are_the_stories_of_the_runs_and_a_rebuild_changes_nothing(store: Store) -> None:
    searches = RandomSearches({"sqlite": 4, "postgresql": 5}[store.engine.dialect.name])
    config = CONFIG
    kept_current(store, config)
    for step in range(14):
        store.write(*searches.batch())
        if step % 4 == 3:
            assert_stories_are_the_runs_stories(store, f"after batch {step}")
    store.write([secret_ticket(True)])  # the runs naming it leave the client's stories
    runs = readmodel.stored_runs(store, View.TEAM)
    assert (runs["children"] > 0).any() and (~runs["top_level"]).any(), "some searches have children"
    assert runs["excluded"].any() and (runs["status"] == "FAILED").any()
    assert len(readmodel.stored_runs(store, View.CLIENT)) < len(runs), "the client does not see every run"
    assert_stories_are_the_runs_stories(store, "at the end")
    incremental = {(view, kpi.metric): stored_story(store, view, kpi.experiment, kpi.metric)
                   for view in View for kpi in CONFIG.kpi}
    readmodel.rebuild(store, config)
    for (view, metric), frame in incremental.items():
        kpi = next(kpi for kpi in CONFIG.kpi if kpi.metric == metric)
        pd.testing.assert_frame_equal(frame, stored_story(store, view, kpi.experiment, metric))


def test_a_weeks_story_and_the_whole_story_before_its_end_are_the_runs_or_none_while_a_family_was_not_whole(
        store: Store) -> None:
    """A period's rows (the reports, the Portfolio) and every row before its end (the Experiments chart)."""
    searches = RandomSearches({"sqlite": 6, "postgresql": 7}[store.engine.dialect.name])
    kept_current(store)
    for _ in range(12):
        store.write(*searches.batch())
    read_from_rows = 0
    for week in range(5):
        start = START + timedelta(weeks=week)
        end = start + timedelta(weeks=1)
        stories = period_stories(store, CONFIG.kpi, View.TEAM, start, end)
        if stories is None:
            assert all(story_before(store, kpi, View.TEAM, end) is None for kpi in CONFIG.kpi)
            continue
        read_from_rows += 1
        runs = readmodel.stored_runs(store, View.TEAM, end)
        for kpi in CONFIG.kpi:
            whole = kpi_story(runs.loc[runs["started_at"] < end], kpi, diffs_from=start)
            expected = whole.loc[whole["new_best"] | (whole["started_at"] >= start)]
            pd.testing.assert_frame_equal(comparable(stories[(kpi.experiment, kpi.metric)], STORY_COLUMNS),
                                          comparable(expected, STORY_COLUMNS), obj=f"week {week} {kpi.metric}")
            pd.testing.assert_frame_equal(comparable(story_before(store, kpi, View.TEAM, end)), comparable(whole),
                                          obj=f"before week {week} ends, {kpi.metric}")
    assert read_from_rows >= 1, "some weeks read the rows"


def test_a_periods_runs_with_their_families_are_those_runs_as_every_run_reads_them(store: Store) -> None:
    """:func:`family_runs` (a period's runs, a model's runs, and their relatives) gives each of its runs
    the row and the family :func:`stored_runs` gives it, and misses none it was asked for."""
    searches = RandomSearches({"sqlite": 8, "postgresql": 9}[store.engine.dialect.name])
    kept_current(store)
    for _ in range(10):
        store.write(*searches.batch())
    rng = random.Random(1)
    for _ in range(6):
        end = START + timedelta(days=rng.uniform(7, 35))
        since = end - timedelta(days=rng.uniform(1, 14))
        every = readmodel.stored_runs(store, View.TEAM, end, seen=True).set_index("run_id")
        asked = set(rng.sample(sorted(every.index), k=min(5, len(every))))
        some = family_runs(store, View.TEAM, end, started_from=since, run_ids=asked).set_index("run_id")
        assert some.index.is_unique
        assert asked | set(every.index[every["started_at"] >= since]) <= set(some.index)
        pd.testing.assert_frame_equal(some.sort_index(), every.loc[some.index].sort_index(), check_like=True)


def test_a_search_whose_children_started_after_the_week_ended_is_read_from_the_runs_for_that_week(
        store: Store) -> None:
    """Week 1 ended with the search's parent alone: its result then was the parent's own 0.70 (a drop
    below the 0.80 best); the child that scored 0.90 started the next Monday."""
    kept_current(store)
    monday = START + timedelta(weeks=1)
    store.write([*run("best", START + timedelta(days=1), metrics={"val_auc": 0.80}),
                 *run("search", monday - timedelta(hours=1), metrics={"val_auc": 0.70}),
                 *run("child", monday + timedelta(hours=1), parent="search", metrics={"val_auc": 0.90})])
    assert period_stories(store, CONFIG.kpi, View.TEAM, START, monday) is None
    after = period_stories(store, CONFIG.kpi, View.TEAM, monday, monday + timedelta(weeks=1))
    assert after is not None
    story = after[("churn", "val_auc")].set_index("run_id")
    assert list(story.index) == ["best", "search"], "the new bests before the week, nothing of its own"
    assert story.loc["search", "value"] == pytest.approx(0.90) and story.loc["search", "new_best"]
    assert story.loc["search", "value_run_id"] == "child" and story.loc["search", "children"] == 1
    assert story.loc["search", "previous_best"] == pytest.approx(0.80)


def test_a_run_synced_late_but_started_early_continues_the_story_from_its_place(store: Store) -> None:
    """Computed by hand: 0.80 (best), 0.70 (a 12.5% drop), then a run synced last that started between
    them at 0.85 — the 0.70 run is now 17.6% below 0.85, and the best is the late run."""
    kept_current(store)
    day = START + timedelta(days=2)
    store.write([*run("a", day, metrics={"val_auc": 0.80}),
                 *run("c", day + timedelta(days=2), metrics={"val_auc": 0.70})])
    store.write(run("b", day + timedelta(days=1), metrics={"val_auc": 0.85}))
    stories = period_stories(store, CONFIG.kpi, View.TEAM, START, START + timedelta(weeks=1))
    assert stories is not None
    story = stories[("churn", "val_auc")].set_index("run_id")
    assert list(story.index) == ["a", "b", "c"]
    assert list(story["new_best"]) == [True, True, False]
    assert story.loc["c", "previous_best_run_id"] == "b" and story.loc["c", "drop"]
    assert story.loc["c", "drop_fraction"] == pytest.approx((0.85 - 0.70) / 0.85)


def test_the_latest_run_is_the_top_level_run_started_last_even_behind_a_search_of_hundreds(store: Store) -> None:
    """The Today page's latest run: the newest top-level run, not one of the 250 children a search
    started after it (more than the newest runs it looks among first)."""
    kept_current(store)
    day = START + timedelta(days=3)
    assert readmodel.latest_run(store, View.TEAM) is None
    store.write([*run("old", day - timedelta(days=1)), *run("search", day)])
    trials = [run(f"trial{n}", day + timedelta(minutes=n + 1), parent="search") for n in range(250)]
    store.write([event for trial in trials for event in trial])
    latest = readmodel.latest_run(store, View.TEAM)
    assert latest is not None and latest["run_id"] == "search" and latest["children"] == 250
    store.write(run("retrain", day + timedelta(days=1)))
    assert readmodel.latest_run(store, View.TEAM)["run_id"] == "retrain"
