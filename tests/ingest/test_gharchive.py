"""The GH Archive source: event shapes of every era -> exact rows, latest state, repository
selection, bots, rejects, resume, bad input, remote files, and API enrichment of partial records.

Hour files are written by the tests (gzip, one compact JSON event per line, as GH Archive writes
them). Payload objects are copied, with only the fields the tables use, from the example payloads
of ``@octokit/webhooks-examples`` 7.6.1 (MIT licence, (c) Octokit contributors; file
``api.github.com/index.json``: ``issues``/opened, ``issue_comment``/created, ``pull_request``/opened,
``pull_request_review``/submitted, ``pull_request_review_comment``/created), wrapped in the Events
API envelope GH Archive stores. The 2013 line is GH Archive's Timeline format (values from a real
2013-01-04 joyent/node ``IssueCommentEvent``); the 2025-10 line is a ``PullRequestEvent`` trimmed as
GitHub's Events API does since 2025-10-07.
"""

from __future__ import annotations

import copy
import functools
import gzip
import http.server
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ingest import run as ingest_run
from ingest.api_source import RepoCrawler, partial_records
from ingest.config import CrawlConfig, GhArchiveConfig
from ingest.errors import ConfigError
from ingest.gharchive import EVENT_TYPES, LineFilter, map_event
from ingest.gharchive_source import gzip_lines, ingest_gharchive, plan
from ingest.run import crawl
from ingest.store import DataRoot

REPO = "Codertocat/Hello-World"
RID = 186853002


