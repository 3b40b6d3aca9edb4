"""The Jira connector: real Apache DRILL issues, normalized purely and synced by the real ``jira`` client.

The pure tests feed recorded issues to :func:`issue_to_events`; the sync tests drive the real client
against :class:`FakeJira` (tests/jira_server.py) in both flavours — Server/Data Center with ``startAt``
paging and Cloud with ``nextPageToken`` — and assert what it asked for (the JQL, the pages).
"""

from __future__ import annotations

import copy
import logging
import socket
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from jira_server import FakeJira, account_id, cloudify, drill_issues, load
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from connectors.base import RetryPolicy
from connectors.jira.client import JiraClient
from connectors.jira.connector import JiraConnector, jql_since
from connectors.jira.normalize import issue_to_events, resolved_event_id, status_categories_from
from glassbox import schema
from glassbox.config import Config, load_config
from glassbox.errors import AuthError, ConfigError, SourceError, SourceUnavailable
from glassbox.events import Event, Ref, Tombstone
from glassbox.metrics.latency import compute_all_latencies, summarize
from glassbox.metrics.linking import build_links
from glassbox.metrics.summary import counts
from glassbox.periods import iso_week
from glassbox.store import CursorKey, Store
from glassbox.sync import sync_connector, sync_sources
from glassbox.timeline import load_timeline

ORIGIN = "https://issues.apache.org/jira"
USER, TOKEN = "alice@acme.example", "s3cret-token"
FAST = RetryPolicy(max_retries=2, max_retry_delay=0.01, backoff=0, timeout=5)
CATEGORIES = status_categories_from(load("statuses.json"))


@pytest.fixture(scope="module")
def running_server() -> Iterator[HTTPServer]:
    """One threaded server for the module: stopping one takes half a second."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def http(running_server: HTTPServer) -> Iterator[HTTPServer]:
    """The module's server with no fake Jira mounted yet."""
    running_server.clear()
    yield running_server
    running_server.clear()


@pytest.fixture(params=["server", "cloud"])
def fake(request: pytest.FixtureRequest, http: HTTPServer) -> FakeJira:
    """The DRILL issues on a Server and on a Cloud Jira, one issue per page."""
    return FakeJira(http, cloud=request.param == "cloud", page_cap=1)


def connector(fake: FakeJira, *, token: str = TOKEN, policy: RetryPolicy = FAST, **options: Any) -> JiraConnector:
    client = JiraClient(fake.url, SecretStr(USER), SecretStr(token), label=f"jira ({fake.url})",
                        secret_names=("JIRA_USER", "JIRA_TOKEN"), policy=policy)
    return JiraConnector(client, origin=fake.url, jql="project = DRILL", **options)


def events_of(raw: dict[str, Any], **options: Any) -> list[Event]:
    arguments = {"origin": ORIGIN, "server": ORIGIN, "status_categories": CATEGORIES,
                 "waiting_statuses": ["Waiting for Customer"], "ticket_pattern": r"\b[A-Z][A-Z0-9]+-\d+\b"}
    return issue_to_events(raw, **{**arguments, **options})


def by_category(events: list[Event], category: str) -> list[Event]:
    return [e for e in events if e.category == category]


def issue(key: str) -> dict[str, Any]:
    return next(i for i in drill_issues() if i["key"] == key)


def rows(store: Store) -> tuple[int, int]:
    with store.engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(schema.events)).scalar_one(),
                conn.execute(select(func.count(schema.events.c.id.distinct()))).scalar_one())


def status_item(from_id: str, from_name: str, to_id: str, to_name: str) -> dict[str, Any]:
    return {"field": "status", "fieldtype": "jira", "from": from_id, "fromString": from_name,
            "to": to_id, "toString": to_name}


def history(history_id: str, at: str, author: dict[str, Any], *items: dict[str, Any]) -> dict[str, Any]:
    return {"id": history_id, "author": author, "created": at, "items": list(items)}


# -- normalizing recorded issues ---------------------------------------------------------------


