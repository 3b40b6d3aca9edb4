"""A realistic engagement in the store, for dashboard tests and benchmarks.

The dashboard's pages only mean something on a store that looks like a real engagement: commits
naming tickets, pull requests reviewed and merged, a client asking and the team answering, tickets
waiting on the client, one internal ticket, an experiment climbing towards its KPI with a sweep of
child runs and one regression. :func:`seed_store` writes exactly that, deterministically, with dates
relative to ``now`` so "today" and "this week" always have activity; ``scale`` multiplies the volume
for speed tests (about 700 events per week at scale 1).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from glassbox.config import Config, load_config
from glassbox.events import Event, Ref, commit_event_id, event_id
from glassbox.store import Store, WriteCounts
from glassbox.workspace import open_engagement

REPO = "acme/churn"
JIRA = "https://acme.atlassian.net"
EXPERIMENT = "churn"
INTERNAL_TICKET = "CHURN-900"
INTERNAL_TITLE = "Rotate the staging database credentials"

CONFIG_TEXT = """\
[engagement]
name = "Acme churn model"
timezone = "America/New_York"
internal_labels = ["internal"]

[team]
timezone = "Asia/Ho_Chi_Minh"
working_hours = "09:00-18:00"
working_days = ["Mon", "Tue", "Wed", "Thu", "Fri"]

[store]
url = "{store_url}"

[[people]]
name = "Carol"
side = "client"
ids = ["carol@acme.example", "carol-acme", "557058:carol"]

[[people]]
name = "Dan"
side = "client"
ids = ["dan@acme.example", "dan-acme", "557058:dan"]

[[people]]
name = "Minh"
side = "team"
ids = ["minh@agency.example", "minh-dev", "557058:minh"]

[[people]]
name = "Lan"
side = "team"
ids = ["lan@agency.example", "lan-ml", "557058:lan"]

[[github]]
repo = "acme/churn"
token_env = "GITHUB_TOKEN"

[[git]]
path = "churn"

[[jira]]
server = "https://acme.atlassian.net"
jql = "project = CHURN"
waiting_statuses = ["Waiting for Customer"]

[[mlflow]]
tracking_uri = "sqlite:///mlruns.db"
experiments = ["churn"]

[[kpi]]
experiment = "churn"
metric = "val_auc"
goal = "max"
target = 0.85
alert_drop = 0.05
"""

TEAM = (("minh-dev", "minh@agency.example", "557058:minh"), ("lan-ml", "lan@agency.example", "557058:lan"))
CLIENTS = (("carol-acme", "carol@acme.example", "557058:carol"), ("dan-acme", "dan@acme.example", "557058:dan"))
SUMMARIES = (
    "Add tenure features to the churn model", "Explain the drop in recall for new customers",
    "Backfill March billing events", "Calibrate churn scores before the CRM export",
    "Check leakage from the cancellation date", "Weekly scoring job fails on empty partitions",
    "Dashboard of churn drivers for the retention team", "Retrain on Q3 data",
)


def write_config(folder: Path, store_url: str) -> Path:
    """Write the seeded engagement's config into ``folder`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "glassbox.toml"
    path.write_text(CONFIG_TEXT.format(store_url=store_url), encoding="utf-8")
    return path


@dataclass
class _Origins:
    github: str
    git: str
    jira: str
    mlflow: str


