"""MLflow runs as timeline events: what was tried, how it did, and which commit and ticket it came from.

One :class:`MlflowConnector` reads the experiments named (or globbed) in an ``[[mlflow]]`` section
through ``MlflowClient`` — a sqlite or other database store, a ``./mlruns`` file store, or an
``mlflow server`` over HTTP — and turns every run into ``run_started`` and, once it ended
(FINISHED, FAILED, KILLED), ``run_finished``. :func:`run_to_events` is the pure normalizer.

Cursor strategy. MLflow records no "last updated" time for a run, so the cursor is JSON
``{"max_start_ms", "running", "deleted", "ended"}`` (see :class:`SyncState`). A re-sync pages
(``page_token``) through the runs started since ``max_start_ms`` minus :data:`START_MARGIN_MS`
(client clocks set ``start_time``), skipping the ended runs it already read inside that margin,
re-reads by id the runs that were still RUNNING last time (so they show finished after the next
sync) and the runs restored from the trash, and tombstones the runs now in the trash. A checkpoint
follows every page. Edits to long-finished runs (a note or tag added later) are seen only by a full
re-sync (clear the cursor).

Metric history is read for the ``[[kpi]]`` metrics only, in bulk: one query on a database store's
``metrics`` table per page of runs; over HTTP the server's bulk history endpoint (100 runs per
call), falling back to one ``get_metric_history`` call per run and metric when it is missing.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import math
import os
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from mlflow.entities import Run, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request
from sqlalchemy import Engine, column, create_engine, select, table
from sqlalchemy.exc import SQLAlchemyError

from connectors.base import AuthError, Connector, FetchItem, NotFound, SourceError, SourceUnavailable
from glassbox.config import Config, MlflowSource
from glassbox.events import (
    DEFAULT_TICKET_PATTERN,
    Checkpoint,
    Event,
    Tombstone,
    commit_ref,
    event_id,
    ticket_refs,
)
from glassbox.redaction import QUOTE_LIMIT, one_line, without_userinfo
from glassbox.sources import origin_of

log = logging.getLogger(__name__)

TERMINAL_STATUSES = ("FINISHED", "FAILED", "KILLED")
PAGE_SIZE = 500
START_MARGIN_MS = 15 * 60_000  # start_time comes from the logging client's clock, which may lag
IDS_PER_QUERY = 100  # run ids per ``attributes.run_id IN (...)`` filter and per bulk history call
HTTP_BULK_MAX_RESULTS = 25_000  # the server's cap on one bulk history answer
PARENT_TAG = "mlflow.parentRunId"  # set by nested runs: hyperparameter searches, autolog's candidates
EXCLUDE_TAG = "glassbox.exclude"  # "true" on a run the team disowns (SPEC §5); see glassbox.metrics.runs
DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
# MLflow retries a dead server for minutes by default; a sync should say so within seconds.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}

History = dict[str, list[list[Any]]]  # metric -> [[step, timestamp_ms, value], …]


def _finite(value: float | None) -> float | None:
    """``value`` or ``None`` for NaN and infinities (SQL stores keep ±inf as ±float max)."""
    if value is None or math.isnan(value) or math.isinf(value) or abs(value) >= sys.float_info.max:
        return None
    return value


def _point(step: int, timestamp: int, value: float | None) -> list[Any]:
    return [int(step), int(timestamp), _finite(value)]


def _iso(ms: int | None) -> str | None:
    return _moment(ms).isoformat() if ms is not None else None


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


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
    common = {
        "source": "mlflow", "origin": origin, "actor": user, "actor_ids": actor_ids,
        "thread": experiment_name, "title": title, "url": url, "body": note, "attrs": attrs,
        "raw": _raw(run),
    }
    events = [Event(id=event_id("mlflow", origin, f"{info.run_id}:started"), category="run_started",
                    occurred_at=_moment(info.start_time), refs=refs, **common)]
    if info.status in TERMINAL_STATUSES and info.end_time is not None:
        events.append(Event(id=event_id("mlflow", origin, f"{info.run_id}:finished"), category="run_finished",
                            occurred_at=_moment(info.end_time), refs=refs, **common))
    return events


def _kpi_history(history: History, kpi_metrics: Sequence[str]) -> History:
    return {key: [_point(*point) for point in history[key]] for key in kpi_metrics if key in history}


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


# -- the cursor ---------------------------------------------------------------------------------


@dataclass
class SyncState:
    """What the next sync must know about the runs it has read.

    ``max_start_ms`` is the newest start seen; ``running`` the runs still RUNNING; ``deleted`` the
    runs in the trash; ``ended`` the ended runs (id -> start) inside the re-read margin, which a
    re-sync skips instead of emitting again.
    """

    max_start_ms: int | None = None
    running: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    ended: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, text: str | None) -> SyncState:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(data.get("max_start_ms"), set(data.get("running", [])), set(data.get("deleted", [])),
                   dict(data.get("ended", {})))

    def dump(self) -> str:
        floor = (self.max_start_ms or 0) - START_MARGIN_MS
        ended = {run_id: start for run_id, start in sorted(self.ended.items()) if start >= floor}
        return json.dumps({"max_start_ms": self.max_start_ms, "running": sorted(self.running),
                           "deleted": sorted(self.deleted), "ended": ended})

    def see(self, run: Run) -> None:
        info = run.info
        if info.start_time is not None:
            self.max_start_ms = max(self.max_start_ms or info.start_time, info.start_time)
        if info.status == "RUNNING":
            self.running.add(info.run_id)
        else:
            self.running.discard(info.run_id)
            if info.start_time is not None:
                self.ended[info.run_id] = info.start_time


# -- metric history -------------------------------------------------------------------------------


class _PerRunHistory:
    """One ``get_metric_history`` call per run and metric: the fallback every store supports."""

    def __init__(self, client: MlflowClient) -> None:
        self.client = client

    def read(self, wanted: dict[str, set[str]]) -> dict[str, History]:
        result: dict[str, History] = {}
        for run_id, metrics in wanted.items():
            for metric in sorted(metrics):
                points = sorted(self.client.get_metric_history(run_id, metric), key=lambda m: (m.step, m.timestamp))
                result.setdefault(run_id, {})[metric] = [_point(m.step, m.timestamp, m.value) for m in points]
        return result


class _TableHistory:
    """A database store's ``metrics`` table, read with one query per page of runs."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.metrics = table("metrics", column("run_uuid"), column("key"), column("step"),
                             column("timestamp"), column("value"), column("is_nan"))

    def read(self, wanted: dict[str, set[str]]) -> dict[str, History]:
        result: dict[str, History] = {}
        if not wanted:
            return result
        keys = set().union(*wanted.values())
        m = self.metrics
        query = (select(m.c.run_uuid, m.c.key, m.c.step, m.c.timestamp, m.c.value, m.c.is_nan)
                 .where(m.c.run_uuid.in_(list(wanted)), m.c.key.in_(sorted(keys)))
                 .order_by(m.c.run_uuid, m.c.key, m.c.step, m.c.timestamp))
        with self.engine.connect() as conn:
            for run_id, key, step, timestamp, value, is_nan in conn.execute(query):
                if key in wanted[run_id]:
                    point = _point(step, timestamp, None if is_nan else value)
                    result.setdefault(run_id, {}).setdefault(key, []).append(point)
        return result


