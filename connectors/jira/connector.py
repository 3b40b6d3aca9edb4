"""The Jira connector: the ``issues`` cursor (``updated``, in the API user's zone) and the fetch that drives it."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.base import Connector, FetchItem, NotFound, RetryPolicy
from connectors.jira.client import DEFAULT_POLICY, PAGE_SIZE, JiraClient
from connectors.jira.normalize import (
    SOURCE,
    issue_to_events,
    parse_jira_time,
    resolved_event_id,
    status_categories_from,
)
from glassbox.config import Config, JiraSource
from glassbox.events import DEFAULT_TICKET_PATTERN, Checkpoint, Tombstone

log = logging.getLogger(__name__)

ISSUE_FIELDS = (
    "summary", "description", "status", "created", "updated", "reporter", "creator", "assignee",
    "labels", "issuelinks", "parent", "comment", "issuetype", "priority", "project", "resolutiondate",
)
JQL_DATE_FORMAT = "%Y/%m/%d %H:%M"
SAFETY_MARGIN = timedelta(minutes=10)
# Without the user's zone, writing UTC wall-clock time minus 12 h is early enough for every zone.
UNKNOWN_ZONE_MARGIN = timedelta(hours=12)
_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)


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
        local = start.astimezone(zone) if zone else start.astimezone(UTC) - UNKNOWN_ZONE_MARGIN
        clauses.append(f'updated >= "{local.strftime(JQL_DATE_FORMAT)}"')
    return f"{' AND '.join(clauses)} ORDER BY updated ASC".strip()


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
                    policy: RetryPolicy = DEFAULT_POLICY) -> JiraConnector:
        origin = section.origin(config.folder)
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

    def fetch_issues(self, since: str | None) -> Iterator[FetchItem]:
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
