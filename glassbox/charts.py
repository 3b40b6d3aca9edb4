"""Altair charts shared by the dashboard and the weekly reports.

Each function takes a small, already aggregated frame (per day, per week, per run — never raw
events) and returns an Altair chart, so the Streamlit pages show them interactively and the reports
render the very same charts to SVG with vl-convert (:func:`to_svg`; :func:`to_png` for a printed chart
whose marks grow with the data). Every chart colours a source the same way (:data:`SOURCE_COLORS`),
so "Jira is blue" holds on every page and in every report.
"""

from __future__ import annotations

import itertools
import re

import altair as alt
import pandas as pd
import vl_convert

SOURCE_COLORS = {"github": "#6f42c1", "git": "#e8590c", "jira": "#1c64d8", "mlflow": "#0f9d8a"}
MEDIAN_COLOR = "#1c64d8"
P90_COLOR = "#e8590c"
TARGET_COLOR = "#d6336c"
CREATED_COLOR = "#868e96"
RESOLVED_COLOR = "#2f9e44"
FONT = "Inter, 'Segoe UI', 'Helvetica Neue', Arial, 'Liberation Sans', sans-serif"
WIDTH = 640
HEIGHT = 200

_DAY_MS = 24 * 3600 * 1000
_svg_counter = itertools.count(1)


def source_scale() -> alt.Scale:
    """A colour scale that paints each source in its own colour, in the same order everywhere."""
    return alt.Scale(domain=list(SOURCE_COLORS), range=list(SOURCE_COLORS.values()))


_ACTIVITY_AXIS = {"day": "%a %d %b", "week": "%d %b %Y", "month": "%b %Y"}
# An hours axis spans at least the first hour: waits of seconds (a ticket moved by automation in the
# same second) made the axis tick every millionth of an hour, labelled "0.000000".
_HOURS_SCALE = alt.Scale(domain={"unionWith": [0, 1]})
_HOURS_AXIS = alt.Axis(tickMinStep=0.1)


def activity_by_day(frame: pd.DataFrame, unit: str = "day") -> alt.Chart:
    """Stacked bars of events per day (or per ``week``/``month`` for long ranges), one colour per source.

    ``frame`` columns: ``day`` (the bucket's first day), ``source`` (github, git, jira, mlflow), ``events`` (int).
    """
    bars = alt.Chart(frame, title=f"Activity per {unit}").mark_bar(  # bars read as epoch numbers to a screen
        cornerRadiusTopLeft=2, cornerRadiusTopRight=2, aria=False)  # reader: glassbox.chart_words says it in words
    return bars.encode(
        x=alt.X("yearmonthdate(day):O", title=None, axis=alt.Axis(format=_ACTIVITY_AXIS[unit], labelAngle=0)),
        y=alt.Y("sum(events):Q", title="events", stack="zero"),
        color=alt.Color("source:N", scale=source_scale(), legend=alt.Legend(title=None, orient="top")),
        order=alt.Order("source:N"),
        tooltip=[alt.Tooltip("day:T", title=unit, format="%a %d %b %Y"), "source:N",
                 alt.Tooltip("sum(events):Q", title="events")],
    ).properties(width=WIDTH, height=HEIGHT)


DAYS_FROM_HOURS = 48  # past two days, a wait reads in days: "9.5 d", not "228 h" (as format_hours says it)


def latency_trend(frame: pd.DataFrame, title: str = "Latency per week") -> alt.Chart:
    """Median and p90 per week as two lines, in hours — or in days once a value passes
    :data:`DAYS_FROM_HOURS`, the unit the tables use for such waits.

    ``frame`` columns: ``week`` (label such as ``23 Nov``, the week's Monday), ``median_hours``,
    ``p90_hours`` (floats, null for a week without samples).
    """
    weeks = [str(week) for week in frame["week"]]
    long = frame.assign(week=weeks).melt(id_vars=["week"], value_vars=["median_hours", "p90_hours"],
                                         var_name="statistic", value_name="hours")
    long["statistic"] = long["statistic"].map({"median_hours": "median", "p90_hours": "p90"})
    in_days = bool(long["hours"].max(skipna=True) > DAYS_FROM_HOURS) if long["hours"].notna().any() else False
    unit = "days" if in_days else "hours"
    long["value"] = long["hours"] / 24 if in_days else long["hours"]
    return alt.Chart(long, title=title).mark_line(point=True).encode(
        x=alt.X("week:O", title=None, scale=alt.Scale(domain=weeks), axis=alt.Axis(labelAngle=0)),
        y=alt.Y("value:Q", title=unit, scale=_HOURS_SCALE, axis=_HOURS_AXIS),
        color=alt.Color("statistic:N", scale=alt.Scale(domain=["median", "p90"], range=[MEDIAN_COLOR, P90_COLOR]),
                        legend=alt.Legend(title=None, orient="top")),
        tooltip=["week:O", "statistic:N", alt.Tooltip("value:Q", title=unit, format=".1f")],
    ).properties(width=WIDTH, height=HEIGHT)


