"""Experiments: each experiment's KPI over time against its target, its runs, and what changed between two."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

from dashboard import context, loaders
from dashboard.components import Card, cards, demo_notice, empty_state, escape_markdown, local, show_chart, story_link
from glassbox.chart_words import kpi_words
from glassbox.charts import kpi_progress
from glassbox.metrics.chart_data import kpi_points
from glassbox.metrics.compute import by_ticket, by_week, compute_frame, started_between, totals
from glassbox.metrics.datasets import data_changed, datasets_by_run, describe, differs
from glassbox.metrics.experiments import target_gap
from glassbox.metrics.runs import count_runs, failed, started_in, top_level

MAX_ROWS = 1000  # newest runs listed; the chart above shows them all
MAX_CHOICES = 500  # newest runs offered for comparison
MAX_COMPARED = 6  # runs side by side: more columns than a page can read
GOOD, BAD = "#2b8a3e", "#c92a2a"  # better and worse than the reference run (the reports' up and down)

ctx = context.require()
tz = ctx.tz
st.title("Experiments")
st.caption(f"Runs tracked in MLflow, judged against each experiment's KPI · {ctx.period.label} · times in {tz}")
if ctx.demo:
    demo_notice()

names = loaders.experiment_names(ctx.source, ctx.view)
if not names:
    empty_state("No experiment runs in the store yet.",
                "Add an `[[mlflow]]` source (its `tracking_uri` and `experiments`) and a `[[kpi]]` naming the metric "
                "that matters, then run `python -m glassbox sync`.")
    st.stop()

kpis = {kpi.experiment: kpi for kpi in ctx.config.kpi}
names = sorted(names, key=lambda name: (name not in kpis, name))
experiment = st.selectbox("Experiment", names, key="exp_name") if len(names) > 1 else names[0]
kpi = kpis.get(experiment)
previous = ctx.period.previous()
# The runs of this period and the one before (with their families), the newest offered for comparison and
# the models': never the experiment's whole history, unless "Whole engagement" asks for it below.
mine = loaders.experiment_runs(ctx.source, ctx.view, experiment, previous.start, ctx.period.end, MAX_CHOICES)
before_end = mine.loc[mine["started_at"] < ctx.period.end]
in_period = started_in(mine, ctx.period.start, ctx.period.end)  # top-level runs: children fold in
metric_names = sorted({name for metrics in mine["metrics"] for name in metrics})
metric = kpi.metric if kpi else (metric_names[0] if metric_names else None)
goal = kpi.goal if kpi else "max"
# One story for the chart, the best card and the table: the rules are glassbox.metrics.runs'
story = loaders.experiment_story(ctx.source, ctx.view, experiment, metric or "", ctx.period.end)
story_by_run = story.set_index("run_id")
counted = story.loc[story["counted"]]
best = float(counted["best_so_far"].iloc[-1]) if metric and not counted.empty else None


def first_story(tickets: object) -> str:
    """The Ticket story page of a run's first ticket, or an empty cell."""
    keys = [key for key in tickets if isinstance(key, str)] if isinstance(tickets, list | tuple) else []
    return story_link(keys[0] if keys else None)


def better_or_worse(table: pd.DataFrame, columns: list[str], kpi_metric: str | None, kpi_goal: str) -> Styler:
    """The comparison's metrics, the KPI's row coloured against the first (reference) run by the KPI's goal."""
    def colour(row: pd.Series) -> list[str]:
        if row["Metric"] != kpi_metric or pd.isna(row[columns[0]]):
            return [""] * len(row)
        reference = float(row[columns[0]])
        out = [""] * len(row)
        for index, column in enumerate(row.index):
            value = row[column]
            if column not in columns[1:] or value is None or pd.isna(value) or float(value) == reference:
                continue
            better = float(value) > reference if kpi_goal == "max" else float(value) < reference
            out[index] = f"color: {GOOD if better else BAD}; font-weight: 600"
        return out

    return table.style.apply(colour, axis=1).format(precision=4, na_rep="—")


