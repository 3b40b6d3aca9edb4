"""An older store gains the read model's tables on opening; the first ``rebuild`` (or sync) fills them.

Opening a store has no config, and the rows depend on it (people's sides, working hours, internal
labels), so the migration leaves the new tables without a fingerprint: stale until a command that
has the config derives them. Reports and pages meanwhile measure from the events, as before.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Table, func, inspect, select, text, update
from test_read_model import derived_days, derived_runs, derived_waits, stored_days, stored_runs, stored_waits
from test_summary import CONFIG, engagement

from glassbox import readmodel, schema
from glassbox.cli import main
from glassbox.config import Config, load_config
from glassbox.notify.sent import notifications_sent
from glassbox.store import Store, open_store
from glassbox.views import View
from glassbox.workspace import open_engagement


def as_version(store: Store, version: int, added_since: tuple[Table, ...]) -> str:
    """Turn ``store`` into what ``version`` wrote: without the tables added since; returns its URL."""
    with store.engine.begin() as conn:
        for table in added_since:
            table.drop(conn)
        conn.execute(update(schema.meta).where(schema.meta.c.key == "schema_version").values(value=str(version)))
    url = store.engine.url.render_as_string(hide_password=False)
    store.engine.dispose()
    return url


def as_version_4(store: Store) -> str:
    """No read-model, note or ledger tables."""
    return as_version(store, 4, (schema.rm_waits, schema.rm_days, schema.rm_runs, schema.rm_kpi_runs,
                                 schema.rm_week_runs, schema.week_notes, notifications_sent))


def test_version_4_store_gets_the_read_model_tables_stale_until_rebuilt(store: Store) -> None:
    store.write(engagement())
    upgraded = open_store(as_version_4(store), store.engagement)
    assert inspect(upgraded.engine).has_table("rm_waits")
    assert stored_waits(upgraded).empty
    assert not readmodel.is_current(upgraded, CONFIG)
    assert readmodel.ensure_current(upgraded, CONFIG)
    assert readmodel.is_current(upgraded, CONFIG)
    assert not readmodel.ensure_current(upgraded, CONFIG)  # current: nothing to do
    pd.testing.assert_frame_equal(stored_waits(upgraded), derived_waits(upgraded, CONFIG))
    assert len(stored_waits(upgraded)) > 0
    upgraded.engine.dispose()


def as_version_5(store: Store) -> str:
    """Waits kept current, no day counts."""
    return as_version(store, 5, (schema.rm_days, schema.rm_runs, schema.rm_kpi_runs, schema.rm_week_runs))


def test_version_5_store_gets_the_day_counts_stale_until_rebuilt(store: Store) -> None:
    """A version-5 store's waits were current; its day counts are not there yet, so both are rebuilt."""
    store.write(engagement())
    readmodel.ensure_current(store, CONFIG)
    upgraded = open_store(as_version_5(store), store.engagement)
    assert inspect(upgraded.engine).has_table("rm_days")
    assert stored_days(upgraded).empty
    assert not readmodel.is_current(upgraded, CONFIG)
    assert readmodel.ensure_current(upgraded, CONFIG)
    pd.testing.assert_frame_equal(stored_days(upgraded), derived_days(upgraded, CONFIG))
    pd.testing.assert_frame_equal(stored_waits(upgraded), derived_waits(upgraded, CONFIG))
    assert len(stored_days(upgraded)) > 0
    upgraded.engine.dispose()


def test_version_6_store_gets_the_runs_stale_until_rebuilt(store: Store) -> None:
    """A version-6 store's waits and day counts were current; its runs are not there yet, so all are rebuilt."""
    store.write(engagement())
    readmodel.ensure_current(store, CONFIG)
    added_since = (schema.rm_runs, schema.rm_kpi_runs, schema.rm_week_runs)
    upgraded = open_store(as_version(store, 6, added_since), store.engagement)
    assert inspect(upgraded.engine).has_table("rm_runs")
    assert stored_runs(upgraded).empty
    assert not readmodel.is_current(upgraded, CONFIG)
    assert readmodel.ensure_current(upgraded, CONFIG)
    pd.testing.assert_frame_equal(stored_runs(upgraded), derived_runs(upgraded, CONFIG))
    assert len(stored_runs(upgraded)) > 0
    upgraded.engine.dispose()