@dataclass
class _Seeder:
    origins: _Origins
    rng: random.Random
    events: list[Event] = field(default_factory=list)
    ticket_no: int = 0
    pr_no: int = 0
    commits: list[str] = field(default_factory=list)

    def add(self, **fields: Any) -> Event:
        item = Event(**fields)
        self.events.append(item)
        return item

    # -- jira ------------------------------------------------------------------------------------

    def ticket(self, created: datetime, now: datetime, *, key: str | None = None, title: str | None = None,
               labels: tuple[str, ...] = ()) -> str:
        if key is None:
            self.ticket_no += 1
            key = f"CHURN-{self.ticket_no}"
        summary = title or self.rng.choice(SUMMARIES)
        reporter = self.rng.choice(CLIENTS if self.rng.random() < 0.6 else TEAM)
        url = f"{JIRA}/browse/{key}"
        common = {"source": "jira", "origin": self.origins.jira, "thread": key, "url": url, "labels": labels,
                  "refs": (Ref("ticket", key),)}
        self.add(id=event_id("jira", self.origins.jira, f"{key}:created"), category="ticket_created",
                 occurred_at=created, actor=reporter[2], actor_ids=reporter, title=summary,
                 body="Please look into this before the steering meeting.",
                 attrs={"key": key, "summary": summary, "status": "To Do", "status_category": "new",
                        "issue_type": "Task", "priority": "Medium", "project": "CHURN", "waiting": False},
                 **common)
        moment = created
        steps = [("To Do", "new", "In Progress", "indeterminate")]
        if self.rng.random() < 0.4:
            steps.append(("In Progress", "indeterminate", "Waiting for Customer", "indeterminate"))
            steps.append(("Waiting for Customer", "indeterminate", "In Progress", "indeterminate"))
        steps.append(("In Progress", "indeterminate", "Done", "done"))
        for index, (from_status, from_cat, to_status, to_cat) in enumerate(steps):
            moment += timedelta(hours=self.rng.uniform(2, 40))
            if moment > now:
                break
            worker = self.rng.choice(TEAM)
            if from_status == "Waiting for Customer":
                self.comment_on_ticket(key, moment - timedelta(hours=1), self.rng.choice(CLIENTS), common)
            self.add(id=event_id("jira", self.origins.jira, f"{key}:t{index}"), category="ticket_transition",
                     occurred_at=moment, actor=worker[2], actor_ids=worker, title=f"{key}: {from_status} → {to_status}",
                     attrs={"key": key, "from_status": from_status, "to_status": to_status,
                            "from_category": from_cat, "to_category": to_cat,
                            "waiting": to_status == "Waiting for Customer"},
                     **common)
            if to_cat == "done":
                self.add(id=event_id("jira", self.origins.jira, f"{key}:resolved"), category="ticket_resolved",
                         occurred_at=moment, actor=worker[2], actor_ids=worker, title=summary,
                         attrs={"key": key, "to_status": to_status}, **common)
            if self.rng.random() < 0.5:
                self.comment_on_ticket(key, moment + timedelta(minutes=20), self.rng.choice(TEAM), common)
        return key

    def comment_on_ticket(self, key: str, moment: datetime, who: tuple[str, ...], common: dict[str, Any]) -> None:
        native = f"{key}:c{len(self.events)}"
        self.add(id=event_id("jira", self.origins.jira, native), category="comment", occurred_at=moment,
                 actor=who[2], actor_ids=who, title=f"Comment on {key}",
                 body="<b>Could you</b> share the numbers? <script>alert(1)</script>",
                 attrs={"kind": "jira_comment", "key": key}, **common)

    # -- code ------------------------------------------------------------------------------------

    def commit(self, moment: datetime, ticket: str | None, *, labels: tuple[str, ...] = (),
               subject: str | None = None) -> str:
        sha = hashlib.sha1(f"{moment.isoformat()}{len(self.events)}".encode()).hexdigest()
        who = self.rng.choice(TEAM)
        text = subject or self.rng.choice(("tune features", "fix data loader", "add evaluation notebook",
                                           "refactor training loop", "log calibration plot"))
        title = f"{ticket}: {text}" if ticket else text
        from_github = self.rng.random() < 0.5
        refs = (Ref("commit", sha),) + ((Ref("ticket", ticket),) if ticket else ())
        self.add(id=commit_event_id(sha), source="github" if from_github else "git",
                 origin=self.origins.github if from_github else self.origins.git, category="commit",
                 occurred_at=moment, actor=who[0] if from_github else who[1], actor_ids=who[:2],
                 thread=REPO if from_github else "churn", title=title, body=f"{title}\n\nDetails inside.",
                 url=f"https://github.com/{REPO}/commit/{sha}", refs=refs, labels=labels,
                 attrs={"sha": sha, "parents": [], "author_email": who[1], "committed_at": moment.isoformat(),
                        "lines_added": self.rng.randint(1, 200), "lines_removed": self.rng.randint(0, 80)})
        self.commits.append(sha)
        return sha

    def pull_request(self, opened: datetime, ticket: str | None, now: datetime) -> None:
        self.pr_no += 1
        number = self.pr_no
        thread = f"{REPO}#{number}"
        author, reviewer = self.rng.sample(TEAM, 2)
        title = f"{ticket}: {self.rng.choice(SUMMARIES)}" if ticket else self.rng.choice(SUMMARIES)
        url = f"https://github.com/{REPO}/pull/{number}"
        common = {"source": "github", "origin": self.origins.github, "thread": thread, "url": url,
                  "refs": (Ref("ticket", ticket),) if ticket else ()}
        pr_attrs = {"number": number, "pr_author": author[0], "head": f"feature/{ticket or number}",
                    "base": "main", "draft": False}
        self.add(id=event_id("github", self.origins.github, f"pr{number}:opened"), category="pull_request_opened",
                 occurred_at=opened, actor=author[0], actor_ids=author[:2], title=title, body="Closes the ticket.",
                 attrs={**pr_attrs, "merged": False}, **common)
        review_at = opened + timedelta(hours=self.rng.uniform(1, 30))
        if review_at < now:
            self.add(id=event_id("github", self.origins.github, f"pr{number}:review"), category="review",
                     occurred_at=review_at, actor=reviewer[0], actor_ids=reviewer[:2], title=f"Review of #{number}",
                     attrs={"number": number, "pr_author": author[0], "state": "APPROVED"}, **common)
        if self.rng.random() < 0.3 and review_at < now:
            client = self.rng.choice(CLIENTS)
            self.add(id=event_id("github", self.origins.github, f"pr{number}:comment"), category="comment",
                     occurred_at=review_at + timedelta(minutes=30), actor=client[0], actor_ids=client[:2],
                     title=f"Comment on #{number}", body="Does this change the export format?",
                     attrs={"kind": "issue_comment", "number": number, "pr_author": author[0]}, **common)
        merged_at = review_at + timedelta(hours=self.rng.uniform(1, 20))
        if merged_at < now:
            self.add(id=event_id("github", self.origins.github, f"pr{number}:merged"), category="pull_request_merged",
                     occurred_at=merged_at, actor=reviewer[0], actor_ids=reviewer[:2], title=title,
                     attrs={**pr_attrs, "merged": True}, **common)

    # -- mlflow ----------------------------------------------------------------------------------

    def run(self, start: datetime, value: float, *, parent: str | None = None, ticket: str | None = None,
            status: str = "FINISHED", name: str | None = None, note: str | None = None) -> str:
        run_id = hashlib.md5(f"run{start.isoformat()}{len(self.events)}".encode()).hexdigest()
        who = self.rng.choice(TEAM)
        duration = self.rng.uniform(120, 3600)
        end = start + timedelta(seconds=duration)
        commit = self.rng.choice(self.commits) if self.commits and self.rng.random() < 0.8 else None
        params = {"learning_rate": self.rng.choice(["0.01", "0.05", "0.1"]),
                  "max_depth": str(self.rng.randint(3, 9)), "features": self.rng.choice(["v1", "v2", "v2+tenure"])}
        metrics = {"val_auc": round(value, 4), "val_logloss": round(0.9 - value / 2, 4)}
        steps = [[step, int(start.timestamp() * 1000) + step * 1000, round(value - 0.02 * (4 - step), 4)]
                 for step in range(5)]
        attrs = {"run_id": run_id, "experiment": EXPERIMENT, "status": status, "params": params,
                 "metrics": metrics, "parent_run_id": parent, "user": who[1], "start_time": start.isoformat(),
                 "end_time": end.isoformat(), "duration_s": round(duration, 1), "commit": commit,
                 "ticket": ticket, "history": {"val_auc": steps}}
        refs = ((Ref("commit", commit),) if commit else ()) + ((Ref("ticket", ticket),) if ticket else ())
        title = name or f"{self.rng.choice(('xgb', 'lgbm', 'logreg'))}-{run_id[:6]}"
        url = f"http://mlflow.acme.example/#/experiments/1/runs/{run_id}"
        common = {"source": "mlflow", "origin": self.origins.mlflow, "thread": EXPERIMENT, "url": url,
                  "actor": who[1], "actor_ids": (who[1],), "title": title, "body": note, "refs": refs}
        self.add(id=event_id("mlflow", self.origins.mlflow, f"{run_id}:started"), category="run_started",
                 occurred_at=start, attrs={**attrs, "status": "RUNNING", "metrics": {}}, **common)
        self.add(id=event_id("mlflow", self.origins.mlflow, f"{run_id}:finished"), category="run_finished",
                 occurred_at=end, attrs=attrs, **common)
        return run_id


