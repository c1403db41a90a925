"""The ingest stage's one I/O entry: crawl repositories into one append-only batch under ``raw/``.

Reads: the GitHub API (``config.api_url``), tokens from the environment, per-repo cursors
``raw/_state/<owner>__<repo>.json``. Writes: ``raw/<table>/batch=<crawl_id>/part-<owner>__<repo>-NNNNN.parquet``
for every raw table, ``raw/crawl_log/...`` (one row per repository: status, reason, counts,
requests, waits), then the repository's cursor.

The one idea: a repository is the unit of commit. Its parts are written atomically, then its log
row, then its cursor; a crash loses at most the repositories in flight, and the re-run, reading
latest-per-key, ends with the same tables.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from ingest import git_source
from ingest.api_source import RepoCrawler, RepoCursor, RepoResult, partial_records
from ingest.config import REPO_RE, CrawlConfig, GitConfig, read_repos_file
from ingest.errors import ConfigError, FatalSourceError, RateLimitWaitTooLong, RetryableError
from ingest.github_client import GitHubClient, NotFound, RequestRejected
from ingest.schema import RAW_TABLES, TABLES, repo_slug
from ingest.store import DataRoot

log = logging.getLogger("swe_curate.ingest")

ProgressFn = Callable[[str, str, dict[str, Any]], None]  # (event, repo, info)


def tokens_from_env(env: dict[str, str] | None = None) -> list[str]:
    """``GITHUB_TOKENS`` (comma-separated) or ``GITHUB_TOKEN``; empty means anonymous."""
    env = dict(os.environ) if env is None else env
    many = [t.strip() for t in env.get("GITHUB_TOKENS", "").split(",") if t.strip()]
    return many or ([env["GITHUB_TOKEN"].strip()] if env.get("GITHUB_TOKEN", "").strip() else [])


def new_crawl_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@dataclass
class RepoOutcome:
    repo: str
    status: str  # ok | filtered | failed
    reason: str | None = None
    detail: str | None = None
    records: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    wait_s: float = 0.0
    seconds: float = 0.0
    git: str | None = None  # the git source: ok | unreachable | failed: <reason> | None (not run)
    git_prs: int = 0  # PRs read from the clone in this crawl


@dataclass
class CrawlSummary:
    crawl_id: str
    data_root: str
    outcomes: list[RepoOutcome]
    requests: int
    wait_s: float
    seconds: float

    @property
    def records(self) -> Counter[str]:
        c: Counter[str] = Counter()
        for o in self.outcomes:
            c.update(o.records)
        return c

    @property
    def dropped(self) -> Counter[str]:
        c: Counter[str] = Counter()
        for o in self.outcomes:
            c.update(o.dropped)
        return c

    def by_status(self) -> Counter[str]:
        return Counter(o.status for o in self.outcomes)

    def failed(self) -> list[RepoOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def to_json(self) -> dict[str, Any]:
        return {"crawl_id": self.crawl_id, "data_root": self.data_root, "requests": self.requests,
                "wait_s": round(self.wait_s, 3), "seconds": round(self.seconds, 3),
                "records": dict(sorted(self.records.items())), "dropped": dict(sorted(self.dropped.items())),
                "repos": [asdict(o) for o in self.outcomes]}


def _table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as an Arrow table in key order, so the same rows always give the same bytes."""
    spec = TABLES[name]
    cols = spec.key + tuple(v.lstrip("-") for v in spec.version)
    rows = sorted(rows, key=lambda r: tuple((r.get(k) is None, r.get(k) if r.get(k) is not None else 0)
                                            for k in cols))
    return pa.Table.from_pylist(rows, schema=spec.schema)


class _PartWriter:
    """Writes a repository's rows as numbered parts: ``part-<owner>__<repo>-00000.parquet``, ...

    Parts of a failed attempt stay (their rows are valid, and the cursor did not move, so the
    next crawl fetches them again and latest-per-key keeps one copy)."""

    def __init__(self, root: DataRoot, crawl_id: str, slug: str):
        self.root, self.crawl_id, self.slug = root, crawl_id, slug
        self.seq: Counter[str] = Counter()
        self.rows: Counter[str] = Counter()  # rows written per table (the crawl log's counts)

    def write(self, rows_by_table: dict[str, list[dict[str, Any]]]) -> None:
        for name in RAW_TABLES:
            rows = rows_by_table.get(name) or []
            if rows:
                n = self.seq[name]
                self.seq[name] += 1
                self.rows[name] += len(rows)
                self.root.write_parquet(f"raw/{name}/batch={self.crawl_id}/part-{self.slug}-{n:05d}.parquet",
                                        _table(name, rows))


