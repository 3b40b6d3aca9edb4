"""The thin layer over PyGithub: the requests the connector makes, PyGithub's own retries, errors typed.

Rate limits and server errors are retried by PyGithub's ``GithubRetry`` (Retry-After,
X-RateLimit-Reset, secondary limits, 5xx with backoff), configured from the shared
:class:`~connectors.base.RetryPolicy`; :class:`_ReportingRetry` adds only what it lacks: a warning
whenever it waits, a cap on ``Retry-After``, and the last status kept when retries run out, so the
one status mapping of :mod:`connectors.base` needs no exception text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from github import Auth, Github, GithubException, GithubRetry
from github.GithubException import RateLimitExceededExceedsMaxWait, RateLimitExceededException
from github.Repository import Repository
from requests.utils import parse_header_links
from urllib3.exceptions import MaxRetryError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from connectors.base import RateLimited, RetryPolicy, SourceError, SourceUnavailable, log_wait, status_error
from glassbox.redaction import QUOTE_LIMIT, one_line

log = logging.getLogger(__name__)

PER_PAGE = 100
DEFAULT_SECONDS_BETWEEN_REQUESTS = 0.25
# 5 retries 0, 2, 4, 8, 16 s apart: about 30 s before giving up; no single rate-limit wait above 15 min.
DEFAULT_POLICY = RetryPolicy(max_retries=5, max_retry_delay=900.0, backoff=1.0, timeout=30)


def _next_page(headers: dict[str, Any]) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header, if there is a next page."""
    for link in parse_header_links(headers.get("link") or ""):
        if link.get("rel") == "next":
            return link["url"]
    return None


class RetriesExhausted(MaxRetryError):
    """urllib3's ``MaxRetryError`` keeping the status of the last answer (``None`` when there was none)."""

    def __init__(self, error: MaxRetryError, status: int | None) -> None:
        super().__init__(error.pool, error.url, error.reason)  # type: ignore[arg-type]
        self.status = status


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
                  _pool: Any = None, _stacktrace: Any = None) -> Retry:
        asked = self.get_retry_after(response) if response is not None else None
        if asked is not None and self.max_rate_limit_wait is not None and asked > self.max_rate_limit_wait:
            raise RateLimitExceededExceedsMaxWait(response.status, {"message": "Retry-After too long"},  # type: ignore[union-attr]
                                                  dict(response.headers), wait=asked)  # type: ignore[union-attr]
        try:
            # PyGithub narrows urllib3's BaseHTTPResponse to HTTPResponse; urllib3 passes what it has
            retry = super().increment(method, url, response, error, _pool, _stacktrace)  # type: ignore[arg-type]
        except MaxRetryError as exhausted:
            raise RetriesExhausted(exhausted, response.status if response is not None else None) from exhausted.reason
        if response is not None and response.status in (403, 429):
            wait = asked if asked is not None else retry.get_backoff_time()
            log_wait(log, self.label, f"GitHub rate limit hit (HTTP {response.status})", wait)
        elif response is not None:
            log.warning("%s: GitHub answered HTTP %s, retrying", self.label, response.status)
        elif error is not None:
            log.warning("%s: %s, retrying", self.label, type(error).__name__)
        return retry


class GitHubClient:
    """One GitHub API root signed in with a token; the connector takes one (built here by default)."""

    def __init__(self, token: str, *, base_url: str = "https://api.github.com", label: str = "github",
                 token_env: str = "GITHUB_TOKEN", policy: RetryPolicy = DEFAULT_POLICY,
                 seconds_between_requests: float = DEFAULT_SECONDS_BETWEEN_REQUESTS,
                 secondary_rate_wait: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.label = label
        self.token_env = token_env
        self.policy = policy
        retry = _ReportingRetry(label=label, total=policy.max_retries, backoff_factor=policy.backoff,
                                secondary_rate_wait=min(secondary_rate_wait, policy.max_retry_delay),
                                max_rate_limit_wait=policy.max_retry_delay)
        self._github = Github(base_url=self.base_url, auth=Auth.Token(token), retry=retry,
                              timeout=int(policy.timeout), per_page=PER_PAGE,
                              seconds_between_requests=seconds_between_requests,
                              seconds_between_writes=seconds_between_requests, lazy=True)
        self._requester = self._github.requester

    def repository(self, repo: str) -> Repository:
        return self._github.get_repo(repo)

    def pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of the list at ``path`` (e.g. ``/repos/o/n/pulls``), page by page as the ``Link`` header leads."""
        url: str | None = path
        query: dict[str, Any] | None = {"per_page": PER_PAGE, **params}
        while url:
            headers, page = self._requester.requestJsonAndCheck("GET", url, parameters=query)
            yield from page
            url, query = _next_page(headers), None  # the next page's URL carries the query

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Turn PyGithub's and requests' exceptions into one actionable line naming the repository."""
        timeout = f"{self.policy.timeout:g}s"
        try:
            yield
        except SourceError:
            raise
        except GithubException as exc:
            raise self._github_error(exc) from None
        except requests.exceptions.Timeout:
            raise SourceUnavailable(f"{self.label}: no answer from {self.base_url} within {timeout},"
                                    " even after retries — check the network and base_url") from None
        except requests.exceptions.RetryError as exc:
            status = getattr(exc.args[0] if exc.args else None, "status", None)
            if status in (403, 429):  # GithubRetry retries a 403 only when it is a rate limit
                raise RateLimited(f"{self.label}: still rate limited after every retry — try again later") from None
            raise status_error(status, f"{self.label}: GitHub kept failing with server errors, even after retries"
                               " — try again later") from None
        except requests.exceptions.RequestException:
            raise SourceUnavailable(f"{self.label}: {self.base_url} could not be reached or stopped answering"
                                    f" within {timeout}, even after retries — check the network and base_url"
                                    ) from None

    def _github_error(self, exc: GithubException) -> SourceError:
        status = exc.status
        if isinstance(exc, RateLimitExceededExceedsMaxWait):
            return RateLimited(f"{self.label}: rate limited for {exc.wait:.0f}s, longer than the"
                               f" {self.policy.max_retry_delay:.0f}s we wait — sync again later")
        if isinstance(exc, RateLimitExceededException):
            status = 429  # GitHub answers a primary rate limit with 403 or 429: the same to us
        if status == 429:
            message = f"{self.label}: rate limit exceeded (HTTP {exc.status}) — sync again later"
        elif status == 401:
            message = f"{self.label}: authentication failed (HTTP 401) — check {self.token_env}"
        elif status == 403:
            message = (f"{self.label}: access denied (HTTP 403: {_message(exc)}) — check that"
                       f" {self.token_env} may read this repository")
        elif status == 404:
            message = (f"{self.label}: repository not found or token lacks access (HTTP 404)"
                       f" — check the repo name and {self.token_env}")
        elif status >= 500:
            message = f"{self.label}: GitHub answered HTTP {status}, even after retries — try again later"
        else:
            message = f"{self.label}: GitHub answered HTTP {status}: {_message(exc)}"
        return status_error(status, message)


def _message(exc: GithubException) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    return one_line(str(data.get("message") or exc.message or "no message"), QUOTE_LIMIT)
