"""A workspace (SPEC §6): the engagement configs one deployment serves, and what they share.

A config file with ``[workspace]`` lists engagement configs by glob and holds the one ``[store]``
and the ``[[staff]]`` who see every engagement; a config without it is a workspace of one, read
exactly as before, its own ``[store]`` included. Every command and the dashboard start here, so the
rules — ids unique, no engagement file with its own store, no glob that matches nothing — are
checked in one place, each mistake one :class:`ConfigError` line naming the file or the id.
"""

from __future__ import annotations

import glob
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, ValidationError

from glassbox.config import (
    Config,
    StoreSection,
    _first_problem,
    _Section,
    config_path,
    load_config,
    resolve_sqlite_url,
)
from glassbox.errors import ConfigError
from glassbox.store import Store, open_store

ALL = "all"  # ``report --engagement all``: one report per engagement


class WorkspaceSection(_Section):
    name: str = "Workspace"
    engagements: list[str] = Field(min_length=1)


class Staff(_Section):
    """Someone who sees every engagement in the team view (delivery leads, PMs)."""

    name: str
    ids: list[str] = Field(default_factory=list)


class _WorkspaceFile(_Section):
    workspace: WorkspaceSection
    store: StoreSection = Field(default_factory=StoreSection)
    staff: list[Staff] = Field(default_factory=list)


DEMO_MANIFEST = "demo.json"  # what the demo builder writes beside each demo engagement's config


@dataclass(frozen=True)
class Workspace:
    """Every engagement by id (in id order), the shared store and the staff. ``single``: no ``[workspace]``."""

    name: str
    path: Path
    store_url: str
    engagements: dict[str, Config]
    staff: tuple[Staff, ...] = ()
    single: bool = True

    @property
    def ids(self) -> list[str]:
        return list(self.engagements)

    @property
    def is_demo(self) -> bool:
        """Every engagement was built by the demo builder (its manifest beside the config), however the
        dashboard was pointed at it: ``python -m glassbox demo --dir D`` then ``GLASSBOX_CONFIG=…``."""
        return all((config.folder / DEMO_MANIFEST).is_file() for config in self.engagements.values())

    def engagement(self, engagement_id: str) -> Config:
        """The engagement ``engagement_id``; an unknown id is a config error listing the known ones."""
        try:
            return self.engagements[engagement_id]
        except KeyError:
            raise ConfigError(f"{self.path}: --engagement {engagement_id!r} is not an engagement of this workspace"
                              f" (known: {', '.join(self.ids)})") from None

    def select(self, engagement_id: str | None) -> list[Config]:
        """``--engagement`` as ``sync`` and ``doctor`` take it: one engagement, or every one when ``None``."""
        if engagement_id is None or (engagement_id == ALL and ALL not in self.engagements):
            return list(self.engagements.values())
        return [self.engagement(engagement_id)]

    def one(self, engagement_id: str | None, command: str) -> Config:
        """The engagement a one-engagement command (``timeline``, ``report``) works on.

        Without ``--engagement`` that is the only engagement; with several it is a config error
        listing their ids, never a guess.
        """
        if engagement_id is not None:
            return self.engagement(engagement_id)
        if len(self.engagements) == 1:
            return next(iter(self.engagements.values()))
        raise ConfigError(f"{self.path}: {command} needs --engagement ID in a workspace of {len(self.engagements)}"
                          f" engagements (one of: {', '.join(self.ids)})")


def load_workspace(path: str | os.PathLike[str] | None = None) -> Workspace:
    """The workspace at ``path`` (found as any config is: ``--config``, ``$GLASSBOX_CONFIG``, the default)."""
    file = config_path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        data = {}  # load_config below says what is wrong with the file, as it always has
    if "workspace" not in data:
        config = load_config(file)
        return Workspace(config.engagement.name, config.path, config.store_url, {config.engagement_id: config})
    try:
        spec = _WorkspaceFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{file}: {_first_problem(exc)}") from None
    file = file.resolve()
    store_url = os.environ.get("GLASSBOX_DB_URL") or resolve_sqlite_url(spec.store.url, file.parent)
    shared = StoreSection(url=store_url)
    engagements: dict[str, Config] = {}
    for member in _member_files(file, spec.workspace.engagements):
        config = load_config(member)
        if "store" in config.model_fields_set:
            raise ConfigError(f"{member}: an engagement of the workspace {file} has its own [store] — remove it:"
                              " the workspace's [store] holds every engagement")
        other = engagements.get(config.engagement_id)
        if other is not None:
            raise ConfigError(f"{other.path} and {member}: two engagements with the id {config.engagement_id!r}"
                              " — give one another [engagement] id")
        engagements[config.engagement_id] = config.model_copy(update={"store": shared})
    return Workspace(spec.workspace.name, file, store_url, dict(sorted(engagements.items())),
                     tuple(spec.staff), single=False)


def _member_files(file: Path, patterns: list[str]) -> list[Path]:
    """The engagement files the globs name, relative to the workspace file, each once, in order."""
    found: dict[Path, None] = {}
    for index, pattern in enumerate(patterns):
        matches = sorted(Path(name).resolve() for name in glob.glob(str(file.parent / pattern)) if Path(name).is_file())
        matches = [path for path in matches if path != file]
        if not matches:
            raise ConfigError(f"{file}: workspace.engagements[{index}] {pattern!r} matches no engagement file")
        found.update(dict.fromkeys(matches))
    return list(found)


def open_engagement(config: Config) -> Store:
    """The store ``config`` names, seen as its engagement: what reads and writes of one engagement open."""
    return open_store(config.store_url, config.engagement_id)
