"""Linking: commits and PRs to tickets, runs to commits (by SHA prefix) and through them to tickets."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pandas as pd
import pytest
from jira_server import load

from connectors.git.connector import GitCommitRecord, commit_to_event
from connectors.jira.normalize import issue_to_events, status_categories_from
from glassbox.config import load_config
from glassbox.events import Event, Ref, commit_event_id, event_id, find_ticket_keys, is_sha
from glassbox.metrics.linking import (
    build_links,
    exploded_refs,
    links_summary,
    resolve_prefixes,
)
from glassbox.store import Store
from glassbox.timeline import load_timeline

_ids = itertools.count()
COLUMNS = ["id", "source", "sources", "origin", "category", "occurred_at", "actor", "actor_id", "side",
           "thread", "title", "url", "labels", "attrs", "refs", "ref_kinds"]
SHA_A = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
SHA_B = "a1b2c3d0000000000000000000000000000000ff"
SHA_C = "c" * 40
START = datetime(2026, 11, 2, tzinfo=UTC)
END = datetime(2026, 11, 9, tzinfo=UTC)


def ev(category: str, at: str, thread: str, refs: tuple[str, ...] = (), title: str = "", **attrs: object) -> dict:
    return {"id": f"e{next(_ids)}", "source": "github", "sources": ["github"], "origin": "acme/churn",
            "category": category, "occurred_at": pd.Timestamp(at, tz="UTC"), "actor": "dev", "actor_id": "dev",
            "side": "team", "thread": thread, "title": title or category, "url": None, "labels": [],
            "attrs": attrs, "refs": list(refs),
            "ref_kinds": ["commit" if is_sha(ref) else "ticket" for ref in refs]}  # as the connectors store them


def timeline() -> pd.DataFrame:
    rows = [
        ev("commit", "2026-11-02 10:00", "acme/churn", (SHA_A, "CHURN-1"), "CHURN-1 features", sha=SHA_A),
        ev("commit", "2026-11-02 11:00", "acme/churn", (SHA_B,), "typo", sha=SHA_B),
        ev("commit", "2026-11-02 12:00", "acme/churn", (SHA_C, "CHURN-2", "CHURN-3"), sha=SHA_C),
        ev("pull_request_opened", "2026-11-02 13:00", "acme/churn#7", ("CHURN-2",), "CHURN-2 tuning", number=7),
        ev("pull_request_merged", "2026-11-03 13:00", "acme/churn#7", ("CHURN-2",), "CHURN-2 tuning", number=7),
        ev("run_started", "2026-11-03 14:00", "churn", ("ccccccc",), run_id="r1", commit="ccccccc"),
        ev("run_finished", "2026-11-03 15:00", "churn", ("ccccccc",), run_id="r1", commit="ccccccc",
           status="FINISHED", metrics={"auc": 0.8}),
        ev("run_started", "2026-11-03 16:00", "churn", ("a1b2c3d",), run_id="r2", commit="a1b2c3d"),
        ev("run_started", "2026-11-03 17:00", "churn", ("a1b2c3d4e5",), run_id="r3", commit="a1b2c3d4e5"),
        ev("run_started", "2026-11-03 18:00", "churn", ("CHURN-9",), run_id="r4", ticket="CHURN-9"),
        ev("run_started", "2026-11-10 18:00", "churn", (), run_id="r5"),
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return frame


def test_refs_are_told_apart_as_commits_and_tickets() -> None:
    refs = exploded_refs(timeline())
    assert set(refs.loc[refs["kind"] == "ticket", "value"]) == {"CHURN-1", "CHURN-2", "CHURN-3", "CHURN-9"}
    assert SHA_A in set(refs.loc[refs["kind"] == "commit", "value"])


def test_prefix_of_seven_digits_resolves_only_when_unambiguous() -> None:
    resolved = resolve_prefixes(pd.Series(["a1b2c3d", "a1b2c3d4e5", "ccccccc", "cccccc", "deadbee", None]),
                                [SHA_A, SHA_B, SHA_C])
    assert resolved.tolist() == [None, SHA_A, SHA_C, None, None, None]


def test_ticket_lists_its_commits_prs_and_runs() -> None:
    links = build_links(timeline())
    found = links.for_ticket("CHURN-2")
    assert found["commits"]["sha"].tolist() == [SHA_C]
    assert found["pull_requests"]["thread"].tolist() == ["acme/churn#7"]
    assert found["runs"]["run_id"].tolist() == ["r1"]


def test_run_names_its_commit_and_ticket() -> None:
    links = build_links(timeline())
    assert links.for_run("r1")["commit"]["sha"] == SHA_C
    assert links.for_run("r1")["tickets"] == ["CHURN-2", "CHURN-3"]
    assert links.for_run("r3")["tickets"] == ["CHURN-1"]
    assert links.for_run("r4") == {"commit": None, "tickets": ["CHURN-9"]}
    assert links.for_run("nope") == {"commit": None, "tickets": []}


def test_run_keeps_its_latest_state() -> None:
    run = build_links(timeline()).runs.set_index("run_id").loc["r1"]
    assert run["status"] == "FINISHED"
    assert run["metrics"] == {"auc": 0.8}
    assert run["started_at"] == pd.Timestamp("2026-11-03 14:00", tz="UTC")


def test_pull_request_has_its_times_and_tickets() -> None:
    pr = build_links(timeline()).pull_requests.iloc[0]
    assert (pr["number"], pr["tickets"]) == (7, ["CHURN-2"])
    assert pr["merged_at"] == pd.Timestamp("2026-11-03 13:00", tz="UTC")
    assert pd.isna(pr["closed_at"])


def test_links_summary_counts_the_periods_unlinked_work() -> None:
    assert links_summary(build_links(timeline()), START, END) == {
        "commits_with_ticket": 2, "commits_without_ticket": 1,
        "runs_with_commit": 2, "runs_without_commit": 2,
    }


def test_links_of_an_empty_timeline_are_zero() -> None:
    empty = timeline().iloc[0:0]
    assert links_summary(build_links(empty), START, END) == {
        "commits_with_ticket": 0, "commits_without_ticket": 0, "runs_with_commit": 0, "runs_without_commit": 0}


# -- ticket keys on a real history: Apache messages name CVEs, encodings and hashes ------------------

APACHE_MESSAGE = "DRILL-1: Fix CVE-2017-5638 in the UTF-8 reader, check SHA-512 sums; see DRILL-38\n"
CVE_ONLY = "Bump struts for CVE-2017-5638 (UTF-8 safe)\n"
JIRA = "https://issues.apache.org/jira"


def test_a_key_is_never_cut_short() -> None:
    """``CVE-2017-5638`` is not the ticket ``CVE-2017``: a match followed by ``-digit`` is no key."""
    assert find_ticket_keys(APACHE_MESSAGE) == ["DRILL-1", "UTF-8", "SHA-512", "DRILL-38"]
    assert find_ticket_keys("CVE-2017-5638, CVE-2021-44228.") == []


def _git_commit(sha: str, message: str, when: str) -> Event:
    header = {"sha": sha, "parents": "", "author_name": "Dev", "author_email": "dev@apache.example",
              "authored_at": when, "committer_name": "Dev", "committer_email": "dev@apache.example",
              "committed_at": when}
    return commit_to_event(GitCommitRecord(header, message=message.rstrip("\n")), origin="/src/drill", thread="drill")


@pytest.fixture
def drill_store(store: Store) -> Store:
    """The recorded DRILL-1 and DRILL-38 issues, two commits, and one commit an older sync linked to ``CVE-2017``."""
    categories = status_categories_from(load("statuses.json"))
    for name in ("drill_1.json", "drill_38.json"):
        store.write(issue_to_events(load(name), origin=JIRA, server=JIRA, status_categories=categories))
    store.write([_git_commit(SHA_A, APACHE_MESSAGE, "2013-03-01T10:00:00+00:00"),
                 _git_commit(SHA_B, CVE_ONLY, "2013-03-01T11:00:00+00:00")])
    old = _git_commit(SHA_C, CVE_ONLY, "2013-03-01T12:00:00+00:00")
    old.refs = (*old.refs, Ref("ticket", "CVE-2017"))  # what the old pattern stored: the key cut short
    store.write([old])
    return store


CONFIG_WITHOUT_JIRA = '[engagement]\nname = "Drill"\n[store]\nurl = "sqlite:///unused.db"\n'


def test_with_jira_only_its_projects_keys_are_tickets(drill_store: Store, write_config,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIRA_USER", "alice")
    monkeypatch.setenv("JIRA_TOKEN", "token")
    config = load_config(write_config(CONFIG_WITHOUT_JIRA + f'[[jira]]\nserver = "{JIRA}"\njql = "project = DRILL"\n'))

    frame = load_timeline(drill_store, config)
    links = build_links(frame)

    tickets = dict(zip(links.commits["sha"], links.commits["tickets"], strict=True))
    # only DRILL is a Jira project in the store: UTF-8 and SHA-512 are no tickets, and the CVE-2017 an
    # older sync stored is dropped when read, without a re-sync
    assert tickets == {SHA_A: ["DRILL-1", "DRILL-38"], SHA_B: [], SHA_C: []}
    assert links.for_ticket("DRILL-38")["commits"]["sha"].tolist() == [SHA_A]
    commit = frame.loc[frame["id"] == commit_event_id(SHA_A)].iloc[0]
    assert dict(zip(commit["refs"], commit["ref_kinds"], strict=True)) == {
        SHA_A: "commit", "DRILL-1": "ticket", "DRILL-38": "ticket"}
    week = (datetime(2013, 2, 25, tzinfo=UTC), datetime(2013, 3, 4, tzinfo=UTC))
    # 3 commits in the week, 1 (SHA_A) names a DRILL ticket
    assert links_summary(links, *week) == {"commits_with_ticket": 1, "commits_without_ticket": 2,
                                           "runs_with_commit": 0, "runs_without_commit": 0}


def test_a_new_jira_projects_keys_count_from_the_write_that_brings_its_first_ticket(
        drill_store: Store, write_config, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store keeps the tickets' keys between reads (a report asks five times): a write that
    brings a ticket of a project not seen before makes the keys of that project tickets at once."""
    monkeypatch.setenv("JIRA_USER", "alice")
    monkeypatch.setenv("JIRA_TOKEN", "token")
    config = load_config(write_config(CONFIG_WITHOUT_JIRA + f'[[jira]]\nserver = "{JIRA}"\njql = "project = DRILL"\n'))
    before = build_links(load_timeline(drill_store, config))
    assert dict(zip(before.commits["sha"], before.commits["tickets"], strict=True))[SHA_A] == ["DRILL-1", "DRILL-38"]

    drill_store.write([Event(id=event_id("jira", JIRA, "UTF-8"), source="jira", origin=JIRA,
                             category="ticket_created", occurred_at=datetime(2013, 3, 2, tzinfo=UTC),
                             actor="dev", thread="UTF-8", title="A project whose key reads like an encoding")])

    after = build_links(load_timeline(drill_store, config))
    assert dict(zip(after.commits["sha"], after.commits["tickets"], strict=True))[SHA_A] == [
        "DRILL-1", "UTF-8", "DRILL-38"]


def test_without_jira_the_pattern_decides(drill_store: Store, write_config) -> None:
    """No Jira to ask: every match of the pattern is a ticket (what was stored stays as stored)."""
    config = load_config(write_config(CONFIG_WITHOUT_JIRA))

    links = build_links(load_timeline(drill_store, config))

    tickets = dict(zip(links.commits["sha"], links.commits["tickets"], strict=True))
    assert tickets == {SHA_A: ["DRILL-1", "UTF-8", "SHA-512", "DRILL-38"], SHA_B: ["UTF-8"],
                       SHA_C: ["UTF-8", "CVE-2017"]}
