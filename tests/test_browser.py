"""The served dashboard in headless Chromium: every page loads and shows what a person should see.

AppTest runs pages without a browser; this test serves ``streamlit run dashboard/app.py`` on a free
127.0.0.1 port over a seeded store and loads each page in Debian's ``chromium``, asserting on the
rendered text and on the absence of Streamlit's error boxes. ``--dump-dom`` returns before the
app's websocket has delivered anything, so Chromium is driven over its DevTools protocol instead.
Set ``GLASSBOX_SCREENSHOTS=DIR`` to also save a full-page screenshot, 1400 px wide, of every page.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from seed import seeded_engagement

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PAGES = {
    "": ["Today", "By source", "Tickets moved", "Waiting", "Sources"],
    "timeline": ["Timeline", "Download CSV", "events"],
    "experiments": ["Experiments", "Runs", "Compare two runs"],
    "feedback": ["Feedback loops", "Week by week", "Ticket flow"],
    "weekly_report": ["Weekly report", "Downloads", "At a glance", "Response times"],
}
ERROR_MARKERS = ("Traceback", "Uncaught app execution", "Error running app")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard served over a seeded engagement; yields its base URL."""
    if CHROMIUM is None:
        missing = "chromium is not installed (apt-get install -y chromium; .ci/run installs it)"
        if os.environ.get("GLASSBOX_REQUIRE_BROWSER"):
            pytest.fail(missing)
        pytest.skip(missing)
    folder = tmp_path_factory.mktemp("served")
    config = seeded_engagement(folder / "engagement")
    port = _free_port()
    env = {**os.environ, "GLASSBOX_CONFIG": str(config)}
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    log = (folder / "streamlit.log").open("w")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def _wait_healthy(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("streamlit exited before serving the dashboard")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("the dashboard did not answer within 30 s")


class Browser:
    """Headless Chromium driven over the DevTools protocol (websockets is a Streamlit dependency).

    ``--dump-dom`` alone returns before Streamlit's websocket has delivered the page, so the test
    waits for the page's own text to appear and the app to stop running, as a person would.
    """

    def __init__(self, profile: Path) -> None:
        from websockets.sync.client import connect

        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update", "--no-first-run",
             f"--user-data-dir={profile}", "--remote-debugging-port=0", "--window-size=1400,1000", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as response:
            targets = json.load(response)
        page = next(target for target in targets if target["type"] == "page")
        self.stack = ExitStack()
        self.socket = self.stack.enter_context(connect(page["webSocketDebuggerUrl"], max_size=None))
        self.counter = 0
        self.exceptions: list[str] = []
        self.call("Runtime.enable")
        self.call("Page.enable")

    def call(self, method: str, **params: object) -> dict:
        self.counter += 1
        self.socket.send(json.dumps({"id": self.counter, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == self.counter:
                return message.get("result", {})
            if message.get("method") == "Runtime.exceptionThrown":
                self.exceptions.append(str(message["params"]["exceptionDetails"].get("text")))

    def evaluate(self, expression: str) -> object:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def open(self, url: str, expected: list[str], timeout: float = 45) -> str:
        """Load ``url`` and wait until every ``expected`` text shows and the app is idle; return the text."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            time.sleep(0.5)
            text = str(self.evaluate("document.body.innerText") or "")
            running = self.evaluate("!!document.querySelector('[data-testid=\"stStatusWidget\"]')")
            if all(item in text for item in expected) and not running:
                time.sleep(1.0)  # charts draw after the script ends
                return str(self.evaluate("document.body.innerText") or "")
        return text

    def error_boxes(self) -> int:
        return int(self.evaluate("document.querySelectorAll('[data-testid=\"stException\"]').length") or 0)

    def screenshot(self, target: Path) -> None:
        """The whole page at 1400 px wide (the app scrolls inside its main block, so grow the window)."""
        height = self.evaluate(
            "Math.max(1000, document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 0)")
        self.call("Emulation.setDeviceMetricsOverride", width=1400, height=min(int(height), 6000),
                  deviceScaleFactor=1, mobile=False)
        time.sleep(1.0)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        target.write_bytes(base64.b64decode(data))
        self.call("Emulation.clearDeviceMetricsOverride")

    def close(self) -> None:
        self.stack.close()
        os.killpg(self.process.pid, signal.SIGTERM)  # Debian's chromium is a wrapper script: end its group
        self.process.wait(timeout=10)


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
    screenshots = os.environ.get("GLASSBOX_SCREENSHOTS")
    if screenshots:
        Path(screenshots).mkdir(parents=True, exist_ok=True)
        browser.screenshot(Path(screenshots) / f"{name}.png")
