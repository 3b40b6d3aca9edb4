"""The weekly report in every format: rendered from a hand-built report and from a seeded store.

Untrusted text (titles, comments, run notes) is full of hostile strings here, so escaping is checked
in every format that could run it: HTML and PDF (through the HTML) and Markdown.
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from glassbox import cli
from glassbox.config import load_config
from glassbox.events import Event, Ref, commit_event_id, event_id
from glassbox.periods import iso_week
from glassbox.report_model import build_report
from glassbox.reports import SPEC_KEYS, file_name, render_content, render_report, write_report
from glassbox.reports.content import ReportContent, format_hours, format_working_hours, signed_hours
from glassbox.reports.html import render_html
from glassbox.reports.markdown import escape, render_markdown, sparkline
from glassbox.store import Store

HOSTILE_TITLE = '<script>alert("x")</script> [click](javascript:alert(1)) <img src=x onerror=alert(2)>'
HOSTILE_NOTE = "**bold** _it_ # heading <b>b</b> | pipe"
TZ = "America/New_York"
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
WEEK = iso_week(date(2026, 11, 18), ZoneInfo(TZ))  # 2026-W47


def latency(n: int = 0, median: float | None = None, open_: int = 0, oldest: float | None = None) -> dict:
    return {"n": n, "median_hours": median, "p90_hours": median and median * 3, "max_hours": median and median * 4,
            "median_working_hours": median and median / 2, "open": open_, "oldest_open_hours": oldest}


@pytest.fixture
def report() -> dict:
    """A SPEC §5 report with the summary's extras, hostile text wherever the sources put text."""
    return {
        "engagement": "Acme <churn> model", "view": "team",
        "period": {"label": "2026-W47", "start": "2026-11-16T00:00:00-05:00", "end": "2026-11-23T00:00:00-05:00"},
        "counts": {"commits": 14, "pull_requests_opened": 4, "pull_requests_merged": 3, "reviews": 6,
                   "tickets_created": 5, "tickets_resolved": 4, "comments": 17, "runs": 12},
        "latency": {"client_response": latency(7, 2.5, 2, 30.2), "client_turnaround": latency(2, 26.0, 1, 50.5),
                    "ticket_pickup": latency(4, 5.0), "ticket_cycle": latency(4, 40.0),
                    "ticket_lead": latency(4, 50.0), "pr_pickup": latency(3, 0.5, 1, 2.0),
                    "pr_merge": latency(3, 20.0), "commit_to_run": latency()},
        "links": {"commits_with_ticket": 12, "commits_without_ticket": 2, "runs_with_commit": 10,
                  "runs_without_commit": 2},
        "experiments": [{"experiment": "churn", "runs": 12,
                         "best": {"run_id": "9f8e7d6c", "metric": "val_auc", "value": 0.8421},
                         "kpi": {"metric": "val_auc", "target": 0.85, "goal": "max", "met": False}}],
        "alerts": [{"kind": "metric_drop", "experiment": "churn", "run_id": "abc",
                    "message": f"run {HOSTILE_TITLE} fell 7.4% below the best"}],
        "previous": {"counts": {"commits": 10, "pull_requests_opened": 4, "pull_requests_merged": 4, "reviews": 5,
                                "tickets_created": 3, "tickets_resolved": 4, "comments": 20, "runs": 8}},
        "shipped": {"pull_requests": [{"at": "2026-11-18T10:00:00-05:00", "thread": "acme/churn#7",
                                       "title": HOSTILE_TITLE, "url": "javascript:alert(3)"}],
                    "tickets": [{"at": "2026-11-19T10:00:00-05:00", "thread": "CHURN-12",
                                 "title": "Retrain on November data", "url": "https://acme.atlassian.net/browse/CHURN-12"}]},
        "waiting": [{"latency": "client_response", "thread": "CHURN-3", "title": HOSTILE_TITLE, "on": "team",
                     "url": "https://acme.atlassian.net/browse/CHURN-3", "since": "2026-11-21T09:00:00-05:00",
                     "hours": 30.2, "working_hours": 9.0}],
        "experiment_runs": [{"experiment": "churn", "metric": "val_auc", "goal": "max", "target": 0.85, "runs": [
            {"run_id": "r1", "name": "baseline", "started_at": "2026-11-10T10:00:00-05:00", "value": 0.81,
             "new_best": True, "drop": None, "param_diff": {}, "note": None},
            {"run_id": "r2", "name": "<svg onload=alert(4)>", "started_at": "2026-11-17T10:00:00-05:00",
             "value": 0.8421, "new_best": True, "drop": None, "param_diff": {"lr": {"from": 0.1, "to": 0.05}},
             "note": HOSTILE_NOTE}]}],
    }


