"""The report data: a hand-built engagement with known latencies reproduces every figure of SPEC §5's JSON.

Team in Ho Chi Minh City (UTC+7, 09:00-18:00 local = 02:00-11:00 UTC, Mon-Fri); engagement weeks in
New York, so 2026-W45 runs from 2026-11-02 05:00 UTC to 2026-11-09 05:00 UTC. Every figure below is
worked out by hand in the comments next to the events that produce it.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from glassbox.config import Config
from glassbox.events import Event, Ref, commit_event_id, commit_ref, event_id
from glassbox.periods import iso_week
from glassbox.report_model import build_report
from glassbox.store import Store

JIRA = "https://acme.atlassian.net"
MLFLOW = "sqlite:///mlruns.db"
C0, C1, C2, C3 = ("0" * 40, "1111111a" + "1" * 32, "2222222b" + "2" * 32, "3333333c" + "3" * 32)
NOW = datetime(2026, 11, 20, tzinfo=UTC)
CONFIG = Config.model_validate({
    "engagement": {"name": "Acme churn model", "timezone": "America/New_York", "internal_labels": ["internal"]},
    "team": {"timezone": "Asia/Ho_Chi_Minh", "working_hours": "09:00-18:00"},
    "people": [{"name": "Carol", "side": "client", "ids": ["carol-acme", "carol@acme.example"]},
               {"name": "Ana", "side": "team", "ids": ["ana", "ana@team.example"]},
               {"name": "Ben", "side": "team", "ids": ["ben"]}],
    "kpi": [{"experiment": "churn", "metric": "val_auc", "goal": "max", "target": 0.85, "alert_drop": 0.05}],
})
WEEK = iso_week(date(2026, 11, 2), ZoneInfo("America/New_York"))
_counter = iter(range(10_000))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def jira(category: str, at: str, actor: str, key: str, labels: tuple[str, ...] = (), **attrs: object) -> Event:
    return Event(id=event_id("jira", JIRA, f"{key}-{next(_counter)}"), source="jira", origin=JIRA,
                 category=category, occurred_at=utc(at), actor=actor, thread=key, title=f"{category} {key}",
                 refs=(Ref("ticket", key),), labels=labels, attrs={"key": key, **attrs})


def created(at: str, actor: str, key: str, summary: str, labels: tuple[str, ...] = ()) -> Event:
    event = jira("ticket_created", at, actor, key, labels, status="To Do", status_category="new", waiting=False)
    event.title = summary
    return event


def moved(at: str, key: str, to: str, to_category: str, from_category: str, waiting: bool = False) -> Event:
    return jira("ticket_transition", at, "ana", key, to_status=to, to_category=to_category,
                from_category=from_category, waiting=waiting)


def github(category: str, at: str, actor: str, number: int, refs: tuple[Ref, ...] = (), **attrs: object) -> Event:
    return Event(id=event_id("github", "acme/churn", f"{category}-{number}-{next(_counter)}"), source="github",
                 origin="acme/churn", category=category, occurred_at=utc(at), actor=actor,
                 thread=f"acme/churn#{number}", title=f"PR {number}", refs=refs,
                 url=f"https://github.com/acme/churn/pull/{number}", attrs={"number": number, **attrs})


def commit(sha: str, at: str, actor: str, ticket: str | None = None, labels: tuple[str, ...] = ()) -> Event:
    refs = (Ref("commit", sha), *((Ref("ticket", ticket),) if ticket else ()))
    return Event(id=commit_event_id(sha), source="git", origin="/src/churn", category="commit",
                 occurred_at=utc(at), actor=actor, thread="churn", title=f"{ticket or 'chore'}: change",
                 refs=refs, labels=labels, attrs={"sha": sha, "committed_at": at})


def run(run_id: str, start: str, end: str, auc: float, lr: float, sha: str | None) -> list[Event]:
    attrs = {"run_id": run_id, "experiment": "churn", "status": "FINISHED", "params": {"lr": lr},
             "metrics": {"val_auc": auc}, "commit": sha, "user": "ana"}
    return [Event(id=event_id("mlflow", MLFLOW, f"{run_id}-{category}"), source="mlflow", origin=MLFLOW,
                  category=category, occurred_at=utc(at), actor="ana", thread="churn", title=f"run {run_id}",
                  body=f"note for {run_id}", refs=commit_ref(sha), attrs=attrs)
            for category, at in (("run_started", start), ("run_finished", end))]


def engagement() -> list[Event]:
    internal = ("internal",)
    return [
        commit(C0, "2026-10-30 12:00", "ben"),  # W44: the previous week's one commit
        # CHURN-1: created Sunday evening New York time (W44), answered and resolved in W45.
        created("2026-11-02 03:00", "carol-acme", "CHURN-1", "Churn drops for tenure > 2y"),
        jira("comment", "2026-11-02 06:00", "ana", "CHURN-1"),  # client_response 3h (3 working)
        moved("2026-11-02 07:00", "CHURN-1", "In Progress", "indeterminate", "new"),  # pickup 4h (4)
        moved("2026-11-03 02:00", "CHURN-1", "Waiting for Customer", "indeterminate", "indeterminate", True),
        github("pull_request_opened", "2026-11-03 03:00", "ana", 7, (Ref("ticket", "CHURN-1"),)),
        github("comment", "2026-11-03 03:30", "ana", 7, kind="issue_comment"),  # the author's own: no pickup
        github("review", "2026-11-03 05:00", "ben", 7, state="APPROVED"),  # pr_pickup 2h (2)
        github("pull_request_merged", "2026-11-03 09:00", "ben", 7),  # pr_merge 6h (6)
        jira("comment", "2026-11-04 02:00", "carol@acme.example", "CHURN-1"),  # turnaround 24h (9); asks again
        commit(C1, "2026-11-04 04:00", "ana", "CHURN-1"),  # client_response 2h (2)
        *run("r1", "2026-11-04 07:00", "2026-11-04 08:00", 0.82, 0.1, C1[:8]),  # commit_to_run 3h (3)
        moved("2026-11-05 02:00", "CHURN-1", "Done", "done", "indeterminate"),  # cycle 67h (22), lead 71h (26)
        jira("ticket_resolved", "2026-11-05 02:00", "ana", "CHURN-1", to_status="Done"),
        # CHURN-3: internal, never picked up: open 98h at the week's end (team view only).
        created("2026-11-05 03:00", "ana", "CHURN-3", "Refactor feature store", internal),
        commit(C3, "2026-11-05 04:00", "ana", "CHURN-3"),
        commit(C2, "2026-11-05 06:00", "ben"),
        *run("r2", "2026-11-05 07:00", "2026-11-05 08:00", 0.86, 0.05, C2),  # commit_to_run 1h (1); best
        *run("r3", "2026-11-06 07:00", "2026-11-06 08:00", 0.80, 0.2, None),  # 7.0% below 0.86: alert
        github("pull_request_opened", "2026-11-06 08:00", "ana", 8),  # unreviewed: open 69h
        # CHURN-2: two client messages, a bot, no answer this week: open 67h.
        created("2026-11-06 10:00", "carol-acme", "CHURN-2", "Scores missing for EU accounts"),
        jira("comment", "2026-11-06 10:30", "carol-acme", "CHURN-2"),
        jira("comment", "2026-11-06 10:45", "automation[bot]", "CHURN-2"),
        jira("comment", "2026-11-09 06:00", "ana", "CHURN-2"),  # next week
    ]


@pytest.fixture
def seeded(store: Store) -> Store:
    store.write(engagement())
    return store


def latency(n: int, median: float | None, p90: float | None, top: float | None, working: float | None,
            still_open: int = 0, oldest: float | None = None) -> dict:
    return {"n": n, "median_hours": median, "p90_hours": p90, "max_hours": top, "median_working_hours": working,
            "open": still_open, "oldest_open_hours": oldest}


def test_team_report_reproduces_every_figure(seeded: Store) -> None:
    report = build_report(seeded, CONFIG, WEEK, "team", now=NOW)
    spec = {key: report[key] for key in
            ("engagement", "view", "period", "counts", "latency", "links", "experiments", "alerts")}
    assert spec == {
        "engagement": "Acme churn model",
        "view": "team",
        "period": {"label": "2026-W45", "start": "2026-11-02T00:00:00-05:00", "end": "2026-11-09T00:00:00-05:00"},
        "counts": {"commits": 3, "pull_requests_opened": 2, "pull_requests_merged": 1, "reviews": 1,
                   "tickets_created": 2, "tickets_resolved": 1, "comments": 5, "runs": 3},
        "latency": {
            "client_response": latency(2, 2.5, 2.9, 3.0, 2.5, 1, 67.0),
            "client_turnaround": latency(1, 24.0, 24.0, 24.0, 9.0),
            "ticket_pickup": latency(1, 4.0, 4.0, 4.0, 4.0, 2, 98.0),
            "ticket_cycle": latency(1, 67.0, 67.0, 67.0, 22.0),
            "ticket_lead": latency(1, 71.0, 71.0, 71.0, 26.0, 2, 98.0),
            "pr_pickup": latency(1, 2.0, 2.0, 2.0, 2.0, 1, 69.0),
            "pr_merge": latency(1, 6.0, 6.0, 6.0, 6.0, 1, 69.0),
            "commit_to_run": latency(2, 2.0, 2.8, 3.0, 2.0),
        },
        "links": {"commits_with_ticket": 2, "commits_without_ticket": 1, "runs_with_commit": 2,
                  "runs_without_commit": 1},
        "experiments": [{"experiment": "churn", "runs": 3,
                         "best": {"run_id": "r2", "metric": "val_auc", "value": 0.86},
                         "kpi": {"metric": "val_auc", "target": 0.85, "goal": "max", "met": True},
                         "compute_hours": {"wall": None, "gpu": None}}],  # these runs carry no durations
        "alerts": [{"kind": "metric_drop", "experiment": "churn", "run_id": "r3",
                    "message": "Run 'run r3' scored val_auc 0.8, 7.0% below the best so far (0.86, run 'run r2')."}],
    }
    json.dumps(report)


def test_client_view_leaves_out_internal_tickets_from_every_figure(seeded: Store) -> None:
    report = build_report(seeded, CONFIG, WEEK, "client", now=NOW)
    assert report["view"] == "client"
    assert (report["counts"]["commits"], report["counts"]["tickets_created"]) == (2, 1)
    assert report["links"]["commits_with_ticket"] == 1
    assert report["latency"]["ticket_pickup"] == latency(1, 4.0, 4.0, 4.0, 4.0, 1, 67.0)
    assert "CHURN-3" not in json.dumps(report)


def test_extras_give_renderers_the_week_over_week_waiting_and_shipped(seeded: Store) -> None:
    report = build_report(seeded, CONFIG, WEEK, "team", now=NOW)
    assert report["previous"]["label"] == "2026-W44"
    assert report["previous"]["counts"]["commits"] == 1
    assert report["previous"]["counts"]["tickets_created"] == 1
    assert report["previous"]["latency"]["client_response"]["open"] == 1
    assert [(w["latency"], w["thread"], w["on"], w["hours"]) for w in report["waiting"]] == [
        ("ticket_pickup", "CHURN-3", "team", 98.0),
        ("pr_pickup", "acme/churn#8", "team", 69.0),
        ("client_response", "CHURN-2", "team", 67.0),
        ("ticket_pickup", "CHURN-2", "team", 67.0),
    ]
    assert report["waiting"][2]["title"] == "Scores missing for EU accounts"
    assert [(p["thread"], p["tickets"]) for p in report["shipped"]["pull_requests"]] == [("acme/churn#7", ["CHURN-1"])]
    assert [(t["thread"], t["title"]) for t in report["shipped"]["tickets"]] == [
        ("CHURN-1", "Churn drops for tenure > 2y")]
    days = {(row["day"], row["side"]): row for row in report["daily"]}
    assert len(days) == 7 * 3
    assert days[("2026-11-04", "team")]["commits"] == 1
    assert days[("2026-11-06", "client")]["active_people"] == 1
    story = report["experiment_runs"][0]
    assert [(r["run_id"], r["new_best"], r["drop"]) for r in story["runs"]] == [
        ("r1", True, False), ("r2", True, False), ("r3", False, True)]
    assert story["runs"][1]["param_diff"] == {"lr": {"from": 0.1, "to": 0.05}}
    assert story["runs"][2]["note"] == "note for r3"


def test_report_for_the_running_week_measures_open_waits_now(seeded: Store) -> None:
    report = build_report(seeded, CONFIG, WEEK, "team", now=datetime(2026, 11, 6, 12, tzinfo=UTC))
    assert report["latency"]["client_response"]["oldest_open_hours"] == 2.0
    assert report["counts"]["pull_requests_opened"] == 2
