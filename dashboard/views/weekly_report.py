"""Weekly report: pick a week, read the summary a client receives, and download it in every format."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from dashboard import context, loaders
from dashboard.components import (
    Card,
    cards,
    demo_notice,
    empty_state,
    escape_markdown,
    figure_columns,
    hours_text,
    show_alerts,
    working_hours_text,
)
from glassbox.notes import MAX_NOTE_CHARS
from glassbox.periods import iso_week
from glassbox.reports import FORMATS, file_name, render_model
from glassbox.reports.content import kpi_sentence, links_sentence
from glassbox.views import View
from glassbox.vocabulary import COUNT_LABELS, count_label, latency_label

WEEKS_BACK = 12
MIME = {"md": "text/markdown", "html": "text/html", "csv": "text/csv", "json": "application/json",
        "pdf": "application/pdf"}

ctx = context.require()
st.title("Weekly report")
st.caption(f"The week's summary, as the client receives it · {ctx.view} view · "
           f"times in {ctx.config.engagement.timezone}")
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
note = loaders.week_note(ctx.source, week.label)
model = loaders.report(ctx.source, ctx.view, week, note)
report = model.report
counts = report.get("counts", {})
previous = (report.get("previous") or {}).get("counts", {})


def sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def note_section() -> None:
    """The team's words for the week, first (every format opens with them); editable in the team view only."""
    st.subheader("From the team")
    if note:
        with st.container(border=True):
            st.text(note.text)  # plain text: the note is never read as markup
        st.caption(f"Saved {note.updated_at.astimezone(ctx.tz):%d %b %Y, %H:%M}")
    elif ctx.view is not View.TEAM:
        st.caption("The team left no note for this week.")
    if ctx.view is not View.TEAM:
        return
    editor = st.expander("Edit the note" if note else "Write a note for the client", expanded=not note)
    with editor, st.form(f"note_{week.label}", border=False):
        text = st.text_area("Highlights, decisions needed from the client, next week",
                            value=note.text if note else "", height=160, max_chars=MAX_NOTE_CHARS,
                            help="Shown first in every format of this week's report, and in the "
                                 "client view. Plain text; an empty note removes it.")
        if st.form_submit_button("Save note", icon=":material/save:"):
            loaders.save_week_note(ctx.source, week.label, text)
            st.rerun()


def rendered(view: View, fmt: str) -> str | bytes:
    """The copy of ``view`` in ``fmt``, built when its button is clicked: the other view's report is
    not built for a visit that never downloads it (at 1M events, half the page's work)."""
    copy = model if view is ctx.view else loaders.report(ctx.source, view, week, note)
    return render_model(copy, fmt)


def download(column: DeltaGenerator, label: str, caption: str, view: View, fmt: str) -> None:
    """One copy of the report in ``fmt``; the client copy holds nothing internal."""
    column.download_button(
        f"{label} · {fmt.upper()}", partial(rendered, view, fmt), file_name=file_name(week, fmt, view),
        mime=MIME[fmt], icon=":material/download:", on_click="ignore", key=f"download_{view}",
        type="primary" if view is View.CLIENT else "secondary", width="stretch")
    column.caption(caption)


note_section()
st.subheader("Downloads")
fmt = st.segmented_control("Format", FORMATS, default="pdf", format_func=str.upper, key="report_format") or "pdf"
client_column, team_column = st.columns(2)
download(client_column, "Client copy — safe to forward", "Internal tickets and sources left out.", View.CLIENT, fmt)
if ctx.view is View.TEAM:
    download(team_column, "Team copy — internal", "Everything, internal tickets included: not for the client.",
             View.TEAM, fmt)

st.subheader("Experiments")
experiments = report.get("experiments", [])
if not experiments:
    st.caption("No experiment runs this week.")
for experiment in experiments:
    runs = int(experiment.get("runs", 0))
    st.markdown(f"**{escape_markdown(experiment['experiment'])}** — {runs} {count_label('runs', runs)} this week. "
                f"{escape_markdown(kpi_sentence(experiment))}")
show_alerts(report.get("alerts", []))

shipped_col, waiting_col = st.columns(2, gap="large")
with shipped_col:
    st.subheader("Shipped")
    shipped = report.get("shipped", {})
    done = [{"What": "PR", "Thread": item["thread"], "Title": item["title"], "Link": item.get("url")}
            for item in shipped.get("pull_requests", [])]
    done += [{"What": "Ticket", "Thread": item["thread"], "Title": item["title"], "Link": item.get("url")}
             for item in shipped.get("tickets", [])]
    if done:
        st.dataframe(pd.DataFrame(done), hide_index=True, width="stretch", placeholder="—",
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

st.subheader("At a glance")
if not any(counts.values()):
    empty_state(f"Nothing happened in {week.label}.", "Pick another week, or run `python -m glassbox sync`.")
headline = ("commits", "pull_requests_merged", "tickets_resolved", "runs", "comments")
cards([Card(sentence_case(COUNT_LABELS.get(name, name)), int(counts.get(name, 0)),
            int(counts.get(name, 0)) - int(previous[name]) if name in previous else None,
            help="Against the week before") for name in headline])
links = links_sentence(report.get("links", {}))
if links:
    st.caption(escape_markdown(links))

st.subheader("Response times")
latency = report.get("latency", {})
st.dataframe(pd.DataFrame([
    {"Latency": latency_label(name), "Samples": figures.get("n"),
     "Median": hours_text(figures.get("median_hours")), "p90": hours_text(figures.get("p90_hours")),
     "Median (working hours)": working_hours_text(figures.get("median_working_hours")),
     "Still open": figures.get("open"), "Oldest open": hours_text(figures.get("oldest_open_hours"))}
    for name, figures in latency.items()]), hide_index=True, width="stretch", column_config=figure_columns())