def test_runs_started_on_a_whole_second_and_between_seconds_chart_together(report: dict) -> None:
    """``isoformat`` leaves the fraction out of a whole second: a week holding both kinds of start
    (one MLflow run in a thousand starts on the second) once failed the HTML and PDF reports."""
    runs = report["experiment_runs"][0]["runs"]
    runs[1]["started_at"] = "2026-11-17T10:00:00.250000-05:00"
    frame = ReportContent.from_report(report, TZ).runs_of(report["experiments"][0])
    assert frame is not None
    assert [at.isoformat() for at in frame["at"]] == ["2026-11-10T15:00:00+00:00", "2026-11-17T15:00:00.250000+00:00"]


def test_markdown_tells_the_whole_story(report: dict) -> None:
    text = render_markdown(ReportContent.from_report(report, TZ))
    for heading in ("## Headline", "## What shipped", "## Experiments", "## Response times", "## Waiting now",
                    "## Alerts"):
        assert heading in text
    assert "**14 commits** (▲ 4)" in text and "**3 PRs merged** (▼ 1)" in text
    assert "| Client message → team reply | 7 | 2.5 h |" in text
    assert "lr 0.1 → 0.05" in text
    assert "16–22 Nov 2026" in text


def test_markdown_escapes_untrusted_text(report: dict) -> None:
    text = render_markdown(ReportContent.from_report(report, TZ))
    assert "<script>" not in text and "<img" not in text and "<svg" not in text
    assert "](javascript:" not in text and "(javascript:" not in text.replace("\\(javascript:", "")
    assert "\\*\\*bold\\*\\*" in text and "\\# heading" in text


@pytest.mark.parametrize(
    "hostile", ["- item", "1. one", "# title", "> quote", "<b>x</b>", "a|b", "line\nbreak", "[x](y)"])
def test_markdown_escape_leaves_no_markup(hostile: str) -> None:
    escaped = escape(hostile)
    assert "\n" not in escaped
    assert not re.match(r"^([-+>#<]|\d+\.)", escaped) and "<" not in escaped
    assert "|" not in escaped.replace("\\|", "")


def test_html_is_one_self_contained_file(report: dict) -> None:
    page = render_html(ReportContent.from_report(report, TZ))
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script|<link|@import|src=[\"']https?:", page, re.IGNORECASE)
    assert "2.5 h" in page and "▲ 4" in page and "target not met yet" in page


def test_html_escapes_untrusted_text(report: dict) -> None:
    page = render_html(ReportContent.from_report(report, TZ))
    assert "<script" not in page and "<img" not in page and "<svg onload" not in page
    assert "&lt;script&gt;" in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "javascript:" not in page.replace("[click](javascript:alert(1))", "")
    assert "Acme &lt;churn&gt; model" in page


def test_pdf_renders_from_a_report(report: dict) -> None:
    pdf = render_content(ReportContent.from_report(report, TZ), "pdf")
    assert pdf.startswith(b"%PDF-") and len(pdf) > 5000


