"""The unified timeline of SPEC §3: one row per event, people resolved, the view applied.

Every consumer (the ``timeline`` command, the dashboard, reports, metrics) starts from
:func:`load_timeline`, so names, sides and the client view are decided in exactly one place.
"""

from __future__ import annotations

import io
import json
import weakref
from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd

from glassbox.config import Config
from glassbox.metrics.linking import known_tickets, ticket_project
from glassbox.people import Directory
from glassbox.redaction import printable
from glassbox.store import Store
from glassbox.views import View, parse_view
from glassbox.visibility import client_view

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets read as a formula (OWASP)
_SOURCE_TEXT_FIELDS = ("actor", "thread", "title", "url", "refs")  # the others are ids, names and times we make
TIMELINE_FIELDS = ("id", "source", "category", "occurred_at", "actor", "side", "thread", "title", "url", "refs",
                   "engagement")  # SPEC §6: the engagement's id, last so §3's columns keep their places
_READ_COLUMNS = ("id", "source", "sources", "origin", "category", "occurred_at", "actor", "actor_ids",
                 "thread", "title", "url", "labels", "attrs")


def load_timeline(
    store: Store,
    config: Config,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    sources: Iterable[str] | None = None,
    categories: Iterable[str] | None = None,
    view: View | str = View.TEAM,
    ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The store's engagement's events in ``[start, end)`` with SPEC §3's fields plus ``engagement``
    (SPEC §6), ``origin``, ``sources``, ``labels``, ``attrs``.

    ``actor`` becomes the person's name where ``[[people]]`` knows them (the raw id stays in
    ``actor_id``); ``side`` is client, team or bot; ``refs`` is the list of ticket keys and SHAs and
    ``ref_kinds`` their kinds (``ticket``/``commit``) as the store keeps them. With Jira sources
    configured, only keys of the Jira projects in the store count as tickets
    (:func:`glassbox.metrics.linking.known_tickets`). ``ids`` limits it to those events (the read
    model re-deriving the threads a sync touched). An unknown ``view`` is an error, not the team view.
    """
    view = parse_view(view)
    frame, refs = _read(store, config, start=start, end=end, sources=sources, categories=categories, ids=ids)
    if view is not View.TEAM:  # fail closed: only the team view sees everything
        frame, refs = client_view(frame, refs, store, config)
    return _finished(frame, refs, store, config)


def load_both_views(store: Store, config: Config, ids: Sequence[str] | None = None) -> dict[View, pd.DataFrame]:
    """The events ``ids`` (all when None) as :func:`load_timeline` gives them in each view, from one
    read: the client's are the team's events minus what it hides (the read model derives both). When
    the client view hides none of them, both views are the same frame."""
    frame, refs = _read(store, config, ids=ids)
    team = _finished(frame, refs, store, config)
    client_frame, client_refs = client_view(frame, refs, store, config)
    if len(client_frame) == len(frame) and len(client_refs) == len(refs):  # it only ever removes
        return {View.TEAM: team, View.CLIENT: team}
    return {View.TEAM: team, View.CLIENT: _finished(client_frame, client_refs, store, config)}


def _read(store: Store, config: Config, *, start: datetime | None = None, end: datetime | None = None,
          sources: Iterable[str] | None = None, categories: Iterable[str] | None = None,
          ids: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The events and their refs (only the known Jira projects' keys as tickets), as stored."""
    sources = list(sources) if sources is not None else None
    categories = list(categories) if categories is not None else None
    frame = store.read_events(start=start, end=end, sources=sources, categories=categories, columns=_READ_COLUMNS,
                              ids=ids)
    refs = store.read_refs(start=start, end=end, sources=sources, categories=categories, ids=ids)
    if config.jira:
        refs = known_tickets(refs, jira_projects(store))
    return frame, refs


def _finished(frame: pd.DataFrame, refs: pd.DataFrame, store: Store, config: Config) -> pd.DataFrame:
    """Read events as a timeline: people resolved, refs as lists, the engagement named (a new frame)."""
    frame = _resolve_people(frame, Directory(config.people))
    frame["refs"], frame["ref_kinds"] = _refs_lists(frame["id"], refs)
    frame["engagement"] = store.engagement
    return frame.reset_index(drop=True)


