"""A client-side person never sees internal work: not on any page, not in any export, not in a count.

The seeded engagement gets every kind of internal item SPEC §5 and the config know: a ticket with an
``internal`` label (and a commit naming it), a pull request with that label, a ticket of an
``internal_projects`` Jira project (and a client comment on it), a pull request on a repository
marked ``internal = true`` and a run in an MLflow store marked internal. Carol (a client) signs in;
every page's every element is searched for their keys, titles and names, and so are the timeline
(JSONL, CSV) and the report in every format (PDF through ``pdftotext``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from seed import CONFIG_TEXT, INTERNAL_TICKET, INTERNAL_TITLE, seed_store
from streamlit.testing.v1 import AppTest

from dashboard import auth
from glassbox import cli
from glassbox.config import load_config
from glassbox.events import Event, Ref, commit_event_id, event_id
from glassbox.timeline import load_timeline
from glassbox.visibility import sources_for_view
from glassbox.workspace import open_engagement

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
PAGES = ("today", "timeline", "experiments", "feedback", "weekly_report")
INTERNAL_REPO = "acme/internal-tools"
INTERNAL_EXPERIMENT = "pricing-secret-exp"
PROJECT_TICKET = "OPS-7"
LABELLED_PR = "acme/churn#77"
SECRETS = (INTERNAL_TICKET, INTERNAL_TITLE, "rotate staging secrets", PROJECT_TICKET,
           "Migrate the payroll warehouse", LABELLED_PR, "Scrape competitor prices quietly", INTERNAL_REPO,
           "Internal tooling for price scraping", INTERNAL_EXPERIMENT, "secret-run-xyz", "internal-mlruns")
EXTRA_CONFIG = f"""
[[github]]
repo = "{INTERNAL_REPO}"
token_env = "GITHUB_TOKEN"
internal = true

