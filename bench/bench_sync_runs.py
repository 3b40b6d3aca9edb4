"""How each source stands after a year of syncs: ``Store.sync_runs`` against reading every run.

The Portfolio row, the freshness panel, ``doctor``, the engagements list and the source alerts ask
``Store.sync_runs`` how each source stands (its newest run, its newest success, its newest failure).
A deployment syncing every five minutes records about 100,000 runs a year per source; the store
returns the few that matter, each part a seek. The comparison is what the store returned before
schema 9: every run, newest first (``pd.read_sql`` of the engagement's rows). One failure in 97 runs.

    python bench/bench_sync_runs.py                       # 4 sources x 100,000 runs, SQLite
    python bench/bench_sync_runs.py --store-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/bench_sync_runs.py --quick               # 4 x 2,000: a smoke test
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from common import machine
from seed_store import pg_schema
from sqlalchemy import insert, make_url, select, text

from glassbox import schema
from glassbox.store import Store, open_store

SOURCES = [("git", "/src/churn"), ("github", "acme/churn"), ("jira", "https://acme.atlassian.net"),
           ("mlflow", "http://mlflow:5000")]


def record(store: Store, per_source: int) -> None:
    """``per_source`` finished runs of each of :data:`SOURCES`, five minutes apart."""
    start = datetime.now(UTC) - timedelta(minutes=5 * per_source)
    rows = [{"engagement": store.engagement, "source": source, "origin": origin,
             "started_at": start + timedelta(minutes=5 * index),
             "finished_at": start + timedelta(minutes=5 * index + 1),
             "status": "failed" if index % 97 == 0 else "ok", "fetched": 0, "new": 0, "updated": 0, "deleted": 0,
             "errors": int(index % 97 == 0)}
            for index in range(per_source) for source, origin in SOURCES]
    with store.engine.begin() as conn:
        for index in range(0, len(rows), 20_000):
            conn.execute(insert(schema.sync_runs), rows[index:index + 20_000])
        if store.dialect == "postgresql":  # as autovacuum would have by then; SQLite keeps no statistics here
            conn.execute(text("ANALYZE sync_runs"))


def every_run(store: Store) -> pd.DataFrame:
    """What ``sync_runs`` read before schema 9: the engagement's every run, newest first."""
    runs = schema.sync_runs
    with store.engine.connect() as conn:
        return pd.read_sql(select(runs).where(runs.c.engagement == store.engagement).order_by(runs.c.id.desc()), conn)


def best_ms(read: Callable[[], pd.DataFrame], runs: int) -> tuple[float, int]:
    times, rows = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        rows = len(read())
        times.append((time.perf_counter() - started) * 1000)
    return min(times), rows


def measure(url: str, per_source: int, runs: int) -> None:
    store = open_store(url, "bench")
    record(store, per_source)
    print(f"\n### Sync runs, how each source stands — {len(SOURCES)} sources x {per_source:,} runs "
          f"({store.dialect})\n")
    print(f"_{machine()}; load average {os.getloadavg()[0]:.1f}; best of {runs}_\n")
    print("| read | best ms | rows |")
    print("|---|---:|---:|")
    for name, read in (("every run (before schema 9)", lambda: every_run(store)),
                       ("sync_runs(), every source that synced", store.sync_runs),
                       ("sync_runs(a config's sources)", lambda: store.sync_runs(SOURCES))):
        ms, rows = best_ms(read, runs)
        print(f"| {name} | {ms:.0f} | {rows:,} |")
    store.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store-url", help="a PostgreSQL server URL (a fresh schema is made and dropped)")
    parser.add_argument("--runs-per-source", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2,000 runs per source, one try: a smoke test")
    args = parser.parse_args()
    per_source, runs = (2_000, 1) if args.quick else (args.runs_per_source, args.runs)
    if args.store_url and make_url(args.store_url).get_backend_name() == "postgresql":
        with pg_schema(args.store_url) as url:
            measure(url, per_source, runs)
        return
    with tempfile.TemporaryDirectory(prefix="glassbox-bench-sync-runs-") as folder:
        measure(f"sqlite:///{Path(folder) / 'runs.db'}", per_source, runs)


if __name__ == "__main__":
    main()
