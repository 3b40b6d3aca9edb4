"""Ticket story: one ticket's whole chain in time order — talk, code, runs, models and waits.

Reached with ``?ticket=KEY`` (the Timeline's ticket filter links here) or by picking a ticket. The
story is :func:`glassbox.metrics.story.ticket_story` over the viewer's own timeline, so a client sees
nothing internal, and an internal ticket has no story for them.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import context, loaders
from dashboard.components import demo_notice, empty_state, escape_markdown, local
from glassbox.metrics.story import Step

STEP_LABELS = {Step.CREATED: "Created", Step.COMMENT: "Comment", Step.TRANSITION: "Moved", Step.RESOLVED: "Resolved",
               Step.COMMIT: "Commit", Step.PULL_REQUEST: "Pull request", Step.REVIEW: "Review", Step.RUN: "Run",
               Step.MODEL_VERSION: "Model version", Step.ALIAS: "Alias", Step.WAIT: "Wait"}
MAX_DETAIL = 400  # characters of a note shown in a step; the link opens the rest


def line(step: pd.Series) -> str:
    """One step as Markdown; every text from a source is escaped (never rendered as HTML or links)."""
    who = f" · {escape_markdown(step['actor'])} ({step['side']})" if isinstance(step["actor"], str) else ""
    detail = str(step["detail"] or "")
    detail = detail if len(detail) <= MAX_DETAIL else detail[:MAX_DETAIL] + "…"
    url = step["url"]
    safe = url.replace("(", "%28").replace(")", "%29").replace(" ", "%20") if isinstance(url, str) else ""
    link = f" · [open ↗]({safe})" if safe.startswith(("https://", "http://")) else ""
    said = f"`{local_time(step['at'])}` **{STEP_LABELS[Step(step['step'])]}**{who} — {escape_markdown(step['title'])}"
    return said + (f"  \n{escape_markdown(detail)}" if detail else "") + link


def local_time(moment: pd.Timestamp) -> str:
    return moment.tz_convert(tz).strftime("%H:%M")


ctx = context.require()
tz = ctx.tz
st.title("Ticket story")
st.caption(f"Everything that happened for one ticket, oldest first · {ctx.view} view · times in {tz}")
if ctx.demo:
    demo_notice()

tickets = loaders.story_tickets(ctx.source, ctx.view)
asked = st.query_params.get("ticket")
if not tickets:
    empty_state("No tickets in the store yet.", "Sync a `[[jira]]` source, or name ticket keys in commits and runs.")
    st.stop()
index = tickets.index(asked) if asked in tickets else None
key = st.selectbox("Ticket", tickets, index=index, placeholder="Pick a ticket", key="story_ticket")
if key is None:
    st.caption("Pick a ticket to see its story." if asked is None else
               f"No ticket {escape_markdown(asked)} in this view.")
    st.stop()
if key != asked:
    st.query_params["ticket"] = key

story = loaders.ticket_story(ctx.source, ctx.view, key)
if story.empty:
    empty_state(f"Nothing recorded for {key} in this view.")
    st.stop()

steps = story["step"].value_counts()
counts = [f"{int(steps.get(step, 0))} {label}" for step, label in (
    (Step.COMMENT, "comments"), (Step.COMMIT, "commits"), (Step.PULL_REQUEST, "PR events"), (Step.RUN, "runs"),
    (Step.MODEL_VERSION, "model versions"), (Step.WAIT, "waits")) if steps.get(step, 0)]
span = story["at"].iloc[-1] - story["at"].iloc[0]
st.markdown(f"**{escape_markdown(key)}** · {len(story)} steps over {span.days} days" +
            (f" · {', '.join(counts)}" if counts else ""))
days = local(story["at"], tz).dt.date
for day in dict.fromkeys(days):
    st.subheader(f"{day:%A %d %B %Y}", divider="gray")
    st.markdown("\n\n".join(line(step) for _, step in story.loc[days == day].iterrows()))
