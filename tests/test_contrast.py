"""Captions, sidebar notes and muted text stay readable: at least WCAG AA's 4.5:1 on white.

Streamlit draws captions in the text colour at 60% opacity, so the theme's ``textColor`` decides
their contrast; measured in the served app in headless Chromium.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chromium import Browser, app_folder, require_chromium, serve_dashboard
from seed import seeded_engagement

pytestmark = pytest.mark.browser


def luminance(rgb: tuple[float, float, float]) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(value) for value in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def test_captions_keep_a_contrast_of_4_5_to_1(tmp_path: Path) -> None:
    require_chromium()
    config = seeded_engagement(tmp_path / "engagement")
    with serve_dashboard(config, app_folder(tmp_path / "app")) as url:
        browser = Browser(tmp_path / "chromium")
        try:
            browser.open(f"{url}/weekly_report", ["Response times"])
            found = json.loads(str(browser.evaluate(
                "JSON.stringify([...document.querySelectorAll('[data-testid=stCaptionContainer]')]"
                ".map(e => [getComputedStyle(e).color, getComputedStyle(e).opacity]))")))
        finally:
            browser.close()
    assert found, "the page has captions"
    for colour, opacity in found:
        red, green, blue = (float(part) for part in colour[colour.index("(") + 1:colour.index(")")].split(",")[:3])
        alpha = float(opacity)
        paper = (1 - alpha) * 255  # drawn over white
        over_white = (alpha * red + paper, alpha * green + paper, alpha * blue + paper)
        assert 1.05 / (luminance(over_white) + 0.05) >= 4.5, f"{colour} at opacity {opacity}"