class CrawlSession:
    """One crawl: config, token pool and batch id, shared by the repositories crawled in this
    process (threads or Prefect tasks)."""

    def __init__(self, data_root: str | os.PathLike[str], config: CrawlConfig, tokens: list[str],
                 crawl_id: str | None = None, progress: ProgressFn | None = None,
                 git_config: GitConfig | None = None):
        self.root = DataRoot(data_root)
        self.config = config
        self.git_config = git_config
        self.client = GitHubClient(config, tokens)
        self.crawl_id = crawl_id or new_crawl_id()
        self.progress = progress or (lambda event, repo, info: None)
        self.started = time.monotonic()
        self.explicit: set[str] = set()
        self._checked = False
        self._lock = threading.Lock()

    # -- before work ---------------------------------------------------------------------------
    def check(self) -> None:
        """Validate tokens and learn their budgets before any repository work (idempotent)."""
        with self._lock:
            if not self._checked:
                self.client.check_tokens()
                self._checked = True

    def resolve_repos(self) -> list[str]:
        """Repositories from config, the repos file and the search query, in that order, unique."""
        repos: list[str] = list(self.config.repos)
        if self.config.repos_file:
            repos += read_repos_file(self.config.repos_file)
        self.explicit = set(repos)
        if self.config.search:
            repos += self._search(self.config.search)
        if not repos:
            raise ConfigError("nothing to crawl: give --repo, --repos-file or --search (or [crawl] repos)")
        return list(dict.fromkeys(repos))

    def _search(self, query: str) -> list[str]:
        self.check()
        out: list[str] = []
        try:
            for page in self.client.paginate("/search/repositories", {"q": query, "sort": "stars", "order": "desc"},
                                             resource="search", items_key="items", kind="search"):
                out += [it["full_name"] for it in page if isinstance(it, dict) and it.get("full_name")]
                if len(out) >= self.config.search_limit or not page:
                    break
        except RequestRejected as exc:
            raise ConfigError(f"GitHub rejected the search query {query!r}: {exc}") from None
        return out[: self.config.search_limit]

    # -- the unit of work ----------------------------------------------------------------------
    def crawl_repo(self, repo: str) -> RepoOutcome:
        """Crawl one repository and commit it. Never raises for per-repo problems; raises
        ``FatalSourceError`` when the source refuses the whole crawl (every token rejected)."""
        self.check()
        t0 = time.monotonic()
        started = datetime.now(UTC)
        slug = repo_slug(repo)
        cursor = RepoCursor.from_json(repo, self.root.read_json(f"raw/_state/{slug}.json"))
        self.progress("start", repo, {})
        parts = _PartWriter(self.root, self.crawl_id, slug)
        res = RepoResult(repo, status="failed")
        # Records other sources left partial (GH Archive's trimmed payloads, PRs known only from
        # git history) are refetched one by one unless the listing brings them anyway.
        partial = partial_records(self.root, repo)
        git_url = self._git_url(repo) if self.git_config and self.git_config.mode == "auto" else None
        config = self.config
        if git_url:
            # The clone will give every merged PR's diff: the API fetches files only for the rest.
            config = config.model_copy(update={"pull_files": {"all": "unmerged", "merged": "none"}.get(
                config.pull_files, config.pull_files)})
        with self.client.counting() as counter:
            for attempt in (1, 2):
                # Each attempt has its own crawl time, so a PR's file set from a failed attempt
                # never mixes with the retry's (child sets are chosen by crawl time).
                crawled_at = datetime.now(UTC)
                try:
                    res = RepoCrawler(self.client, config, repo, cursor, crawled_at,
                                      lambda r, phase, n: self.progress("phase", r, {"phase": phase, "n": n}),
                                      sink=parts.write, partial=partial).crawl()
                    break
                except NotFound as exc:
                    res = RepoResult(repo, status="failed", reason="not_found", detail=str(exc))
                    break
                except RequestRejected as exc:
                    res = RepoResult(repo, status="failed", reason=f"http_{exc.status}", detail=str(exc))
                    break
                except RateLimitWaitTooLong as exc:
                    res = RepoResult(repo, status="failed", reason="rate_limit_wait_over_cap", detail=str(exc))
                    break
                except RetryableError as exc:
                    res = RepoResult(repo, status="failed", reason="retries_exhausted", detail=str(exc))
                    # The client already retried each request; one more whole-repo attempt
                    # covers a flapping server, then the crawl moves on.
                    if attempt == 1:
                        log.warning("%s: %s; retrying the repository once", repo, exc)
                except FatalSourceError:
                    raise
                except Exception as exc:  # a bug or an unexpected answer: record it, keep crawling
                    log.exception("%s: unexpected error", repo)
                    res = RepoResult(repo, status="failed", reason="error", detail=f"{type(exc).__name__}: {exc}"[:300])
                    break
        dropped = Counter(res.dropped)
        git = None
        if res.status != "failed":
            parts.write(res.rows)
            if res.status == "ok" and self.git_config and self.git_config.mode == "auto":
                git = self._git_after_api(repo, parts, git_url)
                dropped.update(git.dropped)
        outcome = RepoOutcome(
            repo=res.repo, status=res.status, reason=res.reason, detail=res.detail,
            # What is on disk, including parts a failed attempt flushed before it failed.
            records=dict(sorted(parts.rows.items())), dropped=dict(sorted(dropped.items())),
            requests=counter.requests, wait_s=round(counter.wait_s, 3),
            seconds=round(time.monotonic() - t0, 3), git=_git_status(git),
            git_prs=git.stats["prs"] if git else 0,
        )
        self._commit(slug, res, outcome, started)
        if git is not None:
            git_source.commit_state(self.root, repo, git)
        self.progress("done", repo, {"outcome": outcome})
        return outcome

    def _git_url(self, repo: str) -> str | None:
        """The repository's clone URL if it answers: the stored clone_url first (it may be stale:
        an unchanged repository is not re-read), then the one the API host implies (github.com,
        or a GitHub Enterprise host)."""
        assert self.git_config is not None
        row = self.root.read_latest("repos", repo).select(["clone_url"]).to_pylist()
        urls = list(dict.fromkeys(u for u in (row[0]["clone_url"] if row else None,
                                              git_source.clone_url_for(self.config.api_url, repo)) if u))
        return next((u for u in urls if git_source.probe(u, self.git_config.probe_timeout_s)), None)

    def _git_after_api(self, repo: str, parts: _PartWriter, url: str | None) -> git_source.GitResult:
        """Read the repository's merged PRs from its clone (probed before the API crawl)."""
        assert self.git_config is not None
        if not url:
            return git_source.GitResult(status="unreachable", reason="unreachable")
        # Read after the API crawl wrote this run's repository row: the default branch is current.
        row = self.root.read_latest("repos", repo).select(["default_branch"]).to_pylist()
        self.progress("phase", repo, {"phase": "git", "n": 0})
        return git_source.ingest_repo(
            self.root, self.git_config, repo, url, datetime.now(UTC), parts.write,
            default_branch=row[0]["default_branch"] if row else None,
            progress=lambda phase, n: self.progress("phase", repo, {"phase": phase, "n": n}))

    def _commit(self, slug: str, res: RepoResult, outcome: RepoOutcome, started: datetime) -> None:
        """The repository's log row, then (only if it succeeded) its cursor, last."""
        finished = datetime.now(UTC)
        log_row = {
            "crawl_id": self.crawl_id, "repo": res.repo, "status": outcome.status, "reason": outcome.reason,
            "detail": outcome.detail, "records": sorted(outcome.records.items()),
            "dropped": sorted(outcome.dropped.items()), "requests": outcome.requests, "wait_s": outcome.wait_s,
            "started_at": started, "finished_at": finished, "git": outcome.git, "source": "api",
            "crawled_at": started,
        }
        self.root.write_parquet(f"raw/crawl_log/batch={self.crawl_id}/part-{slug}.parquet",
                                pa.Table.from_pylist([log_row], schema=TABLES["crawl_log"].schema))
        if res.status != "failed" and res.cursor is not None:
            # The cursor moves only once every row it accounts for is durable.
            res.cursor.last_crawl_id = self.crawl_id
            self.root.write_json(f"raw/_state/{slug}.json", res.cursor.to_json())

    def summary(self, outcomes: Iterable[RepoOutcome]) -> CrawlSummary:
        return CrawlSummary(self.crawl_id, self.root.url, list(outcomes), self.client.total.requests,
                            self.client.total.wait_s, time.monotonic() - self.started)