class _HttpBulkHistory:
    """The tracking server's bulk history endpoint (what its UI charts use): 100 runs per call."""

    ENDPOINT = "/ajax-api/2.0/mlflow/metrics/get-history-bulk"

    def __init__(self, client: MlflowClient, tracking_uri: str) -> None:
        self.fallback = _PerRunHistory(client)
        self.tracking_uri = tracking_uri
        self.available = True

    def read(self, wanted: dict[str, set[str]]) -> dict[str, History]:
        if not self.available:
            return self.fallback.read(wanted)
        result: dict[str, History] = {}
        for metric in sorted(set().union(*wanted.values()) if wanted else ()):
            run_ids = sorted(run_id for run_id, metrics in wanted.items() if metric in metrics)
            for start in range(0, len(run_ids), IDS_PER_QUERY):
                self._read_chunk(metric, run_ids[start:start + IDS_PER_QUERY], result)
                if not self.available:
                    return self.fallback.read(wanted)
        return result

    def _read_chunk(self, metric: str, run_ids: list[str], result: dict[str, History]) -> None:
        response = http_request(get_default_host_creds(self.tracking_uri), self.ENDPOINT, "GET",
                                params={"run_id": run_ids, "metric_key": metric,
                                        "max_results": HTTP_BULK_MAX_RESULTS})
        if response.status_code == 404:
            log.info("%s has no bulk metric history endpoint; reading history run by run",
                     without_userinfo(self.tracking_uri))
            self.available = False
            return
        response.raise_for_status()
        rows = response.json().get("metrics", [])
        if len(rows) >= HTTP_BULK_MAX_RESULTS:
            self._read_truncated(metric, run_ids, result)
            return
        for row in sorted(rows, key=lambda r: (r["run_id"], r.get("step", 0), r.get("timestamp", 0))):
            point = _point(row.get("step", 0), row.get("timestamp", 0), _json_float(row.get("value")))
            result.setdefault(row["run_id"], {}).setdefault(metric, []).append(point)

    def _read_truncated(self, metric: str, run_ids: list[str], result: dict[str, History]) -> None:
        """The server capped the answer: halve the chunk, down to one run read with the plain call."""
        if len(run_ids) == 1:
            result.update(self.fallback.read({run_ids[0]: {metric}}) or {})
            return
        middle = len(run_ids) // 2
        self._read_chunk(metric, run_ids[:middle], result)
        self._read_chunk(metric, run_ids[middle:], result)


