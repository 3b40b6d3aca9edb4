"""The words Glassbox uses for its figures, and who each kind of wait is on: one home for all of them.

Who an open wait is waiting on used to be written three times (the report's figures, the report's
prose, the Today page) and the copies drifted: a pull request's wait was on "the team" in a report's
bullets and on "reviewers" in the table beneath, and two kinds of wait were counted in one list and
missing from the other. Metrics, reports and the dashboard import the tables below instead.

A **wait on someone** is an open wait that one side must end by acting: the team answers a client's
message, starts a new ticket, reviews a pull request; the client answers a question put to them.
Work in progress (a started ticket, a reviewed pull request not merged yet) and the lead and
commit-to-run times are measured (SPEC §4) but are not waits on anyone, so no list shows them as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Side = Literal["team", "client"]

COUNT_LABELS = {
    "commits": "commits",
    "pull_requests_opened": "PRs opened",
    "pull_requests_merged": "PRs merged",
    "reviews": "reviews",
    "tickets_created": "tickets created",
    "tickets_resolved": "tickets resolved",
    "comments": "comments",
    "runs": "runs",
}
HEADLINE_COUNTS = ("commits", "pull_requests_merged", "tickets_resolved", "runs")
_ONE = {"commits": "commit", "pull_requests_opened": "PR opened", "pull_requests_merged": "PR merged",
        "reviews": "review", "tickets_created": "ticket created", "tickets_resolved": "ticket resolved",
        "comments": "comment", "runs": "run"}


def count_label(name: str, count: int) -> str:
    """A count's label agreeing with it: ``1 PR merged``, ``2 PRs merged``."""
    return _ONE[name] if count == 1 else COUNT_LABELS[name]

LATENCY_LABELS = {
    "client_response": "Client message → team reply",
    "client_turnaround": "Waiting on client → client reply",
    "ticket_pickup": "Ticket created → work started",
    "ticket_cycle": "Work started → done",
    "ticket_lead": "Ticket created → done",
    "pr_pickup": "PR opened → first review",
    "pr_merge": "PR opened → merged",
    "commit_to_run": "Commit → first run",
}


@dataclass(frozen=True)
class Wait:
    """One kind of wait on someone: the latency that measures it, who must act, and its wording."""

    latency: str
    on: Side
    one: str
    several: str

    def wording(self, count: int) -> str:
        """``1 ticket not started yet`` but ``2 tickets not started yet``: the noun for ``count`` waits."""
        return self.one if count == 1 else self.several

    @property
    def label(self) -> str:
        return latency_label(self.latency)


# the waits on someone, in the order lists show them (the team's first)
WAITS = (
    Wait("client_response", "team", "client message without a team reply", "client messages without a team reply"),
    Wait("ticket_pickup", "team", "ticket not started yet", "tickets not started yet"),
    Wait("pr_pickup", "team", "pull request without a review", "pull requests without a review"),
    Wait("client_turnaround", "client", "ticket waiting for the client's answer",
         "tickets waiting for the client's answer"),
)


def wait_of(latency: str) -> Wait | None:
    """The wait on someone that ``latency`` measures, if it is one."""
    return next((wait for wait in WAITS if wait.latency == latency), None)


def latency_label(name: str) -> str:
    """A latency's name for people (SPEC §4's names stay in data, never on a page)."""
    return LATENCY_LABELS.get(name, name)


# what keeping an agreement (SPEC §7) means for each latency, as the start of a sentence
AGREEMENT_WORDS = {
    "client_response": "client messages answered",
    "client_turnaround": "questions to the client answered",
    "ticket_pickup": "new tickets started",
    "ticket_cycle": "started tickets done",
    "ticket_lead": "tickets done",
    "pr_pickup": "pull requests reviewed",
    "pr_merge": "pull requests merged",
    "commit_to_run": "commits run",
}


def _given(value: Any) -> bool:
    """A limit that is set: not ``None``, nor the NaN a data frame row makes of it."""
    return value is not None and value == value


def _share(value: float) -> str:
    return f"{value * 100:.0f}%" if round(value * 100, 1).is_integer() else f"{value * 100:.1f}%"


def agreement_sentence(figures: dict[str, Any]) -> str:
    """One agreement's figures (SPEC §7's object) in words, the same in every report and message.

    ``client messages answered within 8 working hours: 4 of 5, agreed 90% — not kept; 1 still open
    past the limit``.
    """
    name = str(figures.get("latency"))
    if _given(figures.get("within_working_hours")):
        limit = f"{figures['within_working_hours']:g} working hours"
    else:
        limit = f"{figures.get('within_hours'):g} hours"
    n = int(figures.get("n") or 0)
    target = _share(float(figures.get("target_share") or 1.0))
    if n:
        verdict = "kept" if figures.get("met") else "not kept"
        text = f"{AGREEMENT_WORDS.get(name, name)} within {limit}: {figures.get('in_time', 0)} of {n}, " \
               f"agreed {target} — {verdict}"
    else:
        text = f"{AGREEMENT_WORDS.get(name, name)} within {limit}: none ended this period, agreed {target}"
    late = int(figures.get("open_breaching") or 0)
    if late:
        text += f"; {late} still open past the limit"
    return text


# What a figure of a wait means, for the tooltips of every table that shows one.
FIGURE_HELP = {
    "median": "Half the waits that ended in the period took less than this, half took longer.",
    "p90": "Nine waits in ten that ended in the period took less than this: the slow tail.",
    "working": "Only the team's working hours count (its working days and hours, in its time zone): "
               "a wait from Friday 17:00 to Monday 10:00 is 2 working hours.",
    "open": "Waits not yet over at the period's end (or now, for the current period).",
}
