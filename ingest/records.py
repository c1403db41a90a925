"""GitHub JSON -> raw table rows (REST and GraphQL shapes).

Pure: no I/O. The one idea: one function per row kind, each validating the fields the tables
need; a malformed item raises ``BadRecord`` with a short reason and becomes a reject row
instead of crashing the crawl.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from ingest.filters import is_test_path
from ingest.links import Links
from ingest.schema import record_id

GHOST = "ghost"  # GitHub shows deleted accounts as this user; GraphQL gives a null author


class BadRecord(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def ts(value: Any, field: str = "timestamp") -> datetime | None:
    """GitHub ISO-8601 timestamp (``2024-01-01T00:00:00Z``) -> aware UTC datetime."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRecord(f"bad_{field}")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise BadRecord(f"bad_{field}") from None


def _req(js: dict[str, Any], key: str, typ: type | tuple[type, ...]) -> Any:
    v = js.get(key)
    if not isinstance(v, typ) or isinstance(v, bool) and typ is int:
        raise BadRecord(f"missing_{key}")
    return v


def _user(u: Any) -> tuple[str, str | None]:
    if not isinstance(u, dict) or not u.get("login"):
        return GHOST, "User"
    return u["login"], u.get("type") or u.get("__typename")


def _number_from_url(url: Any, marker: str) -> int:
    m = re.search(rf"/{marker}/(\d+)(?:$|[/?#])", url or "")
    if not m:
        raise BadRecord(f"missing_{marker}_url")
    return int(m.group(1))


