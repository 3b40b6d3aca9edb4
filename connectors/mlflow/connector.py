"""The MLflow connector: the ``runs`` cursor (:class:`SyncState`) and the fetch that pages through runs."""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import ClassVar

from mlflow.entities import Run, ViewType
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import SQLAlchemyError

from connectors.base import Connector, FetchItem, RetryPolicy, SourceError
from connectors.mlflow.client import (
    DATABASE_SCHEMES,
    DEFAULT_POLICY,
    IDS_PER_QUERY,
    HttpBulkHistory,
    PerRunHistory,
    TableHistory,
    client_uri,
    http_settings,
    is_http,
    make_client,
    translate,
    uri_scheme,
)
from connectors.mlflow.models import (
    ModelState,
    RegistryState,
    alias_moved,
    positions,
    version_event_id,
    version_to_event,
)
from connectors.mlflow.normalize import run_refs, run_to_events
from glassbox.config import Config, MlflowSource
from glassbox.events import DEFAULT_TICKET_PATTERN, Checkpoint, Event, Tombstone, run_event_ids
from glassbox.redaction import without_userinfo

log = logging.getLogger(__name__)

PAGE_SIZE = 500
START_MARGIN_MS = 15 * 60_000  # start_time comes from the logging client's clock, which may lag


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


