"""The demo's Jira tickets, as Jira Cloud's REST API returns them (``issue?expand=changelog``).

Written in the shape of real responses (Cloud users with ``accountId``, statuses with their
``statusCategory``, changelog histories with ``fromString``/``toString``, comments inside
``fields.comment``) so they go through :func:`connectors.jira.normalize.issue_to_events` exactly like a
synced issue. The CHURN project tells the engagement from the client's side: questions, answers,
a ticket waiting on the client, an internal one the client view hides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from demo.story import (
    CAROL,
    CLIENT_TZ,
    DAN,
    HOA,
    JIRA_SERVER,
    LINH,
    MINH,
    PROJECT,
    QUANG,
    TEAM_TZ,
    Clock,
    Member,
)

API = f"{JIRA_SERVER}/rest/api/2"
PROJECT_ID = "10004"
WAITING_STATUSES = ("Waiting for Customer",)
# name -> (status id, category key, category id, colour, category name)
STATUSES = {
    "To Do": ("10000", "new", 2, "blue-gray", "To Do"),
    "In Progress": ("3", "indeterminate", 4, "yellow", "In Progress"),
    "In Review": ("10001", "indeterminate", 4, "yellow", "In Progress"),
    "Waiting for Customer": ("10002", "indeterminate", 4, "yellow", "In Progress"),
    "Done": ("10003", "done", 3, "green", "Done"),
}
ISSUE_TYPES = {"Story": "10001", "Task": "10002", "Bug": "10003"}
PRIORITIES = {"High": "2", "Medium": "3", "Low": "4"}


@dataclass
class TicketPlan:
    """One ticket: who raised it, what happened to its status, and what was said on it."""

    number: int
    summary: str
    issue_type: str
    reporter: Member
    created: datetime
    description: str
    assignee: Member | None = None
    priority: str = "Medium"
    labels: tuple[str, ...] = ()
    moves: list[tuple[datetime, Member, str]] = field(default_factory=list)
    comments: list[tuple[datetime, Member, str]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{PROJECT}-{self.number}"


def jira_time(moment: datetime) -> str:
    """Jira's timestamp format: ``2024-03-05T09:15:00.000+0000``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def jira_user(member: Member) -> dict[str, Any]:
    avatar = f"https://avatar-management.services.atlassian.com/initials/{member.login[:2]}"
    return {
        "self": f"{API}/user?accountId={member.account_id}",
        "accountId": member.account_id,
        "emailAddress": member.email,
        "avatarUrls": {size: f"{avatar}-{size}.png" for size in ("48x48", "24x24", "16x16", "32x32")},
        "displayName": member.name,
        "active": True,
        "timeZone": str(CLIENT_TZ if member.side == "client" else TEAM_TZ),
        "accountType": "atlassian",
    }


def status_object(name: str) -> dict[str, Any]:
    status_id, key, category_id, colour, category_name = STATUSES[name]
    return {
        "self": f"{API}/status/{status_id}",
        "description": "",
        "iconUrl": f"{JIRA_SERVER}/images/icons/statuses/generic.png",
        "name": name,
        "id": status_id,
        "statusCategory": {"self": f"{API}/statuscategory/{category_id}", "id": category_id, "key": key,
                           "colorName": colour, "name": category_name},
    }


def status_list() -> list[dict[str, Any]]:
    """``GET /rest/api/2/status``: what the connector reads the status categories from."""
    return [status_object(name) for name in STATUSES]


def issue_payload(plan: TicketPlan) -> dict[str, Any]:
    """The whole issue as ``GET /rest/api/2/issue/{key}?expand=changelog`` answers."""
    issue_id = str(10100 + plan.number)
    histories = _histories(plan, issue_id)
    current = plan.moves[-1][2] if plan.moves else "To Do"
    done_at = plan.moves[-1][0] if current == "Done" else None
    activity = [plan.created, *(m[0] for m in plan.moves), *(c[0] for c in plan.comments)]
    comments = [_comment(plan, issue_id, index, *entry) for index, entry in enumerate(plan.comments)]
    fields = {
        "issuetype": {"self": f"{API}/issuetype/{ISSUE_TYPES[plan.issue_type]}", "id": ISSUE_TYPES[plan.issue_type],
                      "name": plan.issue_type, "subtask": False, "hierarchyLevel": 0},
        "project": {"self": f"{API}/project/{PROJECT_ID}", "id": PROJECT_ID, "key": PROJECT,
                    "name": "Churn model", "projectTypeKey": "software", "simplified": False},
        "created": jira_time(plan.created),
        "updated": jira_time(max(activity)),
        "resolution": {"self": f"{API}/resolution/10000", "id": "10000", "name": "Done"} if done_at else None,
        "resolutiondate": jira_time(done_at) if done_at else None,
        "priority": {"self": f"{API}/priority/{PRIORITIES[plan.priority]}", "name": plan.priority,
                     "id": PRIORITIES[plan.priority]},
        "labels": list(plan.labels),
        "assignee": jira_user(plan.assignee) if plan.assignee else None,
        "reporter": jira_user(plan.reporter),
        "creator": jira_user(plan.reporter),
        "status": status_object(current),
        "summary": plan.summary,
        "description": plan.description,
        "issuelinks": [],
        "subtasks": [],
        "components": [],
        "fixVersions": [],
        "watches": {"self": f"{API}/issue/{plan.key}/watchers", "watchCount": 2, "isWatching": False},
        "comment": {"comments": comments, "self": f"{API}/issue/{issue_id}/comment",
                    "maxResults": len(comments), "total": len(comments), "startAt": 0},
    }
    return {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": issue_id,
        "self": f"{API}/issue/{issue_id}",
        "key": plan.key,
        "fields": fields,
        "changelog": {"startAt": 0, "maxResults": len(histories), "total": len(histories), "histories": histories},
    }