def test_a_busy_week_lists_a_page_of_runs_and_always_the_best_and_the_alerts(report: dict) -> None:
    """40 runs in the week: 15 are listed (the oldest ones the best and the alerted run), 25 left out."""
    runs = [{"run_id": f"r{n}", "name": f"run-{n:02d}", "started_at": f"2026-11-17T{n % 24:02d}:{n // 24:02d}:00-05:00",
             "value": 0.80, "new_best": False, "drop": False, "param_diff": {}, "note": None} for n in range(40)]
    runs[0].update(name="the-best", value=0.86, new_best=True, children=12)  # the oldest of the week
    runs[24].update(name="the-drop", value=0.70, drop=True)  # 2026-11-17T00:01, the second oldest
    report["experiment_runs"][0]["runs"] = runs
    report["experiments"][0]["best"] = {"run_id": "r0", "metric": "val_auc", "value": 0.86}
    content = ReportContent.from_report(report, TZ)
    listing = content.run_listing(content.experiments[0])
    names = [run["name"] for run in listing.runs]
    # 2 always shown + the 13 newest others = 15; 40 - 15 = 25 more
    assert len(names) == 15 and listing.more == 25
    assert {"the-best", "the-drop"} <= set(names)
    text = render_markdown(content)
    assert "…and 25 more runs." in text and "best of 12 child runs" in text
    assert "…and 25 more runs." in render_html(content)


def test_a_noisy_week_lists_a_page_of_its_alerted_runs_and_still_the_best(report: dict) -> None:
    """420 runs fell below the best in a week and made a 20-page table: the best and a page of the
    newest alerted runs are listed, the rest counted."""
    runs = [{"run_id": f"r{n}", "name": f"run-{n:02d}", "started_at": f"2026-11-17T10:{n:02d}:00-05:00",
             "value": 0.70, "new_best": False, "drop": n % 2 == 1, "param_diff": {}, "note": None} for n in range(50)]
    runs[0].update(name="the-best", value=0.86, new_best=True)
    report["experiment_runs"][0]["runs"] = runs
    report["experiments"][0]["best"] = {"run_id": "r0", "metric": "val_auc", "value": 0.86}
    content = ReportContent.from_report(report, TZ)
    listing = content.run_listing(content.experiments[0])
    assert [run["name"] for run in listing.runs] == [*(f"run-{n:02d}" for n in range(49, 21, -2)), "the-best"]
    assert listing.more == 35


def test_a_busy_week_lists_the_latest_of_what_shipped_and_counts_the_rest(report: dict) -> None:
    """704 merged PRs made a 40-page PDF: a report lists the latest 15 of each kind and says how many
    more there were; the JSON keeps every one."""
    report["shipped"]["pull_requests"] = [
        {"at": f"2026-11-18T10:{minute:02d}:00-05:00", "thread": f"acme/churn#{minute}", "title": f"PR {minute}",
         "url": None} for minute in range(20)]
    content = ReportContent.from_report(report, TZ)
    listed = content.shipped_listed()
    assert [item.thread for item in listed.items] == [*(f"acme/churn#{n}" for n in range(5, 20)), "CHURN-12"]
    assert listed.more_sentence == "…and 5 more pull requests, every one in the JSON export."
    for text in (render_markdown(content), render_html(content)):
        assert "acme/churn#4" not in text.replace("\\", "") and "acme/churn#5" in text.replace("\\", "")
        assert "5 more pull requests, every one in the JSON export." in text
    report["shipped"]["pull_requests"] = report["shipped"]["pull_requests"][:15]
    assert ReportContent.from_report(report, TZ).shipped_listed().more_sentence is None


def test_a_noisy_search_lists_its_latest_drops_and_every_regression(report: dict) -> None:
    """500 metric drops filled 50 PDF pages: a report lists the latest 15 of each kind of alert."""
    drops = [{"kind": "metric_drop", "experiment": "churn", "run_id": f"r{n}", "message": f"run r{n} fell"}
             for n in range(20)]
    report["alerts"] = [*drops, {"kind": "model_regressed", "experiment": "churn", "message": "champion regressed"}]
    content = ReportContent.from_report(report, TZ)
    listed = content.alerts_listed()
    assert [alert.get("run_id") for alert in listed.items] == [*(f"r{n}" for n in range(5, 20)), None]
    assert listed.more_sentence == "…and 5 more metric drops, every one in the JSON export."
    for text in (render_markdown(content), render_html(content)):
        assert "run r4 fell" not in text and "run r5 fell" in text and "champion regressed" in text
        assert "5 more metric drops, every one in the JSON export." in text