def jira_projects(store: Store) -> frozenset[str]:
    """The projects of the tickets the Jira sources returned (each ticket has one ``ticket_created``),
    split once per set of keys the store keeps (50k keys at 1M events: 30 ms to split again), and let
    go with it."""
    tickets = store.jira_tickets()
    projects = _PROJECTS.get(tickets)
    if projects is None:
        projects = _PROJECTS[tickets] = frozenset(ticket_project(key) for key in tickets)
    return projects


_PROJECTS: weakref.WeakKeyDictionary[frozenset[str], frozenset[str]] = weakref.WeakKeyDictionary()


def _resolve_people(frame: pd.DataFrame, directory: Directory) -> pd.DataFrame:
    """Resolve each distinct (actor, actor_ids) once: a million events have only dozens of people."""
    frame = frame.rename(columns={"actor": "actor_id"})
    keys = list(zip(frame["actor_id"], frame["actor_ids"].map(tuple), strict=True))
    resolved = {key: directory.resolve(key[0], key[1]) for key in set(keys)}
    frame["actor"] = [resolved[key].name for key in keys]
    frame["side"] = [resolved[key].side for key in keys]
    return frame.drop(columns=["actor_ids"])


def _refs_lists(ids: pd.Series, refs: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each event's ref values and, parallel to them, their kinds."""
    values: dict[str, list[str]] = {}
    kinds: dict[str, list[str]] = {}
    for event_id, kind, value in zip(refs["event_id"], refs["kind"], refs["value"], strict=True):
        values.setdefault(event_id, []).append(value)
        kinds.setdefault(event_id, []).append(kind)
    return (pd.Series([values.get(event_id, []) for event_id in ids], index=ids.index, dtype=object),
            pd.Series([kinds.get(event_id, []) for event_id in ids], index=ids.index, dtype=object))


def in_timezone(moments: pd.Series, tz: ZoneInfo) -> pd.Series:
    """UTC timestamps shown in the engagement's time zone."""
    return moments.dt.tz_convert(tz)


def to_records(frame: pd.DataFrame, tz: ZoneInfo) -> list[dict]:
    """Rows with exactly SPEC §3's fields, ``occurred_at`` as ISO 8601 with the engagement's offset."""
    out = frame.loc[:, list(TIMELINE_FIELDS)].copy()
    out["occurred_at"] = in_timezone(out["occurred_at"], tz).map(lambda t: t.isoformat())
    out["url"] = out["url"].where(out["url"].notna(), None)
    return out.to_dict(orient="records")


def to_jsonl(frame: pd.DataFrame, tz: ZoneInfo) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in to_records(frame, tz))


def spreadsheet_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: never run as a formula, no terminal codes.

    Titles are written by anyone who can open a ticket; ``=HYPERLINK(…)`` or ``+cmd|…`` would run
    when the client opens the export. As OWASP recommends, a cell starting with ``=``, ``+``, ``-``,
    ``@``, TAB or CR gets a leading ``'``; escape sequences and control characters are dropped first
    (so they cannot hide a formula), line breaks and tabs become spaces.
    """
    if not isinstance(value, str) or (value.isprintable() and not value.startswith(FORMULA_STARTS)):
        return value
    text = printable(value)
    return f"'{text}" if value.startswith(FORMULA_STARTS) or text.startswith(FORMULA_STARTS) else text


def to_csv(frame: pd.DataFrame, tz: ZoneInfo) -> str:
    """CSV with SPEC §3's columns; ``refs`` joined by spaces; source-written cells through :func:`spreadsheet_cell`.

    The timeline command, the report's CSV and the dashboard's downloads all write CSV here.
    """
    records = to_records(frame, tz)
    out = pd.DataFrame(records, columns=list(TIMELINE_FIELDS))
    out["refs"] = out["refs"].map(" ".join)
    for name in _SOURCE_TEXT_FIELDS:
        out[name] = [spreadsheet_cell(value) for value in out[name]]
    buffer = io.StringIO()
    out.to_csv(buffer, index=False)
    return buffer.getvalue()
