"""Every benchmark script still runs: its ``--quick`` mode, end to end, prints its Markdown table.

These are smoke tests, not timed tests: a benchmark that silently broke (a renamed function, a
changed CLI) would otherwise be found only by the next person measuring. No number is asserted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from chromium import require_chromium

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {
    "bench_git.py": "Local git ingest",
    "bench_github.py": "GitHub sync",
    "bench_jira.py": "Jira sync",
    "bench_mlflow.py": "MLflow ingest",
    "bench_report.py": "Weekly report",
    "bench_dashboard.py": "Dashboard",
    "bench_sync.py": "Sync of 100 new commits",
    "bench_portfolio_query.py": "Portfolio query",
    "bench_portfolio.py": "Portfolio page",
    "bench_sync_runs.py": "Sync runs, how each source stands",
}
NEEDS_BROWSER = {"bench_dashboard.py"}  # serves the app and loads it in headless Chromium


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_quick_mode_prints_its_table(script: str, tmp_path: Path) -> None:
    if script in NEEDS_BROWSER:
        require_chromium()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("GLASSBOX_DB_URL", None)
    command = [sys.executable, str(ROOT / "bench" / script), "--quick"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)

    assert done.returncode == 0, done.stderr[-3000:]
    assert f"### {SCRIPTS[script]}" in done.stdout
    assert "|---|" in done.stdout
