"""The demo's commits, pull requests, reviews and comments, as GitHub's REST API returns them.

Shaped like real responses (``GET /repos/{repo}/commits``, ``…/pulls/{n}``, ``…/reviews``,
``/issues/comments``, ``/pulls/comments``, ``/issues``) and pointing at the real SHAs of the demo
repository, so they go through the GitHub connector's ``*_to_event`` functions exactly as a synced
repository would, and its commits become one event with the clone's. The client's data engineer
reviews the leakage fix, the product owner asks questions on two pull requests, CI posts a bot
comment, and one experiment is closed unmerged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from demo.gitrepo import DemoRepo
from demo.story import CAROL, CI_BOT, DAN, HOA, LINH, MINH, REPO, Clock, Member

API = f"https://api.github.com/repos/{REPO}"
WEB = f"https://github.com/{REPO}"
REPO_ID = 712450981
WEB_FLOW = {"login": "web-flow", "id": 19864447, "node_id": "MDQ6VXNlcjE5ODY0NDQ3", "type": "User",
            "url": "https://api.github.com/users/web-flow", "html_url": "https://github.com/web-flow",
            "site_admin": False}


@dataclass
class Said:
    """A review, an issue comment or a line comment on a pull request."""

    when: datetime
    who: Member
    body: str
    kind: str = "comment"  # comment | review | line
    state: str = "COMMENTED"  # for reviews
    path: str | None = None  # for line comments


@dataclass
class PullPlan:
    number: int
    title: str
    body: str
    author: Member
    branch: str
    opened: datetime
    merged: tuple[datetime, Member] | None = None
    closed: datetime | None = None
    labels: tuple[str, ...] = ()
    said: list[Said] = field(default_factory=list)


def gh_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def gh_user(member: Member) -> dict[str, Any]:
    login = member.login
    return {
        "login": login, "id": member.github_id, "node_id": f"MDQ6VXNlcj{member.github_id}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{member.github_id}?v=4", "gravatar_id": "",
        "url": f"https://api.github.com/users/{login}", "html_url": f"https://github.com/{login}",
        "type": "Bot" if login.endswith("[bot]") else "User", "site_admin": False,
    }


def commit_payload(record: dict[str, Any], people: dict[str, Member]) -> dict[str, Any]:
    """One item of ``GET /repos/{repo}/commits`` for a commit of the demo repository."""
    sha = record["sha"]
    author = people.get(str(record["author_email"]).lower())
    by_github = record["committer_email"] == "noreply@github.com"
    committer = WEB_FLOW if by_github else (gh_user(author) if author else None)
    return {
        "sha": sha, "node_id": f"C_kwDOKnLm{sha[:20]}",
        "commit": {
            "author": {"name": record["author_name"], "email": record["author_email"],
                       "date": gh_time(datetime.fromisoformat(str(record["authored_at"])))},
            "committer": {"name": record["committer_name"], "email": record["committer_email"],
                          "date": gh_time(datetime.fromisoformat(str(record["committed_at"])))},
            "message": record["message"], "tree": {"sha": sha[::-1], "url": f"{API}/git/trees/{sha[::-1]}"},
            "url": f"{API}/git/commits/{sha}", "comment_count": 0,
            "verification": {"verified": by_github, "reason": "valid" if by_github else "unsigned",
                             "signature": None, "payload": None},
        },
        "url": f"{API}/commits/{sha}", "html_url": f"{WEB}/commit/{sha}",
        "comments_url": f"{API}/commits/{sha}/comments",
        "author": gh_user(author) if author else None, "committer": committer,
        "parents": [{"sha": parent, "url": f"{API}/commits/{parent}", "html_url": f"{WEB}/commit/{parent}"}
                    for parent in record["parents"]],
    }


def _label(name: str) -> dict[str, Any]:
    colours = {"bug": "d73a4a", "features": "a2eeef", "experiment": "fbca04", "explainability": "0e8a16"}
    return {"id": sum(map(ord, name)) * 7919, "name": name,
            "color": colours.get(name, "ededed"), "default": name == "bug", "description": None,
            "url": f"{API}/labels/{name}"}


def _repo_object() -> dict[str, Any]:
    owner, name = REPO.split("/")
    return {"id": REPO_ID, "name": name, "full_name": REPO, "private": True,
            "owner": {"login": owner, "id": 90112233, "type": "Organization"},
            "html_url": WEB, "url": API, "default_branch": "main"}


def pull_payload(plan: PullPlan, repo: DemoRepo) -> dict[str, Any]:
    """``GET /repos/{repo}/pulls/{number}`` for one pull request."""
    branch = repo.branches[plan.branch]
    merged_at = gh_time(plan.merged[0]) if plan.merged else None
    closed = plan.merged[0] if plan.merged else plan.closed
    activity = [plan.opened, *(s.when for s in plan.said), *([closed] if closed else [])]
    url = f"{API}/pulls/{plan.number}"
    merge_sha = repo.shas.get(f"merge_pr{plan.number}")
    return {
        "url": url, "id": 1_800_000_000 + plan.number, "node_id": f"PR_kwDOKnLm{plan.number:05d}",
        "html_url": f"{WEB}/pull/{plan.number}", "diff_url": f"{WEB}/pull/{plan.number}.diff",
        "patch_url": f"{WEB}/pull/{plan.number}.patch", "issue_url": f"{API}/issues/{plan.number}",
        "number": plan.number, "state": "closed" if closed else "open", "locked": False,
        "title": plan.title, "user": gh_user(plan.author), "body": plan.body,
        "created_at": gh_time(plan.opened), "updated_at": gh_time(max(activity)),
        "closed_at": gh_time(closed) if closed else None, "merged_at": merged_at,
        "merge_commit_sha": merge_sha, "assignee": None, "assignees": [], "requested_reviewers": [],
        "requested_teams": [], "labels": [_label(name) for name in plan.labels], "milestone": None,
        "draft": False, "commits_url": f"{url}/commits", "review_comments_url": f"{url}/comments",
        "comments_url": f"{API}/issues/{plan.number}/comments",
        "head": {"label": f"{REPO.split('/')[0]}:{plan.branch}", "ref": plan.branch, "sha": branch.tip,
                 "user": {"login": REPO.split("/")[0]}, "repo": _repo_object()},
        "base": {"label": f"{REPO.split('/')[0]}:main", "ref": "main", "sha": repo.shas["skeleton"],
                 "user": {"login": REPO.split("/")[0]}, "repo": _repo_object()},
        "author_association": "MEMBER", "auto_merge": None, "active_lock_reason": None,
        "merged": bool(merged_at), "mergeable": None if closed else True,
        "merged_by": gh_user(plan.merged[1]) if plan.merged else None,
        "comments": sum(s.kind == "comment" for s in plan.said),
        "review_comments": sum(s.kind == "line" for s in plan.said),
        "commits": len(branch.commits), "maintainer_can_modify": False,
    }


def issue_item(plan: PullPlan) -> dict[str, Any]:
    """The pull request as an ``/issues`` listing item (what comments take their thread from)."""
    closed = plan.merged[0] if plan.merged else plan.closed
    return {
        "url": f"{API}/issues/{plan.number}", "html_url": f"{WEB}/pull/{plan.number}",
        "number": plan.number, "title": plan.title, "user": gh_user(plan.author),
        "labels": [_label(name) for name in plan.labels], "state": "closed" if closed else "open",
        "created_at": gh_time(plan.opened), "closed_at": gh_time(closed) if closed else None,
        "pull_request": {"url": f"{API}/pulls/{plan.number}", "html_url": f"{WEB}/pull/{plan.number}",
                         "merged_at": gh_time(plan.merged[0]) if plan.merged else None},
    }


def review_payload(plan: PullPlan, said: Said, index: int, repo: DemoRepo) -> dict[str, Any]:
    review_id = 2_100_000_000 + plan.number * 100 + index
    html = f"{WEB}/pull/{plan.number}#pullrequestreview-{review_id}"
    return {
        "id": review_id, "node_id": f"PRR_kwDOKnLm{review_id}", "user": gh_user(said.who), "body": said.body,
        "state": said.state, "html_url": html, "pull_request_url": f"{API}/pulls/{plan.number}",
        "author_association": "COLLABORATOR" if said.who.side == "client" else "MEMBER",
        "_links": {"html": {"href": html}, "pull_request": {"href": f"{API}/pulls/{plan.number}"}},
        "submitted_at": gh_time(said.when), "commit_id": repo.branches[plan.branch].tip,
    }


def issue_comment_payload(plan: PullPlan, said: Said, index: int) -> dict[str, Any]:
    comment_id = 1_900_000_000 + plan.number * 100 + index
    return {
        "url": f"{API}/issues/comments/{comment_id}",
        "html_url": f"{WEB}/pull/{plan.number}#issuecomment-{comment_id}",
        "issue_url": f"{API}/issues/{plan.number}", "id": comment_id, "node_id": f"IC_kwDOKnLm{comment_id}",
        "user": gh_user(said.who), "created_at": gh_time(said.when), "updated_at": gh_time(said.when),
        "author_association": "NONE" if said.who.side == "bot" else "MEMBER", "body": said.body,
        "reactions": {"url": f"{API}/issues/comments/{comment_id}/reactions", "total_count": 0},
        "performed_via_github_app": {"slug": "github-actions"} if said.who.side == "bot" else None,
    }


def review_comment_payload(plan: PullPlan, said: Said, index: int, repo: DemoRepo) -> dict[str, Any]:
    comment_id = 1_700_000_000 + plan.number * 100 + index
    html = f"{WEB}/pull/{plan.number}#discussion_r{comment_id}"
    tip = repo.branches[plan.branch].tip
    return {
        "url": f"{API}/pulls/comments/{comment_id}", "pull_request_review_id": None, "id": comment_id,
        "node_id": f"PRRC_kwDOKnLm{comment_id}", "diff_hunk": "@@ -1,3 +1,6 @@", "path": said.path,
        "position": 4, "original_position": 4, "commit_id": tip, "original_commit_id": tip,
        "user": gh_user(said.who), "body": said.body, "created_at": gh_time(said.when),
        "updated_at": gh_time(said.when), "html_url": html, "pull_request_url": f"{API}/pulls/{plan.number}",
        "author_association": "COLLABORATOR" if said.who.side == "client" else "MEMBER",
        "_links": {"self": {"href": f"{API}/pulls/comments/{comment_id}"}, "html": {"href": html},
                   "pull_request": {"href": f"{API}/pulls/{plan.number}"}},
    }


def story_pulls(c: Clock) -> list[PullPlan]:
    """The repository's pull requests, oldest first."""
    ci = "✅ CI passed: unit tests, lint and the split-leakage check."
    return [
        PullPlan(1, "CHURN-3: usage aggregate features", "Daily usage per customer and 7/30-day windows.\n\n"
                 "Closes CHURN-3.", HOA, "feature/CHURN-3-usage-features", c.at(14, "16:00"),
                 merged=(c.at(12, "10:15"), LINH), labels=("features",), said=[
                     Said(c.at(14, "17:10"), LINH, "Do the windows end before the label date?", kind="line",
                          path="src/churn/features.py"),
                     Said(c.at(13, "11:05"), HOA, "Yes — they end the day before; documented now.", kind="line",
                          path="src/churn/features.py"),
                     Said(c.at(13, "14:00"), LINH, "Looks good.", kind="review", state="APPROVED"),
                 ]),
        PullPlan(2, "CHURN-4: gradient boosting sweep", "LightGBM and a sweep over learning rate, leaves and"
                 " estimators.", MINH, "feature/CHURN-4-sweep", c.at(12, "16:30"),
                 merged=(c.at(11, "15:00"), LINH), said=[
                     Said(c.at(12, "16:36"), CI_BOT, ci),
                     Said(c.at(11, "14:30"), LINH, "Ship it.", kind="review", state="APPROVED"),
                 ]),
        PullPlan(3, "CHURN-5: split by customer to fix leakage", "Rows of the same customer ended up in train"
                 " and validation. This splits by `customer_id` and adds a test that no customer is in two"
                 " splits.\n\nFixes CHURN-5.", LINH, "fix/CHURN-5-group-split", c.at(9, "16:00"),
                 merged=(c.at(7, "09:15"), LINH), labels=("bug",), said=[
                     Said(c.at(9, "16:06"), CI_BOT, ci),
                     Said(c.at(9, "23:00"), DAN, "Looks right for validation. Please group the holdout split the"
                          " same way.", kind="review", state="CHANGES_REQUESTED"),
                     Said(c.at(9, "23:02"), DAN, "The holdout is still split by row here.", kind="line",
                          path="src/churn/split.py"),
                     Said(c.at(8, "10:05"), LINH, "Fixed — holdout() reuses the grouped split now.", kind="line",
                          path="src/churn/split.py"),
                     Said(c.at(8, "22:00"), DAN, "LGTM, thanks for the quick turnaround.", kind="review",
                          state="APPROVED"),
                 ]),
        PullPlan(6, "Try DART boosting", "Experiment: does DART beat plain GBDT on our data?", MINH,
                 "experiment/dart-boosting", c.at(7, "11:30"), closed=c.at(6, "10:01"), labels=("experiment",),
                 said=[Said(c.at(6, "10:00"), MINH, "DART is three times slower for no gain (run gbm-dart-trial)."
                            " Closing.")]),
        PullPlan(4, "CHURN-6: support-ticket features", "Ticket counts, customer-message sentiment and time to"
                 " resolution.", HOA, "feature/CHURN-6-support-features", c.at(6, "11:00"),
                 merged=(c.at(5, "09:30"), LINH), labels=("features",), said=[
                     Said(c.at(6, "11:06"), CI_BOT, ci),
                     Said(c.at(6, "22:00"), CAROL, "Can we be sure the sentiment scores skip agent notes? Those"
                          " often contain the cancellation reason."),
                     Said(c.at(5, "09:05"), HOA, "Good catch — only customer messages are scored now, with a test"
                          " (tests/test_features.py)."),
                     Said(c.at(5, "09:20"), LINH, "", kind="review", state="APPROVED"),
                 ]),
        PullPlan(5, "CHURN-12: churn drivers for the CS team", "SHAP summary of the top drivers with"
                 " plain-language descriptions.", LINH, "feature/CHURN-12-shap", c.at(1, "10:30"),
                 labels=("explainability",), said=[
                     Said(c.at(1, "10:36"), CI_BOT, ci),
                     Said(c.at(1, "21:30"), CAROL, "Could the drivers be grouped by plan type? CS works per plan."),
                     Said(c.ago(30), LINH, "Yes — grouping by plan in the next push."),
                 ]),
    ]
