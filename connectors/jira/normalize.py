"""Jira's JSON as events: pure functions, no HTTP (tests, the demo builder and ``renormalize`` call them).

One issue as ``search`` returns it (``expand=changelog``, comments in ``fields.comment``) becomes
``ticket_created``, ``ticket_transition``, ``ticket_resolved`` and ``comment`` events.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from glassbox.events import DEFAULT_TICKET_PATTERN, Event, Ref, event_id, find_ticket_keys

SOURCE = "jira"
STATUS_CATEGORIES = ("new", "indeterminate", "done")


def parse_jira_time(value: str) -> datetime:
    """Jira's ``2012-09-05T16:34:55.991+0000`` as an aware UTC datetime."""
    return datetime.fromisoformat(value).astimezone(UTC)


def person(user: dict[str, Any] | None) -> tuple[str | None, tuple[str, ...]]:
    """A Jira user's primary id (Cloud ``accountId``, else Server ``name`` or ``key``) and every id they have."""
    if not user:
        return None, ()
    primary = user.get("accountId") or user.get("name") or user.get("key")
    ids = (user.get(k) for k in ("accountId", "name", "key", "emailAddress", "displayName"))
    return primary, tuple(dict.fromkeys(i for i in ids if i))


def status_categories_from(statuses: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Status id and case-folded name -> category key, from ``/rest/api/2/status`` or any status objects."""
    categories: dict[str, str] = {}
    for status in statuses:
        key = (status.get("statusCategory") or {}).get("key")
        if key in STATUS_CATEGORIES:
            if status.get("id"):
                categories[str(status["id"])] = key
            if status.get("name"):
                categories[status["name"].casefold()] = key
    return categories


def resolved_event_id(origin: str, raw_issue: dict[str, Any]) -> str:
    """The id of an issue's ``ticket_resolved`` event: one per issue, so reopening can remove it."""
    return event_id(SOURCE, origin, f"{raw_issue['id']}/resolved")


@dataclass(frozen=True)
class _Ticket:
    """What every event of one issue shares."""

    issue: dict[str, Any]
    key: str
    origin: str
    url: str
    labels: tuple[str, ...]
    refs: tuple[Ref, ...]
    categories: dict[str, str]
    waiting: frozenset[str]
    ticket_pattern: str

    @property
    def fields(self) -> dict[str, Any]:
        return self.issue["fields"]

    def event(self, native: str, category: str, at: str, user: dict[str, Any] | None, title: str,
              *, body: str | None = None, url: str | None = None, refs: tuple[Ref, ...] = (),
              attrs: dict[str, Any], raw: Any) -> Event:
        actor, actor_ids = person(user)
        return Event(
            id=event_id(SOURCE, self.origin, f"{self.issue['id']}/{native}"), source=SOURCE,
            origin=self.origin, category=category, occurred_at=parse_jira_time(at), actor=actor,
            actor_ids=actor_ids, thread=self.key, title=title, body=body, url=url or self.url,
            refs=tuple(dict.fromkeys((*self.refs, *refs))), labels=self.labels,
            attrs={"key": self.key, **attrs}, raw=raw,
        )

    def category(self, status_id: str | None, name: str | None) -> str | None:
        for candidate in (status_id, name.casefold() if name else None):
            if candidate and candidate in self.categories:
                return self.categories[candidate]
        return None

    def is_waiting(self, status_name: str | None) -> bool:
        return bool(status_name and status_name.casefold() in self.waiting)


def issue_to_events(
    raw_issue: dict[str, Any],
    *,
    origin: str,
    server: str,
    status_categories: dict[str, str],
    waiting_statuses: Iterable[str] = (),
    ticket_pattern: str = DEFAULT_TICKET_PATTERN,
    epic_field: str | None = None,
) -> list[Event]:
    """Every event of one issue: created, each status change, resolved (while still done), each comment.

    ``raw_issue`` is an issue as ``search`` returns it with ``expand=changelog``, with complete
    ``changelog.histories`` and ``fields.comment.comments``. ``status_categories`` maps status ids
    and case-folded names to ``new``/``indeterminate``/``done`` (:func:`status_categories_from`);
    statuses missing there take the category the issue itself reports for them (its current status,
    its parent's and linked issues'). ``epic_field`` is the Server "Epic Link" custom field id.
    """
    ticket = _ticket(raw_issue, origin, server, status_categories, waiting_statuses, ticket_pattern, epic_field)
    transitions = _transition_events(ticket)
    events = [_created_event(ticket), *transitions]
    resolved = _resolved_event(ticket, transitions)
    if resolved is not None:
        events.append(resolved)
    events.extend(_comment_events(ticket))
    return events


def _ticket(raw_issue: dict[str, Any], origin: str, server: str, status_categories: dict[str, str],
            waiting_statuses: Iterable[str], ticket_pattern: str, epic_field: str | None) -> _Ticket:
    fields = raw_issue["fields"]
    key = raw_issue["key"]
    own_statuses = status_categories_from(_statuses_in(fields))
    return _Ticket(
        issue=raw_issue, key=key, origin=origin, url=f"{server.rstrip('/')}/browse/{key}",
        labels=tuple(fields.get("labels") or ()),
        refs=(Ref("ticket", key), *(Ref("ticket", k) for k in _related_keys(fields, epic_field) if k != key)),
        categories={**own_statuses, **status_categories},
        waiting=frozenset(s.casefold() for s in waiting_statuses), ticket_pattern=ticket_pattern,
    )


def _statuses_in(fields: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Status objects the issue carries: its own, its parent's and its linked issues'."""
    if fields.get("status"):
        yield fields["status"]
    related = [fields.get("parent") or {}]
    for link in fields.get("issuelinks") or ():
        related.append(link.get("inwardIssue") or link.get("outwardIssue") or {})
    for issue in related:
        status = (issue.get("fields") or {}).get("status")
        if status:
            yield status


def _related_keys(fields: dict[str, Any], epic_field: str | None) -> list[str]:
    """Keys of the parent (a Cloud epic too), the Server epic link, and every linked issue."""
    keys = [(fields.get("parent") or {}).get("key")]
    if epic_field and isinstance(fields.get(epic_field), str):
        keys.append(fields[epic_field])
    for link in fields.get("issuelinks") or ():
        keys.append((link.get("inwardIssue") or link.get("outwardIssue") or {}).get("key"))
    return [key for key in dict.fromkeys(keys) if key]


def _name(value: dict[str, Any] | None) -> str | None:
    return (value or {}).get("name")


def _text(body: Any) -> str:
    """A comment or description body: wiki markup as-is; Cloud's v3 document format as its text."""
    if body is None or isinstance(body, str):
        return body or ""
    if isinstance(body, dict):
        if body.get("type") == "text":
            return body.get("text", "")
        separator = "\n" if body.get("type") in ("doc", "bulletList", "orderedList") else ""
        return separator.join(_text(child) for child in body.get("content") or ())
    return str(body)


def _created_status(ticket: _Ticket) -> tuple[str | None, str | None]:
    """The status (name, category) the ticket was created in.

    The issue only reports its *current* status; the one it started in is the ``from`` side of its
    first status change. Only a ticket with no recorded status change is taken to be in the status it
    was created in — without that, every ticket that has moved on would look created in progress or done.
    """
    for history in _histories(ticket.issue):
        for item in history.get("items") or ():
            if _is_status_change(item):
                name = item.get("fromString")
                return name, ticket.category(item.get("from"), name)
    status = ticket.fields.get("status") or {}
    return status.get("name"), _current_category(ticket)


def _created_event(ticket: _Ticket) -> Event:
    fields = ticket.fields
    description = _text(fields.get("description"))
    summary = fields.get("summary") or ticket.key
    status, category = _created_status(ticket)
    return ticket.event(
        "created", "ticket_created", fields["created"], fields.get("reporter") or fields.get("creator"),
        summary, body=description or None,
        refs=_mentions(ticket, summary, description),
        attrs={
            "summary": summary,
            "status": status,
            "status_category": category,
            "issue_type": _name(fields.get("issuetype")),
            "priority": _name(fields.get("priority")),
            "assignee": person(fields.get("assignee"))[0],
            "project": (fields.get("project") or {}).get("key") or ticket.key.rsplit("-", 1)[0],
            "waiting": ticket.is_waiting(status),
        },
        raw=_issue_without_activity(ticket.issue),
    )


def _issue_without_activity(issue: dict[str, Any]) -> dict[str, Any]:
    """The issue as received minus its changelog and comments, which their own events keep."""
    fields = {k: v for k, v in issue["fields"].items() if k != "comment"}
    return {**{k: v for k, v in issue.items() if k != "changelog"}, "fields": fields}


def _mentions(ticket: _Ticket, *texts: str | None) -> tuple[Ref, ...]:
    return tuple(Ref("ticket", key) for key in find_ticket_keys(*texts, pattern=ticket.ticket_pattern))


def _histories(issue: dict[str, Any]) -> list[dict[str, Any]]:
    histories = (issue.get("changelog") or {}).get("histories") or ()
    return sorted(histories, key=lambda h: (parse_jira_time(h["created"]), str(h.get("id"))))


def _is_status_change(item: dict[str, Any]) -> bool:
    """A changelog item of the system status field (not a custom field that happens to be called so)."""
    return item.get("fieldId", item.get("field")) == "status" and item.get("fieldtype", "jira") == "jira"


def _transition_events(ticket: _Ticket) -> list[Event]:
    events = []
    for history in _histories(ticket.issue):
        for item in history.get("items") or ():
            if not _is_status_change(item):
                continue
            to_name = item.get("toString")
            from_name = item.get("fromString")
            events.append(ticket.event(
                f"history/{history['id']}", "ticket_transition", history["created"], history.get("author"),
                f"{ticket.key}: {from_name} → {to_name}",
                attrs={
                    "from_status": from_name,
                    "to_status": to_name,
                    "from_category": ticket.category(item.get("from"), from_name),
                    "to_category": ticket.category(item.get("to"), to_name),
                    "waiting": ticket.is_waiting(to_name),
                },
                raw=history,
            ))
    return events


def _current_category(ticket: _Ticket) -> str | None:
    status = ticket.fields.get("status") or {}
    return (status.get("statusCategory") or {}).get("key") or ticket.category(status.get("id"), status.get("name"))


def _resolved_event(ticket: _Ticket, transitions: list[Event]) -> Event | None:
    """``ticket_resolved`` while the ticket is done: when its history last moved it into done.

    That is the last transition into a done status, provided the history ends in done. A history with
    no such ending (an imported or migrated ticket with no changelog, a truncated one) falls back to
    the issue's ``resolutiondate``, so a ticket done years ago is not an open wait for ever; with no
    ``resolutiondate`` either, the last recorded move into done (if any) is all there is.
    """
    if _current_category(ticket) != "done":
        return None
    status_name = (ticket.fields.get("status") or {}).get("name")
    into_done = [e for e in transitions if e.attrs["to_category"] == "done"]
    resolution = ticket.fields.get("resolutiondate")
    if into_done and (transitions[-1] is into_done[-1] or not resolution):
        last = into_done[-1]
        at, actor, actor_ids = last.occurred_at, last.actor, last.actor_ids
        attrs = {"to_status": last.attrs["to_status"], "transition_id": last.id}
        raw = last.raw
    elif resolution:
        at, actor, actor_ids = parse_jira_time(resolution), None, ()
        attrs = {"to_status": status_name, "resolutiondate": resolution}
        raw = {"resolutiondate": resolution, "status": ticket.fields.get("status")}
    else:
        return None
    return Event(
        id=resolved_event_id(ticket.origin, ticket.issue), source=SOURCE, origin=ticket.origin,
        category="ticket_resolved", occurred_at=at, actor=actor, actor_ids=actor_ids, thread=ticket.key,
        title=f"{ticket.key} resolved: {attrs['to_status']}", url=ticket.url, refs=ticket.refs,
        labels=ticket.labels, attrs={"key": ticket.key, **attrs}, raw=raw,
    )


def restate_ticket(created: Event, transitions: Sequence[Event],
                   waiting_statuses: Iterable[str]) -> tuple[Event, Event | None]:
    """A stored ticket's ``ticket_created`` and ``ticket_resolved`` as :func:`issue_to_events` makes them now.

    For a store migration: the store keeps the issue (``created.raw``, without its changelog) and each
    status change (``transitions``, each ``raw`` one changelog history, with the categories the sync
    read from ``/status`` in its attrs), so the issue is put back together from them and normalized
    again. Only the status the ticket was created in (``status``, ``status_category``, ``waiting``)
    and the resolution are taken from the result: everything else of the stored events (refs an
    epic-link field gave, mentions found with the configured ticket pattern) stays as synced.
    """
    categories: dict[str, str] = {}
    for transition in transitions:
        for item in transition.raw.get("items") or ():
            if _is_status_change(item):
                for side in ("from", "to"):
                    category = transition.attrs.get(f"{side}_category")
                    name = item.get(f"{side}String")
                    for known in (str(item.get(side) or ""), name.casefold() if name else ""):
                        if known and category:
                            categories[known] = category
    issue = {**created.raw, "changelog": {"histories": [t.raw for t in transitions]}}
    server = (created.url or "").rsplit("/browse/", 1)[0] or created.origin
    fresh = issue_to_events(issue, origin=created.origin, server=server, status_categories=categories,
                            waiting_statuses=waiting_statuses)
    at_creation = next(e for e in fresh if e.category == "ticket_created").attrs
    restated = dataclasses.replace(created, attrs={
        **created.attrs, **{key: at_creation[key] for key in ("status", "status_category", "waiting")}})
    resolved = next((e for e in fresh if e.category == "ticket_resolved"), None)
    if resolved is not None and transitions:
        resolved = dataclasses.replace(resolved, refs=transitions[0].refs)  # the ticket's refs as synced
    return restated, resolved


def _comment_events(ticket: _Ticket) -> list[Event]:
    comments = (ticket.fields.get("comment") or {}).get("comments") or ()
    events = []
    for comment in comments:
        body = _text(comment.get("body"))
        events.append(ticket.event(
            f"comment/{comment['id']}", "comment", comment["created"], comment.get("author"),
            f"Comment on {ticket.key}", body=body,
            url=f"{ticket.url}?focusedCommentId={comment['id']}",
            refs=_mentions(ticket, body),
            attrs={"kind": "jira_comment", "comment_id": str(comment["id"])},
            raw=comment,
        ))
    return events
