"""Jira sync against a local server: 5k tickets with changelogs and comments, requests and wall time.

The server is the test suite's fake Jira Server (``tests/jira_server.py``: ``startAt`` paging,
``updated >=`` evaluated in the API user's time zone), holding copies of three recorded Apache
DRILL issues (0–7 comments, 3–7 changelog histories each). The floor is a bare ``requests``
session paging the same search, 100 issues a page with ``expand=changelog``: ⌈tickets / 100⌉
requests. Glassbox runs the real connector through the real sync into a fresh SQLite store, then
again with nothing new.

    python bench/bench_jira.py            # 5k tickets
    python bench/bench_jira.py --quick    # 500 tickets: a smoke test (CI)
"""

from __future__ import annotations

import argparse
import copy
import logging
import math
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import requests
from common import ROOT, machine
from pydantic import SecretStr
from pytest_httpserver import HTTPServer

sys.path.insert(0, str(ROOT / "tests"))  # the fake servers the tests use

from jira_server import FakeJira, drill_issues  # noqa: E402

from connectors.jira.client import PAGE_SIZE, JiraClient  # noqa: E402
from connectors.jira.connector import JiraConnector  # noqa: E402
from glassbox.store import open_store  # noqa: E402
from glassbox.sync import sync_connector  # noqa: E402

USER, TOKEN = "alice@acme.example", "s3cret-token"
START = datetime(2025, 1, 6, 9, tzinfo=UTC)


def tickets(count: int) -> list[dict]:
    """``count`` copies of the recorded issues, each its own key, id and ``updated`` minute."""
    templates = drill_issues()
    made = []
    for n in range(count):
        issue = copy.deepcopy(templates[n % len(templates)])
        issue.update(id=str(20_000_000 + n), key=f"DRILL-{n + 1}")
        issue["self"] = issue["self"].rsplit("/", 1)[0] + f"/{issue['id']}"
        issue["fields"]["updated"] = (START + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        made.append(issue)
    return made


def read_floor(fake: FakeJira) -> int:
    """Page the whole search once with a bare session; returns requests made."""
    session = requests.Session()
    session.auth = (USER, TOKEN)
    made, start, total = 0, 0, 1
    while start < total:
        response = session.get(f"{fake.url}/rest/api/2/search", timeout=30, params={
            "jql": "project = DRILL ORDER BY updated ASC", "startAt": start, "maxResults": PAGE_SIZE,
            "expand": "changelog", "fields": "*all"})
        response.raise_for_status()
        page = response.json()
        made += 1
        start, total = start + len(page["issues"]), page["total"]
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark Jira sync against a local server.")
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="500 tickets: a smoke test")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        run(server, 500 if args.quick else args.tickets)
    finally:
        server.clear()
        server.stop()


def run(server: HTTPServer, count: int) -> None:
    fake = FakeJira(server, user=USER, token=TOKEN, issues=tickets(count), page_cap=PAGE_SIZE)
    histories = sum(len(i["changelog"]["histories"]) for i in fake.issues)
    comments = sum(len(i["fields"]["comment"]["comments"]) for i in fake.issues)
    minimum = math.ceil(count / PAGE_SIZE)

    started = time.perf_counter()
    floor_requests = read_floor(fake)
    floor_seconds = time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="glassbox-bench-jira-") as folder:
        store = open_store(f"sqlite:///{folder}/glassbox.db")
        client = JiraClient(fake.url, SecretStr(USER), SecretStr(TOKEN), label=f"jira ({fake.url})",
                            secret_names=("JIRA_USER", "JIRA_TOKEN"))
        connector = JiraConnector(client, origin=fake.url, jql="project = DRILL")
        fake.calls.clear()
        started = time.perf_counter()
        first = sync_connector(connector, store)
        first_seconds = time.perf_counter() - started
        assert first.ok, first.error
        first_calls = Counter(fake.paths())
        fake.calls.clear()
        started = time.perf_counter()
        again = sync_connector(connector, store)
        again_seconds = time.perf_counter() - started
        assert again.ok and again.counts.new == 0, again.line()
        again_calls = Counter(fake.paths())
        stored = store.count_events()

    searches = first_calls["search"]
    print(f"\n### Jira sync — {count} tickets, {histories} changelog histories, {comments} comments\n")
    print(f"_{machine()}_\n")
    print("| contender | search requests | × minimum | all requests | wall s | × floor | note |")
    print("|---|---:|---:|---:|---:|---:|---|")
    print(f"| paging minimum | {minimum} | 1.00 | | | | ⌈tickets/{PAGE_SIZE}⌉ |")
    print(f"| bare requests session (floor) | {floor_requests} | {floor_requests / minimum:.2f} | {floor_requests} "
          f"| {floor_seconds:.2f} | 1.00 | JSON parsed, nothing stored |")
    print(f"| glassbox sync (jira → SQLite) | {searches} | {searches / minimum:.2f} | {sum(first_calls.values())} "
          f"| {first_seconds:.2f} | {first_seconds / floor_seconds:.2f} | {stored} events stored |")
    print(f"| glassbox re-sync, nothing new | {again_calls['search']} | | {sum(again_calls.values())} "
          f"| {again_seconds:.2f} | | {again.fetched} events re-read inside the safety margin |")
    print(f"\nFirst sync requests: {', '.join(f'{p} {n}' for p, n in sorted(first_calls.items()))}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