def test_recorded_issue_becomes_created_transitions_resolved_and_comments() -> None:
    events = events_of(issue("DRILL-38"))
    created, = by_category(events, "ticket_created")
    assert created.occurred_at == datetime(2013, 2, 24, 2, 4, 42, 952000, tzinfo=UTC)
    assert (created.actor, created.thread, created.title) == ("chrismerrick", "DRILL-38", "Limit ROP Unit Tests")
    assert created.attrs == {
        "key": "DRILL-38", "summary": "Limit ROP Unit Tests", "status": "Open", "status_category": "new",
        "issue_type": "Sub-task", "priority": "Major", "assignee": "cmerrick", "project": "DRILL", "waiting": False}
    moves = [(e.attrs["from_status"], e.attrs["to_status"], e.attrs["from_category"], e.attrs["to_category"], e.actor)
             for e in by_category(events, "ticket_transition")]
    assert moves == [("Open", "In Progress", "new", "indeterminate", "cmerrick"),
                     ("In Progress", "Closed", "indeterminate", "done", "jnadeau")]
    resolved, = by_category(events, "ticket_resolved")
    assert (resolved.occurred_at, resolved.actor, resolved.attrs["to_status"]) == (
        datetime(2013, 2, 25, 4, 2, 52, 996000, tzinfo=UTC), "jnadeau", "Closed")
    comments = by_category(events, "comment")
    assert [c.actor for c in comments] == ["chrismerrick", "tnachen", "cmerrick", "jnadeau"]
    assert comments[-1].body == "merged" and comments[-1].attrs == {"key": "DRILL-38", "kind": "jira_comment",
                                                                     "comment_id": "13585610"}
    assert comments[-1].url == f"{ORIGIN}/browse/DRILL-38?focusedCommentId=13585610"
    assert len({e.id for e in events}) == len(events) == 8


def test_server_people_carry_name_email_and_display_name() -> None:
    created = by_category(events_of(issue("DRILL-1")), "ticket_created")[0]
    assert created.actor == "mhausenblas"
    assert created.actor_ids == ("mhausenblas", "michael dot hausenblas at gmail dot com", "Michael Hausenblas")


def test_cloud_people_are_identified_by_account_id() -> None:
    created = by_category(events_of(cloudify(issue("DRILL-1"))), "ticket_created")[0]
    assert created.actor == account_id("mhausenblas")
    assert created.actor_ids == (account_id("mhausenblas"), "michael dot hausenblas at gmail dot com",
                                 "Michael Hausenblas")


def test_every_event_carries_current_labels_and_ticket_refs() -> None:
    events = events_of(issue("DRILL-138"))
    assert {e.labels for e in events} == {("operator", "optimizer", "physical")}
    assert all(e.refs[:2] == (Ref("ticket", "DRILL-138"), Ref("ticket", "DRILL-49")) for e in events)
    subtask = by_category(events_of(issue("DRILL-38")), "ticket_created")[0]
    assert Ref("ticket", "DRILL-37") in subtask.refs  # its parent


def test_server_epic_link_becomes_a_ticket_ref() -> None:
    raw = issue("DRILL-1")
    raw["fields"]["customfield_12311120"] = "DRILL-10"
    created = by_category(events_of(raw, epic_field="customfield_12311120"), "ticket_created")[0]
    assert created.refs == (Ref("ticket", "DRILL-1"), Ref("ticket", "DRILL-10"), Ref("ticket", "DRILL-48"))


def test_comment_mentions_become_refs() -> None:
    raw = issue("DRILL-38")
    raw["fields"]["comment"]["comments"][0]["body"] = "Same root cause as DRILL-7, see PROJ-12."
    first = by_category(events_of(raw), "comment")[0]
    assert {Ref("ticket", "DRILL-7"), Ref("ticket", "PROJ-12")} <= set(first.refs)


def test_unicode_and_html_in_comments_are_kept_verbatim() -> None:
    body = "Ça marche — <b>déployé</b> 🚀 <script>alert('x')</script> 中文 &amp; {code}a < b{code}"
    raw = issue("DRILL-38")
    raw["fields"]["comment"]["comments"][0]["body"] = body
    assert by_category(events_of(raw), "comment")[0].body == body


