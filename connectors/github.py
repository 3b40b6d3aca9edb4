"""Commits, pull requests, reviews and comments of one GitHub repository, through PyGithub.

Fetching is kept apart from normalizing: the ``*_to_event`` functions below are pure, take the JSON
GitHub sent, and are what tests and the demo builder feed recorded payloads to. Lists are paged with
PyGithub's requester (its auth, ``GithubRetry``, timeout and pause between requests) following the
``Link`` header, keeping each page's JSON: PyGithub's own paginated lists build an object tree per
item that nothing here reads, which was a third of a first sync's time (docs/benchmarks.md).

Cursor strategy, one cursor per category (as MeltanoLabs/tap-github):

- ``commits``: ``GET /commits?since=<newest committer date seen>``; the cursor moves once the
  listing is complete (GitHub lists newest first, so no earlier point is safe).
- ``pulls``: ``GET /pulls?state=all&sort=updated&direction=desc``, stopping at the first pull request
  updated before the cursor; the cursor is the newest ``updated_at`` seen.
- ``reviews``: the pull requests updated since its own cursor — taken from the ``pulls`` pass of the
  same sync when that listing reached back far enough, so the pull list is read once — and for each
  of them ``/pulls/{n}/reviews`` (GitHub has no repository-wide review list).
- ``comments``: repository-wide ``/issues/comments`` and ``/pulls/comments`` with ``since``, sorted
  by ``updated`` ascending so a checkpoint can follow every page. Each thread's author and labels
  come from ``/issues`` listed since a third cursor: the newest issue seen when both comment lists
  were last read to the end. A new comment updates its issue after that listing, so its thread is
  always in the new one; the boundary comment ``since`` returns again, whose thread may not be, was
  stored with its thread last time and is skipped. The cursor is JSON holding the three timestamps.

``since`` is inclusive, so the boundary item is fetched again and upserted unchanged: a re-sync
adds nothing and makes one request per list, plus one for the reviews of the boundary pull request
(a review in the same second as the last sync would otherwise be missed). Rate limits and server
errors are handled by PyGithub's ``GithubRetry`` (Retry-After, X-RateLimit-Reset, secondary limits,
5xx with backoff), capped so that no single wait exceeds ``max_wait`` seconds and logged as a
warning whenever we wait.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar

import requests
from requests.utils import parse_header_links
from github import Auth, Github, GithubException, GithubRetry
from github.GithubException import (
    BadCredentialsException,
    RateLimitExceededException,
    RateLimitExceededExceedsMaxWait,
    UnknownObjectException,
)
from urllib3.response import BaseHTTPResponse

from connectors.base import AuthError, Connector, FetchItem, NotFound, RateLimited, SourceError, SourceUnavailable
from glassbox.config import Config, GitHubSource
from glassbox.events import (
    DEFAULT_TICKET_PATTERN,
    Checkpoint,
    Event,
    Tombstone,
    commit_event_id,
    commit_ref,
    event_id,
    ticket_refs,
)
from glassbox.redaction import QUOTE_LIMIT, one_line
from glassbox.sources import origin_of

log = logging.getLogger(__name__)

GHOST = "ghost"  # how GitHub itself shows a deleted account
PER_PAGE = 100
CHECKPOINT_EVERY = PER_PAGE
DEFAULT_SECONDS_BETWEEN_REQUESTS = 0.25
DEFAULT_TIMEOUT = 30
DEFAULT_RETRIES = 5
DEFAULT_BACKOFF = 1.0  # 0, 2, 4, 8, 16 s between the retries: about 30 s before giving up
DEFAULT_MAX_WAIT = 900.0  # longest single rate-limit wait before giving up for this run
ISSUE_COMMENTS, REVIEW_COMMENTS, THREADS = "issue_comments", "review_comments", "threads"  # comments cursor keys
COMMENT_STREAMS = (ISSUE_COMMENTS, REVIEW_COMMENTS)


# -- normalizing: pure functions over GitHub's JSON ------------------------------------------


@dataclass(frozen=True)
class ThreadInfo:
    """What a comment's payload lacks about its issue or pull request: author, labels, kind."""

    author: str
    labels: tuple[str, ...] = ()
    is_pr: bool = False


