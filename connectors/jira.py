"""Jira tickets, status changes and comments, from Jira Server/Data Center and Jira Cloud.

Latency metrics need every status change with the status *category* on both sides (``new``,
``indeterminate``, ``done``) so custom workflows work without naming statuses; the client view needs
each ticket's current labels; linking needs issue links, parents and epics as ticket refs. This module
turns Jira's issues into those events in two layers, as Perceval's Jira backend does:

* :func:`issue_to_events` is pure: one issue as Jira returns it (``expand=changelog``, comments in
  ``fields.comment``) becomes ``ticket_created``, ``ticket_transition``, ``ticket_resolved`` and
  ``comment`` events. Tests and the demo builder feed it recorded JSON without any HTTP.
* :class:`JiraClient` is the thin HTTP layer over the ``jira`` library, and :class:`JiraConnector`
  drives it.

Cursor strategy: one category, ``issues``. Each sync asks for
``(<config jql>) AND updated >= "<cursor minus a safety margin>" ORDER BY updated ASC`` and emits a
:class:`Checkpoint` holding the newest ``updated`` seen (ISO 8601, UTC) after every page. Jira reads
JQL dates as minutes in the *API user's* time zone, so the cursor is written in the zone ``/myself``
reports; writing it in UTC silently skips updates for users west of Greenwich. Re-fetched issues
re-emit the same event ids, so the store upserts them.

Paging: Server/Data Center pages ``/rest/api/2/search`` with ``startAt``; Cloud, where that endpoint
answers 410 Gone, pages ``/rest/api/2/search/jql`` with ``nextPageToken`` (told apart by
``serverInfo.deploymentType``). Comments and changelogs an issue returns truncated are completed from
``/issue/{key}/comment`` and ``/issue/{key}/changelog``.

Faults: the library's ``ResilientSession`` retries 429 and 503-with-``Retry-After`` (honouring the
header) and connection errors; this module adds retries with exponential backoff for other 5xx
answers and read timeouts, then maps what is left to the typed errors of :mod:`glassbox.errors`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from jira import JIRA, JIRAError
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from connectors.base import AuthError, Connector, FetchItem, NotFound, RateLimited, SourceError, SourceUnavailable
from glassbox.config import Config, JiraSource
from glassbox.events import DEFAULT_TICKET_PATTERN, Checkpoint, Event, Ref, Tombstone, event_id, find_ticket_keys
from glassbox.redaction import QUOTE_LIMIT, one_line
from glassbox.sources import origin_of

__all__ = [
    "JiraClient",
    "JiraConnector",
    "RetryPolicy",
    "issue_to_events",
    "jql_since",
    "parse_jira_time",
    "resolved_event_id",
    "restate_ticket",
    "status_categories_from",
]

log = logging.getLogger(__name__)

SOURCE = "jira"
STATUS_CATEGORIES = ("new", "indeterminate", "done")
ISSUE_FIELDS = (
    "summary", "description", "status", "created", "updated", "reporter", "creator", "assignee",
    "labels", "issuelinks", "parent", "comment", "issuetype", "priority", "project", "resolutiondate",
)
EPIC_LINK_SCHEMA = "com.pyxis.greenhopper.jira:gh-epic-link"
JQL_DATE_FORMAT = "%Y/%m/%d %H:%M"
SAFETY_MARGIN = timedelta(minutes=10)
# Without the user's zone, writing UTC wall-clock time minus 12 h is early enough for every zone.
UNKNOWN_ZONE_MARGIN = timedelta(hours=12)
PAGE_SIZE = 100
_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)

T = TypeVar("T")


# -- normalizing: pure functions over Jira's JSON -----------------------------------------------


def parse_jira_time(value: str) -> datetime:
    """Jira's ``2012-09-05T16:34:55.991+0000`` as an aware UTC datetime."""
    return datetime.fromisoformat(value).astimezone(timezone.utc)


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
        return bool(status_name) and status_name.casefold() in self.waiting


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


