"""MLflow runs as events: pure functions over a ``Run`` (tests and the demo builder call them without a store)."""

from __future__ import annotations

import logging
import math
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from mlflow.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
)

from glassbox.events import DEFAULT_TICKET_PATTERN, Event, Ref, commit_ref, run_event_ids, ticket_refs

log = logging.getLogger(__name__)

TERMINAL_STATUSES = ("FINISHED", "FAILED", "KILLED")
PARENT_TAG = "mlflow.parentRunId"  # set by nested runs: hyperparameter searches, autolog's candidates
EXCLUDE_TAG = "glassbox.exclude"  # "true" on a run the team disowns (SPEC §5); see glassbox.metrics.runs

History = dict[str, list[list[Any]]]  # metric -> [[step, timestamp_ms, value], …]
GPU_METRIC = re.compile(r"^system/gpu_(?:(\d+)_)?")  # MLflow system metrics: system/gpu_0_utilization_percentage
CONTEXT_TAG = "mlflow.data.context"  # what the run used a dataset for (training, eval…), set by log_input


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
    raw = _raw(run)
    attrs["datasets"] = datasets(raw)
    attrs["compute_hours"] = compute_hours(attrs["duration_s"], run.data.metrics)
    refs = run_refs(run, ticket_pattern=ticket_pattern)

    started_id, finished_id = run_event_ids(origin, info.run_id)

    def event(eid: str, category: str, moment: int) -> Event:
        return Event(id=eid, category=category,
                     occurred_at=_moment(moment), refs=refs, source="mlflow", origin=origin, actor=user,
                     actor_ids=actor_ids, thread=experiment_name, title=title, url=url, body=note, attrs=attrs,
                     raw=raw)

    events = [event(started_id, "run_started", info.start_time)]
    if info.status in TERMINAL_STATUSES and info.end_time is not None:
        events.append(event(finished_id, "run_finished", info.end_time))
    return events


def run_refs(run: Run, *, ticket_pattern: str = DEFAULT_TICKET_PATTERN) -> tuple[Ref, ...]:
    """What a run refers to: its commit (``mlflow.source.git.commit``) and the tickets its name, note or
    ``ticket`` tag name. Model versions built from the run carry the same refs."""
    tags = run.data.tags
    title = run.info.run_name or tags.get("mlflow.runName") or run.info.run_id
    return commit_ref(tags.get("mlflow.source.git.commit")) + ticket_refs(
        title, tags.get("mlflow.note.content"), tags.get("ticket"), pattern=ticket_pattern)


def datasets(raw: dict[str, Any]) -> list[dict[str, str | None]]:
    """The datasets a run logged as inputs (``mlflow.log_input``): ``name, digest, source, context``.

    Read from the run's serialized ``inputs`` so a stored event's ``raw`` gives the same list again;
    the schema and profile are left out (they can be large and say nothing the digest does not).
    """
    inputs = raw.get("inputs")
    found = []
    for entry in (inputs.get("dataset_inputs") if isinstance(inputs, dict) else None) or []:
        dataset = entry.get("dataset") if isinstance(entry, dict) else None
        if not isinstance(dataset, dict):
            continue
        tags = entry.get("tags") if isinstance(entry.get("tags"), dict) else {}
        found.append({"name": dataset.get("name"), "digest": dataset.get("digest"), "source": dataset.get("source"),
                      "context": tags.get(CONTEXT_TAG)})
    return found


def compute_hours(duration_s: float | None, metrics: dict[str, float]) -> dict[str, float | None]:
    """``{"wall", "gpu"}`` hours of a run: its wall time, and wall time × GPUs where system metrics were logged.

    ``mlflow.enable_system_metrics_logging()`` logs ``system/gpu_<i>_…`` for each GPU it saw; a run
    without them has no GPU figure (``None``: unknown, not zero). A run still running has neither.
    """
    if duration_s is None:
        return {"wall": None, "gpu": None}
    wall = duration_s / 3600
    gpus = {match.group(1) or "0" for key in metrics if (match := GPU_METRIC.match(key))}
    return {"wall": round(wall, 4), "gpu": round(wall * len(gpus), 4) if gpus else None}


def _kpi_history(history: History, kpi_metrics: Sequence[str]) -> History:
    return {key: [point(*entry) for entry in history[key]] for key in kpi_metrics if key in history}


def _raw(run: Run) -> dict[str, Any]:
    """The run as MLflow serializes it, with NaN and infinities as null so every JSON column takes it."""
    raw = run.to_dictionary()
    metrics = raw.get("data", {}).get("metrics")
    if isinstance(metrics, dict):
        raw["data"]["metrics"] = {key: _finite(value) for key, value in metrics.items()}
    return raw


def _inputs(raw: object) -> RunInputs | None:
    """A run's serialized ``inputs`` back as ``RunInputs`` (the datasets; logged models are not read)."""
    if not isinstance(raw, dict):
        return None
    entries = []
    for entry in raw.get("dataset_inputs") or []:
        dataset = entry.get("dataset") if isinstance(entry, dict) else None
        if isinstance(dataset, dict):
            text = {key: str(dataset.get(key) or "") for key in ("name", "digest", "source_type", "source")}
            tags = [InputTag(k, str(v)) for k, v in (entry.get("tags") or {}).items()]
            entries.append(DatasetInput(Dataset(**text, schema=dataset.get("schema"), profile=dataset.get("profile")),
                                        tags))
    return RunInputs(entries)


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
        tags=[RunTag(key, str(value)) for key, value in (data.get("tags") or {}).items()]),
        _inputs(raw.get("inputs")))
    history = event.attrs.get("history") or {}
    fresh = run_to_events(run, origin=event.origin, experiment_name=event.attrs.get("experiment") or event.thread,
                          kpi_metrics=list(history), history=history, ticket_pattern=ticket_pattern, url=event.url)
    return next((e for e in fresh if e.id == event.id), None)