def thread_info(issue: dict[str, Any]) -> ThreadInfo:
    """A :class:`ThreadInfo` from an ``/issues`` item (pull requests carry a ``pull_request`` key)."""
    return ThreadInfo(author=_login(issue.get("user")), labels=_labels(issue),
                      is_pr="pull_request" in issue)


def commit_to_event(raw: dict[str, Any], *, repo: str, origin: str | None = None,
                    ticket_pattern: str = DEFAULT_TICKET_PATTERN) -> Event:
    """A ``commit`` event from one item of ``GET /repos/{repo}/commits``.

    The id is the SHA's, so the local clone's event for the same commit is this row. Author and
    committer times are left to the clone: GitHub gives them in UTC and the store merges ``attrs``
    from both sources, so the clone's offsets survive.
    """
    commit = raw.get("commit") or {}
    author = commit.get("author") or {}
    committer = commit.get("committer") or {}
    message = commit.get("message") or ""
    sha = raw["sha"]
    login = (raw.get("author") or {}).get("login")
    actor = login or author.get("email") or author.get("name") or GHOST
    return Event(
        id=commit_event_id(sha),
        source="github",
        origin=origin or repo,
        category="commit",
        occurred_at=_time(committer.get("date") or author.get("date")),
        actor=actor,
        actor_ids=_ids(login, author.get("email"), author.get("name")),
        thread=repo,
        title=message.split("\n", 1)[0],
        body=message,
        url=raw.get("html_url"),
        refs=(*commit_ref(sha), *ticket_refs(message, pattern=ticket_pattern)),
        attrs={
            "sha": sha,
            "parents": [parent["sha"] for parent in raw.get("parents") or ()],
            "login": login,
            "committer_login": (raw.get("committer") or {}).get("login"),
            "author_name": author.get("name"),
            "author_email": author.get("email"),
        },
        raw=raw,
    )


def pull_to_events(raw: dict[str, Any], *, repo: str, origin: str | None = None,
                   ticket_pattern: str = DEFAULT_TICKET_PATTERN) -> list[Event]:
    """``pull_request_opened`` plus ``_merged`` or ``_closed`` from one ``/pulls`` item.

    The merged event's actor is ``merged_by`` when the payload has it (a single-PR response), else
    the author: the list endpoint omits it and one request per merged PR is not worth it.
    """
    origin = origin or repo
    number = raw["number"]
    author = _login(raw.get("user"))
    head = (raw.get("head") or {}).get("ref")
    merged_at = raw.get("merged_at")
    common: dict[str, Any] = {
        "source": "github",
        "origin": origin,
        "thread": f"{repo}#{number}",
        "title": raw.get("title") or "",
        "body": raw.get("body"),
        "url": raw.get("html_url"),
        "labels": _labels(raw),
        "attrs": {
            "number": number,
            "pr_author": author,
            "head": head,
            "base": (raw.get("base") or {}).get("ref"),
            "draft": bool(raw.get("draft")),
            "merged": bool(merged_at),
        },
        "raw": raw,
    }
    refs = ticket_refs(raw.get("title"), raw.get("body"), head, pattern=ticket_pattern)
    events = [Event(id=pull_event_id(origin, number, "opened"), category="pull_request_opened",
                    occurred_at=_time(raw["created_at"]), actor=author, actor_ids=_ids(author),
                    refs=refs, **common)]
    if merged_at:
        merger = _login(raw["merged_by"]) if "merged_by" in raw else author
        events.append(Event(id=pull_event_id(origin, number, "merged"), category="pull_request_merged",
                            occurred_at=_time(merged_at), actor=merger, actor_ids=_ids(merger),
                            refs=(*refs, *commit_ref(raw.get("merge_commit_sha"))), **common))
    elif raw.get("closed_at"):
        events.append(Event(id=pull_event_id(origin, number, "closed"), category="pull_request_closed",
                            occurred_at=_time(raw["closed_at"]), actor=author, actor_ids=_ids(author),
                            refs=refs, **common))
    return events


