"""One report model, one table of who a wait is on: every format, page and list says the same thing.

The hand-built engagement of :mod:`test_summary` (2026-W45 in New York, measured at 2026-11-20)
pins the Markdown's waiting section; the seeded engagement of :mod:`seed` pins that the Today and
Feedback pages list the very waits a report lists.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from seed import seeded_engagement
from streamlit.testing.v1 import AppTest
from test_summary import CONFIG, NOW, WEEK, engagement

from dashboard import loaders
from glassbox.config import load_config
from glassbox.periods import parse_week
from glassbox.report_model import ReportModel
from glassbox.reports import render_model, render_report
from glassbox.store import Store
from glassbox.views import View
from glassbox.vocabulary import WAITS, latency_label
from glassbox.workspace import open_engagement

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")


@pytest.fixture
def seeded(store: Store) -> Store:
    store.write(engagement())
    return store


def waiting_section(markdown: str) -> tuple[list[str], list[str]]:
    """The Markdown's ``Where things stand`` wait bullets and the side column of the ``Waiting now`` table."""
    standing = markdown.split("## Where things stand", 1)[1].split("\n## ", 1)[0]
    bullets = [line for line in standing.splitlines() if line.startswith("- Waiting on the ")]
    section = markdown.split("## Waiting now", 1)[1].split("\n## ", 1)[0]
    sides = [line.split("|")[1].strip() for line in section.splitlines()
             if line.startswith("| ") and not line.startswith(("| waiting on", "|---"))]
    return bullets, sides


def test_markdown_bullets_and_table_put_each_wait_on_the_same_side(seeded: Store) -> None:
    """Open at the end of W45 (test_summary's extras test): CHURN-3 and CHURN-2 not started, CHURN-2's
    client message unanswered, PR #8 without a review — four waits, all on the team. The bullets used
    to put the PR on "the team" while the table said "reviewers", and counted a started ticket and
    an unmerged PR that the table never listed."""
    text = str(render_report(seeded, CONFIG, WEEK, fmt="md", view="team", now=NOW))
    bullets, sides = waiting_section(text)
    # 1 client message + 2 tickets (CHURN-3 98 h, CHURN-2 67 h) + 1 PR = 4 rows in the table
    assert bullets == [
        "- Waiting on the **team**: 1 client message without a team reply (oldest 2.8 d)",
        "- Waiting on the **team**: 2 tickets not started yet (oldest 4.1 d)",
        "- Waiting on the **team**: 1 pull request without a review (oldest 2.9 d)",
    ]
    assert sides == ["team"] * 4
    whys = [line.split("|")[2].strip() for line in text.split("## Waiting now", 1)[1].splitlines()
            if line.startswith("| team")]
    # longest first: CHURN-3 98 h, PR #8 69 h, then CHURN-2's two waits of 67 h each
    assert whys == ["ticket not started yet", "pull request without a review",
                    "client message without a team reply", "ticket not started yet"]
    assert sum(int(re.search(r": (\d+) ", line).group(1)) for line in bullets) == len(sides)


def test_report_waits_are_the_vocabularys_on_the_vocabularys_side(seeded: Store) -> None:
    """Each listed wait carries its kind's side, and each kind's open count is its number of rows."""
    report = ReportModel.load(seeded, CONFIG, WEEK, "team", NOW).report
    sides = {wait.latency: wait.on for wait in WAITS}
    assert {(item["latency"], item["on"]) for item in report["waiting"]} <= set(sides.items())
    for wait in WAITS:
        listed = sum(item["latency"] == wait.latency for item in report["waiting"])
        assert listed == report["latency"][wait.latency]["open"], wait.latency


def without_charts(page: str) -> tuple[str, int]:
    """An HTML page minus its inline SVGs (vl-convert numbers their clip ids per render), and their count."""
    return re.sub(r"<svg.*?</svg>", "<svg/>", page, flags=re.S), page.count("<svg")


def test_every_format_renders_the_one_model(seeded: Store) -> None:
    """The command's output (store → model → format) equals rendering a model built once."""
    model = ReportModel.load(seeded, CONFIG, WEEK, "team", NOW)
    for fmt in ("md", "csv", "json"):
        assert render_model(model, fmt) == render_report(seeded, CONFIG, WEEK, fmt=fmt, view="team", now=NOW), fmt
    page = without_charts(str(render_model(model, "html")))
    assert page == without_charts(str(render_report(seeded, CONFIG, WEEK, fmt="html", view="team", now=NOW)))
    assert page[1] >= 1, "the page has its charts"
    assert json.loads(str(render_model(model, "json"))) == json.loads(json.dumps(model.spec()))
    assert bytes(render_model(model, "pdf")).startswith(b"%PDF")


