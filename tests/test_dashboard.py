"""The Streamlit dashboard under AppTest: every page on a seeded store and on an empty one, plus the
interactions a client relies on (filters narrow the timeline; the client view hides internal work).

AppTest runs the real ``dashboard/app.py`` — navigation, sidebar, cached loaders — in-process against
a real SQLite store written by :mod:`seed`; only the browser is missing (``test_browser`` adds it).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import streamlit as st
from seed import INTERNAL_TICKET, INTERNAL_TITLE, seeded_engagement, write_config
from sqlalchemy import Engine, event
from streamlit.testing.v1 import AppTest

from dashboard import components, context, loaders
from glassbox.config import load_config
from glassbox.metrics import chart_data
from glassbox.metrics.latency import compute_all_latencies
from glassbox.periods import parse_week
from glassbox.reports import render_model
from glassbox.schema import JIRA_TICKETS
from glassbox.timeline import load_timeline
from glassbox.views import View
from glassbox.workspace import open_engagement

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
PAGES = {
    "today": ["Experiments", "Waiting", "Alerts", "Activity", "Tickets moved", "Sources"],
    "timeline": [],
    "experiments": ["Runs", "Compare runs"],
    "feedback": ["This period", "Waiting now", "Ticket flow"],
    "weekly_report": ["From the team", "Downloads", "At a glance", "Experiments", "Response times"],
}
TITLES = {"today": "Today", "timeline": "Timeline", "experiments": "Experiments", "feedback": "Feedback loops",
          "weekly_report": "Weekly report"}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_engagement(tmp_path_factory.mktemp("seeded"))


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A configured engagement whose store has never been synced."""
    folder = tmp_path_factory.mktemp("empty")
    return write_config(folder, f"sqlite:///{folder / 'glassbox.db'}")


