"""Feeds the demo's Jira and GitHub payloads through the connectors' own normalizers into the store.

The demo has no Jira site or GitHub repository to sync from, so their payloads are written to
``D/recorded/`` (for anyone curious what the connectors read) and turned into events by the very
functions a sync uses — ``issue_to_events``, ``commit_to_event``, ``pull_to_events``,
``review_to_event`` and the comment normalizers. They are loaded before the git sync, as a sync of
both sources would order them, so the clone's commits merge into GitHub's. A sync run is recorded
for each, so the dashboard's freshness panel shows them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.github.normalize import (
    commit_to_event,
    issue_comment_to_event,
    pull_to_events,
    review_comment_to_event,
    review_to_event,
    thread_info,
)
from connectors.jira.normalize import issue_to_events, status_categories_from
from demo.github_payloads import (
    PullPlan,
    commit_payload,
    issue_comment_payload,
    issue_item,
    pull_payload,
    review_comment_payload,
    review_payload,
)
from demo.gitrepo import DemoRepo
from demo.jira_payloads import WAITING_STATUSES, TicketPlan, issue_payload, status_list
from demo.story import JIRA_SERVER, PEOPLE, REPO
from glassbox.events import DEFAULT_TICKET_PATTERN, Event
from glassbox.store import Store


@dataclass
class GitHubPayloads:
    """Everything GitHub would have answered for the demo repository, list by list."""

    commits: list[dict[str, Any]]
    pulls: list[dict[str, Any]]
    issues: list[dict[str, Any]]
    reviews: dict[int, list[dict[str, Any]]]
    issue_comments: list[dict[str, Any]]
    review_comments: list[dict[str, Any]]


def github_payloads(plans: list[PullPlan], repo: DemoRepo) -> GitHubPayloads:
    people = {member.email.lower(): member for member in PEOPLE}
    payloads = GitHubPayloads([commit_payload(record, people) for record in repo.log("main")], [], [], {}, [], [])
    for plan in plans:
        payloads.pulls.append(pull_payload(plan, repo))
        payloads.issues.append(issue_item(plan))
        payloads.reviews[plan.number] = []
        for index, said in enumerate(plan.said):
            if said.kind == "review":
                payloads.reviews[plan.number].append(review_payload(plan, said, index, repo))
            elif said.kind == "line":
                payloads.review_comments.append(review_comment_payload(plan, said, index, repo))
            else:
                payloads.issue_comments.append(issue_comment_payload(plan, said, index))
    return payloads


def github_events(payloads: GitHubPayloads, ticket_pattern: str = DEFAULT_TICKET_PATTERN) -> list[Event]:
    """The events a GitHub sync of these payloads would write."""
    threads = {issue["number"]: thread_info(issue) for issue in payloads.issues}
    events = [commit_to_event(commit, repo=REPO, ticket_pattern=ticket_pattern) for commit in payloads.commits]
    for pull in payloads.pulls:
        events.extend(pull_to_events(pull, repo=REPO, ticket_pattern=ticket_pattern))
        for review in payloads.reviews[pull["number"]]:
            event = review_to_event(review, pull, repo=REPO, ticket_pattern=ticket_pattern)
            if event is not None:
                events.append(event)
    for comment in payloads.issue_comments:
        number = int(comment["issue_url"].rsplit("/", 1)[1])
        events.append(issue_comment_to_event(comment, repo=REPO, thread=threads.get(number),
                                             ticket_pattern=ticket_pattern))
    for comment in payloads.review_comments:
        number = int(comment["pull_request_url"].rsplit("/", 1)[1])
        events.append(review_comment_to_event(comment, repo=REPO, thread=threads.get(number),
                                              ticket_pattern=ticket_pattern))
    return events


def jira_events(issues: list[dict[str, Any]], ticket_pattern: str = DEFAULT_TICKET_PATTERN) -> list[Event]:
    """The events a Jira sync of these issues would write."""
    categories = status_categories_from(status_list())
    events: list[Event] = []
    for issue in issues:
        events.extend(issue_to_events(issue, origin=JIRA_SERVER, server=JIRA_SERVER, status_categories=categories,
                                      waiting_statuses=WAITING_STATUSES, ticket_pattern=ticket_pattern))
    return events


def load_recorded(store: Store, folder: Path, tickets: list[TicketPlan], pulls: list[PullPlan],
                  repo: DemoRepo, ticket_pattern: str = DEFAULT_TICKET_PATTERN) -> dict[str, int]:
    """Write the payloads under ``folder`` and their events into ``store``; returns events per source."""
    issues = [issue_payload(plan) for plan in tickets]
    github = github_payloads(pulls, repo)
    _dump(folder / "jira" / "issues.json", issues)
    _dump(folder / "jira" / "status.json", status_list())
    for name in ("commits", "pulls", "issues", "reviews", "issue_comments", "review_comments"):
        _dump(folder / "github" / f"{name}.json", getattr(github, name))
    written = {}
    for source, origin, events in (("jira", JIRA_SERVER, jira_events(issues, ticket_pattern)),
                                   ("github", REPO, github_events(github, ticket_pattern))):
        run_id = store.start_run(source, origin)
        counts = store.write(events)
        store.finish_run(run_id, status="ok", fetched=len(events), counts=counts,
                         first_at=min(e.occurred_at for e in events), last_at=max(e.occurred_at for e in events),
                         message="demo: recorded payloads, loaded without a server")
        written[source] = len(events)
    return written


def _dump(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
