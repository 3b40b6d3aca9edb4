"""Serving the dashboard and driving headless Chromium over DevTools, shared by the browser tests.

AppTest runs pages without a browser, so the few things only a browser shows (the served app, its
websocket, cookies, redirects through a sign-in provider) are tested by serving
``streamlit run dashboard/app.py`` on a free 127.0.0.1 port and loading it in Debian's ``chromium``.
``--dump-dom`` returns before the app's websocket has delivered anything, so Chromium is driven over
its DevTools protocol instead (``websockets`` is a Streamlit dependency). Chromium resolves no host
name but 127.0.0.1, so a page that tried to reach the internet would show it, and none waits on it.
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
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboard" / "app.py"
STARTUP_SECONDS = 60  # Chromium's first start on a fresh, loaded machine builds its caches
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ERROR_MARKERS = ("Traceback", "Uncaught app execution", "Error running app")


def require_chromium() -> str:
    """Chromium's path; skip without it, or fail when ``GLASSBOX_REQUIRE_BROWSER`` says CI needs it."""
    if CHROMIUM is None:
        missing = "chromium is not installed (apt-get install -y chromium; .ci/run installs it)"
        if os.environ.get("GLASSBOX_REQUIRE_BROWSER"):
            pytest.fail(missing)
        pytest.skip(missing)
    return CHROMIUM


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_folder(folder: Path, secrets: str | None = None) -> Path:
    """A working directory for ``streamlit run``: the repository's ``.streamlit/config.toml``, and
    ``.streamlit/secrets.toml`` only when ``secrets`` is given.

    Streamlit reads both from its working directory, so tests serve the app from a temporary folder:
    a developer's own git-ignored ``secrets.toml`` cannot switch sign-in on under a test, and a test's
    secrets are never written into the repository.
    """
    settings = folder / ".streamlit"
    settings.mkdir(parents=True)
    shutil.copy(ROOT / ".streamlit" / "config.toml", settings / "config.toml")
    if secrets is not None:
        (settings / "secrets.toml").write_text(secrets, encoding="utf-8")
    return folder


@contextmanager
def serve_dashboard(config: Path, cwd: Path, *, port: int | None = None) -> Iterator[str]:
    """``streamlit run dashboard/app.py`` over ``config``, from :func:`app_folder` ``cwd``; yields its base URL.

    Only ``cwd``'s secrets file counts (not ``~/.streamlit/secrets.toml``); the server's output goes
    to ``cwd/streamlit.log``.
    """
    port = port or free_port()
    environment = {**os.environ, "GLASSBOX_CONFIG": str(config), "PYTHONPATH": str(ROOT)}  # this checkout's code
    environment.pop("GLASSBOX_DB_URL", None)
    command = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
               "--secrets.files", str(cwd / ".streamlit" / "secrets.toml")]
    log_path = cwd / "streamlit.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(command, cwd=cwd, env=environment, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(f"{url}/_stcore/health", server, f"streamlit (log: {log_path})", 30)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=10)


