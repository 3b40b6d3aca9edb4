"""The GitHub connector: pure normalizers over recorded payloads, and real PyGithub against a fake API."""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from github_server import REPO, REPO_ID, TOKEN, FakeGitHub, commit_payload, issue_view
from pytest_httpserver import HTTPServer

from connectors.git.connector import GitLocalConnector
from connectors.github.connector import GitHubConnector
from connectors.github.normalize import (
    ThreadInfo,
    commit_to_event,
    issue_comment_to_event,
    pull_to_events,
    review_comment_to_event,
    review_to_event,
)
from glassbox.config import load_config
from glassbox.errors import AuthError, NotFound, RateLimited, SourceUnavailable
from glassbox.events import Checkpoint, Ref, Tombstone, event_id
from glassbox.store import Store
from glassbox.sync import sync_connector, sync_sources

DATA = Path(__file__).parent / "data" / "github"


def recorded(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def serve_recorded(fake: FakeGitHub) -> FakeGitHub:
    """Give ``fake`` the recorded repository's every list the connector reads."""
    pulls = fake.load("pulls.json")
    fake.lists = {
        "commits": fake.load("commits.json"),
        "pulls": pulls,
        "pulls/671/reviews": fake.load("reviews_671.json"),
        "issues": [*fake.load("issues.json"), *(issue_view(p) for p in pulls)],
        "issues/comments": fake.load("issue_comments.json"),
        "pulls/comments": fake.load("review_comments.json"),
    }
    for pull in pulls:
        fake.lists.setdefault(f"pulls/{pull['number']}/reviews", [])
    return fake


@pytest.fixture
def github(httpserver: HTTPServer) -> FakeGitHub:
    """The recorded repository, two items per page."""
    return serve_recorded(FakeGitHub(httpserver, page_size=2))


@pytest.fixture
def github_paged_as_usual(httpserver: HTTPServer) -> FakeGitHub:
    """The recorded repository, a hundred items per page as the connector asks: one page per list."""
    return serve_recorded(FakeGitHub(httpserver))


def connector(fake: FakeGitHub, repo: str = REPO, token: str = TOKEN, **options: Any) -> GitHubConnector:
    settings = {"seconds_between_requests": 0, "backoff": 0.0, "retries": 3, "timeout": 5, **options}
    return GitHubConnector(repo, token, base_url=fake.base, **settings)


def items(source: GitHubConnector, category: str, since: str | None = None) -> list[Any]:
    return list(source.fetch(category, since))


def requested_paths(fake: FakeGitHub) -> list[str]:
    """The path of every request the fake API answered, in the ``/repos/{owner}/{name}/…`` form."""
    prefix = f"/repositories/{REPO_ID}/"
    return [f"/repos/{REPO}/{request.path[len(prefix):]}" if request.path.startswith(prefix) else request.path
            for request, _ in fake.server.log]


# -- pure normalizers over recorded payloads ---------------------------------------------------


def test_merged_pull_request_gives_opened_and_merged_events() -> None:
    pull = next(p for p in recorded("pulls.json") if p["number"] == 671)
    opened, merged = pull_to_events(pull, repo=REPO)
    assert (opened.category, merged.category) == ("pull_request_opened", "pull_request_merged")
    assert opened.thread == merged.thread == f"{REPO}#671"
    assert opened.occurred_at == datetime(2017, 1, 25, 22, 36, 38, tzinfo=UTC)
    assert merged.actor == "sigmavirus24"
    assert opened.attrs == {"number": 671, "pr_author": pull["user"]["login"], "head": "pr-reviews",
                            "base": "develop", "draft": False, "merged": True}
    assert Ref("commit", pull["merge_commit_sha"]) in merged.refs


def test_open_pull_request_gives_only_the_opened_event() -> None:
    pull = next(p for p in recorded("pulls.json") if p["state"] == "open")
    [opened] = pull_to_events(pull, repo=REPO)
    assert opened.category == "pull_request_opened" and opened.attrs["merged"] is False


def test_closed_unmerged_pull_request_gives_a_closed_event() -> None:
    pull = next(p for p in recorded("pulls.json") if p["state"] == "open")
    pull.update(state="closed", closed_at="2021-10-01T08:00:00Z")
    assert [e.category for e in pull_to_events(pull, repo=REPO)] == ["pull_request_opened", "pull_request_closed"]


def test_ticket_keys_come_from_title_body_and_branch() -> None:
    pull = copy.deepcopy(recorded("pulls.json")[0])
    pull.update(title="CHURN-1 retrain", body="Also fixes CHURN-2.")
    pull["head"]["ref"] = "feature/CHURN-3-tune"
    [opened] = pull_to_events(pull, repo=REPO)
    assert [r.value for r in opened.refs] == ["CHURN-1", "CHURN-2", "CHURN-3"]


def test_recorded_commit_is_the_event_of_its_sha() -> None:
    raw = recorded("commits.json")[0]
    event = commit_to_event(raw, repo=REPO)
    assert event.source == "github" and event.category == "commit"
    assert event.actor == "omgjlk" and "jkeating@j2solutions.net" in event.actor_ids
    assert event.attrs["parents"] == [p["sha"] for p in raw["parents"]] and len(event.attrs["parents"]) == 2
    assert event.title == "Merge pull request #759 from sigmavirus24/add-py36"
    assert event.occurred_at == datetime(2017, 12, 29, 2, 41, 15, tzinfo=UTC)


def test_review_is_an_event_and_a_pending_review_is_not() -> None:
    pull = next(p for p in recorded("pulls.json") if p["number"] == 671)
    raw = recorded("reviews_671.json")[1]
    review = review_to_event(raw, pull, repo=REPO)
    assert review is not None and review.actor == "omgjlk" and review.attrs["state"] == "COMMENTED"
    assert review.attrs["pr_author"] == pull["user"]["login"]
    assert review_to_event({**raw, "state": "PENDING", "submitted_at": None}, pull, repo=REPO) is None


def test_deleted_users_become_ghost() -> None:
    pull = {**recorded("pulls.json")[0], "user": None}
    comment = {**recorded("issue_comments.json")[0], "user": None}
    review = {**recorded("reviews_671.json")[0], "user": {}}
    assert pull_to_events(pull, repo=REPO)[0].actor == "ghost"
    assert issue_comment_to_event(comment, repo=REPO).actor == "ghost"
    assert review_to_event(review, pull, repo=REPO).actor == "ghost"  # type: ignore[union-attr]


def test_comments_know_their_thread_kind_and_pull_request_author() -> None:
    [on_pull] = [c for c in recorded("issue_comments.json") if "/pull/" in c["html_url"]]
    thread = ThreadInfo(author="bgilbert", labels=("internal",), is_pr=True)
    event = issue_comment_to_event(on_pull, repo=REPO, thread=thread)
    assert event.thread == f"{REPO}#235" and event.labels == ("internal",)
    assert event.attrs == {"kind": "issue_comment", "number": 235, "pr_author": "bgilbert"}
    on_diff = review_comment_to_event(recorded("review_comments.json")[0], repo=REPO, thread=thread)
    assert on_diff.attrs["kind"] == "review_comment" and on_diff.attrs["path"]


# -- the connector against the fake API --------------------------------------------------------


def test_commits_are_paged_through_link_headers(github: FakeGitHub) -> None:
    found = items(connector(github), "commits")
    commits = [i for i in found if not isinstance(i, Checkpoint)]
    assert [c.attrs["sha"] for c in commits] == [c["sha"] for c in github.lists["commits"]]
    assert isinstance(found[-1], Checkpoint) and found[-1].cursor == "2017-12-29T02:41:15+00:00"
    pages = [q.get("page") for q in github.queries("commits")]
    assert pages == [None, "2", "3"]
    assert any(request.path.startswith(f"/repositories/{REPO_ID}/") for request, _ in github.server.log)


def test_full_sync_then_resync_sends_since_and_adds_nothing(github: FakeGitHub, store: Store) -> None:
    source = connector(github)
    first = sync_connector(source, store)
    assert first.ok, first.error
    counts = store.read_events().groupby("category").size().to_dict()
    assert counts == {"commit": 5, "pull_request_opened": 4, "pull_request_merged": 2,
                      "review": 5, "comment": 7}
    github.server.clear_log()

    second = sync_connector(source, store)

    assert second.ok and (second.counts.new, second.counts.updated) == (0, 0)
    assert {q["since"] for q in github.queries("commits")} == {"2017-12-29T02:41:15Z"}
    assert {q["since"] for q in github.queries("issues/comments")} == {"2014-05-03T14:41:27Z"}
    assert {q["since"] for q in github.queries("pulls/comments")} == {"2014-05-03T04:07:42Z"}
    assert github.queries("pulls/671/reviews") == []
    frame = store.read_events()
    assert len(frame) == frame["id"].nunique() == 23


def test_no_change_resync_makes_one_request_per_list(github_paged_as_usual: FakeGitHub, store: Store) -> None:
    github = github_paged_as_usual
    source = connector(github)
    assert sync_connector(source, store).ok
    assert sum(path.endswith("/pulls") for path in requested_paths(github)) == 1  # reviews reuse the listing
    github.server.clear_log()

    second = sync_connector(source, store)

    assert second.ok and (second.counts.new, second.counts.updated) == (0, 0)
    assert sorted(requested_paths(github)) == sorted(f"/repos/{REPO}/{endpoint}" for endpoint in (
        "commits", "pulls", "issues", "issues/comments", "pulls/comments",
        "pulls/1033/reviews", "pulls/1008/reviews"))  # the two pull requests updated at the cursor
    assert github.queries("issues") == [{"per_page": "100", "state": "all", "sort": "updated",
                                         "direction": "desc", "since": "2021-09-22T01:03:17Z"}]


def test_new_comment_on_resync_keeps_its_thread_author_and_labels(github: FakeGitHub, store: Store) -> None:
    thread = next(i for i in github.lists["issues"] if i["number"] == 235)
    thread["labels"] = [{"name": "needs-review"}]
    source = connector(github)
    assert sync_connector(source, store).ok
    comment = {**github.lists["issues/comments"][-1], "id": 999, "created_at": "2030-01-02T03:04:05Z",
               "updated_at": "2030-01-02T03:04:05Z"}
    github.lists["issues/comments"].append(comment)
    thread["updated_at"] = comment["updated_at"]  # as GitHub does when a comment is added

    second = sync_connector(source, store)

    assert second.ok and (second.counts.new, second.counts.updated) == (1, 0)
    stored = store.read_events(categories=["comment"], columns=("id", "labels", "attrs")).set_index("id")
    row = stored.loc[event_id("github", REPO, "issue_comment/999")]
    assert list(row["labels"]) == ["needs-review"] and row["attrs"]["pr_author"] == thread["user"]["login"]


def test_comments_cursor_from_before_the_thread_cursor_still_resumes(github: FakeGitHub) -> None:
    cursor = json.dumps({"issue_comments": "2014-05-03T14:41:27Z", "review_comments": "2014-05-03T04:07:42Z"})

    found = items(connector(github), "comments", cursor)

    assert {q["since"] for q in github.queries("issues")} == {"2014-05-03T04:07:42Z"}
    assert [e.attrs["pr_author"] for e in found if not isinstance(e, Checkpoint)] == ["bgilbert"] * 2
    assert json.loads(found[-1].cursor)["threads"] == "2021-09-22T01:03:17Z"


def test_reviews_list_pull_requests_themselves_when_the_pulls_pass_did_not_reach_back(github: FakeGitHub) -> None:
    source = connector(github)
    items(source, "pulls", "2021-01-01T00:00:00+00:00")
    github.server.clear_log()

    reviews = [i for i in items(source, "reviews") if not isinstance(i, Checkpoint)]

    assert len(reviews) == 5 and github.queries("pulls")


def test_reviews_are_fetched_only_for_pull_requests_updated_since_the_cursor(github: FakeGitHub) -> None:
    source = connector(github)
    found = items(source, "reviews", "2020-01-01T00:00:00+00:00")
    assert [i for i in found if not isinstance(i, Checkpoint)] == []
    requested = {request.path for request, _ in github.server.log if request.path.endswith("/reviews")}
    assert requested == {f"/repos/{REPO}/pulls/1033/reviews", f"/repos/{REPO}/pulls/1008/reviews"}


def test_reopened_pull_request_retracts_its_closed_event(github: FakeGitHub) -> None:
    found = items(connector(github), "pulls")
    retracted = {i.event_id for i in found if isinstance(i, Tombstone)}
    assert len(retracted) == 2  # the two open pull requests


def test_deleted_user_in_a_listing_does_not_stop_the_sync(github: FakeGitHub, store: Store) -> None:
    github.lists["issues/comments"][0]["user"] = None
    github.lists["pulls"][0]["user"] = None
    summary = sync_connector(connector(github), store)
    assert summary.ok, summary.error
    actors = store.read_events(categories=["comment", "pull_request_opened"])["actor"]
    assert (actors == "ghost").sum() == 2


def test_server_error_is_retried(github: FakeGitHub) -> None:
    github.fail("commits", 502, github.load("errors.json")["server_error"])
    found = items(connector(github), "commits")
    assert len([i for i in found if not isinstance(i, Checkpoint)]) == 5
    assert len(github.queries("commits")) == 4  # the 502, then three pages


def test_persistent_server_errors_become_source_unavailable(github: FakeGitHub) -> None:
    for _ in range(3):
        github.fail("commits", 502, github.load("errors.json")["server_error"])
    with pytest.raises(SourceUnavailable, match=r"^github \(sigmavirus24/github3.py\): .*try again later"):
        items(connector(github, retries=2), "commits")


def test_timeouts_are_retried_then_reported(github: FakeGitHub, caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(2):
        github.fail("commits", 200, [], delay=1.2)
    with caplog.at_level(logging.WARNING, logger="connectors.github"), \
            pytest.raises(SourceUnavailable, match=r"stopped answering within 1s, even after retries"):
        items(connector(github, retries=1, timeout=1), "commits")
    assert "ReadTimeoutError, retrying" in caplog.text


def test_secondary_rate_limit_waits_for_retry_after(github: FakeGitHub, caplog: pytest.LogCaptureFixture) -> None:
    github.fail("pulls", 403, github.load("errors.json")["secondary_rate_limit"], {"Retry-After": "1"})
    with caplog.at_level(logging.WARNING, logger="connectors.github"):
        found = items(connector(github), "pulls")
    assert len([i for i in found if not isinstance(i, (Checkpoint, Tombstone))]) == 6
    assert "rate limit hit (HTTP 403), waiting 1 s (until " in caplog.text


def test_rate_limit_longer_than_the_cap_gives_up(github: FakeGitHub) -> None:
    github.fail("pulls", 403, github.load("errors.json")["secondary_rate_limit"], {"Retry-After": "3600"})
    with pytest.raises(RateLimited, match=r"rate limited for 3600s, longer than the 60s we wait"):
        items(connector(github, max_wait=60), "pulls")


def test_bad_token_is_one_clear_line(github: FakeGitHub) -> None:
    with pytest.raises(AuthError) as raised:
        connector(github, repo="acme/churn", token="ghp_wrong").check()
    assert str(raised.value) == "github (acme/churn): authentication failed (HTTP 401) — check GITHUB_TOKEN"
    assert "ghp_wrong" not in str(raised.value)


def test_forbidden_is_an_auth_error(github: FakeGitHub) -> None:
    github.fail("commits", 403, github.load("errors.json")["forbidden"])
    with pytest.raises(AuthError, match=r"access denied \(HTTP 403: Resource not accessible"):
        items(connector(github), "commits")


def test_unknown_repository_is_not_found(github: FakeGitHub) -> None:
    source = connector(github, repo="acme/missing")
    with pytest.raises(NotFound, match=r"^github \(acme/missing\): repository not found or token lacks access"):
        source.check()
    assert connector(github).check() == f"{REPO} (public, default branch develop)"


# -- both connectors over one repository -------------------------------------------------------


def build_clone(path: Path) -> list[dict[str, Any]]:
    """A real clone with three commits by two people; returns what ``git log`` says about each."""
    env = {**os.environ, "HOME": str(path.parent), "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    people = [("Bạch Tuyết", "tuyet@agency.example", "tuyet-dev"), ("Carol", "carol@acme.example", None)]
    for n in range(3):
        name, email, _login = people[n % 2]
        when = f"2024-05-0{n + 1}T09:30:00+07:00"
        (path / f"f{n}.txt").write_text(f"{n}\n", encoding="utf-8")
        commit_env = {**env, "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": when,
                      "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email, "GIT_COMMITTER_DATE": when}
        subprocess.run(["git", "-C", str(path), "add", "."], check=True, env=env)
        subprocess.run(["git", "-C", str(path), "commit", "-q", "-m", f"CHURN-{n} step {n}"], check=True,
                       env=commit_env)
    log = subprocess.run(["git", "-C", str(path), "log", "--format=%H %P"], check=True, capture_output=True,
                         text=True).stdout.splitlines()
    commits = []
    for n, line in enumerate(reversed(log)):
        sha, *parents = line.split()
        name, email, login = people[n % 2]
        commits.append({"sha": sha, "parents": parents, "message": f"CHURN-{n} step {n}", "name": name,
                        "email": email, "login": login,
                        "committed_at": datetime.fromisoformat(f"2024-05-0{n + 1}T09:30:00+07:00")})
    return commits


def test_commit_seen_locally_and_on_github_is_one_event(github: FakeGitHub, store: Store, tmp_path: Path) -> None:
    clone = tmp_path / "churn"
    local = build_clone(clone)
    template = github.load("commits.json")[1]
    github.lists["commits"] = [commit_payload(template, **c) for c in reversed(local)]
    git_source, github_source = GitLocalConnector(clone), connector(github)

    summaries = [sync_connector(source, store) for source in (git_source, github_source, git_source, github_source)]

    assert all(s.ok for s in summaries), [s.error for s in summaries]
    assert summaries[1].counts.updated == 3  # GitHub's sight of the three commits, merged into them
    assert [(s.counts.new, s.counts.updated) for s in summaries[2:]] == [(0, 0), (0, 0)]

    commits = store.read_events(categories=["commit"], columns=("id", "sources", "actor", "attrs"))
    assert len(commits) == 3
    assert all(sorted(sources) == ["git", "github"] for sources in commits["sources"])
    by_sha = {attrs["sha"]: (actor, attrs) for actor, attrs in zip(commits["actor"], commits["attrs"], strict=True)}
    actor, attrs = by_sha[local[0]["sha"]]
    assert actor == "tuyet-dev" and attrs["committed_at"] == "2024-05-01T09:30:00+07:00"
    assert attrs["files_changed"] == 1
    assert by_sha[local[1]["sha"]][0] == "carol@acme.example"


def test_failing_github_source_does_not_stop_the_git_source(
    github: FakeGitHub, store: Store, tmp_path: Path, write_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_clone(tmp_path / "churn")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_revoked")
    config = load_config(write_config(
        f'[[github]]\nrepo = "acme/churn"\nbase_url = "{github.base}"\n\n[[git]]\npath = "churn"\n'))

    summaries = sync_sources(config, store)

    by_source = {s.label.split(" ")[0]: s for s in summaries}
    assert by_source["github"].error == \
        "github (acme/churn): authentication failed (HTTP 401) — check GITHUB_TOKEN"
    assert by_source["git"].ok and by_source["git"].counts.new == 3
    assert "ghp_revoked" not in by_source["github"].line()
