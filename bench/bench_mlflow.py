"""MLflow ingest: the connector's sync of a sqlite tracking store against ``search_runs`` alone.

The store holds 5k runs × 5 params × 3 metrics × 20 steps in one experiment. MLflow creates the
schema; the rows are then written with plain SQL (logging 5k runs through ``MlflowClient`` takes
minutes), exactly as MLflow lays them out: ``runs``, ``params``, ``tags``, ``metrics`` (every
step) and ``latest_metrics``.

The floor is what any reader must do: ``search_runs`` over every run, paged as the connector pages
(500 a page, oldest first), plus the KPI metric's history read in bulk from the ``metrics`` table —
one query, since ``search_runs`` returns only each metric's latest value. Glassbox is ``python -m
glassbox sync`` with that experiment and a ``[[kpi]]`` on ``val_auc`` into a fresh SQLite store.
Each contender runs in its own process.

    python bench/bench_mlflow.py                 # 5k runs (the store is built once, then reused)
    python bench/bench_mlflow.py --quick         # 100 runs: a smoke test (CI)
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from common import Measurement, print_table, python_env, run_measured

START_MS = 1_735_000_000_000
METRICS = ("val_auc", "loss", "f1")
PARAMS = ("lr", "depth", "subsample", "min_child", "seed")
STEPS = 20

SEARCH_RUNS = """
import sys
from mlflow import MlflowClient
client = MlflowClient(sys.argv[1])
experiment = client.get_experiment_by_name("churn").experiment_id
token, runs = None, 0
while True:
    page = client.search_runs([experiment], "", max_results=500, page_token=token,
                              order_by=["attributes.start_time ASC"])
    runs += len(page)
    token = page.token
    if not token:
        break
assert runs == int(sys.argv[2]), runs
"""

BULK_HISTORY = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1].removeprefix("sqlite:///"))
rows = db.execute("SELECT run_uuid, step, timestamp, value FROM metrics WHERE key = 'val_auc' "
                  "ORDER BY run_uuid, step").fetchall()
assert len(rows) == int(sys.argv[2]) * 20, len(rows)
"""


def build_store(path: Path, runs: int, seed: int = 5) -> str:
    """A sqlite tracking store at ``path`` with ``runs`` finished runs; returns its URI."""
    uri = f"sqlite:///{path}"
    if path.exists():
        return uri
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    subprocess.run([sys.executable, "-c", "import sys; from mlflow import MlflowClient; "
                    "MlflowClient(sys.argv[1]).create_experiment('churn', artifact_location=sys.argv[2])",
                    f"sqlite:///{partial}", str(path.parent / "artifacts")], check=True, capture_output=True)
    rng = random.Random(seed)
    db = sqlite3.connect(partial)
    experiment = db.execute("SELECT experiment_id FROM experiments WHERE name = 'churn'").fetchone()[0]
    for n in range(runs):
        _insert_run(db, rng, experiment, n, runs, path.parent / "artifacts")
    db.commit()
    db.close()
    partial.rename(path)
    return uri


def _insert_run(db: sqlite3.Connection, rng: random.Random, experiment: int, n: int, runs: int,
                artifacts: Path) -> None:
    run_id = uuid.UUID(int=rng.getrandbits(128)).hex
    start = START_MS + n * 600_000
    end = start + 300_000
    db.execute("INSERT INTO runs VALUES (?, ?, 'UNKNOWN', '', '', ?, 'FINISHED', ?, ?, '', 'active', ?, ?, NULL)",
               (run_id, f"sweep-{n}", f"dev{n % 12}", start, end, f"{artifacts}/{run_id}/artifacts", experiment))
    db.executemany("INSERT INTO params VALUES (?, ?, ?)",
                   [(key, str(rng.choice([0.01, 0.1, 3, 7, 0.8])), run_id) for key in PARAMS])
    db.executemany("INSERT INTO tags VALUES (?, ?, ?)", [
        ("mlflow.user", f"dev{n % 12}", run_id), ("mlflow.runName", f"sweep-{n}", run_id),
        ("mlflow.source.git.commit", f"{rng.getrandbits(160):040x}", run_id)])
    quality = 0.7 + 0.15 * n / runs
    for key in METRICS:
        values = [quality * (1 - 0.5 ** (step + 1)) + rng.uniform(-0.01, 0.01) for step in range(STEPS)]
        db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, 0)",
                       [(key, value, start + step * 10_000, run_id, step) for step, value in enumerate(values)])
        db.execute("INSERT INTO latest_metrics VALUES (?, ?, ?, ?, 0, ?)",
                   (key, values[-1], start + (STEPS - 1) * 10_000, STEPS - 1, run_id))


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark MLflow ingest against search_runs.")
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--store", type=Path, help="where to build (or reuse) the tracking store")
    parser.add_argument("--quick", action="store_true", help="100 runs: a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.runs = 100
    work = Path(tempfile.mkdtemp(prefix="glassbox-bench-mlflow-"))
    try:
        store = args.store or (work / "mlflow" / "mlflow.db" if args.quick
                               else Path(tempfile.gettempdir()) / f"glassbox-bench-mlflow-{args.runs}" / "mlflow.db")
        uri = build_store(store, args.runs)
        run(work, uri, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, uri: str, runs: int) -> None:
    python = sys.executable
    search = run_measured("search_runs over every run (floor, part 1)", [python, "-c", SEARCH_RUNS, uri, str(runs)],
                          env=python_env())
    history = run_measured("KPI history, one SQL read (floor, part 2)", [python, "-c", BULK_HISTORY, uri, str(runs)])
    floor = Measurement("floor: search_runs + bulk history", search.seconds + history.seconds,
                        max(search.peak_mb, history.peak_mb), "sum of the two",
                        search.cpu_seconds + history.cpu_seconds)
    config = work / "glassbox.toml"
    config.write_text(f'[store]\nurl = "sqlite:///glassbox.db"\n[[mlflow]]\ntracking_uri = "{uri}"\n'
                      'experiments = ["churn"]\n[[kpi]]\nexperiment = "churn"\nmetric = "val_auc"\n')
    sync = run_measured("glassbox sync (mlflow connector → SQLite)",
                        [python, "-m", "glassbox", "sync", "--config", str(config)], env=python_env(),
                        note=f"{2 * runs} events, KPI history included")
    again = run_measured("glassbox re-sync, nothing new", [python, "-m", "glassbox", "sync", "--config", str(config)],
                         env=python_env(), note="incremental")
    print_table(f"MLflow ingest — {runs} runs × {len(PARAMS)} params × {len(METRICS)} metrics × {STEPS} steps",
                [search, history, floor, sync, again], floor)


if __name__ == "__main__":
    main()
