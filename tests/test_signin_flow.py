"""Sign-in end to end: headless Chromium, the served dashboard and a real OpenID provider.

test_auth.py checks the policy and the guard with the identity simulated; only the whole flow
notices what issue #15 found — a dependency missing on an installed machine made every sign-in
loop back to the sign-in page. Here ``oidc-provider-mock`` (a real OpenID Connect provider built on
Authlib) runs on 127.0.0.1, the dashboard is served by ``streamlit run`` from a temporary folder
whose ``.streamlit/secrets.toml`` points at it (never the repository's ``.streamlit/``), and
Chromium clicks "Sign in", types the account into the provider's form and comes back, as a person
would. ``GLASSBOX_SCREENSHOTS=DIR`` saves the signed-in client view and the refusal.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from chromium import ERROR_MARKERS, Browser, app_folder, free_port, save_screenshot, serve_dashboard
from seed import INTERNAL_TICKET, INTERNAL_TITLE, seeded_engagement

pytestmark = pytest.mark.browser

SIGN_IN_PAGE = ["Please sign in", "Sign in"]


def auth_secrets(port: int, issuer: str, *, cookie_secret: bool = True) -> str:
    """A ``secrets.toml`` switching sign-in on against ``issuer`` for an app served on ``port``."""
    lines = ["[auth]", f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"']
    if cookie_secret:
        lines.append(f'cookie_secret = "{secrets.token_urlsafe(32)}"')
    lines += ['client_id = "glassbox"', f'client_secret = "{secrets.token_urlsafe(16)}"',
              f'server_metadata_url = "{issuer}/.well-known/openid-configuration"']
    return "\n".join(lines) + "\n"


@dataclass
class Served:
    url: str
    issuer: str
    log: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, provider: str) -> Iterator[Served]:
    """The dashboard over a seeded engagement with sign-in switched on against ``provider``."""
    folder = tmp_path_factory.mktemp("signin")
    config = seeded_engagement(folder / "engagement")
    port = free_port()
    cwd = app_folder(folder / "app", auth_secrets(port, provider))
    with serve_dashboard(config, cwd, port=port) as url:
        yield Served(url, provider, cwd / "streamlit.log")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """A fresh browser profile per test: no identity cookie carries over."""
    opened = Browser(tmp_path / "chromium")
    yield opened
    opened.close()


def sign_in(browser: Browser, served: Served, email: str, expected: list[str]) -> str:
    """Open the app, click "Sign in", type ``email`` into the provider's form; return the page after."""
    text = browser.open(served.url, SIGN_IN_PAGE)
    assert "Please sign in" in text and "CHURN-" not in text, text
    browser.click("Sign in")
    text = browser.wait_for(["Authorize"], timeout=20)
    assert browser.url().startswith(f"{served.issuer}/oauth2/authorize"), f"not at the provider: {text!r}"
    browser.fill("input[name=sub]", email)
    browser.click("Authorize")
    text = browser.wait_for(expected, timeout=30)
    assert all(item in text for item in expected), (
        f"after signing in as {email}: {text[:600]!r}\nserver log: {served.log.read_text()[-2000:]}")
    assert browser.url().startswith(served.url), browser.url()
    for marker in ERROR_MARKERS:
        assert marker not in text
    assert browser.error_boxes() == 0
    return text


def sign_out(browser: Browser, served: Served) -> None:
    """Click "Sign out", confirm on the provider's end-session page, and land on the sign-in page."""
    browser.click("Sign out")
    browser.wait_for(["End session"], timeout=20)
    assert browser.url().startswith(f"{served.issuer}/oauth2/end_session"), browser.url()
    browser.click("End session")
    text = browser.wait_for(SIGN_IN_PAGE, timeout=30)
    assert "Please sign in" in text, f"after signing out: {text[:600]!r}"