def test_hours_read_like_a_person_would_say_them() -> None:
    assert [format_hours(h) for h in (None, 0.5, 5.25, 72)] == ["—", "30 min", "5.2 h", "3.0 d"]
    assert sparkline([0, 4, 8, None]) == "▁▅█ "


def test_working_time_reads_in_working_hours_never_in_24_hour_days() -> None:
    """63 working hours are a week of work; "2.6 d" would read as 2.6 calendar days."""
    assert [format_working_hours(h) for h in (None, 0.5, 6.54, 63.2)] == [
        "—", "30 working min", "6.5 working h", "63 working h"]


def test_a_change_in_a_wait_reads_in_the_waits_unit() -> None:
    assert [signed_hours(h) for h in (50.4, -0.75, 0.0)] == ["+2.1 d", "-45 min", "+0 min"]


def test_waits_show_their_year_and_titles_are_bounded(report: dict) -> None:
    """A wait open since 2019 says 2019; a 200,000-character commit title is shown as its first 200 characters."""
    huge = "x" * 200_000 + "\nsecond line"
    report["waiting"] = [{**report["waiting"][0], "title": huge, "since": "2019-03-04T09:00:00-05:00"}]
    report["shipped"]["pull_requests"][0]["title"] = huge
    content = ReportContent.from_report(report, TZ)
    # 199 characters and the ellipsis: MAX_TITLE (200) characters in all
    bounded = "x" * 199 + "…"
    assert content.open_items[0]["title"] == bounded and content.shipped[0].title == bounded
    for text in (render_markdown(content), render_html(content)):
        assert "Mon 04 Mar 2019 09:00" in text
        assert "x" * 200 not in text and len(text) < 100_000


# -- a small seeded engagement ----------------------------------------------------------------

CONFIG = """\
[engagement]
name = "Seeded engagement"
timezone = "America/New_York"

[store]
url = "{url}"

[[people]]
name = "Carol"
side = "client"
ids = ["carol-acme"]

[[kpi]]
experiment = "churn"
metric = "val_auc"
target = 0.85
"""


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def seed_events() -> list[Event]:
    """One ticket asked by the client and answered, a PR merged, a commit naming the ticket, two runs."""
    jira, repo = "https://jira.example", "acme/churn"
    sha = "a" * 40

    def ev(native: str, source: str, category: str, when: datetime, actor: str, thread: str, title: str,
           **fields) -> Event:
        return Event(id=event_id(source, jira if source == "jira" else repo, native), source=source,
                     origin=jira if source == "jira" else repo, category=category, occurred_at=when, actor=actor,
                     thread=thread, title=title, **fields)

    ticket = {"refs": (Ref("ticket", "CHURN-1"),), "url": "https://jira.example/browse/CHURN-1"}
    run_attrs = {"experiment": "churn", "status": "FINISHED", "params": {"lr": 0.1}, "commit": sha}
    return [
        ev("t1", "jira", "ticket_created", at(16, 15), "carol-acme", "CHURN-1", HOSTILE_TITLE,
           attrs={"key": "CHURN-1", "status": "To Do", "status_category": "new"}, **ticket),
        ev("t1-c1", "jira", "comment", at(17, 14), "minh", "CHURN-1", "Comment on CHURN-1", body=HOSTILE_NOTE,
           attrs={"kind": "jira_comment", "key": "CHURN-1"}, **ticket),
        ev("t1-tr", "jira", "ticket_transition", at(17, 15), "minh", "CHURN-1", HOSTILE_TITLE,
           attrs={"key": "CHURN-1", "from_status": "To Do", "to_status": "In Progress", "from_category": "new",
                  "to_category": "indeterminate"}, **ticket),
        ev("t1-done", "jira", "ticket_resolved", at(19, 15), "minh", "CHURN-1", HOSTILE_TITLE,
           attrs={"key": "CHURN-1", "to_status": "Done"}, **ticket),
        Event(id=commit_event_id(sha), source="git", origin="/src/churn", category="commit", occurred_at=at(18, 10),
              actor="minh@team.example", thread="churn", title="CHURN-1 add tenure features",
              refs=(Ref("ticket", "CHURN-1"), Ref("commit", sha)), attrs={"sha": sha}),
        ev("pr7", "github", "pull_request_opened", at(18, 11), "minh", f"{repo}#7", "CHURN-1 <b>tenure</b>",
           url="https://github.com/acme/churn/pull/7", attrs={"number": 7, "pr_author": "minh"}),
        ev("pr7-m", "github", "pull_request_merged", at(18, 16), "lan", f"{repo}#7", "CHURN-1 <b>tenure</b>",
           url="https://github.com/acme/churn/pull/7", attrs={"number": 7, "pr_author": "minh", "merged": True}),
        *[Event(id=event_id("mlflow", "sqlite:///m.db", f"run{n}"), source="mlflow", origin="sqlite:///m.db",
                category="run_finished", occurred_at=at(17 + n, 12), actor="lan", thread="churn", title=f"run-{n}",
                refs=(Ref("commit", sha),),
                attrs={**run_attrs, "run_id": f"run{n}", "metrics": {"val_auc": value},
                       "start_time": at(17 + n, 11).isoformat(), "end_time": at(17 + n, 12).isoformat()})
          for n, value in enumerate((0.80, 0.83, 0.70))],
    ]


