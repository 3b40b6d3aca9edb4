"""Local git ingest: Glassbox's git connector into a fresh store, against the floor and Perceval.

The floor is raw ``git log --all --numstat`` to /dev/null: no connector can read history faster
than git prints it. Perceval's git backend (``pip install perceval`` into its own virtualenv, passed
with ``--perceval``) is the peer. Each contender runs in its own process; peak memory is its own.

    python bench/bench_git.py                       # generates a 30k-commit repository
    python bench/bench_git.py --repo ~/src/some-clone --perceval /tmp/perceval-venv/bin/perceval
    python bench/bench_git.py --quick               # a 2k-commit smoke run (CI)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, Measurement, print_table, python_env, run_measured


def best_of(runs: int, measure) -> Measurement:
    """The fastest of ``runs`` measurements (the least disturbed by the machine's other work)."""
    return min((measure() for _ in range(runs)), key=lambda m: m.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark local git ingest.")
    parser.add_argument("--repo", type=Path, help="an existing clone (default: generate one)")
    parser.add_argument("--commits", type=int, default=30_000, help="size of the generated repository")
    parser.add_argument("--perceval", help="path to a perceval executable (installed in its own venv)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2k commits, one run: a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.commits, args.runs = 2_000, 1

    work = Path(tempfile.mkdtemp(prefix="glassbox-bench-git-"))
    try:
        repo = args.repo or work / "repo"
        if args.repo is None:
            subprocess.run([sys.executable, str(ROOT / "bench" / "make_git_repo.py"), str(repo),
                            "--commits", str(args.commits)], check=True)
        count = subprocess.run(["git", "rev-list", "--all", "--count"], cwd=repo, check=True,
                               capture_output=True, text=True).stdout.strip()

        floor = best_of(args.runs, lambda: run_measured(
            "git log --all --numstat > /dev/null (floor)", ["git", "log", "--all", "--numstat"], cwd=repo))

        def glassbox_sync() -> Measurement:
            store = work / "store"
            shutil.rmtree(store, ignore_errors=True)
            store.mkdir()
            config = store / "glassbox.toml"
            config.write_text(f'[store]\nurl = "sqlite:///glassbox.db"\n[[git]]\npath = "{repo}"\n')
            return run_measured("glassbox sync (git connector → SQLite)",
                                [sys.executable, "-m", "glassbox", "sync", "--config", str(config)],
                                env=python_env(), note="full first sync")

        rows = [floor, best_of(args.runs, glassbox_sync)]

        config = work / "store" / "glassbox.toml"
        rows.append(run_measured("glassbox re-sync, nothing new", [sys.executable, "-m", "glassbox", "sync",
                                 "--config", str(config)], env=python_env(), note="incremental"))

        if args.perceval:
            clone = work / "perceval-clone"
            subprocess.run(["git", "clone", "-q", "--mirror", str(repo), str(clone)], check=True)
            rows.append(best_of(args.runs, lambda: run_measured(
                "perceval git (peer)", [args.perceval, "git", f"file://{repo}", "--git-path", str(clone)],
                note="JSON to /dev/null")))
        print_table(f"Local git ingest — {count} commits", rows, floor)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
