"""The served dashboard in headless Chromium: every page loads and shows what a person should see.

AppTest runs pages without a browser; this test serves ``streamlit run dashboard/app.py`` over a
seeded store and loads each page in Chromium (the helpers are in ``tests/chromium.py``), asserting on
the rendered text and on the absence of Streamlit's error boxes.
Set ``GLASSBOX_SCREENSHOTS=DIR`` to also save a full-page screenshot, 1400 px wide, of every page.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chromium import ERROR_MARKERS, Browser, app_folder, require_chromium, save_screenshot, serve_dashboard
from seed import seeded_engagement

pytestmark = pytest.mark.browser

PAGES = {
    "": ["Today", "By source", "Tickets moved", "Waiting", "Sources"],
    "timeline": ["Timeline", "Download CSV", "events"],
    "experiments": ["Experiments", "Runs", "Compare runs"],
    "feedback": ["Feedback loops", "Week by week", "Ticket flow"],
    "weekly_report": ["Weekly report", "Downloads", "At a glance", "Response times"],
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard served over a seeded engagement; yields its base URL."""
    require_chromium()
    folder = tmp_path_factory.mktemp("served")
    config = seeded_engagement(folder / "engagement")
    with serve_dashboard(config, app_folder(folder / "app")) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    opened = Browser(tmp_path_factory.mktemp("chromium"))
    yield opened
    opened.close()


@pytest.mark.parametrize("page", list(PAGES))
def test_page_shows_its_content_without_errors(served: str, browser: Browser, page: str) -> None:
    """Each page, loaded by URL in a real browser, renders its headings and no error box."""
    text = browser.open(f"{served}/{page}", PAGES[page])
    name = page or "today"
    for expected in PAGES[page]:
        assert expected in text, f"{name}: {expected!r} is not on the page"
    for marker in ERROR_MARKERS:
        assert marker not in text, f"{name}: the page shows an error ({marker})"
    assert browser.error_boxes() == 0, f"{name}: the page shows an exception box"
    save_screenshot(browser, name)
