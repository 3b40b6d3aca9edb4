"""The HTML report as a phone and a mail client at phone width render it, in headless Chromium.

Clients read the weekly mail on a phone: at 390 px the report must fit the screen (its wide tables
become one card per row, each value under its label) instead of running 537 px wide and wrapping
words letter by letter.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from chromium import Browser, require_chromium
from seed import seeded_engagement

from glassbox.config import load_config
from glassbox.periods import parse_week
from glassbox.reports import render_report
from glassbox.views import View
from glassbox.workspace import open_engagement

pytestmark = pytest.mark.browser
PHONE = 390


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("phone")
    config = load_config(seeded_engagement(folder / "engagement"))
    period = parse_week("last", config.engagement.zone, datetime.now(config.engagement.zone).date())
    html = render_report(open_engagement(config), config, period, fmt="html", view=View.TEAM)
    target = folder / "report.html"
    target.write_text(str(html), encoding="utf-8")
    return target


def test_the_report_fits_a_phone_screen_with_tables_as_cards(report_file: Path,
                                                             tmp_path: Path) -> None:
    require_chromium()
    browser = Browser(tmp_path / "chromium")
    try:
        browser.open(f"file://{report_file}", ["Where things stand", "Response times"])
        browser.call("Emulation.setDeviceMetricsOverride", width=PHONE, height=844, deviceScaleFactor=1, mobile=True)
        layout = json.loads(str(browser.evaluate("""JSON.stringify({
            width: document.documentElement.scrollWidth,
            headers: [...document.querySelectorAll('table.cards thead')].map(h => getComputedStyle(h).display),
            label: getComputedStyle(document.querySelector('table.cards td.num'), '::before').content,
            narrowest: Math.min(...[...document.querySelectorAll('table.cards td')].map(td => td.clientWidth)),
        })""")))
    finally:
        browser.close()
    assert layout["width"] <= PHONE, "nothing runs off the right edge"
    assert layout["headers"] and set(layout["headers"]) == {"none"}, "each card labels its own values"
    assert layout["label"] not in ("none", "normal", '""')
    assert layout["narrowest"] > 200, "no column squeezed to a letter's width"
