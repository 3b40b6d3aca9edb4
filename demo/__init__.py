"""The demo engagement: a first run that shows a full dashboard with no tokens and no config.

``python -m glassbox demo`` (and the dashboard, when it finds no config) builds "Acme churn model"
from real parts: a git repository made with ``git``, an MLflow sqlite store written with
``MlflowClient``, and Jira/GitHub payloads in the APIs' own shapes fed through the connectors'
normalizers. The repository and the tracking store are then synced by the real connectors from the
``glassbox.toml`` written beside them, so every command works on the demo exactly as on a real
engagement. Dates are relative to the moment of the build, so "today" and "this week" are never
empty; everything else is fixed, so two builds hold the same events.

With no config at all the dashboard shows :func:`ensure_demo_workspace`: a workspace (SPEC §6) of
two demo engagements in one store, built the same way, the second with a clone that has gone
missing, so its last sync failed and the Portfolio page has something to rank first.

It lives beside ``glassbox/``, not in it: it is a generator of realistic fixtures that uses the core
(config, connectors' normalizers, store, sync) and that nothing in the core depends on.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

from filelock import FileLock

from connectors.mlflow.connector import MlflowConnector
from demo.github_payloads import story_pulls
from demo.gitrepo import build_repository
from demo.jira_payloads import story_tickets
from demo.recorded import load_recorded
from demo.runs import build_tracking_store, promote_champion
from demo.story import (
    CI_BOT,
    CLIENT_TZ,
    ENGAGEMENT,
    EXPERIMENT,
    JIRA_SERVER,
    KPI_ALERT_DROP,
    KPI_METRIC,
    KPI_TARGET,
    PEOPLE,
    REPO,
    TEAM_TZ,
    Clock,
)
from glassbox.config import Config, load_config, stem_id
from glassbox.errors import GlassboxError
from glassbox.store import Store, open_store
from glassbox.sync import sync_connector, sync_sources
from glassbox.sync_progress import SyncProgress
from glassbox.workspace import DEMO_MANIFEST

__all__ = ["CONFIG_NAME", "WORKSPACE_NAME", "build_demo", "ensure_demo", "ensure_demo_workspace"]

log = logging.getLogger(__name__)

CONFIG_NAME = "glassbox.toml"
WORKSPACE_NAME = "workspace.toml"
DEMO_ENGAGEMENTS = (("acme", ENGAGEMENT, False), ("globex", "Globex demand forecast", True))  # id, name, broken
_DEMO_IDS = tuple(engagement for engagement, _, _ in DEMO_ENGAGEMENTS)
REPO_FOLDER = "churn"
# What a build creates; a rebuild removes exactly these and nothing else in the folder.
_PRODUCTS = (CONFIG_NAME, f"{CONFIG_NAME}.partial", REPO_FOLDER, "mlflow.db", "mlartifacts", "glassbox.db",
             "glassbox.db-wal", "glassbox.db-shm", "recorded", DEMO_MANIFEST, WORKSPACE_NAME,
             *(f"glassbox.{engagement}.sync.lock" for engagement in ("glassbox", *_DEMO_IDS)), *_DEMO_IDS)


def ensure_demo(directory: Path) -> Path:
    """The demo's config in ``directory``, building the demo first unless a complete one is there.

    A demo is complete once its ``glassbox.toml`` exists: the build writes it last.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory / ".build.lock")):
        config_file = directory / CONFIG_NAME
        if config_file.is_file():
            return config_file.resolve()
        return _build(directory)


def build_demo(directory: Path, progress: SyncProgress | None = None) -> Path:
    """Build (or rebuild) the demo in ``directory``; returns the path of its ``glassbox.toml``.

    ``progress`` hears each step and the sync's items (``python -m glassbox demo`` shows them).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory / ".build.lock")):
        return _build(directory, progress=progress)


def ensure_demo_workspace(directory: Path) -> Path:
    """The demo workspace's file in ``directory``: two demo engagements sharing one store, built once."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory / ".build.lock")):
        workspace_file = directory / WORKSPACE_NAME
        if workspace_file.is_file():
            return workspace_file.resolve()
        folder = directory.resolve()
        _clear(folder)
        for engagement_id, name, broken in DEMO_ENGAGEMENTS:
            _build(folder / engagement_id, shared_store=f"sqlite:///{folder / 'glassbox.db'}",
                   engagement=(engagement_id, name), broken=broken)
        workspace_file.write_text(
            '# The Glassbox demo workspace: two demo engagements, one store (SPEC §6).\n'
            '[workspace]\nname = "Demo agency"\nengagements = ["*/glassbox.toml"]\n\n'
            '[store]\nurl = "sqlite:///glassbox.db"\n', encoding="utf-8")
        return workspace_file.resolve()


