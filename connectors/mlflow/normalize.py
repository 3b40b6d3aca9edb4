"""MLflow runs as events: pure functions over a ``Run`` (tests and the demo builder call them without a store)."""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from mlflow.entities import Metric, Param, Run, RunData, RunInfo, RunTag

from glassbox.events import DEFAULT_TICKET_PATTERN, Event, commit_ref, event_id, ticket_refs

log = logging.getLogger(__name__)

TERMINAL_STATUSES = ("FINISHED", "FAILED", "KILLED")
PARENT_TAG = "mlflow.parentRunId"  # set by nested runs: hyperparameter searches, autolog's candidates
EXCLUDE_TAG = "glassbox.exclude"  # "true" on a run the team disowns (SPEC §5); see glassbox.metrics.runs

History = dict[str, list[list[Any]]]  # metric -> [[step, timestamp_ms, value], …]


def _finite(value: float | None) -> float | None:
    """``value`` or ``None`` for NaN and infinities (SQL stores keep ±inf as ±float max)."""
    if value is None or math.isnan(value) or math.isinf(value) or abs(value) >= sys.float_info.max:
        return None
    return value


def point(step: int, timestamp: int, value: float | None) -> list[Any]:
    """One history entry ``[step, timestamp_ms, value]``, the value ``None`` unless finite."""
    return [int(step), int(timestamp), _finite(value)]


def _iso(ms: int | None) -> str | None:
    return _moment(ms).isoformat() if ms is not None else None


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def run_to_events(
    run: Run,
    *,
    origin: str,
    experiment_name: str,
    kpi_metrics: Sequence[str] = (),
    history: History | None = None,
    ticket_pattern: str = DEFAULT_TICKET_PATTERN,
    url: str | None = None,
) -> list[Event]:
    """The ``run_started`` and (once it ended) ``run_finished`` events of one MLflow run.

    ``history`` holds the run's points for the KPI metrics; only ``kpi_metrics`` are kept from it.
    ``parent_run_id`` and ``excluded`` carry what :mod:`glassbox.metrics.runs` needs to fold children
    into their parent and keep disowned runs out of "best".
    """
    info, tags = run.info, run.data.tags
    if info.start_time is None:
        log.debug("mlflow run %s has no start time; skipped", info.run_id)
        return []
    note = tags.get("mlflow.note.content")
    commit = tags.get("mlflow.source.git.commit")
    user = tags.get("mlflow.user") or (info.user_id if info.user_id not in ("", "unknown") else None)
    actor_ids = tuple(dict.fromkeys(i for i in (user, info.user_id) if i and i != "unknown"))
    title = info.run_name or tags.get("mlflow.runName") or info.run_id
    attrs = {
        "run_id": info.run_id,
        "experiment": experiment_name,
        "status": info.status,
        "params": dict(run.data.params),
        "metrics": {key: _finite(value) for key, value in run.data.metrics.items()},
        "parent_run_id": tags.get(PARENT_TAG) or None,
        "excluded": tags.get(EXCLUDE_TAG, "").strip().lower() == "true",
        "user": user,
        "start_time": _iso(info.start_time),
        "end_time": _iso(info.end_time),
        "duration_s": (info.end_time - info.start_time) / 1000 if info.end_time else None,
        "commit": commit,
        "ticket": tags.get("ticket"),
        "history": _kpi_history(history or {}, kpi_metrics),
    }
    refs = commit_ref(commit) + ticket_refs(title, note, tags.get("ticket"), pattern=ticket_pattern)
    raw = _raw(run)

    def event(stage: str, category: str, moment: int) -> Event:
        return Event(id=event_id("mlflow", origin, f"{info.run_id}:{stage}"), category=category,
                     occurred_at=_moment(moment), refs=refs, source="mlflow", origin=origin, actor=user,
                     actor_ids=actor_ids, thread=experiment_name, title=title, url=url, body=note, attrs=attrs,
                     raw=raw)

    events = [event("started", "run_started", info.start_time)]
    if info.status in TERMINAL_STATUSES and info.end_time is not None:
        events.append(event("finished", "run_finished", info.end_time))
    return events


def _kpi_history(history: History, kpi_metrics: Sequence[str]) -> History:
    return {key: [point(*entry) for entry in history[key]] for key in kpi_metrics if key in history}


def _raw(run: Run) -> dict[str, Any]:
    """The run as MLflow serializes it, with NaN and infinities as null so every JSON column takes it."""
    raw = run.to_dictionary()
    metrics = raw.get("data", {}).get("metrics")
    if isinstance(metrics, dict):
        raw["data"]["metrics"] = {key: _finite(value) for key, value in metrics.items()}
    return raw


def run_event_ids(origin: str, run_id: str) -> tuple[str, str]:
    """The ids of both events a run can produce (what a deleted run's tombstones name)."""
    return (event_id("mlflow", origin, f"{run_id}:started"), event_id("mlflow", origin, f"{run_id}:finished"))


def restate(event: Event, *, ticket_pattern: str = DEFAULT_TICKET_PATTERN) -> Event | None:
    """A stored run event normalized again from its ``raw`` run (``renormalize``).

    The KPI history is not in the run's payload: the stored ``attrs.history`` is kept as it is.
    """
    raw = event.raw
    if not isinstance(raw, dict) or not isinstance(raw.get("info"), dict):
        return None
    data = raw.get("data") or {}
    info = cast(RunInfo, RunInfo.from_dictionary(raw["info"]))
    run = Run(info, RunData(
        metrics=[Metric(key, value, 0, 0) for key, value in (data.get("metrics") or {}).items()],
        params=[Param(key, str(value)) for key, value in (data.get("params") or {}).items()],
        tags=[RunTag(key, str(value)) for key, value in (data.get("tags") or {}).items()]))
    history = event.attrs.get("history") or {}
    fresh = run_to_events(run, origin=event.origin, experiment_name=event.attrs.get("experiment") or event.thread,
                          kpi_metrics=list(history), history=history, ticket_pattern=ticket_pattern, url=event.url)
    return next((e for e in fresh if e.id == event.id), None)
