"""Each SPEC §4 latency pinned on tiny hand-built timelines, and its per-period summary."""

from __future__ import annotations

import itertools
import json
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from github_server import REPO

from connectors.github.normalize import pull_to_events, review_to_event
from glassbox.config import Config, Team
from glassbox.events import is_sha
from glassbox.metrics import latency
from glassbox.periods import iso_week

GITHUB_DATA = Path(__file__).parent / "data" / "github"
TEAM = Team(timezone="UTC", working_hours="09:00-18:00")
_ids = itertools.count()
COLUMNS = ["id", "source", "sources", "origin", "category", "occurred_at", "actor", "actor_id", "side",
           "thread", "title", "url", "labels", "attrs", "refs", "ref_kinds"]


def ev(category: str, at: str, actor: str = "dev", side: str = "team", thread: str = "CHURN-1",
       refs: tuple[str, ...] = (), **attrs: object) -> dict:
    return {"id": f"e{next(_ids)}", "source": "jira", "sources": ["jira"], "origin": "o", "category": category,
            "occurred_at": pd.Timestamp(at, tz="UTC"), "actor": actor, "actor_id": actor, "side": side,
            "thread": thread, "title": category, "url": None, "labels": [], "attrs": attrs, "refs": list(refs),
            "ref_kinds": ["commit" if is_sha(ref) else "ticket" for ref in refs]}  # as the connectors store them


def client(category: str, at: str, **kw: object) -> dict:
    return ev(category, at, actor="carol", side="client", **kw)


def timeline(*rows: dict) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=COLUMNS)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return frame.sort_values("occurred_at", kind="stable").reset_index(drop=True)


def moved(at: str, to: str, frm: str, **kw: object) -> dict:
    return ev("ticket_transition", at, to_category=to, from_category=frm, **kw)


def spans(samples: pd.DataFrame) -> list[tuple[str, str, float | None]]:
    """(start, end, hours) rows, times as 'MM-DD HH:MM' for readable assertions."""
    def short(moment: pd.Timestamp) -> str:
        return "open" if pd.isna(moment) else moment.strftime("%m-%d %H:%M")
    return [(short(s), short(e), None if pd.isna(h) else h)
            for s, e, h in zip(samples["started_at"], samples["ended_at"], samples["hours"], strict=True)]


# -- client_response ---------------------------------------------------------------------------

def test_second_client_comment_before_an_answer_is_the_same_wait() -> None:
    events = timeline(client("comment", "2026-11-02 10:00"), client("comment", "2026-11-02 11:00"),
                      ev("comment", "2026-11-02 13:00"))
    assert spans(latency.client_response(events, TEAM)) == [("11-02 10:00", "11-02 13:00", 3.0)]


def test_bot_comments_neither_answer_nor_ask() -> None:
    events = timeline(client("comment", "2026-11-02 10:00"),
                      ev("comment", "2026-11-02 10:05", actor="jira-bot", side="bot"),
                      ev("comment", "2026-11-02 12:00", actor="ci[bot]", side="bot", thread="CHURN-2"),
                      ev("review", "2026-11-02 12:00"))
    assert spans(latency.client_response(events, TEAM)) == [("11-02 10:00", "11-02 12:00", 2.0)]


def test_team_commit_or_pr_referencing_the_ticket_answers_the_client() -> None:
    events = timeline(client("ticket_created", "2026-11-02 10:00", status_category="new"),
                      ev("commit", "2026-11-02 11:30", thread="acme/churn", refs=("CHURN-1", "a" * 40)),
                      client("comment", "2026-11-02 12:00"),
                      ev("pull_request_opened", "2026-11-02 16:00", thread="acme/churn#3", refs=("CHURN-1",)))
    assert spans(latency.client_response(events, TEAM)) == [("11-02 10:00", "11-02 11:30", 1.5),
                                                            ("11-02 12:00", "11-02 16:00", 4.0)]


def test_team_transition_answers_but_client_events_do_not() -> None:
    events = timeline(client("review", "2026-11-02 10:00", thread="acme/churn#7"),
                      client("comment", "2026-11-02 10:30", thread="acme/churn#7"),
                      ev("comment", "2026-11-02 11:00", thread="acme/churn#8"),
                      client("comment", "2026-11-02 12:00"),
                      moved("2026-11-02 12:30", "indeterminate", "new"))
    assert spans(latency.client_response(events, TEAM)) == [("11-02 10:00", "open", None),
                                                            ("11-02 12:00", "11-02 12:30", 0.5)]


