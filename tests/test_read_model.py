"""The read model stays what a full rebuild gives, whatever sequence of syncs, edits and deletions.

A random engagement (tickets, pull requests, commits with short-SHA runs, internal labels, bots, a
second Jira project appearing late, two months across New York's change from summer time) is
written batch by batch through the sync's hooked :meth:`Store.write`; every few batches the stored
waits must equal the waits the metric functions give over the whole timeline, the stored day
counts the counts of that timeline, and the stored runs the runs table of its run events, in both
views. Seeds are fixed, so a failure replays.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import select

from glassbox import readmodel, schema, slices
from glassbox.config import Config
from glassbox.errors import AuthError
from glassbox.events import Checkpoint, Event, Ref, Tombstone, commit_event_id, commit_ref, event_id
from glassbox.metrics.linking import RUN_CATEGORIES, runs_frame
from glassbox.metrics.runs import FAMILY_COLUMNS, run_table
from glassbox.readmodel import update
from glassbox.readmodel.days import daily_counts
from glassbox.readmodel.derive import day_rows, wait_rows
from glassbox.readmodel.runs import RUN_COLUMNS
from glassbox.store import Store
from glassbox.sync import sync_connector
from glassbox.timeline import load_timeline
from glassbox.views import View

JIRA = "https://acme.atlassian.net"
MLFLOW = "sqlite:///mlruns.db"
START = datetime(2026, 9, 1, tzinfo=UTC)
CONFIG = Config.model_validate({
    "engagement": {"name": "Random", "timezone": "America/New_York", "internal_labels": ["internal"]},
    "team": {"timezone": "Asia/Ho_Chi_Minh", "working_hours": "09:00-18:00"},
    "people": [{"name": "Carol", "side": "client", "ids": ["carol"]},
               {"name": "Ana", "side": "team", "ids": ["ana"]},
               {"name": "Ben", "side": "team", "ids": ["ben"]}],
    "jira": [{"server": JIRA, "jql": "project = CHURN", "user_env": "U", "token_env": "T",
              "waiting_statuses": ["Waiting for Customer"]}],
})
ACTORS = ("carol", "ana", "ben", "dependabot[bot]")
STATUSES = (("To Do", "new"), ("In Progress", "indeterminate"), ("Waiting for Customer", "indeterminate"),
            ("Done", "done"))


class RandomEngagement:
    """Makes random events and random edits of them; ``events`` is what the store should hold."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.events: dict[str, Event] = {}
        self.tickets: list[str] = []
        self.prs: list[int] = []
        self.shas: list[str] = []
        self.count = 0

    def moment(self) -> datetime:
        return START + timedelta(hours=self.rng.uniform(0, 24 * 60))

    def native(self) -> str:
        self.count += 1
        return str(self.count)

    def ticket_refs(self) -> tuple[Ref, ...]:
        keys = self.rng.sample(self.tickets, k=min(len(self.tickets), self.rng.choice((0, 1, 1, 2))))
        return tuple(Ref("ticket", key) for key in keys)

    def new_event(self) -> Event:
        kind = self.rng.choice(("ticket", "ticket_event", "ticket_event", "pr", "pr_event", "commit", "run"))
        actor = self.rng.choice(ACTORS)
        if kind == "ticket" or not self.tickets:
            project = "OPS" if self.count > 60 and self.rng.random() < 0.3 else "CHURN"
            key = f"{project}-{len(self.tickets) + 1}"
            self.tickets.append(key)
            name, category = self.rng.choice(STATUSES[:2])
            labels = ("internal",) if self.rng.random() < 0.2 else ()
            return Event(id=event_id("jira", JIRA, f"{key}:created"), source="jira", origin=JIRA,
                         category="ticket_created", occurred_at=self.moment(), actor=actor, thread=key,
                         title=f"{key} created", refs=(Ref("ticket", key),), labels=labels,
                         attrs={"status": name, "status_category": category,
                                "waiting": name == "Waiting for Customer"})
        if kind == "ticket_event":
            key = self.rng.choice(self.tickets)
            if self.rng.random() < 0.5:
                return Event(id=event_id("jira", JIRA, f"{key}:c{self.native()}"), source="jira", origin=JIRA,
                             category="comment", occurred_at=self.moment(), actor=actor, thread=key,
                             title="comment", refs=(Ref("ticket", key),))
            (from_name, from_cat), (to_name, to_cat) = self.rng.sample(STATUSES, k=2)
            return Event(id=event_id("jira", JIRA, f"{key}:t{self.native()}"), source="jira", origin=JIRA,
                         category="ticket_transition", occurred_at=self.moment(), actor=actor, thread=key,
                         title="moved", refs=(Ref("ticket", key),),
                         attrs={"from_status": from_name, "to_status": to_name, "from_category": from_cat,
                                "to_category": to_cat, "waiting": to_name == "Waiting for Customer"})
        if kind == "pr" or (kind == "pr_event" and not self.prs):
            number = len(self.prs) + 1
            self.prs.append(number)
            labels = ("internal",) if self.rng.random() < 0.15 else ()
            return Event(id=event_id("github", "acme/churn", f"pr{number}:opened"), source="github",
                         origin="acme/churn", category="pull_request_opened", occurred_at=self.moment(),
                         actor=actor, thread=f"acme/churn#{number}", title=f"PR {number}",
                         refs=self.ticket_refs(), labels=labels, attrs={"number": number})
        if kind == "pr_event":
            number = self.rng.choice(self.prs)
            category = self.rng.choice(("review", "comment", "pull_request_merged", "pull_request_closed"))
            state = self.rng.choice(("APPROVED", "COMMENTED"))
            return Event(id=event_id("github", "acme/churn", f"pr{number}:{self.native()}"), source="github",
                         origin="acme/churn", category=category, occurred_at=self.moment(), actor=actor,
                         thread=f"acme/churn#{number}", title=category, refs=self.ticket_refs(),
                         attrs={"number": number, "state": state})
        if kind == "commit" or not self.shas:
            # shared 7-digit stems make short run tags ambiguous now and then
            sha = (self.rng.choice(("abcdef0", "1234567", f"{self.rng.getrandbits(28):07x}"))
                   + f"{self.rng.getrandbits(132):033x}")[:40]
            self.shas.append(sha)
            return Event(id=commit_event_id(sha), source="git", origin="/src/churn", category="commit",
                         occurred_at=self.moment(), actor=actor, thread="churn", title="change",
                         refs=(*commit_ref(sha), *self.ticket_refs()), attrs={"sha": sha})
        run_id = f"run{self.native()}"
        tag = self.rng.choice(self.shas)[: self.rng.choice((7, 8, 12, 40))]
        started = self.moment()
        attrs = {"run_id": run_id, "experiment": "churn", "status": "FINISHED", "commit": tag, "metrics": {}}
        return Event(id=event_id("mlflow", MLFLOW, f"{run_id}:started"), source="mlflow", origin=MLFLOW,
                     category="run_started", occurred_at=started, actor=actor, thread="churn", title=run_id,
                     refs=(*commit_ref(tag), *self.ticket_refs()), attrs=attrs)

    def edit(self) -> Event:
        """An existing event changed at its source: moved in time, relabelled, or naming other tickets."""
        old = self.events[self.rng.choice(sorted(self.events))]
        change = self.rng.choice(("time", "labels", "refs"))
        if change == "time":
            return Event(**{**old.__dict__, "occurred_at": self.moment()})
        if change == "labels":
            return Event(**{**old.__dict__, "labels": () if old.labels else ("internal",)})
        own = tuple(ref for ref in old.refs if ref.kind == "commit" or ref.value == old.thread)
        return Event(**{**old.__dict__, "refs": (*own, *self.ticket_refs())})

    def batch(self) -> tuple[list[Event], list[Tombstone]]:
        items: dict[str, Event] = {}
        for _ in range(self.rng.randint(1, 12)):
            item = self.edit() if self.events and self.rng.random() < 0.25 else self.new_event()
            items[item.id] = item
        doomed = [Tombstone(i) for i in self.rng.sample(sorted(self.events), k=min(len(self.events), 2))
                  if self.rng.random() < 0.3 and i not in items]
        self.events.update(items)
        for tombstone in doomed:
            self.events.pop(tombstone.event_id)
        return list(items.values()), doomed