def seed_store(store: Store, config: Config, *, now: datetime | None = None, weeks: int = 6,
               scale: int = 1, seed: int = 7) -> WriteCounts:
    """Write ``weeks`` of a realistic engagement ending at ``now`` into ``store``; return what was written."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    origins = _Origins(*(getattr(config, kind)[0].origin(config.folder)
                         for kind in ("github", "git", "jira", "mlflow")))
    seeder = _Seeder(origins, random.Random(seed))
    rng = seeder.rng
    start = now - timedelta(weeks=weeks)
    tickets: list[str] = []
    best = 0.70
    day = start
    while day < now:
        if day.weekday() < 5:
            for _ in range(rng.randint(1, 2) * scale):
                tickets.append(seeder.ticket(day + timedelta(hours=rng.uniform(0, 8)), now))
            for _ in range(rng.randint(4, 10) * scale):
                moment = day + timedelta(hours=rng.uniform(0, 10))
                if moment < now:
                    seeder.commit(moment, rng.choice(tickets) if rng.random() < 0.75 else None)
            for _ in range(rng.randint(0, 2) * scale):
                seeder.pull_request(day + timedelta(hours=rng.uniform(0, 8)), rng.choice(tickets), now)
            for _ in range(rng.randint(1, 3) * scale):
                moment = day + timedelta(hours=rng.uniform(0, 10))
                if moment < now - timedelta(hours=2):
                    best = min(0.872, best + rng.uniform(-0.01, 0.012))
                    seeder.run(moment, best - rng.uniform(0, 0.02), ticket=rng.choice(tickets))
        day += timedelta(days=1)
    _story(seeder, now, tickets)
    counts = WriteCounts()
    for index in range(0, len(seeder.events), 2000):
        counts.add(store.write(seeder.events[index:index + 2000]))
    _sync_runs(store, origins, now)
    return counts


def _story(seeder: _Seeder, now: datetime, tickets: list[str]) -> None:
    """The few events every test relies on: a sweep with children, a regression, an internal ticket, a wait."""
    parent = seeder.run(now - timedelta(hours=30), 0.861, name="sweep-depth", note="Sweep over max_depth")
    for depth, value in ((4, 0.852), (6, 0.866), (8, 0.858)):
        seeder.run(now - timedelta(hours=29, minutes=-depth), value, parent=parent, name=f"sweep-depth-{depth}")
    seeder.run(now - timedelta(hours=3), 0.79, name="xgb-leaky-fix", status="FAILED",
               note="Regression after removing the leaked cancellation date", ticket=tickets[-1] if tickets else None)
    seeder.ticket(now - timedelta(days=2), now, key=INTERNAL_TICKET, title=INTERNAL_TITLE, labels=("internal",))
    seeder.commit(now - timedelta(hours=5), INTERNAL_TICKET, subject="rotate staging secrets")
    key = seeder.ticket(now - timedelta(hours=20), now - timedelta(hours=19), key="CHURN-500",
                        title="Which customers count as churned?")
    seeder.add(id=event_id("jira", seeder.origins.jira, f"{key}:waiting"), source="jira", origin=seeder.origins.jira,
               category="ticket_transition", occurred_at=now - timedelta(hours=6), actor="557058:minh",
               actor_ids=TEAM[0], thread=key, title=f"{key}: In Progress → Waiting for Customer",
               url=f"{JIRA}/browse/{key}", refs=(Ref("ticket", key),),
               attrs={"key": key, "from_status": "In Progress", "to_status": "Waiting for Customer",
                      "from_category": "indeterminate", "to_category": "indeterminate", "waiting": True})


def _sync_runs(store: Store, origins: _Origins, now: datetime) -> None:
    for source, origin in (("github", origins.github), ("git", origins.git), ("mlflow", origins.mlflow)):
        run = store.start_run(source, origin)
        store.finish_run(run, status="ok", fetched=10, counts=WriteCounts(new=10), first_at=now - timedelta(days=1),
                         last_at=now, message=None)
    ok = store.start_run("jira", origins.jira)
    store.finish_run(ok, status="ok", fetched=5, counts=WriteCounts(new=5), first_at=None, last_at=now, message=None)
    failed = store.start_run("jira", origins.jira)
    store.finish_run(failed, status="failed", fetched=0, counts=WriteCounts(), first_at=None, last_at=None,
                     message=f"jira ({JIRA}): authentication failed (HTTP 401) — check JIRA_USER and JIRA_TOKEN")


def seeded_engagement(folder: Path, *, store_url: str | None = None, **options: Any) -> Path:
    """Config plus seeded store in ``folder``; returns the config path (what ``GLASSBOX_CONFIG`` takes)."""

    url = store_url or f"sqlite:///{folder / 'glassbox.db'}"
    path = write_config(folder, url)
    config = load_config(path)
    store = open_engagement(config)
    seed_store(store, config, **options)
    store.engine.dispose()
    return path
