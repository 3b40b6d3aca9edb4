"""Reading the read model's day counts: how many events a view has per local day, source, category and person.

A period's counts (SPEC §5 ``counts``, the activity chart) summed from a few hundred rows instead of
counted over the period's events. Days are the engagement's local days, so any period made of whole
local days (a week, a day range) is a range of rows; :func:`period_days` gives it.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import func, select

from glassbox import schema
from glassbox.metrics.summary import COUNTED
from glassbox.periods import Period
from glassbox.readmodel.derive import DAY_KEYS, EVERY_KEY, NO_PERSON, DayKey, day_rows
from glassbox.store import Store
from glassbox.views import View

DAY_COLUMNS = (*DAY_KEYS, "events")


def daily_counts(store: Store, view: View, start: date, end: date,
                 by: tuple[DayKey, ...] = EVERY_KEY) -> pd.DataFrame:
    """The events of ``view`` per day in ``[start, end)`` and each of ``by``: ``day, *by, events``, one
    row per combination with events (every key by default, :data:`DAY_COLUMNS`; ``person`` None for an
    event without an actor). The keys left out are summed over in the database, so a chart of sources
    reads a row per day and source, not one per person and side too (8 weeks at 1M events: 7,055 rows → 560)."""
    table = schema.rm_days
    keys = [table.c.day, *(table.c[name] for name in by)]
    query = (select(*keys, func.sum(table.c.events))
             .where(table.c.engagement == store.engagement, table.c.view == View(view).value,
                    table.c.day >= start, table.c.day < end)
             .group_by(*keys).order_by(*keys))
    with store.transaction() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=["day", *by, "events"])
    return _as_read(frame)


def counted_days(timeline: pd.DataFrame, zone: ZoneInfo, by: tuple[DayKey, ...] = EVERY_KEY) -> pd.DataFrame:
    """:func:`daily_counts`'s frame counted from ``timeline``'s events (days in ``zone``): what a page
    shows while the read model is stale (the config edited since the last sync)."""
    rows = day_rows(timeline, zone, "", View.TEAM)  # the engagement and view columns are dropped
    every = pd.DataFrame(rows, columns=["engagement", "view", *DAY_COLUMNS])
    # summed before a missing person becomes None: every key is then a value, as in the database
    summed = every.groupby(["day", *by], sort=True)["events"].sum().reset_index()
    return _as_read(summed)


def _as_read(frame: pd.DataFrame) -> pd.DataFrame:
    if "person" in frame:
        frame["person"] = frame["person"].where(frame["person"] != NO_PERSON, None)
    frame["events"] = frame["events"].astype(int)
    return frame


def category_counts(store: Store, view: View, start: date, end: date) -> dict[str, int]:
    """SPEC §5 ``counts`` of the event categories (:data:`glassbox.metrics.summary.COUNTED`) in ``[start, end)``:
    summed in the database, a handful of numbers whatever the period."""
    table = schema.rm_days
    query = (select(table.c.category, func.sum(table.c.events))
             .where(table.c.engagement == store.engagement, table.c.view == View(view).value,
                    table.c.day >= start, table.c.day < end, table.c.category.in_(list(COUNTED.values())))
             .group_by(table.c.category))
    with store.transaction() as conn:
        totals = {category: int(number) for category, number in conn.execute(query).all()}
    return {name: totals.get(category, 0) for name, category in COUNTED.items()}


def period_days(period: Period) -> tuple[date, date]:
    """``period``'s local days as ``[first, after last)``; exact for periods starting and ending at local midnight."""
    return period.start.date(), period.end.date()
