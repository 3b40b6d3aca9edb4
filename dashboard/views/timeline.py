"""Timeline: the unified feed of every source, filtered, grouped by day, each row linked to its original."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from dashboard import context, loaders
from dashboard.components import (
    CATEGORY_LABELS,
    demo_notice,
    empty_state,
    local,
    pages_of_days,
    show_chart,
    source_label,
)
from glassbox.chart_words import activity_words
from glassbox.charts import activity_by_day
from glassbox.metrics.chart_data import activity_of_days, activity_unit
from glassbox.periods import FIRST_DAY, LAST_DAY, day_range
from glassbox.readmodel.days import counted_days
from glassbox.timeline import to_csv
from glassbox.views import View

DAYS_PER_PAGE = 7
EVENTS_PER_PAGE = 1500  # fewer days on a page of busy days: 2,700 events a day took the browser seconds a page
PAGES_AS_BUTTONS = 10  # more pages are picked from a list, not a wall of buttons


def ticket_order(key: str) -> tuple[str, int, str]:
    """CHURN-2 before CHURN-10: by project, then by number."""
    project, _, number = key.rpartition("-")
    return (project, int(number), key) if number.isdigit() else (key, 0, key)


def events_text(count: int) -> str:
    return f"{count:,} event{'' if count == 1 else 's'}"


def merged_moves(frame: pd.DataFrame) -> pd.DataFrame:
    """One row for a move that resolved a ticket: Jira records the transition and the resolution at the
    same moment, and the feed showed both."""
    moves = frame.loc[frame["category"] == "ticket_transition", ["thread", "occurred_at"]]
    resolved = frame["category"] == "ticket_resolved"
    twin = pd.MultiIndex.from_frame(frame[["thread", "occurred_at"]]).isin(pd.MultiIndex.from_frame(moves))
    kept = frame.loc[~(resolved & twin)].copy()
    resolving = (kept["category"] == "ticket_transition") & pd.MultiIndex.from_frame(
        kept[["thread", "occurred_at"]]).isin(pd.MultiIndex.from_frame(frame.loc[resolved, ["thread", "occurred_at"]]))
    kept.loc[resolving, "category"] = "ticket_resolved"
    return kept

ctx = context.require()
tz = ctx.tz
st.title("Timeline")
st.caption(f"Every commit, pull request, ticket change and experiment run in one feed · {ctx.view} view · "
           f"times in {tz}")
if ctx.demo:
    demo_notice()

first_day = ctx.period.start.astimezone(ctx.tz).date()
period_last_day = (ctx.period.end - timedelta(microseconds=1)).astimezone(ctx.tz).date()
# The range ends today, not at the period's end days ahead (SPEC §4: nothing is measured into the future).
last_day = max(first_day, min(period_last_day, ctx.today()))
filters = st.expander("Filters", expanded=True, icon=":material/filter_list:")  # folds away on a phone
dates, sources, people, sides = filters.columns([2, 2, 2, 1])
# Keyed by the period: under one fixed key Streamlit kept the first period's dates after the sidebar changed.
# Any day the periods accept, not Streamlit's ten years either side: engagements import old tickets.
picked = dates.date_input("Dates", value=(first_day, last_day), key=f"tl_dates_{first_day}_{period_last_day}",
                          min_value=FIRST_DAY, max_value=LAST_DAY)
start_day, end_day = (picked[0], picked[-1]) if isinstance(picked, tuple) and picked else (first_day, last_day)
window = day_range(start_day, end_day, ctx.tz)
# The period's totals, choices and chart come from its day counts; only the days a page shows are read
# as events, unless a ticket or words are asked for, which only the events themselves can answer.
counts = loaders.day_counts(ctx.source, ctx.view, window.start, window.end)
bots = 0
if ctx.view is View.CLIENT:  # a client reads what people did; the bots' rows are the team's plumbing
    bots = int(counts.loc[counts["side"] == "bot", "events"].sum())
    counts = counts.loc[counts["side"] != "bot"]

chosen_sources = sources.multiselect("Sources", sorted(counts["source"].unique()), format_func=source_label,
                                     placeholder="All sources", key="tl_sources")
chosen_people = people.multiselect("People", sorted(counts["person"].dropna().unique()), placeholder="Everyone",
                                   key="tl_people")
chosen_sides = sides.multiselect("Side", ["client", "team"] if ctx.view is View.CLIENT else ["client", "team", "bot"],
                                 placeholder="All", key="tl_sides")
ticket_col, search_col = filters.columns([1, 3])
tickets = sorted(loaders.period_tickets(ctx.source, ctx.view, window.start, window.end), key=ticket_order)
titles = loaders.thread_titles(ctx.source, ctx.view, tuple(tickets))
chosen_ticket = ticket_col.selectbox("Ticket", tickets, index=None, placeholder="Any ticket", key="tl_ticket",
                                     format_func=lambda key: f"{key} · {titles[key]}" if titles.get(key) else key)
query = search_col.text_input("Search", placeholder="Words in titles, threads, people or refs", key="tl_search")
if chosen_ticket:
    st.page_link("views/story.py", label=f"The whole story of {chosen_ticket}", icon=":material/history_edu:",
                 query_params={"ticket": chosen_ticket})


def chosen(frame: pd.DataFrame, person: str) -> pd.Series:
    """Which rows of ``frame`` (events, or day counts whose ``person`` column names them) the source,
    people and side filters keep."""
    mask = pd.Series(True, index=frame.index)
    if chosen_sources:
        mask &= frame["source"].isin(chosen_sources)
    if chosen_people:
        mask &= frame[person].isin(chosen_people)
    if chosen_sides:
        mask &= frame["side"].isin(chosen_sides)
    return mask


def matching(rows: pd.DataFrame) -> pd.DataFrame:
    """The events of ``rows`` every filter keeps (the bots already gone from a client's)."""
    if ctx.view is View.CLIENT:
        rows = rows.loc[rows["side"] != "bot"]
    mask = chosen(rows, "actor")
    if chosen_ticket:
        mask &= (rows["thread"] == chosen_ticket) | rows["tickets"].str.split().map(lambda keys: chosen_ticket in keys)
    if query:
        haystack = rows["title"].fillna("") + " " + rows["thread"] + " " + rows["actor"].fillna("") + " " + rows["refs"]
        mask &= haystack.str.contains(query, case=False, regex=False)
    return rows.loc[mask]


def window_events() -> pd.DataFrame:
    return matching(loaders.events(ctx.source, window.start, window.end, ctx.view))


def window_csv() -> str:
    """The CSV of every event the filters keep, read when the button is pressed, not on every run."""
    rows = window_events()
    return to_csv(rows.assign(refs=rows["refs"].str.split()), tz)


if counts.empty:
    empty_state(f"No events between {start_day:%d %b} and {end_day:%d %b %Y}.",
                "Widen the dates, or pull your sources into the store with `python -m glassbox sync`.")
    st.stop()
read_whole = bool(chosen_ticket or query)
shown = window_events() if read_whole else None
shown_counts = counted_days(shown, tz) if shown is not None else counts.loc[chosen(counts, "person")]
if shown_counts.empty:
    empty_state("No events match these filters.", "Clear a filter or widen the dates.")
    st.stop()

summary, download = st.columns([4, 1], vertical_alignment="bottom")
people_count = shown_counts["person"].dropna().nunique()
summary.markdown(f"**{events_text(int(shown_counts['events'].sum()))}** from **{people_count}** "
                 f"{'person' if people_count == 1 else 'people'} between {start_day:%d %b} and {end_day:%d %b %Y}")
download.download_button(
    "Download CSV", window_csv,
    file_name=f"glassbox-timeline-{start_day}-{end_day}.csv", mime="text/csv", icon=":material/download:",
    on_click="ignore")
per_bucket = activity_of_days(shown_counts, window, tz)
show_chart(activity_by_day, per_bucket, activity_unit(window), height=160,
           says=activity_words(per_bucket, activity_unit(window))
           + (f" {bots} automated item{'s' if bots != 1 else ''} (bots) not shown." if bots else ""))


def days_label(chunk: list) -> str:
    """A page of days, newest first: ``25 Nov – 19 Nov``."""
    return f"{chunk[0]:%d %b}" if len(chunk) == 1 else f"{chunk[0]:%d %b} – {chunk[-1]:%d %b}"


chunks = pages_of_days(shown_counts.groupby("day")["events"].sum().sort_index(ascending=False),
                       DAYS_PER_PAGE, EVENTS_PER_PAGE)
page = 0
if len(chunks) > PAGES_AS_BUTTONS:
    page = st.columns([1, 3])[0].selectbox("Days", range(len(chunks)), index=0, key="tl_page_list",
                                           format_func=lambda index: days_label(chunks[index])) or 0
elif len(chunks) > 1:
    page = st.segmented_control("Days", range(len(chunks)), default=0, key="tl_page",
                                format_func=lambda index: days_label(chunks[index])) or 0
page_days = day_range(chunks[page][-1], chunks[page][0], tz)
on_page = shown if shown is not None else matching(loaders.events(ctx.source, page_days.start, page_days.end, ctx.view))
days = local(on_page["occurred_at"], tz).dt.date
for day in chunks[page]:
    mine = merged_moves(on_page.loc[days == day])
    st.subheader(f"{day:%A %d %B}", divider="gray")
    st.caption(events_text(len(mine)))
    table = pd.DataFrame({
        "Time": local(mine["occurred_at"], tz).dt.strftime("%H:%M"),
        "Source": mine["source"].map(source_label),
        "What": mine["category"].map(CATEGORY_LABELS).fillna(mine["category"]),
        "Who": mine["actor"], "Side": mine["side"], "Thread": mine["thread"], "Title": mine["title"],
        "Detail": mine["detail"], "Link": mine["url"],
    })
    st.dataframe(table, hide_index=True, width="stretch", key=f"tl_day_{day}", placeholder="—",
                 column_config={"Link": st.column_config.LinkColumn(display_text="open ↗", width="small"),
                                "Title": st.column_config.TextColumn(width="medium"),
                                "Time": st.column_config.TextColumn(width="small")})
