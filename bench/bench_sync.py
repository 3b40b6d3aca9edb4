"""What a sync costs as the store grows: +100 events into a large store, and a first full sync.

Issue #17's read model is kept current by the sync, so its cost lands here. Two measurements:

* **+100 commits.** ``glassbox.sync.sync_sources`` (in process, as ``glassbox sync`` runs it) over a
  git clone of 100 recent commits (``bench/make_git_repo.py``), into a copy of the seeded store and,
  as the floor, into an empty store of the same kind. The connector's work is the same in both, so
  the difference is what the store's size costs the sync; the target is ≤ 1 s of it at 1M events.
  Best of ``--runs``, a new clone (new commits) each run.
* **+100 events of every kind.** The same comparison for 100 synthetic events of the last day
  (``seed_store.sync_new_events`` through ``glassbox.sync.sync_connectors``): comments, ticket moves,
  pull requests and runs, so the runs' rows, the KPI stories and, at the sync's end, the week's run
  figures are derived again too.
* **First full sync.** ``python -m glassbox sync`` of a 30k-commit clone into an empty store, against
  ``git log --all --numstat`` (as ``bench/bench_git.py``); the target is ≤ 1.3× today's ratio
  (docs/benchmarks.md records it).

CPU time is this process's (SQLite works in process; PostgreSQL's server time is not in it).

    python bench/bench_sync.py                         # 1M events, SQLite
    python bench/bench_sync.py --events 100000 --store-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/bench_sync.py --quick                 # 2k events, a 2k-commit first sync: a smoke test (CI)
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench_git import best_of
from common import ROOT, Measurement, machine, print_table, python_env, run_measured
from seed_store import CONFIG, add_store_arguments, engagement, pg_schema, seed, sync_new_events, writable_copy
from sqlalchemy import make_url

from glassbox.config import load_config
from glassbox.store import open_store
from glassbox.sync import sync_sources

NEW_COMMITS = 100
TARGET_SECONDS = 1.0


def make_repo(path: Path, commits: int, seed_value: int, start: int | None = None) -> Path:
    extra = ["--start", str(start)] if start is not None else []
    subprocess.run([sys.executable, str(ROOT / "bench" / "make_git_repo.py"), str(path), "--commits",
                    str(commits), "--seed", str(seed_value), *extra], check=True)
    return path


def git_config(folder: Path, store_url: str, repo: Path) -> Path:
    """The seeded engagement's config over ``store_url`` with one git source, ``repo``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "glassbox.toml"
    path.write_text(CONFIG.replace("{store_url}", store_url) + f'[[git]]\npath = "{repo}"\n')
    return path


@contextmanager
def empty_store(server_url: str | None, folder: Path) -> Iterator[str]:
    """An empty store of the same kind as the seeded one: a SQLite file, or a fresh PostgreSQL schema."""
    if server_url and make_url(server_url).get_backend_name() == "postgresql":
        with pg_schema(server_url) as url:
            yield url
        return
    folder.mkdir(parents=True, exist_ok=True)
    yield f"sqlite:///{folder / 'empty.db'}"


