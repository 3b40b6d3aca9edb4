"""A fake Jira on pytest-httpserver that the real ``jira`` client can sync from.

It answers the endpoints the connector uses the way Jira does (learned from real recorded payloads,
see ``tests/data/jira/README.md``): serverInfo, /myself, /status, /field, paged search — ``startAt``
on Server/Data Center, ``nextPageToken`` on Cloud, where the old search answers 410 Gone — and the
comment and changelog endpoints for issues it returns truncated. It evaluates the
``updated >= "yyyy/MM/dd HH:mm"`` clause in the API user's time zone, as Jira does, so a cursor
written in the wrong zone really loses updates here. Faults (401, 503, slow answers) can be queued.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

DATA = Path(__file__).parent / "data" / "jira"
_UPDATED_SINCE = re.compile(r'updated >= "(\d{4}/\d{2}/\d{2} \d{2}:\d{2})"')


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def drill_issues() -> list[dict[str, Any]]:
    """The recorded Apache DRILL issues (Server shape), fresh copies."""
    return [load(f"drill_{n}.json") for n in (1, 38, 138)]


def account_id(name: str) -> str:
    return "557058:" + str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def cloudify(value: Any) -> Any:
    """A Server payload in Cloud's shape: users carry an ``accountId`` and no ``name`` or ``key``."""
    if isinstance(value, list):
        return [cloudify(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "displayName" in value and "name" in value and "/user?" in str(value.get("self", "")):
        aid = account_id(value["name"])
        return {"self": f"https://acme.atlassian.net/rest/api/2/user?accountId={aid}", "accountId": aid,
                "emailAddress": value.get("emailAddress"), "displayName": value["displayName"],
                "active": value.get("active", True), "timeZone": "Etc/UTC", "accountType": "atlassian"}
    return {k: cloudify(v) for k, v in value.items()}


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeJira:
    """One Jira site served under ``prefix`` on ``server`` (a context path, as Jira Server allows)."""

    def __init__(self, server: HTTPServer, *, cloud: bool = False, prefix: str = "/jira",
                 user: str = "alice@acme.example", token: str = "s3cret-token",
                 issues: list[dict[str, Any]] | None = None, page_cap: int = 2,
                 comment_cap: int | None = None, changelog_cap: int | None = None,
                 changelog_endpoint: bool = True) -> None:
        self.server = server
        self.cloud = cloud
        self.prefix = prefix
        self.credentials = f"{user}:{token}"
        self.issues = [cloudify(i) if cloud else i for i in (issues if issues is not None else drill_issues())]
        self.page_cap = page_cap
        self.comment_cap = comment_cap
        self.changelog_cap = changelog_cap
        self.changelog_endpoint = changelog_endpoint
        self.statuses = load("statuses.json")
        self.myself = load("myself_cloud.json" if cloud else "myself_server.json")
        self.info = load("server_info_cloud.json" if cloud else "server_info_server.json")
        self.faults: dict[str, list[Fault]] = {}
        self.calls: list[tuple[str, dict[str, list[str]]]] = []
        server.expect_request(re.compile(f"^{re.escape(prefix)}/rest/")).respond_with_handler(self.dispatch)

    @property
    def url(self) -> str:
        return self.server.url_for(self.prefix).rstrip("/")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.myself["timeZone"])

    def fail(self, path: str, status: int, *, headers: dict[str, str] | None = None,
             times: int = 1, delay: float = 0.0) -> None:
        """Answer the next ``times`` requests to ``path`` (after ``/rest/api/2/``) with ``status``."""
        self.faults.setdefault(path, []).extend(Fault(status, headers or {}, delay) for _ in range(times))

    def searches(self) -> list[str]:
        """The JQL of every search request, in order."""
        return [args["jql"][0] for path, args in self.calls if path in ("search", "search/jql")]

    def paths(self) -> list[str]:
        return [path for path, _ in self.calls]

    # -- dispatch ---------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        path = request.path.removeprefix(f"{self.prefix}/rest/api/2/")
        args = request.args.to_dict(flat=False)
        self.calls.append((path, args))
        if not self._authorized(request):
            return self._unauthorized()
        queued = self.faults.get(path)
        if queued:
            fault = queued.pop(0)
            time.sleep(fault.delay)
            if fault.status < 400:
                return self._route(path, args)
            body = {"errorMessages": [f"HTTP {fault.status}"], "errors": {}}
            return Response(json.dumps(body), status=fault.status, headers=fault.headers,
                            content_type="application/json")
        return self._route(path, args)

    def _route(self, path: str, args: dict[str, list[str]]) -> Response:
        simple = {"serverInfo": self.info, "myself": self.myself, "status": self.statuses, "field": load("fields.json")}
        if path in simple:
            return _json(simple[path])
        if path == "search":
            if self.cloud:
                return _json({"errorMessages": ["The requested API has been removed. Please migrate to the "
                                                "/rest/api/3/search/jql API."], "errors": {}}, status=410)
            return self._search(args)
        if path == "search/jql" and self.cloud:
            return self._search_jql(args)
        match = re.fullmatch(r"issue/([^/]+)/(comment|changelog)", path)
        if match and (match[2] == "comment" or self.changelog_endpoint):
            return self._issue_part(match[1], match[2], args)
        match = re.fullmatch(r"issue/([^/]+)", path)
        issue = next((i for i in self.issues if match and i["key"] == match[1]), None)
        if issue is not None:
            return _json(issue)
        return _json({"errorMessages": ["Not found"], "errors": {}}, status=404)

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header == "Basic " + base64.b64encode(self.credentials.encode()).decode()

    def _unauthorized(self) -> Response:
        if self.cloud:
            return Response("Client must be authenticated to access this resource.", status=401,
                            content_type="text/plain")
        return Response("<html><body>Unauthorized (401)</body></html>", status=401, content_type="text/html",
                        headers={"X-Seraph-LoginReason": "AUTHENTICATED_FAILED", "X-AUSERNAME": "anonymous"})

    # -- search -----------------------------------------------------------------------------------

    def _matching(self, jql: str) -> list[dict[str, Any]]:
        found = self.issues
        since = _UPDATED_SINCE.search(jql)
        if since:
            start = datetime.strptime(since[1], "%Y/%m/%d %H:%M").replace(tzinfo=self.zone)
            found = [i for i in found if datetime.fromisoformat(i["fields"]["updated"]) >= start]
        return sorted(found, key=lambda i: datetime.fromisoformat(i["fields"]["updated"]))

    def _page(self, args: dict[str, list[str]], start: int) -> tuple[list[dict[str, Any]], int, int]:
        matching = self._matching(args["jql"][0])
        size = min(int(args.get("maxResults", ["50"])[0]), self.page_cap)
        wanted = {f for value in args.get("fields", []) for f in value.split(",")}
        page = [self._served(issue, wanted, "changelog" in args.get("expand", [""])[0])
                for issue in matching[start:start + size]]
        return page, size, len(matching)

    def _search(self, args: dict[str, list[str]]) -> Response:
        start = int(args.get("startAt", ["0"])[0])
        page, size, total = self._page(args, start)
        return _json({"expand": "schema,names", "startAt": start, "maxResults": size, "total": total, "issues": page})

    def _search_jql(self, args: dict[str, list[str]]) -> Response:
        token = args.get("nextPageToken", [None])[0]
        start = int(base64.b64decode(token).decode()) if token else 0
        page, size, total = self._page(args, start)
        body: dict[str, Any] = {"issues": page, "isLast": start + size >= total}
        if not body["isLast"]:
            body["nextPageToken"] = base64.b64encode(str(start + size).encode()).decode()
        return _json(body)

    def _served(self, issue: dict[str, Any], wanted: set[str], changelog: bool) -> dict[str, Any]:
        """The issue as search returns it: requested fields only, comments and changelog maybe truncated."""
        served = copy.deepcopy(issue)
        if wanted and "*all" not in wanted:
            served["fields"] = {k: v for k, v in served["fields"].items() if k in wanted}
        if "comment" in served["fields"] and self.comment_cap is not None:
            comments = served["fields"]["comment"]["comments"]
            served["fields"]["comment"].update(comments=comments[:self.comment_cap], maxResults=self.comment_cap)
        if not changelog:
            served.pop("changelog", None)
        elif self.changelog_cap is not None:
            histories = served["changelog"]["histories"]
            # Cloud embeds the newest histories; Server the first ones.
            kept = histories[-self.changelog_cap:] if self.cloud else histories[:self.changelog_cap]
            served["changelog"].update(histories=kept, maxResults=self.changelog_cap)
        return served

    def _issue_part(self, key: str, part: str, args: dict[str, list[str]]) -> Response:
        issue = next((i for i in self.issues if i["key"] == key), None)
        if issue is None:
            return _json({"errorMessages": ["Issue does not exist or you do not have permission to see it."],
                          "errors": {}}, status=404)
        items = issue["fields"]["comment"]["comments"] if part == "comment" else issue["changelog"]["histories"]
        start = int(args.get("startAt", ["0"])[0])
        size = min(int(args.get("maxResults", ["50"])[0]), self.page_cap)
        page = items[start:start + size]
        if part == "comment":
            return _json({"startAt": start, "maxResults": size, "total": len(items), "comments": page})
        return _json({"self": f"{self.url}/rest/api/2/issue/{key}/changelog?maxResults={size}&startAt={start}",
                      "maxResults": size, "startAt": start, "total": len(items),
                      "isLast": start + size >= len(items), "values": page})


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, content_type="application/json;charset=UTF-8")
