"""GitHub's JSON as events: pure functions over what ``/commits``, ``/pulls``, ``/reviews`` and the comment
lists return (tests, the demo builder and ``renormalize`` call them without any HTTP)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from glassbox.events import DEFAULT_TICKET_PATTERN, Event, commit_event_id, commit_ref, event_id, ticket_refs

GHOST = "ghost"  # how GitHub itself shows a deleted account


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
    committed = committer.get("date") or author.get("date")
    if committed is None:
        raise ValueError(f"commit {sha} has no date")
    return Event(
        id=commit_event_id(sha),
        source="github",
        origin=origin or repo,
        category="commit",
        occurred_at=parse_time(committed),
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
                    occurred_at=parse_time(raw["created_at"]), actor=author, actor_ids=_ids(author),
                    refs=refs, **common)]
    if merged_at:
        merger = _login(raw["merged_by"]) if "merged_by" in raw else author
        events.append(Event(id=pull_event_id(origin, number, "merged"), category="pull_request_merged",
                            occurred_at=parse_time(merged_at), actor=merger, actor_ids=_ids(merger),
                            refs=(*refs, *commit_ref(raw.get("merge_commit_sha"))), **common))
    elif raw.get("closed_at"):
        events.append(Event(id=pull_event_id(origin, number, "closed"), category="pull_request_closed",
                            occurred_at=parse_time(raw["closed_at"]), actor=author, actor_ids=_ids(author),
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
        occurred_at=parse_time(raw["submitted_at"]),
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
        occurred_at=parse_time(raw["created_at"]),
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


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def restate(event: Event, *, pulls: dict[int, dict[str, Any]],
            ticket_pattern: str = DEFAULT_TICKET_PATTERN) -> Event | None:
    """A stored GitHub event normalized again from its ``raw`` payload (``renormalize``).

    What a payload lacks comes from what the store kept: a review's pull request from the stored
    ``/pulls`` payload (``pulls``, by number), a comment's thread from the event's own labels and
    ``pr_author``. ``None`` when the event cannot be re-derived (a commit first stored by a clone,
    a review whose pull request is not stored).
    """
    raw = event.raw
    if not isinstance(raw, dict) or event.source != "github":
        return None
    repo = event.thread.split("#", 1)[0]
    origin = event.origin
    if event.category == "commit":
        return commit_to_event(raw, repo=repo, origin=origin, ticket_pattern=ticket_pattern)
    if event.category.startswith("pull_request_"):
        fresh = pull_to_events(raw, repo=repo, origin=origin, ticket_pattern=ticket_pattern)
        return next((e for e in fresh if e.id == event.id), None)
    if event.category == "review":
        pull = pulls.get(event.attrs.get("number"))  # type: ignore[arg-type]
        if pull is None:
            return None
        return review_to_event(raw, pull, repo=repo, origin=origin, ticket_pattern=ticket_pattern)
    if event.category == "comment":
        thread = ThreadInfo(author=event.attrs.get("pr_author") or GHOST, labels=event.labels,
                            is_pr="pr_author" in event.attrs)
        to_event = review_comment_to_event if event.attrs.get("kind") == "review_comment" else issue_comment_to_event
        return to_event(raw, repo=repo, thread=thread, origin=origin, ticket_pattern=ticket_pattern)
    return None