[[mlflow]]
tracking_uri = "sqlite:///internal-mlruns.db"
experiments = ["{INTERNAL_EXPERIMENT}"]
internal = true
"""
CAROL = ("carol-acme", "carol@acme.example", "557058:carol")
MINH = ("minh-dev", "minh@agency.example", "557058:minh")


def internal_events(config_path: Path, now: datetime) -> list[Event]:
    """One of each kind of internal item, all within the last three days."""
    config = load_config(config_path)
    jira = config.jira[0].origin(config.folder)
    github = config.github[0].origin(config.folder)
    internal_github = config.github[1].origin(config.folder)
    internal_mlflow = config.mlflow[1].origin(config.folder)
    at = now - timedelta(days=1)
    ticket = {"source": "jira", "origin": jira, "thread": PROJECT_TICKET, "refs": (Ref("ticket", PROJECT_TICKET),),
              "url": f"https://acme.atlassian.net/browse/{PROJECT_TICKET}"}
    return [
        Event(id=event_id("jira", jira, "ops7"), category="ticket_created", occurred_at=at, actor=CAROL[2],
              actor_ids=CAROL, title="Migrate the payroll warehouse",
              attrs={"key": PROJECT_TICKET, "status": "To Do", "status_category": "new", "project": "OPS"}, **ticket),
        Event(id=event_id("jira", jira, "ops7c"), category="comment", occurred_at=at + timedelta(hours=1),
              actor=CAROL[2], actor_ids=CAROL, title=f"Comment on {PROJECT_TICKET}", body="Any news?",
              attrs={"kind": "jira_comment", "key": PROJECT_TICKET}, **ticket),
        Event(id=event_id("github", github, "pr77"), source="github", origin=github, category="pull_request_opened",
              occurred_at=at, actor=MINH[0], actor_ids=MINH[:2], thread=LABELLED_PR, labels=("Internal",),
              title="Scrape competitor prices quietly", url="https://github.com/acme/churn/pull/77",
              attrs={"number": 77, "pr_author": MINH[0], "merged": False}),
        Event(id=event_id("github", internal_github, "pr3"), source="github", origin=internal_github,
              category="pull_request_opened", occurred_at=at, actor=MINH[0], actor_ids=MINH[:2],
              thread=f"{INTERNAL_REPO}#3", title="Internal tooling for price scraping",
              url=f"https://github.com/{INTERNAL_REPO}/pull/3",
              attrs={"number": 3, "pr_author": MINH[0], "merged": False}),
        Event(id=commit_event_id("f" * 40), source="github", origin=internal_github, category="commit",
              occurred_at=at, actor=MINH[0], actor_ids=MINH[:2], thread=INTERNAL_REPO,
              title="Internal tooling for price scraping", refs=(Ref("commit", "f" * 40),),
              attrs={"sha": "f" * 40, "parents": []}),
        *(Event(id=event_id("mlflow", internal_mlflow, f"secret:{part}"), source="mlflow", origin=internal_mlflow,
                category=f"run_{part}", occurred_at=at + timedelta(minutes=5 * index), actor=MINH[1],
                actor_ids=(MINH[1],), thread=INTERNAL_EXPERIMENT, title="secret-run-xyz",
                attrs={"run_id": "secret-run-id", "experiment": INTERNAL_EXPERIMENT, "status": "FINISHED",
                       "params": {"lr": "0.1"}, "metrics": {"val_auc": 0.99}, "start_time": at.isoformat(),
                       "end_time": (at + timedelta(minutes=5)).isoformat()})
          for index, part in enumerate(("started", "finished"))),
    ]


@pytest.fixture(scope="module")
def engagement(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("client_view")
    text = CONFIG_TEXT.format(store_url=f"sqlite:///{folder / 'glassbox.db'}")
    text = text.replace('waiting_statuses = ["Waiting for Customer"]',
                        'waiting_statuses = ["Waiting for Customer"]\ninternal_projects = ["OPS"]')
    path = folder / "glassbox.toml"
    path.write_text(text + EXTRA_CONFIG, encoding="utf-8")
    config = load_config(path)
    store = open_engagement(config)
    now = datetime.now(UTC)
    seed_store(store, config, now=now)
    store.write(internal_events(path, now))
    store.engine.dispose()
    return path


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret.lower() in text.lower()]


def rendered(app: AppTest) -> str:
    """Everything the page sent to the browser: every element's message, every table's cells."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        for child in getattr(node, "children", {}).values():
            walk(child)
        value = getattr(node, "value", None) if node.type in ("arrow_data_frame", "dataframe") else None
        if isinstance(value, pd.DataFrame):
            parts.append(value.to_csv())
        if getattr(node, "proto", None) is not None:
            parts.append(str(node.proto))

    walk(app._tree)
    return "\n".join(parts)


def signed_in(page: str, config: Path, monkeypatch: pytest.MonkeyPatch, email: str) -> AppTest:
    monkeypatch.setenv("GLASSBOX_CONFIG", str(config))
    monkeypatch.delenv("GLASSBOX_DB_URL", raising=False)
    monkeypatch.setattr(auth, "auth_configured", lambda: True)
    app = AppTest.from_file(APP, default_timeout=60)
    app.user = {"is_logged_in": True, "email": email}
    app.switch_page(f"views/{page}.py")
    app.run()
    assert not app.exception, app.exception[0].value if app.exception else ""
    return app


