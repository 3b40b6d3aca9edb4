"""The weekly report as Markdown: for pasting into a chat, an issue or an e-mail.

Text from the sources (titles, experiment names, alert messages) is untrusted: anyone who can open
a ticket can put Markdown in its title, so it is escaped before it reaches the page and links are
only ever made from http(s) URLs. Charts become small Unicode sparklines, which survive any viewer.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pandas as pd

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
from glassbox.vocabulary import COUNT_LABELS, HEADLINE_COUNTS, count_label

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")
_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_LINE_START = re.compile(r"^(\s*)([-+=]|\d+[.)])")
_BARS = "▁▂▃▄▅▆▇█"


def escape(text: object) -> str:
    """Untrusted text as inert Markdown: one line, HTML as entities, every markup character escaped."""
    flat = " ".join(str(text).split())
    flat = _SPECIAL.sub(r"\\\1", flat).translate(_ENTITIES)
    return _LINE_START.sub(lambda m: m.group(1) + re.sub(r"([-+=.)])", r"\\\1", m.group(2)), flat)


def link(text: object, url: str | None) -> str:
    """``[text](url)`` for http(s) URLs, else the escaped text alone."""
    if not url or not re.match(r"https?://", url, re.IGNORECASE):
        return escape(text)
    safe_url = quote(url, safe=":/?#@!$&'*+,;=%~-._")
    return f"[{escape(text)}]({safe_url})"


def sparkline(values: list[float | None], *, from_zero: bool = True) -> str:
    """``▁▃█``: each value as a bar between zero (or the smallest) and the largest; a gap when unknown."""
    known = [float(v) for v in values if v is not None and not pd.isna(v)]
    low = 0.0 if from_zero else min(known, default=0.0)
    span = max(known, default=low) - low
    steps = len(_BARS) - 1
    return "".join(" " if v is None or pd.isna(v) else _BARS[round((float(v) - low) / span * steps) if span > 0 else 0]
                   for v in values)


def render_markdown(content: ReportContent) -> str:
    """The whole report as one Markdown document."""
    sections = [_title(content), _note(content), _standing(content), _agreements(content), _shipped(content),
                _alerts(content), _headline(content), _experiments(content), _latency(content), _waiting(content)]
    return "\n\n".join(section for section in sections if section) + "\n"


def _title(content: ReportContent) -> str:
    view = "client view" if content.report.get("view") == "client" else "team view"
    return f"# {escape(content.engagement)} — {escape(content.label)}\n\n_{content.dates} · {view}_"


def _note(content: ReportContent) -> str:
    """The team's own words for the week, first: each line escaped as any other text, line breaks kept."""
    if not content.note:
        return ""
    paragraphs = ["  \n".join(escape(line) for line in block.split("\n") if line.strip()) for block in content.note]
    return "## From the team\n\n" + "\n\n".join(paragraphs)


def _standing(content: ReportContent) -> str:
    """What a client asks first: is the model on track, and is anything waiting — on them or on the team."""
    lines = ["## Where things stand", ""]
    for e in content.experiments:
        described = content.descriptions.get(e.get("experiment", ""))
        lines.append(f"- **{escape(e.get('experiment', ''))}**: {escape(kpi_sentence(e))}"
                     + (f" _({escape(described)})_" if described else ""))
    for row in content.waiting:
        oldest = f" (oldest {format_hours(row.oldest_hours)})" if row.oldest_hours is not None else ""
        lines.append(f"- Waiting on the **{row.on}**: {row.count} {row.what}{oldest}")
    if not content.waiting:
        lines.append("- Nothing is waiting on anyone.")
    return "\n".join(lines)


def _headline(content: ReportContent) -> str:
    counts = content.counts
    parts = []
    for name in HEADLINE_COUNTS:
        change = arrow(content.delta(name))
        parts.append(f"**{counts.get(name, 0)} {count_label(name, counts.get(name, 0))}**"
                     + (f" ({change})" if change else ""))
    against = " against the previous period" if content.previous else ""
    lines = ["## Headline", "", ", ".join(parts) + against + ".", "",
             "| activity | this period | previous | change |", "|---|---:|---:|:---:|"]
    for name, label in COUNT_LABELS.items():
        previous = content.previous.get(name, "—") if content.previous else "—"
        lines.append(f"| {label} | {counts.get(name, 0)} | {previous} | {arrow(content.delta(name)) or '—'} |")
    per_day = content.activity.groupby("day")["events"].sum() if not content.activity.empty else None
    if per_day is not None:
        lines += ["", f"Activity per day: `{sparkline(per_day.tolist())}` ({int(per_day.sum())} events)"]
    traced = links_sentence(content.links)
    if traced:
        lines += ["", f"Traceability: {escape(traced)}"]
    return "\n".join(lines)


