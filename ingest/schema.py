"""Arrow schemas of the raw tables the ingest stage writes (DESIGN.md section 4).

Read/written: nothing; every writer and reader of ``raw/<table>`` uses these constants.
The one idea: a table's schema, key and versioning rule live in one place, so readers can take
the latest row per key across append-only batches without guessing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

SCHEMA_VERSION = "1"

TS = pa.timestamp("us", tz="UTC")
STR = pa.string()
I64 = pa.int64()
BOOL = pa.bool_()
STRS = pa.list_(pa.string())
COUNTS = pa.map_(pa.string(), pa.int64())

_PROVENANCE = [
    pa.field("source", STR, nullable=False),  # api | git | gharchive
    pa.field("crawled_at", TS, nullable=False),
]


def _schema(name: str, fields: list[pa.Field]) -> pa.Schema:
    meta = {b"swe_curate.table": name.encode(), b"swe_curate.schema_version": SCHEMA_VERSION.encode()}
    return pa.schema(fields + _PROVENANCE, metadata=meta)


REPOS = _schema("repos", [
    pa.field("repo", STR, nullable=False),  # owner/name
    pa.field("repo_id", I64),
    pa.field("owner", STR),
    pa.field("name", STR),
    pa.field("description", STR),
    pa.field("stars", I64),
    pa.field("forks", I64),
    pa.field("open_issues", I64),
    pa.field("language", STR),
    pa.field("topics", STRS),
    pa.field("license", STR),  # SPDX id, NOASSERTION, or null
    pa.field("default_branch", STR),
    pa.field("fork", BOOL),
    pa.field("parent", STR),
    pa.field("archived", BOOL),
    pa.field("created_at", TS),
    pa.field("updated_at", TS),
    pa.field("pushed_at", TS),
    pa.field("clone_url", STR),
    pa.field("html_url", STR),
])

ISSUES = _schema("issues", [
    pa.field("id", STR, nullable=False),  # owner__repo-N
    pa.field("repo", STR, nullable=False),
    pa.field("number", I64, nullable=False),
    pa.field("title", STR),
    pa.field("body", STR),
    pa.field("state", STR),
    pa.field("state_reason", STR),
    pa.field("author", STR),
    pa.field("author_type", STR),
    pa.field("author_association", STR),
    pa.field("labels", STRS),
    pa.field("comments", I64),
    pa.field("locked", BOOL),
    pa.field("created_at", TS),
    pa.field("updated_at", TS),
    pa.field("closed_at", TS),
    pa.field("is_pull_request", BOOL),
    pa.field("html_url", STR),
    # True when a source could not supply every field (GH Archive payloads trimmed since 2025-10,
    # PRs known only from git history); the API crawl refetches such records.
    pa.field("partial", BOOL),
])

PULLS = _schema("pulls", [
    pa.field("id", STR, nullable=False),
    pa.field("repo", STR, nullable=False),
    pa.field("number", I64, nullable=False),
    pa.field("title", STR),
    pa.field("body", STR),
    pa.field("state", STR),
    pa.field("draft", BOOL),
    pa.field("merged", BOOL),
    pa.field("merged_at", TS),
    pa.field("merge_commit_sha", STR),
    pa.field("base_ref", STR),
    pa.field("base_sha", STR),
    pa.field("head_ref", STR),
    pa.field("head_sha", STR),
    pa.field("head_repo", STR),  # null when the fork was deleted
    pa.field("base_is_default", BOOL),  # GitHub honours closing keywords only into the default branch
    pa.field("author", STR),
    pa.field("author_type", STR),
    pa.field("author_association", STR),
    pa.field("labels", STRS),
    pa.field("created_at", TS),
    pa.field("updated_at", TS),
    pa.field("closed_at", TS),
    pa.field("linked_issues", STRS),  # issue ids this PR closes (closing keywords, GitHub's rules)
    pa.field("mentioned_issues", STRS),  # other issue references (no closing effect)
    pa.field("partial", BOOL),  # see issues.partial
])

COMMENTS = _schema("comments", [
    pa.field("record_id", STR, nullable=False),  # the issue / PR the comment belongs to
    pa.field("repo", STR, nullable=False),
    pa.field("number", I64, nullable=False),
    pa.field("kind", STR, nullable=False),  # issue | review | review_comment
    pa.field("comment_id", I64, nullable=False),
    pa.field("author", STR),
    pa.field("author_type", STR),
    pa.field("author_association", STR),
    pa.field("body", STR),
    pa.field("review_state", STR),  # reviews only
    pa.field("review_id", I64),  # review comments: the review they belong to
    pa.field("in_reply_to", I64),
    pa.field("path", STR),
    pa.field("diff_hunk", STR),
    pa.field("position", I64),
    pa.field("line", I64),
    pa.field("side", STR),
    pa.field("commit_id", STR),
    pa.field("created_at", TS),
    pa.field("updated_at", TS),
])

PULL_FILES = _schema("pull_files", [
    pa.field("record_id", STR, nullable=False),
    pa.field("repo", STR, nullable=False),
    pa.field("number", I64, nullable=False),
    pa.field("path", STR, nullable=False),
    pa.field("status", STR),  # added | removed | modified | renamed | copied | changed
    pa.field("previous_path", STR),
    pa.field("additions", I64),
    pa.field("deletions", I64),
    pa.field("changes", I64),
    pa.field("patch", STR),  # hunks only; null for binary files and diffs GitHub does not render
    pa.field("is_binary", BOOL),
    pa.field("is_test", BOOL),
    pa.field("base_blob_sha", STR),  # filled by the git source; the API does not report it
    pa.field("head_blob_sha", STR),
    pa.field("head_sha", STR),  # the PR head commit this file list describes
    pa.field("base_sha", STR),  # the commit the diff is taken from (git source: merge base)
    pa.field("skip_reason", STR),  # git source: why the patch / pre-image was not kept (lockfile, binary, ...)
])

PULL_COMMITS = _schema("pull_commits", [
    pa.field("record_id", STR, nullable=False),
    pa.field("repo", STR, nullable=False),
    pa.field("number", I64, nullable=False),
    pa.field("sha", STR, nullable=False),
    pa.field("position", I64),  # 0-based order inside the PR
    pa.field("message", STR),
    pa.field("author_name", STR),
    pa.field("author_email", STR),
    pa.field("author_login", STR),
    pa.field("authored_at", TS),
    pa.field("committer_name", STR),
    pa.field("committer_email", STR),
    pa.field("committed_at", TS),
])

# One file of one commit's own change (against its single parent), as ``pull_files`` has it for a
# whole PR: hunks in ``patch`` (null when binary or skipped, with the reason).
COMMIT_FILE = pa.struct([
    pa.field("path", STR), pa.field("previous_path", STR), pa.field("status", STR),
    pa.field("additions", I64), pa.field("deletions", I64), pa.field("patch", STR),
    pa.field("is_binary", BOOL), pa.field("skip_reason", STR),
])

# A commit's own change, stored once per commit whichever PRs carry it (commit packs pair each
# message with it). ``files`` is null for a merge or root commit (not diffed: not the author's change).
COMMIT_DIFFS = _schema("commit_diffs", [
    pa.field("repo", STR, nullable=False),
    pa.field("sha", STR, nullable=False),
    pa.field("parents", STRS),
    pa.field("files", pa.list_(COMMIT_FILE)),
    pa.field("n_files", I64),
])

TREES = _schema("trees", [
    pa.field("repo", STR, nullable=False),
    pa.field("commit", STR, nullable=False),  # the base commit of one or more PRs
    pa.field("tree_sha", STR),
    pa.field("paths", STRS),  # every file path at that commit (blobs only; no directories), sorted
    pa.field("n_paths", I64),
])

BLOBS = _schema("blobs", [
    pa.field("blob_sha", STR, nullable=False),  # git blob SHA-1: content-addressed, stored once
    pa.field("content", pa.large_binary()),  # exact bytes; null when is_binary or over the size limit
    pa.field("size", I64),
    pa.field("is_binary", BOOL),
    pa.field("repo", STR),  # the repository it was first read from (provenance only)
])

REJECTS = _schema("rejects", [
    pa.field("table", STR, nullable=False),
    pa.field("repo", STR),
    pa.field("key", STR),
    pa.field("reason", STR, nullable=False),
    pa.field("payload", STR),  # the offending JSON, truncated
])

CRAWL_LOG = _schema("crawl_log", [
    pa.field("crawl_id", STR, nullable=False),
    pa.field("repo", STR, nullable=False),
    pa.field("status", STR, nullable=False),  # ok | filtered | failed
    pa.field("reason", STR),  # filter or failure reason
    pa.field("detail", STR),
    pa.field("records", COUNTS),  # rows written per table
    pa.field("dropped", COUNTS),  # "table:reason" -> rows dropped by record filters
    pa.field("requests", I64),
    pa.field("wait_s", pa.float64()),  # time spent waiting on rate limits and backoff
    pa.field("git", STR),  # the git source for this repository: ok | unreachable | failed: <reason> | null
    pa.field("started_at", TS),
    pa.field("finished_at", TS),
])


@dataclass(frozen=True)
class TableSpec:
    """How readers pick the current rows of a table across batches.

    ``key``: the identity of a row. ``version``: columns ordering versions of one key (largest
    wins; a leading ``-`` means smallest wins, null counting as false). ``parent``: for child tables the rows of a parent are replaced as a whole set: the
    newest crawl of the parent wins, so a file dropped from a force-pushed PR disappears.
    """

    name: str
    schema: pa.Schema
    key: tuple[str, ...]
    version: tuple[str, ...] = ("crawled_at",)
    parent: tuple[str, ...] | None = None


TABLES: dict[str, TableSpec] = {t.name: t for t in [
    TableSpec("repos", REPOS, ("repo",), ("crawled_at",)),
    # "-partial": at equal updated_at a complete row beats a partial one, whatever crawled last.
    TableSpec("issues", ISSUES, ("repo", "number"), ("updated_at", "-partial", "crawled_at")),
    TableSpec("pulls", PULLS, ("repo", "number"), ("updated_at", "-partial", "crawled_at")),
    # GitHub numbers issue comments, reviews and review comments in separate sequences, so the
    # kind is part of the key (DESIGN.md listed repo, number, comment_id).
    TableSpec("comments", COMMENTS, ("repo", "number", "kind", "comment_id"), ("updated_at", "crawled_at")),
    TableSpec("pull_files", PULL_FILES, ("repo", "number", "path"), ("crawled_at",), parent=("repo", "number")),
    TableSpec("pull_commits", PULL_COMMITS, ("repo", "number", "sha"), ("crawled_at",), parent=("repo", "number")),
    TableSpec("commit_diffs", COMMIT_DIFFS, ("repo", "sha"), ("crawled_at",)),
    TableSpec("trees", TREES, ("repo", "commit"), ("crawled_at",)),
    TableSpec("blobs", BLOBS, ("blob_sha",), ("crawled_at",)),
    TableSpec("rejects", REJECTS, ("table", "repo", "key", "reason"), ("crawled_at",)),
    TableSpec("crawl_log", CRAWL_LOG, ("crawl_id", "repo"), ("finished_at",)),
]}

# The tables a crawl writes per repository, in commit order (crawl_log last, as the marker).
RAW_TABLES = ("repos", "issues", "pulls", "comments", "pull_files", "pull_commits", "commit_diffs", "trees", "blobs",
              "rejects")


def record_id(repo: str, number: int) -> str:
    """SWE-bench style id: ``owner__repo-123`` (issues and PRs share a number space)."""
    owner, name = repo.split("/", 1)
    return f"{owner}__{name}-{number}"


def record_number(rid: str) -> int | None:
    """The number of an ``owner__repo-123`` id (``record_id``'s inverse for the number), or None."""
    tail = rid.rsplit("-", 1)[-1]
    return int(tail) if "-" in rid and tail.isdigit() else None


def repo_slug(repo: str) -> str:
    """File-name-safe form of ``owner/name``."""
    return repo.replace("/", "__")
