"""No token ever leaves the process: not in logs (at DEBUG), messages, tracebacks, the store or exports.

Known token values go into the environment; a full ``sync -vv`` then runs against the fake GitHub and
Jira servers (the real PyGithub and jira clients), a real git clone and a real MLflow store — with a
revoked GitHub token (401) and a Jira site failing with HTTP 500 among them — followed by ``doctor``,
the timeline in both formats, the report in every format and every dashboard page. Every log record
of every library (captured raw, before any redaction), everything printed, every exception and its
traceback, the store's files byte for byte and every export are searched for the tokens, and for the
Basic-auth header Jira's would make of them.

Credentials can also be written inside a source URL (``https://user:pass@jira.example``): a second
engagement puts them in a GitHub ``base_url``, two Jira ``server``s (one failing, so the jira library
logs its retries) and the ``tracking_uri`` of a real ``mlflow server``, and the same places are
searched for them; the MLflow sync must still work, since its client signs in with them.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import tomllib
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import NewMlflowStore, ServedMlflow
from github_server import REPO, FakeGitHub, issue_view
from github_server import TOKEN as GITHUB_TOKEN
from jira_server import FakeJira
from mlflow import MlflowClient
from pytest_httpserver import HTTPServer
from streamlit.testing.v1 import AppTest
from test_mlflow_runs import HTTP_ENV

from connectors.base import RetryPolicy
from connectors.github.connector import GitHubConnector
from connectors.jira.connector import JiraConnector
from glassbox import cli
from glassbox.config import load_config
from glassbox.sources import build_connector, configured_sources
from glassbox.workspace import open_engagement

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
SERVED_EXPERIMENT = "churn-served-secrets"  # this test's experiment in the session's mlflow server


URL_PASSWORDS = {"github": "GH_url_pass_0a1b2c", "jira": "JIRA_url_pass_3d4e5f", "mlflow": "ML_url_pass_6a7b8c"}
URL_USERINFO = {kind: f"{kind}-url-user:{password}" for kind, password in URL_PASSWORDS.items()}
URL_SECRETS = (*URL_PASSWORDS.values(), *URL_USERINFO.values(),
               *(base64.b64encode(userinfo.encode()).decode() for userinfo in URL_USERINFO.values()))


def found(text: str | bytes, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    """The secrets that appear in ``text``."""
    if isinstance(text, bytes):
        return [secret for secret in secrets if secret.encode() in text]
    return [secret for secret in secrets if secret in text]


def with_userinfo(url: str, kind: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{URL_USERINFO[kind]}@{rest}"


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


def mlflow_store(path: Path, new_mlflow_store: NewMlflowStore) -> str:
    """A sqlite MLflow store at ``path`` with the churn experiment's one run; its URI."""
    uri = new_mlflow_store(path)
    client = MlflowClient(uri)
    record_run(client, client.create_experiment("churn"))
    return uri


def record_run(client: MlflowClient, experiment: str) -> None:
    """One finished run, a day ago, in ``experiment``."""
    start = int((datetime.now(UTC) - timedelta(days=1)).timestamp() * 1000)
    run = client.create_run(experiment, start_time=start, run_name="xgb-1", tags={"mlflow.user": "minh"})
    client.log_metric(run.info.run_id, "val_auc", 0.81, timestamp=start, step=0)
    client.set_terminated(run.info.run_id, "FINISHED", end_time=start + 60_000)