def _shipped(content: ReportContent) -> str:
    if not content.shipped:
        return "## What shipped\n\nNothing was merged or resolved in this period."
    listing = content.shipped_listed()
    lines = ["## What shipped", ""]
    for item in listing.items:
        lines.append(f"- {item.kind.capitalize()} {link(item.thread, item.url)}: {escape(item.title)}")
    if listing.more_sentence:
        lines.append(f"- {listing.more_sentence}")
    return "\n".join(lines)


def _experiments(content: ReportContent) -> str:
    if not content.experiments:
        return ""
    lines = ["## Experiments"]
    for experiment in content.experiments:
        name = experiment.get("experiment", "")
        best = experiment.get("best") or {}
        lines += ["", f"### {escape(name)}", "",
                  f"{experiment.get('runs', 0)} runs in this period. {escape(kpi_sentence(experiment))}"]
        if best.get("run_id"):
            lines.append(f"Best run: `{escape(best['run_id'])}`.")
        listing = content.run_listing(experiment)
        lines += [_run_line(run) for run in listing.runs]
        if listing.more:
            lines.append(f"- …and {listing.more} more run{'' if listing.more == 1 else 's'}.")
        runs = content.runs_of(experiment)
        if runs is not None and not runs.empty:
            line = sparkline(runs.sort_values("at")["value"].tolist(), from_zero=False)
            lines += ["", f"{escape(best.get('metric', 'KPI'))} per run: `{line}`"]
    extra = [compute_sentence(content.report.get("compute")), *model_sentences(content.report.get("models"))]
    lines += ["", *(f"- {escape(sentence)}" for sentence in extra if sentence)]
    return "\n".join(lines)


def _run_line(run: dict) -> str:
    """One run of the period: its value, whether it was a new best, what changed, its note."""
    parts = [f"- `{escape(run.get('name') or run.get('run_id', ''))}`: {format_value(run.get('value'))}"]
    if run.get("children"):
        parts.append(f"best of {run['children']} child runs")
    if run.get("excluded"):
        parts.append("excluded (never counted as best)")
    if run.get("new_best"):
        parts.append("**new best**")
    if run.get("drop"):
        parts.append("▼ fell below the best")
    diff = run.get("changes")
    if diff:
        parts.append(f"changed {escape(diff)}")
    if run.get("note"):
        parts.append(f"note: {escape(run['note'])}")
    return " · ".join(parts)


def _latency(content: ReportContent) -> str:
    lines = ["## Response times", "",
             "| wait | n | median | p90 | median (working hours) | open now | oldest open |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for _name, label, figures in content.latencies:
        lines.append(
            f"| {escape(label)} | {figures.get('n', 0)} | {format_hours(figures.get('median_hours'))} "
            f"| {format_hours(figures.get('p90_hours'))} | {format_working_hours(figures.get('median_working_hours'))} "
            f"| {figures.get('open', 0)} | {format_hours(figures.get('oldest_open_hours'))} |")
    trend = _trend_lines(content)
    return "\n".join(lines + trend)


def _trend_lines(content: ReportContent) -> list[str]:
    if content.trend.empty:
        return []
    weeks = list(dict.fromkeys(content.trend["week"]))
    lines = ["", f"Median by week ({escape(weeks[0])} to {escape(weeks[-1])}):", ""]
    for name, label, _ in content.latencies:
        series = content.trend.loc[content.trend["latency"] == name].set_index("week")["median_hours"]
        values = [series.get(week) for week in weeks]
        if any(v is not None and not pd.isna(v) for v in values):
            lines.append(f"- {escape(label)}: `{sparkline(values)}`")
    return lines if len(lines) > 3 else []


def _agreements(content: ReportContent) -> str:
    """SPEC §7: each working agreement in words, whether it was kept."""
    if not content.agreements:
        return ""
    return "\n".join(["## Working agreements", ""] + [f"- {escape(text)}" for text, _ in content.agreements])


def _waiting(content: ReportContent) -> str:
    """Each open wait with its thread (the counts are in :func:`_standing`)."""
    if not content.open_items:
        return ""
    lines = ["## Waiting now", "", "| waiting on | why | what | since | for |", "|---|---|---|---|---:|"]
    for item in content.open_items[:MAX_LISTED]:
        what = f"{link(item.get('thread', ''), item.get('url'))} {escape(item.get('title', ''))}"
        lines.append(f"| {escape(item.get('on', ''))} | {escape(item.get('why', ''))} | {what} "
                     f"| {local_time(item.get('since'), content.timezone)} | {format_hours(item.get('hours'))} |")
    return "\n".join(lines)


def _alerts(content: ReportContent) -> str:
    if not content.alerts:
        return ""
    listing = content.alerts_listed()
    lines = ["## Alerts", ""]
    for alert in listing.items:
        lines.append(f"- ⚠ **{escape(alert.get('kind', 'alert'))}** ({escape(alert.get('experiment', ''))}): "
                     f"{escape(alert.get('message', ''))}")
    if listing.more_sentence:
        lines.append(f"- {listing.more_sentence}")
    return "\n".join(lines)