def stored_waits(store: Store) -> pd.DataFrame:
    table = schema.rm_waits
    with store.engine.connect() as conn:
        rows = conn.execute(select(table).where(table.c.engagement == store.engagement)).mappings().all()
    return _comparable(pd.DataFrame([dict(row) for row in rows]))


def derived_waits(store: Store, config: Config = CONFIG) -> pd.DataFrame:
    """What the metric functions give over the whole timeline, as rows."""
    rows = [row for view in View
            for row in wait_rows(load_timeline(store, config, view=view), config, store.engagement, view)]
    return _comparable(pd.DataFrame(rows))


def stored_days(store: Store) -> pd.DataFrame:
    """Every day count of both views, as :func:`daily_counts` reads them."""
    frames = [daily_counts(store, view, date.min, date.max).assign(view=view.value) for view in View]
    return _comparable_days(pd.concat(frames, ignore_index=True))


def derived_days(store: Store, config: Config = CONFIG) -> pd.DataFrame:
    """The day counts of the whole timeline of each view."""
    rows = [row for view in View for row in day_rows(load_timeline(store, config, view=view),
                                                        config.engagement.zone, store.engagement, view)]
    frame = pd.DataFrame(rows, columns=["view", "day", "source", "category", "person", "side", "events"])
    return _comparable_days(frame.assign(person=frame["person"].where(frame["person"] != "", None)))


