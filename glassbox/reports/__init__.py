"""``python -m glassbox report``: the weekly summary in five formats (SPEC §2 and §5).

Every format renders one :class:`glassbox.report_model.ReportModel`: JSON is exactly SPEC §5's part
of its dict; CSV is the period's timeline rows (SPEC §3); Markdown, HTML and PDF say the same things
in prose, tables and charts. All of them honour the view, so a client report never reveals internal work.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from glassbox.config import Config
from glassbox.errors import ConfigError
from glassbox.files import write_file
from glassbox.periods import Period
from glassbox.store import Store

if TYPE_CHECKING:
    from glassbox.report_model import ReportModel
    from glassbox.reports.content import ReportContent

log = logging.getLogger(__name__)

FORMATS = ("md", "html", "csv", "json", "pdf")
SPEC_KEYS = ("engagement", "engagement_id", "view", "period", "counts", "latency", "links", "experiments", "alerts",
             "agreements", "models", "note")
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
    write_file(target, payload)  # atomic: a failed write keeps the previous report
    log.info("wrote the %s report for %s to %s", fmt, period.label, target)
    return target


def render_report(store: Store, config: Config, period: Period, *, fmt: str, view: str,
                  now: datetime | None = None) -> str | bytes:
    """The report in ``fmt`` as text (bytes for PDF)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
    from glassbox.report_model import ReportModel

    return render_model(ReportModel.load(store, config, period, view, now), fmt)


def render_model(model: ReportModel, fmt: str) -> str | bytes:
    """A built report in ``fmt``: the command and the dashboard's downloads render the same model."""
    if fmt == "csv":
        from glassbox.timeline import to_csv

        return to_csv(model.rows, model.config.engagement.zone)
    if fmt == "json":
        return to_json(model.spec())
    return render_content(model.content(), fmt)


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


def file_name(period: Period, fmt: str, view: str, engagement: str | None = None) -> str:
    """``glassbox-2026-W47-team.html``: sortable, and says which period and view it holds;
    ``glassbox-acme-2026-W47-team.html`` with an ``engagement`` (``report --engagement all``)."""
    label = period.label.replace("..", "_to_")
    who = f"{engagement}-" if engagement else ""
    return f"glassbox-{who}{label}-{view}.{EXTENSIONS[fmt]}"


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
