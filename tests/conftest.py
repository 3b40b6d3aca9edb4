"""Shared fixtures: stores on both backends, a helper to write configs, and the servers that cost
seconds to start, started once per session: an MLflow tracking server and an OpenID provider.

PostgreSQL tests run when ``GLASSBOX_TEST_PG_URL`` is set (``.ci/run`` sets it, so in CI they run and
fail loudly if the server is down) and skip with a reason otherwise. Each test gets its own schema.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest
from chromium import require_chromium, wait_until_healthy
from sqlalchemy import create_engine, text

from glassbox.store import Store, open_store

if TYPE_CHECKING:
    from mlflow import MlflowClient

PG_URL = os.environ.get("GLASSBOX_TEST_PG_URL")
ENGAGEMENT = "glassbox"  # the engagement id of write_config's glassbox.toml (SPEC §6: its file's stem)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'store' / 'glassbox.db'}", ENGAGEMENT)


@contextmanager
def pg_schema() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped on the way out (any fixture scope)."""
    if not PG_URL:
        pytest.skip("PostgreSQL not configured: set GLASSBOX_TEST_PG_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    schema_name = f"gb_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema_name}"'))
    separator = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{separator}options=-csearch_path%3D{schema_name}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema_name}" CASCADE'))
    admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    with pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same test on the embedded SQLite store and on PostgreSQL."""
    if request.param == "sqlite":
        opened = open_store(f"sqlite:///{tmp_path / 'glassbox.db'}", ENGAGEMENT)
    else:
        opened = open_store(request.getfixturevalue("pg_url"), ENGAGEMENT)
    yield opened
    opened.engine.dispose()


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a TOML config into the test's folder and return its path."""

    def write(text_: str, name: str = "glassbox.toml") -> Path:
        path = tmp_path / name
        path.write_text(text_, encoding="utf-8")
        return path

    return write


@dataclass(frozen=True)
class BuiltDemo:
    """The demo engagement as ``python -m glassbox demo`` builds it, and what the build told its watcher."""

    config: Path
    lines: list[str]


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> BuiltDemo:
    """The demo, built once per session (about 10 s, most of it MLflow creating its sqlite schema).

    test_demo.py checks the build and runs every command on it, test_story.py reads its stories;
    none of them changes its events (test_demo.py checks that a resync adds and changes nothing).
    """
    from demo import build_demo
    from glassbox.sync_progress import LineProgress

    lines: list[str] = []
    config = build_demo(tmp_path_factory.mktemp("demo"), LineProgress(lines.append))
    return BuiltDemo(config, lines)


class NewMlflowStore(Protocol):
    def __call__(self, path: Path) -> str: ...


@pytest.fixture(scope="session")
def new_mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> NewMlflowStore:
    """Make a new, empty MLflow sqlite store at a path; returns its tracking URI.

    MLflow builds a sqlite store by running its whole chain of schema migrations, seconds each time
    (over ten on a busy 2-core machine); the result is the same file every time, so it is built once
    per session and copied: each test still gets a store of its own, real and empty.
    """
    from mlflow import MlflowClient  # imported by the tests that use MLflow, not by every session

    empty = tmp_path_factory.mktemp("mlflow-empty") / "mlflow.db"
    MlflowClient(f"sqlite:///{empty}").search_experiments()

    def make(path: Path) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(empty, path)
        return f"sqlite:///{path}"

    return make


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on now (bound once to find it, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ServedMlflow:
    """The session's ``mlflow server`` and the sqlite store behind it.

    Tests write runs and model versions straight into ``backend_uri`` and read them back through
    ``uri``, each in an experiment (and registered model) named for the test, so they stay independent.
    """

    uri: str
    backend_uri: str
    folder: Path
    client: MlflowClient

    def create_experiment(self, name: str) -> str:
        """A new experiment in the served store, its artifacts kept in the session's folder; its id."""
        return self.client.create_experiment(name, artifact_location=str(self.folder / "artifacts"))


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory,
                  new_mlflow_store: NewMlflowStore) -> Iterator[ServedMlflow]:
    """One real ``mlflow server`` on a free 127.0.0.1 port for the whole session: starting one costs
    seconds, and the served tests only need their own experiments in it."""
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("mlflow-served")
    backend_uri = new_mlflow_store(folder / "mlflow.db")  # its tables exist before the server opens it
    client = MlflowClient(backend_uri)
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
               "--default-artifact-root", str(folder / "artifacts"), "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1"]
    process = subprocess.Popen(command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
                               start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(f"{uri}/health", process, "mlflow server", 60)
        yield ServedMlflow(uri, backend_uri, folder, client)
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server's own session: its uvicorn worker too
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()




@pytest.fixture(scope="session")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``oidc-provider-mock`` on a free 127.0.0.1 port, as its own process; yields its issuer URL.

    It accepts any client id and secret and signs in whatever subject is typed into its form, with
    that subject as the ``email`` claim; ``--require-nonce`` makes it refuse a replayable request.
    One serves the session's sign-in tests: each signs in from a fresh browser profile, so no
    provider session carries over from one test to the next.
    """
    require_chromium()
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("provider") / "provider.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1",
                                   "--port", str(port), "--require-nonce"],
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while True:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the OpenID provider did not start; see {log_path}")
                try:
                    with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=1):
                        break
                except OSError:
                    time.sleep(0.2)
            yield issuer
        finally:
            server.terminate()
            server.wait(timeout=10)