def payload(js: Any, limit: int = 4000) -> str:
    text = json.dumps(js, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def repo_row(js: dict[str, Any], crawled_at: datetime) -> dict[str, Any]:
    full = _req(js, "full_name", str)
    lic = js.get("license") or {}
    parent = js.get("parent") or {}
    return {
        "repo": full,
        "repo_id": js.get("id"),
        "owner": (js.get("owner") or {}).get("login") or full.split("/")[0],
        "name": js.get("name") or full.split("/")[1],
        "description": js.get("description"),
        "stars": js.get("stargazers_count"),
        "forks": js.get("forks_count"),
        "open_issues": js.get("open_issues_count"),
        "language": js.get("language"),
        "topics": list(js.get("topics") or []),
        "license": lic.get("spdx_id"),
        "default_branch": js.get("default_branch"),
        "fork": bool(js.get("fork")),
        "parent": parent.get("full_name"),
        "archived": bool(js.get("archived")),
        "created_at": ts(js.get("created_at"), "created_at"),
        "updated_at": ts(js.get("updated_at"), "updated_at"),
        "pushed_at": ts(js.get("pushed_at"), "pushed_at"),
        "clone_url": js.get("clone_url"),
        "html_url": js.get("html_url"),
        "partial": False,
        "source": "api",
        "crawled_at": crawled_at,
    }


def is_pull_item(js: dict[str, Any]) -> bool:
    """An /issues item is a PR only if ``pull_request.html_url`` is set (GitHub sends a
    ``pull_request`` object full of nulls on some plain issues)."""
    pr = js.get("pull_request")
    return isinstance(pr, dict) and bool(pr.get("html_url") or pr.get("url"))


def issue_row(repo: str, js: dict[str, Any], crawled_at: datetime) -> dict[str, Any]:
    number = _req(js, "number", int)
    author, author_type = _user(js.get("user"))
    updated = ts(js.get("updated_at"), "updated_at")
    if updated is None:
        raise BadRecord("missing_updated_at")
    return {
        "id": record_id(repo, number),
        "repo": repo,
        "number": number,
        "title": js.get("title"),
        "body": js.get("body"),
        "state": js.get("state"),
        "state_reason": js.get("state_reason"),
        "author": author,
        "author_type": author_type,
        "author_association": js.get("author_association"),
        "labels": [lb["name"] if isinstance(lb, dict) else str(lb) for lb in js.get("labels") or []],
        "comments": js.get("comments"),
        "locked": js.get("locked"),
        "created_at": ts(js.get("created_at"), "created_at"),
        "updated_at": updated,
        "closed_at": ts(js.get("closed_at"), "closed_at"),
        "is_pull_request": is_pull_item(js),
        "html_url": js.get("html_url"),
        "source": "api",
        "crawled_at": crawled_at,
    }


def pull_row(repo: str, js: dict[str, Any], default_branch: str | None, links: Links,
             crawled_at: datetime) -> dict[str, Any]:
    number = _req(js, "number", int)
    base = js.get("base") or {}
    head = js.get("head") or {}
    author, author_type = _user(js.get("user"))
    updated = ts(js.get("updated_at"), "updated_at")
    if updated is None:
        raise BadRecord("missing_updated_at")
    merged_at = ts(js.get("merged_at"), "merged_at")
    return {
        "id": record_id(repo, number),
        "repo": repo,
        "number": number,
        "title": js.get("title"),
        "body": js.get("body"),
        "state": js.get("state"),
        "draft": js.get("draft"),
        # ``merged`` is absent from list JSON; merged_at is set exactly when the PR was merged.
        "merged": bool(js["merged"]) if "merged" in js else merged_at is not None,
        "merged_at": merged_at,
        "merge_commit_sha": js.get("merge_commit_sha"),
        "base_ref": base.get("ref"),
        "base_sha": base.get("sha"),
        "head_ref": head.get("ref"),
        "head_sha": head.get("sha"),
        "head_repo": (head.get("repo") or {}).get("full_name"),
        "base_is_default": base.get("ref") == default_branch if default_branch else None,
        "author": author,
        "author_type": author_type,
        "author_association": js.get("author_association"),
        "labels": [lb["name"] if isinstance(lb, dict) else str(lb) for lb in js.get("labels") or []],
        "created_at": ts(js.get("created_at"), "created_at"),
        "updated_at": updated,
        "closed_at": ts(js.get("closed_at"), "closed_at"),
        "linked_issues": list(links.closes),
        "mentioned_issues": list(links.mentions),
        "partial": False,
        "source": "api",
        "crawled_at": crawled_at,
    }


def _comment_base(repo: str, number: int, kind: str, cid: int, user: Any, crawled_at: datetime) -> dict[str, Any]:
    author, author_type = _user(user)
    return {
        "record_id": record_id(repo, number), "repo": repo, "number": number, "kind": kind,
        "comment_id": cid, "author": author, "author_type": author_type, "author_association": None,
        "body": None, "review_state": None, "review_id": None, "in_reply_to": None, "path": None,
        "diff_hunk": None, "position": None, "line": None, "side": None, "commit_id": None,
        "created_at": None, "updated_at": None, "source": "api", "crawled_at": crawled_at,
    }


def issue_comment_row(repo: str, js: dict[str, Any], crawled_at: datetime) -> dict[str, Any]:
    number = _number_from_url(js.get("issue_url"), "issues")
    row = _comment_base(repo, number, "issue", _req(js, "id", int), js.get("user"), crawled_at)
    row.update(body=js.get("body"), author_association=js.get("author_association"),
               created_at=ts(js.get("created_at"), "created_at"),
               updated_at=ts(js.get("updated_at"), "updated_at"))
    return row


def review_comment_row(repo: str, js: dict[str, Any], crawled_at: datetime) -> dict[str, Any]:
    number = _number_from_url(js.get("pull_request_url"), "pulls")
    row = _comment_base(repo, number, "review_comment", _req(js, "id", int), js.get("user"), crawled_at)
    row.update(
        body=js.get("body"), author_association=js.get("author_association"),
        review_id=js.get("pull_request_review_id"), in_reply_to=js.get("in_reply_to_id"),
        path=js.get("path"), diff_hunk=js.get("diff_hunk"),
        position=js.get("position") if js.get("position") is not None else js.get("original_position"),
        line=js.get("line") if js.get("line") is not None else js.get("original_line"),
        side=js.get("side"), commit_id=js.get("commit_id"),
        created_at=ts(js.get("created_at"), "created_at"), updated_at=ts(js.get("updated_at"), "updated_at"),
    )
    return row


def review_row(repo: str, number: int, js: dict[str, Any], crawled_at: datetime) -> dict[str, Any]:
    """A review from REST (``id``, ``user``, ``submitted_at``) or GraphQL (``fullDatabaseId``,
    ``author``, ``submittedAt``). GraphQL's 32-bit ``databaseId`` cannot hold today's review ids;
    ``fullDatabaseId`` is a BigInt sent as a string."""
    rid = js.get("id") if "user" in js or "submitted_at" in js else js.get("fullDatabaseId", js.get("databaseId"))
    if isinstance(rid, str) and rid.isdigit():
        rid = int(rid)
    if not isinstance(rid, int) or isinstance(rid, bool):
        raise BadRecord("missing_review_id")
    user = js.get("user") if "user" in js else js.get("author")
    submitted = ts(js.get("submitted_at", js.get("submittedAt")), "submitted_at")
    row = _comment_base(repo, number, "review", rid, user, crawled_at)
    row.update(body=js.get("body"), review_state=js.get("state"), author_association=js.get("author_association"),
               commit_id=js.get("commit_id"), created_at=submitted, updated_at=submitted)
    return row


def file_row(repo: str, number: int, head_sha: str | None, js: dict[str, Any],
             crawled_at: datetime) -> dict[str, Any]:
    path = _req(js, "filename", str)
    patch = js.get("patch")
    changes = js.get("changes") or 0
    status = js.get("status")
    return {
        "record_id": record_id(repo, number), "repo": repo, "number": number, "path": path,
        "status": status, "previous_path": js.get("previous_filename"),
        "additions": js.get("additions"), "deletions": js.get("deletions"), "changes": js.get("changes"),
        "patch": patch,
        # GitHub omits ``patch`` for binary files (0 line changes) and for diffs too large to
        # render (line changes > 0); a pure rename has neither.
        "is_binary": patch is None and changes == 0 and status not in ("renamed", "removed"),
        "is_test": is_test_path(path),
        "base_blob_sha": None,
        "head_blob_sha": js.get("sha") if status != "removed" else None,
        "head_sha": head_sha,
        "source": "api", "crawled_at": crawled_at,
    }


def commit_row(repo: str, number: int, position: int, js: dict[str, Any], crawled_at: datetime) -> dict[str, Any]:
    """A PR commit from REST (``sha``, ``commit{...}``) or GraphQL (``commit{oid, ...}``)."""
    c = js.get("commit") or {}
    if "oid" in c:  # GraphQL PullRequestCommit
        sha, author, committer = c.get("oid"), c.get("author") or {}, c.get("committer") or {}
        login = (author.get("user") or {}).get("login")
        authored = c.get("authoredDate") or author.get("date")
        committed = c.get("committedDate") or committer.get("date")
    else:
        sha, author, committer = js.get("sha"), c.get("author") or {}, c.get("committer") or {}
        login = (js.get("author") or {}).get("login")
        authored, committed = author.get("date"), committer.get("date")
    if not isinstance(sha, str) or not sha:
        raise BadRecord("missing_sha")
    return {
        "record_id": record_id(repo, number), "repo": repo, "number": number, "sha": sha,
        "position": position, "message": c.get("message"),
        "author_name": author.get("name"), "author_email": author.get("email"), "author_login": login,
        "authored_at": ts(authored, "authored_at"),
        "committer_name": committer.get("name"), "committer_email": committer.get("email"),
        "committed_at": ts(committed, "committed_at"),
        "source": "api", "crawled_at": crawled_at,
    }