def text(value: object) -> str:
    return value if isinstance(value, str) else ""


failures = int(failed(in_period).sum())
cards([
    Card("Runs in period", len(in_period), len(in_period) - count_runs(mine, previous.start, previous.end),
         help="Top-level runs started (a search's child runs fold into their parent), against the previous period"),
    Card(f"Best {metric}" if metric else "Best", f"{best:.4g}" if best is not None else "—",
         target_gap(best, kpi.target if kpi else None),
         help="Best finished run so far (a parent carries its best child; excluded runs never count); "
              "the delta is against the target", inverse=goal == "min"),
    Card("Target", f"{kpi.target:g}" if kpi and kpi.target is not None else "none set",
         help="From the [[kpi]] section of the config"),
    Card("Failed runs", failures, help="Runs in the period that ended FAILED or were killed"),
])
if kpi is None:
    st.caption(f"No `[[kpi]]` names {escape_markdown(experiment)}: add one to get a target line and alerts.")

if metric and not counted.empty:
    results = pd.DataFrame({"at": local(counted["started_at"], tz), "value": counted["value"].astype(float),
                            "run": counted["name"]}).sort_values("at", kind="stable")
    points = kpi_points(results, goal)
    drawn = "" if len(points) == len(results) else " The chart draws each day's best."
    show_chart(kpi_progress, points, metric, goal=goal, target=kpi.target if kpi else None, height=260,
               says=kpi_words(results, metric, goal, kpi.target if kpi else None) + drawn)

datasets = datasets_by_run(mine)
versions, aliases_at = loaders.model_versions(ctx.source, ctx.view, ctx.period.end)
models_here = versions.loc[versions["experiment"] == experiment]
if not models_here.empty:
    st.subheader("Models")
    run_names = dict(zip(mine["run_id"], mine["name"].astype(str), strict=True))
    tickets_of = dict(zip(mine["run_id"], mine["tickets"], strict=True))
    best_run = story.loc[story["new_best"], "value_run_id"].iloc[-1] if not counted.empty else None
    for model, group in models_here.groupby("model", sort=True):
        where = aliases_at.get(str(model), {})
        carried: dict[int, list[str]] = {}
        for name, version in sorted(where.items()):
            carried.setdefault(version, []).append(name)
        alias = next((name for name in (kpi.alias if kpi else ("champion",)) if name in where), None)
        champion = group.loc[group["version"] == where[alias]].iloc[0] if alias else None
        said = [f"**{escape_markdown(model)}** · latest version {int(group['version'].max())}"]
        if champion is not None:
            value = champion["value"]
            said.append(f"@{escape_markdown(alias)} → version {int(champion['version'])}")
            if value is not None and pd.notna(value) and metric:
                gap = target_gap(float(value), kpi.target if kpi else None)
                said.append(f"{escape_markdown(metric)} {float(value):.4g}"
                            + (f" ({gap:+.4g} against the target {kpi.target:g})" if gap is not None and kpi else ""))
                if best is not None and round(float(value) - best, 4) == 0:
                    said.append("as good as the best run")
                elif best is not None:
                    said.append(f"{float(value) - best:+.4g} against the best run ({best:.4g})")
        else:
            said.append("no alias marks the model in use")
        st.markdown(" · ".join(said))
        if champion is not None and best_run and differs(datasets.get(str(champion["run_id"])), datasets.get(best_run)):
            st.warning(f"The best run and the version behind @{escape_markdown(alias)} trained on different data: "
                       f"{escape_markdown(describe(datasets.get(best_run)))} against "
                       f"{escape_markdown(describe(datasets.get(str(champion['run_id']))))}.",
                       icon=":material/database:")
        table = pd.DataFrame({
            "Version": group["version"].astype(int),
            "Aliases": [" ".join(f"@{a}" for a in carried.get(int(v), [])) for v in group["version"]],
            "Run": [run_names.get(str(r), str(r)) for r in group["run_id"]],
            "Result": group["value"],
            "Data": [describe(datasets.get(str(r))) for r in group["run_id"]],
            "Created": local(group["created_at"], tz),
            "Story": [first_story(tickets_of.get(str(r))) for r in group["run_id"]],
            "Link": group["url"],
        }).sort_values("Version", ascending=False)
        if table["Link"].isna().all():  # a database store has no web page to link to
            table = table.drop(columns="Link")
        st.dataframe(table, hide_index=True, width="stretch", key=f"exp_model_{model}",
                     column_config={"Created": st.column_config.DatetimeColumn(format="ddd D MMM HH:mm"),
                                    "Result": st.column_config.NumberColumn(help=f"{metric} of the version's run"),
                                    "Story": st.column_config.LinkColumn(display_text=r"story\?ticket=(.*)",
                                                                         help="The story of the run's ticket"),
                                    "Link": st.column_config.LinkColumn(display_text="open ↗")})

