"""The chassis every connector shares: category dispatch, the one status mapping, injected clients."""

from __future__ import annotations

import re

import pytest
from github_server import REPO, TOKEN, FakeGitHub
from mlflow.tracking import MlflowClient
from pytest_httpserver import HTTPServer
from test_github import serve_recorded
from test_mlflow_runs import Tracking, tracking  # noqa: F401 — the fixture

from connectors.base import AuthError, NotFound, RateLimited, SourceError, SourceUnavailable, error_class
from connectors.github.client import GitHubClient
from connectors.github.connector import GitHubConnector
from connectors.mlflow.connector import MlflowConnector


@pytest.mark.parametrize(("status", "expected"), [
    (401, AuthError), (403, AuthError), (404, NotFound), (429, RateLimited),
    (500, SourceUnavailable), (503, SourceUnavailable), (None, SourceUnavailable), (400, SourceError),
])
def test_one_status_mapping_for_every_source(status: int | None, expected: type[SourceError]) -> None:
    assert error_class(status) is expected


def test_an_unknown_category_is_refused_naming_the_source(httpserver: HTTPServer) -> None:
    connector = GitHubConnector(REPO, TOKEN, base_url=serve_recorded(FakeGitHub(httpserver)).base)
    with pytest.raises(ValueError, match=rf"^github \({re.escape(REPO)}\): unknown category 'issues'"):
        list(connector.fetch("issues", None))


def test_github_takes_an_injected_client(httpserver: HTTPServer) -> None:
    fake = serve_recorded(FakeGitHub(httpserver))
    client = GitHubClient(TOKEN, base_url=fake.base, seconds_between_requests=0)
    connector = GitHubConnector(REPO, client=client)
    assert connector.client is client
    commits = [item for item in connector.fetch("commits", None) if getattr(item, "category", None) == "commit"]
    assert len(commits) == 5  # tests/data/github/commits.json holds 5 commits


def test_mlflow_takes_an_injected_client(tracking: Tracking) -> None:  # noqa: F811
    client = MlflowClient(tracking.uri)
    connector = MlflowConnector(tracking.uri, experiments=["churn-v2"], client=client)
    assert connector.client is client
    events = [item for item in connector.fetch("runs", None) if getattr(item, "category", None)]
    # churn-v2 holds one finished run: run_started + run_finished
    assert sorted(e.category for e in events) == ["run_finished", "run_started"]