def t(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


# -- payload objects (@octokit/webhooks-examples, MIT; fields the tables read) ------------------------

USER = {"login": "Codertocat", "id": 21031067, "type": "User", "site_admin": False}
BUG = {"id": 1362934389, "name": "bug", "color": "d73a4a", "default": True}
REPO_OBJ = {"id": RID, "name": "Hello-World", "full_name": REPO, "fork": False, "default_branch": "master"}

ISSUE_1 = {
    "url": "https://api.github.com/repos/Codertocat/Hello-World/issues/1",
    "html_url": "https://github.com/Codertocat/Hello-World/issues/1", "id": 444500041, "number": 1,
    "title": "Spelling error in the README file", "user": USER, "labels": [BUG], "state": "open", "locked": False,
    "assignee": None, "assignees": [], "milestone": None, "comments": 0, "created_at": "2019-05-15T15:20:18Z",
    "updated_at": "2019-05-15T15:20:18Z", "closed_at": None, "author_association": "OWNER",
    "body": "It looks like you accidently spelled 'commit' with two 't's.",
}
COMMENT = {
    "url": "https://api.github.com/repos/Codertocat/Hello-World/issues/comments/492700400",
    "html_url": "https://github.com/Codertocat/Hello-World/issues/1#issuecomment-492700400",
    "issue_url": "https://api.github.com/repos/Codertocat/Hello-World/issues/1", "id": 492700400, "user": USER,
    "created_at": "2019-05-15T15:20:21Z", "updated_at": "2019-05-15T15:20:21Z", "author_association": "OWNER",
    "body": "You are totally right! I'll get this fixed right away.",
}
PR_2 = {
    "url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/2", "id": 279147437,
    "html_url": "https://github.com/Codertocat/Hello-World/pull/2",
    "issue_url": "https://api.github.com/repos/Codertocat/Hello-World/issues/2", "number": 2, "state": "open",
    "locked": False, "title": "Update the README with new information.", "user": USER,
    "body": "This is a pretty simple change that we need to pull into master.",
    "created_at": "2019-05-15T15:20:33Z", "updated_at": "2019-05-15T15:20:33Z", "closed_at": None,
    "merged_at": None, "merge_commit_sha": None, "assignee": None, "assignees": [], "requested_reviewers": [],
    "labels": [], "milestone": None, "draft": False,
    "head": {"label": "Codertocat:changes", "ref": "changes", "sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
             "user": USER, "repo": REPO_OBJ},
    "base": {"label": "Codertocat:master", "ref": "master", "sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
             "user": USER, "repo": REPO_OBJ},
    "author_association": "OWNER", "merged": False, "mergeable": None, "merged_by": None, "comments": 0,
    "review_comments": 0, "commits": 1, "additions": 1, "deletions": 1, "changed_files": 1,
}
PR_2_REVIEWED = {**PR_2, "updated_at": "2019-05-15T15:20:38Z",
                 "merge_commit_sha": "c4295bd74fb0f4fda03689c3df3f2803b658fd85"}
REVIEW = {
    "id": 237895671, "user": USER, "body": None, "commit_id": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
    "submitted_at": "2019-05-15T15:20:38Z", "state": "commented",
    "html_url": "https://github.com/Codertocat/Hello-World/pull/2#pullrequestreview-237895671",
    "pull_request_url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/2", "author_association": "OWNER",
}
REVIEW_COMMENT = {
    "url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/comments/284312630",
    "pull_request_review_id": 237895671, "id": 284312630, "diff_hunk": "@@ -1 +1 @@\n-# Hello-World",
    "path": "README.md", "position": 1, "original_position": 1,
    "commit_id": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
    "original_commit_id": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "user": USER,
    "body": "Maybe you should use more emoji on this line.", "created_at": "2019-05-15T15:20:37Z",
    "updated_at": "2019-05-15T15:20:38Z",
    "html_url": "https://github.com/Codertocat/Hello-World/pull/2#discussion_r284312630",
    "pull_request_url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/2", "author_association": "OWNER",
}


def ev(etype: str, payload: dict, at: str, *, eid: str = "1", repo: str = REPO, repo_id: int = RID,
       actor: str = "Codertocat") -> dict:
    """The Events API envelope (GH Archive 2015 onwards)."""
    return {"id": eid, "type": etype,
            "actor": {"id": 21031067, "login": actor, "display_login": actor, "gravatar_id": "",
                      "url": f"https://api.github.com/users/{actor}",
                      "avatar_url": "https://avatars.githubusercontent.com/u/21031067?"},
            "repo": {"id": repo_id, "name": repo, "url": f"https://api.github.com/repos/{repo}"},
            "payload": payload, "public": True, "created_at": at}


def modern_events() -> list[dict]:
    return [
        ev("PushEvent", {"push_id": 1, "size": 1, "ref": "refs/heads/master", "head": "a" * 40, "before": "b" * 40,
                         "commits": [{"sha": "a" * 40, "message": "x"}]}, "2019-05-15T15:20:10Z", eid="100"),
        ev("IssuesEvent", {"action": "opened", "issue": ISSUE_1}, "2019-05-15T15:20:18Z", eid="101"),
        ev("WatchEvent", {"action": "started"}, "2019-05-15T15:20:19Z", eid="102"),
        ev("IssueCommentEvent", {"action": "created", "issue": {**ISSUE_1, "updated_at": "2019-05-15T15:20:21Z"},
                                 "comment": COMMENT}, "2019-05-15T15:20:21Z", eid="103"),
        ev("PullRequestEvent", {"action": "opened", "number": 2, "pull_request": PR_2}, "2019-05-15T15:20:33Z",
           eid="104"),
        ev("PullRequestReviewCommentEvent", {"action": "created", "comment": REVIEW_COMMENT,
                                             "pull_request": PR_2_REVIEWED}, "2019-05-15T15:20:38Z", eid="105"),
        ev("PullRequestReviewEvent", {"action": "created", "review": REVIEW, "pull_request": PR_2_REVIEWED},
           "2019-05-15T15:20:38Z", eid="106"),
    ]


# GH Archive 2011-2014 (Timeline API): repository object, actor login + actor_attributes, Pacific
# offsets, id-only payloads. The comment line is a real 2013 event (joyent/node#4504).
NODE_REPOSITORY = {"id": 211666, "name": "node", "owner": "joyent", "url": "https://github.com/joyent/node",
                   "description": "evented I/O for v8 javascript", "homepage": "http://nodejs.org/",
                   "watchers": 19431, "stargazers": 19431, "forks": 3046, "fork": False, "size": 61420,
                   "private": False, "open_issues": 494, "has_issues": True, "has_downloads": False,
                   "has_wiki": True, "language": "JavaScript", "created_at": "2009-05-27T09:29:46-07:00",
                   "pushed_at": "2013-01-04T10:26:05-08:00", "organization": "joyent"}
TIMELINE_ISSUE_OPENED = {
    "created_at": "2013-01-04T09:12:03-08:00", "payload": {"action": "opened", "issue": 9601460, "number": 4504},
    "public": True, "type": "IssuesEvent", "url": "https://github.com/joyent/node/issues/4504",
    "actor": "trevnorris", "actor_attributes": {"login": "trevnorris", "type": "User", "name": "Trevor Norris"},
    "repository": NODE_REPOSITORY,
}
TIMELINE_COMMENT = {
    "actor": "trevnorris", "created_at": "2013-01-04T10:41:48-08:00", "repository": NODE_REPOSITORY,
    "public": True, "payload": {"issue_id": 9601460, "comment_id": 11894342},
    "actor_attributes": {"location": "California", "login": "trevnorris", "company": "Mozilla Corporation",
                         "blog": "http://blog.trevorjnorris.com/", "type": "User",
                         "gravatar_id": "3e440ff4686867b1929ce68684591885", "name": "Trevor Norris"},
    "type": "IssueCommentEvent", "url": "https://github.com/joyent/node/issues/4504#issuecomment-11894342",
}

# Since 2025-10-07 the Events API trims PullRequestEvent: the pull request keeps its url, id, number
# and head/base ref, sha and repo {id, url, name}; no title, body, user, state, timestamps, labels.
TRIMMED_PR_CLOSED = ev("PullRequestEvent", {
    "action": "closed", "number": 3,
    "pull_request": {
        "url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/3", "id": 2891772300, "number": 3,
        "head": {"ref": "docs", "sha": "5d1f0ac30b4d4a2f9c2e1f0e6d7a8b9c0d1e2f3a",
                 "repo": {"id": RID, "url": "https://api.github.com/repos/Codertocat/Hello-World", "name": "Hello-World"}},
        "base": {"ref": "master", "sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
                 "repo": {"id": RID, "url": "https://api.github.com/repos/Codertocat/Hello-World", "name": "Hello-World"}},
    },
}, "2025-10-20T10:10:00Z", eid="5012345678")


def write_hour(path: Path, lines: list, *, members: int = 1) -> Path:
    """A GH Archive hour file: gzip, one compact JSON object per line (str lines written as is)."""
    data = b"".join((x.encode() if isinstance(x, str) else json.dumps(x, separators=(",", ":")).encode()) + b"\n"
                    for x in lines)
    cut = len(data) // members
    with open(path, "wb") as fh:
        for i in range(members):  # several gzip members, as concatenated files have
            fh.write(gzip.compress(data[i * cut: None if i == members - 1 else (i + 1) * cut]))
    return path


def run_ingest(root: Path, sources: list, **cfg) -> object:
    repos = cfg.pop("repos", None)
    return ingest_gharchive(root, GhArchiveConfig(**cfg), [str(s) for s in sources], repos=repos)


def latest(root: Path, table: str) -> list[dict]:
    return DataRoot(root).read_latest(table).to_pylist()


def by_key(rows: list[dict], *cols: str) -> dict:
    return {tuple(r[c] for c in cols) if len(cols) > 1 else r[cols[0]]: r for r in rows}


# -- rows ---------------------------------------------------------------------------------------------

def test_each_event_type_maps_to_exact_rows(tmp_path):
    f = write_hour(tmp_path / "2019-05-15-15.json.gz", modern_events())
    s = run_ingest(tmp_path / "data", [f], repo_selection="all")
    assert s.events_read == 7 and s.events_matched == 5 and s.skipped == {"other_event_type": 2}
    gha = {"source": "gharchive"}

    issues = by_key(latest(tmp_path / "data", "issues"), "number")
    assert issues[1] == {
        "id": "Codertocat__Hello-World-1", "repo": REPO, "number": 1, "title": "Spelling error in the README file",
        "body": "It looks like you accidently spelled 'commit' with two 't's.", "state": "open", "state_reason": None,
        "author": "Codertocat", "author_type": "User", "author_association": "OWNER", "labels": ["bug"],
        "comments": 0, "locked": False, "created_at": t("2019-05-15T15:20:18Z"),
        # The comment event's snapshot of the issue is newer than the opening event's.
        "updated_at": t("2019-05-15T15:20:21Z"), "closed_at": None, "is_pull_request": False,
        "html_url": "https://github.com/Codertocat/Hello-World/issues/1", "partial": False, **gha,
        "crawled_at": t("2019-05-15T15:20:21Z"),
    }
    assert issues[2] == {
        "id": "Codertocat__Hello-World-2", "repo": REPO, "number": 2, "title": "Update the README with new information.",
        "body": "This is a pretty simple change that we need to pull into master.", "state": "open",
        "state_reason": None, "author": "Codertocat", "author_type": "User", "author_association": "OWNER",
        "labels": [], "comments": 0, "locked": False, "created_at": t("2019-05-15T15:20:33Z"),
        "updated_at": t("2019-05-15T15:20:38Z"), "closed_at": None, "is_pull_request": True,
        "html_url": "https://github.com/Codertocat/Hello-World/pull/2", "partial": False, **gha,
        "crawled_at": t("2019-05-15T15:20:38Z"),
    }
    [pull] = latest(tmp_path / "data", "pulls")
    assert pull == {
        "id": "Codertocat__Hello-World-2", "repo": REPO, "number": 2, "title": "Update the README with new information.",
        "body": "This is a pretty simple change that we need to pull into master.", "state": "open", "draft": False,
        "merged": False, "merged_at": None, "merge_commit_sha": "c4295bd74fb0f4fda03689c3df3f2803b658fd85",
        "base_ref": "master", "base_sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", "head_ref": "changes",
        "head_sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "head_repo": REPO, "base_is_default": True,
        "author": "Codertocat", "author_type": "User", "author_association": "OWNER", "labels": [],
        "created_at": t("2019-05-15T15:20:33Z"), "updated_at": t("2019-05-15T15:20:38Z"), "closed_at": None,
        "linked_issues": [], "mentioned_issues": [], "partial": False, **gha, "crawled_at": t("2019-05-15T15:20:38Z"),
    }
    comments = by_key(latest(tmp_path / "data", "comments"), "kind", "comment_id")
    base = {"repo": REPO, "author": "Codertocat", "author_type": "User", "author_association": "OWNER",
            "review_state": None, "review_id": None, "in_reply_to": None, "path": None, "diff_hunk": None,
            "position": None, "line": None, "side": None, "commit_id": None, **gha}
    assert comments == {
        ("issue", 492700400): {**base, "record_id": "Codertocat__Hello-World-1", "number": 1, "kind": "issue",
                               "comment_id": 492700400, "body": "You are totally right! I'll get this fixed right away.",
                               "created_at": t("2019-05-15T15:20:21Z"), "updated_at": t("2019-05-15T15:20:21Z"),
                               "crawled_at": t("2019-05-15T15:20:21Z")},
        ("review", 237895671): {**base, "record_id": "Codertocat__Hello-World-2", "number": 2, "kind": "review",
                                "comment_id": 237895671, "body": None, "review_state": "COMMENTED",
                                "commit_id": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
                                "created_at": t("2019-05-15T15:20:38Z"), "updated_at": t("2019-05-15T15:20:38Z"),
                                "crawled_at": t("2019-05-15T15:20:38Z")},
        ("review_comment", 284312630): {
            **base, "record_id": "Codertocat__Hello-World-2", "number": 2, "kind": "review_comment",
            "comment_id": 284312630, "body": "Maybe you should use more emoji on this line.", "review_id": 237895671,
            "path": "README.md", "diff_hunk": "@@ -1 +1 @@\n-# Hello-World", "position": 1,
            "commit_id": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "created_at": t("2019-05-15T15:20:37Z"),
            "updated_at": t("2019-05-15T15:20:38Z"), "crawled_at": t("2019-05-15T15:20:38Z")},
    }
    assert not latest(tmp_path / "data", "rejects")


def test_pre_2015_timeline_events_become_partial_skeletons(tmp_path):
    f = write_hour(tmp_path / "2013-01-04-18.json.gz", [TIMELINE_ISSUE_OPENED, TIMELINE_COMMENT])
    s = run_ingest(tmp_path / "data", [f], repos=["joyent/node"])
    assert s.events_matched == 2 and not s.dropped
    [issue] = latest(tmp_path / "data", "issues")
    assert issue == {
        "id": "joyent__node-4504", "repo": "joyent/node", "number": 4504, "title": None, "body": None, "state": "open",
        "state_reason": None, "author": "trevnorris", "author_type": "User", "author_association": None,
        "labels": None, "comments": None, "locked": None, "created_at": t("2013-01-04T17:12:03Z"), "updated_at": None,
        "closed_at": None, "is_pull_request": False, "html_url": "https://github.com/joyent/node/issues/4504",
        "partial": True, "source": "gharchive", "crawled_at": t("2013-01-04T17:12:03Z"),
    }
    [comment] = latest(tmp_path / "data", "comments")
    assert comment == {
        "record_id": "joyent__node-4504", "repo": "joyent/node", "number": 4504, "kind": "issue",
        "comment_id": 11894342, "author": "trevnorris", "author_type": "User", "author_association": None,
        "body": None, "review_state": None, "review_id": None, "in_reply_to": None, "path": None, "diff_hunk": None,
        "position": None, "line": None, "side": None, "commit_id": None, "created_at": t("2013-01-04T18:41:48Z"),
        "updated_at": None, "source": "gharchive", "crawled_at": t("2013-01-04T18:41:48Z"),
    }
    # Late-2014 Timeline payloads carry full objects: they map like modern ones.
    late = {**TIMELINE_ISSUE_OPENED, "created_at": "2014-12-01T10:00:00-08:00",
            "payload": {"action": "closed", "issue": {**ISSUE_1, "number": 4504, "state": "closed",
                                                      "updated_at": "2014-12-01T18:00:00Z",
                                                      "closed_at": "2014-12-01T18:00:00Z"}}}
    m = map_event(late)
    [(table, row)] = m.rows
    assert (table, row["repo"], row["state"], row["partial"], row["title"]) == (
        "issues", "joyent/node", "closed", False, "Spelling error in the README file")


def test_other_historical_shapes():
    # 2011 (Events API preview): repo object, id-only issue payload.
    e2011 = {"repo": {"id": 1359031, "url": "https://api.github.dev/repos/pangratz/netbeans-couchapp",
                      "name": "pangratz/netbeans-couchapp"},
             "type": "IssuesEvent", "public": True, "created_at": "2011-02-12T16:42:41Z",
             "payload": {"number": 3, "repo": "pangratz/netbeans-couchapp", "actor": "pangratz", "issue": 594121,
                         "action": "closed"},
             "actor": {"id": 341877, "login": "pangratz", "url": "https://api.github.dev/users/pangratz"}}
    [(table, row)] = map_event(e2011).rows
    assert (table, row["repo"], row["number"], row["state"], row["closed_at"], row["author"], row["partial"]) == (
        "issues", "pangratz/netbeans-couchapp", 3, "closed", t("2011-02-12T16:42:41Z"), None, True)
    # 2012-2014 review comment: the PR number only in _links (no pull_request_url, no pull_request).
    rc = {k: v for k, v in REVIEW_COMMENT.items() if k != "pull_request_url"}
    rc["_links"] = {"pull_request": {"href": "https://api.github.com/repos/joyent/node/pulls/4510"}}
    e2013 = {**TIMELINE_COMMENT, "type": "PullRequestReviewCommentEvent", "payload": {"comment": rc},
             "url": "https://github.com/joyent/node/pull/4510#discussion_r2582"}
    [(table, row)] = map_event(e2013).rows
    assert (table, row["repo"], row["number"], row["kind"], row["comment_id"], row["path"]) == (
        "comments", "joyent/node", 4510, "review_comment", 284312630, "README.md")
    # Deleted comments and pending reviews are not stored; an unknown type is a reject.
    gone = ev("IssueCommentEvent", {"action": "deleted", "issue": ISSUE_1, "comment": COMMENT}, "2019-05-15T15:30:00Z")
    assert (map_event(gone).rows, map_event(gone).dropped) == ([], ["comments:action_deleted"])
    pending = ev("PullRequestReviewEvent", {"action": "created", "review": {**REVIEW, "submitted_at": None},
                                            "pull_request": PR_2}, "2019-05-15T15:30:00Z")
    assert map_event(pending).dropped == ["comments:pending_review"]
    assert map_event(ev("PushEvent", {}, "2019-05-15T15:30:00Z")).dropped == ["events:reject_unsupported_type"]


def test_trimmed_2025_pull_request_is_partial_and_never_beats_a_complete_row(tmp_path):
    f = write_hour(tmp_path / "2025-10-20-10.json.gz", [TRIMMED_PR_CLOSED])
    run_ingest(tmp_path / "data", [f], repo_selection="all")
    [pull] = latest(tmp_path / "data", "pulls")
    assert pull == {
        "id": "Codertocat__Hello-World-3", "repo": REPO, "number": 3, "title": None, "body": None, "state": "closed",
        "draft": None, "merged": None, "merged_at": None, "merge_commit_sha": None, "base_ref": "master",
        "base_sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", "head_ref": "docs",
        "head_sha": "5d1f0ac30b4d4a2f9c2e1f0e6d7a8b9c0d1e2f3a", "head_repo": REPO, "base_is_default": None,
        "author": None, "author_type": None, "author_association": None, "labels": None, "created_at": None,
        "updated_at": None, "closed_at": t("2025-10-20T10:10:00Z"), "linked_issues": None, "mentioned_issues": None,
        "partial": True, "source": "gharchive", "crawled_at": t("2025-10-20T10:10:00Z"),
    }
    [issue] = latest(tmp_path / "data", "issues")
    assert (issue["number"], issue["is_pull_request"], issue["partial"], issue["state"], issue["title"],
            issue["updated_at"]) == (3, True, True, "closed", None, None)
    assert partial_records(DataRoot(tmp_path / "data"), REPO) == {"issues": [3], "pulls": [3]}

    # An older complete snapshot of the same PR (a 2025-09 event, before the trimming) wins over the
    # partial row, whatever order the files are ingested in: partial rows only mark records to enrich.
    full = ev("PullRequestEvent", {"action": "opened", "number": 3, "pull_request": {
        **PR_2, "number": 3, "title": "Docs", "body": "See #1", "created_at": "2025-09-30T08:00:00Z",
        "updated_at": "2025-09-30T08:00:00Z", "head": {**PR_2["head"], "ref": "docs"}}}, "2025-09-30T08:00:00Z")
    write_hour(tmp_path / "2025-09-30-8.json.gz", [full])
    run_ingest(tmp_path / "data", [tmp_path / "2025-09-30-8.json.gz"], repo_selection="all")
    [pull] = latest(tmp_path / "data", "pulls")
    assert (pull["partial"], pull["title"], pull["linked_issues"], pull["mentioned_issues"]) == (
        False, "Docs", [], ["Codertocat__Hello-World-1"])
    assert partial_records(DataRoot(tmp_path / "data"), REPO) == {}


def test_latest_state_wins_across_events_and_files(tmp_path):
    closed = {**ISSUE_1, "state": "closed", "state_reason": "completed", "comments": 1,
              "updated_at": "2019-05-15T16:02:00Z", "closed_at": "2019-05-15T16:02:00Z"}
    reopened = {**closed, "state": "open", "state_reason": "reopened", "closed_at": None,
                "updated_at": "2019-05-15T16:30:00Z"}
    # Hour 16 is ingested before hour 15: file order does not matter, updated_at does.
    f16 = write_hour(tmp_path / "2019-05-15-16.json.gz", [
        ev("IssuesEvent", {"action": "closed", "issue": closed}, "2019-05-15T16:02:00Z", eid="201"),
        ev("IssuesEvent", {"action": "reopened", "issue": reopened}, "2019-05-15T16:30:00Z", eid="202"),
    ])
    f15 = write_hour(tmp_path / "2019-05-15-15.json.gz", modern_events())
    root = tmp_path / "data"
    run_ingest(root, [f16], repo_selection="all")
    run_ingest(root, [f15], repo_selection="all")
    issue = by_key(latest(root, "issues"), "number")[1]
    assert (issue["state"], issue["state_reason"], issue["comments"], issue["updated_at"]) == (
        "open", "reopened", 1, t("2019-05-15T16:30:00Z"))
    # Within a file only the newest row of a key is written (two events of issue 1 in hour 16).
    all_rows = DataRoot(root).read_all("issues").to_pylist()
    assert sorted((r["number"], r["updated_at"]) for r in all_rows if r["number"] == 1) == [
        (1, t("2019-05-15T15:20:21Z")), (1, t("2019-05-15T16:30:00Z"))]


def test_repository_selection_list_table_and_all(tmp_path):
    other = ev("IssuesEvent", {"action": "opened", "issue": {**ISSUE_1, "number": 9}}, "2019-05-15T15:30:00Z",
               eid="300", repo="someone/else", repo_id=42)
    renamed = ev("IssuesEvent", {"action": "opened", "issue": {**ISSUE_1, "number": 7}}, "2019-05-15T15:31:00Z",
                 eid="301", repo="Codertocat/Old-Name", repo_id=RID)  # same repository id, before a rename
    f = write_hour(tmp_path / "2019-05-15-15.json.gz", [*modern_events(), other, renamed])

    # An explicit list: case-insensitive, rows keyed by the list's spelling.
    s = run_ingest(tmp_path / "a", [f], repos=["codertocat/hello-world"])
    assert {r["repo"] for r in latest(tmp_path / "a", "issues")} == {"codertocat/hello-world"}
    assert s.skipped["repo_not_selected"] == 2

    # The repos table: events of a repository that fails the filters are skipped with its reason;
    # the repository id catches events from before a rename.
    root = DataRoot(tmp_path / "b")
    repo_rows = [
        {"repo": REPO, "repo_id": RID, "stars": 50, "license": "MIT", "fork": False, "archived": False},
        {"repo": "someone/else", "repo_id": 42, "stars": 1, "license": "MIT", "fork": False, "archived": False},
    ]
    root.write_parquet("raw/repos/batch=x/part-0.parquet",
                       ingest_run._table("repos", [{**r, "source": "api", "crawled_at": t("2019-01-01T00:00:00Z")}
                                                   for r in repo_rows]))
    s = run_ingest(tmp_path / "b", [f])
    assert s.skipped == {"other_event_type": 2, "repo_stars_below_min": 1}
    assert {(r["repo"], r["number"]) for r in latest(tmp_path / "b", "issues")} == {(REPO, 1), (REPO, 2), (REPO, 7)}

    # Everything, under the event's own names.
    run_ingest(tmp_path / "c", [f], repo_selection="all")
    assert {r["repo"] for r in latest(tmp_path / "c", "issues")} == {REPO, "someone/else", "Codertocat/Old-Name"}


def test_bots_are_dropped_and_counted(tmp_path):
    bot = {"login": "dependabot[bot]", "id": 49699333, "type": "Bot"}
    bot_pr = {**PR_2, "number": 5, "user": bot}
    events = [
        ev("PullRequestEvent", {"action": "opened", "number": 5, "pull_request": bot_pr}, "2019-05-15T15:40:00Z"),
        ev("IssueCommentEvent", {"action": "created", "issue": {**ISSUE_1, "number": 5, "user": bot,
                                                                "pull_request": {"url": "x", "html_url": "y"}},
                                 "comment": {**COMMENT, "id": 11, "issue_url": COMMENT["issue_url"][:-1] + "5"}},
           "2019-05-15T15:41:00Z"),
        ev("IssueCommentEvent", {"action": "created", "issue": ISSUE_1,
                                 "comment": {**COMMENT, "id": 12, "user": {"login": "codecov-io", "type": "User"}}},
           "2019-05-15T15:42:00Z"),
        # A trimmed PR has no user: the actor of its "opened" event is the author.
        ev("PullRequestEvent", {"action": "opened", "number": 6, "pull_request": {
            **TRIMMED_PR_CLOSED["payload"]["pull_request"], "number": 6}}, "2025-10-20T11:00:00Z",
           actor="renovate[bot]"),
    ]
    f = write_hour(tmp_path / "2019-05-15-15.json.gz", events)
    s = run_ingest(tmp_path / "data", [f], repo_selection="all")
    # Counted per event, as the API crawl counts listing items (an issue-view of a PR counts for both).
    assert s.dropped == {"pulls:bot_author": 3, "issues:bot_author": 3, "comments:parent_dropped": 1,
                         "comments:bot_author": 1}
    assert latest(tmp_path / "data", "pulls") == [] and latest(tmp_path / "data", "comments") == []
    assert [r["number"] for r in latest(tmp_path / "data", "issues")] == [1]
    # drop_bots = false keeps them.
    run_ingest(tmp_path / "keep", [f], repo_selection="all", drop_bots=False)
    assert sorted(r["number"] for r in latest(tmp_path / "keep", "pulls")) == [5, 6]


def test_bad_lines_become_rejects_not_crashes(tmp_path):
    no_time = ev("IssuesEvent", {"action": "opened", "issue": ISSUE_1}, "2019-05-15T15:20:18Z", eid="401")
    del no_time["created_at"]
    no_number = ev("IssuesEvent", {"action": "opened", "issue": {**ISSUE_1, "number": None}},
                   "2019-05-15T15:20:19Z", eid="402")
    f = write_hour(tmp_path / "2019-05-15-15.json.gz", [
        '{"id":"400","type":"IssuesEvent","actor":{"id":1,"login":"x"},"repo":{"id":1,"name":"a/b"},"payload":{',
        no_time, no_number, *modern_events(),
    ])
    s = run_ingest(tmp_path / "data", [f], repo_selection="all")
    rejects = {(r["table"], r["key"], r["reason"]) for r in latest(tmp_path / "data", "rejects")}
    assert rejects == {("events", "2019-05-15-15.json.gz:1", "bad_json"), ("events", "401", "bad_created_at"),
                       ("issues", "402", "missing_number")}
    assert s.dropped == {"events:reject_bad_json": 1, "events:reject_bad_created_at": 1,
                         "issues:reject_missing_number": 1}
    assert len(latest(tmp_path / "data", "comments")) == 3  # the good events still landed
    [rej] = [r for r in latest(tmp_path / "data", "rejects") if r["reason"] == "bad_json"]
    assert rej["payload"].startswith('{"id":"400"') and rej["crawled_at"] == t("2019-05-15T15:00:00Z")


# -- resume, bad input, remote ------------------------------------------------------------------------

def _three_hours(d: Path) -> list[Path]:
    d.mkdir(exist_ok=True)
    evs = modern_events()
    many = [ev("IssuesEvent", {"action": "opened", "issue": {**ISSUE_1, "number": 1000 + i,
                                                              "updated_at": f"2019-05-15T17:{i % 60:02d}:00Z"}},
               f"2019-05-15T17:{i % 60:02d}:00Z", eid=str(5000 + i)) for i in range(250)]
    return [write_hour(d / "2019-05-15-15.json.gz", evs[:4]), write_hour(d / "2019-05-15-16.json.gz", evs[4:]),
            write_hour(d / "2019-05-15-17.json.gz", many)]


def _tables(root: Path) -> dict[str, list[dict]]:
    return {tb: latest(root, tb) for tb in ("issues", "pulls", "comments", "rejects")}


def test_interrupted_runs_resume_to_the_same_tables(tmp_path, monkeypatch):
    files = _three_hours(tmp_path / "hours")
    run_ingest(tmp_path / "clean", files, repo_selection="all", flush_rows=100)
    expected = _tables(tmp_path / "clean")
    assert len(expected["issues"]) == 252

    # 1. The second file is truncated (a cut download): it fails, the others are done.
    good = files[1].read_bytes()
    files[1].write_bytes(good[: len(good) // 2])
    root = tmp_path / "resumed"
    s = run_ingest(root, files, repo_selection="all", flush_rows=100)
    assert [(f.name, f.status, f.reason) for f in s.files] == [
        ("2019-05-15-15.json.gz", "done", None), ("2019-05-15-16.json.gz", "failed", "truncated"),
        ("2019-05-15-17.json.gz", "done", None)]
    state = DataRoot(root).read_json("raw/_state/gharchive.json")
    assert set(state["files"]) == {"2019-05-15-15.json.gz", "2019-05-15-17.json.gz"}
    assert state["failed"]["2019-05-15-16.json.gz"]["reason"] == "truncated"

    # 2. The re-run (file fixed) skips what is done; then a crash in the middle of the last file
    #    (its third part fails to write) ...
    files[1].write_bytes(good)
    (DataRoot(root).fs.rm(DataRoot(root).path("raw", "_state", "gharchive.json")))  # forget hour 17 too
    state.pop("failed")
    state["files"].pop("2019-05-15-17.json.gz")
    DataRoot(root).write_json("raw/_state/gharchive.json", state)
    real = DataRoot.write_parquet
    calls = {"n": 0}

    def flaky(self, rel, table):
        if "2019-05-15-17" in rel:
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt  # the process dies mid-file
        return real(self, rel, table)

    monkeypatch.setattr(DataRoot, "write_parquet", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_ingest(root, files, repo_selection="all", flush_rows=100)
    monkeypatch.setattr(DataRoot, "write_parquet", real)
    state = DataRoot(root).read_json("raw/_state/gharchive.json")
    assert set(state["files"]) == {"2019-05-15-15.json.gz", "2019-05-15-16.json.gz"}

    # 3. ... and the next run redoes only that file. The tables equal the uninterrupted run's.
    s = run_ingest(root, files, repo_selection="all", flush_rows=100)
    assert [f.status for f in s.files] == ["skipped", "skipped", "done"]
    assert _tables(root) == expected
    # A finished ingest re-run reads nothing.
    s = run_ingest(root, files, repo_selection="all", flush_rows=100)
    assert [f.status for f in s.files] == ["skipped"] * 3 and s.events_read == 0


def test_parts_are_deterministic(tmp_path):
    files = _three_hours(tmp_path / "hours")
    for name in ("a", "b"):
        ingest_gharchive(tmp_path / name, GhArchiveConfig(repo_selection="all", flush_rows=100),
                         [str(f) for f in files], crawl_id="fixed")
    parts_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a" / "raw").rglob("*.parquet"))
    parts_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b" / "raw").rglob("*.parquet"))
    assert parts_a == parts_b and len(parts_a) > 4
    assert any("part-gha-2019-05-15-17-00002" in str(p) for p in parts_a)  # 250 rows, flushed per 100
    for p in parts_a:
        assert (tmp_path / "a" / p).read_bytes() == (tmp_path / "b" / p).read_bytes(), p


def test_bad_inputs_are_one_line_errors_before_any_write(tmp_path):
    good = write_hour(tmp_path / "2019-05-15-15.json.gz", modern_events())
    (tmp_path / "notgz.json.gz").write_text('{"id":"1"}\n')
    (tmp_path / "empty").mkdir()
    cases = [
        (str(tmp_path / "2019-05-15-99.json.gz"), "2019-05-15-99.json.gz: no such file"),
        (str(tmp_path / "notgz.json.gz"), "notgz.json.gz: not a gzip file"),
        (str(tmp_path / "empty"), "no *.json.gz files"),
        (str(tmp_path / "nothing-*.json.gz"), "matches no files"),
        ("2019-05-15-30", "hours run 0..23"),
        ("2019-05-16..2019-05-15", "ends before it starts"),
    ]
    for src, msg in cases:
        with pytest.raises(ConfigError) as err:
            run_ingest(tmp_path / "data", [good, src], repo_selection="all")
        assert msg in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="nothing to ingest"):
        run_ingest(tmp_path / "data", [])
    assert not (tmp_path / "data").exists()
    bad_state = tmp_path / "broken" / "raw" / "_state"
    bad_state.mkdir(parents=True)
    (bad_state / "gharchive.json").write_text("{not json")
    with pytest.raises(ConfigError, match="gharchive.json is not valid JSON"):
        run_ingest(tmp_path / "broken", [good], repo_selection="all")


def test_gzip_lines_handles_members_and_damage(tmp_path):
    lines = [json.dumps({"n": i}) for i in range(1000)]
    f = write_hour(tmp_path / "m.json.gz", lines, members=3)
    with open(f, "rb") as fh:
        assert [json.loads(x)["n"] for x in gzip_lines(fh.read)] == list(range(1000))
    data = f.read_bytes()
    (tmp_path / "t.json.gz").write_bytes(data[:-30])
    from ingest.gharchive_source import FileFailed

    with open(tmp_path / "t.json.gz", "rb") as fh, pytest.raises(FileFailed) as err:
        list(gzip_lines(fh.read))
    assert err.value.reason == "truncated"


@pytest.fixture
def http_dir(tmp_path):
    """A static file server on 127.0.0.1 (started and stopped by the test)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


def test_remote_hour_files_by_url_and_by_hour_range(tmp_path, http_dir):
    www, base = http_dir
    _three_hours(www)
    expected_root = tmp_path / "local"
    run_ingest(expected_root, sorted(www.glob("*.json.gz")), repo_selection="all")

    # By URL.
    s = run_ingest(tmp_path / "url", [f"{base}/2019-05-15-15.json.gz", f"{base}/2019-05-15-16.json.gz",
                                  f"{base}/2019-05-15-17.json.gz"], repo_selection="all")
    assert [f.status for f in s.files] == ["done"] * 3
    assert _tables(tmp_path / "url") == _tables(expected_root)

    # By hour range against a base URL: the hour GH Archive lacks (18) is "missing", not an error.
    s = run_ingest(tmp_path / "range", ["2019-05-15-15..2019-05-15-18"], repo_selection="all", base_url=base)
    assert [(f.name, f.status) for f in s.files] == [
        ("2019-05-15-15.json.gz", "done"), ("2019-05-15-16.json.gz", "done"), ("2019-05-15-17.json.gz", "done"),
        ("2019-05-15-18.json.gz", "missing")]
    assert _tables(tmp_path / "range") == _tables(expected_root)
    # The same hours from config start/end are recognised as done.
    s = run_ingest(tmp_path / "range", [], repo_selection="all", base_url=base,
               start="2019-05-15T15:00:00Z", end="2019-05-15T17:00:00Z")
    assert [f.status for f in s.files] == ["skipped"] * 3

    with pytest.raises(ConfigError, match="not found"):
        run_ingest(tmp_path / "x", [f"{base}/2019-05-15-19.json.gz"], repo_selection="all")


def test_plan_expands_ranges_and_globs(tmp_path):
    cfg = GhArchiveConfig()
    names = [f.source for f in plan(cfg, ["2015-01-01-22..2015-01-02-1"])]
    assert names == ["https://data.gharchive.org/2015-01-01-22.json.gz", "https://data.gharchive.org/2015-01-01-23.json.gz",
                     "https://data.gharchive.org/2015-01-02-0.json.gz", "https://data.gharchive.org/2015-01-02-1.json.gz"]
    assert len(plan(cfg, ["2015-01-01"])) == 24
    for h in (3, 1, 2):
        write_hour(tmp_path / f"2015-01-01-{h}.json.gz", [])
    assert [f.name for f in plan(cfg, [str(tmp_path / "2015-01-01-*.json.gz")])] == [
        "2015-01-01-1.json.gz", "2015-01-01-2.json.gz", "2015-01-01-3.json.gz"]
    other = tmp_path / "other"
    other.mkdir()
    write_hour(other / "2015-01-01-1.json.gz", [])
    with pytest.raises(ConfigError, match="share the file name"):
        plan(cfg, [str(tmp_path / "2015-01-01-1.json.gz"), str(other / "2015-01-01-1.json.gz")])


def test_line_filter_reads_type_and_repo_without_parsing():
    lf = LineFilter(EVENT_TYPES)
    line = json.dumps(modern_events()[1], separators=(",", ":")).encode()
    assert lf.classify(line) == (b"IssuesEvent", RID, REPO.encode())
    push = json.dumps(modern_events()[0], separators=(",", ":")).encode()
    assert lf.classify(push) == (None, None, None)
    timeline = json.dumps(TIMELINE_COMMENT, separators=(",", ":")).encode()
    assert lf.classify(timeline) == (b"IssueCommentEvent", None, None)
    spaced = json.dumps(modern_events()[1]).encode()  # ", " and ": " separators
    assert lf.classify(spaced)[0] == b"IssuesEvent"
    assert LineFilter(["PullRequestEvent"]).classify(line) == (None, None, None)


def test_config_validates_hours_and_types():
    cfg = GhArchiveConfig.from_dict({"start": "2015-01-01T22:00:00", "end": "2015-01-02T01:00:00Z"}, "gharchive")
    assert [h.hour for h in cfg.hours()] == [22, 23, 0, 1]
    assert GhArchiveConfig().event_types == EVENT_TYPES
    for bad, msg in [({"start": "2015-01-01T22:30:00"}, "on the hour"), ({"end": "2015-01-01T22:00:00"}, "without start"),
                     ({"start": "2015-01-02T00:00:00", "end": "2015-01-01T00:00:00"}, "before start"),
                     ({"event_types": ["PushEvent"]}, "gharchive.event_types"), ({"flush_rows": 1}, "flush_rows")]:
        with pytest.raises(ConfigError, match=msg):
            GhArchiveConfig.from_dict(bad, "gharchive")


# -- API enrichment of partial records (simulator) ----------------------------------------------------

TOKEN = "ghp_gharchiveTestToken0123456789abcdefAB"


def _with_partial_lookup(monkeypatch):
    """What run.py's CrawlSession.crawl_repo passes once wired: ``partial=partial_records(root, repo)``."""
    real = RepoCrawler

    class Wired(real):
        def __init__(self, client, config, repo, cursor, crawled_at, progress=None, sink=None, partial=None):
            root = sink.__self__.root  # the crawl's _PartWriter
            super().__init__(client, config, repo, cursor, crawled_at, progress, sink,
                             partial=partial_records(root, repo))

    monkeypatch.setattr(ingest_run, "RepoCrawler", Wired)


def test_api_crawl_enriches_partial_records_the_listing_missed(tmp_path, monkeypatch):
    from ingest.simulator import SimulatorServer, World, WorldSpec

    world = World.generate(WorldSpec.small(seed=5))
    repo = next(r for r in world.listed_repos() if r.crawlable and any(i.is_pull for i in r.issues.values()))
    # A PR the API listing never returns (GitHub's listings are eventually consistent): hidden
    # during the first crawl, back afterwards with its old timestamps, below the crawl's watermark.
    pr = min((i for i in repo.issues.values() if i.is_pull), key=lambda i: i.updated_at)
    del repo.issues[pr.number]
    sim = SimulatorServer(world, tokens=[TOKEN]).start()
    try:
        cfg = CrawlConfig(api_url=sim.url, repos=(repo.full_name,), min_request_interval_s=0)
        root = tmp_path / "data"
        _with_partial_lookup(monkeypatch)
        crawl(root, cfg, [TOKEN])
        repo.issues[pr.number] = pr

        # GH Archive saw it, trimmed (2025-10 shape): partial issues and pulls rows.
        trimmed = copy.deepcopy(TRIMMED_PR_CLOSED)
        trimmed["repo"]["name"] = repo.full_name
        trimmed["payload"]["pull_request"]["number"] = trimmed["payload"]["number"] = pr.number
        write_hour(tmp_path / "2025-10-20-10.json.gz", [trimmed])
        run_ingest(root, [tmp_path / "2025-10-20-10.json.gz"], repos=[repo.full_name])
        assert partial_records(DataRoot(root), repo.full_name) == {"issues": [pr.number], "pulls": [pr.number]}

        before = sim.stats()["by_endpoint"]
        summary = crawl(root, cfg, [TOKEN])
        assert summary.outcomes[0].status == "ok"
        after = sim.stats()["by_endpoint"]
        calls = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        assert calls["GET /repos/{owner}/{repo}/issues/{issue_number}"] == 1
        assert calls["GET /repos/{owner}/{repo}/pulls/{pull_number}"] == 1

        issue = by_key(latest(root, "issues"), "repo", "number")[(repo.full_name, pr.number)]
        pull = by_key(latest(root, "pulls"), "repo", "number")[(repo.full_name, pr.number)]
        assert (bool(issue["partial"]), issue["source"], issue["title"]) == (False, "api", pr.title)
        assert (pull["partial"], pull["source"], pull["title"], pull["head_sha"]) == (
            False, "api", pr.title, pr.pull.head_sha)
        files = {r["path"] for r in latest(root, "pull_files") if r["number"] == pr.number}
        assert files == {f.filename for f in pr.pull.files}
        comments = {r["comment_id"] for r in latest(root, "comments") if r["number"] == pr.number and r["kind"] == "issue"}
        assert comments == {c.id for c in pr.comments}
        assert partial_records(DataRoot(root), repo.full_name) == {}

        # Nothing partial is left: the next crawl asks for nothing extra.
        before = sim.stats()["by_endpoint"]
        crawl(root, cfg, [TOKEN])
        after = sim.stats()["by_endpoint"]
        assert after.get("GET /repos/{owner}/{repo}/pulls/{pull_number}", 0) == before.get(
            "GET /repos/{owner}/{repo}/pulls/{pull_number}", 0)
    finally:
        sim.stop()


def test_partial_records_reads_only_what_is_latest(tmp_path):
    os.makedirs(tmp_path / "hours")
    f = write_hour(tmp_path / "hours" / "2025-10-20-10.json.gz", [TRIMMED_PR_CLOSED])
    run_ingest(tmp_path / "data", [f], repo_selection="all")
    root = DataRoot(tmp_path / "data")
    assert partial_records(root, REPO) == {"issues": [3], "pulls": [3]}
    assert partial_records(root, "someone/else") == {}
    [part] = [p for p in root.table_files("pulls")]
    assert pq.read_table(part).column("partial").to_pylist() == [True]
