"""The words of each notification: a title, plain text, an HTML e-mail part and a short chat form.

Every message is built from a report dict of the recipient's view (:class:`glassbox.report_model.ReportModel`),
so a client target's digest, alerts and report never carry team-view content. Foreign text (titles,
experiment names, error lines) is HTML-escaped in the HTML part, never rendered as markup. The chat
form stays under :data:`CHAT_LIMIT` characters, what Microsoft Teams workflows keep of a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape
from typing import Any

from glassbox.notify.due import Alert
from glassbox.redaction import one_line
from glassbox.reports.content import format_hours
from glassbox.vocabulary import COUNT_LABELS, HEADLINE_COUNTS, agreement_sentence, wait_of

CHAT_LIMIT = 1000  # Teams workflows cut messages here; Slack and Discord take more
MAX_LINES = 10  # waits or alerts a digest lists before "and N more"


@dataclass(frozen=True)
class Message:
    """One notification in every form a target may take; ``attachment`` is ``(file name, bytes)``."""

    title: str
    text: str
    html: str
    short: str
    attachment: tuple[str, bytes] | None = None
    markdown: bool = False  # ``text`` is Markdown (the weekly report): e-mail renders it to HTML


def _clip(text: str, limit: int = CHAT_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _link_lines(url: str | None) -> tuple[list[str], str]:
    if not url:
        return [], ""
    return ["", f"Dashboard: {url}"], f'<p>Dashboard: <a href="{escape(url, quote=True)}">{escape(url)}</a></p>'


def _counts_line(counts: dict[str, Any]) -> str:
    return ", ".join(f"{counts.get(name, 0)} {COUNT_LABELS[name]}" for name in HEADLINE_COUNTS)


def _wait_line(wait: dict[str, Any], breached: bool) -> str:
    kind = wait_of(str(wait.get("latency")))
    what = kind.one if kind else str(wait.get("latency"))
    mark = "past the agreed limit — " if breached else ""
    return one_line(f"{mark}on the {wait.get('on')}: {wait.get('thread')} {wait.get('title')} ({what}, "
                    f"{format_hours(wait.get('hours'))})")


def ordered_waits(report: dict[str, Any], breached: set[tuple[str, str]]) -> list[tuple[dict[str, Any], bool]]:
    """The report's open waits, those past an agreement's limit first, then the oldest first."""
    waits = [(wait, (str(wait.get("latency")), str(wait.get("thread"))) in breached)
             for wait in report.get("waiting") or []]
    return sorted(waits, key=lambda item: (not item[1], -float(item[0].get("hours") or 0)))


def _best_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for entry in report.get("experiments") or []:
        best = entry.get("best") or {}
        result = f", best {best.get('metric')} {best.get('value'):.4g}" if best.get("value") is not None else ""
        runs = int(entry.get("runs") or 0)
        lines.append(one_line(f"{entry.get('experiment')}: {runs} run{'' if runs == 1 else 's'}{result}"))
    return lines


def digest_message(report: dict[str, Any], day: date, since: date, alerts: Sequence[Alert],
                   breached: set[tuple[str, str]], dashboard_url: str | None) -> Message | None:
    """The Today page as a message: since the previous working day, what waits on whom, runs, alerts.

    ``None`` on a quiet day — nothing happened and no alert — which sends nothing.
    """
    counts = report.get("counts") or {}
    if not any(int(value or 0) for value in counts.values()) and not alerts:
        return None
    engagement = one_line(str(report.get("engagement", "")))
    title = f"{engagement} — {day:%a %d %b %Y}"
    waits = ordered_waits(report, breached)
    experiments = _best_lines(report)
    sections: list[tuple[str, list[str]]] = [(f"Since {since:%a %d %b}", [_counts_line(counts)])]
    if waits:
        listed = [_wait_line(wait, late) for wait, late in waits[:MAX_LINES]]
        if len(waits) > MAX_LINES:
            listed.append(f"… and {len(waits) - MAX_LINES} more")
        sections.append(("Waiting now", listed))
    if experiments:
        sections.append(("Experiments", experiments))
    if alerts:
        sections.append(("Alerts", [one_line(alert.text) for alert in alerts[:MAX_LINES]]))
    agreements = [agreement_sentence(figures) for figures in report.get("agreements") or []]
    if agreements:
        sections.append(("Working agreements this week", agreements))
    link_text, link_html = _link_lines(dashboard_url)
    text = "\n".join([title, *[line for heading, lines in sections
                               for line in ["", heading, *[f"- {item}" for item in lines]]], *link_text])
    html = (f"<h2>{escape(title)}</h2>"
            + "".join(f"<h3>{escape(heading)}</h3><ul>{''.join(f'<li>{escape(item)}</li>' for item in lines)}</ul>"
                      for heading, lines in sections) + link_html)
    late = sum(1 for _, breach in waits if breach)
    on_team = sum(1 for wait, _ in waits if wait.get("on") == "team")
    short_parts = [title, _counts_line(counts)]
    if waits:
        short_parts.append(f"{on_team} waiting on the team, {len(waits) - on_team} on the client"
                           + (f" ({late} past the agreed limit)" if late else ""))
    short_parts += experiments[:2]
    if alerts:
        short_parts.append(f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''}: {one_line(alerts[0].text, 200)}")
    if dashboard_url:
        short_parts.append(dashboard_url)
    return Message(title, text, html, _clip("\n".join(short_parts)))


def alerts_message(engagement: str, alerts: Sequence[Alert], dashboard_url: str | None) -> Message:
    """Several alerts that arose in one run, grouped in one message (one line each)."""
    name = one_line(engagement)
    title = f"{name} — {alerts[0].kind.replace('_', ' ')}" if len(alerts) == 1 else f"{name} — {len(alerts)} alerts"
    lines = [one_line(alert.text) for alert in alerts]
    link_text, link_html = _link_lines(dashboard_url)
    text = "\n".join([title, "", *[f"- {line}" for line in lines], *link_text])
    html = (f"<h2>{escape(title)}</h2><ul>{''.join(f'<li>{escape(line)}</li>' for line in lines)}</ul>" + link_html)
    short = "\n".join([title, *[f"• {line}" for line in lines], *([dashboard_url] if dashboard_url else [])])
    return Message(title, text, html, _clip(short))


def weekly_message(report: dict[str, Any], markdown: str, pdf: bytes | None, dashboard_url: str | None) -> Message:
    """The week's report: the Markdown as the body, the PDF attached for e-mail, a summary for chat."""
    engagement = one_line(str(report.get("engagement", "")))
    label = str(report.get("period", {}).get("label", ""))
    title = f"{engagement} — weekly report {label}"
    kept = [figures.get("met") for figures in report.get("agreements") or [] if figures.get("met") is not None]
    summary = [title, _counts_line(report.get("counts") or {})]
    if kept:
        summary.append(f"working agreements kept: {sum(1 for met in kept if met)} of {len(kept)}")
    if dashboard_url:
        summary.append(dashboard_url)
    attachment = (f"glassbox-{label}.pdf", pdf) if pdf is not None else None
    return Message(title, markdown, "", _clip("\n".join(summary)), attachment, markdown=True)