def test_team_event_before_any_client_question_starts_nothing() -> None:
    events = timeline(ev("comment", "2026-11-02 09:00"), client("comment", "2026-11-02 10:00"))
    assert spans(latency.client_response(events, TEAM)) == [("11-02 10:00", "open", None)]


def test_weekend_wait_counts_only_working_hours() -> None:
    events = timeline(client("comment", "2026-11-06 17:00"), ev("comment", "2026-11-09 10:00"))
    samples = latency.client_response(events, TEAM)
    assert samples.loc[0, "hours"] == 65.0
    assert samples.loc[0, "working_hours"] == 2.0


# -- client_turnaround -------------------------------------------------------------------------

def test_turnaround_runs_from_waiting_status_to_next_client_event() -> None:
    events = timeline(moved("2026-11-02 10:00", "indeterminate", "indeterminate", waiting=True),
                      ev("comment", "2026-11-02 11:00"),
                      moved("2026-11-02 11:30", "indeterminate", "indeterminate", waiting=True),
                      client("comment", "2026-11-03 10:00"),
                      moved("2026-11-03 12:00", "indeterminate", "indeterminate", waiting=False),
                      client("comment", "2026-11-03 13:00"))
    assert spans(latency.client_turnaround(events, TEAM)) == [("11-02 10:00", "11-03 10:00", 24.0)]


def test_ticket_created_in_a_waiting_status_starts_a_turnaround() -> None:
    events = timeline(ev("ticket_created", "2026-11-02 10:00", status_category="indeterminate", waiting=True))
    assert spans(latency.client_turnaround(events, TEAM)) == [("11-02 10:00", "open", None)]


# -- tickets -----------------------------------------------------------------------------------

def test_ticket_reopened_after_done_ends_at_its_final_resolution() -> None:
    events = timeline(client("ticket_created", "2026-11-02 10:00", status_category="new"),
                      moved("2026-11-02 12:00", "indeterminate", "new"),
                      moved("2026-11-03 12:00", "done", "indeterminate"),
                      moved("2026-11-04 12:00", "indeterminate", "done"),
                      moved("2026-11-05 12:00", "done", "indeterminate"),
                      moved("2026-11-05 13:00", "done", "done"))
    assert spans(latency.ticket_pickup(events, TEAM)) == [("11-02 10:00", "11-02 12:00", 2.0)]
    assert spans(latency.ticket_cycle(events, TEAM)) == [("11-02 12:00", "11-05 12:00", 72.0)]
    assert spans(latency.ticket_lead(events, TEAM)) == [("11-02 10:00", "11-05 12:00", 74.0)]


def test_reopened_ticket_not_done_again_is_open() -> None:
    events = timeline(ev("ticket_created", "2026-11-02 10:00", status_category="new"),
                      moved("2026-11-02 12:00", "indeterminate", "new"),
                      moved("2026-11-03 12:00", "done", "indeterminate"),
                      moved("2026-11-04 12:00", "new", "done"))
    assert spans(latency.ticket_cycle(events, TEAM)) == [("11-02 12:00", "open", None)]
    assert spans(latency.ticket_lead(events, TEAM)) == [("11-02 10:00", "open", None)]


def test_ticket_done_without_progress_has_no_pickup_wait_after_closing() -> None:
    events = timeline(ev("ticket_created", "2026-11-02 10:00", status_category="new"),
                      moved("2026-11-03 10:00", "done", "new"))
    pickup = latency.ticket_pickup(events, TEAM)
    assert spans(pickup) == [("11-02 10:00", "open", None)]
    assert pickup.loc[0, "abandoned_at"] == pd.Timestamp("2026-11-03 10:00", tz="UTC")
    assert latency.ticket_cycle(events, TEAM).empty
    assert spans(latency.ticket_lead(events, TEAM)) == [("11-02 10:00", "11-03 10:00", 24.0)]


