"""Today: the client's daily check — what happened since the previous working day, and what waits."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from dashboard import charts_extra, context, loaders
from dashboard.components import (
    CATEGORY_GROUPS,
    SOURCE_LABELS,
    STORY_COLUMN,
    SYNC_STATE_LABELS,
    Card,
    ago,
    cards,
    demo_notice,
    empty_state,
    escape_markdown,
    hours_text,
    local,
    show_alerts,
    show_chart,
    source_label,
    story_link,
    working_hours_text,
)
from glassbox.chart_words import sources_words
from glassbox.metrics.experiments import target_gap
from glassbox.metrics.runs import RUN_EVENT_CATEGORIES, failed, started_in
from glassbox.periods import iso_week
from glassbox.reports.content import short_title
from glassbox.views import View
from glassbox.visibility import sources_for_view
from glassbox.vocabulary import agreement_sentence, latency_label

MAX_WAITS = 20  # oldest first; the Feedback loops page lists every open wait

ctx = context.require()
now = datetime.now(UTC)
window = loaders.since_previous_working_day(ctx.config, now)
before = loaders.since_previous_working_day(ctx.config, window.start)
# What happened is counted from the day counts; only the tickets moved are read as events
counts = loaders.day_counts(ctx.source, ctx.view, window.start, window.end)
earlier = loaders.day_counts(ctx.source, ctx.view, before.start, window.start)
tz = ctx.tz

st.title("Today")
st.caption(f"{escape_markdown(ctx.config.engagement.name)} · what happened since {window.start:%A %d %B} "
           f"· {ctx.view} view · times in {tz}")
if ctx.demo:
    demo_notice()

waits = loaders.open_waits_now(ctx.source, ctx.view, now.replace(second=0, microsecond=0))
tickets = loaders.tickets_among(ctx.source, ctx.view, tuple(sorted(set(waits["thread"]))))  # those with a story


def strip() -> None:
    """The first thing a visitor reads: what waits on them (the client) or on the team, oldest first."""
    side = "client" if ctx.view is View.CLIENT else "team"
    mine = waits.loc[waits["on"] == side]
    who = "you" if ctx.view is View.CLIENT else "the team"
    if mine.empty:
        st.success(f"Nothing is waiting on {who}.", icon=":material/check_circle:")
        return
    oldest = mine.iloc[0]
    title = f" {escape_markdown(oldest['title'])}" if oldest["title"] else ""
    more = f" · and {len(mine) - 1} more below" if len(mine) > 1 else ""
    st.warning(f"**Waiting on {who}: {len(mine)}** — {escape_markdown(oldest['thread'])}{title} "
               f"({hours_text(oldest['hours'])}, {escape_markdown(oldest['what'])}){more}",
               icon=":material/hourglass_top:")


def described(experiment: str) -> str:
    """The KPI's own one-line description (``[[kpi]] description``), as the start of a card's tooltip."""
    found = next((kpi.description for kpi in ctx.config.kpi if kpi.experiment == experiment and kpi.description), None)
    return f"{found}. " if found else ""


def count(days: pd.DataFrame, *categories: str) -> int:
    """The events of ``categories`` in day counts (:func:`dashboard.loaders.day_counts`)."""
    return int(days.loc[days["category"].isin(categories), "events"].sum())


strip()

st.subheader("Experiments")
window_runs = loaders.period_runs(ctx.source, ctx.view, window.start, window.end)
started = started_in(window_runs, window.start, window.end)  # SPEC §5: top-level runs, children folded in
latest = loaders.latest_run(ctx.source, ctx.view)
if not ctx.config.kpi and latest is None:
    st.caption("No experiments yet — add an `[[mlflow]]` source and a `[[kpi]]` to follow one here.")
else:
    kpi_cards = []
    entries = loaders.experiments(ctx.source, ctx.view, window.start, window.end)[0]
    for entry in entries:
        kpi, best = entry.get("kpi"), entry.get("best")
        if not kpi or not best:
            continue
        kpi_cards.append(Card(f"Best {kpi['metric']} · {entry['experiment']}", f"{best['value']:.4g}",
                              target_gap(best["value"], kpi["target"]),
                              help=described(entry["experiment"]) + "Best finished run so far (excluded runs never"
                                   f" count); the delta is against the target {kpi['target']}",
                              inverse=kpi["goal"] == "min"))
    kpi_cards += [Card("Runs started", len(started)), Card("Finished", int((started["status"] == "FINISHED").sum())),
                  Card("Failed", int(failed(started).sum()))]
    cards(kpi_cards)
    if latest is not None:
        said = latest["note"] if isinstance(latest["note"], str) else ""
        note = f" — “{escape_markdown(short_title(said))}”" if said else ""
        st.caption(f"Latest run: **{escape_markdown(latest['name'] or latest['run_id'])}** "
                   f"({str(latest['status']).lower()}, started {ago(latest['started_at'], now)}){note}")

st.subheader("Waiting")
if ctx.config.agreement:  # SPEC §7: the waits past an agreed limit come first
    late = loaders.breaching_now(ctx.source, ctx.view, now.replace(second=0, microsecond=0))
    week = iso_week(now.astimezone(tz).date(), tz)
    kept = loaders.agreement_weeks(ctx.source, ctx.view, ((week.label, week.start, week.end),),
                                   now.replace(second=0, microsecond=0))
    st.caption("Working agreements this week: " + " · ".join(
        escape_markdown(agreement_sentence(figures)) for figures in kept.to_dict(orient="records")))
    st.markdown(f"**Past the agreed limit** · {len(late)}")
    if late.empty:
        st.caption("Every open wait is within its agreed limit.")
    else:
        st.dataframe(pd.DataFrame({
            "Waiting": [working_hours_text(w) if working else hours_text(h)
                        for h, w, working in zip(late["hours"], late["working_hours"], late["working"], strict=True)],
            "Agreed": [f"{limit:g} {'working hours' if working else 'hours'}"
                       for limit, working in zip(late["limit"], late["working"], strict=True)],
            "Kind": late["latency"].map(latency_label), "Thread": late["thread"], "What": late["title"],
        }), hide_index=True, width="stretch")
for side, label in (("team", "On the team"), ("client", "On the client")):
    mine = waits.loc[waits["on"] == side]
    st.markdown(f"**{label}** · {len(mine)}")
    if mine.empty:
        st.caption("Nothing waiting.")
        continue
    oldest = mine.head(MAX_WAITS)
    st.dataframe(pd.DataFrame({"Waiting": oldest["hours"].map(hours_text), "Why": oldest["what"],
                               "Thread": oldest["thread"], "What": oldest["title"],
                               "Story": oldest["thread"].map(lambda t: story_link(t if t in tickets else None))}),
                 hide_index=True, width="stretch", column_config={"Story": STORY_COLUMN})
    if len(mine) > MAX_WAITS:
        st.caption(f"…and {len(mine) - MAX_WAITS} more; the Feedback loops page lists them all.")

st.subheader("Alerts")
alerts = loaders.alerts(ctx.source, ctx.view, window.start, window.end)
if not alerts:
    st.caption("No alerts.")
show_alerts(alerts)

st.subheader("Activity")
COUNTED = [("Commits", ("commit",)), ("PRs merged", ("pull_request_merged",)),
           ("Tickets moved", ("ticket_transition",)), ("Comments", ("comment", "review"))]
DAY_BEFORE = "Change against the working day before"
cards([Card(label, count(counts, *cats), count(counts, *cats) - count(earlier, *cats), help=DAY_BEFORE)
       for label, cats in COUNTED])
if ctx.view is View.CLIENT:
    hidden = int(loaders.day_counts(ctx.source, View.TEAM, window.start, window.end)["events"].sum()
                 - counts["events"].sum())
    if hidden > 0:
        st.caption(f"{hidden} internal item{'s' if hidden != 1 else ''} hidden in the client view.")

if not counts["events"].sum():
    empty_state(f"Nothing happened {window.label}.",
                "If you expected activity, check the Sources panel below: a source may not have synced recently.")
else:
    with st.expander("By source and by person"):
        by_source, by_person = st.columns([2, 3], gap="large")
        with by_source:
            totals = counts.groupby("source", as_index=False)["events"].sum()
            show_chart(charts_extra.events_by_source, totals, says=sources_words(totals, SOURCE_LABELS))
        with by_person:
            # a run is one top-level run started, not its start and finish events nor its children
            people = counts.loc[~counts["category"].isin(RUN_EVENT_CATEGORIES)]
            people = pd.concat([people.assign(actor=people["person"],
                                              what=people["category"].map(CATEGORY_GROUPS).fillna("other")),
                                pd.DataFrame({"actor": started["actor"], "side": started["side"],
                                              "events": 1, "what": "runs"})], ignore_index=True)
            table = people.pivot_table(index=["actor", "side"], columns="what", values="events", aggfunc="sum",
                                       fill_value=0).reset_index()
            table["total"] = table.drop(columns=["actor", "side"]).sum(axis=1)
            st.dataframe(table.sort_values("total", ascending=False), hide_index=True, width="stretch",
                         column_config={"actor": "Person", "side": "Side",
                                        "total": st.column_config.NumberColumn("All")})

moved = loaders.events(ctx.source, window.start, window.end, ctx.view, categories=("ticket_transition",))
st.subheader("Tickets moved")
if moved.empty:
    st.caption("No ticket changed status in this window.")
else:
    shown = pd.DataFrame({"When": local(moved["occurred_at"], tz), "Ticket": moved["thread"],
                          "What": moved["thread"].map(loaders.thread_titles(ctx.source, ctx.view, tuple(
                              sorted(set(moved["thread"]))))).fillna(""), "Change": moved["detail"],
                          "Who": moved["actor"], "Link": moved["url"], "Story": moved["thread"].map(story_link)})
    st.dataframe(shown, hide_index=True, width="stretch", placeholder="—",
                 column_config={"When": st.column_config.DatetimeColumn(format="ddd HH:mm"),
                                "Link": st.column_config.LinkColumn(display_text="open ↗"), "Story": STORY_COLUMN})

st.subheader("Sources")
fresh = sources_for_view(loaders.freshness(ctx.source), ctx.config, ctx.view)
if fresh.empty:
    empty_state("No sources configured.",
                "Add `[[github]]`, `[[git]]`, `[[jira]]` or `[[mlflow]]` sections to the config.")
elif ctx.view is View.CLIENT:  # a client needs how fresh the data is, not server paths or error texts
    newest = fresh["last_ok"].dropna().max() if fresh["last_ok"].notna().any() else None
    behind = int(fresh["state"].isin(["failed", "interrupted"]).sum())
    st.caption(f"Data as of {ago(newest, now)}" + (f" · {behind} source{'s' if behind != 1 else ''} behind,"
                                                    " the team has been told" if behind else ""))
else:
    st.dataframe(pd.DataFrame({
        "Source": fresh["source"].map(source_label),
        "Status": [f"syncing — {so_far:,.0f} fetched so far" if state == "running" and pd.notna(so_far)
                   else SYNC_STATE_LABELS[state]
                   for state, so_far in zip(fresh["state"], fresh["so_far"], strict=True)],
        "Last successful sync": fresh["last_ok"].map(lambda t: ago(t, now)),
        "Last failure": fresh["last_failure"].map(lambda t: ago(t, now) if pd.notna(t) else "—"),
        "Problem": fresh["message"],
        "Where": fresh["origin"],
    }), hide_index=True, width="stretch", column_config={"Problem": st.column_config.TextColumn(width="large")})
