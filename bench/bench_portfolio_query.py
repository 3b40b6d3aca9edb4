"""The Portfolio-shaped query: one engagement's figures for one week, in process, against its floor.

A Portfolio page lists many engagements, each a row (:func:`glassbox.portfolio.engagement_week`):
the week still running, its counts against last week's, the waits open on the team, agreements
breached, the KPI's best against its target and alerts, sync health. Issue #17's target is 50 ms per
engagement at 1M events. :func:`portfolio_week` is the query timed: the row, read from the read model,
for this week (what the page asks: the seed's rebuild kept its run figures, as a sync does) and, for
comparison, for last week (which no write kept: its runs are read). The floor is reading the week's
events (``Store.read_events``): what any figure of the week needs.
Each query starts from a fresh store object (no cached frames) over the engine the series opened, as
in the dashboard; the first run also pays for the engine's first connection and compiling the
queries, the rest are the best of ``--runs``. CPU time is the process's own.

    python bench/bench_portfolio_query.py                   # 1M events, SQLite (bench/seed_store.py)
    python bench/bench_portfolio_query.py --events 100000 --store-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/bench_portfolio_query.py --quick           # 2k events: a smoke test (CI)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from common import machine
from seed_store import add_store_arguments, engagement, seed

from glassbox.config import Config, load_config
from glassbox.periods import Period, parse_week
from glassbox.portfolio import PortfolioRow, engagement_week
from glassbox.store import Store, open_store
from glassbox.views import View

TARGET_MS = 50.0


def portfolio_week(store: Store, config: Config, period: Period) -> PortfolioRow:
    """One engagement's Portfolio row for the week, in the team's view, from the read model (current
    after the seed's rebuild)."""
    return engagement_week(store, config, period, View.TEAM, datetime.now(UTC))


def read_week(store: Store, config: Config, period: Period) -> int:
    """The floor: the week's events, read and decoded."""
    return len(store.read_events(start=period.start, end=period.end))


def timed(query: Callable[[Store, Config, Period], object], url: str, config: Config, period: Period,
          runs: int) -> tuple[float, float, float]:
    """(first run ms, best of the rest ms, best CPU ms): each run on a fresh store object over one engine,
    as the dashboard holds one engine per process (:func:`dashboard.loaders.store`) and scopes it per
    engagement; the first run also pays for the engine's first connection and compiling the queries."""
    times: list[tuple[float, float]] = []
    engine = open_store(url, config.engagement_id)
    for _ in range(runs + 1):
        store = engine.scoped(config.engagement_id)
        started, cpu = time.perf_counter(), time.process_time()
        query(store, config, period)
        times.append(((time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000))
    engine.engine.dispose()
    warm = min(times[1:])
    return times[0][0], warm[0], min(cpu for _, cpu in times[1:])


def measure(config_path: Path, runs: int) -> None:
    config = load_config(config_path)
    url = config.store_url
    zone = config.engagement.zone
    today = datetime.now(zone).date()
    opened = open_store(url, config.engagement_id)
    count, dialect = opened.count_events(), opened.dialect
    print(f"\n### Portfolio query, one engagement's week — {count:,} events ({dialect})\n")
    print(f"_{machine()}; load average {os.getloadavg()[0]:.1f}; best of {runs} after a first run_\n")
    print("| week | query | first ms | best ms | × floor | best CPU ms | × floor CPU | target |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for which in ("this", "last"):
        period = parse_week(which, zone, today)
        floor = timed(read_week, url, config, period, runs)
        query = timed(portfolio_week, url, config, period, runs)
        for name, (first, best, cpu) in (("read the week's events (floor)", floor),
                                         ("portfolio_week (engagement_week)", query)):
            target = "" if name.endswith("(floor)") or which == "last" else \
                f"≤ {TARGET_MS:g} ms: {'met' if best <= TARGET_MS else 'missed'}"
            print(f"| {which} ({period.label}) | {name} | {first:.0f} | {best:.0f} | {best / floor[1]:.2f} | {cpu:.0f} "
                  f"| {cpu / floor[2]:.2f} | {target} |")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the Portfolio-shaped week query.")
    add_store_arguments(parser, events=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a 2k-event store, 2 runs: a smoke test")
    args = parser.parse_args()
    if args.quick:
        with tempfile.TemporaryDirectory(prefix="glassbox-bench-portfolio-") as folder:
            measure(seed(Path(folder), 2000), 2)
        return
    with engagement(args.store_url, args.events, args.cache, args.jira) as config:
        measure(config, args.runs)


if __name__ == "__main__":
    main()
