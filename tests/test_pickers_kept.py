"""The Timeline's ticket picker and the threads' titles keep what the days before today said, so a sync
of today's events reads today's alone (``loaders.period_tickets``, ``loaders.thread_titles``); every
answer stays what the store says now — a ticket opened today, a key whose project only just appeared,
a ticket made internal, one retitled — in both views, on both stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import pytest
import streamlit as st
from seed import write_config

from dashboard import loaders
from glassbox import slices
from glassbox.config import Config, load_config
from glassbox.events import Event, Ref, commit_event_id, event_id
from glassbox.reports.content import short_title
from glassbox.sources import configured_sources
from glassbox.store import Store
from glassbox.views import View
from glassbox.workspace import open_engagement

NOW = datetime.now(UTC)
TODAY = NOW.replace(hour=0, minute=0, second=0, microsecond=0)  # where the loaders split the window
EARLIER = TODAY - timedelta(days=3)
LATER = TODAY + (NOW - TODAY) / 2  # today, before now
START, END = TODAY - timedelta(days=7), TODAY + timedelta(days=1)  # the Timeline's window, today included


class Engagement(NamedTuple):
    store: Store
    config: Config
    path: Path
    jira: str


@pytest.fixture(params=["sqlite", "postgresql"])
def engagement(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engagement]:
    # the loaders split at TODAY, the day this module's moments were taken on, should the run cross midnight
    monkeypatch.setattr(loaders, "_today", lambda moment: TODAY)
    url = f"sqlite:///{tmp_path / 'glassbox.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    path = write_config(tmp_path, url)
    config = load_config(path)
    jira, = (spec.section.origin(config.folder) for spec in configured_sources(config) if spec.kind == "jira")
    st.cache_data.clear()
    yield Engagement(open_engagement(config), config, path, jira)
    st.cache_data.clear()


def ticket(jira: str, key: str, at: datetime, title: str, labels: tuple[str, ...] = ()) -> Event:
    return Event(id=event_id("jira", jira, f"{key}:created"), source="jira", origin=jira, category="ticket_created",
                 occurred_at=at, actor="carol", thread=key, title=title, labels=labels)


def commit(sha: str, at: datetime, keys: tuple[str, ...]) -> Event:
    return Event(id=commit_event_id(sha), source="git", origin="churn", category="commit", occurred_at=at,
                 actor="lan@agency.example", thread="churn", title=f"Touch {' '.join(keys)}",
                 refs=tuple(Ref("ticket", key) for key in keys), attrs={"sha": sha})


def a_minute_later(engagement: Engagement) -> loaders.Source:
    """The source as the pages see it once the store's version is read again (its TTL passed)."""
    loaders.version.clear()
    loaders.version_before.clear()
    return loaders.source(str(engagement.path), engagement.config.store_url, engagement.config.engagement_id)


def assert_as_the_store_says(engagement: Engagement) -> dict[View, list[str]]:
    store, config = engagement.store, engagement.config
    source = a_minute_later(engagement)
    shown = {}
    for view in View:
        tickets = loaders.period_tickets(source, view, START, END)
        assert tickets == slices.period_tickets(store, config, view, START, END), view
        titles = slices.titles_of(store, config, view, tickets)
        expected = {thread: short_title(title) for thread, title in titles.items()}
        assert loaders.thread_titles(source, view, tuple(tickets)) == expected, view
        shown[view] = tickets
    return shown


def test_the_picker_follows_the_store_while_the_days_before_today_are_read_once(
        engagement: Engagement, monkeypatch: pytest.MonkeyPatch) -> None:
    store, jira = engagement.store, engagement.jira
    store.write([ticket(jira, "CHURN-1", EARLIER, "Churn scores"),
                 commit("a" * 40, EARLIER + timedelta(hours=1), ("CHURN-1", "OPS-5"))])
    assert assert_as_the_store_says(engagement)[View.TEAM] == ["CHURN-1"]  # OPS is no Jira project yet

    read: list[tuple[View, datetime, datetime]] = []
    candidates = slices.period_ticket_candidates
    monkeypatch.setattr(slices, "period_ticket_candidates",
                        lambda store, config, view, start, end: read.append((view, start, end)) or
                        candidates(store, config, view, start, end))
    store.write([commit("b" * 40, LATER, ("CHURN-1", "CHURN-7"))])  # a sync of today's commits
    assert assert_as_the_store_says(engagement)[View.TEAM] == ["CHURN-1", "CHURN-7"]  # a key of a Jira project
    assert {(view, START, TODAY) for view in View}.isdisjoint(read)  # neither view read the days before again
    assert {(view, TODAY, END) for view in View} <= set(read)

    read.clear()
    store.write([ticket(jira, "CHURN-2", LATER, "Opened today"), ticket(jira, "OPS-1", LATER, "Ops board")])
    shown = assert_as_the_store_says(engagement)
    # the team's days before today not read again; the client's were, as a new Jira ticket may hide a thread
    assert (View.TEAM, TODAY, END) in read and (View.TEAM, START, TODAY) not in read
    assert (View.CLIENT, START, TODAY) in read
    assert shown[View.TEAM] == ["CHURN-1", "CHURN-2", "CHURN-7", "OPS-1", "OPS-5"]  # OPS-5, named before, now counts

    store.write([ticket(jira, "CHURN-1", EARLIER, "Churn scores, renamed", labels=("internal",))])
    shown = assert_as_the_store_says(engagement)
    assert "CHURN-1" in shown[View.TEAM] and "CHURN-1" not in shown[View.CLIENT]
    assert loaders.thread_titles(a_minute_later(engagement), View.TEAM, ("CHURN-1",)) == {
        "CHURN-1": "Churn scores, renamed"}


def test_a_sync_that_lists_one_more_thread_reads_that_threads_title_alone(
        engagement: Engagement, monkeypatch: pytest.MonkeyPatch) -> None:
    store, jira = engagement.store, engagement.jira
    store.write([ticket(jira, f"CHURN-{number}", EARLIER, f"Ticket {number}") for number in (1, 2, 3, 5)])
    listed = ("CHURN-1", "CHURN-2", "CHURN-3")
    assert loaders.thread_titles(a_minute_later(engagement), View.TEAM, listed) == {
        key: f"Ticket {key[-1]}" for key in listed}

    asked: list[tuple[tuple[str, ...], datetime | None]] = []
    titles_of = slices.titles_of
    monkeypatch.setattr(slices, "titles_of", lambda store, config, view, threads, end=None: asked.append(
        (tuple(threads), end)) or titles_of(store, config, view, threads, end))
    store.write([ticket(jira, "CHURN-4", LATER, "Opened today")])  # a sync of today's events
    shown = loaders.thread_titles(a_minute_later(engagement), View.TEAM, (*listed, "CHURN-4", "CHURN-5"))

    assert shown == {"CHURN-1": "Ticket 1", "CHURN-2": "Ticket 2", "CHURN-3": "Ticket 3", "CHURN-4": "Opened today",
                     "CHURN-5": "Ticket 5"}
    # the titles read before stand; CHURN-5, opened before today but never asked about, is read once
    assert asked == [(("CHURN-4", "CHURN-5"), TODAY), (("CHURN-4",), None)]