def known_tokens_and_fast_connectors(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secret variables set to the known tokens, and the connectors retrying once without waiting,
    so a failing fake server costs a test milliseconds, not the real back-off."""
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GLASSBOX_DB_URL", raising=False)
    monkeypatch.setattr(GitHubConnector.__init__, "__kwdefaults__",
                        {**GitHubConnector.__init__.__kwdefaults__, "seconds_between_requests": 0, "backoff": 0.0,
                         "retries": 1, "timeout": 5})
    monkeypatch.setattr(JiraConnector.from_config.__func__, "__kwdefaults__", {"policy": FAST_JIRA})


@pytest.fixture
def engagement(httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               new_mlflow_store: NewMlflowStore) -> Path:
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
    tracking = mlflow_store(tmp_path / "mlruns.db", new_mlflow_store)
    known_tokens_and_fast_connectors(monkeypatch)
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
    today = datetime.now(UTC).date()
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

    pages = dashboard_pages(engagement, monkeypatch, expect="OLD_GITHUB_TOKEN")
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


def dashboard_pages(config: Path, monkeypatch: pytest.MonkeyPatch, *, expect: str, view: str = "team") -> str:
    """Everything every page shows in ``view`` (the Today page lists each source's last failure)."""
    monkeypatch.setenv("GLASSBOX_CONFIG", str(config))
    shown = []
    for page in PAGES:
        app = AppTest.from_file(APP, default_timeout=60)
        app.switch_page(f"views/{page}.py")
        app.run()
        if view == "client":
            app.segmented_control(key="view").set_value("Client").run()
        assert not app.exception, app.exception[0].value if app.exception else ""
        shown += [str(node.proto) for node in _elements(app._tree)]
        shown += [table.value.to_csv() for table in app.dataframe]
    text = "\n".join(shown)
    assert expect in text, "the failure is shown, named by what to check"
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


@pytest.fixture
def served_mlflow(mlflow_server: ServedMlflow, monkeypatch: pytest.MonkeyPatch) -> str:
    """The session's real ``mlflow server`` with an experiment of this test's, holding one finished run."""
    for name in HTTP_ENV:
        monkeypatch.delenv(name, raising=False)
    record_run(mlflow_server.client, mlflow_server.create_experiment(SERVED_EXPERIMENT))
    return mlflow_server.uri


def test_credentials_inside_source_urls_are_never_stored_shown_or_logged(
        httpserver: HTTPServer, served_mlflow: str, tmp_path: Path, records: Records,
        capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    jira = FakeJira(httpserver, user=JIRA_USER, token=JIRA_TOKEN)
    broken = FakeJira(httpserver, prefix="/broken", user=JIRA_USER, token=JIRA_TOKEN)
    broken.fail("serverInfo", 500, times=10)
    github = FakeGitHub(httpserver)
    github.lists = {"commits": github.load("commits.json"), "pulls": [], "issues": [], "issues/comments": [],
                    "pulls/comments": []}
    known_tokens_and_fast_connectors(monkeypatch)
    config = tmp_path / "glassbox.toml"
    config.write_text(f"""
[store]
url = "sqlite:///{tmp_path / 'glassbox.db'}"

[[github]]
repo = "{REPO}"
base_url = "{with_userinfo(github.base, 'github')}"

[[jira]]
server = "{with_userinfo(jira.url, 'jira')}"
jql = "project = DRILL"

[[jira]]
server = "{with_userinfo(broken.url, 'jira')}"

[[mlflow]]
tracking_uri = "{with_userinfo(served_mlflow, 'mlflow')}"
experiments = ["{SERVED_EXPERIMENT}"]
""", encoding="utf-8")
    path = str(config)
    assert cli.main(["sync", "--config", path, "-vv"]) == 1, "the broken Jira site fails"
    assert cli.main(["doctor", "--config", path, "-vv"]) == 1
    exports = tmp_path / "exports"
    for view in ("team", "client"):
        for fmt in ("jsonl", "csv"):
            assert cli.main(["timeline", "--config", path, "--format", fmt, "--view", view]) == 0
        assert cli.main(["report", "--config", path, "--from", "2012-01-01", "--to", "2030-12-31", "--format", "csv",
                         "--view", view, "--out", str(exports / f"{view}.csv")]) == 0
    printed = capfd.readouterr()
    pages = dashboard_pages(config, monkeypatch, expect="500") + dashboard_pages(config, monkeypatch,
                                                                                expect="Sources", view="client")

    store = open_engagement(load_config(config))
    events, runs = store.read_events(), store.sync_runs()
    store.engine.dispose()
    assert set(events["origin"]) == {REPO, jira.url, served_mlflow}, "origins carry no credentials"
    mlflow_urls = events.loc[events["source"] == "mlflow", "url"]
    assert len(mlflow_urls) == 2 and all(url.startswith(f"{served_mlflow}/#/experiments/") for url in mlflow_urls), \
        "the MLflow client signed in with the URL's credentials; the run links carry none"
    assert set(runs["origin"]) == {REPO, jira.url, broken.url, served_mlflow}
    assert "DRILL-" in printed.out

    assert found("\n".join(records.lines), URL_SECRETS) == [], "raw log records, the jira library's included"
    assert found(printed.out + printed.err, URL_SECRETS) == []
    assert found(pages, URL_SECRETS) == []
    for file in [*tmp_path.glob("glassbox.db*"), *exports.iterdir()]:
        assert found(file.read_bytes(), URL_SECRETS) == [], file.name


def test_streamlit_usage_statistics_are_off() -> None:
    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert settings["browser"]["gatherUsageStats"] is False


def test_real_streamlit_secrets_file_is_git_ignored() -> None:
    ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", ".streamlit/secrets.toml"], check=False)
    assert ignored.returncode == 0