def test_cloud_document_bodies_become_their_text() -> None:
    raw = issue("DRILL-38")
    raw["fields"]["comment"]["comments"][0]["body"] = {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Tested on "}, {"type": "text", "text": "prod ✅"}]},
        {"type": "paragraph", "content": [{"type": "text", "text": "<ok>"}]}]}
    assert by_category(events_of(raw), "comment")[0].body == "Tested on prod ✅\n<ok>"


def reopened_drill_38() -> dict[str, Any]:
    raw = issue("DRILL-38")
    author = raw["changelog"]["histories"][0]["author"]
    raw["changelog"]["histories"].append(history("99", "2015-04-01T10:00:00.000+0000", author,
                                                 status_item("6", "Closed", "4", "Reopened")))
    raw["fields"]["status"] = next(s for s in load("statuses.json") if s["name"] == "Reopened")
    raw["fields"]["updated"] = "2015-04-01T10:00:00.000+0000"
    return raw


def test_reopened_ticket_has_no_resolved_event() -> None:
    events = events_of(reopened_drill_38())
    assert by_category(events, "ticket_resolved") == []
    assert by_category(events, "ticket_transition")[-1].attrs["to_category"] == "new"


def test_waiting_statuses_mark_transitions_and_tickets() -> None:
    raw = issue("DRILL-38")
    author = raw["changelog"]["histories"][0]["author"]
    raw["changelog"]["histories"].append(history("98", "2013-02-24T18:00:00.000+0000", author,
                                                 status_item("3", "In Progress", "10100", "Waiting for Customer")))
    waiting = [e for e in by_category(events_of(raw), "ticket_transition") if e.attrs["waiting"]]
    moves = [(e.attrs["to_status"], e.attrs["to_category"]) for e in waiting]
    assert moves == [("Waiting for Customer", "indeterminate")]


CUSTOM_WORKFLOW = [("10200", "Backlog", "new"), ("10201", "Closed for review", "indeterminate"),
                   ("10202", "Shipped", "done")]


def custom_workflow_issue() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """DRILL-38 moved through statuses whose names say nothing (or the opposite) of their category."""
    statuses = [{"id": i, "name": n, "statusCategory": {"key": c}} for i, n, c in CUSTOM_WORKFLOW]
    raw = issue("DRILL-38")
    renames = {"Open": CUSTOM_WORKFLOW[0], "In Progress": CUSTOM_WORKFLOW[1], "Closed": CUSTOM_WORKFLOW[2]}
    for entry in raw["changelog"]["histories"]:
        for item in entry["items"]:
            if item["field"] == "status":
                item["from"], item["fromString"] = renames[item["fromString"]][:2]
                item["to"], item["toString"] = renames[item["toString"]][:2]
    raw["fields"]["status"] = {"id": "10202", "name": "Shipped"}  # no statusCategory: must come from /status
    return raw, statuses


def test_status_categories_come_from_jira_not_from_status_names() -> None:
    raw, statuses = custom_workflow_issue()
    events = events_of(raw, status_categories=status_categories_from(statuses))
    moves = [(e.attrs["to_status"], e.attrs["to_category"]) for e in by_category(events, "ticket_transition")]
    assert moves == [("Closed for review", "indeterminate"), ("Shipped", "done")]
    assert by_category(events, "ticket_resolved")[0].attrs["to_status"] == "Shipped"


def test_unknown_statuses_fall_back_to_the_issues_own_category() -> None:
    events = events_of(issue("DRILL-38"), status_categories={})
    moves = [(e.attrs["from_category"], e.attrs["to_category"]) for e in by_category(events, "ticket_transition")]
    assert moves == [(None, None), (None, "done")]  # only Closed is described by the issue itself
    assert len(by_category(events, "ticket_resolved")) == 1


# -- ticket figures on real histories ----------------------------------------------------------
# DRILL-38 as recorded: created 2013-02-24T02:04:42.952Z in Open, Open → In Progress at 17:43:46.087Z,
# In Progress → Closed at 2013-02-25T04:02:52.996Z, resolutiondate 2013-02-25T04:02:52.954Z.
DRILL_38_PICKUP = (15 * 3600 + 39 * 60 + 3.135) / 3600  # 02:04:42.952 → 17:43:46.087 = 15 h 39 min 3.135 s
DRILL_38_CYCLE = (10 * 3600 + 19 * 60 + 6.909) / 3600  # 17:43:46.087 → 04:02:52.996 next day
DRILL_38_LEAD = (25 * 3600 + 58 * 60 + 10.044) / 3600  # 02:04:42.952 → 04:02:52.996 next day


