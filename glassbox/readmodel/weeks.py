"""The read model's week of runs (``rm_week_runs``): the run figures of the week still running, kept
by the sync, so a Portfolio row reads one row instead of the week's runs.

A Portfolio row (:mod:`glassbox.portfolio`) shows an engagement's week still running: its top-level
runs against last week's, its KPIs' best against their targets, the metric drops and model
regressions (:func:`week_run_figures`, by the report's own functions). Those depend on the runs and
the model events alone — never on the moment they are asked, unlike the row's open waits, which grow
by the minute and are read when asked. At 1M events a week holds about a thousand runs, and reading
them with their families, stories and models cost 0.2–0.3 s per row, where issue #17 asks 50 ms.

So the sync keeps them: a write that changes a run or a model event forgets the kept figures in its
transaction (:func:`forget`: they are never stale, only missing), and the end of the sync derives
those of the week running then, when they are missing or of another week (:func:`keep_current_week`,
from :func:`glassbox.readmodel.update.ensure_current`) — once per sync, not once per batch: 0.3–0.5 s
at 1M events. Every writer of the read model holds the sync lock, so nothing writes in between. The
row reads them back (:func:`kept_week`); any other week, and this one while its figures are missing,
is measured when asked.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from glassbox import schema
from glassbox.config import Config
from glassbox.metrics.experiments import experiments_summary
from glassbox.metrics.models import models_summary, version_runs
from glassbox.metrics.runs import count_runs
from glassbox.periods import Period, PeriodKind, iso_week
from glassbox.readmodel.kpis import period_stories
from glassbox.readmodel.runs import family_runs, stored_runs
from glassbox.slices import model_history
from glassbox.store import Store
from glassbox.views import View
from glassbox.visibility import hides_anything


@dataclass(frozen=True)
class WeekRuns:
    """A week's run figures under the report's own keys: ``runs`` and ``previous_runs`` its counts'
    ``runs`` (top-level runs started in the week and in the one before), ``experiments`` and ``alerts``
    (metric drops, then model regressions) as in the report JSON (SPEC §5)."""

    runs: int
    previous_runs: int
    experiments: list[dict[str, Any]]
    alerts: list[dict[str, Any]]


def week_run_figures(store: Store, config: Config, period: Period, view: View) -> WeekRuns:
    """``period``'s run figures as ``view`` sees them, from the read model's runs and stories and the
    model events up to its end — the runs started since the week before, with their families, not
    every run (every run only while a family spans the period's end: :func:`period_stories`)."""
    previous = period.previous()
    models = model_history(store, config, view, period.end)
    stories = period_stories(store, config.kpi, view, period.start, period.end)
    runs = stored_runs(store, view, period.end) if stories is None else family_runs(
        store, view, period.end, started_from=previous.start, run_ids=version_runs(models))
    entries, drops, _ = experiments_summary(runs, config.kpi, period.start, period.end, stories)
    _, regressions = models_summary(models, runs, config.kpi, period.start, period.end)
    return WeekRuns(runs=count_runs(runs, period.start, period.end),
                    previous_runs=count_runs(runs, previous.start, previous.end),
                    experiments=entries, alerts=drops + regressions)


def current_week(config: Config, now: datetime) -> Period:
    """The ISO week running at ``now`` in the engagement's time zone: the Portfolio's week."""
    zone = config.engagement.zone
    return iso_week(now.astimezone(zone).date(), zone)


def keep_current_week(store: Store, config: Config, now: datetime) -> None:
    """Replace the kept figures with those of the week running at ``now``, in both views (the team's
    again for the client when the client view hides nothing), in ``store``'s transaction."""
    week = current_week(config, now)
    views = (View.TEAM, View.CLIENT) if hides_anything(config) else (View.TEAM,)
    figures = {view: week_run_figures(store, config, week, view) for view in views}
    table = schema.rm_week_runs
    with store.transaction() as conn:
        conn.execute(delete(table).where(table.c.engagement == store.engagement))
        conn.execute(insert(table), [
            {"engagement": store.engagement, "view": view.value, "week": week.label,
             "figures": json.dumps(asdict(figures.get(view, figures[View.TEAM])))} for view in View])


def forget(store: Store) -> None:
    """Drop the kept figures (in the caller's transaction): a write changed what they are made of."""
    table = schema.rm_week_runs
    with store.transaction() as conn:
        conn.execute(delete(table).where(table.c.engagement == store.engagement))


def keeps_week_of(store: Store, config: Config, now: datetime) -> bool:
    """Whether the kept figures are those of the week running at ``now``."""
    table = schema.rm_week_runs
    with store.transaction() as conn:
        week = conn.execute(select(table.c.week).where(table.c.engagement == store.engagement).limit(1)).scalar()
    return week == current_week(config, now).label


def kept_week(store: Store, view: View, period: Period) -> WeekRuns | None:
    """``period``'s kept run figures in ``view``; None unless it is the week the last sync kept."""
    if period.kind is not PeriodKind.WEEK:
        return None
    table = schema.rm_week_runs
    with store.transaction() as conn:
        text = conn.execute(select(table.c.figures).where(
            table.c.engagement == store.engagement, table.c.view == view.value,
            table.c.week == period.label)).scalar()
    return None if text is None else WeekRuns(**json.loads(text))