def jql_since(jql: str, cursor: datetime | None, zone: ZoneInfo | None,
              margin: timedelta = SAFETY_MARGIN) -> str:
    """The search for everything updated since ``cursor``, oldest first, in the API user's ``zone``.

    JQL dates have minute precision and no zone: Jira reads them in the user's time zone. The cursor
    minus ``margin``, truncated to the minute, is written there; with no known zone it is written in
    UTC another 12 hours earlier, which is early enough whatever the zone.
    """
    condition = _ORDER_BY.split(jql, maxsplit=1)[0].strip()
    clauses = [f"({condition})"] if condition else []
    if cursor is not None:
        start = cursor - margin
        local = start.astimezone(zone) if zone else start.astimezone(timezone.utc) - UNKNOWN_ZONE_MARGIN
        clauses.append(f'updated >= "{local.strftime(JQL_DATE_FORMAT)}"')
    return f"{' AND '.join(clauses)} ORDER BY updated ASC".strip()


# -- HTTP: a thin client over the jira library --------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: retries per request, the longest wait, the backoff base and the timeout (s)."""

    max_retries: int = 3
    max_retry_delay: float = 60.0
    backoff: float = 1.0
    timeout: float = 30.0


def _retry_after(exc: JIRAError) -> str | None:
    response = getattr(exc, "response", None)
    return response.headers.get("Retry-After") if response is not None else None


def _worth_retrying(exc: BaseException) -> bool:
    """5xx answers and read timeouts; not what ``ResilientSession`` already retried (429, 503 with Retry-After)."""
    if isinstance(exc, JIRAError):
        status = exc.status_code or 0
        return status >= 500 and not (status == 503 and _retry_after(exc))
    return isinstance(exc, requests.Timeout) and not isinstance(exc, requests.ConnectionError)


