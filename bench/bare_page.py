"""The floor for a dashboard page (issue #17): a bare Streamlit page over the same store.

``streamlit run bench/bare_page.py`` with ``GLASSBOX_CONFIG`` set: one SQL aggregate of the last four
weeks (events per day and category), one Altair chart and one table — the least a page showing that
store can do. Only the engine is cached, so every load, the first after a sync included, runs the
query again. ``bench/bench_dashboard.py`` serves it beside the dashboard and compares.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import altair as alt
import pandas as pd
import streamlit as st
from sqlalchemy import Engine, func, select

from glassbox import schema
from glassbox.config import load_config
from glassbox.store import make_engine

TITLE = "Bare page"
DONE = "events in the last four weeks"  # drawn last: the page has finished when this shows


@st.cache_resource
def engine(url: str) -> Engine:
    return make_engine(url)


def per_day(url: str, since: datetime) -> pd.DataFrame:
    table = schema.events
    day = func.date(table.c.occurred_at).label("day")
    query = (select(day, table.c.category, func.count().label("events"))
             .where(table.c.occurred_at >= since).group_by(day, table.c.category).order_by(day))
    with engine(url).connect() as conn:
        return pd.DataFrame(conn.execute(query).all(), columns=["day", "category", "events"])


st.title(TITLE)
frame = per_day(load_config(os.environ["GLASSBOX_CONFIG"]).store_url, datetime.now(UTC) - timedelta(weeks=4))
frame["day"] = pd.to_datetime(frame["day"])
st.altair_chart(alt.Chart(frame).mark_bar().encode(x="day:T", y="sum(events):Q", color="category:N"),
                width="stretch")
st.dataframe(frame.pivot_table(index="day", columns="category", values="events", fill_value=0),
             width="stretch")
st.caption(f"{int(frame['events'].sum()):,} {DONE}")