st.subheader("Runs")
scope_all = st.toggle("Whole engagement", value=False, key="exp_all", help="Otherwise only runs started in the period")
unfold = st.toggle("Show child runs", value=False, key="exp_children",
                   help="Hyperparameter searches and autolog log child runs under a parent run; the parent "
                        "shows its best child's result")
listed = mine
if scope_all:  # asked for: every run of the experiment, the whole history read
    every = loaders.runs(ctx.source, ctx.view)
    listed = every.loc[(every["experiment"] == experiment) & (every["started_at"] < ctx.period.end)]
    datasets = datasets_by_run(listed)
parents = top_level(listed) if scope_all else in_period
parents = parents.sort_values("started_at", ascending=False).head(MAX_ROWS)
children = listed.loc[listed["family"].isin(parents["run_id"]) & ~listed["top_level"]].sort_values("started_at")
# Against the run before that logged data, looked for among the runs read: the previous period's, at least
in_order = top_level(listed).sort_values("started_at", kind="stable")["run_id"]
changed_data = dict(zip(in_order, data_changed(in_order, datasets), strict=True))
ordered = []
for run in parents.itertuples():
    ordered.append((run, 0))
    if unfold:
        ordered += [(child, 1) for child in children.loc[children["family"] == run.run_id].itertuples()]
if not ordered:
    st.caption("No runs in this period — switch on *Whole engagement* to see earlier ones.")
else:
    rows = []
    for run, depth in ordered:
        family = story_by_run.loc[run.run_id] if not depth and run.run_id in story_by_run.index else None
        row = {
            "Run": ("↳ " if depth else "") + str(run.name),
            "Note": text(run.note),  # the story first: what the team said about the run
            "Status": run.status,
            "Excluded": bool(run.excluded),
            "Started": run.started_at.tz_convert(tz).tz_localize(None),
            "Minutes": round((run.ended_at - run.started_at).total_seconds() / 60, 1)
            if pd.notna(run.ended_at) else None,
        }
        if metric:  # a parent carries its best child's result
            row["Result"] = family["value"] if family is not None and run.children else run.metrics.get(metric)
        row["Children"] = str(int(run.children)) if run.children else ""
        row.update({"Data": describe(datasets.get(run.run_id)),
                    "Data changed": bool(changed_data.get(run.run_id, False))})
        row.update({name: run.metrics.get(name) for name in metric_names})
        row.update({f"param: {name}": value for name, value in run.params.items()})
        row.update({"Commit": (text(run.sha) or text(run.commit))[:8],
                    "Tickets": " ".join(ticket for ticket in run.tickets if isinstance(ticket, str)), "Link": run.url,
                    "Story": first_story(run.tickets)})
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="exp_table", placeholder="—",
                 column_config={"Started": st.column_config.DatetimeColumn(format="ddd D MMM HH:mm"),
                                "Result": st.column_config.NumberColumn(
                                    help=f"{metric}: a parent run shows its best finished child's value"),
                                "Excluded": st.column_config.CheckboxColumn(
                                    help="Tagged glassbox.exclude = \"true\" in MLflow: shown, never best, no alert"),
                                "Link": st.column_config.LinkColumn(display_text="open ↗"),
                                "Story": st.column_config.LinkColumn(
                                    display_text=r"story\?ticket=(.*)", help="The ticket's whole story"),
                                "Data changed": st.column_config.CheckboxColumn(
                                    help="Trained on other data (dataset name or digest) than the run before it"),
                                "Note": st.column_config.TextColumn(width="medium")})
    if len(parents) == MAX_ROWS:
        st.caption(f"The newest {MAX_ROWS} runs; the chart above shows them all.")

