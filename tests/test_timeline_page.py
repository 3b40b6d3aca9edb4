"""The Timeline as a person reads it: the ticket picker in ticket order with titles, a comment by its
own first line, one row for a move that resolved a ticket, counts that agree with their number."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from seed import seeded_engagement
from streamlit.testing.v1 import AppTest

from dashboard.components import pages_of_days
from glassbox.config import load_config
from glassbox.events import Event
from glassbox.periods import day_range
from glassbox.timeline import load_timeline
from glassbox.workspace import open_engagement

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")


@pytest.fixture(scope="module")
def engagement(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded engagement with one bot comment today (a *[bot] login is a bot: SPEC §1)."""
    config_path = seeded_engagement(tmp_path_factory.mktemp("timeline"))
    store = open_engagement(load_config(config_path))
    store.write([Event(id="github-bot-comment", source="github", origin="acme/churn", category="comment",
                       occurred_at=datetime.now(UTC) - timedelta(hours=1), actor="dependabot[bot]",
                       thread="acme/churn#1", title="Comment on acme/churn#1", body="Bumps pandas to 3.1",
                       actor_ids=("dependabot[bot]",))])
    return config_path


def timeline(config: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("GLASSBOX_CONFIG", str(config))
    monkeypatch.delenv("GLASSBOX_DB_URL", raising=False)
    app = AppTest.from_file(APP, default_timeout=60)
    app.switch_page("views/timeline.py")
    app.run()
    assert not app.exception, app.exception[0].value if app.exception else ""
    return app


def rows(app: AppTest) -> pd.DataFrame:
    return pd.concat([table.value for table in app.dataframe if "Thread" in table.value.columns], ignore_index=True)


def test_the_ticket_picker_is_in_ticket_order_and_names_each_ticket(engagement: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    picker = timeline(engagement, monkeypatch).selectbox(key="tl_ticket")
    keys = [option.split(" · ", 1)[0] for option in picker.options]
    numbers = [int(key.rsplit("-", 1)[1]) for key in keys if key.startswith("CHURN-")]
    assert numbers == sorted(numbers), "CHURN-2 before CHURN-10"
    assert any(" · " in option for option in picker.options), "a ticket shows its title"


def test_a_comment_reads_as_its_first_line(engagement: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shown = rows(timeline(engagement, monkeypatch))
    comments = shown.loc[shown["What"] == "Comment"]
    assert not comments.empty
    assert not comments["Title"].str.startswith("Comment on").any()
    assert comments["Title"].str.contains("share the numbers", regex=False).any()  # the seed's comment text


def test_a_move_that_resolved_a_ticket_is_one_row(engagement: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shown = rows(timeline(engagement, monkeypatch))
    resolved = shown.loc[shown["What"] == "Ticket resolved", ["Thread", "Time"]]
    moved = shown.loc[shown["What"] == "Ticket moved", ["Thread", "Time"]]
    assert not resolved.empty
    assert resolved.merge(moved, on=["Thread", "Time"]).empty, "no resolved row beside the move it came with"


def test_counts_agree_with_their_number(engagement: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = timeline(engagement, monkeypatch)
    day_counts = [caption.value for caption in app.caption if caption.value.endswith(("event", "events"))]
    assert day_counts and all((text == "1 event") == text.startswith("1 ") for text in day_counts)


def test_a_client_reads_people_not_bots_and_the_chart_in_words(engagement: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    app = timeline(engagement, monkeypatch)
    assert any(caption.value.replace("\\", "").startswith("Activity per day: ") for caption in app.caption), \
        "the chart in words"
    assert (rows(app)["Side"] == "bot").any(), "the team sees the bot's comment"
    app.segmented_control(key="view").set_value("Client").run()
    shown = rows(app)
    assert not (shown["Side"] == "bot").any()
    assert any("1 automated item (bots) not shown" in caption.value.replace("\\", "") for caption in app.caption)
    assert app.multiselect(key="tl_sides").options == ["client", "team"]


def test_the_totals_are_the_whole_ranges_and_the_tables_its_newest_days(engagement: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The summary and chart count the range from its day counts; the tables read only the page's days."""
    app = timeline(engagement, monkeypatch)
    first, last = app.date_input[0].value
    config = load_config(engagement)
    tz = config.engagement.zone
    window = day_range(first, last, tz)
    events = load_timeline(open_engagement(config), config, start=window.start, end=window.end)
    summary = next(block.value for block in app.markdown if " from **" in block.value)
    assert summary.startswith(f"**{len(events):,} events** from **{events['actor'].nunique()}** people")
    newest = sorted(set(events["occurred_at"].dt.tz_convert(tz).dt.date), reverse=True)
    assert len(newest) > 7, "the seed spans more than one page of days"
    assert [header.value for header in app.subheader] == [f"{day:%A %d %B}" for day in newest[:7]]


def test_a_page_of_days_holds_a_week_or_its_share_of_events_and_never_splits_a_day() -> None:
    quiet = pd.Series([40] * 10, index=[date(2026, 11, 30) - timedelta(days=n) for n in range(10)])
    assert [len(page) for page in pages_of_days(quiet, 7, 1500)] == [7, 3]
    busy = pd.Series([2700, 900, 500, 100, 3000], index=[date(2026, 11, 30) - timedelta(days=n) for n in range(5)])
    pages = pages_of_days(busy, 7, 1500)
    assert [[busy[day] for day in page] for page in pages] == [[2700], [900, 500, 100], [3000]]
    assert [day for page in pages for day in page] == list(busy.index), "every day once, newest first"
