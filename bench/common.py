"""What every benchmark script shares: timing a child process with its peak memory, and a table.

Each measurement runs in its own process so peak memory (``ru_maxrss`` from ``wait4``) belongs to
that measurement alone, and imports are not shared between contenders.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The scripts run as ``python bench/X.py``: put this checkout first, so what they import in process is
# its glassbox (and tests/chromium.py), not an editable install of another checkout; children get
# the same through python_env().
sys.path.insert(0, str(ROOT))


@dataclass
class Measurement:
    name: str
    seconds: float
    peak_mb: float
    note: str = ""
    cpu_seconds: float = 0.0  # user + system time of the process and its children


def run_measured(name: str, argv: list[str], *, note: str = "", stdout=subprocess.DEVNULL,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> Measurement:
    """Run ``argv`` to completion; wall time and the child's peak resident memory."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, env=env, cwd=cwd)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{name} failed ({' '.join(argv)}):\n{stderr[-2000:]}")
    return Measurement(name, seconds, usage.ru_maxrss / 1024, note, usage.ru_utime + usage.ru_stime)


def python_env() -> dict[str, str]:
    """The environment for a child Python that imports this checkout's packages."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (f"{platform.node()} — {os.cpu_count()} cores, {cpu}; Python {platform.python_version()}; "
            f"{datetime.now(UTC):%Y-%m-%d}")


def print_table(title: str, rows: list[Measurement], floor: Measurement) -> None:
    """A Markdown table: each contender's wall and CPU time, their ratios to the floor, and peak memory.

    CPU time (user + system, children included) is the steadier figure on a shared machine: other
    work stretches the wall clock but not the CPU a contender itself spends.
    """
    print(f"\n### {title}\n")
    print(f"_{machine()}; load average {os.getloadavg()[0]:.1f}_\n")
    print("| contender | wall s | × floor | CPU s | × floor CPU | peak MB | note |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for row in rows:
        ratio = row.seconds / floor.seconds if floor.seconds else float("nan")
        cpu_ratio = row.cpu_seconds / floor.cpu_seconds if floor.cpu_seconds else float("nan")
        print(f"| {row.name} | {row.seconds:.2f} | {ratio:.2f} | {row.cpu_seconds:.2f} | {cpu_ratio:.2f} "
              f"| {row.peak_mb:.0f} | {row.note} |")
    sys.stdout.flush()