@pytest.fixture
def seeded(sqlite_store: Store, tmp_path: Path):
    """A store with :func:`seed_events` and a config file pointing at it."""
    sqlite_store.write(seed_events())
    url = sqlite_store.engine.url.render_as_string(hide_password=False)
    path = tmp_path / "glassbox.toml"
    path.write_text(CONFIG.format(url=url), encoding="utf-8")
    return sqlite_store, load_config(path)


@pytest.mark.parametrize("fmt", ["md", "html", "csv", "json", "pdf"])
def test_every_format_renders_from_a_seeded_store(seeded, fmt: str) -> None:
    store, config = seeded
    output = render_report(store, config, WEEK, fmt=fmt, view="team", now=NOW)
    if fmt == "pdf":
        assert output.startswith(b"%PDF-")
        return
    assert isinstance(output, str) and output
    if fmt in ("md", "html"):
        assert "Seeded engagement" in output and "2026-W47" in output
        assert "<script" not in output and "<b>tenure" not in output


def test_json_is_exactly_the_spec_part_of_build_report(seeded) -> None:
    store, config = seeded
    output = json.loads(render_report(store, config, WEEK, fmt="json", view="team", now=NOW))
    full = json.loads(json.dumps(build_report(store, config, WEEK, "team", now=NOW)))
    assert list(output) == list(SPEC_KEYS)
    assert output == {key: full[key] for key in SPEC_KEYS}
    assert output["counts"]["commits"] == 1 and output["counts"]["tickets_resolved"] == 1


def test_csv_holds_the_periods_timeline_rows(seeded) -> None:
    store, config = seeded
    output = render_report(store, config, WEEK, fmt="csv", view="team", now=NOW)
    lines = output.strip().splitlines()
    assert lines[0] == "id,source,category,occurred_at,actor,side,thread,title,url,refs,engagement"  # SPEC §3, then §6
    assert len(lines) == 1 + len(seed_events())


def test_html_from_a_store_has_charts_inline(seeded) -> None:
    store, config = seeded
    page = render_report(store, config, WEEK, fmt="html", view="team", now=NOW)
    assert page.count("<svg") >= 3
    assert "https://github.com/acme/churn/pull/7" in page


