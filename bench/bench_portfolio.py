"""Workspaces at scale: the Portfolio page over many engagements, and a workspace sync with nothing new.

One store (SQLite, and PostgreSQL with ``--pg-url``) holds ``--engagements`` engagements of
``--events`` synthetic events each (``bench/seed_store.py``'s generator), every engagement also
watching one small real git repository. Measured, each in a fresh process:

- the Portfolio page (the default page in local mode with several engagements) through AppTest:
  its first run, which reads and measures every engagement (as the first visitor pays), and a
  warm rerun; against the bare page (a title only) measured the same way;
- ``sync`` of the whole workspace right after a first one: nothing new, so it is the per-engagement
  cost of locks, cursors and the connector's check.

    python bench/bench_portfolio.py                     # 20 engagements x 50k events, SQLite
    python bench/bench_portfolio.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/bench_portfolio.py --quick             # 3 x 2k: a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import ROOT, machine, python_env
from seed_store import CONFIG, synthetic_events

APP = ROOT / "dashboard" / "app.py"
BARE_PAGE = "import streamlit as st\nst.title('Floor')\n"


def build(folder: Path, engagements: int, events: int, store_url: str) -> Path:
    """The workspace file of ``engagements`` seeded engagements sharing ``store_url`` and one git repository."""
    from glassbox.store import open_store

    folder.mkdir(parents=True, exist_ok=True)
    repo = folder / "repo"
    if not repo.exists():
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
        (repo / "README").write_text("bench\n")
        subprocess.run(["git", "-C", str(repo), "add", "README"], check=True)
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=Dev", "-c", "user.email=dev@team.example",
                        "commit", "-q", "-m", "CHURN-1 start"], check=True)
    body = CONFIG.replace('[store]\nurl = "{store_url}"\n', "")
    (folder / "engagements").mkdir(exist_ok=True)
    workspace = folder / "workspace.toml"
    workspace.write_text(f'[workspace]\nname = "Bench"\nengagements = ["engagements/*.toml"]\n\n'
                         f'[store]\nurl = "{store_url}"\n', encoding="utf-8")
    store = open_store(store_url, "e00")
    now = datetime.now(UTC)
    for index in range(engagements):
        engagement = f"e{index:02d}"
        text = body.replace("Benchmark engagement", f"Bench engagement {index:02d}")
        (folder / "engagements" / f"{engagement}.toml").write_text(text + f'[[git]]\npath = "{repo}"\n')
        scoped = store.scoped(engagement)
        if scoped.count_events() >= events:
            continue
        batch = []
        for item in synthetic_events(events, 11 + index, now):
            batch.append(item)
            if len(batch) == 5000:
                scoped.write(batch)
                batch = []
        scoped.write(batch)
    store.engine.dispose()
    return workspace


def child(config: Path, out: Path) -> None:
    """In this process: the bare page's and the Portfolio's first run and warm rerun, as JSON in ``out``."""
    from streamlit.testing.v1 import AppTest

    os.environ["GLASSBOX_CONFIG"] = str(config)
    os.environ.pop("GLASSBOX_DB_URL", None)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        bare = Path(folder) / "bare.py"
        bare.write_text(BARE_PAGE)
        results["bare"] = two_runs(AppTest.from_file(str(bare), default_timeout=1800))
    app = AppTest.from_file(str(APP), default_timeout=1800)
    results["portfolio"] = two_runs(app)
    if app.exception or not app.title or app.title[0].value != "Portfolio":
        raise SystemExit(f"the Portfolio page did not draw: {app.exception[0].value if app.exception else ''}")
    out.write_text(json.dumps(results))


def two_runs(app) -> list[float]:  # noqa: ANN001 — streamlit's AppTest
    times = []
    for _ in range(2):
        started = time.perf_counter()
        app.run()
        times.append(time.perf_counter() - started)
    return times


def timed_sync(config: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "glassbox", "sync", "--config", str(config)], env=python_env(),
                          cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"sync failed: {done.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - started


def measure(label: str, config: Path) -> None:
    timed_sync(config)  # the first sync fetches the repository's one commit for every engagement
    nothing_new = timed_sync(config)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "result.json"
        subprocess.run([sys.executable, __file__, "--child", str(config), str(out)], env=python_env(), cwd=ROOT,
                       check=True)
        results = json.loads(out.read_text())
    bare, portfolio = results["bare"], results["portfolio"]
    print(f"| {label} | {bare[0]:.2f} / {bare[1]:.2f} | {portfolio[0]:.2f} / {portfolio[1]:.2f} | "
          f"{portfolio[0] / bare[0]:.0f}x | {nothing_new:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engagements", type=int, default=20)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "gb-portfolio")
    parser.add_argument("--pg-url", help="also measure on this PostgreSQL database (its public schema is used)")
    parser.add_argument("--quick", action="store_true", help="3 engagements x 2k events")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.quick:
        args.engagements, args.events, args.folder = 3, 2_000, args.folder.with_name(args.folder.name + "-quick")
    print(f"### Portfolio page — {args.engagements} engagements x {args.events:,} events\n")
    print(f"_{machine()}; seconds_\n")
    print("| store | bare page first / warm | Portfolio first / warm | first vs bare | workspace sync, nothing new |")
    print("|---|---|---|---|---|")
    stores = [("SQLite", args.folder / "sqlite", f"sqlite:///{args.folder / 'sqlite' / 'glassbox.db'}")]
    if args.pg_url:
        stores.append(("PostgreSQL", args.folder / "pg", args.pg_url))
    for label, folder, url in stores:
        measure(label, build(folder, args.engagements, args.events, url))


if __name__ == "__main__":
    main()
