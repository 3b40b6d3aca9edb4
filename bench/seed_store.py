"""A synthetic engagement of N events for the dashboard and report benchmarks.

Realistic proportions (commits, PRs, reviews, comments, tickets and transitions, runs) spread over
the last year, from a handful of client and team people, written through :meth:`Store.write` so the
rows are exactly what syncing real sources would produce. Realistic lives too: tickets are picked
up, wait for the customer, are answered and done; pull requests are reviewed and merged; so the
waits open at any moment are the few dozen threads in flight (:class:`_Engagement`).

    python bench/seed_store.py /tmp/gb-1m --events 1000000
    python bench/seed_store.py /tmp/gb-pg --events 100000 --store-url postgresql+psycopg://postgres@127.0.0.1:5432/test

The benchmarks open their engagement through :func:`engagement`: a SQLite store in a folder kept
between runs (seeding 1M events takes minutes), or a fresh PostgreSQL schema dropped afterwards.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import python_env  # first: this checkout's glassbox on sys.path
from sqlalchemy import create_engine, make_url, text

from connectors.base import Connector
from glassbox.config import Config, load_config
from glassbox.events import Event, Ref, commit_event_id, event_id, run_event_ids
from glassbox.store import Store
from glassbox.sync import sync_connectors
from glassbox.workspace import open_engagement

CONFIG = """[engagement]
name = "Benchmark engagement"
timezone = "America/New_York"
[team]
timezone = "Asia/Ho_Chi_Minh"
[store]
url = "{store_url}"
[[people]]
name = "Carol"
side = "client"
ids = ["carol"]
[[people]]
name = "Dan"
side = "client"
ids = ["dan"]
[[kpi]]
experiment = "churn"
metric = "val_auc"
target = 0.85
"""
# With --jira the config names the seeded tickets' Jira source, as a real engagement's does: only its
# projects' keys then count as tickets, and every read of a timeline asks the store which projects it holds.
JIRA_SOURCE = """[[jira]]
server = "https://jira"
jql = "project = CHURN"
user_env = "JIRA_USER"
token_env = "JIRA_TOKEN"
"""

TEAM = [f"dev{n}" for n in range(12)]
CLIENTS = ["carol", "dan"]
STATUSES = [("To Do", "new"), ("In Progress", "indeterminate"), ("Waiting for Customer", "indeterminate"),
            ("Done", "done")]

BACKLOG = 30  # live tickets the engagement keeps at least
# Which engagement shape a cached store holds: "live" threads end (since issue #17's measurements);
# the first shape left every ticket and pull request open for ever, 220k open waits at 1M events.
# "timed" runs carry their start and end, as MLflow's do: before, no run had a start, so no run was
# counted and the KPI's best so far was never computed (the benchmarks measured only reading them).
# "connector" runs are written as the MLflow connector writes them, a run_started event at the start and
# a run_finished at the end: before, only the end was, so a run was first seen when it ended.
SHAPE = "connector"
MLFLOW = "sqlite:///mlflow.db"
RUN_MINUTES = 20  # how long a seeded training run takes


class _Engagement:
    """The live state of the synthetic engagement: which tickets and pull requests are still open.

    Every thread lives and ends as in a real tracker: a ticket is created in To Do, picked up, may
    wait for the customer, and is done (then leaves); a pull request is opened naming a live
    ticket, reviewed, and merged on its own thread. So, as in a real engagement, the open waits at
    any moment are the few dozen threads in flight, not every thread ever opened.
    """

    def __init__(self, rng: random.Random, first_ticket: int) -> None:
        self.rng = rng
        self.next_ticket = first_ticket
        self.tickets: dict[str, int] = {}  # live ticket -> index into STATUSES
        self.pulls: dict[str, str] = {}  # open PR thread -> the ticket it names
        self.training_commit: str | None = None  # what the runs train on (a sweep shares one commit)

    def new_ticket(self) -> str:
        key = f"CHURN-{self.next_ticket}"
        self.next_ticket += 1
        self.tickets[key] = 0
        return key

    def live_ticket(self) -> str:
        return self.rng.choice(list(self.tickets))


def synthetic_events(count: int, seed: int, now: datetime, days: float = 365, tag: str = ""):
    """Yield ``count`` events in time order over the ``days`` ending at ``now``.

    Proportions: 40 % commits naming a live ticket, 20 % comments on live tickets (a fifth by the
    client), 15 % ticket status changes, 5 % tickets created (and a ``ticket_resolved`` when one is
    done), 12 % pull-request events (opened, reviewed, merged), 8 % MLflow runs tagged with the commit
    they trained on (each run two events, its start and its end, as the connector writes them).
    ``tag`` prefixes every native id (and numbers its tickets apart), so a later batch (a
    benchmark's sync) adds events rather than rewriting the seeded ones.
    """
    rng = random.Random(seed)
    state = _Engagement(rng, first_ticket=1 + (zlib.crc32(tag.encode()) % 900_000 + 100_000 if tag else 0))
    span = timedelta(days=days).total_seconds()
    step = span / max(count, 1)
    produced = 0
    n = 0
    while produced < count:
        when = now - timedelta(seconds=span - produced * step)
        n += 1
        for item in _next_events(state, rng, n, when, tag):
            if produced < count:
                produced += 1
                yield item


def _next_events(state: _Engagement, rng: random.Random, n: int, when: datetime, tag: str) -> list[Event]:
    kind = rng.random()
    actor = rng.choice(CLIENTS) if rng.random() < 0.2 else rng.choice(TEAM)
    jira = "https://jira"
    if len(state.tickets) < BACKLOG:  # a tracker always has work waiting: the client files more
        kind = 0.79
    if kind < 0.4:
        ticket = state.live_ticket()
        sha = f"{rng.getrandbits(160):040x}"
        if state.training_commit is None or rng.random() < 0.02:
            state.training_commit = sha
        return [Event(id=commit_event_id(sha), source="git", origin="/src/churn", category="commit",
                      occurred_at=when, actor=rng.choice(TEAM), thread="churn", title=f"{ticket} tune features",
                      refs=(Ref("commit", sha), Ref("ticket", ticket)),
                      attrs={"sha": sha, "lines_added": rng.randint(1, 200), "lines_removed": rng.randint(0, 80)})]
    if kind < 0.6:
        ticket = state.live_ticket()
        return [Event(id=event_id("jira", jira, f"{tag}c{n}"), source="jira", origin=jira, category="comment",
                      occurred_at=when, actor=actor, thread=ticket, title=f"Comment on {ticket}",
                      body="Could you check the lift on the March cohort?",
                      attrs={"kind": "jira_comment", "key": ticket})]
    if kind < 0.75:
        return _status_change(state, rng, n, when, tag)
    if kind < 0.8:
        ticket = state.new_ticket()
        return [Event(id=event_id("jira", jira, f"{tag}n{n}"), source="jira", origin=jira, category="ticket_created",
                      occurred_at=when, actor=actor, thread=ticket, title="Scores look off for enterprise accounts",
                      attrs={"key": ticket, "status": "To Do", "status_category": "new"})]
    if kind < 0.92:
        return [_pull_request_event(state, rng, n, when, tag)]
    value = 0.7 + 0.15 * min(1.0, n / 1_250_000) + rng.uniform(-0.03, 0.03)
    refs = (Ref("commit", state.training_commit),) if state.training_commit else ()
    run_id, started = f"{tag}run{n}", when - timedelta(minutes=RUN_MINUTES)
    common = {"source": "mlflow", "origin": MLFLOW, "actor": rng.choice(TEAM), "thread": "churn",
              "title": f"sweep-{n}", "refs": refs,
              "attrs": {"run_id": run_id, "experiment": "churn", "status": "FINISHED",
                        "start_time": started.isoformat(), "end_time": when.isoformat(),
                        "params": {"lr": rng.choice([0.01, 0.05, 0.1]), "depth": rng.randint(3, 9)},
                        "metrics": {"val_auc": value}}}
    started_id, finished_id = run_event_ids(MLFLOW, run_id)  # as the connector writes a run: both events
    return [Event(id=started_id, category="run_started", occurred_at=started, **common),
            Event(id=finished_id, category="run_finished", occurred_at=when, **common)]


def _status_change(state: _Engagement, rng: random.Random, n: int, when: datetime, tag: str) -> list[Event]:
    """Move a live ticket on: To Do → In Progress → (Waiting for Customer → In Progress)… → Done."""
    jira = "https://jira"
    ticket = state.live_ticket()
    at = state.tickets[ticket]
    # picked up, or back from the customer; from In Progress, a quarter wait for the customer, the rest are done
    to = 1 if at in (0, 2) else 2 if rng.random() < 0.25 else 3
    (frm, frm_cat), (name, category) = STATUSES[at], STATUSES[to]
    events = [Event(id=event_id("jira", jira, f"{tag}t{n}"), source="jira", origin=jira,
                    category="ticket_transition", occurred_at=when, actor=rng.choice(TEAM), thread=ticket,
                    title=f"{ticket}: {frm} → {name}",
                    attrs={"key": ticket, "from_status": frm, "to_status": name, "from_category": frm_cat,
                           "to_category": category, "waiting": name == "Waiting for Customer"})]
    if at == 2:  # the customer answered; then the team moves it back
        events.insert(0, Event(id=event_id("jira", jira, f"{tag}a{n}"), source="jira", origin=jira,
                               category="comment", occurred_at=when - timedelta(seconds=1),
                               actor=rng.choice(CLIENTS), thread=ticket, title=f"Comment on {ticket}",
                               body="Here are the numbers you asked for.",
                               attrs={"kind": "jira_comment", "key": ticket}))
    if category == "done":
        del state.tickets[ticket]
        events.append(Event(id=event_id("jira", jira, f"{tag}d{n}"), source="jira", origin=jira,
                            category="ticket_resolved", occurred_at=when, actor=events[0].actor, thread=ticket,
                            title=f"{ticket} resolved: {name}", attrs={"key": ticket, "to_status": name}))
    else:
        state.tickets[ticket] = to
    return events


def _pull_request_event(state: _Engagement, rng: random.Random, n: int, when: datetime, tag: str) -> Event:
    """Open a pull request naming a live ticket, review one, or merge one (a third each, while some are open)."""
    choice = rng.random()
    if not state.pulls or (choice < 1 / 3 and len(state.pulls) < 40):
        thread, ticket = f"acme/churn#{tag}{n}", state.live_ticket()
        state.pulls[thread] = ticket
        return Event(id=event_id("github", "acme/churn", f"{tag}pull_request_opened{n}"), source="github",
                     origin="acme/churn", category="pull_request_opened", occurred_at=when, actor=rng.choice(TEAM),
                     thread=thread, title=f"{ticket}: new feature pipeline", refs=(Ref("ticket", ticket),),
                     attrs={"number": n, "pr_author": rng.choice(TEAM)})
    thread = rng.choice(list(state.pulls))
    ticket = state.pulls[thread]
    if choice < 2 / 3:
        return Event(id=event_id("github", "acme/churn", f"{tag}r{n}"), source="github", origin="acme/churn",
                     category="review", occurred_at=when, actor=rng.choice([*TEAM, *CLIENTS]), thread=thread,
                     title="Review: APPROVED", attrs={"state": "APPROVED", "pr_author": "dev1"})
    del state.pulls[thread]
    return Event(id=event_id("github", "acme/churn", f"{tag}pull_request_merged{n}"), source="github",
                 origin="acme/churn", category="pull_request_merged", occurred_at=when, actor=rng.choice(TEAM),
                 thread=thread, title=f"{ticket}: new feature pipeline", refs=(Ref("ticket", ticket),),
                 attrs={"pr_author": "dev1"})


def seed(folder: Path, count: int, seed_value: int = 11, batch: int = 5000,
         store_url: str = "sqlite:///glassbox.db", jira: bool = False) -> Path:
    """Write the config (with ``jira``, naming its Jira source: :data:`JIRA_SOURCE`) and ``count`` events
    into ``folder`` (its store at ``store_url``); returns the config path."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "glassbox.toml"
    config_path.write_text(CONFIG.replace("{store_url}", store_url) + (JIRA_SOURCE if jira else ""))
    store = open_engagement(load_config(config_path))
    pending = []
    for item in synthetic_events(count, seed_value, datetime.now(UTC)):
        pending.append(item)
        if len(pending) >= batch:
            store.write(pending)
            pending = []
    store.write(pending)
    store.engine.dispose()
    rebuild_read_model(config_path)
    return config_path

class SeedSource(Connector):
    """Given events as a source: what :func:`sync_new_events` syncs through :func:`glassbox.sync.sync_connectors`."""

    source = "jira"
    categories = ("events",)

    def __init__(self, items: list[Event]) -> None:
        self.origin = "https://jira"
        self.items = items

    def check(self) -> str:
        return "seeded events"

    def fetch_events(self, since: str | None) -> Iterator[Event]:
        yield from self.items


def sync_new_events(config: Path, count: int, tag: str, days: float = 1) -> None:
    """A sync of ``count`` new events from the last ``days`` (ids marked by ``tag``: 8 % of them runs),
    through the real sync path (:func:`glassbox.sync.sync_connectors`: a recorded run, the read model kept
    current by each batch and at the sync's end), so the store's version changes as after syncing a source."""
    loaded = load_config(config)
    store = open_engagement(loaded)
    items = list(synthetic_events(count, zlib.crc32(tag.encode()), datetime.now(UTC), days=days, tag=tag))
    summaries = sync_connectors(loaded, store, [SeedSource(items)])
    store.engine.dispose()
    if not all(summary.ok for summary in summaries):
        raise SystemExit(f"the benchmark's sync failed: {summaries[0].line()}")


def rebuild_read_model(config: Path) -> None:
    """Derive whatever the store derives from its events, as after a real sync, when the CLI can.

    :func:`seed` writes through :meth:`Store.write` (fast); a store whose derived tables the sync
    keeps (issue #17) needs ``glassbox rebuild`` after that. Without the command (before #17) there
    is nothing to derive.
    """
    python = [sys.executable, "-m", "glassbox"]
    commands = subprocess.run([*python, "--help"], capture_output=True, text=True, env=python_env(), check=True)
    if "rebuild" in commands.stdout:
        subprocess.run([*python, "rebuild", "--config", str(config)], env=python_env(), check=True,
                       stdout=subprocess.DEVNULL)


def described(store: Store, config: Config) -> str:
    """The store's dialect as a table's title says it, and whether the config names its Jira source."""
    return f"{store.dialect}, Jira configured" if config.jira else store.dialect


def add_store_arguments(parser: argparse.ArgumentParser, events: int) -> None:
    """``--store-url`` and ``--events``, the same in every benchmark that reads a seeded engagement."""
    parser.add_argument("--store-url", help="a PostgreSQL server URL (a fresh schema is made and dropped) "
                                            "or sqlite:///PATH; default: a SQLite store under --cache")
    parser.add_argument("--events", type=int, default=events, help="events to seed (default %(default)s)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "glassbox-bench",
                        help="where seeded SQLite engagements are kept between runs (default %(default)s)")
    parser.add_argument("--jira", action="store_true",
                        help="the config names the tickets' Jira source, as a real engagement's does")


@contextmanager
def engagement(store_url: str | None, events: int, cache: Path, jira: bool = False) -> Iterator[Path]:
    """A seeded engagement of ``events`` events (``jira``: its config names its Jira source, see
    :func:`seed`); yields its config path.

    No URL: the SQLite store ``cache/gb-<events>-<SHAPE>`` (``…-jira`` with ``jira``), seeded once and
    reused while it holds that many events (a benchmark that adds events puts its own store elsewhere).
    A PostgreSQL URL: a fresh schema on that server (``options=-csearch_path``), seeded, dropped on the
    way out. A SQLite URL: that file, seeded when empty.
    """
    if store_url is None:
        folder = cache / f"gb-{events}-{SHAPE}{'-jira' if jira else ''}"
        config = folder / "glassbox.toml"
        if not (config.exists() and open_engagement(load_config(config)).count_events() == events):
            shutil.rmtree(folder, ignore_errors=True)
            seed(folder, events, jira=jira)
        yield config
        return
    with tempfile.TemporaryDirectory(prefix="glassbox-bench-") as folder:
        if make_url(store_url).get_backend_name() != "postgresql":
            config = seed(Path(folder), 0, store_url=store_url, jira=jira)
            if open_engagement(load_config(config)).count_events() == 0:
                seed(Path(folder), events, store_url=store_url, jira=jira)
            yield config
            return
        with pg_schema(store_url) as url:
            yield seed(Path(folder), events, store_url=url, jira=jira)


@contextmanager
def pg_schema(server_url: str) -> Iterator[str]:
    """A fresh schema on the PostgreSQL server at ``server_url``; yields a URL whose search_path is it."""
    name = f"gb_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    separator = "&" if "?" in server_url else "?"
    try:
        yield f"{server_url}{separator}options=-csearch_path%3D{name}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


@contextmanager
def writable_copy(store_url: str, folder: Path) -> Iterator[str]:
    """A store the benchmark may add to: a SQLite copy (the seeded one stays as seeded), else the store."""
    url = make_url(store_url)
    if url.get_backend_name() != "sqlite":
        yield store_url
        return
    target = folder / "copy.db"
    with closing(sqlite3.connect(str(url.database))) as source, closing(sqlite3.connect(str(target))) as copy:
        source.backup(copy)
    yield f"sqlite:///{target}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--store-url", default="sqlite:///glassbox.db", help="where the events go")
    args = parser.parse_args()
    started = time.perf_counter()
    path = seed(args.folder, args.events, store_url=args.store_url)
    print(f"{args.events} events in {time.perf_counter() - started:.1f}s → {path}")

if __name__ == "__main__":
    main()