def view_switches(browser: Browser, expected: int) -> int:
    """How many Team/Client switches the page draws (a segmented control is a button group).

    Streamlit loads a widget's code on first use, so the control can appear a moment after the text
    around it: wait up to 10 s for ``expected`` before answering.
    """
    deadline = time.monotonic() + 10
    while True:
        found = int(browser.evaluate("document.querySelectorAll('[data-testid=\"stButtonGroup\"]').length") or 0)
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def event_count(text: str) -> int | None:
    """The timeline's "N events from M people" figure, or ``None`` when the page does not show one."""
    found = re.search(r"([\d,]+) events from", text)
    return int(found.group(1).replace(",", "")) if found else None


def search_timeline(browser: Browser, served: Served, words: str, person: str) -> tuple[int | None, str]:
    """Search the timeline for ``words``; return the event count before and the page's text after."""
    before = event_count(browser.open(f"{served.url}/timeline", ["Timeline", f"Signed in as {person}", "events from"]))
    browser.type_into("Search", words)
    deadline = time.monotonic() + 20
    text = browser.text()
    while time.monotonic() < deadline and event_count(text) == before and "No events match" not in text:
        time.sleep(0.3)
        text = browser.text()
    return before, browser.wait_for(["Timeline"], timeout=20)


def test_client_signs_in_gets_the_locked_client_view_and_signs_out(served: Served, browser: Browser) -> None:
    text = sign_in(browser, served, "carol@acme.example", ["Signed in as Carol", "Client view", "Today"])
    assert "carol@acme.example" in text and "client view" in text
    assert view_switches(browser, 0) == 0, "a client must not get the Team/Client switch"
    save_screenshot(browser, "signin-client-today")
    before, text = search_timeline(browser, served, INTERNAL_TICKET, "Carol")
    assert before and "No events match these filters" in text and INTERNAL_TITLE not in text, text
    sign_out(browser, served)
    text = browser.open(f"{served.url}/timeline", SIGN_IN_PAGE)
    assert "Please sign in" in text and "events from" not in text, "signed out, the app shows nothing"


def test_team_member_signs_in_and_may_switch_views(served: Served, browser: Browser) -> None:
    sign_in(browser, served, "minh@agency.example", ["Signed in as Minh", "Today"])
    assert view_switches(browser, 1) == 1
    before, text = search_timeline(browser, served, INTERNAL_TICKET, "Minh")
    found = event_count(text)
    # the seed writes the internal ticket's creation and a commit naming it (at least 2 events), and
    # far more that do not mention it, so the search narrows the feed: 2 <= found < before
    assert before and found is not None and 2 <= found < before, text


def test_a_stranger_is_refused_politely_and_sees_nothing(served: Served, browser: Browser) -> None:
    text = sign_in(browser, served, "eve@elsewhere.example", ["Sorry", "Sign out"])
    assert "signed in as eve@elsewhere.example" in text and "ask the team" in text
    assert "Acme churn model" not in text and "Timeline" not in text and "events from" not in text
    save_screenshot(browser, "signin-refused")
    text = browser.open(f"{served.url}/timeline", ["Sorry", "Sign out"])
    assert "Timeline" not in text and "events from" not in text, "a direct URL shows no page either"
    sign_out(browser, served)


def test_without_a_cookie_secret_the_page_says_what_is_missing(
        tmp_path: Path, provider: str, browser: Browser) -> None:
    """A missing cookie_secret is named on the page, with no button that would loop back to it."""
    config = seeded_engagement(tmp_path / "engagement")
    port = free_port()
    cwd = app_folder(tmp_path / "app", auth_secrets(port, provider, cookie_secret=False))
    with serve_dashboard(config, cwd, port=port) as url:
        text = browser.open(url, ["cookie_secret"], timeout=30)
        buttons = browser.evaluate("[...document.querySelectorAll('button')].map(b => b.innerText).join('|')")
        save_screenshot(browser, "signin-no-cookie-secret")
    assert "has no cookie_secret" in text and "secrets.toml" in text, text
    assert "Sign in" not in str(buttons) and "CHURN-" not in text
