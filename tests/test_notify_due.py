"""What is due (pure): digest days and times, the weekly report's first day, alerts once, sources in trouble;
and the messages' words: hostile titles stay text, chat forms stay short, client messages stay client."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from seed import INTERNAL_TICKET, seeded_engagement

from glassbox.config import Config, Engagement, Notify, Team, load_config
from glassbox.notify.due import Alert, alerts_due, digest_due, source_alerts, weekly_due
from glassbox.notify.kinds import AlertKind, Send
from glassbox.notify.messages import CHAT_LIMIT, alerts_message, digest_message
from glassbox.notify.run import ViewContext
from glassbox.views import View
from glassbox.workspace import open_engagement

BERLIN = Config(engagement=Engagement(timezone="Europe/Berlin"),
                team=Team(timezone="Asia/Ho_Chi_Minh", working_days=["Mon", "Tue", "Wed", "Thu", "Fri"]))
TARGET = Notify(name="acme", to_env="X", digest_at="08:30")
NOTHING: frozenset[tuple[str, str]] = frozenset()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(("now", "day"), [
    ("2026-10-23T08:29:00+02:00", None),            # Friday, a minute early
    ("2026-10-23T08:30:00+02:00", date(2026, 10, 23)),
    ("2026-10-24T09:00:00+02:00", None),            # Saturday
    ("2026-10-25T09:00:00+01:00", None),            # Sunday: Berlin leaves summer time
    ("2026-10-26T07:00:00+00:00", None),            # Monday 07:00 UTC: 08:00 in Berlin now (09:00 in summer)
    ("2026-10-26T07:30:00+00:00", date(2026, 10, 26)),  # 08:30 CET
])
def test_a_digest_is_due_on_working_days_from_digest_at_in_the_engagement_zone(now: str, day: date | None) -> None:
    assert digest_due(at(now), TARGET, BERLIN, NOTHING) == day


def test_a_digest_goes_once_a_day_and_only_to_targets_that_take_it() -> None:
    monday = at("2026-10-26T09:00:00+01:00")
    assert digest_due(monday, TARGET, BERLIN, frozenset({("digest", "2026-10-26")})) is None
    alerts_only = Notify(name="pager", to_env="X", send=[Send.ALERTS])
    assert digest_due(monday, alerts_only, BERLIN, NOTHING) is None


def test_the_weekly_report_is_due_from_the_first_working_day_after_the_week() -> None:
    assert weekly_due(at("2026-10-26T08:00:00+01:00"), TARGET, BERLIN, NOTHING) is None  # before digest_at
    week = weekly_due(at("2026-10-26T08:30:00+01:00"), TARGET, BERLIN, NOTHING)
    assert week is not None and week.label == "2026-W43"
    assert weekly_due(at("2026-10-27T10:00:00+01:00"), TARGET, BERLIN, frozenset({("weekly", "2026-W43")})) is None
    tuesday_start = Config(engagement=BERLIN.engagement, team=Team(working_days=["Tue", "Wed", "Thu", "Fri"]))
    assert weekly_due(at("2026-10-26T09:00:00+01:00"), TARGET, tuesday_start, NOTHING) is None  # Monday is off
    assert weekly_due(at("2026-10-27T09:00:00+01:00"), TARGET, tuesday_start, NOTHING) is not None


def test_each_alert_goes_once() -> None:
    drop = Alert(AlertKind.METRIC_DROP, "churn:run1", "churn: val_auc fell")
    late = Alert(AlertKind.AGREEMENT_BREACHED, "client_response:CHURN-1:2026-10-26T09:00:00+00:00", "late")
    assert alerts_due([drop, late], TARGET, frozenset({("alerts", drop.ledger_key)})) == [late]


def runs(*rows: tuple[int, str, str, str | None]) -> pd.DataFrame:
    """``(id, status, started_at, message)`` sync runs of one jira source, finished a minute after starting."""
    frame = pd.DataFrame([{"id": run_id, "source": "jira", "origin": "https://acme.atlassian.net", "status": status,
                           "started_at": pd.Timestamp(started),
                           "finished_at": pd.Timestamp(started) + pd.Timedelta("1min"),
                           "message": message} for run_id, status, started, message in rows])
    return frame.sort_values("id", ascending=False)


def test_a_failing_source_is_one_alert_per_run_of_failures_and_a_silent_one_goes_stale() -> None:
    history = runs((1, "ok", "2026-10-26T08:00:00Z", None),
                   (2, "failed", "2026-10-26T08:05:00Z", "authentication failed (HTTP 401)"),
                   (3, "failed", "2026-10-26T08:10:00Z", "authentication failed (HTTP 401)"))
    now = at("2026-10-26T09:00:00+00:00")
    team = source_alerts(history, now, with_reasons=True)
    assert [(alert.kind, alert.key) for alert in team] == [
        (AlertKind.SOURCE_FAILED, "jira:https://acme.atlassian.net:2")]  # keyed by the streak's first failure
    assert team[0].text.endswith("the last sync failed — authentication failed (HTTP 401)")
    assert "401" not in source_alerts(history, now, with_reasons=False)[0].text  # a client learns no reason
    later = source_alerts(history, at("2026-10-27T08:02:00+00:00"), with_reasons=False)
    assert [alert.kind for alert in later] == [AlertKind.SOURCE_FAILED, AlertKind.SOURCE_STALE]  # 24 h since run 1
    recovered = runs((1, "ok", "2026-10-26T08:00:00Z", None), (2, "failed", "2026-10-26T08:05:00Z", "x"),
                     (3, "ok", "2026-10-26T08:10:00Z", None))
    assert source_alerts(recovered, now, with_reasons=True) == []


REPORT = {"engagement": "Acme", "counts": {"commits": 2, "runs": 1},
          "waiting": [{"latency": "client_response", "on": "team", "thread": "CHURN-7", "hours": 30.0,
                       "title": "<script>alert('x')</script> & more"},
                      {"latency": "pr_pickup", "on": "team", "thread": "acme/churn#3", "hours": 50.0, "title": "PR"}],
          "experiments": [{"experiment": "churn", "runs": 1, "best": {"metric": "val_auc", "value": 0.861}}],
          "agreements": []}


def test_the_digest_puts_breached_waits_first_and_keeps_hostile_titles_as_text() -> None:
    message = digest_message(REPORT, date(2026, 10, 26), date(2026, 10, 23), [], {("client_response", "CHURN-7")},
                             "https://glassbox.example/acme")
    assert message is not None
    waits = [line for line in message.text.splitlines() if line.startswith("- ") and "on the team" in line]
    assert waits[0].startswith("- past the agreed limit — on the team: CHURN-7")  # breached before the older PR
    assert "<script>" not in message.html and "&lt;script&gt;" in message.html
    assert "best val_auc 0.861" in message.text and "https://glassbox.example/acme" in message.short


def test_a_quiet_day_sends_nothing_and_chat_forms_stay_under_the_teams_limit() -> None:
    quiet = {**REPORT, "counts": {"commits": 0, "runs": 0}}
    assert digest_message(quiet, date(2026, 10, 26), date(2026, 10, 23), [], set(), None) is None
    many = [Alert(AlertKind.METRIC_DROP, f"churn:{n}", "churn: val_auc fell " + "x" * 80) for n in range(40)]
    grouped = alerts_message("Acme", many, None)
    assert grouped.title == "Acme — 40 alerts" and len(grouped.short) <= CHAT_LIMIT
    assert grouped.text.count("\n- ") == 40  # e-mail lists every one


def test_a_client_digest_is_built_in_the_client_view(tmp_path: Path) -> None:
    seeded_at = datetime(2026, 11, 3, 17, 0, tzinfo=UTC)
    config = load_config(seeded_engagement(tmp_path / "acme", now=seeded_at, weeks=1))
    store = open_engagement(config)
    monday = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # the internal ticket is waiting to be started
    team = ViewContext(store, config, View.TEAM, monday).digest_message(date(2026, 11, 2))
    client = ViewContext(store, config, View.CLIENT, monday).digest_message(date(2026, 11, 2))
    assert team is not None and client is not None
    assert INTERNAL_TICKET in team.text
    assert INTERNAL_TICKET not in client.text + client.html + client.short