@pytest.mark.parametrize("page", [page for page in PAGES if page != "feedback"])  # it names no ticket or run
def test_team_sees_the_internal_items(page: str, engagement: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The search below has teeth: the team's view of the same pages shows the internal items."""
    app = signed_in(page, engagement, monkeypatch, "minh@agency.example")
    if page == "weekly_report":
        app.selectbox(key="report_week").set_value(0).run()
    assert leaks(rendered(app))


@pytest.mark.parametrize("page", PAGES)
def test_client_sees_no_internal_item_on_any_page(page: str, engagement: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    app = signed_in(page, engagement, monkeypatch, "carol@acme.example")
    assert app.title[0].value != "Glassbox", "Carol is let in"
    assert leaks(rendered(app)) == []
    if page == "weekly_report":
        for week in (0, 1):
            app.selectbox(key="report_week").set_value(week).run()
            assert leaks(rendered(app)) == []
    if page == "timeline":
        app.text_input(key="tl_search").input("secret").run()
        assert leaks(rendered(app)) == []


def test_client_sees_no_internal_experiment_to_pick(engagement: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = signed_in("experiments", engagement, monkeypatch, "carol@acme.example")
    options = [option for box in app.selectbox for option in box.options]
    assert options and not leaks(" ".join(options))


def cli_output(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert cli.main(list(argv)) == 0
    return capsys.readouterr().out


def period_args() -> list[str]:
    today = datetime.now(UTC).date()
    return ["--from", str(today - timedelta(days=10)), "--to", str(today + timedelta(days=1))]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_client_timeline_export_has_no_internal_item(fmt: str, engagement: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    team = cli_output(capsys, "timeline", "--config", str(engagement), "--format", fmt, "--view", "team")
    client = cli_output(capsys, "timeline", "--config", str(engagement), "--format", fmt, "--view", "client")
    assert leaks(team)
    assert leaks(client) == []
    assert 0 < len(client.splitlines()) < len(team.splitlines())


@pytest.mark.parametrize("fmt", ["md", "html", "csv", "json", "pdf"])
def test_client_report_has_no_internal_item(fmt: str, engagement: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    texts = {}
    for view in ("team", "client"):
        out = tmp_path / f"report-{view}.{fmt}"
        assert cli.main(["report", "--config", str(engagement), *period_args(), "--format", fmt, "--view", view,
                         "--out", str(out)]) == 0
        texts[view] = pdf_text(out) if fmt == "pdf" else out.read_text(encoding="utf-8")
    capsys.readouterr()
    if fmt != "json":  # JSON holds only counts and figures
        assert leaks(texts["team"])
    assert leaks(texts["client"]) == []


def pdf_text(path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed (apt-get install poppler-utils); the HTML test covers the same page")
    return subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_client_counts_leave_out_internal_items(engagement: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = {view: json.loads(cli_output(capsys, "report", "--config", str(engagement), *period_args(),
                                           "--format", "json", "--view", view)) for view in ("team", "client")}
    config = load_config(engagement)
    store = open_engagement(config)
    period_start = datetime.fromisoformat(reports["team"]["period"]["start"])
    period_end = datetime.fromisoformat(reports["team"]["period"]["end"])
    team = load_timeline(store, config, start=period_start, end=period_end)
    store.engine.dispose()
    hidden_threads = {INTERNAL_TICKET, PROJECT_TICKET, LABELLED_PR, f"{INTERNAL_REPO}#3", INTERNAL_REPO,
                      INTERNAL_EXPERIMENT}
    mentions = team["refs"].map(lambda refs: bool({INTERNAL_TICKET, PROJECT_TICKET} & set(refs)))
    hidden = team.loc[team["thread"].isin(hidden_threads) | (mentions & (team["source"] != "jira"))]
    expected = {"commits": "commit", "pull_requests_opened": "pull_request_opened",
                "tickets_created": "ticket_created", "comments": "comment"}
    for name, category in expected.items():
        removed = int((hidden["category"] == category).sum())
        assert removed > 0, name
        assert reports["client"]["counts"][name] == reports["team"]["counts"][name] - removed, name
    assert reports["client"]["counts"]["runs"] == reports["team"]["counts"]["runs"] - 1
    assert INTERNAL_EXPERIMENT in {e["experiment"] for e in reports["team"]["experiments"]}
    assert INTERNAL_EXPERIMENT not in {e["experiment"] for e in reports["client"]["experiments"]}


def test_a_client_sees_no_internal_source_among_the_sources(engagement: Path) -> None:
    """The Today page's Sources panel: an internal source's name and failures would reveal it."""
    config = load_config(engagement)
    public, internal = config.github[0].origin(config.folder), config.github[1].origin(config.folder)
    fresh = pd.DataFrame({"source": ["github", "github"], "origin": [public, internal]})
    assert sources_for_view(fresh, config, "team")["origin"].tolist() == [public, internal]
    assert sources_for_view(fresh, config, "client")["origin"].tolist() == [public]
    assert sources_for_view(fresh, config, "Client")["origin"].tolist() == [public]  # unknown: fail closed
