"""Prefect flow of the crawl: one task per repository, failures collected, never fatal.

Reads/writes what ``ingest.run`` does. The one idea: tasks are one-line wrappers around
``CrawlSession.crawl_repo``; they pass names and paths, and tokens never become flow parameters
(they are read from the environment inside the process, so Prefect never stores them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from ingest.config import CrawlConfig, GhArchiveConfig, GitConfig
from ingest.gharchive_source import ingest_gharchive
from ingest.run import CrawlSession, CrawlSummary, GitSession, ProgressFn, RepoOutcome, tokens_from_env

# Sessions of the crawls running in this process, by crawl id: tasks look theirs up, so the
# token pool and its budgets are shared by all repositories of one crawl.
_SESSIONS: dict[str, CrawlSession | GitSession] = {}
_progress: ProgressFn | None = None


def set_progress(fn: ProgressFn | None) -> None:
    """Progress callback for crawls started in this process (the CLI's progress bars)."""
    global _progress
    _progress = fn


@task(name="crawl-repo", cache_policy=NO_CACHE, task_run_name="crawl {repo}")
def crawl_repo_task(crawl_id: str, repo: str) -> RepoOutcome:
    session = _SESSIONS[crawl_id]
    assert isinstance(session, CrawlSession)
    return session.crawl_repo(repo)


@task(name="git-repo", cache_policy=NO_CACHE, task_run_name="git {repo}")
def git_repo_task(crawl_id: str, repo: str, source: str) -> RepoOutcome:
    session = _SESSIONS[crawl_id]
    assert isinstance(session, GitSession)
    return session.ingest_target(repo, source)


def _run_tasks(session: CrawlSession | GitSession, submit: Callable[[], list[Any]]) -> CrawlSummary:
    """Register the session for its tasks, run them, and summarize their outcomes."""
    _SESSIONS[session.crawl_id] = session
    try:
        outcomes = [f.result() for f in submit()]
    finally:
        _SESSIONS.pop(session.crawl_id, None)
    return session.summary(outcomes)


def summary_markdown(summary: CrawlSummary) -> str:
    lines = [f"# Crawl `{summary.crawl_id}`", "", f"Data root: `{summary.data_root}`", "",
             "| repo | status | reason | requests | wait s | git | records |", "|---|---|---|---|---|---|---|"]
    for o in summary.outcomes:
        recs = ", ".join(f"{k} {v}" for k, v in sorted(o.records.items()))
        lines.append(f"| {o.repo} | {o.status} | {o.reason or ''} | {o.requests} | {o.wait_s:.1f} | "
                     f"{o.git or ''} | {recs} |")
    return "\n".join(lines) + "\n"


@flow(name="crawl", task_runner=ThreadPoolTaskRunner(max_workers=4))
def crawl_flow(data_root: str, config: dict[str, Any] | None = None,
               repos: list[str] | None = None, git_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Crawl repositories (from ``repos`` or the config) into one batch under ``<data_root>/raw``;
    with the git source in auto mode, each crawled repository's clone adds its diffs and snapshots."""
    cfg = CrawlConfig.from_dict(config, "crawl")
    git_cfg = GitConfig.from_dict(git_config, "git")
    session = CrawlSession(data_root, cfg, tokens_from_env(), progress=_progress,
                           git_config=git_cfg if git_cfg.mode == "auto" else None)
    targets = list(dict.fromkeys(repos)) if repos else session.resolve_repos()
    session.check()
    summary = _run_tasks(session, lambda: [crawl_repo_task.submit(session.crawl_id, r) for r in targets])
    create_markdown_artifact(markdown=summary_markdown(summary), key="crawl-summary",
                             description=f"crawl {summary.crawl_id}")
    return summary.to_json()


@flow(name="crawl-git", task_runner=ThreadPoolTaskRunner(max_workers=2))
def git_flow(data_root: str, git_config: dict[str, Any] | None, sources: list[str]) -> dict[str, Any]:
    """The git source over explicit clone sources (paths or URLs), one task per repository."""
    cfg = GitConfig.from_dict(git_config, "git")
    session = GitSession(data_root, cfg, progress=_progress)
    targets = session.parse_targets(sources)
    summary = _run_tasks(session, lambda: [git_repo_task.submit(session.crawl_id, r, s) for r, s in targets])
    create_markdown_artifact(markdown=summary_markdown(summary), key="crawl-git-summary",
                             description=f"git crawl {summary.crawl_id}")
    return summary.to_json()


def run_crawl_flow(data_root: str, cfg: CrawlConfig, repos: list[str] | None = None,
                   git_cfg: GitConfig | None = None) -> dict[str, Any]:
    """Run the crawl flow with ``cfg.concurrency`` repositories in flight."""
    runner = ThreadPoolTaskRunner(max_workers=cfg.concurrency)
    git = (git_cfg or GitConfig()).model_dump(mode="json")
    return crawl_flow.with_options(task_runner=runner)(data_root, cfg.model_dump(mode="json"), repos, git)


def run_git_flow(data_root: str, cfg: GitConfig, sources: list[str]) -> dict[str, Any]:
    return git_flow(data_root, cfg.model_dump(mode="json"), sources)


@task(name="gharchive", cache_policy=NO_CACHE)
def gharchive_task(data_root: str, config: dict[str, Any], sources: list[str],
                   repos: list[str] | None) -> dict[str, Any]:
    cfg = GhArchiveConfig.from_dict(config, "gharchive")
    return ingest_gharchive(data_root, cfg, sources, repos=repos, progress=_progress).to_json()


def gharchive_markdown(result: dict[str, Any]) -> str:
    lines = [f"# GH Archive ingest `{result['crawl_id']}`", "", f"Data root: `{result['data_root']}`", "",
             "| file | status | reason | events | matched | rows |", "|---|---|---|---|---|---|"]
    for f in result["per_file"]:
        rows = ", ".join(f"{k} {v}" for k, v in sorted(f["rows"].items()))
        lines.append(f"| {f['name']} | {f['status']} | {f['reason'] or ''} | {f['events']} | {f['matched']} | {rows} |")
    return "\n".join(lines) + "\n"


@flow(name="crawl-gharchive")
def gharchive_flow(data_root: str, config: dict[str, Any] | None, sources: list[str],
                   repos: list[str] | None = None) -> dict[str, Any]:
    """GH Archive hour files streamed into the raw tables (one pass, constant memory; files
    already ingested are skipped, so a re-run resumes)."""
    result = gharchive_task(data_root, config or {}, sources, repos)
    create_markdown_artifact(markdown=gharchive_markdown(result), key="gharchive-summary",
                             description=f"GH Archive ingest {result['crawl_id']}")
    return result


def run_gharchive_flow(data_root: str, cfg: GhArchiveConfig, sources: list[str],
                       repos: list[str] | None = None) -> dict[str, Any]:
    return gharchive_flow(data_root, cfg.model_dump(mode="json"), sources, repos)
