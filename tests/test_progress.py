"""Daily progress per engagement day and side, and what happened since the previous working day."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd

from glassbox.config import Config
from glassbox.metrics.progress import daily_progress, since_previous_working_day

NY = ZoneInfo("America/New_York")
_ids = itertools.count()
COLUMNS = ["id", "source", "sources", "origin", "category", "occurred_at", "actor", "actor_id", "side",
           "thread", "title", "url", "labels", "attrs", "refs", "ref_kinds"]
CONFIG = Config.model_validate({"engagement": {"timezone": "America/New_York"},
                                "team": {"timezone": "Europe/Berlin"}})


def ev(category: str, at: str, actor: str = "ana", side: str = "team", thread: str = "CHURN-1") -> dict:
    return {"id": f"e{next(_ids)}", "source": "jira", "sources": ["jira"], "origin": "o", "category": category,
            "occurred_at": pd.Timestamp(at, tz="UTC"), "actor": actor, "actor_id": actor, "side": side,
            "thread": thread, "title": f"{category} {thread}", "url": None, "labels": [], "attrs": {},
            "refs": [], "ref_kinds": []}


def timeline(*rows: dict) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=COLUMNS)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return frame


EVENTS = timeline(
    ev("commit", "2026-11-02 15:00"),
    ev("commit", "2026-11-03 04:00", actor="ben"),  # 23:00 on 11-02 in New York
    ev("ticket_transition", "2026-11-02 16:00"),
    ev("ticket_transition", "2026-11-02 17:00"),
    ev("ticket_transition", "2026-11-02 18:00", thread="CHURN-2"),
    ev("pull_request_merged", "2026-11-03 15:00", thread="acme/churn#7"),
    ev("run_started", "2026-11-03 16:00", thread="churn"),
    ev("comment", "2026-11-03 16:00", actor="carol", side="client"),
    ev("comment", "2026-11-03 17:00", actor="bot[bot]", side="bot"),
)


def test_days_are_engagement_days_split_by_side() -> None:
    start, end = datetime(2026, 11, 2, tzinfo=NY), datetime(2026, 11, 4, tzinfo=NY)
    rows = daily_progress(EVENTS, "America/New_York", start, end).set_index(["day", "side"])
    monday = rows.loc[(date(2026, 11, 2), "team")]
    assert (monday["commits"], monday["tickets_moved"], monday["active_people"]) == (2, 2, 2)
    tuesday = rows.loc[(date(2026, 11, 3), "team")]
    assert (tuesday["pull_requests_merged"], tuesday["runs"], tuesday["commits"]) == (1, 1, 0)
    assert rows.loc[(date(2026, 11, 3), "client"), "active_people"] == 1
    assert rows.loc[(date(2026, 11, 3), "bot"), "active_people"] == 1
    assert len(rows) == 2 * 3


def test_quiet_days_have_zero_rows() -> None:
    start, end = datetime(2026, 11, 7, tzinfo=NY), datetime(2026, 11, 9, tzinfo=NY)
    rows = daily_progress(EVENTS, "America/New_York", start, end)
    assert len(rows) == 6
    assert rows[["commits", "runs", "active_people"]].to_numpy().sum() == 0


def test_day_of_a_dst_change_is_one_row_of_25_hours() -> None:
    """2026-11-01 in New York lasts 25 hours; an event at 04:30 UTC on 11-02 still belongs to it."""
    start, end = datetime(2026, 11, 1, tzinfo=NY), datetime(2026, 11, 2, tzinfo=NY)
    rows = daily_progress(timeline(ev("commit", "2026-11-02 04:30")), "America/New_York", start, end)
    assert rows.loc[rows["side"] == "team", "commits"].tolist() == [1]


def test_monday_morning_sees_everything_since_friday() -> None:
    events = timeline(ev("commit", "2026-11-05 20:00"),  # Thursday: too old
                      ev("commit", "2026-11-06 14:00"), ev("ticket_transition", "2026-11-07 14:00"),
                      ev("pull_request_merged", "2026-11-09 13:00", thread="acme/churn#7"))
    recent = since_previous_working_day(events, CONFIG, datetime(2026, 11, 9, 9, tzinfo=NY))
    assert recent["since"] == "2026-11-06T00:00:00-05:00"
    assert [item["at"] for item in recent["commits"]] == ["2026-11-06T09:00:00-05:00"]
    assert [item["thread"] for item in recent["tickets_moved"]] == ["CHURN-1"]
    assert [item["thread"] for item in recent["pull_requests_merged"]] == ["acme/churn#7"]
    assert recent["runs"] == []