def latency_distribution(frame: pd.DataFrame, title: str = "How long waits took") -> alt.Chart:
    """Each completed wait as a tick on an hours axis, one row per latency.

    ``frame`` columns: ``latency`` (its name, e.g. ``client_response``) and ``hours`` (float, one row
    per completed wait — a sample, not an event).
    """
    return alt.Chart(frame, title=title).mark_tick(color=MEDIAN_COLOR, thickness=2, opacity=0.7).encode(
        x=alt.X("hours:Q", title="hours", scale=_HOURS_SCALE, axis=_HOURS_AXIS),
        y=alt.Y("latency:N", title=None),
        tooltip=["latency:N", alt.Tooltip("hours:Q", format=".1f")],
    ).properties(width=WIDTH, height=alt.Step(22))


def kpi_progress(frame: pd.DataFrame, metric: str, *, goal: str = "max",
                 target: float | None = None) -> alt.LayerChart | alt.FacetChart:
    """One experiment's KPI per run over time, the best so far as a step line, and the target.

    ``frame`` columns: ``at`` (the run's start, timestamp), ``value`` (float, the run's final metric),
    ``run`` (the run's name or id, for tooltips). ``goal`` is ``max`` or ``min``.
    """
    ordered = frame.sort_values("at").reset_index(drop=True)
    best = ordered["value"].cummax() if goal == "max" else ordered["value"].cummin()
    ordered = ordered.assign(best=best)
    base = alt.Chart(ordered).encode(x=alt.X("at:T", title=None, scale=alt.Scale(padding=12),
                                           axis=alt.Axis(format=_date_format(ordered["at"]), tickMinStep=_DAY_MS,
                                                         labelOverlap=True, labelSeparation=6)))
    runs = base.mark_circle(size=60, color=SOURCE_COLORS["mlflow"], opacity=0.75).encode(
        y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False, padding=12)),
        tooltip=["run:N", alt.Tooltip("at:T", format="%Y-%m-%d %H:%M"), alt.Tooltip("value:Q", format=".4f")],
    )
    best_line = base.mark_line(interpolate="step-after", color=SOURCE_COLORS["mlflow"], strokeWidth=2).encode(
        y=alt.Y("best:Q"))
    layers: list[alt.Chart] = [runs, best_line]
    if target is not None:
        rule = alt.Chart(pd.DataFrame({"target": [target]})).mark_rule(
            color=TARGET_COLOR, strokeDash=[6, 4], strokeWidth=1.5).encode(y="target:Q")
        label = alt.Chart(pd.DataFrame({"target": [target], "text": [f"target {target:g}"]})).mark_text(
            color=TARGET_COLOR, align="right", dy=-7, fontSize=11).encode(
            y="target:Q", x=alt.value(WIDTH), text="text:N")
        layers += [rule, label]
    return alt.layer(*layers, title=f"{metric}: runs and best so far").properties(width=WIDTH, height=HEIGHT)


def _date_format(moments: pd.Series) -> str:
    """Days for a span of weeks ("23 Nov"), months for a longer one ("Dec 2025"): a year of runs once
    read "01 Dec 01 Jan 01 Feb", which neither says the year nor leaves the labels room."""
    span = moments.max() - moments.min() if len(moments) else pd.Timedelta(0)
    return "%b %Y" if span > pd.Timedelta(days=_DAYS_AS_DATES) else "%d %b"


_DAYS_AS_DATES = 92  # a quarter's runs still read by day


def printed_runs(frame: pd.DataFrame, goal: str = "max") -> pd.DataFrame:
    """The runs of :func:`kpi_progress`'s ``frame`` a printed chart draws: of the runs whose dots fall
    within :data:`_PRINTED_CELL` pixels of each other, the best one, and every run that bounds the
    chart or moves its best-so-far line (the first, the last, the lowest, the highest, each new best).

    A static chart has no zoom and no tooltip, and a dot is about nine pixels across: a busy week's
    1,300 runs printed as one blob of 1,900 marks in a 600 KB SVG that WeasyPrint took a second to
    draw. This blob is drawn with a tenth of the marks, the same shape, the same line. The
    dashboard's interactive chart keeps every run.
    """
    if len(frame) <= 1:
        return frame
    ordered = frame.sort_values("at", kind="stable").reset_index(drop=True)
    values = ordered["value"].astype(float)
    best = values.cummax() if goal == "max" else values.cummin()
    moved_best = best.ne(best.shift())
    at = ordered["at"].astype("int64").astype(float)
    x = _cells(at, WIDTH)
    y = _cells(values, HEIGHT)
    better_first = values.rank(method="first", ascending=goal != "max")
    in_cell = better_first.groupby([x, y]).transform("min") == better_first
    bounds = ordered.index.isin([0, len(ordered) - 1, values.idxmin(), values.idxmax()])
    return ordered.loc[in_cell | moved_best | bounds].reset_index(drop=True)