def test_version_7_store_gets_the_kpi_stories_and_the_runs_indexes_stale_until_rebuilt(store: Store) -> None:
    """A version-7 store's runs had no KPI stories and no index by start or parent: all are rebuilt."""
    config = CONFIG  # a KPI on churn's val_auc
    store.write(engagement())
    readmodel.ensure_current(store, config)
    with store.engine.begin() as conn:
        for index in schema.rm_runs.indexes:
            if index.name in ("ix_rm_runs_started", "ix_rm_runs_parent"):
                index.drop(conn)
    upgraded = open_store(as_version(store, 7, (schema.rm_kpi_runs, schema.rm_week_runs)), store.engagement)
    tables = inspect(upgraded.engine)
    assert tables.has_table("rm_kpi_runs")
    assert {"ix_rm_runs_started", "ix_rm_runs_parent"} <= {index["name"] for index in tables.get_indexes("rm_runs")}
    assert not readmodel.is_current(upgraded, config)
    assert readmodel.ensure_current(upgraded, config)
    with upgraded.engine.connect() as conn:
        kept = conn.execute(select(func.count()).select_from(schema.rm_kpi_runs)).scalar()
    runs = readmodel.stored_runs(upgraded, View.TEAM)
    assert kept == 2 * int((runs["top_level"] & (runs["experiment"] == "churn")).sum()) > 0, "both views"
    upgraded.engine.dispose()


def test_version_8_store_gets_the_weeks_run_figures_and_its_new_indexes_stale_until_rebuilt(
        store: Store) -> None:
    """A version-8 store had no kept week, indexed the waits' ends without ``abandoned_at`` and its sync
    runs by source only."""
    store.write(engagement())
    readmodel.ensure_current(store, CONFIG)
    with store.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_rm_waits_ended"))
        conn.execute(text("CREATE INDEX ix_rm_waits_ended ON rm_waits (engagement, view, ended_at)"))
        conn.execute(text("DROP INDEX ix_sync_runs_latest"))
        conn.execute(text("DROP INDEX ix_sync_runs_since"))
    upgraded = open_store(as_version(store, 8, (schema.rm_week_runs,)), store.engagement)
    tables = inspect(upgraded.engine)
    assert tables.has_table("rm_week_runs")
    assert {"ix_sync_runs_latest", "ix_sync_runs_since"} <= {index["name"] for index in tables.get_indexes("sync_runs")}
    ended = next(index for index in tables.get_indexes("rm_waits") if index["name"] == "ix_rm_waits_ended")
    assert ended["column_names"] == ["engagement", "view", "ended_at", "abandoned_at"]
    assert not readmodel.is_current(upgraded, CONFIG)
    assert readmodel.ensure_current(upgraded, CONFIG)
    with upgraded.engine.connect() as conn:
        weeks = conn.execute(select(schema.rm_week_runs.c.view, schema.rm_week_runs.c.week)).all()
    assert {view for view, _ in weeks} == {"team", "client"} and len({week for _, week in weeks}) == 1
    upgraded.engine.dispose()


def config_file(folder: Path, url: str) -> Path:
    path = folder / "glassbox.toml"
    people = "".join(f'[[people]]\nname = "{p.name}"\nside = "{p.side}"\nids = {list(p.ids)!r}\n'
                     for p in CONFIG.people).replace("'", '"')
    path.write_text(f'[engagement]\nname = "Acme"\ntimezone = "America/New_York"\n'
                    f'[team]\ntimezone = "Asia/Ho_Chi_Minh"\nworking_hours = "09:00-18:00"\n'
                    f'[store]\nurl = "{url}"\n{people}', encoding="utf-8")
    return path


def test_rebuild_command_derives_every_row_and_says_how_many(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config_file(tmp_path, f"sqlite:///{tmp_path / 'glassbox.db'}")
    config: Config = load_config(path)
    store = open_engagement(config)
    store.write(engagement())
    assert main(["rebuild", "--config", str(path)]) == 0
    waits = stored_waits(store)
    assert capsys.readouterr().err == f"read model rebuilt from {len(engagement())} events: {len(waits)} waits\n"
    assert readmodel.is_current(store, config)
    pd.testing.assert_frame_equal(waits, derived_waits(store, config))


def test_rebuild_with_a_bad_config_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "glassbox.toml"
    path.write_text('[engagement]\nname = "Acme"\ncolour = "blue"\n', encoding="utf-8")
    assert main(["rebuild", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "colour" in err and str(path) in err and err.count("\n") == 1