def timed_sync(config_path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one in-process sync of every source in ``config_path`` (which must add
    ``NEW_COMMITS`` events)."""
    config = load_config(config_path)
    store = open_store(config.store_url, config.engagement_id)
    started, cpu = time.perf_counter(), time.process_time()
    summaries = sync_sources(config, store)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    store.engine.dispose()
    if not all(summary.ok for summary in summaries):
        raise SystemExit(f"the sync failed: {[summary.line() for summary in summaries]}")
    if sum(summary.counts.new for summary in summaries) != NEW_COMMITS:
        raise SystemExit(f"the sync added {[summary.line() for summary in summaries]}, not {NEW_COMMITS} commits")
    return wall, cpu


def small_sync(seeded: Path, server_url: str | None, runs: int, work: Path) -> None:
    """+``NEW_COMMITS`` into the seeded store's copy and into an empty store, best of ``runs`` each."""
    seeded_config = load_config(seeded)
    seeded_url = seeded_config.store_url
    count = open_store(seeded_url, seeded_config.engagement_id).count_events()
    start = int(time.time()) - 3 * 86400  # the last three days: the days a real sync touches
    results: dict[str, list[tuple[float, float]]] = {"large": [], "empty": []}
    with writable_copy(seeded_url, work) as large, empty_store(server_url, work) as empty:
        for run in range(runs):
            repo = make_repo(work / f"repo{run}", NEW_COMMITS, seed_value=100 + run, start=start)
            for name, url in (("large", large), ("empty", empty)):
                results[name].append(timed_sync(git_config(work / f"{name}{run}", url, repo)))
    print_against_floor(f"Sync of {NEW_COMMITS} new commits — into {count:,} events and into an empty store "
                        f"({make_url(seeded_url).get_backend_name()})", runs, count, results)


def mixed_sync(seeded: Path, server_url: str | None, runs: int, work: Path) -> None:
    """+``NEW_COMMITS`` events of every kind (``seed_store.sync_new_events``: 8 % runs, so the sync's end
    derives the week's run figures again) into the seeded store's copy and into an empty store."""
    seeded_config = load_config(seeded)
    count = open_store(seeded_config.store_url, seeded_config.engagement_id).count_events()
    results: dict[str, list[tuple[float, float]]] = {"large": [], "empty": []}
    with writable_copy(seeded_config.store_url, work) as large, empty_store(server_url, work / "mixed") as empty:
        open_store(empty, seeded_config.engagement_id).engine.dispose()  # created before it is timed
        for run in range(runs):
            for name, url in (("large", large), ("empty", empty)):
                folder = work / f"mixed-{name}{run}"
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "glassbox.toml").write_text(CONFIG.replace("{store_url}", url))
                started, cpu = time.perf_counter(), time.process_time()
                sync_new_events(folder / "glassbox.toml", NEW_COMMITS, f"mixed{run}")
                results[name].append((time.perf_counter() - started, time.process_time() - cpu))
    print_against_floor(f"Sync of {NEW_COMMITS} new events of every kind, runs among them — into {count:,} events "
                        f"and into an empty store ({make_url(seeded_config.store_url).get_backend_name()})",
                        runs, count, results)


def print_against_floor(title: str, runs: int, count: int, results: dict[str, list[tuple[float, float]]]) -> None:
    """The table of a sync into the large store against the same sync into an empty one (the floor):
    the best of each, every run of the large one, and the verdict on the difference."""
    large_best, empty_best = min(results["large"]), min(results["empty"])
    extra = large_best[0] - empty_best[0]
    every = ", ".join(f"{wall:.2f}" for wall, _ in results["large"])
    print(f"\n### {title}\n")
    print(f"_{machine()}; load average {os.getloadavg()[0]:.1f}; best of {runs}_\n")
    print("| store | wall s | CPU s | note |")
    print("|---|---:|---:|---|")
    print(f"| empty store (floor) | {empty_best[0]:.3f} | {empty_best[1]:.3f} | |")
    print(f"| {count:,} events | {large_best[0]:.3f} | {large_best[1]:.3f} | {extra:+.3f} s over the floor "
          f"(each run: {every} s); target ≤ {TARGET_SECONDS:g} s: {'met' if extra <= TARGET_SECONDS else 'missed'} |")
    sys.stdout.flush()


def first_sync(server_url: str | None, commits: int, runs: int, work: Path) -> None:
    """A first full sync of a ``commits``-commit clone, against ``git log`` over the same clone."""
    repo = make_repo(work / "full-repo", commits, seed_value=7)
    floor = best_of(runs, lambda: run_measured(
        "git log --all --numstat > /dev/null (floor)", ["git", "log", "--all", "--numstat"], cwd=repo))

    folders = (work / f"full{run}" for run in itertools.count())

    def sync_once() -> Measurement:
        folder = next(folders)
        with empty_store(server_url, folder) as url:
            config = git_config(folder, url, repo)
            return run_measured("glassbox sync, first (git → store)", [sys.executable, "-m", "glassbox", "sync",
                                "--config", str(config)], env=python_env(), note="full first sync")

    print_table(f"First full sync — {commits:,} commits", [floor, best_of(runs, sync_once)], floor)


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the sync as the store grows.")
    add_store_arguments(parser, events=1_000_000)
    parser.add_argument("--commits", type=int, default=30_000, help="the first full sync's clone (0: skip it)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2k events, 2k commits, one run: a smoke test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="glassbox-bench-sync-") as folder:
        work = Path(folder)
        if args.quick:
            seeded = seed(work / "seeded", 2000)
            small_sync(seeded, None, 1, work)
            mixed_sync(seeded, None, 1, work)
            first_sync(None, 2000, 1, work)
            return
        with engagement(args.store_url, args.events, args.cache, args.jira) as config:
            small_sync(config, args.store_url, args.runs, work)
            mixed_sync(config, args.store_url, args.runs, work)
        if args.commits:
            first_sync(args.store_url, args.commits, args.runs, work)


if __name__ == "__main__":
    main()