class MlflowConnector(Connector):
    """Runs of the configured experiments in one tracking store (see the module docstring)."""

    source: ClassVar[str] = "mlflow"
    categories: ClassVar[tuple[str, ...]] = ("runs", "models")

    def __init__(self, origin: str, *, tracking_uri: str | None = None, experiments: Sequence[str] = ("*",),
                 kpi: Sequence[tuple[str, str]] = (), ticket_pattern: str = DEFAULT_TICKET_PATTERN,
                 page_size: int = PAGE_SIZE, policy: RetryPolicy = DEFAULT_POLICY,
                 client: MlflowClient | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.origin = origin
        self.tracking_uri = tracking_uri or origin
        self.experiments = tuple(experiments)
        self.kpi = tuple(kpi)  # (experiment name or glob, metric)
        self.ticket_pattern = ticket_pattern
        self.page_size = page_size
        self.policy = policy
        self._client = client
        self.clock = clock  # when an alias move is seen (MLflow records no time for it)

    @classmethod
    def from_config(cls, section: MlflowSource, config: Config, key: str) -> MlflowConnector:
        kpi = [(entry.experiment, entry.metric) for entry in config.kpi]
        tracking_uri = client_uri(config.resolve_sqlite_url(section.tracking_uri), config)  # may sign in
        return cls(section.origin(config.folder), tracking_uri=tracking_uri, experiments=section.experiments,
                   kpi=kpi, ticket_pattern=config.engagement.ticket_pattern)

    # -- reaching the store ---------------------------------------------------------------------

    @property
    def client(self) -> MlflowClient:
        """The injected client, else one made (once) by :func:`make_client`."""
        if self._client is None:
            self._client = make_client(self.tracking_uri, self.label)
        return self._client

    @cached_property
    def history_reader(self) -> PerRunHistory | TableHistory | HttpBulkHistory:
        if uri_scheme(self.tracking_uri) in DATABASE_SCHEMES:
            store = getattr(getattr(self.client, "_tracking_client", None), "store", None)
            engine = getattr(store, "engine", None)
            return TableHistory(engine if isinstance(engine, Engine) else create_engine(self.tracking_uri))
        if is_http(self.tracking_uri) and uri_scheme(self.tracking_uri) != "databricks":
            return HttpBulkHistory(self.client, self.tracking_uri)
        return PerRunHistory(self.client)

    @contextmanager
    def errors(self) -> Iterator[None]:
        """MLflow's HTTP settings from the policy while working; every failure one :class:`SourceError` line."""
        settings = http_settings(self.policy) if is_http(self.tracking_uri) else nullcontext()
        with settings:
            try:
                yield
            except SourceError:
                raise
            except (MlflowException, SQLAlchemyError, OSError) as exc:
                raise translate(exc, self.tracking_uri, self.label) from None

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
        with self.errors():
            experiments = self._experiments()
        names = ", ".join(sorted(experiments.values())) or "none of the configured ones"
        return f"{len(experiments)} experiment(s): {names}"

    def fetch_runs(self, since: str | None) -> Iterator[FetchItem]:
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
        if not is_http(self.tracking_uri) or uri_scheme(self.tracking_uri) == "databricks":
            return None
        base = without_userinfo(self.tracking_uri).rstrip("/")
        return f"{base}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"

    # -- the model registry ------------------------------------------------------------------------

    def fetch_models(self, since: str | None) -> Iterator[FetchItem]:
        """Versions and alias moves of the registered models built from the configured experiments.

        Cursor: :class:`~connectors.mlflow.models.RegistryState` — every model's versions and where
        its aliases pointed at the last sync, so a move is seen even though MLflow keeps no history.
        A version appears once (new versions only); one gone from the registry, or a whole deleted
        model, is tombstoned with its alias moves, as deleted runs are. One checkpoint at the end:
        the remembered positions and the events that differ from them commit together.
        """
        previous = RegistryState.load(since)
        models = self._registered_models()
        if models is None:
            return
        experiment_ids = set(self._experiments())
        now = RegistryState()
        for model in models:
            state = self._model_events(model, previous.models.get(model.name, ModelState()), experiment_ids)
            for item in state:
                if isinstance(item, ModelState):
                    if item.versions:
                        now.models[model.name] = item
                else:
                    yield item
        for name in sorted(set(previous.models) - set(now.models)):
            gone = previous.models[name]
            yield from (Tombstone(version_event_id(self.origin, name, v)) for v in gone.versions)
            yield from (Tombstone(move) for move in gone.moves)
        yield Checkpoint(now.dump())

    def _registered_models(self) -> list[RegisteredModel] | None:
        """Every registered model, or None when the tracking server has no registry."""
        found: list[RegisteredModel] = []
        token = None
        try:
            while True:
                page = self.client.search_registered_models(max_results=1000, page_token=token)
                found.extend(page)
                token = page.token
                if not token:
                    return found
        except MlflowException as exc:
            if exc.get_http_status_code() == 404:
                log.info("%s has no model registry; no models synced", self.label)
                return None
            raise

    def _versions(self, name: str) -> list[ModelVersion]:
        quoted = f"'{name}'" if "'" not in name else f'"{name}"'
        found: list[ModelVersion] = []
        token = None
        while True:
            page = self.client.search_model_versions(f"name = {quoted}", max_results=1000, page_token=token)
            found.extend(page)
            token = page.token
            if not token:
                return found

    def _model_events(self, model: RegisteredModel, before: ModelState,
                      experiment_ids: set[str]) -> Iterator[Event | Tombstone | ModelState]:
        """One model's new versions, deleted versions and alias moves, then its new :class:`ModelState`."""
        versions = self._versions(model.name)
        state = ModelState(moves=list(before.moves))
        for version in sorted(versions, key=lambda v: int(v.version)):
            number = str(version.version)
            if number in before.versions:
                state.versions[number] = before.versions[number]
                continue
            run = self._run_of(version)
            if run is None or run.info.experiment_id not in experiment_ids:
                continue  # not built from this engagement's experiments
            state.versions[number] = version.run_id
            yield version_to_event(version, origin=self.origin, url=self._model_url(model.name, number),
                                   run_refs=run_refs(run, ticket_pattern=self.ticket_pattern),
                                   run_user=run.data.tags.get("mlflow.user") or run.info.user_id)
        for number in sorted(set(before.versions) - state.versions.keys(), key=int):
            yield Tombstone(version_event_id(self.origin, model.name, number))
        # SQL stores leave ModelVersion.aliases empty (mlflow#9783): the registered model knows them
        now = {alias: v for alias, v in positions(dict(model.aliases or {}), versions).items() if v in state.versions}
        state.aliases = now
        seen_at = self.clock()
        for alias in sorted(set(before.aliases) | set(now)):
            old, new = before.aliases.get(alias), now.get(alias)
            if old == new:
                continue
            run_id = state.versions.get(new) if new else None
            run = self._run_of_id(run_id)  # its refs: a client who may not see the version may not see it move
            event = alias_moved(origin=self.origin, model=model.name, alias=alias, from_version=old, to_version=new,
                                seen_at=seen_at, run_id=run_id, url=self._model_url(model.name, new),
                                refs=run_refs(run, ticket_pattern=self.ticket_pattern) if run else ())
            if event.id not in state.moves:
                state.moves.append(event.id)
            yield event
        yield state

    def _run_of(self, version: ModelVersion) -> Run | None:
        """The run a version was built from; None when it has none or the run is gone."""
        return self._run_of_id(version.run_id)

    def _run_of_id(self, run_id: str | None) -> Run | None:
        if not run_id:
            return None
        try:
            return self.client.get_run(run_id)
        except MlflowException as exc:
            if exc.get_http_status_code() == 404:
                return None
            raise

    def _model_url(self, name: str, version: str | None) -> str | None:
        if not is_http(self.tracking_uri) or uri_scheme(self.tracking_uri) == "databricks":
            return None
        base = without_userinfo(self.tracking_uri).rstrip("/")
        return f"{base}/#/models/{name}/versions/{version}" if version else f"{base}/#/models/{name}"