def latencies_in(store: Store, *raws: dict[str, Any], now: datetime | None = None) -> dict[str, pd.DataFrame]:
    """Store the issues' events (a later raw of the same issue is the next sync) and measure them."""
    for raw in raws:
        events = events_of(raw)
        tombstones = [] if by_category(events, "ticket_resolved") else [Tombstone(resolved_event_id(ORIGIN, raw))]
        store.write(events, tombstones)
    return compute_all_latencies(load_timeline(store, Config()), Config(), now)


def hours_of(samples: pd.DataFrame) -> list[tuple[str, float | None]]:
    return [(thread, None if pd.isna(hours) else round(float(hours), 4))
            for thread, hours in zip(samples["thread"], samples["hours"], strict=True)]


def status(name: str) -> dict[str, Any]:
    return next(s for s in load("statuses.json") if s["name"] == name)


def drill_38_before_pickup() -> dict[str, Any]:
    """DRILL-38 as a sync at 2013-02-24T10:00Z saw it: still Open, only its first (assignee) history."""
    raw = issue("DRILL-38")
    raw["fields"].update(status=status("Open"), resolutiondate=None, updated="2013-02-24T17:00:58.268+0000")
    raw["changelog"]["histories"] = raw["changelog"]["histories"][:1]
    raw["changelog"]["total"] = raw["changelog"]["maxResults"] = 1
    return raw


def test_ticket_created_in_to_do_has_its_pickup_although_it_is_closed_now(store: Store) -> None:
    samples = latencies_in(store, issue("DRILL-38"))
    assert hours_of(samples["ticket_pickup"]) == [("DRILL-38", round(DRILL_38_PICKUP, 4))]  # 15.6509 h
    assert round(DRILL_38_PICKUP, 2) == 15.65
    assert hours_of(samples["ticket_cycle"]) == [("DRILL-38", round(DRILL_38_CYCLE, 4))]  # 10.3186 h
    assert hours_of(samples["ticket_lead"]) == [("DRILL-38", round(DRILL_38_LEAD, 4))]  # 25.9695 h


def test_ticket_still_in_to_do_is_an_open_pickup_that_completes_after_it_moves_on(store: Store) -> None:
    now = datetime(2013, 2, 24, 12, tzinfo=UTC)
    week = iso_week(date(2013, 2, 24), ZoneInfo("UTC"))  # Mon 02-18 .. Mon 02-25
    waiting = latencies_in(store, drill_38_before_pickup(), now=now)["ticket_pickup"]
    # open since 02:04:42.952, measured at 12:00: 9 h 55 min 17.048 s = 9.92 h
    assert summarize(waiting, week.start, week.end, now)["open"] == 1
    assert summarize(waiting, week.start, week.end, now)["oldest_open_hours"] == 9.92
    picked_up = latencies_in(store, issue("DRILL-38"))["ticket_pickup"]  # the next sync: now Closed
    assert hours_of(picked_up) == [("DRILL-38", round(DRILL_38_PICKUP, 4))]