def _histories(plan: TicketPlan, issue_id: str) -> list[dict[str, Any]]:
    histories = []
    previous = "To Do"
    items: list[dict[str, str | None]]  # resolution items carry null "from" values
    for index, (when, who, status) in enumerate(plan.moves):
        items = [{"field": "status", "fieldtype": "jira", "fieldId": "status",
                  "from": STATUSES[previous][0], "fromString": previous,
                  "to": STATUSES[status][0], "toString": status}]
        if status == "Done":
            items.append({"field": "resolution", "fieldtype": "jira", "fieldId": "resolution",
                          "from": None, "fromString": None, "to": "10000", "toString": "Done"})
        histories.append({"id": f"{issue_id}{index:03d}", "author": jira_user(who), "created": jira_time(when),
                          "items": items})
        previous = status
    return histories


def _comment(plan: TicketPlan, issue_id: str, index: int, when: datetime, who: Member, body: str) -> dict[str, Any]:
    comment_id = f"{issue_id}{index + 500}"
    return {
        "self": f"{API}/issue/{issue_id}/comment/{comment_id}",
        "id": comment_id,
        "author": jira_user(who),
        "body": body,
        "updateAuthor": jira_user(who),
        "created": jira_time(when),
        "updated": jira_time(when),
        "jsdPublic": True,
    }


