"""Ticket story: one ticket's whole chain in time order — talk, code, runs, models and waits.

Reached with ``?ticket=KEY`` (the Timeline's ticket filter links here) or by picking a ticket. The
story is :func:`glassbox.metrics.story.ticket_story` over the viewer's own timeline, so a client sees
nothing internal, and an internal ticket has no story for them.
"""

from __future__ import annotations

import streamlit as st

from dashboard import context, loaders
from dashboard.components import demo_notice, empty_state, escape_markdown, local
from glassbox.metrics.story import Step

STEP_ICONS = {Step.CREATED: "🆕", Step.COMMENT: "💬", Step.TRANSITION: "➡️", Step.RESOLVED: "✅",
              Step.COMMIT: "📝", Step.PULL_REQUEST: "🔀", Step.REVIEW: "👀", Step.RUN: "🧪",
              Step.MODEL_VERSION: "📦", Step.ALIAS: "🏷️", Step.WAIT: "⏳"}

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
table = story.assign(When=local(story["at"], tz),
                     What=[f"{STEP_ICONS.get(Step(step), '')} {step}" for step in story["step"]])
st.dataframe(table.loc[:, ["When", "What", "actor", "side", "title", "detail", "thread", "url"]].rename(columns={
    "actor": "Who", "side": "Side", "title": "Title", "detail": "Detail", "thread": "Where", "url": "Link"}),
    hide_index=True, width="stretch", key="story_table", height=min(38 + 35 * len(story), 900),
    column_config={"When": st.column_config.DatetimeColumn(format="ddd D MMM YYYY HH:mm"),
                   "Title": st.column_config.TextColumn(width="medium"),
                   "Detail": st.column_config.TextColumn(width="large"),
                   "Link": st.column_config.LinkColumn(display_text="open ↗", width="small")})