def test_imported_ticket_without_history_resolves_at_its_resolutiondate(store: Store) -> None:
    """DRILL-1 imported with no changelog: Resolved, resolutiondate 2014-05-28T22:58:39.042Z."""
    raw = issue("DRILL-1")
    raw["changelog"] = {"startAt": 0, "maxResults": 0, "total": 0, "histories": []}
    resolved, = by_category(events_of(raw), "ticket_resolved")
    assert resolved.occurred_at == datetime(2014, 5, 28, 22, 58, 39, 42000, tzinfo=UTC)
    assert resolved.attrs == {"key": "DRILL-1", "to_status": "Resolved",
                              "resolutiondate": "2014-05-28T22:58:39.042+0000"}
    samples = latencies_in(store, raw)
    # created 2012-09-05T16:34:55.991Z: 630 days 6 h 23 min 43.051 s later = 15126.3953 h
    lead_seconds = 630 * 24 * 3600 + 6 * 3600 + 23 * 60 + 43.051
    assert hours_of(samples["ticket_lead"]) == [("DRILL-1", round(lead_seconds / 3600, 4))]
    assert samples["ticket_pickup"].empty  # no history: the current (done) status is all there is
    assert samples["ticket_cycle"].empty  # never seen in progress
    week = iso_week(date(2014, 5, 28), ZoneInfo("UTC"))
    counted = counts(load_timeline(store, Config()), build_links(load_timeline(store, Config())), week.start, week.end)
    assert counted["tickets_resolved"] == 1


def test_truncated_changelog_without_the_resolving_move_ends_at_the_resolutiondate(store: Store) -> None:
    """DRILL-38 whose changelog lost its last status change (In Progress → Closed) but is Closed."""
    raw = issue("DRILL-38")
    raw["changelog"]["histories"] = [h for h in raw["changelog"]["histories"]
                                     if h["created"] != "2013-02-25T04:02:52.996+0000"]
    samples = latencies_in(store, raw)
    # resolutiondate 2013-02-25T04:02:52.954Z: cycle from 17:43:46.087 = 10 h 19 min 6.867 s,
    # lead from 02:04:42.952 = 25 h 58 min 10.002 s; pickup unchanged
    assert hours_of(samples["ticket_cycle"]) == [("DRILL-38", round((10 * 3600 + 19 * 60 + 6.867) / 3600, 4))]
    assert hours_of(samples["ticket_lead"]) == [("DRILL-38", round((25 * 3600 + 58 * 60 + 10.002) / 3600, 4))]
    assert hours_of(samples["ticket_pickup"]) == [("DRILL-38", round(DRILL_38_PICKUP, 4))]


def test_recorded_truncated_changelog_takes_the_created_status_from_its_first_status_change() -> None:
    """DRILL-138's recorded changelog starts late: its first status change leaves Reopened (to do)."""
    created, = by_category(events_of(issue("DRILL-138")), "ticket_created")
    assert (created.attrs["status"], created.attrs["status_category"]) == ("Reopened", "new")


def test_ticket_in_progress_with_no_recorded_move_has_no_cycle_sample(store: Store) -> None:
    raw = issue("DRILL-38")
    raw["fields"].update(status=status("In Progress"), resolutiondate=None)
    raw["changelog"] = {"startAt": 0, "maxResults": 0, "total": 0, "histories": []}
    samples = latencies_in(store, raw)
    assert samples["ticket_cycle"].empty  # when work started is unknown: not counted from creation
    assert samples["ticket_pickup"].empty
    assert hours_of(samples["ticket_lead"]) == [("DRILL-38", None)]  # open until it is done


# -- the incremental query ---------------------------------------------------------------------


def test_cursor_is_written_in_the_api_users_time_zone() -> None:
    cursor = datetime(2014, 7, 31, 6, 32, 54, 672000, tzinfo=UTC)
    assert jql_since("project = DRILL", cursor, ZoneInfo("America/Los_Angeles")) == \
        '(project = DRILL) AND updated >= "2014/07/30 23:22" ORDER BY updated ASC'
    assert jql_since("project = DRILL", cursor, ZoneInfo("Australia/Sydney")) == \
        '(project = DRILL) AND updated >= "2014/07/31 16:22" ORDER BY updated ASC'


def test_configured_order_by_is_replaced_and_empty_jql_allowed() -> None:
    assert jql_since("project = X order by created DESC", None, None) == "(project = X) ORDER BY updated ASC"
    assert jql_since("", None, None) == "ORDER BY updated ASC"


def test_unknown_time_zone_widens_the_margin_to_cover_every_zone() -> None:
    cursor = datetime(2014, 7, 31, 12, 0, tzinfo=UTC)
    assert jql_since("", cursor, None, timedelta(0)) == 'updated >= "2014/07/31 00:00" ORDER BY updated ASC'


# -- syncing from a fake Jira, both flavours ---------------------------------------------------


