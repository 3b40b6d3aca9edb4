"""Workspaces in the served app: a client signed in through a real OpenID provider, in headless
Chromium, sees only their engagement — also when they type another engagement's id into the URL.

The provider is the session's (conftest.py); the sign-in steps and the served app are
test_signin_flow.py's; the workspace is test_workspace.py's (acme's client Carol, staff Linh, three
engagements in one store).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import Browser, app_folder, free_port, save_screenshot, serve_dashboard
from test_signin_flow import Served, auth_secrets, sign_in
from test_workspace import build_seeded_workspace

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, provider: str) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("workspace-signin")
    config = build_seeded_workspace(folder / "workspace")
    port = free_port()
    cwd = app_folder(folder / "app", auth_secrets(port, provider))
    with serve_dashboard(config, cwd, port=port) as url:
        yield Served(url, provider, cwd / "streamlit.log")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    opened = Browser(tmp_path / "chromium")
    yield opened
    opened.close()


def test_a_client_never_sees_another_engagement_even_by_url(served: Served, browser: Browser) -> None:
    text = sign_in(browser, served, "carol@acme.example", ["Signed in as Carol", "Client view", "Today"])
    assert "Acme churn model" in text
    for asked in ("globex", "initech", "no-such-engagement"):
        for page in ("", "timeline", "weekly_report", "portfolio"):
            shown = browser.open(f"{served.url}/{page}?engagement={asked}", ["Signed in as Carol"])
            assert "Globex" not in shown and "Initech" not in shown and asked not in shown, (page, asked)
            assert "Portfolio" not in shown
    save_screenshot(browser, "workspace-client-url-tampering")


def test_staff_land_on_the_portfolio_of_every_engagement(served: Served, browser: Browser) -> None:
    text = sign_in(browser, served, "linh@agency.example", ["Signed in as Linh", "Portfolio", "Initech pricing"])
    assert "Acme churn model" in text and "Globex fraud model" in text
    save_screenshot(browser, "workspace-staff-portfolio")
    shown = browser.open(f"{served.url}/today?engagement=globex", ["Today", "Globex fraud model"])
    assert "Globex fraud model · what happened" in shown