def pull_event_id(origin: str, number: int, what: str) -> str:
    """The id of a pull request's ``opened``, ``merged`` or ``closed`` event."""
    return event_id("github", origin, f"pull/{number}/{what}")


def review_to_event(raw: dict[str, Any], pull: dict[str, Any], *, repo: str, origin: str | None = None,
                    ticket_pattern: str = DEFAULT_TICKET_PATTERN) -> Event | None:
    """A ``review`` event from one ``/pulls/{n}/reviews`` item; ``None`` for a pending (unsent) review."""
    if not raw.get("submitted_at"):
        return None
    origin = origin or repo
    number = pull["number"]
    reviewer = _login(raw.get("user"))
    state = raw.get("state") or "COMMENTED"
    return Event(
        id=event_id("github", origin, f"review/{raw['id']}"),
        source="github",
        origin=origin,
        category="review",
        occurred_at=_time(raw["submitted_at"]),
        actor=reviewer,
        actor_ids=_ids(reviewer),
        thread=f"{repo}#{number}",
        title=f"Review ({state.lower().replace('_', ' ')}) on #{number}: {pull.get('title') or ''}".rstrip(),
        body=raw.get("body") or None,
        url=raw.get("html_url"),
        refs=(*ticket_refs(raw.get("body"), pattern=ticket_pattern), *commit_ref(raw.get("commit_id"))),
        labels=_labels(pull),
        attrs={"number": number, "pr_author": _login(pull.get("user")), "state": state},
        raw=raw,
    )


def issue_comment_to_event(raw: dict[str, Any], *, repo: str, thread: ThreadInfo | None = None,
                           origin: str | None = None, ticket_pattern: str = DEFAULT_TICKET_PATTERN) -> Event:
    """A ``comment`` event from one ``/issues/comments`` item (issue or pull request conversation)."""
    number = thread_number(raw)
    is_pr = thread.is_pr if thread else "/pull/" in (raw.get("html_url") or "")
    return _comment(raw, "issue_comment", number, is_pr, repo=repo, thread=thread, origin=origin,
                    ticket_pattern=ticket_pattern)


def review_comment_to_event(raw: dict[str, Any], *, repo: str, thread: ThreadInfo | None = None,
                            origin: str | None = None, ticket_pattern: str = DEFAULT_TICKET_PATTERN) -> Event:
    """A ``comment`` event from one ``/pulls/comments`` item (a comment on a line of a diff)."""
    number = thread_number(raw)
    event = _comment(raw, "review_comment", number, True, repo=repo, thread=thread, origin=origin,
                     ticket_pattern=ticket_pattern)
    event.attrs["path"] = raw.get("path")
    event.refs = (*event.refs, *commit_ref(raw.get("commit_id")))
    return event


def thread_number(comment: dict[str, Any]) -> int:
    """The issue or pull request number a comment belongs to, from its ``issue_url`` or ``pull_request_url``."""
    url = comment.get("issue_url") or comment["pull_request_url"]
    return int(url.rstrip("/").rsplit("/", 1)[1])


