"""A synthetic engagement of N events for the dashboard and report benchmarks.

Realistic proportions (commits, PRs, reviews, comments, tickets and transitions, runs) spread over
the last year, from a handful of client and team people, written through :meth:`Store.write` so the
rows are exactly what syncing real sources would produce.

    python bench/seed_store.py /tmp/gb-1m --events 1000000
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from glassbox.config import load_config
from glassbox.events import Event, Ref, commit_event_id, event_id
from glassbox.workspace import open_engagement

CONFIG = """[engagement]
name = "Benchmark engagement"
timezone = "America/New_York"
[team]
timezone = "Asia/Ho_Chi_Minh"
[store]
url = "sqlite:///glassbox.db"
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

TEAM = [f"dev{n}" for n in range(12)]
CLIENTS = ["carol", "dan"]
STATUSES = [("To Do", "new"), ("In Progress", "indeterminate"), ("Waiting for Customer", "indeterminate"),
            ("Done", "done")]

def synthetic_events(count: int, seed: int, now: datetime):
    """Yield ``count`` events in time order ending at ``now``."""
    rng = random.Random(seed)
    span = timedelta(days=365).total_seconds()
    step = span / count
    for n in range(count):
        when = now - timedelta(seconds=span - n * step)
        kind = rng.random()
        ticket = f"CHURN-{rng.randint(1, max(10, count // 40))}"
        actor = rng.choice(CLIENTS) if rng.random() < 0.2 else rng.choice(TEAM)
        if kind < 0.4:
            sha = f"{rng.getrandbits(160):040x}"
            yield Event(id=commit_event_id(sha), source="git", origin="/src/churn", category="commit",
                        occurred_at=when, actor=rng.choice(TEAM), thread="churn", title=f"{ticket} tune features",
                        refs=(Ref("commit", sha), Ref("ticket", ticket)),
                        attrs={"sha": sha, "lines_added": rng.randint(1, 200), "lines_removed": rng.randint(0, 80)})
        elif kind < 0.6:
            yield Event(id=event_id("jira", "https://jira", f"c{n}"), source="jira", origin="https://jira",
                        category="comment", occurred_at=when, actor=actor, thread=ticket,
                        title=f"Comment on {ticket}", body="Could you check the lift on the March cohort?",
                        attrs={"kind": "jira_comment", "key": ticket})
        elif kind < 0.75:
            (frm, frm_cat), (to, to_cat) = rng.sample(STATUSES, 2)
            yield Event(id=event_id("jira", "https://jira", f"t{n}"), source="jira", origin="https://jira",
                        category="ticket_transition", occurred_at=when, actor=rng.choice(TEAM), thread=ticket,
                        title=f"{ticket}: {frm} → {to}",
                        attrs={"key": ticket, "from_status": frm, "to_status": to, "from_category": frm_cat,
                               "to_category": to_cat, "waiting": to == "Waiting for Customer"})
        elif kind < 0.8:
            yield Event(id=event_id("jira", "https://jira", f"n{n}"), source="jira", origin="https://jira",
                        category="ticket_created", occurred_at=when, actor=actor, thread=f"CHURN-N{n}",
                        title="Scores look off for enterprise accounts",
                        attrs={"key": f"CHURN-N{n}", "status": "To Do", "status_category": "new"})
        elif kind < 0.88:
            number = n
            category = rng.choice(["pull_request_opened", "pull_request_merged"])
            yield Event(id=event_id("github", "acme/churn", f"{category}{number}"), source="github",
                        origin="acme/churn", category=category, occurred_at=when, actor=rng.choice(TEAM),
                        thread=f"acme/churn#{number}", title=f"{ticket}: new feature pipeline",
                        refs=(Ref("ticket", ticket),), attrs={"number": number, "pr_author": rng.choice(TEAM)})
        elif kind < 0.92:
            yield Event(id=event_id("github", "acme/churn", f"r{n}"), source="github", origin="acme/churn",
                        category="review", occurred_at=when, actor=actor, thread=f"acme/churn#{n}",
                        title="Review: APPROVED", attrs={"number": n, "state": "APPROVED", "pr_author": "dev1"})
        else:
            value = 0.7 + 0.15 * n / count + rng.uniform(-0.03, 0.03)
            yield Event(id=event_id("mlflow", "sqlite:///mlflow.db", f"run{n}"), source="mlflow",
                        origin="sqlite:///mlflow.db", category="run_finished", occurred_at=when,
                        actor=rng.choice(TEAM), thread="churn", title=f"sweep-{n}",
                        attrs={"run_id": f"run{n}", "experiment": "churn", "status": "FINISHED",
                               "params": {"lr": rng.choice([0.01, 0.05, 0.1]), "depth": rng.randint(3, 9)},
                               "metrics": {"val_auc": value}})

def seed(folder: Path, count: int, seed_value: int = 11, batch: int = 5000) -> Path:
    """Write the config and ``count`` events into ``folder``; returns the config path."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "glassbox.toml"
    config_path.write_text(CONFIG)
    store = open_engagement(load_config(config_path))
    pending = []
    for item in synthetic_events(count, seed_value, datetime.now(UTC)):
        pending.append(item)
        if len(pending) >= batch:
            store.write(pending)
            pending = []
    store.write(pending)
    return config_path

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    started = time.perf_counter()
    path = seed(args.folder, args.events)
    print(f"{args.events} events in {time.perf_counter() - started:.1f}s → {path}")

if __name__ == "__main__":
    main()
