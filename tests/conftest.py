"""Shared fixtures: stores on both backends and a helper to write configs.

PostgreSQL tests run when ``GLASSBOX_TEST_PG_URL`` is set (``.ci/run`` sets it, so in CI they run and
fail loudly if the server is down) and skip with a reason otherwise. Each test gets its own schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from glassbox.store import Store, open_store

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