hours = compute_frame(mine)
spent = totals(started_between(hours, ctx.period.start, ctx.period.end))
if spent["wall"] is not None:
    gpu = f", {spent['gpu']:g} GPU hours" if spent["gpu"] is not None else ""
    with st.expander(f"Compute in the period: {spent['wall']:g} wall hours{gpu}"):
        weekly, tickets = st.columns(2, gap="large")
        weeks = by_week(started_between(hours, previous.start, ctx.period.end), tz).tail(12)  # and the period before
        weekly.dataframe(weeks.rename(columns={"week": "Week of", "wall": "Wall hours", "gpu": "GPU hours"}),
                         hide_index=True, width="stretch", key="exp_compute_weeks")
        per_ticket = pd.DataFrame(by_ticket(started_between(hours, ctx.period.start, ctx.period.end)))
        tickets.dataframe(per_ticket.rename(columns={"ticket": "Ticket", "wall": "Wall hours", "gpu": "GPU hours",
                                                     "runs": "Runs"}).fillna({"Ticket": "no ticket"}),
                          hide_index=True, width="stretch", key="exp_compute_tickets")

st.subheader("Compare runs")
choices = before_end.sort_values("started_at", ascending=False).head(MAX_CHOICES)
labels = dict(zip(choices["run_id"],
                  choices["name"].astype(str) + " · " + local(choices["started_at"], tz).dt.strftime("%d %b %H:%M"),
                  strict=True))
if len(labels) < 2:
    st.caption("Two runs are needed to compare.")
else:
    ids = list(labels)
    best_run = story.loc[story["new_best"], "value_run_id"].iloc[-1] if not counted.empty else None
    default = list(dict.fromkeys([best_run if best_run in labels else ids[0], *ids]))[:2]
    picked = st.multiselect("Runs (the first is the reference)", ids, default=default,
                            format_func=labels.__getitem__, key="exp_compare", max_selections=MAX_COMPARED)
    if len(picked) < 2:
        st.caption("Pick at least two runs.")
    else:
        compared = [choices.loc[choices["run_id"] == run_id].iloc[0] for run_id in picked]
        names = list(dict.fromkeys(f"{run['name']}" for run in compared))
        columns = names if len(names) == len(compared) else [labels[r] for r in picked]
        params = sorted({name for run in compared for name in run["params"]})
        param_table = pd.DataFrame({"Parameter": params, **{column: [run["params"].get(p) for p in params]
                                                            for column, run in zip(columns, compared, strict=True)}})
        param_table["Changed"] = [len({repr(value) for value in row}) > 1  # a missing value differs from any set one
                                  for row in param_table[columns].itertuples(index=False)]
        metrics = sorted({name for run in compared for name in run["metrics"]})
        metric_table = pd.DataFrame({"Metric": metrics, **{column: [run["metrics"].get(m) for m in metrics]
                                                           for column, run in zip(columns, compared, strict=True)}})
        params_col, metrics_col = st.columns(2, gap="large")
        params_col.dataframe(param_table.sort_values("Changed", ascending=False), hide_index=True, width="stretch",
                             key="exp_params", placeholder="—")
        metrics_col.dataframe(better_or_worse(metric_table, columns, metric, goal), hide_index=True, width="stretch",
                              key="exp_metrics", placeholder="—")
        if metric:
            metrics_col.caption(f"{metric} in green where better than the reference ({columns[0]}), red where worse.")
