"""The unified timeline: SPEC §3 fields, people resolved, filters, the client view, jsonl and csv."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from glassbox.cli import build_parser, main
from glassbox.config import load_config
from glassbox.errors import ConfigError
from glassbox.events import Event, Ref, commit_event_id, commit_ref, event_id, is_sha
from glassbox.metrics import linking
from glassbox.metrics.linking import build_links
from glassbox.timeline import TIMELINE_FIELDS, load_timeline
from glassbox.views import View, parse_view
from glassbox.workspace import open_engagement

CONFIG = """
[engagement]
name = "Acme"
timezone = "America/New_York"
internal_labels = ["internal"]
[store]
url = "sqlite:///glassbox.db"
[[people]]
name = "Carol"
side = "client"
ids = ["carol@acme.example", "557058:carol"]
"""


def jira(n: int, category: str, when: datetime, actor: str, labels: tuple[str, ...] = (), title: str = "") -> Event:
    return Event(id=event_id("jira", "https://jira", f"{n}-{category}"), source="jira", origin="https://jira",
                 category=category, occurred_at=when, actor=actor, thread=f"CHURN-{n}",
                 title=title or f"CHURN-{n}", labels=labels, url=f"https://jira/browse/CHURN-{n}")


def commit(sha: str, when: datetime, message: str, tickets: tuple[str, ...]) -> Event:
    return Event(id=commit_event_id(sha), source="git", origin="/src/churn", category="commit",
                 occurred_at=when, actor="dev@agency.example", thread="churn", title=message,
                 refs=(Ref("commit", sha), *(Ref("ticket", t) for t in tickets)))


@pytest.fixture
def engagement(write_config):
    path = write_config(CONFIG)
    config = load_config(path)
    store = open_engagement(config)
    store.write([
        jira(1, "ticket_created", datetime(2026, 11, 2, 14, tzinfo=UTC), "557058:carol", title="Churn too high"),
        jira(2, "ticket_created", datetime(2026, 11, 3, 3, 30, tzinfo=UTC), "dependabot[bot]"),
        jira(3, "ticket_created", datetime(2026, 11, 4, 10, tzinfo=UTC), "minh", ("Internal",), "Secret rework"),
        commit("a" * 40, datetime(2026, 11, 4, 12, tzinfo=UTC), "CHURN-1 fix", ("CHURN-1",)),
        commit("b" * 40, datetime(2026, 11, 4, 13, tzinfo=UTC), "CHURN-3 rework", ("CHURN-3",)),
    ])
    return path, config, store


def test_timeline_resolves_people_and_sides(engagement) -> None:
    _, config, store = engagement
    frame = load_timeline(store, config)
    assert list(frame["actor"]) == ["Carol", "dependabot[bot]", "minh", "dev@agency.example", "dev@agency.example"]
    assert list(frame["side"]) == ["client", "bot", "team", "team", "team"]
    assert sorted(frame.loc[3, "refs"]) == sorted(["a" * 40, "CHURN-1"])


def test_client_view_hides_internal_tickets_and_what_reveals_them(engagement) -> None:
    _, config, store = engagement
    titles = set(load_timeline(store, config, view="client")["title"])
    assert "Secret rework" not in titles and "CHURN-3 rework" not in titles
    assert {"Churn too high", "CHURN-1 fix"} <= titles


def test_jsonl_has_exactly_the_spec_fields_with_engagement_offsets(engagement, capsys) -> None:
    path, _, _ = engagement
    assert main(["timeline", "--config", str(path)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 5 and all(tuple(row) == TIMELINE_FIELDS for row in rows)
    assert rows[0]["occurred_at"] == "2026-11-02T09:00:00-05:00"


def test_from_and_to_are_whole_days_in_the_engagement_time_zone(engagement, capsys) -> None:
    path, _, _ = engagement
    # 2026-11-03 03:30 UTC is still 2 November in New York.
    assert main(["timeline", "--config", str(path), "--from", "2026-11-02", "--to", "2026-11-02"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["thread"] for row in rows] == ["CHURN-1", "CHURN-2"]


def test_source_filter_and_csv_format(engagement, capsys) -> None:
    path, _, _ = engagement
    assert main(["timeline", "--config", str(path), "--source", "git", "--format", "csv", "--view", "client"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [row["title"] for row in rows] == ["CHURN-1 fix"]
    assert set(rows[0]["refs"].split()) == {"a" * 40, "CHURN-1"}


def test_bad_dates_are_config_errors(engagement, capsys) -> None:
    path, _, _ = engagement
    assert main(["timeline", "--config", str(path), "--from", "yesterday"]) == 2
    assert "--from 'yesterday': expected a date" in capsys.readouterr().err


def test_public_ticket_linking_an_internal_one_stays_without_the_link(engagement) -> None:
    _, config, store = engagement
    linked = jira(4, "ticket_created", datetime(2026, 11, 5, tzinfo=UTC), "minh", title="Public follow-up")
    linked.refs = (Ref("ticket", "CHURN-3"),)
    store.write([linked])
    frame = load_timeline(store, config, view="client")
    row = frame.loc[frame["title"] == "Public follow-up"].iloc[0]
    assert row["refs"] == []


@pytest.mark.parametrize("view", ["Client", "clients", "", "internal"])
def test_an_unknown_view_is_an_error_never_the_team_view(engagement, view: str) -> None:
    """``if view == "client"`` used to send every other spelling to the team view, internal work and all."""
    _, config, store = engagement
    with pytest.raises(ConfigError, match=f"view {view!r}: expected one of team, client"):
        load_timeline(store, config, view=view)
    assert parse_view("client") is View.CLIENT and parse_view(View.TEAM) is View.TEAM


@pytest.mark.parametrize("command", ["timeline", "report"])
def test_the_cli_offers_exactly_the_views_and_refuses_others(engagement, capsys, command: str) -> None:
    path, _, _ = engagement
    with pytest.raises(SystemExit) as exited:
        main([command, "--config", str(path), "--view", "Client"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "--view" in err and "'Client'" in err and "Traceback" not in err
    commands = next(action for action in build_parser()._actions if action.dest == "command").choices
    view = next(action for action in commands[command]._actions if action.dest == "view")
    assert list(view.choices) == list(View) and view.default is View.TEAM


def test_ref_kinds_travel_from_the_store_and_are_never_guessed(write_config) -> None:
    """A ticket key shaped like a SHA stays a ticket; a frame without kinds is refused, not guessed at.

    A custom ``ticket_pattern`` such as ``[A-Z]{2}\\d{5}`` makes keys like ``AB12345``: seven hex
    digits, which the old regex fallback in linking took for a commit.
    """
    config = load_config(write_config(CONFIG))
    store = open_engagement(config)
    store.write([commit("c" * 40, datetime(2026, 11, 4, 12, tzinfo=UTC), "AB12345 fix", ("AB12345",))])
    frame = load_timeline(store, config)
    assert dict(zip(frame.loc[0, "refs"], frame.loc[0, "ref_kinds"], strict=True)) == {
        "c" * 40: "commit", "AB12345": "ticket"}
    links = build_links(frame)
    assert list(links.commits["tickets"]) == [["AB12345"]]  # one commit, serving the one ticket
    with pytest.raises(KeyError, match="ref_kinds"):
        build_links(frame.drop(columns=["ref_kinds"]))


def test_one_sha_definition_for_connectors_and_linking() -> None:
    """``commit_ref`` once matched ``^…$`` on the lowered text, so a SHA with a trailing newline passed."""
    assert linking.is_sha is is_sha
    assert commit_ref("a" * 40 + "\n") == ()
    assert commit_ref("ABCDEF1") == (Ref("commit", "abcdef1"),)  # upper case accepted, stored lowered
    assert not is_sha("abcdef") and not is_sha("a" * 41) and not is_sha("ghijklm")
