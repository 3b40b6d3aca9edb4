"""The weekly report over a large store, in every format, against reading the week's events alone.

Each format is ``python -m glassbox report --week last --format X`` in its own process (startup
included: that is what a cron job pays). The floor is a process that imports Glassbox and reads the
last week's events from the store, the least any report of that week must do; the report also reads
whatever earlier history its latencies need (waits still open when the week began).

    python bench/bench_report.py                         # /tmp/gb-1m (bench/seed_store.py)
    python bench/bench_report.py --store /tmp/gb-100k
    python bench/bench_report.py --quick                 # json and md over 2k events: a smoke test (CI)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import print_table, python_env, run_measured

FORMATS = ("json", "md", "html", "csv", "pdf")

READ_WEEK = """
import sys
from datetime import datetime
from zoneinfo import ZoneInfo
from glassbox.config import load_config
from glassbox.periods import parse_week
from glassbox.workspace import open_engagement
config = load_config(sys.argv[1])
tz = ZoneInfo(config.engagement.timezone)
period = parse_week("last", tz, datetime.now(tz).date())
frame = open_engagement(config).read_events(start=period.start, end=period.end)
print(len(frame))
"""


def measure(config: Path, formats: tuple[str, ...]) -> None:
    python = sys.executable
    floor = run_measured("read last week's events (floor)", [python, "-c", READ_WEEK, str(config)], env=python_env())
    rows = [floor]
    for name in formats:
        rows.append(run_measured(f"report --format {name}", [python, "-m", "glassbox", "report", "--config",
                                                              str(config), "--week", "last", "--format", name],
                                 env=python_env()))
    from glassbox.config import load_config
    from glassbox.workspace import open_engagement

    count = open_engagement(load_config(config)).count_events()
    print_table(f"Weekly report, last week — {count:,} events in the store", rows, floor)


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the weekly report in every format.")
    parser.add_argument("--store", type=Path, default=Path("/tmp/gb-1m"), help="a seeded engagement folder")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--quick", action="store_true", help="a 2k-event store: a smoke test")
    args = parser.parse_args()
    formats = tuple(args.formats.split(","))
    if args.quick:
        formats = tuple(name for name in formats if name in ("json", "md"))
        from seed_store import seed

        with tempfile.TemporaryDirectory(prefix="glassbox-bench-report-") as folder:
            measure(seed(Path(folder), 2000), formats)
        return
    measure(args.store / "glassbox.toml", formats)


if __name__ == "__main__":
    main()
