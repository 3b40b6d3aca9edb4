"""Dashboard: every page's full script run (AppTest) and the served first load in headless Chromium.

For each seeded store (``bench/seed_store.py``: 10k, 100k and 1M events by default, reused when
they exist) one fresh process runs every page through ``streamlit.testing`` AppTest, as
``tests/test_dashboard.py`` does: the first run of each page (the first page also pays for loading
the store's history into the shared cache, as the first visitor of a served app does) and a warm
rerun, which is what every click costs. Then the app is served with ``streamlit run`` and each
page is loaded in headless Chromium over DevTools (``tests/test_browser.py``'s driver) until its
headings show and the app is idle; the server's peak memory is read from ``/proc``.

The floor for a rerun is Streamlit itself: a page that draws only a title (measured the same way).

    python bench/bench_dashboard.py                       # /tmp/gb-10k, /tmp/gb-100k, /tmp/gb-1m
    python bench/bench_dashboard.py --stores /tmp/gb-100k
    python bench/bench_dashboard.py --quick               # two pages over 2k events: a smoke test (CI)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from common import ROOT, machine, python_env, run_measured

APP = ROOT / "dashboard" / "app.py"
PAGES = ["today", "timeline", "experiments", "feedback", "weekly_report"]
TITLES = {"today": "Today", "timeline": "Timeline", "experiments": "Experiments", "feedback": "Feedback loops",
          "weekly_report": "Weekly report"}
DEFAULT_STORES = [Path("/tmp/gb-10k"), Path("/tmp/gb-100k"), Path("/tmp/gb-1m")]
BARE_PAGE = "import streamlit as st\nst.title('Floor')\n"


def apptest_child(config: Path, out: Path, pages: list[str]) -> None:
    """In this process: each page's first run and warm rerun; results as JSON in ``out``."""
    from streamlit.testing.v1 import AppTest

    os.environ["GLASSBOX_CONFIG"] = str(config)
    os.environ.pop("GLASSBOX_DB_URL", None)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        bare = Path(folder) / "bare.py"
        bare.write_text(BARE_PAGE)
        results["floor"] = _two_runs(AppTest.from_file(str(bare), default_timeout=600))
    for page in pages:
        app = AppTest.from_file(str(APP), default_timeout=600)
        app.switch_page(f"views/{page}.py")
        results[page] = _two_runs(app)
        if app.exception:
            raise SystemExit(f"{page}: {app.exception[0].value}")
        if not app.title or app.title[0].value != TITLES[page]:
            raise SystemExit(f"{page}: the page did not draw its title")
    out.write_text(json.dumps(results))


def _two_runs(app: Any) -> list[float]:
    times = []
    for _ in range(2):
        started = time.perf_counter()
        app.run()
        times.append(time.perf_counter() - started)
    return times


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def served(config: Path, pages: list[str]) -> tuple[dict[str, float], float]:
    """Each page's first load in headless Chromium, in order, and the server's peak resident MB."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_browser import PAGES as EXPECTED
    from test_browser import Browser

    port = _free_port()
    env = {**python_env(), "GLASSBOX_CONFIG": str(config)}
    env.pop("GLASSBOX_DB_URL", None)
    command = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    url = f"http://127.0.0.1:{port}"
    profile = Path(tempfile.mkdtemp(prefix="glassbox-bench-chromium-"))
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    browser = None
    try:
        _wait_healthy(url, server)
        browser = Browser(profile)
        loads = {}
        for page in pages:
            path = "" if page == "today" else page
            loads[page] = _load(browser, f"{url}/{path}", EXPECTED[path])
        return loads, _peak_mb(server.pid)
    finally:
        if browser is not None:
            browser.close()
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def _load(browser: Any, url: str, expected: list[str], timeout: float = 600) -> float:
    """Seconds from navigation until every ``expected`` text shows and the app stops running."""
    started = time.perf_counter()
    browser.call("Page.navigate", url=url)
    while time.perf_counter() - started < timeout:
        time.sleep(0.1)
        text = str(browser.evaluate("document.body.innerText") or "")
        running = browser.evaluate("!!document.querySelector('[data-testid=\"stStatusWidget\"]')")
        if all(item in text for item in expected) and not running:
            return time.perf_counter() - started
    raise SystemExit(f"{url} did not finish loading within {timeout:.0f}s")


def _wait_healthy(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("streamlit exited before serving the dashboard")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("the dashboard did not answer within 60 s")


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def events_in(config: Path) -> int:
    from glassbox.config import load_config
    from glassbox.workspace import open_engagement

    return open_engagement(load_config(config)).count_events()


def measure(config: Path, pages: list[str], browser: bool) -> None:
    count = events_in(config)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "apptest.json"
        child = run_measured("apptest", [sys.executable, __file__, "--child", str(config), "--out", str(out),
                                         "--pages", ",".join(pages)], env=python_env())
        results = json.loads(out.read_text())
    loads, server_mb = served(config, pages) if browser else ({}, float("nan"))
    floor = results.pop("floor")
    print(f"\n### Dashboard — {count:,} events\n")
    print(f"_{machine()}; load average {os.getloadavg()[0]:.1f}_\n")
    print("| page | AppTest first run s | warm rerun s | warm × floor | served first load in Chromium s |")
    print("|---|---:|---:|---:|---:|")
    print(f"| bare page (floor) | {floor[0]:.2f} | {floor[1]:.3f} | 1.00 | |")
    for page in pages:
        first, warm = results[page]
        load = f"{loads[page]:.2f}" if page in loads else "—"
        print(f"| {page} | {first:.2f} | {warm:.3f} | {warm / floor[1]:.0f} | {load} |")
    print(f"\nAppTest process peak {child.peak_mb:.0f} MB, {child.seconds:.1f} s in all; "
          f"served: streamlit server peak {server_mb:.0f} MB.")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the dashboard's pages.")
    parser.add_argument("--stores", type=Path, nargs="*", help="seeded engagement folders (with glassbox.toml)")
    parser.add_argument("--no-browser", action="store_true", help="AppTest only")
    parser.add_argument("--quick", action="store_true", help="a 2k-event store: a smoke test")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated pages")
    args = parser.parse_args()
    pages = args.pages.split(",")
    if args.child:
        apptest_child(args.child, args.out, pages)
        return
    browser = not args.no_browser and shutil.which("chromium") is not None
    if args.quick:
        from seed_store import seed

        with tempfile.TemporaryDirectory(prefix="glassbox-bench-dashboard-") as folder:
            measure(seed(Path(folder), 2000), pages[:2], browser)
        return
    for folder in args.stores or DEFAULT_STORES:
        measure(folder / "glassbox.toml", pages, browser)


if __name__ == "__main__":
    main()
