"""The weekly report as one self-contained HTML file, and the page the PDF is printed from.

Everything the page needs travels inside it: the stylesheet inline, charts rendered by vl-convert and
inlined as SVG (for print, a KPI's chart of runs as a PNG ``data:`` image), no scripts and no remote
fonts, so the file can be mailed to a client and opened offline years later. Jinja2 escapes every
value (titles, comments, names are untrusted); links are only made from http(s) URLs.
"""

from __future__ import annotations

import base64
import logging
import re
import struct
from functools import cache
from importlib import resources

import jinja2
import pandas as pd
from markupsafe import Markup

from glassbox import charts
from glassbox.chart_words import activity_words, flow_words, kpi_words, trend_words
from glassbox.reports.content import (
    MAX_LISTED,
    ReportContent,
    arrow,
    compute_sentence,
    format_hours,
    format_value,
    format_working_hours,
    kpi_sentence,
    links_sentence,
    local_time,
    model_sentences,
)
from glassbox.vocabulary import COUNT_LABELS, HEADLINE_COUNTS, LATENCY_LABELS, count_label

log = logging.getLogger(__name__)

TREND_LATENCIES = ("client_response", "pr_pickup", "ticket_lead", "client_turnaround", "pr_merge", "ticket_cycle")
MAX_TREND_CHARTS = 2
TREND_WIDTH = 270
TREND_HEIGHT = 150


@cache
def _environment() -> jinja2.Environment:
    folder = resources.files("glassbox.reports") / "templates"
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters.update(hours=format_hours, working_hours=format_working_hours, value=format_value,
                               arrow=arrow, http_url=http_url)
    return environment


def http_url(url: object) -> str | None:
    """``url`` when it is an http(s) URL, else ``None`` (no ``javascript:`` links from the sources)."""
    return url if isinstance(url, str) and re.match(r"https?://", url, re.IGNORECASE) else None


def render_html(content: ReportContent, *, for_print: bool = False) -> str:
    """The report as an HTML document; ``for_print`` adds the page rules the PDF uses."""
    template = _environment().get_template("report.html.j2")
    stylesheet = (resources.files("glassbox.reports") / "templates" / "report.css").read_text(encoding="utf-8")
    return template.render(
        c=content,
        view="client view" if content.report.get("view") == "client" else "team view",
        stylesheet=Markup(stylesheet),
        for_print=for_print,
        tiles=[(count_label(name, content.counts.get(name, 0)), content.counts.get(name, 0), content.delta(name))
               for name in HEADLINE_COUNTS],
        count_rows=[(label, content.counts.get(name, 0),
                     content.previous.get(name) if content.previous else None, content.delta(name))
                    for name, label in COUNT_LABELS.items()],
        kpi_sentence=kpi_sentence,
        local_time=lambda text: local_time(text, content.timezone),
        max_listed=MAX_LISTED,
        links_sentence=links_sentence(content.links),
        compute_and_models=[s for s in (compute_sentence(content.report.get("compute")),
                                        *model_sentences(content.report.get("models"))) if s],
        charts=_charts(content, for_print),
    )


def _charts(content: ReportContent, for_print: bool) -> dict[str, object]:
    """Inline SVGs by place in the page, each with its sentence (:mod:`glassbox.chart_words`): ``activity``
    and ``flow`` (``*_summary`` beside them), ``trends`` and ``kpi`` (by experiment) as (svg, words).
    In print a KPI's chart is an image (:func:`_png`): its dots grow with the runs, the others' marks
    with the weeks."""
    rendered: dict[str, object] = {"activity": None, "flow": None, "trends": [], "kpi": {}}
    if not content.activity.empty and content.activity["events"].sum():
        rendered["activity"] = _svg(charts.activity_by_day(content.activity, content.activity_unit))
        rendered["activity_summary"] = activity_words(content.activity, content.activity_unit)
    if not content.flow.empty and content.flow[["created", "resolved"]].to_numpy().sum():
        rendered["flow"] = _svg(charts.ticket_flow(content.flow))
        rendered["flow_summary"] = flow_words(content.flow)
    rendered["trends"] = [(_svg(charts.latency_trend(frame, title=LATENCY_LABELS[name]).properties(
        width=TREND_WIDTH, height=TREND_HEIGHT)), trend_words(frame, LATENCY_LABELS[name]))
        for name, frame in _trend_frames(content)]
    for experiment in content.experiments:
        runs = content.runs_of(experiment)
        if runs is None or runs.empty:
            continue
        kpi = experiment.get("kpi") or {}
        metric = kpi.get("metric") or (experiment.get("best") or {}).get("metric", "metric")
        goal = kpi.get("goal", "max")
        chart = charts.kpi_progress(charts.printed_runs(runs, goal), metric, goal=goal, target=kpi.get("target"))
        words = kpi_words(runs, metric, goal, kpi.get("target"))
        rendered["kpi"][experiment["experiment"]] = (_png(chart, words) if for_print else _svg(chart),  # type: ignore[index]
                                                      words)
    return rendered


def _trend_frames(content: ReportContent) -> list[tuple[str, pd.DataFrame]]:
    """The weekly trend of the latencies that had samples, the client-facing ones first."""
    trend = content.trend
    if trend.empty:
        return []
    frames = []
    for name in TREND_LATENCIES:
        frame = trend.loc[trend["latency"] == name, ["week", "median_hours", "p90_hours"]]
        if frame["median_hours"].notna().sum() >= 1:
            frames.append((name, frame.reset_index(drop=True)))
    return frames[:MAX_TREND_CHARTS]


def _svg(chart: object) -> Markup:
    """vl-convert's SVG, trusted as markup: the renderer escapes every text it draws."""
    return Markup(charts.to_svg(chart))  # type: ignore[arg-type]


PNG_SCALE = 2  # pixels per CSS pixel: a chart printed at its full 640 px width stays sharp at 190 dpi


def _png(chart: object, words: str) -> Markup:
    """The chart as an embedded PNG (:func:`glassbox.charts.to_png`) sized like its SVG, ``words`` its
    alternative text."""
    png = charts.to_png(chart, PNG_SCALE)  # type: ignore[arg-type]
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk: every PNG starts with it
    return Markup('<img src="data:image/png;base64,{}" width="{}" height="{}" alt="{}">').format(
        base64.b64encode(png).decode("ascii"), round(width / PNG_SCALE), round(height / PNG_SCALE), words)