def stored_runs(store: Store) -> pd.DataFrame:
    """Every run of both views, as pages and reports read them (:func:`readmodel.stored_runs`)."""
    return comparable_runs(pd.concat([readmodel.stored_runs(store, view).assign(view=view.value) for view in View],
                                     ignore_index=True))


def derived_runs(store: Store, config: Config = CONFIG, end: datetime | None = None) -> pd.DataFrame:
    """The runs table the metric functions give over each view's run events (before ``end``)."""
    frames = []
    for view in View:
        history = slices.ml_history(store, config, view, end)
        runs = history.loc[history["category"].isin(["commit", *RUN_CATEGORIES])]
        frames.append(run_table(runs_frame(runs), history).assign(view=view.value))
    return comparable_runs(pd.concat(frames, ignore_index=True))


def comparable_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """Runs sorted by view and id, missing values as None and times in one unit, so equal runs compare equal
    (pandas reads an all-missing time column in seconds, a text column as strings)."""
    frame = frame.loc[:, list(dict.fromkeys(["view", *RUN_COLUMNS, *FAMILY_COLUMNS]))].copy()
    for name in frame.columns:
        if name in ("started_at", "ended_at"):
            frame[name] = pd.to_datetime(frame[name], utc=True).dt.as_unit("us")
        elif name not in ("excluded", "top_level", "children"):
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    frame["children"] = frame["children"].astype(int)
    frame["tickets"] = frame["tickets"].map(sorted)  # in the order the refs were read: by id, or all in order
    return frame.sort_values(["view", "run_id"]).reset_index(drop=True)


