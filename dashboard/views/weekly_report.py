"""Weekly report: pick a week, read the summary a client receives, and download it in every format."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pandas as pd
import streamlit as st

from dashboard import context, loaders
from dashboard.components import Card, cards, demo_notice, empty_state, escape_markdown, hours_text
from glassbox.periods import iso_week
from glassbox.reports import FORMATS, file_name, render_model
from glassbox.reports.content import kpi_sentence, links_sentence
from glassbox.vocabulary import COUNT_LABELS, latency_label

WEEKS_BACK = 12
MIME = {"md": "text/markdown", "html": "text/html", "csv": "text/csv", "json": "application/json",
        "pdf": "application/pdf"}

ctx = context.require()
st.title("Weekly report")
st.caption(f"The summary a client receives each week · {ctx.view} view · times in {ctx.config.engagement.timezone}")
if ctx.demo:
    demo_notice()

today = ctx.today()
weeks = [iso_week(today - timedelta(weeks=back), ctx.tz) for back in range(WEEKS_BACK)]


def week_label(index: int) -> str:
    week = weeks[index]
    last = (week.end - timedelta(days=1)).date()
    suffix = " (this week, so far)" if index == 0 else " (last week)" if index == 1 else ""
    return f"{week.label} · {week.start:%d %b} – {last:%d %b}{suffix}"


picked = st.selectbox("Week", range(len(weeks)), index=1, format_func=week_label, key="report_week")
week = weeks[picked]
model = loaders.report(ctx.source, ctx.view, week.label, week.start, week.end)
report = model.report
counts = report.get("counts", {})
previous = (report.get("previous") or {}).get("counts", {})

st.subheader("Downloads")
buttons = st.columns(len(FORMATS))
for column, fmt in zip(buttons, FORMATS, strict=True):
    column.download_button(
        fmt.upper(), partial(render_model, model, fmt),
        file_name=file_name(week, fmt, ctx.view), mime=MIME[fmt], icon=":material/download:",
        on_click="ignore", key=f"download_{fmt}", width="stretch")

st.subheader("At a glance")
if not any(counts.values()):
    empty_state(f"Nothing happened in {week.label}.", "Pick another week, or run `python -m glassbox sync`.")
def sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


headline = ("commits", "pull_requests_merged", "tickets_resolved", "runs", "comments")
cards([Card(sentence_case(COUNT_LABELS.get(name, name)), int(counts.get(name, 0)),
            int(counts.get(name, 0)) - int(previous[name]) if name in previous else None,
            help="Against the week before") for name in headline])
links = links_sentence(report.get("links", {}))
if links:
    st.caption(escape_markdown(links))

st.subheader("Experiments")
experiments = report.get("experiments", [])
if not experiments:
    st.caption("No experiment runs this week.")
for experiment in experiments:
    st.markdown(f"**{escape_markdown(experiment['experiment'])}** — {experiment.get('runs', 0)} run(s) this week. "
                f"{escape_markdown(kpi_sentence(experiment))}")
for alert in report.get("alerts", []):
    st.warning(escape_markdown(alert.get("message", "")), icon=":material/warning:")

st.subheader("Response times")
latency = report.get("latency", {})
st.dataframe(pd.DataFrame([
    {"Latency": latency_label(name), "Samples": figures.get("n"),
     "Median": hours_text(figures.get("median_hours")), "p90": hours_text(figures.get("p90_hours")),
     "Median (working hours)": hours_text(figures.get("median_working_hours")),
     "Still open": figures.get("open"), "Oldest open": hours_text(figures.get("oldest_open_hours"))}
    for name, figures in latency.items()]), hide_index=True, width="stretch")

shipped_col, waiting_col = st.columns(2, gap="large")
with shipped_col:
    st.subheader("Shipped")
    shipped = report.get("shipped", {})
    done = [{"What": "PR", "Thread": item["thread"], "Title": item["title"], "Link": item.get("url")}
            for item in shipped.get("pull_requests", [])]
    done += [{"What": "Ticket", "Thread": item["thread"], "Title": item["title"], "Link": item.get("url")}
             for item in shipped.get("tickets", [])]
    if done:
        st.dataframe(pd.DataFrame(done), hide_index=True, width="stretch",
                     column_config={"Link": st.column_config.LinkColumn(display_text="open ↗")})
    else:
        st.caption("Nothing merged or resolved this week.")
with waiting_col:
    st.subheader("Waiting at the week's end")
    waiting = model.content().open_items  # the report's list, worded as in every format
    if waiting:
        st.dataframe(pd.DataFrame([{"On": item.get("on"), "Why": item.get("why"), "Thread": item.get("thread"),
                                    "What": item.get("title"), "For": hours_text(item.get("hours"))}
                                   for item in waiting]),
                     hide_index=True, width="stretch")
    else:
        st.caption("Nothing was waiting.")
