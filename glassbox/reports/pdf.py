"""The weekly report as PDF, printed by WeasyPrint from the very HTML of :mod:`glassbox.reports.html`.

WeasyPrint is a pure-Python install from requirements.txt (no browser to ship), draws inline SVG, and
never runs scripts; the page rules (A4, page numbers) live in the shared stylesheet. It fetches only
``data:`` URLs (the report's own embedded images), so a hostile URL in the data can never make the
printer reach the network or read a file.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from glassbox.reports.content import ReportContent
from glassbox.reports.html import render_html

if TYPE_CHECKING:
    import weasyprint

log = logging.getLogger(__name__)


def render_pdf(content: ReportContent) -> bytes:
    """The report as PDF bytes."""
    import weasyprint

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    document = weasyprint.HTML(string=render_html(content, for_print=True), url_fetcher=embedded_only())
    return document.write_pdf()


def embedded_only() -> weasyprint.URLFetcher:
    """WeasyPrint's fetcher, told to read ``data:`` URLs only: any other URL is refused (and its image
    left out), never requested."""
    import weasyprint

    return weasyprint.URLFetcher(allowed_protocols={"data"})