def test_the_printed_kpi_chart_is_an_image_and_the_page_keeps_it_vector(seeded) -> None:
    """Print draws a KPI's chart as a PNG the size of its SVG (its dots grow with the runs, and
    WeasyPrint draws an SVG node by node), described by its sentence; the HTML report keeps the SVG."""
    from glassbox.report_model import ReportModel

    store, config = seeded
    content = ReportModel.load(store, config, WEEK, "team", NOW).content()
    screen, printed = render_html(content), render_html(content, for_print=True)
    assert "<img" not in screen and "val_auc: runs and best so far" in screen
    images = re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+" width="(\d+)" height="(\d+)" alt="([^"]*)">',
                        printed)
    assert len(images) == 1 and "val_auc: runs and best so far" not in printed
    (width, height, alt), = images
    assert 640 <= int(width) <= 760 and 200 <= int(height) <= 300  # the chart's own pixels (640 × 200 plot)
    assert alt.startswith("val_auc per run: 3 runs")
    assert b"/Subtype /Image" in render_content(content, "pdf")


def test_report_to_stdout_writes_text_and_pdf_bytes(seeded) -> None:
    store, config = seeded
    text = io.StringIO()
    assert write_report(store, config, WEEK, fmt="md", view="team", out=None, stdout=text) is None
    assert text.getvalue().startswith("# Seeded engagement")
    binary = io.TextIOWrapper(io.BytesIO())
    write_report(store, config, WEEK, fmt="pdf", view="team", out=None, stdout=binary)
    assert binary.buffer.getvalue().startswith(b"%PDF-")


def test_a_folder_gets_a_dated_file_name(seeded, tmp_path: Path) -> None:
    store, config = seeded
    written = write_report(store, config, WEEK, fmt="html", view="client", out=tmp_path, stdout=io.StringIO())
    assert written == tmp_path / "glassbox-2026-W47-client.html"
    assert file_name(WEEK, "pdf", "team") == "glassbox-2026-W47-team.pdf"


@pytest.mark.parametrize("fmt", ["json", "html"])
def test_cli_report_writes_the_file(seeded, tmp_path: Path, fmt: str) -> None:
    _, config = seeded
    out = tmp_path / "reports"
    status = cli.main(["report", "--config", str(config.path), "--week", "2026-W47", "--format", fmt,
                       "--out", str(out)])
    assert status == 0
    written = out / f"glassbox-2026-W47-team.{fmt}"
    assert written.exists() and written.stat().st_size > 100


def test_previous_week_is_compared_in_the_headline(seeded) -> None:
    store, config = seeded
    text = render_report(store, config, WEEK, fmt="md", view="team", now=NOW)
    assert "**1 commit** (▲ 1)" in text
    assert timedelta(0) < NOW - WEEK.end


def test_a_decades_long_custom_range_reports_activity_per_month(sqlite_store, write_config) -> None:
    """Per-day bars over 26 years would pass Altair's 5,000-row limit and fail the report."""
    from datetime import date, datetime, timedelta
    from zoneinfo import ZoneInfo

    from glassbox.config import load_config
    from glassbox.events import Event, event_id
    from glassbox.periods import day_range
    from glassbox.reports import render_report

    start = datetime(2000, 1, 3, tzinfo=UTC)
    sqlite_store.write([
        Event(id=event_id(source, "o", str(n)), source=source, origin="o", category="comment",
              occurred_at=start + timedelta(days=9 * n), actor="dev", thread="CHURN-1", title="note")
        for n in range(1000) for source in ("jira", "github")
    ])
    config = load_config(write_config(""))
    period = day_range(date(2000, 1, 1), date(2026, 11, 25), ZoneInfo("UTC"))
    html = render_report(sqlite_store, config, period, fmt="html", view="team")
    assert "Activity per month" in html


def test_a_kpi_says_what_it_means_in_every_rendered_format(report: dict) -> None:
    """``[[kpi]] description``: the client reads what val_auc means beside its value."""
    content = ReportContent.from_report(report)
    content.descriptions = {report["experiments"][0]["experiment"]: "how well churners are ranked <b>"}
    markdown = render_content(content, "md")
    html = render_content(content, "html")
    assert "_(how well churners are ranked &lt;b&gt;)_" in str(markdown)
    assert "(how well churners are ranked &lt;b&gt;)" in str(html)