class JiraClient:
    """The requests this connector makes, with retries added and failures turned into typed errors."""

    def __init__(self, server: str, user: SecretStr, token: SecretStr, *, label: str,
                 secret_names: tuple[str, str], policy: RetryPolicy = RetryPolicy()) -> None:
        self.label = label
        self.secret_names = secret_names
        self.policy = policy
        self._jira = JIRA(server=server, basic_auth=(user.get_secret_value(), token.get_secret_value()),
                          get_server_info=False, max_retries=policy.max_retries, timeout=policy.timeout)
        self._jira._session.max_retry_delay = policy.max_retry_delay
        self._info: dict[str, Any] | None = None

    # the requests

    def server_info(self) -> dict[str, Any]:
        if self._info is None:
            self._info = self._call("serverInfo", self._jira.server_info)
            self._jira.deploymentType = self._info.get("deploymentType")
        return self._info

    @property
    def is_cloud(self) -> bool:
        return self.server_info().get("deploymentType") == "Cloud"

    def myself(self) -> dict[str, Any]:
        return self._call("myself", self._jira.myself)

    def statuses(self) -> list[dict[str, Any]]:
        return self._call("status", self._jira._get_json, "status")

    def epic_field(self) -> str | None:
        """The Server/Data Center "Epic Link" custom field id, when Jira Software defines one."""
        fields = self._call("field", self._jira.fields)
        return next((f["id"] for f in fields if (f.get("schema") or {}).get("custom") == EPIC_LINK_SCHEMA), None)

    def search_pages(self, jql: str, fields: list[str], page_size: int = PAGE_SIZE) -> Iterator[list[dict[str, Any]]]:
        """Each page of issues for ``jql`` with their changelogs, whichever search this Jira offers."""
        pager = self._token_pages if self.is_cloud else self._offset_pages
        return pager(jql, fields, page_size)

    def _offset_pages(self, jql: str, fields: list[str], page_size: int) -> Iterator[list[dict[str, Any]]]:
        start = 0
        while True:
            page = self._call("search", self._jira.search_issues, jql, startAt=start, maxResults=page_size,
                              fields=list(fields), expand="changelog", json_result=True)
            issues = page.get("issues") or []
            if issues:
                yield issues
            start += len(issues)
            if not issues or start >= int(page.get("total") or 0):
                return

    def _token_pages(self, jql: str, fields: list[str], page_size: int) -> Iterator[list[dict[str, Any]]]:
        token: str | None = None
        while True:
            page = self._call("search/jql", self._jira.enhanced_search_issues, jql, nextPageToken=token,
                              maxResults=page_size, fields=list(fields), expand="changelog", json_result=True)
            if page.get("issues"):
                yield page["issues"]
            token = page.get("nextPageToken")
            if not token or page.get("isLast"):
                return

    def every(self, key: str, what: str, total: int) -> list[dict[str, Any]]:
        """All comments (``what="comment"``) or changelog histories (``"changelog"``) of issue ``key``.

        Used when an issue came back with them truncated; fetched from the start because Cloud may
        embed the newest histories rather than the first ones.
        """
        items_key = "comments" if what == "comment" else "values"
        items: dict[str, dict[str, Any]] = {}
        while len(items) < total:
            page = self._call(f"issue/{key}/{what}", self._jira._get_json, f"issue/{key}/{what}",
                              params={"startAt": len(items), "maxResults": PAGE_SIZE})
            batch = page.get(items_key) or []
            items.update((str(item["id"]), item) for item in batch)
            if not batch or page.get("isLast"):
                break
        if len(items) < total:
            log.warning("%s: got %d of %d %s entries of %s", self.label, len(items), total, what, key)
        return list(items.values())

    def issue_histories(self, key: str) -> list[dict[str, Any]]:
        """Every changelog history of ``key`` from ``issue/{key}?expand=changelog`` (complete on Server)."""
        issue = self._call(f"issue/{key}", self._jira._get_json, f"issue/{key}",
                           params={"fields": "status", "expand": "changelog"})
        return (issue.get("changelog") or {}).get("histories") or []

    # retries and errors

    def _call(self, what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        retrying = Retrying(
            stop=stop_after_attempt(self.policy.max_retries + 1),
            wait=wait_exponential(multiplier=self.policy.backoff, max=self.policy.max_retry_delay),
            retry=retry_if_exception(_worth_retrying), before_sleep=self._log_retry(what), reraise=True,
        )
        try:
            return retrying(function, *args, **kwargs)
        except JIRAError as exc:
            raise self._http_error(what, exc) from None
        except requests.ConnectionError:
            raise SourceUnavailable(f"{self.label}: cannot connect to the server — check the server URL"
                                    " and that it is reachable from here") from None
        except requests.Timeout:
            raise SourceUnavailable(f"{self.label}: no answer to {what} within {self.policy.timeout:g} s after"
                                    f" {self.policy.max_retries} retries — try again later") from None
        except (requests.RequestException, json.JSONDecodeError):
            raise SourceUnavailable(f"{self.label}: {what} did not answer with Jira's JSON — check that the"
                                    " server URL points at Jira") from None

    def _log_retry(self, what: str) -> Callable[[RetryCallState], None]:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            detail = f"HTTP {exc.status_code}" if isinstance(exc, JIRAError) else type(exc).__name__
            log.warning("%s: %s failed (%s), retry %d in %.1f s", self.label, what, detail,
                        state.attempt_number, state.upcoming_sleep)
        return before_sleep

    def _http_error(self, what: str, exc: JIRAError) -> SourceError:
        status = exc.status_code
        user_env, token_env = self.secret_names
        if status in (401, 403):
            reason = exc.response.headers.get("X-Authentication-Denied-Reason") if exc.response is not None else None
            extra = f", {reason.split(';')[0]}" if reason else ""
            return AuthError(f"{self.label}: authentication failed (HTTP {status}{extra}) — check {user_env} and {token_env}")
        if status == 404:
            return NotFound(f"{self.label}: {what} not found (HTTP 404) — check the server URL (include any"
                            " context path such as /jira)")
        if status == 400:
            answer = one_line(exc.text or "", QUOTE_LIMIT)  # may be megabytes of HTML with escape codes
            return SourceError(f"{self.label}: Jira rejected the query ({answer}) — check jql in the [[jira]] section")
        if status == 429:
            return RateLimited(f"{self.label}: still rate limited (HTTP 429) after {self.policy.max_retries}"
                               " retries — try again later")
        if status is not None and status >= 500:
            return SourceUnavailable(f"{self.label}: server error (HTTP {status}) on {what} after"
                                     f" {self.policy.max_retries} retries — try again later")
        return SourceError(f"{self.label}: {what} failed (HTTP {status}) — check the server URL and credentials")


# -- the connector -------------------------------------------------------------------------------


class JiraConnector(Connector):
    """One Jira site and JQL: ticket events, synced by ``updated`` (see the module docstring)."""

    source: ClassVar[str] = SOURCE
    categories: ClassVar[tuple[str, ...]] = ("issues",)

    def __init__(self, client: JiraClient, *, origin: str, jql: str = "", waiting_statuses: Iterable[str] = (),
                 ticket_pattern: str = DEFAULT_TICKET_PATTERN, safety_margin: timedelta = SAFETY_MARGIN,
                 page_size: int = PAGE_SIZE) -> None:
        self.client = client
        self.origin = origin
        self.jql = jql
        self.waiting_statuses = tuple(waiting_statuses)
        self.ticket_pattern = ticket_pattern
        self.safety_margin = safety_margin
        self.page_size = page_size

    @classmethod
    def from_config(cls, section: JiraSource, config: Config, key: str, *,
                    policy: RetryPolicy = RetryPolicy()) -> JiraConnector:
        origin = origin_of("jira", section, config)
        user = config.secret(section.user_env, f"{key}.user_env")
        token = config.secret(section.token_env, f"{key}.token_env")
        client = JiraClient(section.site, user, token, label=f"{SOURCE} ({origin})",
                            secret_names=(section.user_env, section.token_env), policy=policy)
        return cls(client, origin=origin, jql=section.jql, waiting_statuses=section.waiting_statuses,
                   ticket_pattern=config.engagement.ticket_pattern)

    def check(self) -> str:
        info = self.client.server_info()
        me = self.client.myself()
        who = me.get("displayName") or me.get("name") or me.get("accountId")
        return (f"Jira {info.get('deploymentType', 'Server')} {info.get('version', '')}".rstrip()
                + f", signed in as {who} (time zone {me.get('timeZone', 'unknown')})")

    def fetch(self, category: str, since: str | None) -> Iterator[FetchItem]:
        if category not in self.categories:
            raise ValueError(f"unknown category {category!r}")
        zone = self._user_zone()
        categories = status_categories_from(self.client.statuses())
        epic_field = None if self.client.is_cloud else self.client.epic_field()
        fields = [*ISSUE_FIELDS, *([epic_field] if epic_field else [])]
        cursor = datetime.fromisoformat(since) if since else None
        jql = jql_since(self.jql, cursor, zone, self.safety_margin)
        log.info("%s: searching %s", self.label, jql)
        newest = cursor
        for page in self.client.search_pages(jql, fields, self.page_size):
            for raw_issue in page:
                yield from self._issue_items(raw_issue, categories, epic_field)
                updated = parse_jira_time(raw_issue["fields"]["updated"])
                newest = max(newest or updated, updated)
            if newest is not None:
                yield Checkpoint(newest.isoformat())

    def _user_zone(self) -> ZoneInfo | None:
        name = self.client.myself().get("timeZone")
        try:
            return ZoneInfo(name) if name else None
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("%s: unknown user time zone %r; widening the cursor margin by 12 h", self.label, name)
            return None

    def _issue_items(self, raw_issue: dict[str, Any], categories: dict[str, str],
                     epic_field: str | None) -> Iterator[FetchItem]:
        complete = self._completed(raw_issue)
        events = issue_to_events(complete, origin=self.origin, server=self.origin,
                                 status_categories=categories, waiting_statuses=self.waiting_statuses,
                                 ticket_pattern=self.ticket_pattern, epic_field=epic_field)
        yield from events
        if not any(e.category == "ticket_resolved" for e in events):
            yield Tombstone(resolved_event_id(self.origin, raw_issue))

    def _every_history(self, key: str, total: int) -> list[dict[str, Any]]:
        """All histories of ``key``; Jira Server versions without ``/changelog`` give them on the issue itself."""
        try:
            return self.client.every(key, "changelog", total)
        except NotFound:
            return self.client.issue_histories(key)

    def _completed(self, raw_issue: dict[str, Any]) -> dict[str, Any]:
        """``raw_issue`` with every comment and changelog history, fetching what came back truncated."""
        key = raw_issue["key"]
        fields = dict(raw_issue["fields"])
        comment = fields.get("comment") or {}
        comments = comment.get("comments") or []
        if int(comment.get("total") or 0) > len(comments):
            comments = self.client.every(key, "comment", int(comment["total"]))
            fields["comment"] = {**comment, "comments": comments, "startAt": 0, "maxResults": len(comments)}
        changelog = raw_issue.get("changelog") or {}
        histories = changelog.get("histories") or []
        if int(changelog.get("total") or 0) > len(histories):
            histories = self._every_history(key, int(changelog["total"]))
            changelog = {**changelog, "histories": histories, "startAt": 0, "maxResults": len(histories)}
        return {**raw_issue, "fields": fields, "changelog": changelog}
