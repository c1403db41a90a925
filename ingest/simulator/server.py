"""HTTP front of the GitHub simulator: the REST v3 (+ GraphQL) subset the crawler uses, over a ``World``.

Reads the world (under one lock shared with ``mutate``); writes only HTTP responses. Serves on 127.0.0.1
with the stdlib ``ThreadingHTTPServer`` (HTTP/1.1 keep-alive). The one idea: be GitHub where a client can
tell the difference — JSON shapes, parameter defaults, Link pagination, rate-limit headers and errors,
conditional requests — and make the bad days (5xx, secondary limits, cut bodies, slowness) reproducible
from a seed so crawler tests can rely on them. Admin endpoints under ``/_simulator/`` are not GitHub.

With git (the default when a ``git`` binary exists) it also serves the world's repositories over git smart
HTTP at ``/<owner>/<name>.git`` (``git http-backend`` per request; no token, no rate limit, no faults),
written on first use into a directory the server owns and brought up to date by ``mutate``; the repo JSON's
``clone_url`` then points here.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import os
import random
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from ingest.simulator import graphql_api
from ingest.simulator.gitrepos import GIT_PATH, GitRepoStore, http_backend
from ingest.simulator.world import (
    LICENSES,
    Commit,
    Issue,
    IssueComment,
    MutationReport,
    PullFile,
    Repo,
    Review,
    ReviewComment,
    World,
)

DOCS = "https://docs.github.com/rest"
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
PAGE_422 = (
    "Pagination with the page parameter is not supported for large datasets, please use cursor based "
    "pagination (after/before)"
)
GRAPHQL_AUTH_DOCS = (
    "https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql"
)
ANON = "anonymous"
RESOURCES = ("core", "search", "graphql")
_DEFAULT_LABELS = {
    "bug",
    "enhancement",
    "documentation",
    "question",
    "good first issue",
    "wontfix",
    "duplicate",
    "help wanted",
    "invalid",
}


# ---------------------------------------------------------------------------------------------- config


@dataclass
class FaultConfig:
    """Injected failures. Each API request draws from ``random.Random`` seeded by (seed, request seq)."""

    seed: int = 0
    error_rate: float = 0.0  # 502/503 {"message": "Server Error"}
    secondary_every: int = 0  # every Nth faultable request: secondary rate limit, alternating 403 / 429
    retry_after_s: int = 1
    truncate_rate: float = 0.0  # full Content-Length, part of the body, then the connection closes
    slow_rate: float = 0.0
    slow_s: float = 0.0

    @classmethod
    def from_dict(cls, data: dict | None) -> FaultConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(data or {}) - names
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        return cls(**(data or {}))

    def to_dict(self) -> dict:
        return asdict(self)


def fingerprint(token: str | None) -> str:
    """How a token appears in stats and logs: never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:12] if token else ANON


def _iso(dt: datetime | None) -> str | None:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt is not None else None


def _node_id(prefix: str, value: int | str) -> str:
    return f"{prefix}_kwDO" + base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def _parse_since(value: str) -> datetime:
    v = value.strip().replace("Z", "+00:00")
    dt = datetime.fromisoformat(v)
    if dt.tzinfo is None:
        raise ValueError("timezone required")
    return dt


