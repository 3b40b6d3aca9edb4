"""``python -m glassbox renormalize``: the pure normalizers run again over the stored ``raw`` payloads.

A changed ``ticket_pattern`` or a normalizer fix then needs no re-fetch: every stored event of the
selected sources is normalized again from the payload its connector stored, and the events whose
result differs — refs included — are rewritten, a batch at a time, one transaction per batch.

GitHub and MLflow events are self-contained enough for this. Jira's events are one issue split in
pieces and a clone's commits keep no payload to re-read, so those sources are reported as skipped:
``sync --reset NAME`` re-fetches them instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import select

from glassbox import schema
from glassbox.config import Config
from glassbox.events import Event, Ref
from glassbox.store import Store
from glassbox.sync import selected_sources

log = logging.getLogger(__name__)

BATCH_SIZE = 500
_COMPARED = ("category", "occurred_at", "actor", "actor_ids", "thread", "title", "body", "url", "labels", "attrs")


@dataclass
class RenormalizeSummary:
    """What ``renormalize`` did to one source."""

    label: str
    checked: int = 0
    changed: int = 0
    skipped: str | None = None  # why the source was not re-normalized

    def line(self) -> str:
        if self.skipped:
            return f"{self.label}: skipped — {self.skipped}"
        return f"{self.label}: {self.checked} events checked, {self.changed} changed"


def renormalize(config: Config, store: Store, only: str | None = None,
                batch_size: int = BATCH_SIZE) -> list[RenormalizeSummary]:
    """Re-normalize every stored event of the sources ``only`` selects (all when ``None``)."""
    summaries = []
    for spec in selected_sources(config, only):
        summary = RenormalizeSummary(spec.label(config))
        origin = spec.origin(config)
        restate = _restater(spec.kind, origin, store, config)
        if restate is None:
            summary.skipped = "its events cannot be re-derived from the store; `sync --reset` re-fetches them"
        else:
            for batch in _stored_batches(store, spec.kind, origin, batch_size):
                changed = [fresh for event in batch
                           if (fresh := restate(event)) is not None and _differs(event, fresh)]
                summary.checked += len(batch)
                if changed:
                    store.write(changed, refresh_refs=True)
                    summary.changed += len(changed)
        log.info("%s", summary.line())
        summaries.append(summary)
    return summaries


def _restater(kind: str, origin: str, store: Store, config: Config) -> Callable[[Event], Event | None] | None:
    pattern = config.engagement.ticket_pattern
    if kind == "github":
        from connectors.github.normalize import restate as restate_github

        pulls = {event.attrs["number"]: event.raw
                 for batch in _stored_batches(store, kind, origin, BATCH_SIZE, "pull_request_opened")
                 for event in batch if isinstance(event.raw, dict)}
        return lambda event: restate_github(event, pulls=pulls, ticket_pattern=pattern)
    if kind == "mlflow":
        from connectors.mlflow.normalize import restate as restate_mlflow

        return lambda event: restate_mlflow(event, ticket_pattern=pattern)
    return None


def _differs(stored: Event, fresh: Event) -> bool:
    """Whether ``fresh`` would change the stored event, compared as the store keeps it (JSON).

    A commit is compared by its refs only: its row may merge a clone's copy, whose fields the store
    keeps over GitHub's, and a commit never changes.
    """
    if set(stored.refs) != set(fresh.refs):
        return True
    if stored.category == "commit":
        return False
    return any(_as_stored(getattr(stored, name)) != _as_stored(getattr(fresh, name)) for name in _COMPARED)


def _as_stored(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _stored_batches(store: Store, source: str, origin: str, size: int,
                    category: str | None = None) -> Iterator[list[Event]]:
    """The stored events of one source with their refs, ``size`` at a time in id order."""
    table, refs = schema.events, schema.refs
    after = ""
    while True:
        query = select(table).where(table.c.engagement == store.engagement, table.c.source == source,
                                    table.c.origin == origin, table.c.id > after)
        if category is not None:
            query = query.where(table.c.category == category)
        with store.engine.connect() as conn:
            rows = list(conn.execute(query.order_by(table.c.id).limit(size)).mappings())
            ids = [row["id"] for row in rows]
            found: dict[str, list[Ref]] = {}
            if ids:
                mine = refs.c.engagement == store.engagement
                for ref in conn.execute(select(refs).where(mine, refs.c.event_id.in_(ids))).mappings():
                    found.setdefault(ref["event_id"], []).append(Ref(ref["kind"], ref["value"]))
        if not rows:
            return
        yield [_event(row, found.get(row["id"], [])) for row in rows]
        after = rows[-1]["id"]


def _event(row: Any, refs: list[Ref]) -> Event:
    moment = row["occurred_at"]
    return Event(
        id=row["id"], source=row["source"], origin=row["origin"], category=row["category"],
        occurred_at=moment if moment.tzinfo else moment.replace(tzinfo=UTC),
        actor=row["actor"], thread=row["thread"], title=row["title"], url=row["url"], body=row["body"],
        actor_ids=tuple(row["actor_ids"] or ()), refs=tuple(refs), labels=tuple(row["labels"] or ()),
        attrs=dict(row["attrs"] or {}), raw=row["raw"],
    )
