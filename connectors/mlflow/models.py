"""The model registry as events: pure functions over ``ModelVersion`` objects and remembered alias positions.

MLflow keeps only where an alias (or a stage) points *now*, so a move is what differs between what
the previous sync saw (:class:`RegistryState`, kept in the ``models`` cursor) and what this one
sees. A registry still using stages reports each stage the same way, the stage name as the alias
(a stage holding several versions points at the newest). Tests and the demo call these without a store.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlflow.entities.model_registry import ModelVersion

from glassbox.events import Event, Ref, event_id

NO_STAGES = ("", "None", "Archived")  # MLflow's "no stage" and the stage of retired versions: not a position


@dataclass
class ModelState:
    """What one sync saw of a registered model: version -> run id, alias -> version, and the events made."""

    versions: dict[str, str | None] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    moves: list[str] = field(default_factory=list)  # ids of its model_alias_moved events (tombstoned with it)


@dataclass
class RegistryState:
    """The ``models`` cursor: every registered model's :class:`ModelState` as last seen."""

    models: dict[str, ModelState] = field(default_factory=dict)

    @classmethod
    def load(cls, text: str | None) -> RegistryState:
        if not text:
            return cls()
        data = json.loads(text)
        return cls({name: ModelState(dict(m.get("versions", {})), dict(m.get("aliases", {})), list(m.get("moves", [])))
                    for name, m in data.get("models", {}).items()})

    def dump(self) -> str:
        return json.dumps({"models": {name: {"versions": dict(sorted(m.versions.items(), key=lambda kv: int(kv[0]))),
                                             "aliases": dict(sorted(m.aliases.items())), "moves": m.moves}
                                      for name, m in sorted(self.models.items())}})


def positions(aliases: dict[str, str], versions: Iterable[ModelVersion]) -> dict[str, str]:
    """Alias -> version now: the registered model's aliases, plus each stage's newest version."""
    out: dict[str, str] = {}
    for version in sorted(versions, key=lambda v: int(v.version)):
        if (version.current_stage or "") not in NO_STAGES:
            out[str(version.current_stage)] = str(version.version)
    out.update({alias: str(version) for alias, version in aliases.items()})
    return out


def version_event_id(origin: str, model: str, version: str) -> str:
    return event_id("mlflow", origin, f"model:{model}:{version}")


def version_to_event(version: ModelVersion, *, origin: str, run_refs: tuple[Ref, ...] = (),
                     run_user: str | None = None, url: str | None = None) -> Event:
    """``model_version_created``: thread the model's name, refs the version's run's commit and tickets.

    The actor is who registered it, else (SQL stores often record no one) who ran the run it came from.
    """
    created = version.creation_timestamp or 0
    user = version.user_id or run_user or None
    raw = dict(version)
    raw.pop("aliases", None)  # where aliases point is the moves' business, not this event's
    return Event(id=version_event_id(origin, version.name, str(version.version)), source="mlflow", origin=origin,
                 category="model_version_created", occurred_at=datetime.fromtimestamp(created / 1000, tz=UTC),
                 actor=user, actor_ids=(user,) if user else (),
                 thread=version.name, title=f"{version.name} version {version.version}", url=url,
                 body=version.description or None, refs=run_refs,
                 attrs={"model": version.name, "version": str(version.version), "run_id": version.run_id,
                        "source": version.source, "status": version.status}, raw=_plain(raw))


def alias_moved(*, origin: str, model: str, alias: str, from_version: str | None, to_version: str | None,
                seen_at: datetime, refs: tuple[Ref, ...] = (), run_id: str | None = None,
                url: str | None = None) -> Event:
    """``model_alias_moved``, seen at sync time (MLflow records no time for it).

    The id is the move itself (model, alias, from, to), so a re-sync after ``--reset`` that finds the
    alias where it was does not repeat an older move under a new id. ``to_version`` None: the alias was removed.
    """
    where = f"version {to_version}" if to_version is not None else "nothing (removed)"
    return Event(id=event_id("mlflow", origin, f"alias:{model}:{alias}:{from_version}->{to_version}"),
                 source="mlflow", origin=origin, category="model_alias_moved", occurred_at=seen_at, actor=None,
                 thread=model, title=f"{model} @{alias} → {where}", url=url, refs=refs,
                 attrs={"model": model, "alias": alias, "from_version": from_version, "to_version": to_version,
                        "run_id": run_id})


def _plain(value: Any) -> Any:
    """A JSON-ready copy (tags as a dict of strings)."""
    return json.loads(json.dumps(value, default=str))
