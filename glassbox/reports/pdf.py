"""The weekly report as PDF, printed by WeasyPrint from the very HTML of :mod:`glassbox.reports.html`.

WeasyPrint is a pure-Python install from requirements.txt (no browser to ship), draws inline SVG, and
never runs scripts; the page rules (A4, page numbers) live in the shared stylesheet. It is told to
fetch nothing, so a hostile URL in the data can never make the printer reach the network.
"""

from __future__ import annotations

import logging

from glassbox.reports.content import ReportContent
from glassbox.reports.html import render_html

log = logging.getLogger(__name__)


def _no_fetch(url: str, *args: object, **kwargs: object) -> dict:
    raise ValueError(f"the report refers to {url!r}; reports embed everything and fetch nothing")


def render_pdf(content: ReportContent) -> bytes:
    """The report as PDF bytes."""
    import weasyprint

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    document = weasyprint.HTML(string=render_html(content, for_print=True), url_fetcher=_no_fetch)
    return document.write_pdf()
