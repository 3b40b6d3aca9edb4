"""GitHub sync against a local API server: requests made against the paging minimum, and wall time.

The server is the test suite's fake GitHub (``tests/github_server.py``: recorded payload shapes,
absolute ``Link`` headers, ``since`` honoured) holding 5k commits, 1k pull requests, 3k reviews and
10k comments. The floor is a bare ``requests`` session reading every list the connector needs once,
100 items a page: ⌈items / 100⌉ requests per list, and one per pull request for its reviews (GitHub
has no repository-wide review list). Glassbox runs the real connector through the real sync into a
fresh SQLite store, then again with nothing new.

PyGithub pauses 0.25 s between requests by default to stay polite to github.com; that pause is
turned off here (as in the tests) so the table measures work, not waiting — see docs/benchmarks.md.

    python bench/bench_github.py            # 5k commits, 1k PRs, 3k reviews, 10k comments
    python bench/bench_github.py --quick    # a tenth of that: a smoke test (CI)
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
from typing import Any

import requests
from common import ROOT, Measurement, machine
from pytest_httpserver import HTTPServer

sys.path.insert(0, str(ROOT / "tests"))  # the fake servers the tests use

from github_server import REPO, TOKEN, FakeGitHub, commit_payload, issue_view  # noqa: E402

from connectors.github.connector import GitHubConnector  # noqa: E402
from glassbox.store import open_store  # noqa: E402
from glassbox.sync import sync_connector  # noqa: E402

START = datetime(2025, 1, 6, 9, tzinfo=UTC)
PAGE = 100


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def populate(fake: FakeGitHub, commits: int, pulls: int, reviews: int, comments: int) -> dict[str, int]:
    """Fill ``fake`` with synthetic lists shaped like the recorded payloads; returns items per list."""
    commit_template = fake.load("commits.json")[0]
    fake.lists["commits"] = [
        commit_payload(commit_template, sha=f"{n:040x}", parents=[f"{n - 1:040x}"] if n else [],
                       message=f"CHURN-{n % 300} tune features\n\nDetails.", name=f"Dev {n % 12}",
                       email=f"dev{n % 12}@agency.example", committed_at=START + timedelta(minutes=n),
                       login=f"dev{n % 12}")
        for n in reversed(range(commits))]  # GitHub lists newest first
    pull_template, review_template = fake.load("pulls.json")[0], fake.load("reviews_671.json")[0]
    fake.lists["pulls"] = [_pull(pull_template, n) for n in range(1, pulls + 1)]
    for n in range(1, pulls + 1):
        fake.lists[f"pulls/{n}/reviews"] = []
    for n in range(reviews):
        number = n % pulls + 1
        review = copy.deepcopy(review_template)
        review.update(id=10_000_000 + n, submitted_at=_stamp(START + timedelta(hours=number, minutes=30 + n // pulls)),
                      user={**review_template["user"], "login": f"dev{n % 12}"})
        fake.lists[f"pulls/{number}/reviews"].append(review)
    fake.lists["issues"] = [issue_view(p) for p in fake.lists["pulls"]]
    issue_template, line_template = fake.load("issue_comments.json")[0], fake.load("review_comments.json")[0]
    issue_comments = comments * 7 // 10
    fake.lists["issues/comments"] = [_comment(issue_template, "issue_url", "issues", n, n % pulls + 1, fake.base)
                                     for n in range(issue_comments)]
    fake.lists["pulls/comments"] = [_comment(line_template, "pull_request_url", "pulls", n, n % pulls + 1, fake.base)
                                    for n in range(issue_comments, comments)]
    return {name: len(items) for name, items in fake.lists.items()}


def _pull(template: dict[str, Any], number: int) -> dict[str, Any]:
    pull = copy.deepcopy(template)
    created = START + timedelta(hours=number)
    merged = number % 10 < 7
    pull.update(number=number, id=number, title=f"CHURN-{number % 300}: feature pipeline {number}",
                created_at=_stamp(created), updated_at=_stamp(created + timedelta(hours=3)),
                state="closed" if number % 10 < 9 else "open",
                merged_at=_stamp(created + timedelta(hours=3)) if merged else None,
                closed_at=_stamp(created + timedelta(hours=3)) if number % 10 < 9 else None,
                url=f"{template['url'].rsplit('/', 1)[0]}/{number}",
                html_url=f"{template['html_url'].rsplit('/', 1)[0]}/{number}")
    return pull


def _comment(template: dict[str, Any], link: str, kind: str, n: int, number: int, base: str) -> dict[str, Any]:
    comment = copy.deepcopy(template)
    when = _stamp(START + timedelta(hours=number, minutes=n % 60, seconds=n // 60 % 60))
    comment.update(id=20_000_000 + n, created_at=when, updated_at=_stamp(START + timedelta(seconds=n)),
                   body=f"Looks right for CHURN-{n % 300}?")
    comment[link] = f"{base}/repos/{REPO}/{kind}/{number}"
    return comment


def paging_minimum(sizes: dict[str, int]) -> int:
    """⌈items / 100⌉ requests per list; an empty list still takes one request to learn it is empty."""
    return sum(max(1, math.ceil(size / PAGE)) for size in sizes.values())


def read_floor(base: str, lists: list[str]) -> int:
    """Read every list once with a bare session, following ``Link`` headers; returns requests made."""
    session = requests.Session()
    session.headers["Authorization"] = f"token {TOKEN}"
    made = 0
    for endpoint in lists:
        url: str | None = f"{base}/repos/{REPO}/{endpoint}?per_page={PAGE}"
        while url:
            response = session.get(url, timeout=30)
            response.raise_for_status()
            response.json()
            made += 1
            url = response.links.get("next", {}).get("url")
    return made


def requests_by_list(fake: FakeGitHub) -> Counter[str]:
    """Requests the server saw, with every ``pulls/N/reviews`` counted under one name."""
    counts: Counter[str] = Counter()
    for request, _response in fake.server.log:
        endpoint = request.path.split("/", 4)[-1] if request.path.startswith("/repos/") else \
            request.path.split("/", 3)[-1]
        counts["pulls/N/reviews" if endpoint.endswith("/reviews") else endpoint] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark GitHub sync against a local API server.")
    parser.add_argument("--quick", action="store_true", help="a tenth of the data: a smoke test")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        run(server, 5000 // scale, 1000 // scale, 3000 // scale, 10_000 // scale)
    finally:
        server.clear()
        server.stop()


def run(server: HTTPServer, commits: int, pulls: int, reviews: int, comments: int) -> None:
    fake = FakeGitHub(server, page_size=PAGE)
    sizes = populate(fake, commits, pulls, reviews, comments)
    minimum = paging_minimum(sizes)

    started = time.perf_counter()
    floor_requests = read_floor(fake.base, list(fake.lists))
    floor = Measurement("bare requests session, each list once (floor)", time.perf_counter() - started, 0)
    server.clear_log()

    with tempfile.TemporaryDirectory(prefix="glassbox-bench-github-") as folder:
        store = open_store(f"sqlite:///{folder}/glassbox.db")
        connector = GitHubConnector(REPO, TOKEN, base_url=fake.base, seconds_between_requests=0)
        started = time.perf_counter()
        first = sync_connector(connector, store)
        first_seconds = time.perf_counter() - started
        assert first.ok, first.error
        first_by_list = requests_by_list(fake)
        server.clear_log()
        started = time.perf_counter()
        again = sync_connector(connector, store)
        again_seconds = time.perf_counter() - started
        assert again.ok and again.counts.new == 0, again.line()
        again_by_list = requests_by_list(fake)
        stored = store.count_events()

    first_requests, again_requests = sum(first_by_list.values()), sum(again_by_list.values())
    print(f"\n### GitHub sync — {commits} commits, {pulls} PRs, {reviews} reviews, {comments} comments\n")
    print(f"_{machine()}_\n")
    print("| contender | requests | × minimum | wall s | × floor | note |")
    print("|---|---:|---:|---:|---:|---|")
    print(f"| paging minimum | {minimum} | 1.00 | | | ⌈items/100⌉ per list, one per PR for reviews |")
    print(f"| {floor.name} | {floor_requests} | {floor_requests / minimum:.2f} | {floor.seconds:.2f} | 1.00 | |")
    print(f"| glassbox sync (PyGithub → SQLite) | {first_requests} | {first_requests / minimum:.2f} | "
          f"{first_seconds:.2f} | {first_seconds / floor.seconds:.2f} | {stored} events stored |")
    print(f"| glassbox re-sync, nothing new | {again_requests} | | {again_seconds:.2f} | | "
          f"{_per_list(again_by_list)} |")
    print(f"\nFirst sync requests per list: {_per_list(first_by_list)}")
    sys.stdout.flush()


def _per_list(counts: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))


if __name__ == "__main__":
    main()
