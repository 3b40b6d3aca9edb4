"""Working agreements (SPEC §7) on hand-built timelines: in time, kept, open past the limit, paused tickets."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from test_latency import client, ev, moved, timeline

from glassbox.cli import main
from glassbox.config import Agreement, Team, load_config
from glassbox.errors import ConfigError
from glassbox.metrics import latency
from glassbox.metrics.agreements import (
    AgreementFrames,
    agreement_figures,
    breaching_waits,
    ticket_pause_intervals,
)
from glassbox.reports.content import ReportContent
from glassbox.reports.markdown import render_markdown
from glassbox.vocabulary import agreement_sentence

UTC_TEAM = Team(timezone="UTC", working_hours="09:00-18:00")
WEEK_START = datetime.fromisoformat("2026-11-23T00:00:00+00:00")  # Monday of 2026-W48
WEEK_END = datetime.fromisoformat("2026-11-30T00:00:00+00:00")
NOW = datetime.fromisoformat("2026-12-02T12:00:00+00:00")


def frames_of(events: pd.DataFrame, team: Team = UTC_TEAM) -> AgreementFrames:
    samples = {name: metric(events, team) for name, metric in latency.METRICS.items()
               if name != "commit_to_run"}
    return AgreementFrames(samples, ticket_pause_intervals(events), team)


def asked(thread: str, at: str, answered: str | None) -> list[dict]:
    rows = [client("comment", at, thread=thread)]
    if answered:
        rows.append(ev("comment", answered, thread=thread))
    return rows


def client_questions() -> pd.DataFrame:
    """Five answered questions of 2026-W48 and two still open at its end (UTC team, 09-18, Mon-Fri).

    Working hours / calendar hours: A 2/2, B 2/17, C 7/70 (asked Friday evening), D 10/25,
    E 8/8; open at the week's end F since Thu 09:00 (18/87), G since Fri 16:00 (2/56).
    """
    return timeline(
        *asked("C", "2026-11-20 17:00", "2026-11-23 15:00"),
        *asked("A", "2026-11-23 10:00", "2026-11-23 12:00"),
        *asked("B", "2026-11-23 17:00", "2026-11-24 10:00"),
        *asked("D", "2026-11-24 09:00", "2026-11-25 10:00"),
        *asked("E", "2026-11-25 09:00", "2026-11-25 17:00"),
        *asked("F", "2026-11-26 09:00", None),
        *asked("G", "2026-11-27 16:00", None),
    )


def test_working_hour_agreement_counts_waits_within_the_limit_and_open_ones_past_it() -> None:
    agreement = Agreement(latency="client_response", within_working_hours=8, target_share=0.9)
    figures = agreement_figures(agreement, frames_of(client_questions()), WEEK_START, WEEK_END, NOW)
    # A, B, C and E (exactly 8 working hours counts as in time) of five; F is 18 working hours old
    assert figures == {"latency": "client_response", "within_hours": None, "within_working_hours": 8,
                       "target_share": 0.9, "n": 5, "in_time": 4, "share": 0.8, "met": False,
                       "open_breaching": 1}
    assert agreement_sentence(figures) == ("client messages answered within 8 working hours: 4 of 5, agreed 90%"
                                           " — not kept; 1 still open past the limit")


def test_calendar_hour_agreement_measures_calendar_hours() -> None:
    agreement = Agreement(latency="client_response", within_hours=24, target_share=0.6)
    figures = agreement_figures(agreement, frames_of(client_questions()), WEEK_START, WEEK_END, NOW)
    # A 2, B 17, E 8 in time; C 70 and D 25 late; F 87 and G 56 hours open at the week's end
    assert (figures["n"], figures["in_time"], figures["share"], figures["met"], figures["open_breaching"]) \
        == (5, 3, 0.6, True, 2)


def test_an_agreement_with_no_wait_ending_has_no_share() -> None:
    agreement = Agreement(latency="pr_pickup", within_hours=4)
    figures = agreement_figures(agreement, frames_of(client_questions()), WEEK_START, WEEK_END, NOW)
    assert (figures["n"], figures["share"], figures["met"], figures["open_breaching"]) == (0, None, None, 0)
    assert agreement_sentence(figures) == "pull requests reviewed within 4 hours: none ended this period, agreed 100%"


def test_open_waits_are_measured_at_now_for_a_week_still_running() -> None:
    agreement = Agreement(latency="client_response", within_working_hours=8)
    during = datetime.fromisoformat("2026-11-26T12:00:00+00:00")  # Thursday noon: F has waited 3 working hours
    figures = agreement_figures(agreement, frames_of(client_questions()), WEEK_START, WEEK_END, during)
    assert figures["open_breaching"] == 0


def paused_ticket() -> pd.DataFrame:
    """Created Mon 08:00, in progress 09:00, waiting for the client Mon 12:00 to Wed 12:00, done Wed 15:00."""
    return timeline(
        ev("ticket_created", "2026-11-23 08:00", status_category="new", waiting=False),
        moved("2026-11-23 09:00", "indeterminate", "new", waiting=False),
        moved("2026-11-23 12:00", "indeterminate", "indeterminate", waiting=True),
        client("comment", "2026-11-24 11:00"),
        moved("2026-11-25 12:00", "indeterminate", "indeterminate", waiting=False),
        moved("2026-11-25 15:00", "done", "indeterminate", waiting=False),
    )


def test_pause_intervals_run_from_entering_a_waiting_status_to_leaving_it() -> None:
    pauses = ticket_pause_intervals(paused_ticket())
    assert list(pauses.itertuples(index=False, name=None)) == [
        ("CHURN-1", pd.Timestamp("2026-11-23 12:00", tz="UTC"), pd.Timestamp("2026-11-25 12:00", tz="UTC"))]


def test_ticket_cycle_and_lead_agreements_pause_while_the_ticket_waits_for_the_client() -> None:
    frames = frames_of(paused_ticket())
    cycle = Agreement(latency="ticket_cycle", within_hours=8)
    lead = Agreement(latency="ticket_lead", within_hours=8)
    # cycle 54 calendar hours less 48 paused = 6; lead 55 less 48 = 7: both in time
    assert frames.of(cycle)["hours"].tolist() == [6.0]
    assert frames.of(lead)["hours"].tolist() == [7.0]
    assert agreement_figures(cycle, frames, WEEK_START, WEEK_END, NOW)["in_time"] == 1
    # working hours: Mon 9-18, Tue, Wed 9-15 = 24, less the pause's Mon 12-18, Tue, Wed 9-12 = 18
    working = Agreement(latency="ticket_cycle", within_working_hours=6)
    assert frames.of(working)["working_hours"].tolist() == [6.0]
    assert agreement_figures(working, frames, WEEK_START, WEEK_END, NOW)["met"] is True
    # client_response is not paused: the latency figures themselves are untouched
    assert frames.samples["ticket_cycle"]["hours"].tolist() == [54.0]


def test_a_ticket_still_waiting_for_the_client_is_not_breaching() -> None:
    events = timeline(
        ev("ticket_created", "2026-11-23 08:00", status_category="new", waiting=False),
        moved("2026-11-23 09:00", "indeterminate", "new", waiting=False),
        moved("2026-11-23 10:00", "indeterminate", "indeterminate", waiting=True),
    )
    frames = frames_of(events)
    cycle = Agreement(latency="ticket_cycle", within_hours=8)
    assert agreement_figures(cycle, frames, WEEK_START, WEEK_END, NOW)["open_breaching"] == 0
    unpaused = Agreement(latency="ticket_lead", within_hours=1)  # 2 hours of team time before the pause
    assert agreement_figures(unpaused, frames, WEEK_START, WEEK_END, NOW)["open_breaching"] == 1


def test_working_hour_limits_follow_daylight_saving() -> None:
    """New York leaves daylight saving on Sunday 1 Nov 2026: Friday 17:00 EDT to Monday 10:00 EST is
    2 working hours (one each side of the weekend), not 3 as a fixed UTC offset would count."""
    team = Team(timezone="America/New_York", working_hours="09:00-18:00")
    events = timeline(*asked("X", "2026-10-30 21:00", "2026-11-02 15:00"))  # UTC instants
    agreement = Agreement(latency="client_response", within_working_hours=2)
    start = datetime(2026, 10, 26, tzinfo=ZoneInfo("America/New_York"))
    end = datetime(2026, 11, 9, tzinfo=ZoneInfo("America/New_York"))
    frames = frames_of(events, team)
    assert frames.of(agreement)["working_hours"].tolist() == [2.0]
    assert agreement_figures(agreement, frames, start, end, NOW)["in_time"] == 1


def test_breaching_waits_lists_open_waits_past_their_limit_most_overdue_first() -> None:
    agreements = [Agreement(latency="client_response", within_hours=24)]
    found = breaching_waits(agreements, frames_of(client_questions()), WEEK_END)
    assert found["thread"].tolist() == ["F", "G"]  # 87 and 56 hours against 24
    assert found["hours"].round(2).tolist() == [87.0, 56.0]


def test_reports_say_in_words_whether_each_agreement_was_kept() -> None:
    figures = {"latency": "client_response", "within_hours": None, "within_working_hours": 8, "target_share": 0.9,
               "n": 5, "in_time": 5, "share": 1.0, "met": True, "open_breaching": 0}
    report = {"engagement": "Acme", "view": "client",
              "period": {"label": "2026-W48", "start": WEEK_START.isoformat(), "end": WEEK_END.isoformat()},
              "counts": {}, "latency": {}, "links": {}, "experiments": [], "alerts": [], "agreements": [figures]}
    text = render_markdown(ReportContent.from_report(report))
    assert "## Working agreements" in text
    assert "client messages answered within 8 working hours: 5 of 5, agreed 90% — kept" in text.replace("\\", "")


@pytest.mark.parametrize(("section", "problem"), [
    ('latency = "client_response"\nwithin_hours = 4\nwithin_working_hours = 8',
     "key 'agreement[0]': give exactly one of within_hours or within_working_hours"),
    ('latency = "client_response"', "key 'agreement[0]': give exactly one of within_hours or within_working_hours"),
    ('latency = "reply_time"\nwithin_hours = 4', "key 'agreement[0].latency': not a latency; expected one of"),
    ('latency = "pr_merge"\nwithin_hours = 4\ntarget_share = 0', "key 'agreement[0].target_share'"),
    ('latency = "pr_merge"\nwithin_hours = 4\ntarget_share = 1.5', "key 'agreement[0].target_share'"),
    ('latency = "pr_merge"\nwithin_hours = -1', "key 'agreement[0].within_hours'"),
    ('latency = "pr_merge"\nwithin_days = 1', "unknown key 'agreement[0].within_days'"),
])
def test_bad_agreements_are_config_errors_naming_the_key_and_file(
        section: str, problem: str, write_config, capsys: pytest.CaptureFixture[str]) -> None:
    path: Path = write_config(f"[[agreement]]\n{section}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value).startswith(f"{path.resolve()}: {problem}")
    assert main(["report", "--config", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and problem in error and "Traceback" not in error


def test_target_share_defaults_to_every_wait() -> None:
    assert Agreement(latency="pr_merge", within_hours=48).target_share == 1.0


def test_report_json_carries_one_agreements_object_per_configured_agreement() -> None:
    from glassbox.config import Config
    from glassbox.periods import parse_week
    from glassbox.report_model import ReportModel

    config = Config(team=UTC_TEAM, agreement=[Agreement(latency="client_response", within_working_hours=8,
                                                        target_share=0.9),
                                              Agreement(latency="pr_merge", within_hours=48)])
    period = parse_week("2026-W48", ZoneInfo("UTC"), WEEK_START.date())
    spec = ReportModel.build(client_questions(), config, period, "team", NOW).spec()
    assert "agreements" in spec
    assert [(a["latency"], a["n"], a["in_time"], a["met"]) for a in spec["agreements"]] == [
        ("client_response", 5, 4, False), ("pr_merge", 0, 0, None)]