def _comment(raw: dict[str, Any], kind: str, number: int, is_pr: bool, *, repo: str,
             thread: ThreadInfo | None, origin: str | None, ticket_pattern: str) -> Event:
    origin = origin or repo
    commenter = _login(raw.get("user"))
    attrs: dict[str, Any] = {"kind": kind, "number": number}
    if is_pr and thread is not None:
        attrs["pr_author"] = thread.author
    return Event(
        id=event_id("github", origin, f"{kind}/{raw['id']}"),
        source="github",
        origin=origin,
        category="comment",
        occurred_at=_time(raw["created_at"]),
        actor=commenter,
        actor_ids=_ids(commenter),
        thread=f"{repo}#{number}",
        title=f"Comment on {repo}#{number}",
        body=raw.get("body"),
        url=raw.get("html_url"),
        refs=ticket_refs(raw.get("body"), pattern=ticket_pattern),
        labels=thread.labels if thread else (),
        attrs=attrs,
        raw=raw,
    )


def _login(user: dict[str, Any] | None) -> str:
    """A user's login; a deleted account (``null`` or ``{}``) is GitHub's ``ghost``."""
    return (user or {}).get("login") or GHOST


def _labels(raw: dict[str, Any]) -> tuple[str, ...]:
    return tuple(label["name"] for label in raw.get("labels") or () if label.get("name"))


def _ids(*values: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v and v != GHOST))


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- fetching -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PullListing:
    """What the ``pulls`` pass listed (down to ``since``), kept for the ``reviews`` pass that follows."""

    since: str | None
    pulls: list[dict[str, Any]]


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
    return since is not None and _time(listed_since) <= _time(since)