def test_a_derived_model_keeps_its_figures_not_its_events_and_renders_every_format_the_same(seeded: Store) -> None:
    """What the dashboard caches per week: the report and its chart frames, never its window of events."""
    model = ReportModel.load(seeded, CONFIG, WEEK, "team", NOW).derived()
    assert not {"history", "heads", "rows"} & set(vars(model))
    for fmt in ("md", "csv", "json"):
        assert render_model(model, fmt) == render_report(seeded, CONFIG, WEEK, fmt=fmt, view="team", now=NOW), fmt
    assert without_charts(str(render_model(model, "html"))) == \
        without_charts(str(render_report(seeded, CONFIG, WEEK, fmt="html", view="team", now=NOW)))
    assert "history" not in vars(model), "rendering read no history again"


def test_a_csv_reads_only_the_period_and_measures_nothing(seeded: Store) -> None:
    """The CSV is the period's rows: reading all history and every latency for it cost 2.5x at 100k events."""
    model = ReportModel.load(seeded, CONFIG, WEEK, "team", NOW)
    text = str(render_model(model, "csv"))
    assert "history" not in vars(model) and "samples" not in vars(model)
    # W45 is 2026-11-02 05:00 to 2026-11-09 05:00 UTC: of test_summary's 27 events, C0 (10-30), CHURN-1's
    # creation (11-02 03:00) and the last comment (11-09 06:00) fall outside: 27 - 3 = 24 rows (3 commits,
    # 5 comments, 6 run events, 2 PRs opened, 1 review, 1 merge, 2 tickets created, 1 resolved, 3 moves),
    # plus the header line = 25
    assert len(text.strip().splitlines()) == 25


@pytest.fixture(scope="module")
def engagement_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_engagement(tmp_path_factory.mktemp("seeded"))


def page_tables(page: str, config: Path, monkeypatch: pytest.MonkeyPatch) -> list:
    monkeypatch.setenv("GLASSBOX_CONFIG", str(config))
    monkeypatch.delenv("GLASSBOX_DB_URL", raising=False)
    app = AppTest.from_file(APP, default_timeout=60)
    app.switch_page(f"views/{page}.py")
    app.run()
    assert not app.exception, app.exception[0].value if app.exception else ""
    return [table.value for table in app.dataframe]


def test_today_feedback_and_the_report_list_the_same_waits(engagement_folder: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """This week's report measures open waits now, as the pages do: the same (kind, thread) pairs."""
    config = load_config(engagement_folder)
    store = open_engagement(config)
    zone = ZoneInfo(config.engagement.timezone)
    week = parse_week("this", zone, datetime.now(zone).date())
    report = ReportModel.load(store, config, week, "team", datetime.now(UTC)).report
    store.engine.dispose()
    listed = sorted((latency_label(item["latency"]), item["thread"]) for item in report["waiting"])
    assert listed, "the seeded engagement has open waits"
    by_wording = {wait.one: wait.label for wait in WAITS}
    today = [table for table in page_tables("today", engagement_folder, monkeypatch) if "Why" in table.columns]
    shown_today = sorted((by_wording[why], thread) for table in today
                         for why, thread in zip(table["Why"], table["Thread"], strict=True))
    feedback = next(table for table in page_tables("feedback", engagement_folder, monkeypatch)
                    if "Kind" in table.columns)
    shown_feedback = sorted(zip(feedback["Kind"], feedback["Thread"], strict=True))
    assert shown_feedback == listed
    assert shown_today == listed


def test_the_weekly_page_downloads_render_its_model(engagement_folder: Path) -> None:
    """The page's preview and its downloads share one cached model per period and view."""
    config = load_config(engagement_folder)
    zone = ZoneInfo(config.engagement.timezone)
    week = parse_week("last", zone, datetime.now(zone).date())
    source = loaders.Source(str(engagement_folder), config.store_url, engagement=config.engagement_id)
    model = loaders.report(source, View.CLIENT, week, None)
    assert loaders.report(source, View.CLIENT, week, None) is model
    assert json.loads(str(render_model(model, "json"))) == json.loads(json.dumps(model.spec()))
