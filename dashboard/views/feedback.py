"""Feedback loops: how long each kind of wait takes (SPEC §4), week by week, and what is waiting now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from dashboard import context, loaders
from dashboard.components import (
    Card,
    cards,
    demo_notice,
    empty_state,
    figure_columns,
    hours_text,
    show_chart,
    working_hours_text,
)
from glassbox.chart_words import distribution_words, flow_words, shares_words, trend_words
from glassbox.charts import agreement_shares, latency_distribution, latency_trend, ticket_flow
from glassbox.metrics.chart_data import TREND_WEEKS, short_label
from glassbox.metrics.latency import LATENCIES
from glassbox.periods import iso_week
from glassbox.reports.content import signed_hours
from glassbox.vocabulary import AGREEMENT_WORDS, LATENCY_LABELS, agreement_sentence

ctx = context.require()
st.title("Feedback loops")
st.caption(f"How fast questions get answers and work moves · {ctx.period.label} · {ctx.view} view · "
           "a wait counts in the week it ends")
if ctx.demo:
    demo_notice()

now = datetime.now(UTC).replace(second=0, microsecond=0)  # open waits are measured up to now
last_day = (ctx.period.end - timedelta(microseconds=1)).astimezone(ctx.tz).date()
weeks = tuple((short_label(week), week.start, week.end) for week in  # "23 Nov": people read dates
              (iso_week(last_day - timedelta(weeks=back), ctx.tz) for back in range(TREND_WEEKS - 1, -1, -1)))
previous_period = ctx.period.previous()
since = min(weeks[0][1], previous_period.start)  # every figure below from one read of the waits since then
trend = loaders.latency_trend(ctx.source, ctx.view, weeks, now, since)
period = loaders.latency_trend(ctx.source, ctx.view, ((ctx.period.label, ctx.period.start, ctx.period.end),), now,
                               since)
before = loaders.latency_trend(ctx.source, ctx.view,
                               ((previous_period.label, previous_period.start, previous_period.end),), now, since)


def label(name: str) -> str:
    return LATENCY_LABELS.get(name, name)


def figure(frame: pd.DataFrame, name: str, column: str) -> float | None:
    value = frame.loc[frame["latency"] == name, column]
    return None if value.empty or pd.isna(value.iloc[0]) else float(value.iloc[0])


if int(period["n"].sum()) == 0 and int(trend["n"].sum()) == 0:
    empty_state("No waits measured yet.",
                "Latencies need tickets (a `[[jira]]` source), pull requests (`[[github]]`) and runs (`[[mlflow]]`), "
                "and the client's people listed under `[[people]]` with `side = \"client\"`.")
else:
    headline = ("client_response", "client_turnaround", "ticket_lead", "pr_merge")
    items = []
    for name in headline:
        now_value, then_value = figure(period, name, "median_hours"), figure(before, name, "median_hours")
        delta = None if now_value is None or then_value is None else signed_hours(now_value - then_value)
        still_open, oldest = figure(period, name, "open") or 0, figure(period, name, "oldest_open_hours")
        if now_value is None and still_open:  # waits still open, none finished yet: "1 open · oldest 4.7 d"
            items.append(Card(label(name), f"{still_open:.0f} open", f"oldest {hours_text(oldest)}", neutral=True,
                              help="No wait of this kind ended this period; these are still open"))
            continue
        items.append(Card(label(name), hours_text(now_value), delta, inverse=True,
                          help="Median of the waits that ended this period (or, when none did, the ones "
                               "still open and the oldest); the change is against the previous period"))
    cards(items)

    st.subheader("This period")
    table = period.assign(Latency=period["latency"].map(label))
    st.dataframe(pd.DataFrame({
        "Latency": table["Latency"], "Samples": table["n"],
        "Median": table["median_hours"].map(hours_text), "p90": table["p90_hours"].map(hours_text),
        "Longest": table["max_hours"].map(hours_text),
        "Median (working hours)": table["median_working_hours"].map(working_hours_text),
        "Still open": table["open"], "Oldest open": table["oldest_open_hours"].map(hours_text),
    }), hide_index=True, width="stretch", column_config=figure_columns())

    st.subheader(f"Week by week (last {TREND_WEEKS} weeks)")
    measured = [name for name in LATENCIES if trend.loc[trend["latency"] == name, "n"].sum() > 0]
    for pair in range(0, len(measured), 2):
        columns = st.columns(2, gap="large")
        for column, name in zip(columns, measured[pair:pair + 2], strict=False):
            mine = trend.loc[trend["latency"] == name, ["week", "median_hours", "p90_hours"]]
            with column:
                show_chart(latency_trend, mine, title=label(name), height=180,
                           says=trend_words(mine, label(name)))

    st.subheader("Distribution this period")
    spread = loaders.latency_distribution(ctx.source, ctx.view, ctx.period.start, ctx.period.end, since=since)
    if spread.empty:
        st.caption("No wait ended in this period.")
    else:
        named = spread.assign(latency=spread["latency"].map(label))
        show_chart(latency_distribution, named, label_limit=320, says=distribution_words(named))

def verdict(met: object) -> str:
    """Kept, not kept, or nothing to judge yet, as a coloured badge."""
    if met is True:
        return ":green-badge[:material/check: kept]"
    if met is False:
        return ":red-badge[:material/close: not kept]"
    return ":gray-badge[no waits ended]"


def limit_text(limit: float, working: bool) -> str:
    return f"{limit:g} {'working hours' if working else 'hours'}"


if ctx.config.agreement:
    st.subheader("Working agreements")
    st.caption("The share of waits that ended within the agreed limit, week by week; the dashed line is the "
               "agreed share. Tickets waiting for the client are paused for the ticket agreements.")
    shares = loaders.agreement_weeks(ctx.source, ctx.view, weeks, now, since)
    selected = loaders.agreement_weeks(ctx.source, ctx.view,
                                       ((ctx.period.label, ctx.period.start, ctx.period.end),), now, since)
    for pair in range(0, len(ctx.config.agreement), 2):
        columns = st.columns(2, gap="large")
        for column, index in zip(columns, range(pair, min(pair + 2, len(ctx.config.agreement))), strict=False):
            agreement = ctx.config.agreement[index]
            figures = selected.loc[selected["agreement"] == index].iloc[0].to_dict()
            with column:
                st.markdown(f"{verdict(figures['met'])} {agreement_sentence(figures)}")
                mine = shares.loc[shares["agreement"] == index, ["week", "share", "n"]]
                title = f"{AGREEMENT_WORDS.get(agreement.latency, agreement.latency)} within " \
                        f"{limit_text(agreement.limit, agreement.working)}"
                show_chart(agreement_shares, mine, agreement.target_share, title, height=180,
                           says=shares_words(mine, agreement.target_share, title))
    late = loaders.breaching_now(ctx.source, ctx.view, now)
    st.markdown(f"**Open past the agreed limit** · {len(late)}")
    if late.empty:
        st.caption("No open wait is past its limit.")
    else:
        st.dataframe(pd.DataFrame({
            "Kind": late["latency"].map(label), "Thread": late["thread"], "What": late["title"],
            "Waiting for": [working_hours_text(w) if working else hours_text(h)
                            for h, w, working in zip(late["hours"], late["working_hours"], late["working"],
                                                     strict=True)],
            "Agreed": [limit_text(limit, working) for limit, working in zip(late["limit"], late["working"],
                                                                           strict=True)],
        }), hide_index=True, width="stretch")

st.subheader("Waiting now")
waits = loaders.open_waits_now(ctx.source, ctx.view, now)
if waits.empty:
    st.caption("Nothing is waiting.")
else:
    st.dataframe(pd.DataFrame({"Waiting for": waits["hours"].map(hours_text), "Kind": waits["latency"].map(label),
                               "Thread": waits["thread"], "What": waits["title"],
                               "Working hours": waits["working_hours"].map(working_hours_text)}),
                 hide_index=True, width="stretch")

st.subheader("Ticket flow")
flow = loaders.ticket_flow(ctx.source, ctx.view, ctx.period.label, ctx.period.start, ctx.period.end)
if int(flow[["created", "resolved"]].to_numpy().sum()) == 0:
    st.caption("No tickets created or resolved in these weeks.")
else:
    show_chart(ticket_flow, flow, height=220, says=flow_words(flow))
