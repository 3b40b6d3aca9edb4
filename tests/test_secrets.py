"""No token ever leaves the process: not in logs (at DEBUG), messages, tracebacks, the store or exports.

Known token values go into the environment; a full ``sync -vv`` then runs against the fake GitHub and
Jira servers (the real PyGithub and jira clients), a real git clone and a real MLflow store — with a
revoked GitHub token (401) and a Jira site failing with HTTP 500 among them — followed by ``doctor``,
the timeline in both formats, the report in every format and every dashboard page. Every log record
of every library (captured raw, before any redaction), everything printed, every exception and its
traceback, the store's files byte for byte and every export are searched for the tokens, and for the
Basic-auth header Jira's would make of them.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import traceback
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import tomllib
from pytest_httpserver import HTTPServer
from streamlit.testing.v1 import AppTest

from connectors.github import GitHubConnector
from connectors.jira import JiraConnector, RetryPolicy
from glassbox import cli
from glassbox.config import load_config
from glassbox.sources import build_connector, configured_sources
from github_server import REPO, TOKEN as GITHUB_TOKEN, FakeGitHub, issue_view
from jira_server import FakeJira

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "app.py")
PAGES = ("today", "timeline", "experiments", "feedback", "weekly_report")
JIRA_USER = "alice@acme.example"
JIRA_TOKEN = "jira_KNOWN_token_7f3e9a1c5b"
BROKEN_JIRA_TOKEN = "jira_KNOWN_broken_2d8c4e6a0f"
REVOKED_GITHUB_TOKEN = "ghp_KNOWNrevoked0000000000000000000000"
TOKENS = {"GITHUB_TOKEN": GITHUB_TOKEN, "OLD_GITHUB_TOKEN": REVOKED_GITHUB_TOKEN, "JIRA_USER": JIRA_USER,
          "JIRA_TOKEN": JIRA_TOKEN, "BROKEN_JIRA_TOKEN": BROKEN_JIRA_TOKEN}
SECRETS = (GITHUB_TOKEN, REVOKED_GITHUB_TOKEN, JIRA_TOKEN, BROKEN_JIRA_TOKEN,
           *(base64.b64encode(f"{JIRA_USER}:{token}".encode()).decode() for token in (JIRA_TOKEN, BROKEN_JIRA_TOKEN)))
FAST_JIRA = RetryPolicy(max_retries=1, max_retry_delay=0.01, backoff=0, timeout=5)


def found(text: str | bytes) -> list[str]:
    """The secrets that appear in ``text``."""
    if isinstance(text, bytes):
        return [secret for secret in SECRETS if secret.encode() in text]
    return [secret for secret in SECRETS if secret in text]


class Records(logging.Handler):
    """Every record of every logger, formatted with its traceback, before any filter could redact it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def git_clone(folder: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Minh", "GIT_AUTHOR_EMAIL": "minh@agency.example",
           "GIT_COMMITTER_NAME": "Minh", "GIT_COMMITTER_EMAIL": "minh@agency.example"}
    subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True, env=env)
    for number in range(2):
        (folder / "model.py").write_text(f"VERSION = {number}\n", encoding="utf-8")
        subprocess.run(["git", "-C", str(folder), "add", "model.py"], check=True, env=env)
        subprocess.run(["git", "-C", str(folder), "commit", "-q", "-m", f"DRILL-{number + 1} step {number}"],
                       check=True, env=env)


def mlflow_store(path: Path) -> str:
    from mlflow import MlflowClient

    uri = f"sqlite:///{path}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("churn")
    start = int((datetime.now(timezone.utc) - timedelta(days=1)).timestamp() * 1000)
    run = client.create_run(experiment, start_time=start, run_name="xgb-1", tags={"mlflow.user": "minh"})
    client.log_metric(run.info.run_id, "val_auc", 0.81, timestamp=start, step=0)
    client.set_terminated(run.info.run_id, "FINISHED", end_time=start + 60_000)
    return uri


