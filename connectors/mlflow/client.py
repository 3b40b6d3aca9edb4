"""Reaching an MLflow tracking store: the ``MlflowClient``, bulk metric history, retries and errors.

MLflow's own HTTP retries are configured from the shared :class:`~connectors.base.RetryPolicy`
through the only knob MLflow reads, its ``MLFLOW_HTTP_REQUEST_*`` variables — set only while a
connector works (:func:`http_settings`) and only where the user has not set them. Failures are mapped
by their type and HTTP status (:func:`connectors.base.status_error`), never by their text.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import requests
from mlflow.environment_variables import MLFLOW_ALLOW_FILE_STORE
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request
from sqlalchemy import Engine, column, select, table

from connectors.base import AuthError, NotFound, RetryPolicy, SourceError, SourceUnavailable, status_error
from connectors.mlflow.normalize import History, point
from glassbox.config import Config
from glassbox.redaction import QUOTE_LIMIT, one_line, without_userinfo

log = logging.getLogger(__name__)

IDS_PER_QUERY = 100  # run ids per ``attributes.run_id IN (...)`` filter and per bulk history call
HTTP_BULK_MAX_RESULTS = 25_000  # the server's cap on one bulk history answer
DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
# MLflow retries a dead server for minutes by default; a sync should say so within seconds.
DEFAULT_POLICY = RetryPolicy(max_retries=2, backoff=1.0, timeout=15)


@contextmanager
def http_settings(policy: RetryPolicy) -> Iterator[None]:
    """MLflow's HTTP retries and timeout from ``policy`` while inside, where the user has not set them."""
    wanted = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(policy.max_retries),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": f"{policy.backoff:g}",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": f"{policy.timeout:g}",
    }
    ours = [name for name in wanted if name not in os.environ]
    os.environ.update({name: wanted[name] for name in ours})
    try:
        yield
    finally:
        for name in ours:
            os.environ.pop(name, None)


def uri_scheme(uri: str) -> str:
    return urlparse(uri).scheme.split("+")[0].lower()


def is_http(uri: str) -> bool:
    return uri_scheme(uri) in ("http", "https", "databricks")


def file_store_path(uri: str) -> Path | None:
    """The folder of a file store URI (``./mlruns``, ``file:///…``), else ``None``."""
    scheme = uri_scheme(uri)
    if scheme == "file":
        return Path(unquote(urlparse(uri).path))
    if scheme == "" or (len(scheme) == 1 and re.match(r"^[a-zA-Z]:", uri)):
        return Path(uri)
    return None


def client_uri(origin: str, config: Config) -> str:
    """The URI handed to ``MlflowClient``: relative file-store folders taken from the config's folder."""
    path = file_store_path(origin)
    if path is not None and not path.is_absolute():
        return str(config.resolve_path(str(path)))
    return origin


def make_client(tracking_uri: str, label: str) -> MlflowClient:
    """The default client factory: an ``MlflowClient``, once the store is known to exist and be openable."""
    _refuse_missing_store(tracking_uri, label)
    return MlflowClient(tracking_uri=tracking_uri)


def _refuse_missing_store(tracking_uri: str, label: str) -> None:
    """Opening a missing sqlite file or folder would silently create an empty store; say so instead."""
    path = file_store_path(tracking_uri)
    if path is not None and not MLFLOW_ALLOW_FILE_STORE.get():
        raise SourceUnavailable(
            f"{label}: MLflow 3 opens file stores such as ./mlruns only when MLFLOW_ALLOW_FILE_STORE=true"
            " — export MLFLOW_ALLOW_FILE_STORE=true, or migrate to sqlite with `mlflow migrate-filestore`")
    if uri_scheme(tracking_uri) == "sqlite":
        database = tracking_uri.split(":///", 1)[-1].split("?", 1)[0]
        path = Path(database) if database and database != ":memory:" else None
    if path is not None and not path.exists():
        raise NotFound(f"{label}: no MLflow store at {path} — check tracking_uri in the [[mlflow]] section")


def translate(exc: BaseException, tracking_uri: str, label: str) -> SourceError:
    """One actionable :class:`SourceError` for a failure of MLflow, its store or the network."""
    text = str(exc).strip()
    first = one_line(text.splitlines()[0] if text else type(exc).__name__, QUOTE_LIMIT)
    if is_http(tracking_uri):
        reason = _network_reason(exc)
        if reason is not None:
            return SourceUnavailable(f"{label}: tracking server unreachable — {reason};"
                                     " check that it is running and that tracking_uri is right")
        status = _status(exc)
        if status in (401, 403):
            return AuthError(f"{label}: authentication failed (HTTP {status}) — check"
                             " MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN")
        if status is not None and status >= 500:
            return SourceUnavailable(f"{label}: tracking server answered HTTP {status}"
                                     " — try again later or check the server's log")
        if status is not None:
            return status_error(status, f"{label}: {first} — check tracking_uri and the store")
    return SourceUnavailable(f"{label}: {first} — check tracking_uri and the store")


def _status(exc: BaseException) -> int | None:
    """The HTTP status behind a failure: the answer's, or the one MLflow's error code stands for."""
    response = getattr(exc, "response", None)
    if isinstance(exc, requests.RequestException) and response is not None:
        return int(response.status_code)
    if isinstance(exc, MlflowException):
        return int(exc.get_http_status_code())
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it was raised from or during, including urllib3's ``reason``."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)
        pending += [current.__cause__, current.__context__, *current.args[:1],
                    reason if isinstance(reason, BaseException) else None]
        pending = [p if isinstance(p, BaseException) else None for p in pending]


def _network_reason(exc: BaseException) -> str | None:
    """A few words for why a connection failed, from the exception types behind it; ``None`` if it did not."""
    causes = list(_causes(exc))
    if not any(isinstance(c, requests.ConnectionError | requests.Timeout) for c in causes):
        return None
    for kinds, reason in ((ConnectionRefusedError, "connection refused"), (socket.gaierror, "host name not found"),
                          (TimeoutError | socket.timeout | requests.Timeout, "timed out"),
                          (ssl.SSLError, "TLS handshake failed")):
        if any(isinstance(c, kinds) for c in causes):
            return reason
    return "no answer"


# -- metric history -------------------------------------------------------------------------------


class PerRunHistory:
    """One ``get_metric_history`` call per run and metric: the fallback every store supports."""

    def __init__(self, client: MlflowClient) -> None:
        self.client = client

    def read(self, wanted: dict[str, set[str]]) -> dict[str, History]:
        result: dict[str, History] = {}
        for run_id, metrics in wanted.items():
            for metric in sorted(metrics):
                points = sorted(self.client.get_metric_history(run_id, metric), key=lambda m: (m.step, m.timestamp))
                result.setdefault(run_id, {})[metric] = [point(m.step, m.timestamp, m.value) for m in points]
        return result


class TableHistory:
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
                    entry = point(step, timestamp, None if is_nan else value)
                    result.setdefault(run_id, {}).setdefault(key, []).append(entry)
        return result


class HttpBulkHistory:
    """The tracking server's bulk history endpoint (what its UI charts use): 100 runs per call."""

    ENDPOINT = "/ajax-api/2.0/mlflow/metrics/get-history-bulk"

    def __init__(self, client: MlflowClient, tracking_uri: str) -> None:
        self.fallback = PerRunHistory(client)
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
            entry = point(row.get("step", 0), row.get("timestamp", 0), _json_float(row.get("value")))
            result.setdefault(row["run_id"], {}).setdefault(metric, []).append(entry)

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
