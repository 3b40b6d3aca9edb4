"""``python -m glassbox report``: the weekly summary in five formats (SPEC §2 and §5).

JSON is exactly SPEC §5's part of :func:`glassbox.metrics.summary.build_report`'s dict; CSV is the
period's timeline rows (SPEC §3); Markdown, HTML and PDF say the same things in prose, tables and
charts. All of them honour the view, so a client report never reveals internal work.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from glassbox.config import Config
from glassbox.errors import ConfigError
from glassbox.periods import Period
from glassbox.store import Store

if TYPE_CHECKING:
    from glassbox.reports.content import ReportContent

log = logging.getLogger(__name__)

FORMATS = ("md", "html", "csv", "json", "pdf")
SPEC_KEYS = ("engagement", "view", "period", "counts", "latency", "links", "experiments", "alerts")
EXTENSIONS = {"md": "md", "html": "html", "csv": "csv", "json": "json", "pdf": "pdf"}


def write_report(store: Store, config: Config, period: Period, *, fmt: str, view: str,
                 out: Path | None, stdout: TextIO, now: datetime | None = None) -> Path | None:
    """Render the report and write it to ``out`` (a file, or a folder for a dated name) or ``stdout``.

    Returns the path written, or ``None`` when the report went to ``stdout``.
    """
    payload = render_report(store, config, period, fmt=fmt, view=view, now=now)
    if out is None:
        _to_stdout(payload, stdout)
        return None
    target = out / file_name(period, fmt, view) if _is_folder(out) else out
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(payload, bytes):
        target.write_bytes(payload)
    else:
        target.write_text(payload, encoding="utf-8")
    log.info("wrote the %s report for %s to %s", fmt, period.label, target)
    return target


def render_report(store: Store, config: Config, period: Period, *, fmt: str, view: str,
                  now: datetime | None = None) -> str | bytes:
    """The report in ``fmt`` as text (bytes for PDF)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "csv":
        from glassbox.timeline import load_timeline, to_csv

        frame = load_timeline(store, config, start=period.start, end=period.end, view=view)
        return to_csv(frame, config.engagement.zone)
    from glassbox.metrics.latency import compute_all_latencies
    from glassbox.metrics.linking import build_links
    from glassbox.metrics.summary import load_report_events, report_from_events
    from glassbox.reports.content import gather

    now = now or datetime.now(timezone.utc)
    history = load_report_events(store, config, period, view)
    links = build_links(history)
    samples = compute_all_latencies(history, config, now, links)
    report = report_from_events(history, config, period, view, now, samples=samples, links=links)
    if fmt == "json":
        return to_json({key: report[key] for key in SPEC_KEYS})
    return render_content(gather(config, period, report, history, samples, now=now), fmt)


def render_content(content: ReportContent, fmt: str) -> str | bytes:
    """Markdown, HTML or PDF from a :class:`~glassbox.reports.content.ReportContent`."""
    if fmt == "md":
        from glassbox.reports.markdown import render_markdown

        return render_markdown(content)
    if fmt == "html":
        from glassbox.reports.html import render_html

        return render_html(content)
    if fmt == "pdf":
        from glassbox.reports.pdf import render_pdf

        return render_pdf(content)
    raise ValueError(f"{fmt!r} is not a rendered format (md, html, pdf)")


def to_json(report: dict[str, Any]) -> str:
    """SPEC §5's report as indented JSON: exactly its keys, in its order (the extras stay internal)."""
    return json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def file_name(period: Period, fmt: str, view: str) -> str:
    """``glassbox-2026-W47-team.html``: sortable, and says which period and view it holds."""
    label = period.label.replace("..", "_to_")
    return f"glassbox-{label}-{view}.{EXTENSIONS[fmt]}"


def _is_folder(out: Path) -> bool:
    """An existing folder, or a path that does not exist yet and has no file extension."""
    return out.is_dir() or (not out.exists() and not out.suffix)


def _to_stdout(payload: str | bytes, stdout: TextIO) -> None:
    if isinstance(payload, str):
        stdout.write(payload)
        return
    buffer = getattr(stdout, "buffer", None)
    if buffer is None:
        raise ConfigError("--format pdf: this output stream takes text only — pass --out PATH")
    buffer.write(payload)
    buffer.flush()