_PRINTED_CELL = 2  # pixels: dots closer than this print as one


def _cells(values: pd.Series, pixels: int) -> pd.Series:
    """Which :data:`_PRINTED_CELL`-pixel cell of a ``pixels``-long axis spanning ``values`` each value falls in."""
    span = float(values.max() - values.min()) or 1.0
    return ((values - values.min()) / span * pixels // _PRINTED_CELL).astype(int)


def ticket_flow(frame: pd.DataFrame) -> alt.Chart:
    """Tickets created against tickets resolved, per week, as side-by-side bars.

    ``frame`` columns: ``week`` (label or start), ``created`` (int), ``resolved`` (int).
    """
    long = frame.melt(id_vars=["week"], value_vars=["created", "resolved"], var_name="flow", value_name="tickets")
    return alt.Chart(long, title="Tickets created and resolved").mark_bar().encode(
        # in the frame's (time) order, as the trend's: sorted as text, "12 Oct" came before "16 Nov" and "19 Oct"
        x=alt.X("week:O", title=None, scale=alt.Scale(domain=list(frame["week"])), axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("flow:N"),
        y=alt.Y("tickets:Q", title="tickets"),
        color=alt.Color("flow:N", scale=alt.Scale(domain=["created", "resolved"],
                                                  range=[CREATED_COLOR, RESOLVED_COLOR]),
                        legend=alt.Legend(title=None, orient="top")),
        tooltip=["week:O", "flow:N", "tickets:Q"],
    ).properties(width=WIDTH, height=HEIGHT)


def report_config() -> dict:
    """The look of charts in printed reports: the report's font, quiet axes, no frame."""
    return {
        "font": FONT,
        "view": {"stroke": None},
        "axis": {"labelColor": "#495057", "titleColor": "#495057", "gridColor": "#e9ecef",
                 "domainColor": "#adb5bd", "tickColor": "#adb5bd", "labelFontSize": 11, "titleFontSize": 11},
        "legend": {"labelColor": "#495057", "labelFontSize": 11},
        "title": {"anchor": "start", "color": "#212529", "fontSize": 13, "fontWeight": 600},
    }


def to_svg(chart: alt.TopLevelMixin) -> str:
    """The chart as a standalone SVG string (data inlined), ready to embed in HTML or a PDF.

    Element ids are made unique per call, so several SVGs can sit inline in one HTML page without
    their clip paths and gradients clashing.
    """
    svg = vl_convert.vegalite_to_svg(chart.to_dict(), config=report_config())
    return _unique_ids(svg, f"c{next(_svg_counter)}-")


def to_png(chart: alt.TopLevelMixin, scale: float = 2) -> bytes:
    """The chart as a PNG of ``scale`` times its size in pixels, for print: WeasyPrint draws an inline SVG
    node by node (a busy week's 700 KPI dots took 0.9 s of a PDF's 2.6 s), an image at once."""
    return vl_convert.vegalite_to_png(chart.to_dict(), config=report_config(), scale=scale)


def _unique_ids(svg: str, prefix: str) -> str:
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    for element_id in sorted(ids, key=len, reverse=True):
        svg = re.sub(rf'\bid="{re.escape(element_id)}"', f'id="{prefix}{element_id}"', svg)
        svg = re.sub(rf'url\(#{re.escape(element_id)}\)', f"url(#{prefix}{element_id})", svg)
        svg = re.sub(rf'href="#{re.escape(element_id)}"', f'href="#{prefix}{element_id}"', svg)
    return svg


def agreement_shares(frame: pd.DataFrame, target: float, title: str) -> alt.LayerChart:
    """One working agreement (SPEC §7): the share of waits that ended in time, per week, against its target.

    ``frame`` columns: ``week`` (label), ``share`` (0–1, null for a week in which no wait ended), ``n``.
    """
    weeks = [str(week) for week in frame["week"]]
    data = frame.assign(week=weeks)
    x = alt.X("week:O", title=None, scale=alt.Scale(domain=weeks), axis=alt.Axis(labelAngle=0))
    share = alt.Chart(data, width=WIDTH, height=HEIGHT).mark_line(point=True, color=MEDIAN_COLOR).encode(
        x=x, y=alt.Y("share:Q", title="in time", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        tooltip=["week:O", alt.Tooltip("share:Q", format=".0%"), alt.Tooltip("n:Q", title="waits ended")])
    goal = alt.Chart(pd.DataFrame({"target": [target]})).mark_rule(color=TARGET_COLOR, strokeDash=[4, 3]).encode(
        y="target:Q", tooltip=[alt.Tooltip("target:Q", format=".0%", title="agreed")])
    return alt.LayerChart(layer=[share, goal], title=title)