def test_sync_pages_through_every_issue(fake: FakeJira, store: Store) -> None:
    summary = sync_connector(connector(fake), store)
    assert summary.ok, summary.error
    assert summary.counts.new == store.count_events() == 3 + 4 + 3 + 11  # created, transitions, resolved, comments
    searches = [args for path, args in fake.calls if path.startswith("search")]
    assert len(searches) == 3
    if fake.cloud:
        assert "search" not in fake.paths()
        assert [a.get("nextPageToken") for a in searches] == [None, ["MQ=="], ["Mg=="]]
    else:
        assert [a["startAt"] for a in searches] == [["0"], ["1"], ["2"]]
    assert store.cursor(CursorKey("jira", fake.url, "issues")) == "2014-07-31T06:32:54.672000+00:00"


def test_resync_adds_no_duplicates(fake: FakeJira, store: Store) -> None:
    sync_connector(connector(fake), store)
    again = sync_connector(connector(fake), store)
    assert (again.counts.new, again.counts.updated) == (0, 0)
    assert again.fetched > 0  # the safety margin re-read the newest issue
    count, distinct = rows(store)
    assert count == distinct == 21


def test_truncated_changelog_and_comments_are_paged(http: HTTPServer, store: Store) -> None:
    for cloud, prefix in ((False, "/server"), (True, "/cloud")):
        fake = FakeJira(http, cloud=cloud, prefix=prefix, comment_cap=1, changelog_cap=1)
        summary = sync_connector(connector(fake), store)
        assert summary.ok, summary.error
        assert "issue/DRILL-38/changelog" in fake.paths() and "issue/DRILL-1/comment" in fake.paths()
        events = store.read_events(categories=["ticket_transition", "comment"])
        mine = events[events["origin"] == fake.url]
        assert len(mine[mine["category"] == "ticket_transition"]) == 4
        assert len(mine[mine["category"] == "comment"]) == 11


def test_server_without_changelog_endpoint_gives_histories_on_the_issue(http: HTTPServer) -> None:
    fake = FakeJira(http, changelog_cap=1, changelog_endpoint=False)
    events = [e for e in connector(fake).fetch("issues", None) if isinstance(e, Event)]
    assert len(by_category(events, "ticket_transition")) == 4
    assert {"issue/DRILL-38/changelog", "issue/DRILL-38"} <= set(fake.paths())


def test_incremental_sync_sends_the_users_zone_and_picks_up_new_activity(fake: FakeJira, store: Store) -> None:
    sync_connector(connector(fake), store)
    drill_1 = next(i for i in fake.issues if i["key"] == "DRILL-1")
    new_comment = copy.deepcopy(drill_1["fields"]["comment"]["comments"][-1])
    new_comment.update(id="14011999", body="Reopening the discussion: gRPC?",
                       created="2014-07-31T06:40:00.000+0000", updated="2014-07-31T06:40:00.000+0000")
    drill_1["fields"]["comment"]["comments"].append(new_comment)
    drill_1["fields"]["comment"]["total"] += 1
    drill_1["fields"]["updated"] = "2014-07-31T06:40:00.000+0000"

    summary = sync_connector(connector(fake), store)

    expected = "2014/07/31 16:22" if fake.cloud else "2014/07/30 23:22"  # Sydney, Los Angeles
    assert fake.searches()[-1] == f'(project = DRILL) AND updated >= "{expected}" ORDER BY updated ASC'
    assert summary.counts.new == 1
    assert store.cursor(CursorKey("jira", fake.url, "issues")) == "2014-07-31T06:40:00+00:00"
    utc_written = '(project = DRILL) AND updated >= "2014/07/31 06:22"'
    assert fake.cloud or fake._matching(utc_written) == []  # in UTC the update would have been lost


def test_reopening_removes_the_resolved_event(fake: FakeJira, store: Store) -> None:
    sync_connector(connector(fake), store)
    reopened = reopened_drill_38()
    index = next(n for n, i in enumerate(fake.issues) if i["key"] == "DRILL-38")
    fake.issues[index] = cloudify(reopened) if fake.cloud else reopened
    items = list(connector(fake).fetch("issues", "2015-04-01T10:00:00+00:00"))
    assert Tombstone(resolved_event_id(fake.url, reopened)) in items
    summary = sync_connector(connector(fake), store)
    assert summary.counts.deleted == 1
    resolved = store.read_events(categories=["ticket_resolved"])
    assert "DRILL-38" not in set(resolved["thread"])