def test_bot_transitions_and_bot_tickets_are_ignored() -> None:
    events = timeline(ev("ticket_created", "2026-11-02 10:00", actor="automation", side="bot",
                         status_category="new"),
                      ev("ticket_created", "2026-11-02 10:00", thread="CHURN-2", status_category="new"),
                      moved("2026-11-02 11:00", "indeterminate", "new", thread="CHURN-2", actor="bot", side="bot"),
                      moved("2026-11-02 12:00", "indeterminate", "new", thread="CHURN-2"))
    assert latency.ticket_lead(events, TEAM)["thread"].tolist() == ["CHURN-2"]
    assert spans(latency.ticket_pickup(events, TEAM)) == [("11-02 10:00", "11-02 12:00", 2.0)]


def test_ticket_created_in_progress_starts_its_cycle_at_creation() -> None:
    events = timeline(ev("ticket_created", "2026-11-02 10:00", status_category="indeterminate"),
                      moved("2026-11-02 15:00", "done", "indeterminate"))
    assert latency.ticket_pickup(events, TEAM).empty
    assert spans(latency.ticket_cycle(events, TEAM)) == [("11-02 10:00", "11-02 15:00", 5.0)]


# -- pull requests -----------------------------------------------------------------------------

def pr(category: str, at: str, number: int = 7, **kw: object) -> dict:
    return ev(category, at, thread=f"acme/churn#{number}", **kw)


def test_pr_pickup_ignores_the_authors_own_comments_and_bots() -> None:
    events = timeline(pr("pull_request_opened", "2026-11-02 10:00", actor="ana"),
                      pr("comment", "2026-11-02 10:30", actor="ana"),
                      pr("review", "2026-11-02 11:00", actor="dependabot[bot]", side="bot"),
                      pr("review", "2026-11-02 14:00", actor="ben"),
                      pr("pull_request_merged", "2026-11-02 16:00", actor="ben"))
    assert spans(latency.pr_pickup(events, TEAM)) == [("11-02 10:00", "11-02 14:00", 4.0)]
    assert spans(latency.pr_merge(events, TEAM)) == [("11-02 10:00", "11-02 16:00", 6.0)]


def test_pr_closed_unreviewed_and_unmerged_stops_waiting() -> None:
    events = timeline(pr("pull_request_opened", "2026-11-02 10:00", actor="ana"),
                      pr("pull_request_closed", "2026-11-03 10:00", actor="ana"))
    for samples in (latency.pr_pickup(events, TEAM), latency.pr_merge(events, TEAM)):
        assert spans(samples) == [("11-02 10:00", "open", None)]
        week = iso_week(date(2026, 11, 2), ZoneInfo("UTC"))
        assert latency.summarize(samples, week.start, week.end)["open"] == 0


def test_pr_opened_by_a_bot_is_no_wait() -> None:
    events = timeline(pr("pull_request_opened", "2026-11-02 10:00", actor="dependabot[bot]", side="bot"))
    assert latency.pr_pickup(events, TEAM).empty
    assert latency.pr_merge(events, TEAM).empty


# -- client_response on a recorded pull request ------------------------------------------------
# PR 671 of tests/data/github: opened by omgjlk 2017-01-25T22:36:38Z, merged 2017-01-27T22:24:35Z
# by sigmavirus24; its reviews as recorded, with sigmavirus24 taken to be the client.

def recorded_pull_671(*states: str, merged_by: str | None = None) -> pd.DataFrame:
    """PR 671's events, its five reviews given ``states`` (all ``COMMENTED`` as recorded)."""
    pull = next(p for p in json.loads((GITHUB_DATA / "pulls.json").read_text()) if p["number"] == 671)
    if merged_by:
        pull["merged_by"] = {**pull["merged_by"], "login": merged_by}
    reviews = json.loads((GITHUB_DATA / "reviews_671.json").read_text())
    events = pull_to_events(pull, repo=REPO)
    for review, state in zip(reviews, states or ["COMMENTED"] * len(reviews), strict=True):
        events.append(review_to_event({**review, "state": state}, pull, repo=REPO))
    return timeline(*[ev(e.category, e.occurred_at.isoformat(), actor=e.actor or "", thread=e.thread,
                         side="client" if e.actor == "sigmavirus24" else "team", refs=(), **e.attrs)
                      for e in events if e is not None])


