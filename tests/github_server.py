"""A fake GitHub REST API on pytest-httpserver that the real PyGithub client can sync from.

It serves recorded payloads (``tests/data/github``, see its README) the way api.github.com does:
``https://api.github.com`` rewritten to the local base in bodies, lists paged with absolute ``Link``
headers pointing at ``/repositories/{id}/…`` (as GitHub's do), ``since`` honoured on the commit,
issue and comment lists, pulls and comments sorted as asked, the token checked (401 "Bad
credentials" otherwise). Faults (a 502, a secondary-rate-limit 403) can be queued per endpoint.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pytest_httpserver import HTTPServer, URIPattern
from werkzeug import Request, Response

DATA = Path(__file__).parent / "data" / "github"
RECORDED_BASE = "https://api.github.com"
REPO = "sigmavirus24/github3.py"
REPO_ID = 3710711
TOKEN = "ghp_glassboxTestToken000000000000000000"


@dataclass
class Fault:
    status: int
    body: Any
    headers: dict[str, str]
    delay: float = 0.0


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _updated(item: dict[str, Any]) -> str:
    return item.get("updated_at") or item["commit"]["committer"]["date"]


class FakeGitHub:
    """One repository's API. ``lists`` maps an endpoint below the repository to its items."""

    def __init__(self, server: HTTPServer, *, page_size: int = 100) -> None:
        self.server = server
        self.base = server.url_for("/").rstrip("/")
        self.page_size = page_size
        self.lists: dict[str, list[dict[str, Any]]] = {}
        self.faults: dict[str, list[Fault]] = {}
        self.repository = self.load("repository.json")
        server.expect_request(f"/repos/{REPO}").respond_with_handler(self._repository)
        for prefix in (f"/repos/{REPO}/", f"/repositories/{REPO_ID}/"):
            server.expect_request(_Prefix(prefix)).respond_with_handler(self._list)
        server.expect_request(_Prefix("/")).respond_with_handler(self._elsewhere)

    def load(self, name: str) -> Any:
        """A recorded payload with its URLs pointing at this server."""
        return json.loads((DATA / name).read_text(encoding="utf-8").replace(RECORDED_BASE, self.base))

    def fail(self, endpoint: str, status: int, body: Any, headers: dict[str, str] | None = None,
             delay: float = 0.0) -> None:
        """Answer the next request to ``endpoint`` with ``status`` (after ``delay`` s) instead of the list."""
        self.faults.setdefault(endpoint, []).append(Fault(status, body, headers or {}, delay))

    def queries(self, endpoint: str) -> list[dict[str, str]]:
        """The query parameters of every request made to ``endpoint`` (either URL form)."""
        found = []
        for request, _response in self.server.log:
            if _endpoint(request.path) == endpoint:
                found.append(dict(request.args.items()))
        return found

    # -- handlers -------------------------------------------------------------------------------

    def _repository(self, request: Request) -> Response:
        return self._authorized(request) or _json(200, self.repository)

    def _list(self, request: Request) -> Response:
        denied = self._authorized(request)
        if denied:
            return denied
        endpoint = _endpoint(request.path)
        if self.faults.get(endpoint):
            fault = self.faults[endpoint].pop(0)
            time.sleep(fault.delay)
            return _json(fault.status, fault.body, fault.headers)
        if endpoint not in self.lists:
            return _json(404, self.load("errors.json")["not_found"])
        items = self._select(self.lists[endpoint], request.args)
        size = min(int(request.args.get("per_page", 30)), self.page_size)
        page = int(request.args.get("page", 1))
        last = max(1, -(-len(items) // size))
        headers = {"Link": self._links(endpoint, request.args, page, last)} if last > 1 else {}
        return _json(200, items[(page - 1) * size:page * size], headers)

    def _elsewhere(self, request: Request) -> Response:
        """Any other repository: GitHub checks the token first, then hides what it cannot show."""
        return self._authorized(request) or _json(404, self.load("errors.json")["not_found"])

    def _authorized(self, request: Request) -> Response | None:
        if request.headers.get("Authorization") != f"token {TOKEN}":
            return _json(401, self.load("errors.json")["bad_credentials"])
        return None

    @staticmethod
    def _select(items: list[dict[str, Any]], args: Any) -> list[dict[str, Any]]:
        if "since" in args:
            floor = _time(args["since"])
            items = [item for item in items if _time(_updated(item)) >= floor]
        if args.get("sort") == "updated":
            items = sorted(items, key=_updated, reverse=args.get("direction", "desc") == "desc")
        return items

    def _links(self, endpoint: str, args: Any, page: int, last: int) -> str:
        def url(number: int) -> str:
            query = {**args, "page": str(number)}
            return f"{self.base}/repositories/{REPO_ID}/{endpoint}?{urlencode(query)}"

        links = []
        if page < last:
            links += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
        if page > 1:
            links += [f'<{url(1)}>; rel="first"', f'<{url(page - 1)}>; rel="prev"']
        return ", ".join(links)


class _Prefix(URIPattern):
    """A pytest-httpserver URI matcher for every path below ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def match(self, uri: str) -> bool:
        return uri.startswith(self.prefix)


def _endpoint(path: str) -> str:
    for prefix in (f"/repos/{REPO}/", f"/repositories/{REPO_ID}/"):
        if path.startswith(prefix):
            return path[len(prefix):]
    return path


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    text = body if isinstance(body, str) else json.dumps(body)
    content_type = "text/html" if isinstance(body, str) else "application/json; charset=utf-8"
    return Response(text, status=status, headers={"Content-Type": content_type, **(headers or {})})


def commit_payload(template: dict[str, Any], *, sha: str, parents: list[str], message: str, name: str,
                   email: str, committed_at: datetime, login: str | None) -> dict[str, Any]:
    """A ``/commits`` item shaped like the recorded ``template`` but describing a local commit."""
    item = copy.deepcopy(template)
    date = committed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    base = template["url"].rsplit("/commits/", 1)[0]
    html = template["html_url"].rsplit("/commit/", 1)[0]
    item["sha"] = sha
    item["url"] = f"{base}/commits/{sha}"
    item["html_url"] = f"{html}/commit/{sha}"
    item["commit"]["author"] = {"name": name, "email": email, "date": date}
    item["commit"]["committer"] = {"name": name, "email": email, "date": date}
    item["commit"]["message"] = message
    item["commit"].pop("verification", None)
    item["parents"] = [{"sha": p, "url": f"{base}/commits/{p}", "html_url": f"{html}/commit/{p}"} for p in parents]
    if login is None:
        item["author"] = item["committer"] = None
    else:
        item["author"] = {**(template["author"] or {}), "login": login}
    return item


def issue_view(pull: dict[str, Any]) -> dict[str, Any]:
    """How ``/issues`` lists a pull request: the PR's number, user and labels, and a ``pull_request`` key."""
    keys = ("url", "number", "title", "user", "labels", "state", "created_at", "updated_at", "closed_at", "body")
    return {**{key: pull.get(key) for key in keys},
            "pull_request": {"url": pull["url"], "html_url": pull["html_url"]}}