def test_custom_workflow_categories_come_from_the_status_endpoint(fake: FakeJira, store: Store) -> None:
    raw, statuses = custom_workflow_issue()
    fake.statuses = [*fake.statuses, *statuses]
    fake.issues = [raw]
    sync_connector(connector(fake), store)
    transitions = store.read_events(categories=["ticket_transition"])
    assert [a["to_category"] for a in transitions["attrs"]] == ["indeterminate", "done"]
    assert "status" in fake.paths()


def test_server_epic_link_field_is_found_and_requested(http: HTTPServer) -> None:
    fake = FakeJira(http)
    fake.issues[0]["fields"]["customfield_12311120"] = "DRILL-10"
    events = [e for e in connector(fake).fetch("issues", None) if isinstance(e, Event)]
    created = next(e for e in events if e.category == "ticket_created" and e.thread == fake.issues[0]["key"])
    assert Ref("ticket", "DRILL-10") in created.refs
    search = next(args for path, args in fake.calls if path == "search")
    assert "customfield_12311120" in search["fields"]


def test_unicode_and_html_comments_survive_the_store(fake: FakeJira, store: Store) -> None:
    body = "Ça marche — <b>déployé</b> 🚀 <script>alert('x')</script> 中文 \"quoted\" \\ back"
    fake.issues[1]["fields"]["comment"]["comments"][0]["body"] = body
    sync_connector(connector(fake), store)
    bodies = store.read_events(categories=["comment"], columns=("id", "body"))["body"]
    assert body in set(bodies)


def test_check_names_the_deployment_and_the_user(fake: FakeJira) -> None:
    answer = connector(fake).check()
    zone = "Australia/Sydney" if fake.cloud else "America/Los_Angeles"
    flavour = "Cloud 1001.0.0-SNAPSHOT" if fake.cloud else "Server 8.20.10"
    assert answer == f"Jira {flavour}, signed in as Glassbox Sync (time zone {zone})"


# -- faults ------------------------------------------------------------------------------------