def _build(directory: Path, *, shared_store: str | None = None, engagement: tuple[str, str] | None = None,
           broken: bool = False, progress: SyncProgress | None = None) -> Path:
    """Build one demo engagement in ``directory``; into ``shared_store`` as ``engagement`` (id, name)
    when it is part of the demo workspace (its config then has no [store] of its own)."""
    started = time.monotonic()
    folder = directory.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    _clear(folder)
    clock = Clock.starting_now()
    step = progress.step if progress is not None else (lambda _line: None)
    step("demo: building a git repository of the engagement's history")
    repo = build_repository(folder / REPO_FOLDER, clock)
    step("demo: logging its experiment runs and registered model to an MLflow tracking store")
    build_tracking_store(folder, clock, repo.shas)
    partial = folder / f"{CONFIG_NAME}.partial"
    partial.write_text(config_text(engagement, own_store=shared_store is None), encoding="utf-8")
    config = load_config(partial)
    engagement_id = engagement[0] if engagement else stem_id(Path(CONFIG_NAME))  # the final file's, not .partial's
    store = open_store(shared_store or config.resolve_sqlite_url(config.store.url), engagement_id)
    try:
        step("demo: loading the recorded Jira and GitHub payloads")
        recorded = load_recorded(store, folder / "recorded", story_tickets(clock), story_pulls(clock), repo,
                                 config.engagement.ticket_pattern)
        _sync_registry_history(config, store, clock)
        _sync(config, store, progress)
        if broken:  # a clone that went missing: its sync fails, and the Portfolio ranks this engagement first
            text = partial.read_text(encoding="utf-8") + '\n[[git]]\npath = "moved-clone"\n'
            partial.write_text(text, encoding="utf-8")
            sync_sources(load_config(partial), store, only="git[1]")
        events = store.count_events()
    finally:
        store.engine.dispose()
    seconds = time.monotonic() - started
    (folder / DEMO_MANIFEST).write_text(json.dumps({
        "built_at": clock.now.isoformat(), "events": events, "recorded": recorded, "seconds": round(seconds, 1),
    }, indent=1) + "\n", encoding="utf-8")
    final = folder / CONFIG_NAME
    partial.replace(final)
    log.info("demo built in %s: %d events in %.1fs", folder, events, seconds)
    return final


def _sync_registry_history(config: Config, store: Store, clock: Clock) -> None:
    """The registry as two earlier syncs saw it: MLflow keeps only where an alias points now, so the
    champion's promotion exists only because a sync saw it before and one saw it after."""
    connector = MlflowConnector.from_config(config.mlflow[0], config, "mlflow[0]")
    connector.clock = lambda: clock.at(3, "12:00")
    for step in (lambda: None, lambda: promote_champion(connector.tracking_uri)):
        step()
        summary = sync_connector(connector, store)
        if not summary.ok:
            raise GlassboxError(f"demo: syncing {summary.label} failed ({summary.error}) — "
                                "run `python -m glassbox demo` again, or report this")
        connector.clock = lambda: clock.at(2, "12:00")


def _sync(config: Config, store: Store, progress: SyncProgress | None = None) -> None:
    failed = [summary for summary in sync_sources(config, store, progress=progress) if not summary.ok]
    if failed:
        raise GlassboxError(f"demo: syncing {failed[0].label} failed ({failed[0].error}) — "
                            "run `python -m glassbox demo` again, or report this")


def _clear(folder: Path) -> None:
    for name in _PRODUCTS:
        target = folder / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()


def _toml(value: object) -> str:
    """A TOML value: JSON's strings, numbers and arrays are valid TOML."""
    return json.dumps(value, ensure_ascii=False)


def config_text(engagement: tuple[str, str] | None = None, *, own_store: bool = True) -> str:
    """The demo's ``glassbox.toml``: relative paths, so the folder works wherever it is built.

    ``engagement`` (id, name) and no ``own_store``: one engagement of the demo workspace."""
    identity = f"id = {_toml(engagement[0])}\n" if engagement else ""
    name = engagement[1] if engagement else ENGAGEMENT
    people = []
    for member in (*PEOPLE, CI_BOT):
        people.append(f"[[people]]\nname = {_toml(member.name)}\nside = {_toml(member.side)}\n"
                      f"ids = {_toml(member.ids)}\n")
    return f"""# The Glassbox demo engagement, built by `python -m glassbox demo`.
# Its git repository ({REPO_FOLDER}/) and MLflow store (mlflow.db) are real and synced by `sync`.
# Jira ({JIRA_SERVER}) and GitHub ({REPO}) have no server here: their recorded payloads
# (recorded/) were loaded into the store once, through the same normalizers a sync uses, so this
# file has no [[jira]] or [[github]] section. To watch a real engagement, copy
# config/glassbox.example.toml, point [[github]], [[git]], [[jira]] and [[mlflow]] at your sources,
# and export the tokens it names.

[engagement]
{identity}name = {_toml(name)}
timezone = {_toml(str(CLIENT_TZ))}
internal_labels = ["internal"]

[team]
timezone = {_toml(str(TEAM_TZ))}
working_hours = "09:00-18:00"
working_days = ["Mon", "Tue", "Wed", "Thu", "Fri"]

{'[store]' + chr(10) + 'url = "sqlite:///glassbox.db"' + chr(10) if own_store else ""}
{chr(10).join(people)}
[[git]]
path = {_toml(REPO_FOLDER)}

[[mlflow]]
tracking_uri = "sqlite:///mlflow.db"
experiments = [{_toml(EXPERIMENT)}]

[[kpi]]
experiment = {_toml(EXPERIMENT)}
metric = {_toml(KPI_METRIC)}
goal = "max"
target = {KPI_TARGET}
alert_drop = {KPI_ALERT_DROP}
description = "how well the model ranks the customers who will cancel: 0.5 is a coin toss, 1.0 perfect"
"""