def crawl(data_root: str | os.PathLike[str], config: CrawlConfig, tokens: list[str], *,
          repos: list[str] | None = None, progress: ProgressFn | None = None,
          crawl_id: str | None = None, git_config: GitConfig | None = None) -> CrawlSummary:
    """Crawl without Prefect (library use, tests, benches): repositories in a thread pool; with a
    ``git_config`` in auto mode, each crawled repository's clone too."""
    session = CrawlSession(data_root, config, tokens, crawl_id=crawl_id, progress=progress,
                           git_config=git_config)
    repos = repos or session.resolve_repos()
    session.check()
    with ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="crawl") as pool:
        outcomes = list(pool.map(session.crawl_repo, repos))
    return session.summary(outcomes)


def _git_status(res: git_source.GitResult | None) -> str | None:
    if res is None:
        return None
    return res.status if res.status != "failed" else f"failed: {res.reason}: {res.detail or ''}"[:300]


class GitSession:
    """One run of the git source over explicit clone sources (``crawl --git``): one batch, a
    crawl-log row per repository (source ``git``), then that repository's git cursor."""

    def __init__(self, data_root: str | os.PathLike[str], config: GitConfig, crawl_id: str | None = None,
                 progress: ProgressFn | None = None):
        git_source.require_git()
        self.root = DataRoot(data_root)
        self.config = config
        self.crawl_id = crawl_id or new_crawl_id()
        self.progress = progress or (lambda event, repo, info: None)
        self.started = time.monotonic()

    @staticmethod
    def parse_targets(specs: Iterable[str]) -> list[tuple[str, str]]:
        """``owner/name=SOURCE`` or ``SOURCE`` (the name derived from it) -> (repo, source).
        A local path that does not exist is a one-line error naming it."""
        out: dict[str, str] = {}
        for spec in specs:
            name, eq, src = spec.partition("=")
            repo, source = (name, src) if eq and "/" in name and "://" not in name else (None, spec)
            if git_source.is_local(source) and not os.path.isdir(source):
                raise ConfigError(f"--git {source}: no such directory")
            repo = repo or git_source.repo_from_source(source)
            if not REPO_RE.match(repo):
                raise ConfigError(f"--git {spec}: cannot tell owner/name (write it as owner/name=SOURCE)")
            out[repo] = source
        return list(out.items())

    def ingest_target(self, repo: str, source: str) -> RepoOutcome:
        t0 = time.monotonic()
        started = datetime.now(UTC)
        slug = repo_slug(repo)
        self.progress("start", repo, {})
        parts = _PartWriter(self.root, self.crawl_id, f"{slug}-git")
        row = self.root.read_latest("repos", repo).to_pylist()
        res = git_source.ingest_repo(
            self.root, self.config, repo, source, datetime.now(UTC), parts.write,
            default_branch=row[0]["default_branch"] if row else None,
            progress=lambda phase, n: self.progress("phase", repo, {"phase": phase, "n": n}))
        outcome = RepoOutcome(
            repo=repo, status="ok" if res.status == "ok" else "failed",
            reason=None if res.status == "ok" else res.reason, detail=res.detail,
            records=dict(sorted(parts.rows.items())), dropped=dict(sorted(res.dropped.items())),
            seconds=round(time.monotonic() - t0, 3), git=_git_status(res), git_prs=res.stats["prs"])
        log_row = {
            "crawl_id": self.crawl_id, "repo": repo, "status": outcome.status, "reason": outcome.reason,
            "detail": outcome.detail, "records": sorted(outcome.records.items()),
            "dropped": sorted(outcome.dropped.items()), "requests": 0, "wait_s": 0.0, "started_at": started,
            "finished_at": datetime.now(UTC), "git": outcome.git, "source": "git", "crawled_at": started,
        }
        self.root.write_parquet(f"raw/crawl_log/batch={self.crawl_id}/part-{slug}-git.parquet",
                                pa.Table.from_pylist([log_row], schema=TABLES["crawl_log"].schema))
        git_source.commit_state(self.root, repo, res)
        self.progress("done", repo, {"outcome": outcome})
        return outcome

    def summary(self, outcomes: Iterable[RepoOutcome]) -> CrawlSummary:
        return CrawlSummary(self.crawl_id, self.root.url, list(outcomes), 0, 0.0, time.monotonic() - self.started)


def ingest_git(data_root: str | os.PathLike[str], config: GitConfig, sources: list[str], *,
               crawl_id: str | None = None, progress: ProgressFn | None = None) -> CrawlSummary:
    """The git source alone, without Prefect (library use, tests, benches)."""
    session = GitSession(data_root, config, crawl_id=crawl_id, progress=progress)
    targets = session.parse_targets(sources)
    return session.summary([session.ingest_target(r, s) for r, s in targets])