def _query_time(cursor: str) -> str:
    """A cursor as the ``since`` GitHub takes: ISO 8601 in UTC, to the second."""
    return _time(cursor).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _next_page(headers: dict[str, Any]) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header, if there is a next page."""
    for link in parse_header_links(headers.get("link") or ""):
        if link.get("rel") == "next":
            return link["url"]
    return None


class _ReportingRetry(GithubRetry):
    """``GithubRetry`` that warns whenever it waits and refuses a ``Retry-After`` above the cap."""

    def __init__(self, label: str = "github", **kwargs: Any) -> None:
        self.label = label
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> _ReportingRetry:
        kw["label"] = self.label
        return super().new(**kw)

    def increment(self, method: str | None = None, url: str | None = None,  # type: ignore[override]
                  response: BaseHTTPResponse | None = None, error: Exception | None = None,
                  _pool: Any = None, _stacktrace: Any = None) -> GithubRetry:
        asked = self.get_retry_after(response) if response is not None else None
        if asked is not None and self.max_rate_limit_wait is not None and asked > self.max_rate_limit_wait:
            raise RateLimitExceededExceedsMaxWait(response.status, {"message": "Retry-After too long"},  # type: ignore[union-attr]
                                                  dict(response.headers), wait=asked)  # type: ignore[union-attr]
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if response is not None and response.status in (403, 429):
            wait = asked if asked is not None else retry.get_backoff_time()
            log.warning("%s: GitHub rate limit hit (HTTP %s), waiting %.0fs before retrying",
                        self.label, response.status, wait)
        elif response is not None:
            log.warning("%s: GitHub answered HTTP %s, retrying", self.label, response.status)
        elif error is not None:
            log.warning("%s: %s, retrying", self.label, type(error).__name__)
        return retry


class GitHubConnector(Connector):
    """One ``[[github]]`` repository."""

    source: ClassVar[str] = "github"
    categories: ClassVar[tuple[str, ...]] = ("commits", "pulls", "reviews", "comments")

    def __init__(self, repo: str, token: str, *, base_url: str = "https://api.github.com",
                 origin: str | None = None, token_env: str = "GITHUB_TOKEN",
                 ticket_pattern: str = DEFAULT_TICKET_PATTERN,
                 seconds_between_requests: float = DEFAULT_SECONDS_BETWEEN_REQUESTS,
                 timeout: int = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
                 backoff: float = DEFAULT_BACKOFF, max_wait: float = DEFAULT_MAX_WAIT,
                 secondary_rate_wait: float = 60.0) -> None:
        self.repo = repo
        self.origin = origin or repo
        self.base_url = base_url.rstrip("/")
        self.token_env = token_env
        self.ticket_pattern = ticket_pattern
        self.timeout = timeout
        self.max_wait = max_wait
        retry = _ReportingRetry(label=self.label, total=retries, backoff_factor=backoff,
                                secondary_rate_wait=min(secondary_rate_wait, max_wait),
                                max_rate_limit_wait=max_wait)
        self._github = Github(base_url=self.base_url, auth=Auth.Token(token), retry=retry, timeout=timeout,
                              per_page=PER_PAGE, seconds_between_requests=seconds_between_requests,
                              seconds_between_writes=seconds_between_requests, lazy=True)
        self._requester = self._github.requester
        self._repository_path = f"/repos/{repo}"
        self._pull_listing: _PullListing | None = None

    @classmethod
    def from_config(cls, section: GitHubSource, config: Config, key: str) -> GitHubConnector:
        token = config.secret(section.token_env, f"{key}.token_env")
        return cls(section.repo, token.get_secret_value(), base_url=section.api_root,
                   origin=origin_of("github", section, config), token_env=section.token_env,
                   ticket_pattern=config.engagement.ticket_pattern)

    def check(self) -> str:
        with self._errors():
            repository = self._github.get_repo(self.repo)
            visibility = "private" if repository.private else "public"
            return f"{repository.full_name} ({visibility}, default branch {repository.default_branch})"

    def fetch(self, category: str, since: str | None) -> Iterator[FetchItem]:
        fetchers: dict[str, Callable[[str | None], Iterator[FetchItem]]] = {
            "commits": self._commits,
            "pulls": self._pulls,
            "reviews": self._reviews,
            "comments": self._comments,
        }
        if category not in fetchers:
            raise ValueError(f"{self.label}: unknown category {category!r}")
        with self._errors():
            yield from fetchers[category](since)

    # -- one method per category ----------------------------------------------------------------

    def _commits(self, since: str | None) -> Iterator[FetchItem]:
        newest = since
        for raw in self._pages("commits", {"since": _query_time(since)} if since else {}):
            event = commit_to_event(raw, repo=self.repo, origin=self.origin, ticket_pattern=self.ticket_pattern)
            newest = _later(newest, event.occurred_at)
            yield event
        if newest and newest != since:
            yield Checkpoint(newest)

    def _updated_pulls(self, since: str | None) -> Iterator[dict[str, Any]]:
        """Pull requests, most recently updated first, down to ``since``."""
        floor = _time(since) if since else None
        for raw in self._pages("pulls", {"state": "all", "sort": "updated", "direction": "desc"}):
            if floor is not None and _time(raw["updated_at"]) < floor:
                return
            yield raw

    def _pulls(self, since: str | None) -> Iterator[FetchItem]:
        newest = since
        listed = []
        for raw in self._updated_pulls(since):
            newest = _later(newest, _time(raw["updated_at"]))
            listed.append(_review_context(raw))
            yield from pull_to_events(raw, repo=self.repo, origin=self.origin, ticket_pattern=self.ticket_pattern)
            if raw.get("state") == "open":
                yield Tombstone(pull_event_id(self.origin, raw["number"], "closed"))
        self._pull_listing = _PullListing(since, listed)
        if newest and newest != since:
            yield Checkpoint(newest)

    def _reviews(self, since: str | None) -> Iterator[FetchItem]:
        newest = since
        for pull in self._pulls_to_review(since):
            newest = _later(newest, _time(pull["updated_at"]))
            for raw in self._pages(f"pulls/{pull['number']}/reviews", {}):
                event = review_to_event(raw, pull, repo=self.repo, origin=self.origin,
                                        ticket_pattern=self.ticket_pattern)
                if event is not None:
                    yield event
        if newest and newest != since:
            yield Checkpoint(newest)

    def _pulls_to_review(self, since: str | None) -> Iterable[dict[str, Any]]:
        """Pull requests updated since ``since``: the ``pulls`` pass's listing if it reached that far back.

        The listing is used once, so a later sync (or a ``reviews`` fetch on its own) lists afresh.
        """
        listing, self._pull_listing = self._pull_listing, None
        if listing is None or not _reaches(listing.since, since):
            return self._updated_pulls(since)
        floor = _time(since) if since else None
        return [pull for pull in listing.pulls if floor is None or _time(pull["updated_at"]) >= floor]

    def _comments(self, since: str | None) -> Iterator[FetchItem]:
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
                if thread is None and start and _time(raw["updated_at"]) == _time(start):
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
            if newest is None or _time(raw["updated_at"]) > _time(newest):
                newest = raw["updated_at"]
        return threads, newest

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of the repository's list at ``path``, page by page as GitHub's ``Link`` header leads."""
        url: str | None = f"{self._repository_path}/{path}"
        query: dict[str, Any] | None = {"per_page": PER_PAGE, **params}
        while url:
            headers, page = self._requester.requestJsonAndCheck("GET", url, parameters=query)
            yield from page
            url, query = _next_page(headers), None  # the next page's URL carries the query

    # -- errors ---------------------------------------------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn PyGithub's and requests' exceptions into one actionable line naming the repository."""
        try:
            yield
        except SourceError:
            raise
        except GithubException as exc:
            raise self._github_error(exc) from None
        except requests.exceptions.Timeout:
            raise SourceUnavailable(f"{self.label}: no answer from {self.base_url} within {self.timeout}s,"
                                    " even after retries — check the network and base_url") from None
        except requests.exceptions.RetryError as exc:
            if "403" in str(exc) or "429" in str(exc):
                raise RateLimited(f"{self.label}: still rate limited after every retry — try again later") from None
            raise SourceUnavailable(f"{self.label}: GitHub kept failing with server errors, even after retries"
                                    " — try again later") from None
        except requests.exceptions.RequestException:
            raise SourceUnavailable(f"{self.label}: {self.base_url} could not be reached or stopped answering"
                                    f" within {self.timeout}s, even after retries — check the network and base_url"
                                    ) from None

    def _github_error(self, exc: GithubException) -> SourceError:
        status = exc.status
        if isinstance(exc, RateLimitExceededExceedsMaxWait):
            return RateLimited(f"{self.label}: rate limited for {exc.wait:.0f}s, longer than the"
                               f" {self.max_wait:.0f}s we wait — sync again later")
        if isinstance(exc, RateLimitExceededException) or status == 429:
            return RateLimited(f"{self.label}: rate limit exceeded (HTTP {status}) — sync again later")
        if isinstance(exc, BadCredentialsException) or status == 401:
            return AuthError(f"{self.label}: authentication failed (HTTP 401) — check {self.token_env}")
        if status == 403:
            return AuthError(f"{self.label}: access denied (HTTP 403: {_message(exc)}) — check that"
                             f" {self.token_env} may read this repository")
        if isinstance(exc, UnknownObjectException) or status == 404:
            return NotFound(f"{self.label}: repository not found or token lacks access (HTTP 404)"
                            f" — check the repo name and {self.token_env}")
        if status >= 500:
            return SourceUnavailable(f"{self.label}: GitHub answered HTTP {status}, even after retries"
                                     " — try again later")
        return SourceError(f"{self.label}: GitHub answered HTTP {status}: {_message(exc)}")


def _message(exc: GithubException) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    return one_line(str(data.get("message") or exc.message or "no message"), QUOTE_LIMIT)


def _later(cursor: str | None, moment: datetime) -> str:
    """The later of an ISO cursor and ``moment``, as an ISO string in UTC."""
    if cursor is None or _time(cursor) < moment:
        return moment.astimezone(timezone.utc).isoformat()
    return cursor