def test_client_approval_starts_no_wait() -> None:
    # reviews: client 01-26 16:35:28, omgjlk 19:47:48, itsmemattchung 19:58:51, client 01-27 18:32:22 and 18:32:35
    events = recorded_pull_671("COMMENTED", "COMMENTED", "COMMENTED", "APPROVED", "APPROVED")
    samples = latency.client_response(events, TEAM)
    # 16:35:28 → 19:47:48 = 3 h 12 min 20 s; the approvals ask for nothing
    assert spans(samples) == [("01-26 16:35", "01-26 19:47", pytest.approx((3 * 3600 + 12 * 60 + 20) / 3600))]


def test_pr_merged_by_the_team_ends_the_clients_wait() -> None:
    client_merged = recorded_pull_671("COMMENTED", "COMMENTED", "COMMENTED", "COMMENTED", "APPROVED")
    assert spans(latency.client_response(client_merged, TEAM))[1] == ("01-27 18:32", "open", None)
    events = recorded_pull_671("COMMENTED", "COMMENTED", "COMMENTED", "COMMENTED", "APPROVED", merged_by="omgjlk")
    samples = latency.client_response(events, TEAM)
    # the client's comment review at 01-27 18:32:22 is answered by the merge at 22:24:35: 3 h 52 min 13 s
    assert spans(samples)[1] == ("01-27 18:32", "01-27 22:24", pytest.approx((3 * 3600 + 52 * 60 + 13) / 3600))
    week = iso_week(date(2017, 1, 27), ZoneInfo("UTC"))
    assert latency.summarize(samples, week.start, week.end)["open"] == 0


# -- commit_to_run -----------------------------------------------------------------------------

def test_commit_to_run_matches_a_sha_prefix_and_takes_the_first_run() -> None:
    sha = "abcdef1234567890abcdef1234567890abcdef12"
    events = timeline(ev("commit", "2026-11-02 10:00", thread="acme/churn", refs=(sha,), sha=sha),
                      ev("commit", "2026-11-02 10:00", thread="acme/churn", refs=("b" * 40,), sha="b" * 40),
                      ev("run_started", "2026-11-02 13:00", thread="churn", run_id="r2", commit=sha[:7]),
                      ev("run_started", "2026-11-02 12:00", thread="churn", run_id="r1", commit=sha),
                      ev("run_finished", "2026-11-02 12:30", thread="churn", run_id="r1", commit=sha))
    samples = latency.commit_to_run(events, TEAM)
    assert spans(samples) == [("11-02 10:00", "11-02 12:00", 2.0)]
    assert samples.loc[0, "thread"] == sha


# -- summarize ---------------------------------------------------------------------------------

WEEK = iso_week(date(2026, 11, 2), ZoneInfo("UTC"))  # 2026-W45: Mon 11-02 .. Mon 11-09


def test_wait_spanning_two_periods_is_open_in_the_first_and_counted_in_the_second() -> None:
    events = timeline(client("comment", "2026-11-06 12:00"), ev("comment", "2026-11-10 12:00"))
    samples = latency.client_response(events, TEAM)
    first = latency.summarize(samples, WEEK.start, WEEK.end)
    second = latency.summarize(samples, WEEK.end, iso_week(date(2026, 11, 9), ZoneInfo("UTC")).end)
    assert (first["n"], first["open"], first["oldest_open_hours"]) == (0, 1, 60.0)
    assert (second["n"], second["open"], second["median_hours"]) == (1, 0, 96.0)
    assert second["median_working_hours"] == 18.0  # Fri 6 + Mon 9 + Tue 3


def test_sample_ending_exactly_at_the_period_end_belongs_to_the_next_period() -> None:
    events = timeline(client("comment", "2026-11-08 12:00"), ev("comment", "2026-11-09 00:00"),
                      client("comment", "2026-11-09 00:00", thread="CHURN-2"))
    samples = latency.client_response(events, TEAM)
    this_week = latency.summarize(samples, WEEK.start, WEEK.end)
    next_week = latency.summarize(samples, WEEK.end, WEEK.end + pd.Timedelta(days=7))
    assert (this_week["n"], this_week["open"], this_week["oldest_open_hours"]) == (0, 1, 12.0)
    assert (next_week["n"], next_week["open"]) == (1, 1)


def test_sample_ending_exactly_at_the_period_start_belongs_to_it() -> None:
    events = timeline(client("comment", "2026-11-01 12:00"), ev("comment", "2026-11-02 00:00"))
    assert latency.summarize(latency.client_response(events, TEAM), WEEK.start, WEEK.end)["n"] == 1


