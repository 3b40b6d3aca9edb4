"""The weekly report over a large store, in every format, against reading that week's events.

Each format is ``python -m glassbox report --week last --format X`` in its own process (startup
included: that is what a cron job pays). The floor is ``python -m glassbox timeline --from MON --to
SUN`` for the same week: the least any report of that week must do is read and print its events.
Issue #17's targets: json, md and html within 2× the floor, pdf within 3× (csv has none: it is the
week's rows). Verdicts go by CPU time, which the machine's other work does not stretch.

    python bench/bench_report.py                         # 1M events, SQLite (bench/seed_store.py)
    python bench/bench_report.py --events 100000 --store-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/bench_report.py --jira                  # the config names its Jira source, as a real one does
    python bench/bench_report.py --quick                 # json and md over 2k events: a smoke test (CI)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from common import Measurement, print_table, python_env, run_measured
from seed_store import add_store_arguments, described, engagement, seed

FORMATS = ("json", "md", "html", "csv", "pdf")
TARGETS = {"json": 2.0, "md": 2.0, "html": 2.0, "pdf": 3.0}  # × the floor, issue #17


def last_week(config: Path) -> tuple[str, str]:
    """The first and last day (inclusive) of ``--week last`` in the engagement's time zone."""
    from glassbox.config import load_config
    from glassbox.periods import parse_week

    zone = load_config(config).engagement.zone
    period = parse_week("last", zone, datetime.now(zone).date())
    return f"{period.start:%Y-%m-%d}", f"{period.end - timedelta(days=1):%Y-%m-%d}"


def verdict(row: Measurement, floor: Measurement, target: float | None) -> str:
    if target is None:
        return ""
    ratio = row.cpu_seconds / floor.cpu_seconds
    return f"target ≤ {target:g}× floor CPU: {'met' if ratio <= target else 'missed'}"


def measure(config: Path, formats: tuple[str, ...]) -> None:
    python = sys.executable
    first, last = last_week(config)
    floor = run_measured(f"timeline --from {first} --to {last} (floor)",
                         [python, "-m", "glassbox", "timeline", "--config", str(config), "--from", first,
                          "--to", last], env=python_env())
    rows = [floor]
    for name in formats:
        row = run_measured(f"report --week last --format {name}",
                           [python, "-m", "glassbox", "report", "--config", str(config), "--week", "last",
                            "--format", name], env=python_env())
        row.note = verdict(row, floor, TARGETS.get(name))
        rows.append(row)
    from glassbox.config import load_config
    from glassbox.workspace import open_engagement

    loaded = load_config(config)
    opened = open_engagement(loaded)
    print_table(f"Weekly report, last week — {opened.count_events():,} events in the store "
                f"({described(opened, loaded)})",
                rows, floor)


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the weekly report in every format.")
    add_store_arguments(parser, events=1_000_000)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--quick", action="store_true", help="a 2k-event store: a smoke test")
    args = parser.parse_args()
    formats = tuple(args.formats.split(","))
    if args.quick:
        formats = tuple(name for name in formats if name in ("json", "md"))
        with tempfile.TemporaryDirectory(prefix="glassbox-bench-report-") as folder:
            measure(seed(Path(folder), 2000), formats)
        return
    with engagement(args.store_url, args.events, args.cache, args.jira) as config:
        measure(config, formats)


if __name__ == "__main__":
    main()
