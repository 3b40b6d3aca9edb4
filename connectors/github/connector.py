"""The GitHub connector: one cursor per category, ``reviews`` a child of ``pulls`` (see the package docstring)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, ClassVar

from connectors.base import Connector, FetchItem, Listing, RetryPolicy
from connectors.github.client import DEFAULT_POLICY, DEFAULT_SECONDS_BETWEEN_REQUESTS, PER_PAGE, GitHubClient
from connectors.github.normalize import (
    ThreadInfo,
    commit_to_event,
    issue_comment_to_event,
    parse_time,
    pull_event_id,
    pull_to_events,
    review_comment_to_event,
    review_to_event,
    thread_info,
    thread_number,
)
from glassbox.config import Config, GitHubSource
from glassbox.events import DEFAULT_TICKET_PATTERN, Checkpoint, Tombstone

log = logging.getLogger(__name__)

CHECKPOINT_EVERY = PER_PAGE
ISSUE_COMMENTS, REVIEW_COMMENTS, THREADS = "issue_comments", "review_comments", "threads"  # comments cursor keys
COMMENT_STREAMS = (ISSUE_COMMENTS, REVIEW_COMMENTS)


def _review_context(pull: dict[str, Any]) -> dict[str, Any]:
    """The part of a ``/pulls`` item :func:`review_to_event` and the reviews pass read: small to keep."""
    user = pull.get("user")
    return {"number": pull["number"], "title": pull.get("title"), "updated_at": pull["updated_at"],
            "user": {"login": user.get("login")} if user else user,
            "labels": [{"name": label.get("name")} for label in pull.get("labels") or ()]}


def _reaches(listed_since: str | None, since: str | None) -> bool:
    """Whether a listing down to ``listed_since`` holds everything updated since ``since``."""
    if listed_since is None:
        return True
    return since is not None and parse_time(listed_since) <= parse_time(since)


def _query_time(cursor: str) -> str:
    """A cursor as the ``since`` GitHub takes: ISO 8601 in UTC, to the second."""
    return parse_time(cursor).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GitHubConnector(Connector):
    """One ``[[github]]`` repository; its :class:`GitHubClient` is built from the settings unless passed."""

    source: ClassVar[str] = "github"
    categories: ClassVar[tuple[str, ...]] = ("commits", "pulls", "reviews", "comments")
    parents: ClassVar[dict[str, str]] = {"reviews": "pulls"}

    def __init__(self, repo: str, token: str | None = None, *, base_url: str = "https://api.github.com",
                 origin: str | None = None, token_env: str = "GITHUB_TOKEN",
                 ticket_pattern: str = DEFAULT_TICKET_PATTERN,
                 seconds_between_requests: float = DEFAULT_SECONDS_BETWEEN_REQUESTS,
                 timeout: float = DEFAULT_POLICY.timeout, retries: int = DEFAULT_POLICY.max_retries,
                 backoff: float = DEFAULT_POLICY.backoff, max_wait: float = DEFAULT_POLICY.max_retry_delay,
                 secondary_rate_wait: float = 60.0, client: GitHubClient | None = None) -> None:
        self.repo = repo
        self.origin = origin or repo
        self.ticket_pattern = ticket_pattern
        if client is None:
            if token is None:
                raise ValueError("GitHubConnector needs a token or a client")
            policy = RetryPolicy(max_retries=retries, max_retry_delay=max_wait, backoff=backoff, timeout=timeout)
            client = GitHubClient(token, base_url=base_url, label=self.label, token_env=token_env, policy=policy,
                                  seconds_between_requests=seconds_between_requests,
                                  secondary_rate_wait=secondary_rate_wait)
        self.client = client
        self._repository_path = f"/repos/{repo}"

    @classmethod
    def from_config(cls, section: GitHubSource, config: Config, key: str) -> GitHubConnector:
        token = config.secret(section.token_env, f"{key}.token_env")
        return cls(section.repo, token.get_secret_value(), base_url=section.api_root,
                   origin=section.origin(config.folder), token_env=section.token_env,
                   ticket_pattern=config.engagement.ticket_pattern)

    def errors(self) -> AbstractContextManager[None]:
        return self.client.errors()

    def check(self) -> str:
        with self.errors():
            repository = self.client.repository(self.repo)
            visibility = "private" if repository.private else "public"
            return f"{repository.full_name} ({visibility}, default branch {repository.default_branch})"

    # -- one method per category ----------------------------------------------------------------

    def fetch_commits(self, since: str | None) -> Iterator[FetchItem]:
        newest = since
        for raw in self._pages("commits", {"since": _query_time(since)} if since else {}):
            event = commit_to_event(raw, repo=self.repo, origin=self.origin, ticket_pattern=self.ticket_pattern)
            newest = _later(newest, event.occurred_at)
            yield event
        if newest and newest != since:
            yield Checkpoint(newest)

    def _updated_pulls(self, since: str | None) -> Iterator[dict[str, Any]]:
        """Pull requests, most recently updated first, down to ``since``."""
        floor = parse_time(since) if since else None
        for raw in self._pages("pulls", {"state": "all", "sort": "updated", "direction": "desc"}):
            if floor is not None and parse_time(raw["updated_at"]) < floor:
                return
            yield raw

    def fetch_pulls(self, since: str | None, listing: Listing) -> Iterator[FetchItem]:
        """The pull requests updated since ``since``; each one's review context goes into ``listing``."""
        newest = since
        for raw in self._updated_pulls(since):
            newest = _later(newest, parse_time(raw["updated_at"]))
            listing.records.append(_review_context(raw))
            yield from pull_to_events(raw, repo=self.repo, origin=self.origin, ticket_pattern=self.ticket_pattern)
            if raw.get("state") == "open":
                yield Tombstone(pull_event_id(self.origin, raw["number"], "closed"))
        if newest and newest != since:
            yield Checkpoint(newest)

    def fetch_reviews(self, since: str | None, parent: Listing | None) -> Iterator[FetchItem]:
        """Reviews of the pull requests updated since ``since`` (GitHub has no repository-wide list)."""
        newest = since
        for pull in self._pulls_to_review(since, parent):
            newest = _later(newest, parse_time(pull["updated_at"]))
            for raw in self._pages(f"pulls/{pull['number']}/reviews", {}):
                event = review_to_event(raw, pull, repo=self.repo, origin=self.origin,
                                        ticket_pattern=self.ticket_pattern)
                if event is not None:
                    yield event
        if newest and newest != since:
            yield Checkpoint(newest)

    def _pulls_to_review(self, since: str | None, listing: Listing | None) -> Iterable[dict[str, Any]]:
        """Pull requests updated since ``since``: the ``pulls`` listing of this sync if it reached that far back.

        The base hands a listing on once, so a later sync (or a ``reviews`` fetch on its own) lists afresh.
        """
        if listing is None or not _reaches(listing.since, since):
            return self._updated_pulls(since)
        floor = parse_time(since) if since else None
        return [pull for pull in listing.records if floor is None or parse_time(pull["updated_at"]) >= floor]

    def fetch_comments(self, since: str | None) -> Iterator[FetchItem]:
        cursor: dict[str, str] = json.loads(since) if since else {}
        starts = [cursor[name] for name in COMMENT_STREAMS if name in cursor]
        threads, newest_thread = self._threads(cursor.get(THREADS) or (min(starts) if starts else None))
        streams = (
            (ISSUE_COMMENTS, "issues/comments", issue_comment_to_event),
            (REVIEW_COMMENTS, "pulls/comments", review_comment_to_event),
        )
        for name, path, to_event in streams:
            start = cursor.get(name)
            params = {"sort": "updated", "direction": "asc", **({"since": _query_time(start)} if start else {})}
            for count, raw in enumerate(self._pages(path, params), start=1):
                thread = threads.get(thread_number(raw))
                if thread is None and start and parse_time(raw["updated_at"]) == parse_time(start):
                    continue  # the boundary comment, stored with its thread by the sync that set the cursor
                yield to_event(raw, repo=self.repo, thread=thread, origin=self.origin,
                               ticket_pattern=self.ticket_pattern)
                cursor[name] = raw["updated_at"]
                if count % CHECKPOINT_EVERY == 0:
                    yield Checkpoint(json.dumps(cursor, sort_keys=True))
            if cursor.get(name) != start:
                yield Checkpoint(json.dumps(cursor, sort_keys=True))
        if newest_thread and newest_thread != cursor.get(THREADS):
            cursor[THREADS] = newest_thread
            yield Checkpoint(json.dumps(cursor, sort_keys=True))

    def _threads(self, since: str | None) -> tuple[dict[int, ThreadInfo], str | None]:
        """Author and labels of every issue and pull request updated since ``since``, and the newest ``updated_at``."""
        params = {"state": "all", "sort": "updated", "direction": "desc",
                  **({"since": _query_time(since)} if since else {})}
        threads: dict[int, ThreadInfo] = {}
        newest = since
        for raw in self._pages("issues", params):
            threads[raw["number"]] = thread_info(raw)
            if newest is None or parse_time(raw["updated_at"]) > parse_time(newest):
                newest = raw["updated_at"]
        return threads, newest

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of the repository's list at ``path``."""
        return self.client.pages(f"{self._repository_path}/{path}", params)


def _later(cursor: str | None, moment: datetime) -> str:
    """The later of an ISO cursor and ``moment``, as an ISO string in UTC."""
    if cursor is None or parse_time(cursor) < moment:
        return moment.astimezone(UTC).isoformat()
    return cursor