def story_tickets(c: Clock) -> list[TicketPlan]:
    """The CHURN project, ticket by ticket."""
    return [
        TicketPlan(
            1, "Baseline churn model on the 2023 subscription data", "Story", CAROL, c.at(19, "21:30"),
            "A first model and its validation AUC, so we know where we start.", LINH,
            moves=[(c.at(18, "09:00"), LINH, "In Progress"), (c.at(16, "15:00"), LINH, "Done")],
            comments=[
                (c.at(19, "21:40"), CAROL, "The nightly export is in s3://acme-analytics/churn/. Anything before"
                 " 2023 still has the old plan codes — please ignore it."),
                (c.at(18, "09:05"), LINH, "Thanks Carol — we start from 2023-01 and map the two legacy plan codes"
                 " that still appear."),
                (c.at(16, "15:05"), LINH, "Baseline logged: validation AUC 0.781 (run baseline-logreg)."
                 " Next: usage features and gradient boosting."),
            ]),
        TicketPlan(
            2, "Define the churn label", "Task", CAROL, c.at(19, "22:00"),
            "Which customers count as churned, and over what window?", QUANG,
            moves=[(c.at(18, "09:30"), QUANG, "In Progress"), (c.at(18, "09:45"), QUANG, "Waiting for Customer"),
                   (c.at(17, "09:10"), QUANG, "In Progress"), (c.at(17, "11:00"), LINH, "Done")],
            comments=[
                (c.at(18, "09:40"), QUANG, "Two questions before we fix the label: is 30 days without an active"
                 " subscription the right gap, and do paused subscriptions count as churned?"),
                (c.at(18, "21:15"), CAROL, "30 days is right. Paused accounts are still customers — count them"
                 " as active."),
                (c.at(17, "11:05"), LINH, "Implemented as agreed: 30-day gap, paused = active."),
            ]),
        TicketPlan(
            3, "Usage aggregate features", "Story", QUANG, c.at(17, "09:00"),
            "Daily usage per customer with 7- and 30-day windows.", HOA,
            moves=[(c.at(15, "09:30"), HOA, "In Progress"), (c.at(13, "11:30"), HOA, "In Review"),
                   (c.at(12, "10:20"), LINH, "Done")]),
        TicketPlan(
            4, "Hyperparameter sweep for gradient boosting", "Task", QUANG, c.at(14, "09:00"),
            "Learning rate, leaves and estimators for LightGBM.", MINH,
            moves=[(c.at(13, "13:30"), MINH, "In Progress"), (c.at(10, "10:00"), MINH, "Done")],
            comments=[(c.at(10, "10:05"), MINH, "Best of the sweep: 0.801 (learning rate 0.05, 63 leaves).")]),
        TicketPlan(
            5, "Validation AUC looks too good — check for leakage", "Bug", DAN, c.at(10, "22:30"),
            "gbm-features-v2 shows 0.842. Our in-house attempts never got past 0.78 — is the split by customer?"
            " Customers have several subscription rows.", LINH, priority="High",
            moves=[(c.at(9, "09:10"), LINH, "In Progress"), (c.at(8, "10:30"), LINH, "In Review"),
                   (c.at(7, "09:20"), LINH, "Done")],
            comments=[
                (c.at(9, "09:15"), LINH, "You're right: rows were split at random, so a customer's renewals landed"
                 " in both train and validation. Fixing it with a split by customer_id in PR #3."),
                (c.at(9, "23:10"), DAN, "Thanks — please make sure the holdout is grouped the same way."),
                (c.at(8, "10:35"), LINH, "Done in PR #3: all three splits are grouped now. The honest validation"
                 " AUC is 0.812 (run gbm-group-split)."),
                (c.at(8, "22:15"), CAROL, "Appreciate the transparency. What do we need to reach 0.85?"),
                (c.at(7, "09:30"), QUANG, "Support-ticket history is the strongest signal we don't use yet"
                 " (CHURN-6); we expect +0.02 to +0.04."),
            ]),
        TicketPlan(
            6, "Add support-ticket features", "Story", QUANG, c.at(8, "09:00"),
            "Ticket counts, sentiment and time to resolution per customer.", HOA,
            moves=[(c.at(7, "13:30"), HOA, "In Progress"), (c.at(6, "11:00"), HOA, "In Review"),
                   (c.at(5, "09:35"), LINH, "Done")]),
        TicketPlan(
            7, "Reach validation AUC 0.85", "Story", CAROL, c.at(16, "22:00"),
            "The bar for a pilot with the customer-success team.", MINH, priority="High",
            moves=[(c.at(6, "09:00"), MINH, "In Progress"), (c.at(3, "11:00"), MINH, "In Review"),
                   (c.at(2, "11:30"), MINH, "Done")],
            comments=[
                (c.at(3, "11:05"), MINH, "gbm-tuned reaches 0.853 on the grouped validation split."),
                (c.at(3, "21:40"), CAROL, "Great news! Could you confirm on the holdout before we close it?"),
                (c.at(2, "11:25"), MINH, "Holdout AUC 0.857 with the three-seed average (validation 0.862)."
                 " Closing."),
            ]),
        TicketPlan(
            8, "Annual plans: churn at cancellation or at the end of the paid year?", "Task", QUANG,
            c.at(3, "10:00"), "The choice moves about 4% of labels.", QUANG,
            moves=[(c.at(3, "10:05"), QUANG, "Waiting for Customer")],
            comments=[(c.at(3, "10:10"), QUANG, "Carol, for annual plans do we count churn when the customer"
                       " cancels or when the paid year ends? We need this before the next retrain.")]),
        TicketPlan(
            9, "Model card and handover document", "Task", CAROL, c.at(4, "21:00"),
            "Intended use, data, metrics and known limits, for our model-risk review.", priority="Low"),
        TicketPlan(
            10, "Sweep compute over budget", "Task", QUANG, c.at(6, "16:00"),
            "Sweeps used 140 GPU-hours against 100 planned.", MINH, labels=("internal",),
            moves=[(c.at(5, "10:00"), MINH, "In Progress")],
            comments=[
                (c.at(6, "16:05"), QUANG, "We absorb the overrun — do not bill Acme for it."),
                (c.at(5, "10:10"), MINH, "Moved the sweeps to spot instances and halved the grid."),
            ]),
        TicketPlan(
            11, "Monthly retrain job", "Story", CAROL, c.at(4, "22:10"),
            "Customer success needs fresh scores at the start of every month.", MINH,
            moves=[(c.at(2, "09:00"), MINH, "In Progress")],
            comments=[(c.ago(10), CAROL, "The dashboard shows the March retrain at 0.80 — is that expected?")]),
        TicketPlan(
            12, "Explain the top churn drivers for the CS team", "Story", CAROL, c.at(5, "21:30"),
            "Plain-language reasons next to each score.", LINH,
            moves=[(c.at(3, "09:00"), LINH, "In Progress"), (c.at(1, "10:40"), LINH, "In Review")]),
    ]