class ApiError(Exception):
    """An error answer: status, GitHub's JSON body, extra headers."""

    def __init__(self, status: int, message: str, extra: dict | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.body = {"message": message, "documentation_url": DOCS, **(extra or {})}
        self.headers = headers or {}


def _not_found() -> ApiError:
    return ApiError(404, "Not Found", {"status": "404"})


def _validation(field_name: str, resource: str = "Issue", code: str = "invalid") -> ApiError:
    return ApiError(
        422,
        "Validation Failed",
        {"errors": [{"resource": resource, "field": field_name, "code": code}], "status": "422"},
    )


# ------------------------------------------------------------------------------------------- rendering


class _Renderer:
    """World objects -> GitHub JSON. ``base`` is the API root as the client addressed it; with ``git`` the
    server also serves the repositories, so clone URLs point at ``base`` too."""

    def __init__(self, world: World, base: str, git: bool = False):
        self.world = world
        self.base = base
        self.git = git

    def user(self, login: str | None) -> dict | None:
        if login is None:
            return None
        u = self.world.users[login]
        b, q = self.base, quote(login)
        html = (
            f"https://github.com/apps/{login.removesuffix('[bot]')}"
            if u.type == "Bot"
            else f"https://github.com/{login}"
        )
        return {
            "login": u.login,
            "id": u.id,
            "node_id": _node_id({"Bot": "BOT", "Organization": "O"}.get(u.type, "U"), u.id),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{u.id}?v=4",
            "gravatar_id": "",
            "url": f"{b}/users/{q}",
            "html_url": html,
            "followers_url": f"{b}/users/{q}/followers",
            "following_url": f"{b}/users/{q}/following{{/other_user}}",
            "gists_url": f"{b}/users/{q}/gists{{/gist_id}}",
            "starred_url": f"{b}/users/{q}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{b}/users/{q}/subscriptions",
            "organizations_url": f"{b}/users/{q}/orgs",
            "repos_url": f"{b}/users/{q}/repos",
            "events_url": f"{b}/users/{q}/events{{/privacy}}",
            "received_events_url": f"{b}/users/{q}/received_events",
            "type": u.type,
            "user_view_type": "public",
            "site_admin": u.site_admin,
        }

    def user_full(self, login: str) -> dict:
        u = self.world.users[login]
        owned = [r for r in self.world.listed_repos() if r.owner == login]
        return {
            **(self.user(login) or {}),
            "name": u.name,
            "company": None,
            "blog": "",
            "location": None,
            "email": None,
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "public_repos": len(owned),
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": _iso(u.created_at),
            "updated_at": _iso(u.created_at),
        }

    def license(self, spdx: str | None) -> dict | None:
        if spdx is None:
            return None
        key, name = LICENSES.get(spdx, (spdx.lower(), spdx))
        return {
            "key": key,
            "name": name,
            "spdx_id": spdx,
            "url": None if spdx == "NOASSERTION" else f"{self.base}/licenses/{key}",
            "node_id": _node_id("MDc6TGljZW5zZ", key),
        }

    def repo(self, repo: Repo, full: bool = False) -> dict:
        b, f = self.base, repo.full_name
        api = f"{b}/repos/{f}"
        out = {
            "id": repo.id,
            "node_id": _node_id("R", repo.id),
            "name": repo.name,
            "full_name": f,
            "private": False,
            "owner": self.user(repo.owner),
            "html_url": f"https://github.com/{f}",
            "description": repo.description,
            "fork": repo.fork,
            "url": api,
            "forks_url": f"{api}/forks",
            "keys_url": f"{api}/keys{{/key_id}}",
            "collaborators_url": f"{api}/collaborators{{/collaborator}}",
            "teams_url": f"{api}/teams",
            "hooks_url": f"{api}/hooks",
            "issue_events_url": f"{api}/issues/events{{/number}}",
            "events_url": f"{api}/events",
            "assignees_url": f"{api}/assignees{{/user}}",
            "branches_url": f"{api}/branches{{/branch}}",
            "tags_url": f"{api}/tags",
            "blobs_url": f"{api}/git/blobs{{/sha}}",
            "git_tags_url": f"{api}/git/tags{{/sha}}",
            "git_refs_url": f"{api}/git/refs{{/sha}}",
            "trees_url": f"{api}/git/trees{{/sha}}",
            "statuses_url": f"{api}/statuses/{{sha}}",
            "languages_url": f"{api}/languages",
            "stargazers_url": f"{api}/stargazers",
            "contributors_url": f"{api}/contributors",
            "subscribers_url": f"{api}/subscribers",
            "subscription_url": f"{api}/subscription",
            "commits_url": f"{api}/commits{{/sha}}",
            "git_commits_url": f"{api}/git/commits{{/sha}}",
            "comments_url": f"{api}/comments{{/number}}",
            "issue_comment_url": f"{api}/issues/comments{{/number}}",
            "contents_url": f"{api}/contents/{{+path}}",
            "compare_url": f"{api}/compare/{{base}}...{{head}}",
            "merges_url": f"{api}/merges",
            "archive_url": f"{api}/{{archive_format}}{{/ref}}",
            "downloads_url": f"{api}/downloads",
            "issues_url": f"{api}/issues{{/number}}",
            "pulls_url": f"{api}/pulls{{/number}}",
            "milestones_url": f"{api}/milestones{{/number}}",
            "notifications_url": f"{api}/notifications{{?since,all,participating}}",
            "labels_url": f"{api}/labels{{/name}}",
            "releases_url": f"{api}/releases{{/id}}",
            "deployments_url": f"{api}/deployments",
            "created_at": _iso(repo.created_at),
            "updated_at": _iso(repo.updated_at),
            "pushed_at": _iso(repo.pushed_at),
            "git_url": f"git://github.com/{f}.git",
            "ssh_url": f"git@github.com:{f}.git",
            "clone_url": f"{b}/{f}.git" if self.git else f"https://github.com/{f}.git",
            "svn_url": f"https://github.com/{f}",
            "homepage": None,
            "size": repo.size_kb,
            "stargazers_count": repo.stargazers_count,
            "watchers_count": repo.stargazers_count,
            "language": repo.language,
            "has_issues": True,
            "has_projects": True,
            "has_downloads": True,
            "has_wiki": True,
            "has_pages": False,
            "has_discussions": False,
            "forks_count": repo.forks_count,
            "mirror_url": None,
            "archived": repo.archived,
            "disabled": False,
            "open_issues_count": repo.open_issues_count,
            "license": self.license(repo.license),
            "allow_forking": True,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": list(repo.topics),
            "visibility": "public",
            "forks": repo.forks_count,
            "open_issues": repo.open_issues_count,
            "watchers": repo.stargazers_count,
            "default_branch": repo.default_branch,
        }
        if full:
            out["network_count"] = repo.forks_count
            out["subscribers_count"] = max(1, repo.stargazers_count // 10)
            if repo.fork and repo.parent and repo.parent in self.world.repos:
                parent = self.world.repos[repo.parent]
                out["parent"] = self.repo(parent)
                root = parent
                while root.fork and root.parent in self.world.repos:
                    root = self.world.repos[root.parent]
                out["source"] = self.repo(root)
        return out

    def label(self, repo: Repo, name: str) -> dict:
        lab = repo.labels[name]
        return {
            "id": lab.id,
            "node_id": _node_id("LA", lab.id),
            "url": f"{self.base}/repos/{repo.full_name}/labels/{quote(name)}",
            "name": name,
            "color": lab.color,
            "default": name in _DEFAULT_LABELS,
            "description": lab.description,
        }

    def reactions(self, url: str, counts: dict[str, int]) -> dict:
        keys = ("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes")
        return {
            "url": url,
            "total_count": sum(counts.get(k, 0) for k in keys),
            **{k: counts.get(k, 0) for k in keys},
        }

    def issue(self, it: Issue, detail: bool = False) -> dict:
        repo = self.world.repos[it.repo]
        api = f"{self.base}/repos/{it.repo}"
        url = f"{api}/issues/{it.number}"
        kind = "pull" if it.pull else "issues"
        out = {
            "url": url,
            "repository_url": api,
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"https://github.com/{it.repo}/{kind}/{it.number}",
            "id": it.id,
            "node_id": _node_id("PR" if it.pull else "I", it.id),
            "number": it.number,
            "title": it.title,
            "user": self.user(it.user),
            "labels": [self.label(repo, n) for n in it.labels],
            "state": it.state,
            "locked": it.locked,
            "assignee": self.user(it.assignees[0]) if it.assignees else None,
            "assignees": [self.user(a) for a in it.assignees],
            "milestone": None,
            "comments": len(it.comments),
            "created_at": _iso(it.created_at),
            "updated_at": _iso(it.updated_at),
            "closed_at": _iso(it.closed_at),
            "author_association": it.author_association,
            "type": None,
            "active_lock_reason": None,
        }
        if it.pull is not None:
            out["draft"] = it.pull.draft
            out["pull_request"] = {
                "url": f"{api}/pulls/{it.number}",
                "html_url": f"https://github.com/{it.repo}/pull/{it.number}",
                "diff_url": f"https://github.com/{it.repo}/pull/{it.number}.diff",
                "patch_url": f"https://github.com/{it.repo}/pull/{it.number}.patch",
                "merged_at": _iso(it.pull.merged_at),
            }
        elif it.null_pull_request:
            out["pull_request"] = {
                "url": None,
                "html_url": None,
                "diff_url": None,
                "patch_url": None,
                "merged_at": None,
            }
        out["body"] = it.body
        if detail:
            out["closed_by"] = self.user(it.closed_by) if it.closed_by else None
        out["reactions"] = self.reactions(f"{url}/reactions", it.reactions)
        out["timeline_url"] = f"{url}/timeline"
        out["performed_via_github_app"] = None
        out["state_reason"] = it.state_reason
        return out

    def issue_comment(self, c: IssueComment) -> dict:
        api = f"{self.base}/repos/{c.repo}"
        item = self.world.repos[c.repo].issues[c.issue_number]
        kind = "pull" if item.pull else "issues"
        return {
            "url": f"{api}/issues/comments/{c.id}",
            "html_url": f"https://github.com/{c.repo}/{kind}/{c.issue_number}#issuecomment-{c.id}",
            "issue_url": f"{api}/issues/{c.issue_number}",
            "id": c.id,
            "node_id": _node_id("IC", c.id),
            "user": self.user(c.user),
            "created_at": _iso(c.created_at),
            "updated_at": _iso(c.updated_at),
            "author_association": c.author_association,
            "body": c.body,
            "reactions": self.reactions(f"{api}/issues/comments/{c.id}/reactions", c.reactions),
            "performed_via_github_app": None,
        }

    def pull(self, it: Issue, detail: bool = False) -> dict:
        pr = it.pull
        assert pr is not None
        repo = self.world.repos[it.repo]
        api = f"{self.base}/repos/{it.repo}"
        url = f"{api}/pulls/{it.number}"
        html = f"https://github.com/{it.repo}/pull/{it.number}"
        head_repo = self.world.repos.get(pr.head_repo) if pr.head_repo else None
        out = {
            "url": url,
            "id": pr.id,
            "node_id": _node_id("PR", pr.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": f"{api}/issues/{it.number}",
            "number": it.number,
            "state": it.state,
            "locked": it.locked,
            "title": it.title,
            "user": self.user(it.user),
            "body": it.body,
            "created_at": _iso(it.created_at),
            "updated_at": _iso(it.updated_at),
            "closed_at": _iso(it.closed_at),
            "merged_at": _iso(pr.merged_at),
            "merge_commit_sha": pr.merge_commit_sha,
            "assignee": self.user(it.assignees[0]) if it.assignees else None,
            "assignees": [self.user(a) for a in it.assignees],
            "requested_reviewers": [],
            "requested_teams": [],
            "labels": [self.label(repo, n) for n in it.labels],
            "milestone": None,
            "draft": pr.draft,
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{api}/pulls/comments{{/number}}",
            "comments_url": f"{api}/issues/{it.number}/comments",
            "statuses_url": f"{api}/statuses/{pr.head_sha}",
            "head": {
                "label": f"{pr.head_user}:{pr.head_ref}",
                "ref": pr.head_ref,
                "sha": pr.head_sha,
                "user": self.user(pr.head_user),
                "repo": self.repo(head_repo) if head_repo else None,
            },
            "base": {
                "label": f"{repo.owner}:{pr.base_ref}",
                "ref": pr.base_ref,
                "sha": pr.base_sha,
                "user": self.user(repo.owner),
                "repo": self.repo(repo),
            },
            "_links": {
                "self": {"href": url},
                "html": {"href": html},
                "issue": {"href": f"{api}/issues/{it.number}"},
                "comments": {"href": f"{api}/issues/{it.number}/comments"},
                "review_comments": {"href": f"{url}/comments"},
                "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
                "commits": {"href": f"{url}/commits"},
                "statuses": {"href": f"{api}/statuses/{pr.head_sha}"},
            },
            "author_association": it.author_association,
            "auto_merge": None,
            "active_lock_reason": None,
        }
        if detail:
            is_open = it.state == "open"
            out.update(
                {
                    "merged": pr.merged,
                    "mergeable": True if is_open else None,
                    "rebaseable": True if is_open else None,
                    "mergeable_state": ("draft" if pr.draft else "clean") if is_open else "unknown",
                    "merged_by": self.user(pr.merged_by) if pr.merged_by else None,
                    "comments": len(it.comments),
                    "review_comments": len(pr.review_comments),
                    "maintainer_can_modify": pr.maintainer_can_modify,
                    "commits": len(pr.commits),
                    "additions": sum(f.additions for f in pr.files),
                    "deletions": sum(f.deletions for f in pr.files),
                    "changed_files": len(pr.files),
                }
            )
        return out

    def pull_file(self, it: Issue, f: PullFile) -> dict:
        pr = it.pull
        assert pr is not None
        path = quote(f.filename)
        out = {
            "sha": f.sha,
            "filename": f.filename,
            "status": f.status,
            "additions": f.additions,
            "deletions": f.deletions,
            "changes": f.changes,
            "blob_url": f"https://github.com/{it.repo}/blob/{pr.head_sha}/{path}",
            "raw_url": f"https://github.com/{it.repo}/raw/{pr.head_sha}/{path}",
            "contents_url": f"{self.base}/repos/{it.repo}/contents/{path}?ref={pr.head_sha}",
        }
        if f.patch is not None:
            out["patch"] = f.patch
        if f.previous_filename is not None:
            out["previous_filename"] = f.previous_filename
        return out

    def commit(self, it: Issue, c: Commit) -> dict:
        api = f"{self.base}/repos/{it.repo}"
        return {
            "sha": c.sha,
            "node_id": _node_id("C", c.sha[:16]),
            "commit": {
                "author": {"name": c.author_name, "email": c.author_email, "date": _iso(c.author_date)},
                "committer": {
                    "name": c.committer_name,
                    "email": c.committer_email,
                    "date": _iso(c.committer_date),
                },
                "message": c.message,
                "tree": {"sha": c.tree_sha, "url": f"{api}/git/trees/{c.tree_sha}"},
                "url": f"{api}/git/commits/{c.sha}",
                "comment_count": 0,
                "verification": {
                    "verified": False,
                    "reason": "unsigned",
                    "signature": None,
                    "payload": None,
                    "verified_at": None,
                },
            },
            "url": f"{api}/commits/{c.sha}",
            "html_url": f"https://github.com/{it.repo}/commit/{c.sha}",
            "comments_url": f"{api}/commits/{c.sha}/comments",
            "author": self.user(c.author_login),
            "committer": self.user(c.committer_login),
            "parents": [
                {
                    "sha": p,
                    "url": f"{api}/commits/{p}",
                    "html_url": f"https://github.com/{it.repo}/commit/{p}",
                }
                for p in c.parents
            ],
        }

    def review(self, it: Issue, r: Review) -> dict:
        api = f"{self.base}/repos/{it.repo}"
        html = f"https://github.com/{it.repo}/pull/{it.number}#pullrequestreview-{r.id}"
        return {
            "id": r.id,
            "node_id": _node_id("PRR", r.id),
            "user": self.user(r.user),
            "body": r.body,
            "state": r.state,
            "html_url": html,
            "pull_request_url": f"{api}/pulls/{it.number}",
            "author_association": r.author_association,
            "_links": {"html": {"href": html}, "pull_request": {"href": f"{api}/pulls/{it.number}"}},
            "submitted_at": _iso(r.submitted_at),
            "commit_id": r.commit_id,
        }

    def review_comment(self, it: Issue, c: ReviewComment) -> dict:
        api = f"{self.base}/repos/{it.repo}"
        url = f"{api}/pulls/comments/{c.id}"
        html = f"https://github.com/{it.repo}/pull/{it.number}#discussion_r{c.id}"
        out = {
            "url": url,
            "pull_request_review_id": c.review_id,
            "id": c.id,
            "node_id": _node_id("PRRC", c.id),
            "diff_hunk": c.diff_hunk,
            "path": c.path,
            "position": c.position,
            "original_position": c.original_position,
            "commit_id": c.commit_id,
            "original_commit_id": c.original_commit_id,
            "user": self.user(c.user),
            "body": c.body,
            "created_at": _iso(c.created_at),
            "updated_at": _iso(c.updated_at),
            "html_url": html,
            "pull_request_url": f"{api}/pulls/{it.number}",
            "author_association": c.author_association,
            "_links": {
                "self": {"href": url},
                "html": {"href": html},
                "pull_request": {"href": f"{api}/pulls/{it.number}"},
            },
            "reactions": self.reactions(f"{url}/reactions", {}),
            "start_line": None,
            "original_start_line": None,
            "start_side": None,
            "line": c.line,
            "original_line": c.original_line,
            "side": c.side,
            "subject_type": "line",
        }
        if c.in_reply_to_id is not None:
            out["in_reply_to_id"] = c.in_reply_to_id
        return out


# ------------------------------------------------------------------------------------------ pagination


def _encode_cursor(key: tuple) -> str:
    return (
        base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")
    )


def _decode_cursor(token: str) -> tuple:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = json.loads(raw)
        if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
            raise ValueError
        return tuple(value)
    except (ValueError, TypeError) as exc:
        raise ApiError(422, "Invalid `after` cursor", {"status": "422"}) from exc


def _ts(dt: datetime) -> int:
    return int(dt.timestamp())


@dataclass
class _Request:
    method: str
    path: str
    params: list[tuple[str, str]]
    base: str
    headers: dict[str, str]
    body: bytes
    fp: str
    user_id: int | None
    match: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.params:
            if k == name:
                return v
        return default


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    truncate_at: int | None = None
    sleep_s: float = 0.0


@dataclass
class _Bucket:
    limit: int
    used: int = 0
    reset: float | None = None  # epoch seconds; None until the first request opens a window

    def refresh(self, now: float, window: float) -> None:
        if self.reset is None or now >= self.reset:
            self.used, self.reset = 0, now + window

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


@dataclass
class _Route:
    method: str
    pattern: re.Pattern
    template: str
    resource: str
    handler: str
    free: bool = False


_R = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
_ROUTES = [
    _Route("GET", re.compile(r"/rate_limit"), "GET /rate_limit", "core", "rate_limit", free=True),
    _Route("GET", re.compile(r"/user"), "GET /user", "core", "get_user"),
    _Route("GET", re.compile(r"/users/(?P<login>[^/]+)"), "GET /users/{username}", "core", "get_users"),
    _Route("GET", re.compile(r"/search/repositories"), "GET /search/repositories", "search", "search_repos"),
    _Route("POST", re.compile(r"/graphql"), "POST /graphql", "graphql", "graphql"),
    _Route("GET", re.compile(_R), "GET /repos/{owner}/{repo}", "core", "get_repo"),
    _Route("GET", re.compile(_R + r"/issues"), "GET /repos/{owner}/{repo}/issues", "core", "list_issues"),
    _Route(
        "GET",
        re.compile(_R + r"/issues/comments"),
        "GET /repos/{owner}/{repo}/issues/comments",
        "core",
        "list_repo_issue_comments",
    ),
    _Route(
        "GET",
        re.compile(_R + r"/issues/comments/(?P<comment_id>\d+)"),
        "GET /repos/{owner}/{repo}/issues/comments/{comment_id}",
        "core",
        "get_issue_comment",
    ),
    _Route(
        "GET",
        re.compile(_R + r"/issues/(?P<number>\d+)"),
        "GET /repos/{owner}/{repo}/issues/{issue_number}",
        "core",
        "get_issue",
    ),
    _Route(
        "GET",
        re.compile(_R + r"/issues/(?P<number>\d+)/comments"),
        "GET /repos/{owner}/{repo}/issues/{issue_number}/comments",
        "core",
        "list_issue_comments",
    ),
    _Route("GET", re.compile(_R + r"/pulls"), "GET /repos/{owner}/{repo}/pulls", "core", "list_pulls"),
    _Route(
        "GET",
        re.compile(_R + r"/pulls/comments"),
        "GET /repos/{owner}/{repo}/pulls/comments",
        "core",
        "list_repo_review_comments",
    ),
    _Route(
        "GET",
        re.compile(_R + r"/pulls/comments/(?P<comment_id>\d+)"),
        "GET /repos/{owner}/{repo}/pulls/comments/{comment_id}",
        "core",
        "get_review_comment",
    ),
    _Route(
        "GET",
        re.compile(_R + r"/pulls/(?P<number>\d+)"),
        "GET /repos/{owner}/{repo}/pulls/{pull_number}",
        "core",
        "get_pull",
    ),
    _Route(
        "GET",
        re.compile(_R + r"/pulls/(?P<number>\d+)/files"),
        "GET /repos/{owner}/{repo}/pulls/{pull_number}/files",
        "core",
        "list_pull_files",
    ),
    _Route(
        "GET",
        re.compile(_R + r"/pulls/(?P<number>\d+)/commits"),
        "GET /repos/{owner}/{repo}/pulls/{pull_number}/commits",
        "core",
        "list_pull_commits",
    ),
    _Route(
        "GET",
        re.compile(_R + r"/pulls/(?P<number>\d+)/reviews"),
        "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews",
        "core",
        "list_pull_reviews",
    ),
    _Route(
        "GET",
        re.compile(_R + r"/pulls/(?P<number>\d+)/comments"),
        "GET /repos/{owner}/{repo}/pulls/{pull_number}/comments",
        "core",
        "list_pull_review_comments",
    ),
]


# ---------------------------------------------------------------------------------------------- server


class SimulatorServer:
    """A GitHub look-alike over ``world`` on ``host:port`` (0 = any free port); see the module docstring."""

    def __init__(
        self,
        world: World,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: list[str] | None = None,
        rate_limit: int = 5000,
        search_rate_limit: int = 30,
        graphql_rate_limit: int = 5000,
        rate_window_s: float = 3600.0,
        anon_rate_limit: int = 60,
        max_page: int = 100,
        faults: FaultConfig | None = None,
        git: bool | None = None,
        git_dir: str | os.PathLike | None = None,
    ):
        """``git``: serve the repositories over smart HTTP (None: when a ``git`` binary is on PATH).
        ``git_dir``: write them there (all listed repositories, at ``start``; kept after ``stop``) instead of
        into a temporary directory the server removes on ``stop``."""
        self.world = world
        self.host = host
        self.port = port
        # Token -> (fingerprint, user id); the raw tokens are not kept.
        self._tokens: dict[str, int] | None = (
            {fingerprint(t): i + 1 for i, t in enumerate(tokens)} if tokens is not None else None
        )
        self.limits = {"core": rate_limit, "search": search_rate_limit, "graphql": graphql_rate_limit}
        self.anon_limits = {"core": anon_rate_limit, "search": min(10, search_rate_limit), "graphql": 0}
        self.rate_window_s = rate_window_s
        self.max_page = max_page
        self.faults = faults or FaultConfig()
        self.world_lock = threading.RLock()
        self._lock = threading.Lock()  # stats, buckets, sequence numbers
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._seq = 0
        self._faultable = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        if git is None:
            git = shutil.which("git") is not None
        elif git and shutil.which("git") is None:
            raise RuntimeError("git=True needs a git binary on PATH")
        self.git = git
        self.git_dir = Path(git_dir) if git_dir is not None else None
        self.git_store: GitRepoStore | None = None
        self._git_tmp: str | None = None
        self.reset_stats()

    # -- lifecycle

    def start(self) -> SimulatorServer:
        if self.git and self.git_store is None:
            if self.git_dir is None:
                self._git_tmp = tempfile.mkdtemp(prefix="github-sim-git-")
                self.git_store = GitRepoStore(self.world, self._git_tmp)
            else:
                self.git_store = GitRepoStore(self.world, self.git_dir)
                with self.world_lock:
                    self.git_store.write()
        httpd = ThreadingHTTPServer((self.host, self.port), _Handler)
        httpd.daemon_threads = True
        httpd.sim = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"github-sim-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # idle keep-alive connections would otherwise keep their threads
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.git_store = None
        tmp, self._git_tmp = self._git_tmp, None
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    def __enter__(self) -> SimulatorServer:
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- control

    def set_faults(self, faults: FaultConfig) -> None:
        with self._lock:
            self.faults = faults
            self._faultable = 0

    def mutate(self, **kwargs) -> MutationReport:
        """``World.mutate``; the repositories served over git are up to date when this returns."""
        kwargs.setdefault("seed", self.world.mutations + 1)
        with self.world_lock:
            report = self.world.mutate(**kwargs)
            if self.git_store is not None:
                self.git_store.refresh()
            return report

    def exhaust(self, token: str | None, for_s: float, *, token_fingerprint: str | None = None) -> None:
        """Primary-limit exhaustion: the token's core quota reads 0 until now + for_s."""
        fp = token_fingerprint or fingerprint(token)
        with self._lock:
            bucket = self._bucket(fp, "core")
            bucket.used = bucket.limit
            bucket.reset = time.time() + for_s

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = {
                "requests": 0,
                "by_endpoint": Counter(),
                "by_status": Counter(),
                "by_token": Counter(),
                "faults": Counter({"error": 0, "secondary": 0, "truncated": 0, "slow": 0}),
                "primary_limited": 0,
                "not_modified": 0,
            }
            self._git_stats = {"requests": 0, "by_service": Counter(), "by_status": Counter()}
            self._log: deque[dict] = deque(maxlen=100_000)

    def stats(self) -> dict:
        with self._lock:
            s = self._stats
            return {
                "requests": s["requests"],
                "by_endpoint": dict(s["by_endpoint"]),
                "by_status": {str(k): v for k, v in s["by_status"].items()},
                "by_token": dict(s["by_token"]),
                "faults": dict(s["faults"]),
                "primary_limited": s["primary_limited"],
                "not_modified": s["not_modified"],
                "log": list(self._log),
                # git smart HTTP, counted apart: no token, no rate limit, no faults
                "git": {
                    "requests": self._git_stats["requests"],
                    "by_service": dict(self._git_stats["by_service"]),
                    "by_status": {str(k): v for k, v in self._git_stats["by_status"].items()},
                },
            }

    # -- rate limits

    def _bucket(self, fp: str, resource: str) -> _Bucket:
        key = (fp, resource)
        if key not in self._buckets:
            limits = self.anon_limits if fp == ANON else self.limits
            self._buckets[key] = _Bucket(limits[resource])
        return self._buckets[key]

    def _rate_view(self, fp: str, resource: str, now: float) -> dict:
        b = self._bucket(fp, resource)
        if b.reset is None or now >= b.reset:
            used, reset = 0, now + self.rate_window_s
        else:
            used, reset = b.used, b.reset
        return {
            "limit": b.limit,
            "remaining": max(0, b.limit - used),
            "reset": int(reset),
            "used": used,
            "resource": resource,
        }

    def _rate_headers(self, fp: str, resource: str) -> dict[str, str]:
        view = self._rate_view(fp, resource, time.time())
        return {
            "x-ratelimit-limit": str(view["limit"]),
            "x-ratelimit-remaining": str(view["remaining"]),
            "x-ratelimit-reset": str(view["reset"]),
            "x-ratelimit-used": str(view["used"]),
            "x-ratelimit-resource": resource,
        }

    # -- request pipeline

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> _Response:
        """Serve one API request: auth, primary limit, route, conditional GET, faults, stats."""
        split = urlsplit(raw_path)
        path = split.path.rstrip("/") or "/"
        params = parse_qsl(split.query, keep_blank_values=True)
        host = headers.get("host") or f"{self.host}:{self.port}"
        base = f"http://{host}"
        with self._lock:
            self._seq += 1
            seq = self._seq
            faults = self.faults
        route, match = self._route(method, path)
        template = route.template if route else f"{method} (unknown)"
        resource = route.resource if route else "core"
        token = _token_of(headers.get("authorization", ""))
        fp = fingerprint(token)
        user_id: int | None = None
        fault: str | None = None
        charged = False
        primary_limited = False
        if token is not None:
            if self._tokens is None:
                user_id = 100 + int(fp, 16) % 900_000
            else:
                user_id = self._tokens.get(fp)
        if token is not None and user_id is None:
            resp = _json_response(
                401, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}
            )
        elif route is not None and route.free:
            resp = self._dispatch(
                route, _Request(method, path, params, base, headers, body, fp, user_id, match)
            )
        elif resource == "graphql" and token is None:
            resp = _json_response(
                401,
                {
                    "message": "This endpoint requires you to be authenticated.",
                    "documentation_url": GRAPHQL_AUTH_DOCS,
                },
            )
        else:
            now = time.time()
            with self._lock:
                bucket = self._bucket(fp, resource)
                bucket.refresh(now, self.rate_window_s)
                if bucket.remaining <= 0:
                    primary_limited = True
                else:
                    bucket.used += 1
                    charged = True
            if primary_limited:
                who = "127.0.0.1" if token is None else f"user ID {user_id}"
                resp = _json_response(
                    403,
                    {
                        "message": f"API rate limit exceeded for {who}.",
                        "documentation_url": DOCS + "/using-the-rest-api/rate-limits-for-the-rest-api",
                    },
                )
            else:
                if route is None:
                    resp = _json_response(404, _not_found().body)
                else:
                    req = _Request(method, path, params, base, headers, body, fp, user_id, match)
                    resp = self._dispatch(route, req)
                if resp.status == 200 and method == "GET":
                    # The body embeds this server's host:port; GitHub's host never changes, so the
                    # ETag ignores it (a restarted simulator answers 304 like GitHub would).
                    canonical = resp.body.replace(base.encode(), b"https://api.github.com")
                    etag = 'W/"' + hashlib.sha256(fp.encode() + b"\0" + canonical).hexdigest() + '"'
                    resp.headers["ETag"] = etag
                    if _etag_matches(headers.get("if-none-match"), etag):
                        resp = _Response(304, b"", {"ETag": etag})
                if resp.status == 304:
                    refund = token is not None  # GitHub does not charge authorized 304s
                else:
                    resp, fault = self._apply_faults(resp, faults, seq)
                    refund = fault in ("error", "secondary")
                if refund:
                    charged = False
                    with self._lock:
                        bucket.used = max(0, bucket.used - 1)
        if route is not None and route.free:
            resp.headers.update(self._rate_headers(fp, "core"))
        else:
            with self._lock:
                resp.headers.update(self._rate_headers(fp, resource))
        resp.headers.setdefault("X-GitHub-Request-Id", f"SIM:{seq:08X}")
        with self._lock:
            s = self._stats
            s["requests"] += 1
            s["by_endpoint"][template] += 1
            s["by_status"][resp.status] += 1
            s["by_token"][fp] += 1
            if primary_limited:
                s["primary_limited"] += 1
            if resp.status == 304:
                s["not_modified"] += 1
            if fault:
                s["faults"][fault] += 1
            if resp.sleep_s and fault != "slow":
                s["faults"]["slow"] += 1
            self._log.append(
                {
                    "seq": seq,
                    "method": method,
                    "path": raw_path,
                    "status": resp.status,
                    "token_fp": fp,
                    "resource": resource,
                    "fault": fault,
                    "charged": charged,
                }
            )
        return resp

    def handle_git(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> _Response:
        """One git smart-HTTP request (``headers`` lower-cased), answered by ``git http-backend``."""
        split = urlsplit(raw_path)
        m = GIT_PATH.match(split.path)
        store = self.git_store
        resp: _Response
        if m is None or store is None:
            resp = _Response(404, b"Repository not found.", {"Content-Type": "text/plain"})
        else:
            try:
                with self.world_lock:
                    full = store.resolve(m["owner"], m["name"])
                    if full is not None:
                        store.ensure(full)
                if full is None:
                    resp = _Response(404, b"Repository not found.", {"Content-Type": "text/plain"})
                else:
                    path_info = f"/{full}.git{m['rest']}"
                    cgi = http_backend(store.root, method, path_info, split.query, headers, body)
                    resp = _Response(cgi.status, cgi.body, dict(cgi.headers))
            except Exception as exc:  # a simulator bug must answer, not kill the connection
                traceback.print_exc(file=sys.stderr)
                message = f"simulator error: {type(exc).__name__}: {exc}"
                resp = _Response(500, message.encode(), {"Content-Type": "text/plain"})
        service = f"{method} {m['rest'] if m else '(unknown)'}"  # e.g. "POST /git-upload-pack"
        with self._lock:
            g = self._git_stats
            g["requests"] += 1
            g["by_service"][service] += 1
            g["by_status"][resp.status] += 1
        return resp

    def _renderer(self, req: _Request) -> _Renderer:
        return _Renderer(self.world, req.base, git=self.git_store is not None)

    def _apply_faults(self, resp: _Response, faults: FaultConfig, seq: int) -> tuple[_Response, str | None]:
        with self._lock:
            self._faultable += 1
            n = self._faultable
        rng = random.Random(faults.seed * 1_000_003 + seq)
        draws = [rng.random() for _ in range(5)]
        if faults.secondary_every and n % faults.secondary_every == 0:
            status = 403 if (n // faults.secondary_every) % 2 else 429
            out = _json_response(
                status,
                {
                    "message": SECONDARY_MESSAGE,
                    "documentation_url": DOCS
                    + "/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                },
            )
            out.headers["Retry-After"] = str(faults.retry_after_s)
            return out, "secondary"
        if draws[0] < faults.error_rate:
            return _json_response(502 if draws[3] < 0.5 else 503, {"message": "Server Error"}), "error"
        fault = None
        if draws[2] < faults.slow_rate and faults.slow_s > 0:
            resp.sleep_s = faults.slow_s
            fault = "slow"
        if draws[1] < faults.truncate_rate and resp.status == 200 and len(resp.body) > 1:
            resp.truncate_at = int(draws[4] * (len(resp.body) - 1))
            fault = "truncated"  # when it is also slow, the log names the truncation and both are counted
        return resp, fault

    def _route(self, method: str, path: str) -> tuple[_Route | None, dict[str, str]]:
        for route in _ROUTES:
            m = route.pattern.fullmatch(path)
            if m and route.method == method:
                return route, {k: unquote(v) for k, v in m.groupdict().items()}
        return None, {}

    def _dispatch(self, route: _Route, req: _Request) -> _Response:
        try:
            with self.world_lock:
                data, extra = getattr(self, "_h_" + route.handler)(req)
            resp = _json_response(200, data)
            resp.headers.update(extra)
            return resp
        except ApiError as err:
            resp = _json_response(err.status, err.body)
            resp.headers.update(err.headers)
            return resp
        except Exception as exc:  # a simulator bug must answer, not kill the connection
            traceback.print_exc(file=sys.stderr)
            return _json_response(500, {"message": f"simulator error: {type(exc).__name__}: {exc}"})

    # -- helpers for handlers

    def _repo(self, req: _Request) -> Repo:
        full = f"{req.match['owner']}/{req.match['repo']}"
        repo = self.world.repos.get(full)
        if repo is None:
            lowered = full.lower()
            repo = next((r for r in self.world.repos.values() if r.full_name.lower() == lowered), None)
        if repo is None:
            raise _not_found()
        return repo

    def _item(self, req: _Request) -> Issue:
        it = self._repo(req).issues.get(int(req.match["number"]))
        if it is None:
            raise _not_found()
        return it

    def _pull_item(self, req: _Request) -> Issue:
        it = self._item(req)
        if it.pull is None:
            raise _not_found()
        return it

    def _per_page(self, req: _Request) -> int:
        raw = req.arg("per_page")
        try:
            n = int(raw) if raw not in (None, "") else 30
        except ValueError:
            n = 30
        return max(1, min(100, n))

    def _since(self, req: _Request) -> datetime | None:
        raw = req.arg("since")
        if raw in (None, ""):
            return None
        try:
            return _parse_since(raw)
        except ValueError as exc:
            raise _validation("since") from exc

    def _choice(self, req: _Request, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = req.arg(name) or default
        if value not in allowed:
            raise _validation(name)
        return value

    def _page(self, req: _Request, rows: list, key: Callable[[object], tuple]) -> tuple[list, dict[str, str]]:
        """Keyset pagination: rows are sorted by ``key``; ``after`` resumes strictly after a key."""
        per_page = self._per_page(req)
        rows = sorted(rows, key=key)
        keys = [key(r) for r in rows]
        after = req.arg("after")
        page_raw = req.arg("page")
        if after:
            start = bisect.bisect_right(keys, _decode_cursor(after))
        elif page_raw not in (None, ""):
            try:
                page = max(1, int(page_raw))
            except ValueError:
                page = 1
            if page > self.max_page:
                raise ApiError(422, PAGE_422, {"status": "422"})
            start = (page - 1) * per_page
        else:
            start = 0
        chunk = rows[start : start + per_page]
        headers: dict[str, str] = {}
        if start + per_page < len(rows) and chunk:
            params = [(k, v) for k, v in req.params if k not in ("after", "page", "before")]
            params.append(("after", _encode_cursor(keys[start + len(chunk) - 1])))
            headers["Link"] = f'<{req.base}{req.path}?{urlencode(params)}>; rel="next"'
        return chunk, headers

    # -- handlers: each returns (json data, extra headers)

    def _h_rate_limit(self, req: _Request) -> tuple[dict, dict]:
        now = time.time()
        with self._lock:
            res = {r: self._rate_view(req.fp, r, now) for r in RESOURCES}
        return {"resources": res, "rate": res["core"]}, {}

    def _h_get_user(self, req: _Request) -> tuple[dict, dict]:
        if req.user_id is None:
            raise ApiError(401, "Requires authentication", {"status": "401"})
        login = f"sim-user-{req.user_id}"
        return {
            "login": login,
            "id": req.user_id,
            "node_id": _node_id("U", req.user_id),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{req.user_id}?v=4",
            "gravatar_id": "",
            "url": f"{req.base}/users/{login}",
            "html_url": f"https://github.com/{login}",
            "type": "User",
            "user_view_type": "public",
            "site_admin": False,
            "name": None,
        }, {}

    def _h_get_users(self, req: _Request) -> tuple[dict, dict]:
        login = req.match["login"]
        if login not in self.world.users:
            login = next((u for u in self.world.users if u.lower() == login.lower()), "")
        if not login:
            raise _not_found()
        return self._renderer(req).user_full(login), {}

    def _h_get_repo(self, req: _Request) -> tuple[dict, dict]:
        return self._renderer(req).repo(self._repo(req), full=True), {}

    def _h_list_issues(self, req: _Request) -> tuple[list, dict]:
        repo = self._repo(req)
        state = self._choice(req, "state", ("open", "closed", "all"), "open")
        sort = self._choice(req, "sort", ("created", "updated", "comments"), "created")
        direction = self._choice(req, "direction", ("asc", "desc"), "desc")
        since = self._since(req)
        labels = [x.strip() for x in (req.arg("labels") or "").split(",") if x.strip()]
        creator = req.arg("creator")
        rows = [
            it
            for it in repo.issues.values()
            if (state == "all" or it.state == state)
            and (since is None or it.updated_at >= since)
            and all(lb in it.labels for lb in labels)
            and (creator is None or it.user == creator)
        ]
        sign = -1 if direction == "desc" else 1

        def key(it: Issue) -> tuple:
            v = {"created": _ts(it.created_at), "updated": _ts(it.updated_at), "comments": len(it.comments)}[
                sort
            ]
            return (sign * v, sign * it.id)

        chunk, headers = self._page(req, rows, key)
        r = self._renderer(req)
        return [r.issue(it) for it in chunk], headers

    def _h_get_issue(self, req: _Request) -> tuple[dict, dict]:
        return self._renderer(req).issue(self._item(req), detail=True), {}

    def _comment_rows(self, req: _Request, rows: list, default_dir: str = "asc") -> tuple[list, dict]:
        sort = self._choice(req, "sort", ("created", "updated"), "created")
        direction = self._choice(req, "direction", ("asc", "desc"), default_dir)
        since = self._since(req)
        if since is not None:
            rows = [c for c in rows if c.updated_at >= since]
        sign = -1 if direction == "desc" else 1

        def key(c) -> tuple:
            return (sign * _ts(c.created_at if sort == "created" else c.updated_at), sign * c.id)

        return self._page(req, rows, key)

    def _h_get_issue_comment(self, req: _Request) -> tuple[dict, dict]:
        cid = int(req.match["comment_id"])
        for it in self._repo(req).issues.values():
            for c in it.comments:
                if c.id == cid:
                    return self._renderer(req).issue_comment(c), {}
        raise _not_found()

    def _h_get_review_comment(self, req: _Request) -> tuple[dict, dict]:
        cid = int(req.match["comment_id"])
        for it in self._repo(req).issues.values():
            for c in it.pull.review_comments if it.pull else ():
                if c.id == cid:
                    return self._renderer(req).review_comment(it, c), {}
        raise _not_found()

    def _h_list_issue_comments(self, req: _Request) -> tuple[list, dict]:
        it = self._item(req)
        since = self._since(req)
        rows = [c for c in it.comments if since is None or c.updated_at >= since]
        chunk, headers = self._page(req, rows, lambda c: (_ts(c.created_at), c.id))
        r = self._renderer(req)
        return [r.issue_comment(c) for c in chunk], headers

    def _h_list_repo_issue_comments(self, req: _Request) -> tuple[list, dict]:
        repo = self._repo(req)
        rows = [c for it in repo.issues.values() for c in it.comments]
        chunk, headers = self._comment_rows(req, rows)
        r = self._renderer(req)
        return [r.issue_comment(c) for c in chunk], headers

    def _h_list_pulls(self, req: _Request) -> tuple[list, dict]:
        repo = self._repo(req)
        state = self._choice(req, "state", ("open", "closed", "all"), "open")
        sort = self._choice(req, "sort", ("created", "updated", "popularity", "long-running"), "created")
        direction = self._choice(req, "direction", ("asc", "desc"), "desc" if sort == "created" else "asc")
        base = req.arg("base")
        head = req.arg("head")
        rows = []
        for it in repo.issues.values():
            pr = it.pull
            if pr is None or (state != "all" and it.state != state) or (base and pr.base_ref != base):
                continue
            if head:
                user, _, ref = head.partition(":")
                if (ref and (pr.head_user != user or pr.head_ref != ref)) or (
                    not ref and pr.head_user != user
                ):
                    continue
            rows.append(it)
        sign = -1 if direction == "desc" else 1

        def key(it: Issue) -> tuple:
            pr = it.pull
            assert pr is not None
            v = {
                "created": _ts(it.created_at),
                "updated": _ts(it.updated_at),
                "popularity": len(it.comments) + len(pr.review_comments),
                "long-running": _ts(it.updated_at) - _ts(it.created_at),
            }[sort]
            return (sign * v, sign * it.id)

        chunk, headers = self._page(req, rows, key)
        r = self._renderer(req)
        return [r.pull(it) for it in chunk], headers

    def _h_get_pull(self, req: _Request) -> tuple[dict, dict]:
        return self._renderer(req).pull(self._pull_item(req), detail=True), {}

    def _h_list_pull_files(self, req: _Request) -> tuple[list, dict]:
        it = self._pull_item(req)
        assert it.pull is not None
        files = list(enumerate(it.pull.files[:3000]))  # GitHub lists at most 3000 files
        chunk, headers = self._page(req, files, lambda x: (x[0],))
        r = self._renderer(req)
        return [r.pull_file(it, f) for _, f in chunk], headers

    def _h_list_pull_commits(self, req: _Request) -> tuple[list, dict]:
        it = self._pull_item(req)
        assert it.pull is not None
        commits = list(enumerate(it.pull.commits[:250]))  # GitHub lists at most 250 commits
        chunk, headers = self._page(req, commits, lambda x: (x[0],))
        r = self._renderer(req)
        return [r.commit(it, c) for _, c in chunk], headers

    def _h_list_pull_reviews(self, req: _Request) -> tuple[list, dict]:
        it = self._pull_item(req)
        assert it.pull is not None
        chunk, headers = self._page(req, it.pull.reviews, lambda rv: (_ts(rv.submitted_at), rv.id))
        r = self._renderer(req)
        return [r.review(it, rv) for rv in chunk], headers

    def _h_list_pull_review_comments(self, req: _Request) -> tuple[list, dict]:
        it = self._pull_item(req)
        assert it.pull is not None
        chunk, headers = self._comment_rows(req, it.pull.review_comments)
        r = self._renderer(req)
        return [r.review_comment(it, c) for c in chunk], headers

    def _h_list_repo_review_comments(self, req: _Request) -> tuple[list, dict]:
        repo = self._repo(req)
        rows = [(it, c) for it in repo.issues.values() if it.pull for c in it.pull.review_comments]
        owner = {c.id: it for it, c in rows}
        chunk, headers = self._comment_rows(req, [c for _, c in rows])
        r = self._renderer(req)
        return [r.review_comment(owner[c.id], c) for c in chunk], headers

    def _h_search_repos(self, req: _Request) -> tuple[dict, dict]:
        q = (req.arg("q") or "").strip()
        if not q:
            raise _validation("q", "Search", "missing")
        matches = _search_repositories(self.world, q)
        sort = req.arg("sort")
        desc = (req.arg("order") or "desc") != "asc"
        sort_key: Callable[[Repo], tuple] = {
            "stars": lambda r: (r.stargazers_count, -r.id),
            "forks": lambda r: (r.forks_count, -r.id),
            "updated": lambda r: (_ts(r.updated_at), -r.id),
            "help-wanted-issues": lambda r: (
                sum("help wanted" in i.labels for i in r.issues.values()),
                -r.id,
            ),
        }.get(sort or "", lambda r: (r.stargazers_count, -r.id))  # best match: popularity stands in
        matches.sort(key=sort_key, reverse=desc)
        per_page = self._per_page(req)
        try:
            page = max(1, int(req.arg("page") or 1))
        except ValueError:
            page = 1
        capped = matches[:1000]  # GitHub serves at most the first 1000 search results
        if (page - 1) * per_page >= 1000:
            raise ApiError(422, "Only the first 1000 search results are available", {"status": "422"})
        chunk = capped[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(capped) // per_page))
        links = []

        def link(p: int, rel: str) -> str:
            params = [(k, v) for k, v in req.params if k != "page"] + [("page", str(p))]
            return f'<{req.base}{req.path}?{urlencode(params)}>; rel="{rel}"'

        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        r = self._renderer(req)
        data = {
            "total_count": len(matches),
            "incomplete_results": False,
            "items": [{**r.repo(repo), "score": 1.0} for repo in chunk],
        }
        return data, ({"Link": ", ".join(links)} if links else {})

    def _h_graphql(self, req: _Request) -> tuple[dict, dict]:
        try:
            payload = json.loads(req.body or b"{}")
        except ValueError as exc:
            raise ApiError(400, "Problems parsing JSON") from exc
        query = payload.get("query") if isinstance(payload, dict) else None
        if not isinstance(query, str):
            return {"errors": [{"message": "A query attribute must be specified and must be a string."}]}, {}
        with self._lock:
            view = self._rate_view(req.fp, "graphql", time.time())
        rate = {
            "cost": 1,
            "limit": view["limit"],
            "remaining": view["remaining"],
            "resetAt": datetime.fromtimestamp(view["reset"], tz=self.world.now.tzinfo),
            "used": view["used"],
        }
        return graphql_api.execute(
            self.world,
            query,
            payload.get("variables") or {},
            rate=rate,
            operation_name=payload.get("operationName"),
        ), {}

    # -- admin

    def admin(self, method: str, raw_path: str, body: bytes) -> _Response:
        split = urlsplit(raw_path)
        path = split.path.rstrip("/")
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            return _json_response(400, {"message": "Problems parsing JSON"})
        try:
            if method == "GET" and path == "/_simulator/stats":
                return _json_response(200, self.stats())
            if method == "POST" and path == "/_simulator/stats/reset":
                self.reset_stats()
                return _json_response(200, {"ok": True})
            if method == "POST" and path == "/_simulator/mutate":
                return _json_response(200, self.mutate(**data).to_dict())
            if method == "POST" and path == "/_simulator/faults":
                self.set_faults(FaultConfig.from_dict(data))
                return _json_response(200, self.faults.to_dict())
            if method == "POST" and path == "/_simulator/exhaust":
                self.exhaust(
                    data.get("token"),
                    float(data.get("for_s", 60)),
                    token_fingerprint=data.get("token_fingerprint"),
                )
                return _json_response(200, {"ok": True})
            if method == "GET" and path == "/_simulator/truth":
                repos = dict(parse_qsl(split.query)).get("repos")
                with self.world_lock:
                    return _json_response(200, truth_json(self.world, repos.split(",") if repos else None))
        except (TypeError, ValueError) as exc:
            return _json_response(400, {"message": str(exc)})
        return _json_response(404, {"message": "Not Found"})


def truth_json(world: World, repos: list[str] | None = None) -> dict:
    """``keys()`` and ``expected_links()`` as JSON (lists, sorted)."""
    keys = world.keys(repos=repos)
    links = world.expected_links()
    wanted = set(repos) if repos else None
    return {
        "now": _iso(world.now),
        "keys": {t: sorted([list(k) for k in v]) for t, v in keys.items()},
        "expected_links": [
            {"repo": r, "number": n, "closes": sorted(ids)}
            for (r, n), ids in sorted(links.items())
            if wanted is None or r in wanted
        ],
    }


# ------------------------------------------------------------------------------------------------ search

_RANGE = re.compile(r"^(>=|<=|>|<)?(\d+|\*)(?:\.\.(\d+|\*))?$")


def _num_matches(value: int, spec: str) -> bool:
    m = _RANGE.match(spec)
    if not m:
        return False
    op, lo, hi = m.groups()
    if hi is not None:
        return (lo == "*" or value >= int(lo)) and (hi == "*" or value <= int(hi))
    if lo == "*":
        return True
    n = int(lo)
    return {">=": value >= n, "<=": value <= n, ">": value > n, "<": value < n, None: value == n}[op]


def _search_repositories(world: World, q: str) -> list[Repo]:
    """GitHub repository search over the listed repos. Forks are excluded unless ``fork:true|only``."""
    quals: list[tuple[str, str]] = []
    words: list[str] = []
    for tok in q.split():
        key, sep, val = tok.partition(":")
        if sep and key.lower() in {
            "stars",
            "forks",
            "language",
            "license",
            "fork",
            "archived",
            "user",
            "org",
            "topic",
            "is",
            "in",
            "repo",
            "size",
            "pushed",
            "created",
        }:
            quals.append((key.lower(), val))
        else:
            words.append(tok.lower())
    fork_mode = next((v.lower() for k, v in quals if k == "fork"), "false")
    scopes = {v.lower() for k, v in quals if k == "in"} or {"name", "description"}
    out = []
    for repo in world.listed_repos():
        if fork_mode == "only" and not repo.fork or fork_mode not in ("true", "only") and repo.fork:
            continue
        ok = True
        for key, val in quals:
            v = val.lower()
            if key == "stars":
                ok = _num_matches(repo.stargazers_count, val)
            elif key == "forks":
                ok = _num_matches(repo.forks_count, val)
            elif key == "language":
                ok = (repo.language or "").lower() == v
            elif key == "license":
                ok = repo.license is not None and LICENSES.get(repo.license, ("",))[0] == v
            elif key == "archived":
                ok = repo.archived == (v == "true")
            elif key in ("user", "org"):
                ok = repo.owner.lower() == v
            elif key == "topic":
                ok = v in [t.lower() for t in repo.topics]
            elif key == "repo":
                ok = repo.full_name.lower() == v
            elif key == "is":
                ok = v != "private"
            elif key == "pushed":
                ok = _date_matches(repo.pushed_at, val)
            elif key == "created":
                ok = _date_matches(repo.created_at, val)
            if not ok:
                break
        if not ok:
            continue
        haystack = " ".join(
            ([repo.name.lower(), repo.full_name.lower()] if "name" in scopes else [])
            + ([(repo.description or "").lower()] if "description" in scopes else [])
        )
        if all(w in haystack for w in words):
            out.append(repo)
    return out


def _date_matches(value: datetime, spec: str) -> bool:
    m = re.match(r"^(>=|<=|>|<)?(\d{4}-\d{2}-\d{2})$", spec)
    if not m:
        return True
    op, day = m.groups()
    d = value.strftime("%Y-%m-%d")
    return {">=": d >= day, "<=": d <= day, ">": d > day, "<": d < day, None: d == day}[op]


# ----------------------------------------------------------------------------------------------- plumbing


def _token_of(header: str) -> str | None:
    parts = header.strip().split(None, 1)
    if len(parts) == 2 and parts[0].lower() in ("token", "bearer"):
        return parts[1].strip()
    return None


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = {c.strip() for c in header.split(",")}
    return etag in candidates or etag.removeprefix("W/") in candidates or "*" in candidates


def _json_response(status: int, data) -> _Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return _Response(status, body, {"Content-Type": "application/json; charset=utf-8"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GitHub.com"  # the Server header GitHub sends
    disable_nagle_algorithm = True  # headers and body go out in two writes; avoid the 40 ms delayed-ACK stall
    timeout = 60  # idle keep-alive connections end after a minute

    def setup(self) -> None:
        super().setup()
        with self.server.sim._lock:  # type: ignore[attr-defined]
            self.server.sim._conns.add(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        with self.server.sim._lock:  # type: ignore[attr-defined]
            self.server.sim._conns.discard(self.connection)  # type: ignore[attr-defined]
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args) -> None:
        pass  # the request log lives in stats()

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        sim: SimulatorServer = self.server.sim  # type: ignore[attr-defined]
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = self._read_chunked()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
        if self.path.startswith("/_simulator/"):
            resp = sim.admin(method, self.path, body)
        elif sim.git and GIT_PATH.match(urlsplit(self.path).path):
            headers = {k.lower(): v for k, v in self.headers.items()}
            resp = sim.handle_git(method, self.path, headers, body)
        else:
            headers = {k.lower(): v for k, v in self.headers.items()}
            resp = sim.handle(method, self.path, headers, body)
        if resp.sleep_s:
            time.sleep(resp.sleep_s)
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        if resp.status != 304:
            self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if resp.status == 304:
            return
        if resp.truncate_at is not None:
            self.wfile.write(resp.body[: resp.truncate_at])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        self.wfile.write(resp.body)

    def _read_chunked(self) -> bytes:
        """A ``Transfer-Encoding: chunked`` request body (git sends large fetch requests this way)."""
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():  # trailers, then the blank line
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()