def test_engagement_week_across_dst_change_assigns_samples_by_local_time() -> None:
    """2026-W44 in New York ends Monday 11-02 00:00 EST (05:00 UTC), after clocks fell back."""
    week = iso_week(date(2026, 10, 28), ZoneInfo("America/New_York"))
    assert pd.Timestamp(week.end) - pd.Timestamp(week.start) == pd.Timedelta(hours=169)
    events = timeline(client("comment", "2026-11-01 12:00"), ev("comment", "2026-11-02 04:30"),
                      client("comment", "2026-11-01 12:00", thread="CHURN-2"),
                      ev("comment", "2026-11-02 05:00", thread="CHURN-2"))
    summary = latency.summarize(latency.client_response(events, TEAM), week.start, week.end)
    assert (summary["n"], summary["max_hours"], summary["open"], summary["oldest_open_hours"]) == (1, 16.5, 1, 17.0)


def test_summary_figures_median_p90_max() -> None:
    events = timeline(*[row for hours, thread in ((1, "A-1"), (2, "A-2"), (3, "A-3"), (10, "A-4"))
                        for row in (client("comment", "2026-11-03 09:00", thread=thread),
                                    ev("comment", f"2026-11-03 {9 + hours:02d}:00", thread=thread))])
    summary = latency.summarize(latency.client_response(events, TEAM), WEEK.start, WEEK.end)
    assert summary == {"n": 4, "median_hours": 2.5, "p90_hours": 7.9, "max_hours": 10.0,
                       "median_working_hours": 2.5, "open": 0, "oldest_open_hours": None}


def test_oldest_open_is_measured_at_now_when_the_period_is_not_over() -> None:
    events = timeline(client("comment", "2026-11-03 09:00"), client("comment", "2026-11-05 09:00", thread="A-2"))
    summary = latency.summarize(latency.client_response(events, TEAM), WEEK.start, WEEK.end,
                                now=pd.Timestamp("2026-11-04 09:00", tz="UTC"))
    assert (summary["open"], summary["oldest_open_hours"]) == (1, 24.0)


def test_open_waits_are_measured_at_the_period_end_or_now_whichever_is_earlier() -> None:
    now = pd.Timestamp("2026-11-04 09:00", tz="UTC")  # a Wednesday of 2026-W45
    assert latency.open_wait_moment(WEEK.end, now) == now
    assert latency.open_wait_moment(WEEK.start, now) == pd.Timestamp(WEEK.start)


def test_oldest_open_of_a_running_period_is_never_measured_into_the_future() -> None:
    """No ``now`` given: the clock. A question asked 3 h ago in a period ending in 30 days is 3 h old."""
    asked = pd.Timestamp.now(tz="UTC").floor("min") - pd.Timedelta(hours=3)
    samples = latency.client_response(timeline(client("comment", asked.isoformat())), TEAM)
    summary = latency.summarize(samples, asked - pd.Timedelta(days=1), asked + pd.Timedelta(days=30))
    assert summary["open"] == 1
    assert 3.0 <= summary["oldest_open_hours"] < 3.1  # measured now, not 30 days on (723 h)


def test_empty_history_gives_empty_summaries_for_every_latency() -> None:
    samples = latency.compute_all_latencies(timeline(), Config())
    assert set(samples) == set(latency.LATENCIES)
    for frame in samples.values():
        assert latency.summarize(frame, WEEK.start, WEEK.end) == {
            "n": 0, "median_hours": None, "p90_hours": None, "max_hours": None,
            "median_working_hours": None, "open": 0, "oldest_open_hours": None}


def test_events_after_now_are_ignored() -> None:
    events = timeline(client("comment", "2026-11-03 09:00"), ev("comment", "2026-11-05 09:00"))
    samples = latency.compute_all_latencies(events, Config(), now=pd.Timestamp("2026-11-04 09:00", tz="UTC"))
    assert spans(samples["client_response"]) == [("11-03 09:00", "open", None)]


@pytest.mark.parametrize("name", latency.LATENCIES)
def test_every_latency_documents_start_end_and_exclusions(name: str) -> None:
    doc = latency.METRICS[name].__doc__ or ""
    assert "Starts:" in doc and "Ends:" in doc and "Exclude" in doc
