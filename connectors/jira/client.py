"""The thin HTTP layer over the ``jira`` library: the requests the connector makes, retried, errors typed.

The library's ``ResilientSession`` retries 429 and 503-with-``Retry-After`` (honouring the header) and
connection errors; :class:`JiraClient` adds retries with exponential backoff only for what it lacks
(other 5xx answers and read timeouts), then maps what is left through :func:`connectors.base.status_error`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import requests
from jira import JIRA, JIRAError
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from connectors.base import RetryPolicy, SourceError, SourceUnavailable, log_wait, status_error
from glassbox.redaction import QUOTE_LIMIT, one_line

log = logging.getLogger(__name__)

EPIC_LINK_SCHEMA = "com.pyxis.greenhopper.jira:gh-epic-link"
PAGE_SIZE = 100
DEFAULT_POLICY = RetryPolicy(max_retries=3, max_retry_delay=60.0, backoff=1.0, timeout=30.0)

T = TypeVar("T")


def _retry_after(exc: JIRAError) -> str | None:
    response = getattr(exc, "response", None)
    return response.headers.get("Retry-After") if response is not None else None


def _worth_retrying(exc: BaseException) -> bool:
    """5xx answers and read timeouts; not what ``ResilientSession`` already retried (429, 503 with Retry-After)."""
    if isinstance(exc, JIRAError):
        status = exc.status_code or 0
        return status >= 500 and not (status == 503 and _retry_after(exc))
    return isinstance(exc, requests.Timeout) and not isinstance(exc, requests.ConnectionError)


class JiraClient:
    """The requests the connector makes, with retries added and failures turned into typed errors.

    The connector takes one as a constructor argument (built by ``from_config``), so a test can pass
    its own.
    """

    def __init__(self, server: str, user: SecretStr, token: SecretStr, *, label: str,
                 secret_names: tuple[str, str], policy: RetryPolicy = DEFAULT_POLICY) -> None:
        self.label = label
        self.secret_names = secret_names
        self.policy = policy
        self._jira = JIRA(server=server, basic_auth=(user.get_secret_value(), token.get_secret_value()),
                          get_server_info=False, max_retries=policy.max_retries, timeout=policy.timeout)
        # jira annotates it int, but only compares it with min(); a float works and keeps the policy exact
        self._jira._session.max_retry_delay = policy.max_retry_delay  # type: ignore[assignment]
        self._info: dict[str, Any] | None = None

    # the requests

    def server_info(self) -> dict[str, Any]:
        if self._info is None:
            self._info = self._call("serverInfo", self._jira.server_info)
            self._jira.deploymentType = self._info.get("deploymentType")
        return self._info

    @property
    def is_cloud(self) -> bool:
        return self.server_info().get("deploymentType") == "Cloud"

    def myself(self) -> dict[str, Any]:
        return self._call("myself", self._jira.myself)

    def statuses(self) -> list[dict[str, Any]]:
        return self._call("status", self._jira._get_json, "status")

    def epic_field(self) -> str | None:
        """The Server/Data Center "Epic Link" custom field id, when Jira Software defines one."""
        fields = self._call("field", self._jira.fields)
        return next((f["id"] for f in fields if (f.get("schema") or {}).get("custom") == EPIC_LINK_SCHEMA), None)

    def search_pages(self, jql: str, fields: list[str], page_size: int = PAGE_SIZE) -> Iterator[list[dict[str, Any]]]:
        """Each page of issues for ``jql`` with their changelogs, whichever search this Jira offers."""
        pager = self._token_pages if self.is_cloud else self._offset_pages
        return pager(jql, fields, page_size)

    def _offset_pages(self, jql: str, fields: list[str], page_size: int) -> Iterator[list[dict[str, Any]]]:
        start = 0
        page: dict[str, Any]  # search_issues with json_result=True
        while True:
            page = self._call("search", self._jira.search_issues, jql, startAt=start, maxResults=page_size,
                              fields=list(fields), expand="changelog", json_result=True)
            issues = page.get("issues") or []
            if issues:
                yield issues
            start += len(issues)
            if not issues or start >= int(page.get("total") or 0):
                return

    def _token_pages(self, jql: str, fields: list[str], page_size: int) -> Iterator[list[dict[str, Any]]]:
        token: str | None = None
        while True:
            page = self._call("search/jql", self._jira.enhanced_search_issues, jql, nextPageToken=token,
                              maxResults=page_size, fields=list(fields), expand="changelog", json_result=True)
            if page.get("issues"):
                yield page["issues"]
            token = page.get("nextPageToken")
            if not token or page.get("isLast"):
                return

    def every(self, key: str, what: str, total: int) -> list[dict[str, Any]]:
        """All comments (``what="comment"``) or changelog histories (``"changelog"``) of issue ``key``.

        Used when an issue came back with them truncated; fetched from the start because Cloud may
        embed the newest histories rather than the first ones.
        """
        items_key = "comments" if what == "comment" else "values"
        items: dict[str, dict[str, Any]] = {}
        while len(items) < total:
            page = self._call(f"issue/{key}/{what}", self._jira._get_json, f"issue/{key}/{what}",
                              params={"startAt": len(items), "maxResults": PAGE_SIZE})
            batch = page.get(items_key) or []
            items.update((str(item["id"]), item) for item in batch)
            if not batch or page.get("isLast"):
                break
        if len(items) < total:
            log.warning("%s: got %d of %d %s entries of %s", self.label, len(items), total, what, key)
        return list(items.values())

    def issue_histories(self, key: str) -> list[dict[str, Any]]:
        """Every changelog history of ``key`` from ``issue/{key}?expand=changelog`` (complete on Server)."""
        issue = self._call(f"issue/{key}", self._jira._get_json, f"issue/{key}",
                           params={"fields": "status", "expand": "changelog"})
        return (issue.get("changelog") or {}).get("histories") or []

    # retries and errors

    def _call(self, what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        retrying = Retrying(
            stop=stop_after_attempt(self.policy.max_retries + 1),
            wait=wait_exponential(multiplier=self.policy.backoff, max=self.policy.max_retry_delay),
            retry=retry_if_exception(_worth_retrying), before_sleep=self._log_retry(what), reraise=True,
        )
        try:
            return retrying(function, *args, **kwargs)
        except JIRAError as exc:
            raise self._http_error(what, exc) from None
        except requests.ConnectionError:
            raise SourceUnavailable(f"{self.label}: cannot connect to the server — check the server URL"
                                    " and that it is reachable from here") from None
        except requests.Timeout:
            raise SourceUnavailable(f"{self.label}: no answer to {what} within {self.policy.timeout:g} s after"
                                    f" {self.policy.max_retries} retries — try again later") from None
        except (requests.RequestException, json.JSONDecodeError):
            raise SourceUnavailable(f"{self.label}: {what} did not answer with Jira's JSON — check that the"
                                    " server URL points at Jira") from None

    def _log_retry(self, what: str) -> Callable[[RetryCallState], None]:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            detail = f"HTTP {exc.status_code}" if isinstance(exc, JIRAError) else type(exc).__name__
            log_wait(log, self.label, f"{what} failed ({detail}), retry {state.attempt_number}", state.upcoming_sleep)
        return before_sleep

    def _http_error(self, what: str, exc: JIRAError) -> SourceError:
        status = exc.status_code
        user_env, token_env = self.secret_names
        retried = f"after {self.policy.max_retries} retries — try again later"
        if status in (401, 403):
            reason = exc.response.headers.get("X-Authentication-Denied-Reason") if exc.response is not None else None
            extra = f", {reason.split(';')[0]}" if reason else ""
            message = f"{self.label}: authentication failed (HTTP {status}{extra}) — check {user_env} and {token_env}"
        elif status == 404:
            message = (f"{self.label}: {what} not found (HTTP 404) — check the server URL (include any"
                       " context path such as /jira)")
        elif status == 400:
            answer = one_line(exc.text or "", QUOTE_LIMIT)  # may be megabytes of HTML with escape codes
            message = f"{self.label}: Jira rejected the query ({answer}) — check jql in the [[jira]] section"
        elif status == 429:
            message = f"{self.label}: still rate limited (HTTP 429) {retried}"
        elif status is not None and status >= 500:
            message = f"{self.label}: server error (HTTP {status}) on {what} {retried}"
        else:
            message = f"{self.label}: {what} failed (HTTP {status}) — check the server URL and credentials"
        return status_error(status or 0, message)