def test_bad_token_gives_one_clear_line_without_the_secret(fake: FakeJira, store: Store,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    expected = f"jira ({fake.url}): authentication failed (HTTP 401) — check JIRA_USER and JIRA_TOKEN"
    with pytest.raises(AuthError) as raised:
        connector(fake, token="wrong-token-123").check()
    assert str(raised.value) == expected and raised.value.__cause__ is None
    summary = sync_connector(connector(fake, token="wrong-token-123"), store)
    assert summary.error == expected
    assert "wrong-token-123" not in caplog.text and store.sync_runs()["message"][0] == expected


def test_503_with_retry_after_is_honoured_then_succeeds(http: HTTPServer, store: Store) -> None:
    fake = FakeJira(http)
    fake.fail("search", 503, headers={"Retry-After": "1"})
    started = time.monotonic()
    summary = sync_connector(connector(fake, policy=RetryPolicy(max_retry_delay=1.0, backoff=0)), store)
    assert summary.ok, summary.error
    assert time.monotonic() - started >= 0.5  # ResilientSession waits 1-2 x Retry-After, capped at 1 s here
    assert fake.paths().count("search") == 3  # the 503, its retry, the second page
    assert summary.counts.new == 21


def test_rate_limit_429_is_retried(http: HTTPServer, store: Store) -> None:
    fake = FakeJira(http, cloud=True)
    fake.fail("search/jql", 429, headers={"Retry-After": "2"})
    assert sync_connector(connector(fake), store).ok


def test_503_without_retry_after_and_other_5xx_are_retried_with_backoff(fake: FakeJira, store: Store) -> None:
    fake.fail("status", 503)
    fake.fail("myself", 502)
    summary = sync_connector(connector(fake), store)
    assert summary.ok, summary.error
    assert (fake.paths().count("status"), fake.paths().count("myself")) == (2, 2)


def test_persistent_server_errors_end_in_one_line(fake: FakeJira) -> None:
    fake.fail("status", 500, times=10)
    with pytest.raises(SourceUnavailable, match=r"^jira \(http://127\.0\.0\.1:\d+/jira\): server error \(HTTP 500\) "
                                                r"on status after 2 retries — try again later$"):
        list(connector(fake).fetch("issues", None))
    assert fake.paths().count("status") == 3


def test_read_timeouts_are_retried(http: HTTPServer) -> None:
    fake = FakeJira(http)
    fake.fail("myself", 200, delay=0.6)
    policy = RetryPolicy(max_retries=2, max_retry_delay=0.01, backoff=0, timeout=0.3)
    assert "signed in as Glassbox Sync" in connector(fake, policy=policy).check()


def test_unreachable_server_is_source_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/jira"
    client = JiraClient(url, SecretStr(USER), SecretStr(TOKEN), label=f"jira ({url})",
                        secret_names=("JIRA_USER", "JIRA_TOKEN"), policy=FAST)
    with pytest.raises(SourceUnavailable, match=r"cannot connect to the server — check the server URL"):
        JiraConnector(client, origin=url).check()


def test_rejected_jql_names_the_config_key(http: HTTPServer) -> None:
    fake = FakeJira(http)
    fake.fail("search", 400)
    expected = r"Jira rejected the query \(HTTP 400\) — check jql in the \[\[jira\]\] section"
    with pytest.raises(SourceError, match=expected):
        list(connector(fake).fetch("issues", None))


# -- config and orchestration ------------------------------------------------------------------


def jira_config(write_config, store_url: str, *sections: tuple[str, str]) -> Any:
    text = f'[store]\nurl = "{store_url}"\n'
    for server, token_env in sections:
        text += f'\n[[jira]]\nserver = "{server}/"\njql = "project = DRILL"\ntoken_env = "{token_env}"\n'
    return load_config(write_config(text))


def test_from_config_reads_secrets_from_the_named_variables(http: HTTPServer, write_config, tmp_path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeJira(http)
    config = jira_config(write_config, f"sqlite:///{tmp_path / 'x.db'}", (fake.url, "ACME_JIRA_TOKEN"))
    monkeypatch.setenv("JIRA_USER", USER)
    monkeypatch.delenv("ACME_JIRA_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"jira\[0\]\.token_env names the environment variable ACME_JIRA_TOKEN"):
        JiraConnector.from_config(config.jira[0], config, "jira[0]")
    monkeypatch.setenv("ACME_JIRA_TOKEN", TOKEN)
    built = JiraConnector.from_config(config.jira[0], config, "jira[0]", policy=FAST)
    assert (built.origin, built.jql, built.label) == (fake.url, "project = DRILL", f"jira ({fake.url})")
    assert "signed in" in built.check()


def test_failing_jira_does_not_block_another_source(http: HTTPServer, write_config, tmp_path,
                                                    monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
    broken, working = FakeJira(http, prefix="/broken"), FakeJira(http, prefix="/working", cloud=True)
    monkeypatch.setenv("JIRA_USER", USER)
    monkeypatch.setenv("BROKEN_TOKEN", "expired-token")
    monkeypatch.setenv("WORKING_TOKEN", TOKEN)
    config = jira_config(write_config, "sqlite:///unused.db", (broken.url, "BROKEN_TOKEN"),
                         (working.url, "WORKING_TOKEN"))
    reported: list[str] = []
    summaries = sync_sources(config, store, report=lambda s: reported.append(s.label))
    assert reported == [f"jira ({broken.url})", f"jira ({working.url})"]
    assert [s.ok for s in summaries] == [False, True]
    assert summaries[0].error == (f"jira ({broken.url}): authentication failed (HTTP 401)"
                                  " — check JIRA_USER and BROKEN_TOKEN")
    assert summaries[1].counts.new == 21 == store.count_events()
    runs = store.sync_runs()
    assert sorted(runs["status"]) == ["failed", "ok"]
    assert "expired-token" not in " ".join(str(m) for m in runs["message"])