def _json_float(value: Any) -> float | None:
    """Bulk answers carry NaN and infinities as JSON tokens or as strings."""
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


# -- the connector --------------------------------------------------------------------------------


def _scheme(uri: str) -> str:
    return urlparse(uri).scheme.split("+")[0].lower()


def _is_http(uri: str) -> bool:
    return _scheme(uri) in ("http", "https", "databricks")


def _file_store_path(uri: str) -> Path | None:
    """The folder of a file store URI (``./mlruns``, ``file:///…``), else ``None``."""
    scheme = _scheme(uri)
    if scheme == "file":
        return Path(unquote(urlparse(uri).path))
    if scheme == "" or (len(scheme) == 1 and re.match(r"^[a-zA-Z]:", uri)):
        return Path(uri)
    return None


def _client_uri(origin: str, config: Config) -> str:
    """The URI handed to ``MlflowClient``: relative file-store folders taken from the config's folder."""
    path = _file_store_path(origin)
    if path is not None and not path.is_absolute():
        return str(config.resolve_path(str(path)))
    return origin


class MlflowConnector(Connector):
    """Runs of the configured experiments in one tracking store (see the module docstring)."""

    source = "mlflow"
    categories = ("runs",)

    def __init__(self, origin: str, *, tracking_uri: str | None = None, experiments: Sequence[str] = ("*",),
                 kpi: Sequence[tuple[str, str]] = (), ticket_pattern: str = DEFAULT_TICKET_PATTERN,
                 page_size: int = PAGE_SIZE) -> None:
        self.origin = origin
        self.tracking_uri = tracking_uri or origin
        self.experiments = tuple(experiments)
        self.kpi = tuple(kpi)  # (experiment name or glob, metric)
        self.ticket_pattern = ticket_pattern
        self.page_size = page_size
        if _is_http(self.tracking_uri):
            for name, value in HTTP_DEFAULTS.items():
                os.environ.setdefault(name, value)

    @classmethod
    def from_config(cls, section: MlflowSource, config: Config, key: str) -> MlflowConnector:
        origin = origin_of("mlflow", section, config)
        kpi = [(entry.experiment, entry.metric) for entry in config.kpi]
        tracking_uri = _client_uri(config.resolve_sqlite_url(section.tracking_uri), config)  # may sign in
        return cls(origin, tracking_uri=tracking_uri, experiments=section.experiments,
                   kpi=kpi, ticket_pattern=config.engagement.ticket_pattern)

    # -- reaching the store ---------------------------------------------------------------------

    @cached_property
    def client(self) -> MlflowClient:
        self._refuse_missing_store()
        return MlflowClient(tracking_uri=self.tracking_uri)

    def _refuse_missing_store(self) -> None:
        """Opening a missing sqlite file or folder would silently create an empty store; say so instead."""
        path = _file_store_path(self.tracking_uri)
        if _scheme(self.tracking_uri) == "sqlite":
            database = self.tracking_uri.split(":///", 1)[-1].split("?", 1)[0]
            path = Path(database) if database and database != ":memory:" else None
        if path is not None and not path.exists():
            raise NotFound(f"{self.label}: no MLflow store at {path} — check tracking_uri in the [[mlflow]] section")

    @cached_property
    def history_reader(self) -> _PerRunHistory | _TableHistory | _HttpBulkHistory:
        if _scheme(self.tracking_uri) in DATABASE_SCHEMES:
            store = getattr(getattr(self.client, "_tracking_client", None), "store", None)
            engine = getattr(store, "engine", None)
            return _TableHistory(engine if isinstance(engine, Engine) else create_engine(self.tracking_uri))
        if _is_http(self.tracking_uri) and _scheme(self.tracking_uri) != "databricks":
            return _HttpBulkHistory(self.client, self.tracking_uri)
        return _PerRunHistory(self.client)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Every failure of MLflow or the network becomes one actionable :class:`SourceError` line."""
        try:
            yield
        except SourceError:
            raise
        except (MlflowException, SQLAlchemyError, OSError) as exc:
            raise self._translate(str(exc)) from None

    def _translate(self, message: str) -> SourceError:
        first = message.strip().splitlines()[0] if message.strip() else "unknown error"
        if "MLFLOW_ALLOW_FILE_STORE" in message:
            return SourceUnavailable(
                f"{self.label}: MLflow 3 opens file stores such as ./mlruns only when MLFLOW_ALLOW_FILE_STORE=true"
                " — export MLFLOW_ALLOW_FILE_STORE=true, or migrate to sqlite with `mlflow migrate-filestore`")
        status = re.search(r"error code (\d{3})|^(\d{3}) (?:Client|Server) Error", message)
        code = status and (status.group(1) or status.group(2))
        if code in ("401", "403"):
            return AuthError(f"{self.label}: authentication failed (HTTP {code}) — check"
                             " MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN")
        if _is_http(self.tracking_uri) and ("failed with exception" in message or "Max retries" in message):
            return SourceUnavailable(f"{self.label}: tracking server unreachable — {_network_reason(message)};"
                                     " check that it is running and that tracking_uri is right")
        if code:
            return SourceUnavailable(f"{self.label}: tracking server answered HTTP {code}"
                                     " — try again later or check the server's log")
        return SourceUnavailable(f"{self.label}: {one_line(first, QUOTE_LIMIT)} — check tracking_uri and the store")

    # -- experiments -----------------------------------------------------------------------------

    def _experiments(self) -> dict[str, str]:
        """Experiment id -> name for every configured name or glob; unmatched ones are logged."""
        every: dict[str, str] = {}
        token = None
        while True:
            page = self.client.search_experiments(view_type=ViewType.ACTIVE_ONLY, max_results=1000,
                                                  page_token=token)
            every.update((experiment.experiment_id, experiment.name) for experiment in page)
            token = page.token
            if not token:
                break
        chosen: dict[str, str] = {}
        for pattern in self.experiments:
            matched = {eid: name for eid, name in every.items() if fnmatch.fnmatchcase(name, pattern)}
            if not matched:
                log.warning("%s: experiment %r not found — check experiments in the [[mlflow]] section"
                            " (known: %s)", self.label, pattern, ", ".join(sorted(every.values())) or "none")
            chosen.update(matched)
        return chosen

    def _kpi_metrics(self, experiment_name: str) -> list[str]:
        return list(dict.fromkeys(metric for pattern, metric in self.kpi
                                  if fnmatch.fnmatchcase(experiment_name, pattern)))

    # -- the Connector contract -------------------------------------------------------------------

    def check(self) -> str:
        with self._errors():
            experiments = self._experiments()
        names = ", ".join(sorted(experiments.values())) or "none of the configured ones"
        return f"{len(experiments)} experiment(s): {names}"

    def fetch(self, category: str, since: str | None) -> Iterator[FetchItem]:
        if category != "runs":
            raise ValueError(f"mlflow has no category {category!r}")
        with self._errors():
            yield from self._fetch(SyncState.load(since))

    def _fetch(self, previous: SyncState) -> Iterator[FetchItem]:
        experiments = self._experiments()
        if not experiments:
            return
        ids = sorted(experiments)
        state = SyncState(previous.max_start_ms, set(), self._deleted_run_ids(ids))
        state.ended = {run_id: start for run_id, start in previous.ended.items() if run_id not in state.deleted}
        for run_id in sorted(state.deleted - previous.deleted):
            yield from (Tombstone(eid) for eid in run_event_ids(self.origin, run_id))
        seen = set(state.ended)
        revisit = sorted((previous.running | previous.deleted) - state.deleted)
        for start in range(0, len(revisit), IDS_PER_QUERY):
            chunk = ", ".join(f"'{run_id}'" for run_id in revisit[start:start + IDS_PER_QUERY])
            for page in self._pages(ids, f"attributes.run_id IN ({chunk})"):
                yield from self._page_events(page, experiments, state, seen)
        since = "" if previous.max_start_ms is None else \
            f"attributes.start_time >= {previous.max_start_ms - START_MARGIN_MS}"
        for page in self._pages(ids, since):
            yield from self._page_events(page, experiments, state, seen)
            yield Checkpoint(state.dump())

    def _pages(self, experiment_ids: list[str], filter_string: str,
               view: int = ViewType.ACTIVE_ONLY) -> Iterator[list[Run]]:
        token = None
        while True:
            page = self.client.search_runs(experiment_ids, filter_string, run_view_type=view,
                                           max_results=self.page_size, page_token=token,
                                           order_by=["attributes.start_time ASC"])
            yield list(page)
            token = page.token
            if not token:
                return

    def _deleted_run_ids(self, experiment_ids: list[str]) -> set[str]:
        return {run.info.run_id for page in self._pages(experiment_ids, "", ViewType.DELETED_ONLY) for run in page}

    def _page_events(self, runs: list[Run], experiments: dict[str, str], state: SyncState,
                     seen: set[str]) -> Iterator[Event]:
        runs = [run for run in runs if run.info.run_id not in seen]
        wanted = {}
        for run in runs:
            metrics = set(self._kpi_metrics(experiments[run.info.experiment_id])) & set(run.data.metrics)
            if metrics:
                wanted[run.info.run_id] = metrics
        history = self.history_reader.read(wanted) if wanted else {}
        for run in runs:
            seen.add(run.info.run_id)
            state.see(run)
            name = experiments[run.info.experiment_id]
            yield from run_to_events(run, origin=self.origin, experiment_name=name,
                                     kpi_metrics=self._kpi_metrics(name), history=history.get(run.info.run_id),
                                     ticket_pattern=self.ticket_pattern, url=self._run_url(run))

    def _run_url(self, run: Run) -> str | None:
        if not _is_http(self.tracking_uri) or _scheme(self.tracking_uri) == "databricks":
            return None
        base = without_userinfo(self.tracking_uri).rstrip("/")
        return f"{base}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"


def _network_reason(message: str) -> str:
    """A few words for why a connection failed, out of urllib3's long exception text."""
    lowered = message.lower()
    for needle, reason in (("connection refused", "connection refused"), ("timed out", "timed out"),
                           ("name or service not known", "host name not found"),
                           ("nodename nor servname", "host name not found"),
                           ("temporary failure in name resolution", "host name not found"),
                           ("ssl", "TLS handshake failed")):
        if needle in lowered:
            return reason
    return "no answer"