def _comparable_days(frame: pd.DataFrame) -> pd.DataFrame:
    columns = ["view", "day", "source", "category", "person", "side", "events"]
    frame = frame.loc[:, columns].astype({name: object for name in columns[:-1]}).astype({"events": int})
    return frame.sort_values(columns[:-1], na_position="first").reset_index(drop=True)


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    columns = ["view", "latency", "thread", "seq", "started_at", "ended_at", "abandoned_at", "hours",
               "working_hours", "on"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame = frame.loc[:, columns].copy()
    for name in ("started_at", "ended_at", "abandoned_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    for name in ("hours", "working_hours"):
        frame[name] = frame[name].astype(float).round(6)
    return frame.sort_values(columns[:4]).reset_index(drop=True)


def test_incremental_equals_rebuild_after_random_syncs_edits_and_deletions(store: Store) -> None:
    engagement = RandomEngagement({"sqlite": 1, "postgresql": 2}[store.engine.dialect.name])  # two sequences
    readmodel.attach(store, CONFIG)
    readmodel.ensure_current(store, CONFIG)
    for step in range(15):
        items, tombstones = engagement.batch()
        store.write(items, tombstones)
        if step % 5 == 4:
            pd.testing.assert_frame_equal(stored_waits(store), derived_waits(store), obj=f"after batch {step}")
            pd.testing.assert_frame_equal(stored_days(store), derived_days(store), obj=f"days after batch {step}")
            pd.testing.assert_frame_equal(stored_runs(store), derived_runs(store), obj=f"runs after batch {step}")
    assert store.count_events() == len(engagement.events)
    incremental, incremental_days, incremental_runs = stored_waits(store), stored_days(store), stored_runs(store)
    assert incremental_runs["sha"].notna().any() and incremental_runs["sha"].isna().any(), \
        "some short tags name one commit, some none or several"
    assert set(incremental["latency"]) >= {"client_response", "ticket_pickup", "pr_merge", "commit_to_run"}
    assert set(incremental["view"]) == {"team", "client"}
    counted = incremental_days.groupby("view")["events"].sum()
    assert counted["team"] == len(engagement.events), "the team view counts every event once"
    assert counted["client"] < counted["team"], "internal threads are not counted for the client"
    readmodel.rebuild(store, CONFIG)
    pd.testing.assert_frame_equal(incremental, stored_waits(store))
    pd.testing.assert_frame_equal(incremental_days, stored_days(store))
    pd.testing.assert_frame_equal(incremental_runs, stored_runs(store))


def test_a_changed_config_rebuilds_on_the_next_write(sqlite_store: Store) -> None:
    engagement = RandomEngagement(3)
    readmodel.attach(sqlite_store, CONFIG)
    readmodel.ensure_current(sqlite_store, CONFIG)
    for _ in range(5):
        sqlite_store.write(*engagement.batch())
    assert readmodel.is_current(sqlite_store, CONFIG)
    carol_on_the_team = CONFIG.model_copy(update={"people": [
        person.model_copy(update={"side": "team"}) if person.name == "Carol" else person
        for person in CONFIG.people]})
    assert not readmodel.is_current(sqlite_store, carol_on_the_team)
    readmodel.attach(sqlite_store, carol_on_the_team)
    sqlite_store.write(*engagement.batch())
    assert readmodel.is_current(sqlite_store, carol_on_the_team)
    pd.testing.assert_frame_equal(stored_waits(sqlite_store), derived_waits(sqlite_store, carol_on_the_team))
    pd.testing.assert_frame_equal(stored_days(sqlite_store), derived_days(sqlite_store, carol_on_the_team))


def test_a_write_too_large_to_update_marks_the_rows_stale_until_the_sync_ends(
        sqlite_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first sync's batches fill in every ticket at once: one rebuild at the end beats one per batch."""
    engagement = RandomEngagement(4)
    readmodel.attach(sqlite_store, CONFIG)
    readmodel.ensure_current(sqlite_store, CONFIG)
    sqlite_store.write(*engagement.batch())
    monkeypatch.setattr(update, "BULK_EVENTS", 5)
    for _ in range(3):
        sqlite_store.write(*engagement.batch())
    assert not readmodel.is_current(sqlite_store, CONFIG)
    assert readmodel.ensure_current(sqlite_store, CONFIG)  # what sync_sources does when its sources are done
    pd.testing.assert_frame_equal(stored_waits(sqlite_store), derived_waits(sqlite_store))
    pd.testing.assert_frame_equal(stored_days(sqlite_store), derived_days(sqlite_store))


def test_a_write_larger_than_a_tenth_of_the_store_marks_the_rows_stale_for_one_rebuild(
        sqlite_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first sync into an empty store: re-deriving batch by batch cost 30k commits 22 s, one rebuild 3 s."""
    engagement = RandomEngagement(5)
    readmodel.attach(sqlite_store, CONFIG)
    readmodel.ensure_current(sqlite_store, CONFIG)
    monkeypatch.setattr(update, "LARGE_WRITE", 20)  # a batch has at most 12 events
    first: dict[str, Event] = {}
    while len(first) < 20:
        first.update((item.id, item) for item in engagement.batch()[0])
    sqlite_store.write(list(first.values()))  # into an empty store: far more than a tenth of it
    assert not readmodel.is_current(sqlite_store, CONFIG)
    assert readmodel.ensure_current(sqlite_store, CONFIG)  # what sync_sources does when its sources are done
    for _ in range(3):  # small writes again: each keeps the rows current in its own transaction
        sqlite_store.write(*engagement.batch())
    assert readmodel.is_current(sqlite_store, CONFIG)
    pd.testing.assert_frame_equal(stored_waits(sqlite_store), derived_waits(sqlite_store))
    pd.testing.assert_frame_equal(stored_days(sqlite_store), derived_days(sqlite_store))


def test_a_sync_keeps_the_rows_of_exactly_its_committed_batches(store: Store) -> None:
    """The rows change in each batch's transaction: a source failing after a checkpoint keeps both the
    events and the rows of the batches before it, and a deletion at the source removes its waits."""
    from test_sync import ScriptedSource, ticket

    readmodel.attach(store, CONFIG)
    readmodel.ensure_current(store, CONFIG)
    failing = ScriptedSource([ticket(1), ticket(2), Checkpoint("c2"), ticket(3)], fail_after=AuthError("jira: 401"))
    assert not sync_connector(failing, store).ok
    waits = stored_waits(store)
    pd.testing.assert_frame_equal(waits, derived_waits(store))
    # Carol (client) created CHURN-1 and CHURN-2: each waits for a reply, to be picked up and to be
    # done (client_response, ticket_pickup, ticket_lead), in both views: 2 × 3 × 2 open waits
    assert sorted(set(waits["thread"])) == ["CHURN-1", "CHURN-2"] and len(waits) == 12
    assert waits["ended_at"].isna().all()
    sync_connector(ScriptedSource([Tombstone(ticket(1).id)]), store)
    pd.testing.assert_frame_equal(stored_waits(store), derived_waits(store))
    assert set(stored_waits(store)["thread"]) == {"CHURN-2"}