def wait_until_healthy(health_url: str, process: subprocess.Popen, what: str, seconds: float) -> None:
    """Poll ``health_url`` until it answers 200; ``what`` names the server (and where its log is) in the error."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(health_url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer within {seconds:g} s")


class Browser:
    """Headless Chromium driven over the DevTools protocol.

    The test waits for the page's own text to appear and the app to stop running, as a person would.
    """

    def __init__(self, profile: Path) -> None:
        from websockets.sync.client import connect

        # Chromium puts its singleton socket under TMPDIR and exits when that path passes the 108 bytes a
        # socket's path may have, as under pytest-xdist's per-worker temporary folders: give it a short one.
        self.short_tmp = tempfile.TemporaryDirectory(prefix="gb-chromium-", dir="/tmp")
        self.process = subprocess.Popen(
            [require_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update", "--no-first-run",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
             f"--user-data-dir={profile}", "--remote-debugging-port=0", "--window-size=1400,1000", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "TMPDIR": self.short_tmp.name})
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + STARTUP_SECONDS
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with status {self.process.returncode} before its DevTools port")
            if time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not open its DevTools port within {STARTUP_SECONDS} s")
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

    def text(self) -> str:
        return str(self.evaluate("document.body ? document.body.innerText : ''") or "")

    def url(self) -> str:
        return str(self.evaluate("location.href") or "")

    def open(self, url: str, expected: list[str], timeout: float = 45) -> str:
        """Load ``url`` and wait until every ``expected`` text shows and the app is idle; return the text."""
        self.call("Page.navigate", url=url)
        return self.wait_for(expected, timeout)

    def wait_for(self, expected: list[str], timeout: float = 45) -> str:
        """Wait until every ``expected`` text shows and no app run is in progress; return the page's text.

        Returns the last text seen when time runs out, so the caller's assertion shows what was there.
        """
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            time.sleep(0.3)
            text = self.text()
            running = self.evaluate("!!document.querySelector('[data-testid=\"stStatusWidget\"]')")
            if all(item in text for item in expected) and not running:
                time.sleep(1.0)  # charts draw after the script ends
                return self.text()
        return text

    def click(self, label: str) -> None:
        """Click the button (or link) whose label is ``label``, as a person would.

        The label is the text's last line: a Material icon before it is a ligature (``login``) in the DOM.
        """
        found = self.evaluate(
            "(() => { const wanted = " + json.dumps(label) + ";"
            " const hit = [...document.querySelectorAll('button, a, [role=button]')]"
            "   .find(node => node.innerText.trim().split('\\n').pop().trim() === wanted);"
            " if (hit) { hit.click(); } return !!hit; })()")
        assert found, f"no button {label!r} on the page: {self.text()[:500]!r}"

    def fill(self, selector: str, value: str) -> None:
        """Set the plain HTML input matching the CSS ``selector`` to ``value`` (a provider's form)."""
        found = self.evaluate(
            "(() => { const input = document.querySelector(" + json.dumps(selector) + ");"
            " if (input) { input.value = " + json.dumps(value) + "; } return !!input; })()")
        assert found, f"no input {selector!r} on the page: {self.text()[:500]!r}"

    def type_into(self, label: str, value: str) -> None:
        """Type ``value`` into the Streamlit text input labelled ``label`` and press Enter, as a person would.

        Streamlit's inputs are React-controlled: only real key events reach the app, so the text is
        sent through DevTools' input domain rather than set on the element. Streamlit loads a widget's
        code on first use, so the input can appear a moment after the text around it: it is waited
        for up to 10 s.
        """
        focus = ("(() => { const input = document.querySelector('input[aria-label=' + JSON.stringify("
                 + json.dumps(label) + ") + ']'); if (input) { input.focus(); } return !!input; })()")
        deadline = time.monotonic() + 10
        while not (found := self.evaluate(focus)) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert found, f"no text input {label!r} on the page: {self.text()[:500]!r}"
        self.call("Input.insertText", text=value)
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13,
                      text="\r" if kind == "keyDown" else "")

    def error_boxes(self) -> int:
        return int(self.evaluate("document.querySelectorAll('[data-testid=\"stException\"]').length") or 0)

    def screenshot(self, target: Path, *, width: int = 1400) -> None:
        """The whole page at ``width`` px, as a phone shows it below 600 px (the app scrolls inside its
        main block, so the window grows to the content's height, measured at that width)."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=1000, deviceScaleFactor=1,
                  mobile=width < 600)
        time.sleep(1.0)
        height = self.evaluate(
            "Math.max(1000, document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 0,"
            " document.documentElement.scrollHeight)")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=min(int(height), 6000),
                  deviceScaleFactor=1, mobile=width < 600)
        time.sleep(1.0)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data))
        self.call("Emulation.clearDeviceMetricsOverride")

    def close(self) -> None:
        self.stack.close()
        os.killpg(self.process.pid, signal.SIGTERM)  # Debian's chromium is a wrapper script: end its group
        self.process.wait(timeout=10)
        self.short_tmp.cleanup()


def save_screenshot(browser: Browser, name: str) -> None:
    """With ``GLASSBOX_SCREENSHOTS=DIR`` set, save the page as ``DIR/name.png``."""
    folder = os.environ.get("GLASSBOX_SCREENSHOTS")
    if folder:
        browser.screenshot(Path(folder) / f"{name}.png")