def open_page(page: str, config: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("GLASSBOX_CONFIG", str(config))
    monkeypatch.delenv("GLASSBOX_DB_URL", raising=False)
    app = AppTest.from_file(APP, default_timeout=60)
    app.switch_page(f"views/{page}.py")
    app.run()
    return app


def texts(app: AppTest) -> str:
    parts = [element.value for kind in ("title", "subheader", "markdown", "caption", "info", "warning")
             for element in getattr(app, kind)]
    return "\n".join(str(part) for part in parts)


def table_with(app: AppTest, column: str) -> pd.DataFrame:
    """The first table on the page that has ``column``."""
    return next(table.value for table in app.dataframe if column in table.value.columns)


def timeline_rows(app: AppTest) -> pd.DataFrame:
    frames = [table.value for table in app.dataframe]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@pytest.mark.parametrize("page", list(PAGES))
def test_page_renders_on_a_seeded_store(page: str, seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_page(page, seeded, monkeypatch)
    assert not app.exception, app.exception[0].value if app.exception else ""
    assert not app.error
    assert app.title[0].value == TITLES[page]
    shown = texts(app)
    for heading in PAGES[page]:
        assert heading in shown
    assert len(app.dataframe) > 0


@pytest.mark.parametrize("page", ["today", "timeline", "weekly_report"])
def test_a_row_without_a_web_page_shows_a_dash_in_its_link_column(page: str, seeded: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit made locally or a ticket from an export has no URL: its Link cell says "—", not "None"."""
    app = open_page(page, seeded, monkeypatch)
    linked = [table for table in app.dataframe if "Link" in table.value.columns]
    assert linked
    assert all(table.proto.placeholder == "—" for table in linked)


@pytest.mark.parametrize("page", list(PAGES))
def test_page_renders_on_an_empty_store(page: str, empty: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing synced yet: no exception, and the page says what to do instead of drawing empty charts."""
    app = open_page(page, empty, monkeypatch)
    assert not app.exception, app.exception[0].value if app.exception else ""
    assert not app.error
    assert app.title[0].value == TITLES[page]
    if page in ("timeline", "experiments"):
        assert app.info and "sync" in texts(app)


def test_a_broken_config_is_one_sentence_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "glassbox.toml"
    config.write_text("[engagement]\nnmae = 'typo'\n", encoding="utf-8")
    app = open_page("today", config, monkeypatch)
    assert not app.exception
    assert "unknown key 'engagement.nmae'" in app.error[0].value
    assert "No engagement to show yet." in texts(app)


def test_the_source_filter_narrows_the_timeline(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_page("timeline", seeded, monkeypatch)
    everything = timeline_rows(app)
    app.multiselect(key="tl_sources").set_value(["jira"]).run()
    jira = timeline_rows(app)
    assert set(everything["Source"]) == {"GitHub", "Git", "Jira", "MLflow"}
    assert set(jira["Source"]) == {"Jira"}
    assert 0 < len(jira) < len(everything)


def test_search_and_ticket_filter_find_one_thread(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_page("timeline", seeded, monkeypatch)
    app.text_input(key="tl_search").input("churned").run()
    found = timeline_rows(app)
    assert len(found) > 0 and found["Title"].str.contains("churned", case=False).any()
    app.text_input(key="tl_search").input("").run()
    app.selectbox(key="tl_ticket").set_value("CHURN-500").run()
    assert set(timeline_rows(app)["Thread"]) == {"CHURN-500"}


def test_the_timeline_dates_follow_the_sidebar_period_and_end_today(seeded: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Changing the sidebar period after opening the page moves the date filter; the range never runs past today."""
    app = open_page("timeline", seeded, monkeypatch)
    tz = ZoneInfo(load_config(seeded).engagement.timezone)
    today = datetime.now(tz).date()
    monday = today - timedelta(days=today.weekday())
    # "Last 4 weeks": from the Monday three weeks before this week's, to today (not to Sunday)
    assert app.date_input[0].value == (monday - timedelta(weeks=3), today)

    app.selectbox(key="period").set_value("Last 12 weeks").run()

    # eleven weeks before this week's Monday, still to today
    assert app.date_input[0].value == (monday - timedelta(weeks=11), today)
    app.selectbox(key="period").set_value("Last week").run()
    # last week is over: its own Monday to Sunday
    assert app.date_input[0].value == (monday - timedelta(weeks=1), monday - timedelta(days=1))


def test_the_client_view_hides_the_internal_ticket(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_page("timeline", seeded, monkeypatch)
    team = timeline_rows(app)
    assert (team["Thread"] == INTERNAL_TICKET).any()
    app.segmented_control(key="view").set_value("Client").run()
    client = timeline_rows(app)
    assert not app.exception
    assert not (client["Thread"] == INTERNAL_TICKET).any()
    assert not client["Title"].str.contains(INTERNAL_TITLE).any()
    assert not client["Title"].str.contains(INTERNAL_TICKET).any(), "a commit naming it would reveal it"
    assert len(client) < len(team)


def test_child_runs_unfold_under_their_parent(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_page("experiments", seeded, monkeypatch)
    folded = table_with(app, "Run")
    assert not folded["Run"].str.startswith("↳").any()
    app.toggle(key="exp_children").set_value(True).run()
    unfolded = table_with(app, "Run")
    parent = unfolded.index[unfolded["Run"] == "sweep-depth"][0]
    children = unfolded["Run"].iloc[parent + 1: parent + 4]
    assert sorted(children) == ["↳ sweep-depth-4", "↳ sweep-depth-6", "↳ sweep-depth-8"]


def test_the_runs_listed_are_the_periods_unless_the_whole_engagement_is_asked_for(
        seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_page("experiments", seeded, monkeypatch)
    config = load_config(seeded)
    every_run = loaders.runs(loaders.Source(str(seeded), config.store_url, engagement=config.engagement_id), View.TEAM)
    top = every_run.loc[every_run["top_level"] & (every_run["experiment"] == "churn")]
    period = context._period(context.DEFAULT_PERIOD, config.engagement.zone, None)
    listed = table_with(app, "Run")
    assert len(listed) == int(((top["started_at"] >= period.start) & (top["started_at"] < period.end)).sum())
    app.toggle(key="exp_all").set_value(True).run()
    assert not app.exception
    assert len(table_with(app, "Run")) == len(top) > len(listed), "every run the engagement had"


def test_comparing_runs_shows_changed_params_one_column_per_run(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_page("experiments", seeded, monkeypatch)
    picked = app.multiselect(key="exp_compare")
    assert len(picked.value) == 2, "the best run and the newest other one by default"
    params = table_with(app, "Parameter")
    assert list(params.columns)[0] == "Parameter" and list(params.columns)[-1] == "Changed"
    assert len(params.columns) == 2 + 2
    a, b = params.columns[1:3]
    assert list(params["Changed"]) == [repr(x) != repr(y) for x, y in zip(params[a], params[b], strict=True)]
    assert params["Changed"].any(), "the best run and the newest differ somewhere"
    config = load_config(seeded)
    every_run = loaders.runs(loaders.Source(str(seeded), config.store_url, engagement=config.engagement_id), View.TEAM)
    third = next(run for run in every_run["run_id"] if run not in picked.value)
    picked.set_value([*picked.value, third]).run()
    assert not app.exception
    assert len(table_with(app, "Parameter").columns) == 2 + 3, "a third run is a third column"
    assert "val_auc" in set(table_with(app, "Metric")["Metric"])


def test_no_config_anywhere_shows_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first run with no config builds the demo and says plainly that it is one."""
    demo = seeded_engagement(tmp_path / "demo-built")
    monkeypatch.delenv("GLASSBOX_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(context, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(context, "_demo_config", lambda: demo)
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception
    assert any("This is a demo" in warning.value for warning in app.warning)


@pytest.mark.parametrize("page", ["today", "timeline", "weekly_report"])
def test_page_renders_on_postgresql(page: str, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A team's shared PostgreSQL store reads the same as the embedded SQLite one."""
    config = seeded_engagement(tmp_path / "pg", store_url=pg_url)
    app = open_page(page, config, monkeypatch)
    assert not app.exception, app.exception[0].value if app.exception else ""
    assert not app.error
    assert len(app.dataframe) > 0


def test_weekly_report_offers_every_format(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_page("weekly_report", seeded, monkeypatch)
    assert app.segmented_control(key="report_format").options == ["MD", "HTML", "CSV", "JSON", "PDF"]
    for fmt in ("md", "html", "csv", "json", "pdf"):
        app.segmented_control(key="report_format").set_value(fmt).run()
        assert not app.exception
        labels = [button.proto.label for button in app.get("download_button")]
        assert labels == [f"Client copy — safe to forward · {fmt.upper()}", f"Team copy — internal · {fmt.upper()}"]
    week = app.selectbox(key="report_week")
    assert "last week" in week.format_func(week.value)
    config = load_config(seeded)
    period = parse_week("last", config.engagement.zone, datetime.now(config.engagement.zone).date())
    source = loaders.Source(str(seeded), config.store_url, engagement=config.engagement_id)
    report = json.loads(render_model(loaders.report(source, View.CLIENT, period, None), "json"))
    assert report["view"] == "client" and report["period"]["label"] == period.label


def test_a_custom_period_drives_every_page(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_page("experiments", seeded, monkeypatch)
    app.selectbox(key="period").set_value("Custom range").run()
    assert app.date_input(key="custom_range")
    assert not app.exception
    assert ".." in texts(app), "the caption names the custom period"


def test_the_feedback_page_and_the_report_trend_over_the_same_weeks(seeded: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """One trend length: the Feedback page used its own 8 weeks against the report's 6."""
    app = open_page("feedback", seeded, monkeypatch)
    assert "Week by week (last 6 weeks)" in texts(app)
    config = load_config(seeded)
    history = load_timeline(open_engagement(config), config)
    period = parse_week("last", config.engagement.zone, datetime.now(config.engagement.zone).date())
    trend = chart_data.latency_trend(compute_all_latencies(history, config), period)
    assert chart_data.TREND_WEEKS == 6 and trend["week"].nunique() == 6  # last week and the five before it


def test_a_rerun_draws_the_same_charts_without_building_them_again(seeded: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An Altair chart takes 14 ms to build and the Feedback page draws one per latency: a rerun over
    the same data reuses each (``components._built``), and draws the same specs."""
    import glassbox.charts

    built: list[str] = []
    trend = glassbox.charts.latency_trend
    monkeypatch.setattr(glassbox.charts, "latency_trend",
                        lambda *args, **kwargs: built.append(kwargs["title"]) or trend(*args, **kwargs))
    components._built.clear()  # another test may have drawn these already
    app = open_page("feedback", seeded, monkeypatch)
    first, specs = len(built), [chart.proto.spec for chart in app.get("vega_lite_chart")]
    assert first >= 2 and specs
    app.run()
    assert len(built) == first
    assert [chart.proto.spec for chart in app.get("vega_lite_chart")] == specs


def test_the_pages_read_the_jira_tickets_keys_once_until_a_write(seeded: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """With Jira configured nearly every loader asks which Jira projects the store holds (0.05 s at 1M
    events): the engagement's store is kept across loaders and reruns, and with it the keys it read."""
    reads: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if JIRA_TICKETS in statement:
            reads.append(statement)

    st.cache_data.clear()
    st.cache_resource.clear()
    event.listen(Engine, "before_cursor_execute", record)
    try:
        for page in ("today", "timeline", "feedback", "weekly_report"):
            assert not open_page(page, seeded, monkeypatch).exception
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert len(reads) == 1


def test_story_page_tells_the_ticket_named_in_the_address(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLASSBOX_CONFIG", str(seeded))
    monkeypatch.delenv("GLASSBOX_DB_URL", raising=False)
    app = AppTest.from_file(APP, default_timeout=60)
    app.switch_page("views/story.py")
    app.query_params["ticket"] = "CHURN-1"
    app.run()
    assert not app.exception, app.exception[0].value if app.exception else ""
    assert app.title[0].value == "Ticket story"
    assert "**Created**" in texts(app)
    assert app.selectbox(key="story_ticket").value == "CHURN-1"


def test_story_page_on_an_empty_store_says_what_to_do(empty: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_page("story", empty, monkeypatch)
    assert not app.exception, app.exception[0].value if app.exception else ""
    assert app.info and "Sync" in texts(app)


def test_a_demo_built_with_demo_dir_says_it_is_a_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m glassbox demo --dir D`` prints GLASSBOX_CONFIG=D/glassbox.toml: the banner shows there too."""
    from glassbox.workspace import DEMO_MANIFEST

    config = seeded_engagement(tmp_path / "built")
    plain = open_page("today", config, monkeypatch)
    assert not any("This is a demo" in warning.value for warning in plain.warning)
    (config.parent / DEMO_MANIFEST).write_text("{}", encoding="utf-8")
    marked = open_page("today", config, monkeypatch)
    assert any("This is a demo" in warning.value for warning in marked.warning)


def test_a_noisy_week_shows_a_page_of_alerts_and_counts_the_rest() -> None:
    """A search dropping below the best 420 times a week drew 420 warnings on Today and the Weekly report."""
    def page() -> None:
        from dashboard.components import show_alerts
        show_alerts([{"kind": "metric_drop", "message": f"run r{n} fell"} for n in range(20)])

    app = AppTest.from_function(page).run()
    assert [warning.value for warning in app.warning] == [f"run r{n} fell" for n in range(5, 20)]
    assert app.caption[0].value == "…and 5 more metric drops; the Experiments page shows every run against the best."
