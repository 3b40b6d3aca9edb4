"""The Today page answers the client's first question first: is anything waiting on me?

Its order is the question's: the strip (what waits on the visitor's side, oldest first), the KPI
against its target with the latest run, the waits at full width, alerts, then the activity counts with
the by-source breakdown folded. A client sees how fresh the data is, never server paths or error texts,
and how many internal items the client view leaves out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from seed import seeded_engagement
from streamlit.testing.v1 import AppTest

from dashboard import loaders
from glassbox.config import load_config
from glassbox.metrics.runs import RUN_EVENT_CATEGORIES
from glassbox.timeline import load_timeline
from glassbox.views import View
from glassbox.workspace import open_engagement

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")


@pytest.fixture(scope="module")
def engagement(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_engagement(tmp_path_factory.mktemp("today"))


def today(config: Path, monkeypatch: pytest.MonkeyPatch, view: str = "Team") -> AppTest:
    monkeypatch.setenv("GLASSBOX_CONFIG", str(config))
    monkeypatch.delenv("GLASSBOX_DB_URL", raising=False)
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    if view != "Team":
        app.segmented_control(key="view").set_value(view).run()
    assert not app.exception, app.exception[0].value if app.exception else ""
    return app


def subheaders(app: AppTest) -> list[str]:
    return [element.value for element in app.subheader]


def test_the_page_opens_with_what_waits_then_the_kpi_then_the_activity(engagement: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    app = today(engagement, monkeypatch)
    assert subheaders(app) == ["Experiments", "Waiting", "Alerts", "Activity", "Tickets moved", "Sources"]
    assert [expander.label for expander in app.expander] == ["By source and by person"]
    assert not [box for box in app.selectbox if box.label == "Period"], "Today has its own window: no Period control"


def test_the_strip_names_the_oldest_wait_on_the_visitors_side(engagement: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The strip and the Waiting section below it agree: the same count, the same oldest thread."""
    for view, label, who in (("Team", "On the team", "the team"), ("Client", "On the client", "you")):
        app = today(engagement, monkeypatch, view)
        heading = next(element.value for element in app.markdown if element.value.startswith(f"**{label}**"))
        count = int(heading.rsplit("· ", 1)[1])
        if count == 0:
            assert app.success[0].value == f"Nothing is waiting on {who}."
            continue
        tables = [table.value for table in app.dataframe if "Why" in table.value.columns]
        oldest = tables[0 if label == "On the team" else -1].iloc[0]
        strip = app.warning[0].value
        assert strip.startswith(f"**Waiting on {who}: {count}** — {oldest['Thread'].replace('-', chr(92) + '-')}")
        assert f"({oldest['Waiting']}, {oldest['Why']})" in strip.replace("\\", "")


def test_a_client_sees_how_fresh_the_data_is_and_how_much_is_hidden(engagement: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    app = today(engagement, monkeypatch, "Client")
    captions = [element.value for element in app.caption]
    assert any(caption.startswith("Data as of ") for caption in captions)
    assert any("internal item" in caption and "hidden in the client view" in caption for caption in captions)
    shown = [table.value for table in app.dataframe]
    assert not any("Where" in frame.columns or "Problem" in frame.columns for frame in shown), \
        "no server paths or problem texts for a client"
    team = today(engagement, monkeypatch)
    assert any("Where" in table.value.columns for table in team.dataframe), "the team keeps the Sources table"


def test_each_ticket_opens_its_story(engagement: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Today's waits and moved tickets link to the Ticket story page; a pull request has no story link."""
    app = today(engagement, monkeypatch)
    tables = [table.value for table in app.dataframe if "Story" in table.value.columns]
    assert tables, "the waits and the moved tickets carry a Story column"
    for frame in tables:
        key = "Ticket" if "Ticket" in frame.columns else "Thread"
        for thread, link in zip(frame[key], frame["Story"], strict=True):
            if "#" in thread:  # acme/churn#7: a pull request
                assert link == "", "an empty cell, not Streamlit's None"
            else:
                assert link == f"story?ticket={thread}"


def test_the_period_picked_elsewhere_survives_a_visit_to_today(engagement: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    app = today(engagement, monkeypatch)
    app.switch_page("views/timeline.py").run()
    app.selectbox(key="period").set_value("Last 12 weeks").run()
    app.switch_page("views/today.py").run()
    assert not [box for box in app.selectbox if box.label == "Period"]
    app.switch_page("views/timeline.py").run()
    assert app.selectbox(key="period").value == "Last 12 weeks"


@pytest.mark.parametrize("view", ["Team", "Client"])
def test_the_activity_counts_are_the_windows_events_counted(engagement: Path, monkeypatch: pytest.MonkeyPatch,
                                                             view: str) -> None:
    """Counted from the day counts, the cards and the by-person table say what the window's events say."""
    app = today(engagement, monkeypatch, view)
    config = load_config(engagement)
    window = loaders.since_previous_working_day(config, datetime.now(UTC))
    events = load_timeline(open_engagement(config), config, start=window.start, end=window.end,
                           view=View(view.lower()))
    assert len(events), "the seed has activity since the previous working day"
    shown = {metric.label: metric.value for metric in app.metric}
    for label, categories in (("Commits", ("commit",)), ("Comments", ("comment", "review")),
                              ("Tickets moved", ("ticket_transition",))):
        assert shown[label] == str(int(events["category"].isin(categories).sum())), label
    people = next(table.value for table in app.dataframe if "actor" in table.value.columns)
    not_runs = events.loc[~events["category"].isin(RUN_EVENT_CATEGORIES)].groupby("actor").size()
    runs = people.get("runs", pd.Series(0, index=people.index))
    assert dict(zip(people["actor"], people["total"] - runs, strict=True)) == not_runs.to_dict()
