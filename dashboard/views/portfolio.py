"""Portfolio: every engagement this visitor may see, the ones needing attention first (SPEC §6).

Each row's figures come from :func:`glassbox.portfolio.engagement_week` (through the cached
:func:`dashboard.loaders.portfolio_row`), in the view the visitor has in that engagement; its name
opens that engagement's Today page. Only :meth:`Context.visible` engagements are listed, so a
client's Portfolio holds their own engagements and nothing that hints at others.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboard import context, loaders
from dashboard.components import ago, escape_markdown, hours_text
from glassbox.portfolio import PortfolioRow, ranked
from glassbox.readmodel.weeks import current_week
from glassbox.views import View

AS_OF = timedelta(minutes=15)  # figures are measured as of the last quarter hour, so reruns share the cache
HEADLINE_LABELS = {"commits": "commits", "pull_requests_merged": "PRs merged",
                   "tickets_resolved": "tickets resolved", "runs": "runs"}

ctx = context.require()
now = datetime.fromtimestamp(datetime.now(UTC).timestamp() // AS_OF.total_seconds() * AS_OF.total_seconds(), UTC)
visible = ctx.visible()
workspace_name = ctx.workspace.name if ctx.workspace is not None and not ctx.workspace.single else "Engagements"

st.title("Portfolio")
st.caption(f"{escape_markdown(workspace_name)} · {len(visible)} engagements · this week against last · "
           f"those needing attention first · as of {now.astimezone(ctx.tz):%H:%M}")

rows = []
with st.spinner("Measuring every engagement…"):
    for engagement in visible:
        config = ctx.workspace.engagement(engagement) if ctx.workspace is not None else ctx.config
        week = current_week(config, now)  # the week the sync keeps the run figures of
        view = ctx.access.views.get(engagement, View.CLIENT) if ctx.access is not None else ctx.view
        rows.append(loaders.portfolio_row(ctx.source_of(engagement), view, week.label, week.start, week.end, now))


def weekly(row: PortfolioRow) -> str:
    parts = []
    for name, label in HEADLINE_LABELS.items():
        change = row.this_week[name] - row.last_week[name]
        arrow = f" ({'+' if change > 0 else ''}{change})" if change else ""
        parts.append(f"**{row.this_week[name]}** {label}{arrow}")
    return " · ".join(parts)


def sync_text(row: PortfolioRow) -> str:
    return f"last successful sync {ago(row.last_ok, now)}" if row.last_ok else "never synced successfully"


WIDTHS = [3, 4, 2, 3]
for column, label in zip(st.columns(WIDTHS), ("Engagement", "This week (change against last week)",
                                              "Waiting on the team", "KPI best / target · alerts"), strict=True):
    column.caption(f"**{label}**")
for row in ranked(rows):
    with st.container(border=True):
        name, week_column, waits_column, outcome = st.columns(WIDTHS)
        with name:
            st.page_link("views/today.py", label=row.name, icon=":material/open_in_new:",
                         query_params={context.PARAM: row.engagement})
            reasons = row.attention
            st.caption(f":orange[{escape_markdown(' · '.join(reasons))}]" if reasons else "nothing needs attention")
            st.caption(sync_text(row))
        with week_column:
            st.markdown(weekly(row))
        with waits_column:
            oldest = f", oldest {hours_text(row.oldest_team_wait_hours)}" if row.oldest_team_wait_hours else ""
            st.markdown(f"**{row.team_waits}** wait{'' if row.team_waits == 1 else 's'} on the team{oldest}")
        with outcome:
            agreements = "no working agreements yet" if row.agreements_breached is None else \
                f"**{row.agreements_breached}** agreement{'' if row.agreements_breached == 1 else 's'} breached"
            kpi = escape_markdown(row.kpi) if row.kpi else "no KPI yet"
            st.markdown(f"{kpi} · **{row.alerts}** alert{'' if row.alerts == 1 else 's'}  \n{agreements}")
