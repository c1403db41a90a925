"""Crawl one repository through the GitHub API into raw rows, fetching only what changed.

Reads: GitHub (through ``GitHubClient``) and the repository's cursor from the previous crawl.
Writes: nothing; returns rows per table, drop counts and the next cursor (``run.py`` commits them).

The one idea: a request budget per repository. One ``since``-based issue listing finds every
issue and PR that changed (GitHub bumps ``updated_at`` on new comments, reviews and pushes); the
PR listing, sorted by update, stops at the watermark; comments come from the repo-wide
listings; a PR's files and commits are fetched again only when its head or base moved; commits
and reviews of many PRs come in one GraphQL query. An unchanged repository costs three requests:
a conditional repository GET (304), an empty issue listing and an empty comment listing.

Enrichment: records whose latest ``issues``/``pulls`` row is partial (GH Archive payloads trimmed
since 2025-10, id-only Timeline events) and that the listing did not return are crawled one by one
(``GET /issues/{n}``, ``GET /pulls/{n}``, their comments, and the PR details as for a changed PR);
``partial_records`` finds them in the data root and ``RepoCrawler(partial=...)`` takes them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ingest.config import CrawlConfig
from ingest.filters import is_bot, repo_skip_reason
from ingest.github_client import GitHubClient, NotFound, RequestRejected
from ingest.links import find_links
from ingest.records import (
    BadRecord,
    commit_row,
    file_row,
    is_pull_item,
    issue_comment_row,
    issue_row,
    payload,
    pull_row,
    repo_row,
    review_comment_row,
    review_row,
)
from ingest.schema import RAW_TABLES, TABLES
from ingest.store import DataRoot, _present, _q, _scan

log = logging.getLogger("swe_curate.ingest.api")

Progress = Callable[[str, str, int], None]  # (repo, phase, items so far)
Sink = Callable[[dict[str, list[dict[str, Any]]]], None]  # writes a part of each table's rows
PartialRecords = Mapping[str, Iterable[int]]  # "issues" / "pulls" -> numbers whose latest row is partial


@dataclass
class Watermark:
    """``since`` position of a listing sorted by ``updated_at`` ascending: the newest timestamp
    seen and the ids seen at exactly that second (GitHub's ``since`` is inclusive and has
    one-second resolution, so those ids come back and must not be stored twice)."""

    at: str | None = None
    ids: list[int] = field(default_factory=list)
    listed: bool = False  # one complete listing done (an empty listing leaves ``at`` unset)

    def seen(self, updated_at: str, ident: int) -> bool:
        return updated_at == self.at and ident in self.ids

    def advance(self, updated_at: str, ident: int) -> None:
        if self.at is None or updated_at > self.at:
            self.at, self.ids = updated_at, [ident]
        elif updated_at == self.at and ident not in self.ids:
            self.ids.append(ident)


@dataclass
class RepoCursor:
    """What the next crawl of a repository needs (``raw/_state/<owner>__<repo>.json``)."""

    repo: str
    etag: str | None = None
    etag_token: str | None = None  # ETags are token-specific: prefer the same token next time
    repo_meta: dict[str, Any] = field(default_factory=dict)  # fields the filters read
    issues: Watermark = field(default_factory=Watermark)
    comments: Watermark = field(default_factory=Watermark)
    review_comments: Watermark = field(default_factory=Watermark)
    pr_heads: dict[str, str] = field(default_factory=dict)  # number -> "base_sha:head_sha"
    dropped: list[int] = field(default_factory=list)  # bot-authored issues/PRs (their comments too)
    gone: list[int] = field(default_factory=list)  # partial records GitHub no longer has (404/410): not refetched
    last_crawl_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo, "etag": self.etag, "etag_token": self.etag_token, "repo_meta": self.repo_meta,
            "issues": vars(self.issues), "comments": vars(self.comments),
            "review_comments": vars(self.review_comments), "pr_heads": self.pr_heads,
            "dropped": sorted(self.dropped), "gone": sorted(self.gone), "last_crawl_id": self.last_crawl_id,
            "version": 1,
        }

    @classmethod
    def from_json(cls, repo: str, js: dict[str, Any] | None) -> RepoCursor:
        if not js:
            return cls(repo)
        return cls(
            repo=js.get("repo", repo), etag=js.get("etag"), etag_token=js.get("etag_token"),
            repo_meta=js.get("repo_meta") or {},
            issues=Watermark(**(js.get("issues") or {})), comments=Watermark(**(js.get("comments") or {})),
            review_comments=Watermark(**(js.get("review_comments") or {})),
            pr_heads=dict(js.get("pr_heads") or {}), dropped=list(js.get("dropped") or []),
            gone=list(js.get("gone") or []), last_crawl_id=js.get("last_crawl_id"),
        )


@dataclass
class RepoResult:
    repo: str
    status: str = "ok"  # ok | filtered | failed
    reason: str | None = None
    detail: str | None = None
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {t: [] for t in RAW_TABLES})
    dropped: Counter[str] = field(default_factory=Counter)
    cursor: RepoCursor | None = None
    enriched: Counter[str] = field(default_factory=Counter)  # partial records refetched: "issues", "pulls", "requests"


_FILTER_FIELDS = ("full_name", "fork", "archived", "stargazers_count", "license", "default_branch")

_COMMITS = ("commits(first: 100{after}) {{ totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ commit {{ "
            "oid message authoredDate committedDate author {{ name email date user {{ login }} }} "
            "committer {{ name email date }} }} }} }}")
_REVIEWS = ("reviews(first: 100{after}) {{ totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ "
            "fullDatabaseId body state submittedAt author {{ login __typename }} }} }}")


class RepoCrawler:
    """Crawls one repository; construct per repository and call ``crawl()``."""

    def __init__(self, client: GitHubClient, config: CrawlConfig, repo: str, cursor: RepoCursor,
                 crawled_at: datetime, progress: Progress | None = None, sink: Sink | None = None,
                 partial: PartialRecords | None = None):
        self.client = client
        self.cfg = config
        self.repo = repo
        self.prev = cursor
        self.cur = RepoCursor.from_json(repo, cursor.to_json())
        self.now = crawled_at
        self.res = RepoResult(repo, cursor=self.cur)
        self.progress = progress or (lambda repo, phase, n: None)
        self.sink = sink
        self.default_branch: str | None = None
        self._dropped_numbers: set[int] = set(cursor.dropped)
        # Records whose stored row is partial (``partial_records``): crawled one by one unless the
        # listing returns them anyway.
        self.partial = {t: set((partial or {}).get(t, ())) for t in ("issues", "pulls")}
        self._listed: set[int] = set()  # numbers the issue listing returned in this crawl
        self._enriched: set[int] = set()

    # -- helpers -------------------------------------------------------------------------------
    def _maybe_flush(self) -> None:
        """Hand the buffered rows to the sink once there are ``flush_rows`` of them (called
        between pages and between PRs, so a PR's files always land in one part)."""
        if self.sink is None or sum(map(len, self.res.rows.values())) < self.cfg.flush_rows:
            return
        self.sink(self.res.rows)
        self.res.rows = {t: [] for t in RAW_TABLES}

    def _bot(self, login: str | None, user_type: str | None) -> bool:
        return self.cfg.drop_bots and is_bot(login, user_type, self.cfg.extra_bot_logins)

    def _reject(self, table: str, key: str, reason: str, js: Any) -> None:
        self.res.rows["rejects"].append({
            "table": table, "repo": self.repo, "key": key, "reason": reason, "payload": payload(js),
            "source": "api", "crawled_at": self.now,
        })
        self.res.dropped[f"{table}:reject_{reason}"] += 1

    # -- phases --------------------------------------------------------------------------------
    def crawl(self) -> RepoResult:
        if not self._repo_metadata():
            return self.res
        changed_prs = self._issues()
        enriched_prs = self._enrich()
        pulls = self._pulls(changed_prs) if changed_prs else {}
        pulls.update(enriched_prs)
        if pulls:
            self._pull_details(pulls)
        self._issue_comments()
        if pulls or not self.prev.review_comments.listed:
            # New review comments bump their PR's updated_at, so with no changed PR there is
            # nothing new to list (edits of old review comments wait for the PR's next change).
            self._review_comments()
        self.cur.dropped = sorted(self._dropped_numbers)
        return self.res

    def _repo_metadata(self) -> bool:
        etag = self.prev.etag if self.prev.repo_meta else None  # a 304 needs the fields it stands for
        resp = self.client.get(f"/repos/{self.repo}", etag=etag, prefer=self.prev.etag_token, kind="repo")
        if resp.status == 304:
            meta = self.prev.repo_meta
        else:
            js = resp.data
            try:
                self.res.rows["repos"].append(repo_row(js, self.now))
            except BadRecord as exc:
                self._reject("repos", self.repo, exc.reason, js)
                self.res.status, self.res.reason = "failed", "bad_repo_metadata"
                return False
            meta = {k: js.get(k) for k in _FILTER_FIELDS}
            self.cur.repo_meta = meta
            self.cur.etag = resp.headers.get("etag")
            self.cur.etag_token = resp.token if self.cur.etag else None
        # GitHub redirects renamed repositories; key every row by the canonical name.
        canonical = meta.get("full_name") or self.repo
        if canonical != self.repo:
            log.info("%s is now %s", self.repo, canonical)
            self.repo = self.res.repo = canonical
        self.default_branch = meta.get("default_branch")
        reason = repo_skip_reason(meta, min_stars=self.cfg.min_stars, licenses=self.cfg.licenses,
                                  include_forks=self.cfg.include_forks,
                                  include_archived=self.cfg.include_archived)
        if reason:
            self.res.status, self.res.reason = "filtered", reason
            return False
        return True

    def _issues(self) -> dict[int, dict[str, Any]]:
        """List issues and PRs updated since the watermark; returns the changed PRs' items."""
        params: dict[str, Any] = {"state": "all", "sort": "updated", "direction": "asc"}
        if self.prev.issues.at:
            params["since"] = self.prev.issues.at
        changed_prs: dict[int, dict[str, Any]] = {}
        n = 0
        for page in self.client.paginate(f"/repos/{self.repo}/issues", params, kind="issues"):
            for js in page:
                upd, num = js.get("updated_at"), js.get("number")
                if isinstance(num, int):
                    self._listed.add(num)
                if isinstance(upd, str) and isinstance(num, int):
                    if self.prev.issues.seen(upd, num):
                        continue
                    self.cur.issues.advance(upd, num)
                try:
                    row = issue_row(self.repo, js, self.now)
                except BadRecord as exc:
                    self._reject("issues", str(num), exc.reason, js)
                    continue
                if self._bot(row["author"], row["author_type"]):
                    self._dropped_numbers.add(row["number"])
                    self.res.dropped["issues:bot_author"] += 1
                    if row["is_pull_request"]:
                        self.res.dropped["pulls:bot_author"] += 1
                    continue
                self._dropped_numbers.discard(row["number"])
                self.res.rows["issues"].append(row)
                if is_pull_item(js):
                    changed_prs[row["number"]] = js
                n += 1
            self.progress(self.repo, "issues", n)
            self._maybe_flush()
        return changed_prs

    def _enrich(self) -> dict[int, dict[str, Any]]:
        """Crawl, one by one, the partial records the listing did not return, as the listing would
        have: the issue row (``GET /issues/{n}``) and its comments, and for a PR the PR JSON
        (``GET /pulls/{n}``, then ``_pull_details`` like a changed PR) and its review comments.
        Bot-authored and vanished (404/410) records are remembered in the cursor, not refetched."""
        skip = self._listed | self._dropped_numbers | set(self.cur.gone)
        todo = sorted((self.partial["issues"] | self.partial["pulls"]) - skip)
        found: dict[int, dict[str, Any]] = {}
        for num in todo:
            js = self._enrich_get(f"/repos/{self.repo}/issues/{num}", "issues", num, "enrich_issue")
            if js is None:
                continue
            try:
                row = issue_row(self.repo, js, self.now)
            except BadRecord as exc:
                self._reject("issues", str(num), exc.reason, js)
                continue
            if self._bot(row["author"], row["author_type"]):
                self._dropped_numbers.add(num)
                self.res.dropped["issues:bot_author"] += 1
                if row["is_pull_request"]:
                    self.res.dropped["pulls:bot_author"] += 1
                continue
            self.res.rows["issues"].append(row)
            self.res.enriched["issues"] += 1
            self._enriched.add(num)
            self._enrich_comments(f"/repos/{self.repo}/issues/{num}/comments", issue_comment_row)
            if row["is_pull_request"]:
                pr = self._enrich_get(f"/repos/{self.repo}/pulls/{num}", "pulls", num, "enrich_pull")
                if pr is not None:
                    found[num] = pr
                    self.res.enriched["pulls"] += 1
                    self._enrich_comments(f"/repos/{self.repo}/pulls/{num}/comments", review_comment_row)
        if todo:
            log.info("%s: enriched %d partial records (%d PRs)", self.repo, self.res.enriched["issues"],
                     self.res.enriched["pulls"])
        return found

    def _enrich_get(self, path: str, table: str, num: int, kind: str) -> dict[str, Any] | None:
        self.res.enriched["requests"] += 1
        try:
            return self.client.get(path, kind=kind).data
        except (NotFound, RequestRejected) as exc:
            if isinstance(exc, RequestRejected) and exc.status != 410:
                raise
            self.cur.gone.append(num)  # deleted or transferred away: stop asking
            self._reject(table, str(num), "gone", {"number": num, "error": str(exc)})
            return None

    def _enrich_comments(self, path: str,
                         mapper: Callable[[str, dict[str, Any], datetime], dict[str, Any]]) -> None:
        """Every comment of one enriched record (the repo-wide listings only return recent ones)."""
        for page in self.client.paginate(path, kind="enrich_comments"):
            self.res.enriched["requests"] += 1
            for js in page:
                try:
                    row = mapper(self.repo, js, self.now)
                except BadRecord as exc:
                    self._reject("comments", str(js.get("id")), exc.reason, js)
                    continue
                if self._bot(row["author"], row["author_type"]):
                    self.res.dropped["comments:bot_author"] += 1
                    continue
                self.res.rows["comments"].append(row)
        self._maybe_flush()

    def _pulls(self, wanted: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
        """PR list items (base/head/merge SHAs) for the changed PRs, newest first, stopping early."""
        found: dict[int, dict[str, Any]] = {}
        stop_before = self.prev.issues.at
        params = {"state": "all", "sort": "updated", "direction": "desc"}
        done = False
        for page in self.client.paginate(f"/repos/{self.repo}/pulls", params, kind="pulls"):
            for js in page:
                num = js.get("number")
                if num in wanted and num not in found:
                    found[num] = js
                upd = js.get("updated_at")
                if len(found) == len(wanted) or (stop_before and isinstance(upd, str) and upd < stop_before):
                    done = True
                    break
            if done:
                break
        for num in sorted(set(wanted) - set(found)):
            # Changed between the two listings, or missing from the list: one direct GET.
            try:
                found[num] = self.client.get(f"/repos/{self.repo}/pulls/{num}", kind="pull").data
            except NotFound:
                self._reject("pulls", str(num), "pull_not_found", wanted[num])
        return found

    def _pull_details(self, pulls: dict[int, dict[str, Any]]) -> None:
        need_files: list[int] = []
        moved: set[int] = set()
        for num, js in sorted(pulls.items()):
            head = f"{(js.get('base') or {}).get('sha')}:{(js.get('head') or {}).get('sha')}"
            if self.prev.pr_heads.get(str(num)) != head:
                moved.add(num)
            self.cur.pr_heads[str(num)] = head
            merged = js.get("merged_at") is not None
            mode = self.cfg.pull_files
            if num in moved and (mode == "all" or mode == ("merged" if merged else "unmerged")):
                need_files.append(num)

        commits, reviews = self._commits_and_reviews(sorted(pulls), moved)
        for num, js in sorted(pulls.items()):
            msgs = [c.get("commit", {}).get("message") for c in commits.get(num, [])]
            base_default = (js.get("base") or {}).get("ref") == self.default_branch
            links = find_links([js.get("title"), js.get("body"), *msgs], self.repo, num, base_default)
            try:
                self.res.rows["pulls"].append(pull_row(self.repo, js, self.default_branch, links, self.now))
            except BadRecord as exc:
                self._reject("pulls", str(num), exc.reason, js)
                continue
            if num in moved:
                for pos, c in enumerate(commits.get(num, [])):
                    try:
                        self.res.rows["pull_commits"].append(commit_row(self.repo, num, pos, c, self.now))
                    except BadRecord as exc:
                        self._reject("pull_commits", f"{num}", exc.reason, c)
            for rv in reviews.get(num, []):
                self._add_review(num, rv)

        for i, num in enumerate(need_files):
            head_sha = (pulls[num].get("head") or {}).get("sha")
            for page in self.client.paginate(f"/repos/{self.repo}/pulls/{num}/files", kind="pull_files"):
                for f in page:
                    try:
                        self.res.rows["pull_files"].append(file_row(self.repo, num, head_sha, f, self.now))
                    except BadRecord as exc:
                        self._reject("pull_files", str(num), exc.reason, f)
            self.progress(self.repo, "files", i + 1)
            self._maybe_flush()

    def _add_review(self, num: int, rv: dict[str, Any]) -> None:
        submitted = rv.get("submittedAt", rv.get("submitted_at"))
        if not submitted:
            return  # pending reviews are private drafts
        if num not in self._enriched and self.prev.issues.at and submitted < self.prev.issues.at:
            return  # stored by an earlier crawl (reviews are listed whole per PR)
        try:
            row = review_row(self.repo, num, rv, self.now)
        except BadRecord as exc:
            self._reject("comments", f"{num}/review", exc.reason, rv)
            return
        if self._bot(row["author"], row["author_type"]):
            self.res.dropped["comments:bot_author"] += 1
            return
        self.res.rows["comments"].append(row)

    def _commits_and_reviews(self, numbers: list[int], moved: set[int]
                             ) -> tuple[dict[int, list[dict[str, Any]]], dict[int, list[dict[str, Any]]]]:
        mode = self.cfg.commits_and_reviews
        if mode == "graphql" and self.client.pool.anonymous:
            mode = "rest"  # GitHub's GraphQL API requires authentication
        commits: dict[int, list[dict[str, Any]]] = {}
        reviews: dict[int, list[dict[str, Any]]] = {}
        if mode == "none":
            return commits, reviews
        if mode == "rest":
            for num in numbers:
                commits[num] = [c for page in self.client.paginate(
                    f"/repos/{self.repo}/pulls/{num}/commits", kind="pull_commits") for c in page]
                reviews[num] = [r for page in self.client.paginate(
                    f"/repos/{self.repo}/pulls/{num}/reviews", kind="pull_reviews") for r in page]
            return commits, reviews
        owner, name = self.repo.split("/", 1)
        batch = self.cfg.graphql_batch
        for i in range(0, len(numbers), batch):
            chunk = numbers[i:i + batch]
            fields = " ".join(
                f"pr{n}: pullRequest(number: {n}) {{ number {_COMMITS.format(after='')} "
                f"{_REVIEWS.format(after='')} }}" for n in chunk)
            query = f"query($owner: String!, $name: String!) {{ repository(owner: $owner, name: $name) {{ {fields} }} }}"
            data = self.client.graphql(query, {"owner": owner, "name": name}, kind="graphql_pulls")
            repo_data = data.get("repository") or {}
            for n in chunk:
                pr = repo_data.get(f"pr{n}")
                if not pr:
                    continue
                commits[n] = self._drain(owner, name, n, "commits", pr.get("commits"))
                reviews[n] = self._drain(owner, name, n, "reviews", pr.get("reviews"))
            self.progress(self.repo, "commits", min(i + batch, len(numbers)))
        return commits, reviews

    def _drain(self, owner: str, name: str, num: int, conn: str, first: dict[str, Any] | None) -> list[dict[str, Any]]:
        """All nodes of a PR's connection, following ``pageInfo`` past the first 100."""
        if not first:
            return []
        nodes = list(first.get("nodes") or [])
        page = first.get("pageInfo") or {}
        template = _COMMITS if conn == "commits" else _REVIEWS
        while page.get("hasNextPage") and page.get("endCursor"):
            q = (f"query($owner: String!, $name: String!, $after: String!) {{ repository(owner: $owner, "
                 f"name: $name) {{ pullRequest(number: {num}) {{ {template.format(after=', after: $after')} }} }} }}")
            data = self.client.graphql(q, {"owner": owner, "name": name, "after": page["endCursor"]},
                                       kind=f"graphql_{conn}_page")
            c = ((data.get("repository") or {}).get("pullRequest") or {}).get(conn) or {}
            nodes.extend(c.get("nodes") or [])
            page = c.get("pageInfo") or {}
        return [n for n in nodes if n]

    def _listing(self, path: str, wm_prev: Watermark, wm_cur: Watermark, table_kind: str,
                 mapper: Callable[[str, dict[str, Any], datetime], dict[str, Any]]) -> None:
        params: dict[str, Any] = {"sort": "updated", "direction": "asc"}
        if wm_prev.at:
            params["since"] = wm_prev.at
        n = 0
        for page in self.client.paginate(path, params, kind=table_kind):
            for js in page:
                upd, cid = js.get("updated_at"), js.get("id")
                if isinstance(upd, str) and isinstance(cid, int):
                    if wm_prev.seen(upd, cid):
                        continue
                    wm_cur.advance(upd, cid)
                try:
                    row = mapper(self.repo, js, self.now)
                except BadRecord as exc:
                    self._reject("comments", str(cid), exc.reason, js)
                    continue
                if row["number"] in self._dropped_numbers:
                    self.res.dropped["comments:parent_dropped"] += 1
                    continue
                if self._bot(row["author"], row["author_type"]):
                    self.res.dropped["comments:bot_author"] += 1
                    continue
                self.res.rows["comments"].append(row)
                n += 1
            self.progress(self.repo, table_kind, n)
            self._maybe_flush()
        wm_cur.listed = True

    def _issue_comments(self) -> None:
        self._listing(f"/repos/{self.repo}/issues/comments", self.prev.comments, self.cur.comments,
                      "issue_comments", issue_comment_row)

    def _review_comments(self) -> None:
        self._listing(f"/repos/{self.repo}/pulls/comments", self.prev.review_comments, self.cur.review_comments,
                      "review_comments", review_comment_row)


def partial_records(root: DataRoot, repo: str) -> dict[str, list[int]]:
    """Numbers of ``repo``'s records whose latest ``issues`` / ``pulls`` row is partial: what
    ``RepoCrawler(partial=...)`` refetches. Reads only the key and version columns of that
    repository's rows, ordered exactly as ``DataRoot.read_latest`` orders them."""
    out: dict[str, list[int]] = {}
    for table in ("issues", "pulls"):
        files = root.table_files(table)
        if not files:
            continue
        spec = TABLES[table]
        scan = _scan(root, files)
        with root.connect() as con:
            present = _present(con, scan)
            if "partial" not in present:
                continue
            order = ", ".join(f"coalesce({_q(v[1:])}, false) ASC" if v.startswith("-") else f"{_q(v)} DESC NULLS LAST"
                              for v in spec.version if v.lstrip("-") in present) + ", filename DESC"
            rows = con.execute(
                f"SELECT number FROM (SELECT number, partial, row_number() OVER (PARTITION BY number ORDER BY {order}) "
                f"AS _rn FROM {scan} WHERE repo = ?) WHERE _rn = 1 AND partial ORDER BY number", [repo]).fetchall()
        if rows:
            out[table] = [r[0] for r in rows]
    return out


__all__ = ["PartialRecords", "RepoCrawler", "RepoCursor", "RepoResult", "Watermark", "partial_records"]