@pytest.fixture
def engagement(httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every kind of source, two of them failing, the tokens in the environment and fast retries."""
    jira = FakeJira(httpserver, user=JIRA_USER, token=JIRA_TOKEN)
    broken = FakeJira(httpserver, prefix="/broken", user=JIRA_USER, token=BROKEN_JIRA_TOKEN)
    broken.fail("serverInfo", 500, times=10)
    github = FakeGitHub(httpserver)  # last: it answers every path the others do not
    pulls = github.load("pulls.json")
    github.lists = {"commits": github.load("commits.json"), "pulls": pulls,
                    "issues": [*github.load("issues.json"), *(issue_view(p) for p in pulls)],
                    "issues/comments": github.load("issue_comments.json"),
                    "pulls/comments": github.load("review_comments.json"),
                    **{f"pulls/{p['number']}/reviews": [] for p in pulls}}
    git_clone(tmp_path / "churn")
    tracking = mlflow_store(tmp_path / "mlruns.db")
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GLASSBOX_DB_URL", raising=False)
    monkeypatch.setattr(GitHubConnector.__init__, "__kwdefaults__",
                        {**GitHubConnector.__init__.__kwdefaults__, "seconds_between_requests": 0, "backoff": 0.0,
                         "retries": 1, "timeout": 5})
    monkeypatch.setattr(JiraConnector.from_config.__func__, "__kwdefaults__", {"policy": FAST_JIRA})
    config = tmp_path / "glassbox.toml"
    config.write_text(f"""
[store]
url = "sqlite:///{tmp_path / 'glassbox.db'}"

[[github]]
repo = "{REPO}"
base_url = "{github.base}"

[[github]]
repo = "acme/churn"
base_url = "{github.base}"
token_env = "OLD_GITHUB_TOKEN"

[[git]]
path = "churn"

[[jira]]
server = "{jira.url}"
jql = "project = DRILL"

[[jira]]
server = "{broken.url}"
token_env = "BROKEN_JIRA_TOKEN"

[[mlflow]]
tracking_uri = "{tracking}"
experiments = ["churn"]
""", encoding="utf-8")
    return config


def test_no_token_in_any_output_log_message_store_or_export(engagement: Path, records: Records, tmp_path: Path,
                                                            capfd: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    config = str(engagement)
    assert cli.main(["sync", "--config", config, "-vv"]) == 1, "the revoked token and the broken site fail"
    assert cli.main(["sync", "--config", config, "-vv"]) == 1, "and again, incrementally"
    assert cli.main(["doctor", "--config", config, "-vv"]) == 1
    printed = capfd.readouterr()
    assert "authentication failed (HTTP 401) — check OLD_GITHUB_TOKEN" in printed.err
    assert "broken" in printed.err and "500" in printed.err, printed.err

    exports = tmp_path / "exports"
    today = datetime.now(timezone.utc).date()
    for fmt in ("jsonl", "csv"):
        assert cli.main(["timeline", "--config", config, "--format", fmt, "-vv"]) == 0
    periods = (("2012-09-01", "2013-03-31"), (str(today - timedelta(days=30)), str(today)))  # Jira's; ours
    for fmt in ("md", "html", "csv", "json", "pdf"):
        for view in ("team", "client"):
            for start, end in periods:
                assert cli.main(["report", "--config", config, "--from", start, "--to", end, "--format", fmt,
                                 "--view", view, "--out", str(exports), "-vv"]) == 0
    printed_later = capfd.readouterr()
    assert "DRILL-" in printed_later.out, "the timeline holds the synced tickets"

    pages = dashboard_pages(engagement, monkeypatch)
    failures = failing_exceptions(engagement)

    assert len(records.lines) > 50, "DEBUG records from the clients were captured"
    assert found("\n".join(records.lines)) == []
    assert found(printed.out + printed.err + printed_later.out + printed_later.err) == []
    assert found(pages) == []
    assert failures and found("\n".join(failures)) == []
    store_files = list(tmp_path.glob("glassbox.db*"))
    assert store_files
    for path in store_files:
        assert found(path.read_bytes()) == [], path.name
    written = sorted(exports.iterdir())
    assert len(written) == 20
    for path in written:
        assert found(path.read_bytes()) == [], path.name


def dashboard_pages(config: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Everything every page shows (the Today page lists each source's last failure)."""
    monkeypatch.setenv("GLASSBOX_CONFIG", str(config))
    shown = []
    for page in PAGES:
        app = AppTest.from_file(APP, default_timeout=60)
        app.switch_page(f"views/{page}.py")
        app.run()
        assert not app.exception, app.exception[0].value if app.exception else ""
        shown += [str(node.proto) for node in _elements(app._tree)]
        shown += [table.value.to_csv() for table in app.dataframe]
    text = "\n".join(shown)
    assert "OLD_GITHUB_TOKEN" in text, "the failure is shown, named by its variable"
    return text


def _elements(node: object) -> Iterator[object]:
    for child in getattr(node, "children", {}).values():
        yield from _elements(child)
    if getattr(node, "proto", None) is not None:
        yield node


def failing_exceptions(config_path: Path) -> list[str]:
    """Each failing source's exception as a user or a crash report would see it: message, repr, traceback."""
    config = load_config(config_path)
    seen = []
    for spec in configured_sources(config):
        try:
            build_connector(spec, config).check()
        except Exception as exc:  # noqa: BLE001 — any exception type must be clean
            seen += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    return seen


def test_streamlit_usage_statistics_are_off() -> None:
    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert settings["browser"]["gatherUsageStats"] is False


def test_real_streamlit_secrets_file_is_git_ignored() -> None:
    ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", ".streamlit/secrets.toml"], check=False)
    assert ignored.returncode == 0
