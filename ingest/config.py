"""Typed, validated configuration of the ingest stage (and the base every stage config uses).

Read: nothing (values come from the pipeline TOML and CLI flags). Written: nothing.
The one idea: a config is checked completely before any request is sent, and a bad value is
reported in one line naming the key, never echoing the value (it could be a secret).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ingest.errors import ConfigError

REPO_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


def check_repos(repos: tuple[str, ...]) -> tuple[str, ...]:
    """``repos`` unchanged if every one is an owner/name repository (a config validator's body)."""
    for r in repos:
        if not REPO_RE.match(r):
            raise ValueError(f"not an owner/name repository: {r!r}")
    return repos

# Permissive licences (SPDX ids), as in BigCode's The Stack. Copyleft or unknown (NOASSERTION,
# no licence) repositories are skipped unless the allow-list says otherwise.
DEFAULT_LICENSES = (
    "MIT", "MIT-0", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "BSD-3-Clause-Clear", "ISC",
    "0BSD", "Unlicense", "CC0-1.0", "Zlib", "PSF-2.0", "Python-2.0", "BSL-1.0", "WTFPL", "NCSA",
)


class StageConfig(BaseModel):
    """Base of all stage configs: unknown keys are errors, values are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, section: str) -> Self:
        try:
            return cls.model_validate(data or {})
        except ValidationError as exc:
            raise ConfigError(_one_line(exc, section)) from None

    def with_overrides(self, section: str, **overrides: Any) -> Self:
        """A copy with non-None overrides applied and validated again (CLI flags over TOML)."""
        data = self.model_dump()
        data.update({k: v for k, v in overrides.items() if v is not None})
        return type(self).from_dict(data, section)


def _one_line(exc: ValidationError, section: str) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in (section, *err["loc"]))
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
        if str(err["loc"][-1]).lower() in {"token", "tokens", "github_token", "github_tokens"}:
            msg += " (tokens come only from the GITHUB_TOKEN / GITHUB_TOKENS environment variables)"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"config error: {loc}: {msg}{more}"


class RepoSelection(StageConfig):
    """Which repositories and records a source keeps: a list, the repository filters, bots."""

    repos: tuple[str, ...] = ()
    repos_file: str | None = None

    # Repository filters (each skip is counted by reason).
    min_stars: int = Field(5, ge=0)  # Kimi-Dev's recipe
    licenses: tuple[str, ...] = DEFAULT_LICENSES
    include_forks: bool = False
    include_archived: bool = False

    # Record filters.
    drop_bots: bool = True
    extra_bot_logins: tuple[str, ...] = ()

    @field_validator("repos")
    @classmethod
    def _repos(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return check_repos(v)

    @field_validator("licenses", "extra_bot_logins")
    @classmethod
    def _nonempty_items(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not s.strip() for s in v):
            raise ValueError("empty entry")
        return v


class CrawlConfig(RepoSelection):
    """What to crawl from the GitHub REST/GraphQL API and how hard to push it."""

    api_url: str = "https://api.github.com"
    search: str | None = None
    search_limit: int = Field(1000, ge=1, le=1000)  # GitHub search returns at most 1,000 results

    # What to fetch per pull request.
    # unmerged: what the git source cannot give (it reads merged PRs); the crawl picks it by itself
    # for a repository whose clone answers while the git source is on.
    pull_files: Literal["all", "merged", "unmerged", "none"] = "all"
    commits_and_reviews: Literal["graphql", "rest", "none"] = "graphql"
    graphql_batch: int = Field(20, ge=1, le=50)

    # HTTP behaviour.
    per_page: int = Field(100, ge=1, le=100)
    timeout_s: int = Field(30, ge=1)
    max_attempts: int = Field(6, ge=1, le=50)
    backoff_base_s: float = Field(1.0, ge=0)
    backoff_max_s: float = Field(60.0, ge=0)
    max_rate_limit_wait_s: float = Field(900.0, ge=0)
    rate_limit_reserve: int = Field(10, ge=0)
    # Pause between two requests of one worker; GitHub asks clients not to burst.
    min_request_interval_s: float = Field(0.25, ge=0)

    # Concurrency: repositories in flight, and requests in flight per token (GitHub's secondary
    # limits punish concurrency per token, so this stays small).
    # A repository's rows are written in parts of about this many rows, so memory stays bounded
    # on the largest repositories (its cursor still moves only once the whole repository is in).
    flush_rows: int = Field(50_000, ge=100)
    concurrency: int = Field(4, ge=1, le=256)
    per_token_concurrency: int = Field(2, ge=1, le=32)

    @field_validator("api_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("must be an http(s) URL")
        return v.rstrip("/")


# Paths whose diffs teach nothing and whose pre-images are not kept (each skip is counted).
DEFAULT_VENDORED = ("vendor/", "vendored/", "third_party/", "third-party/", "thirdparty/", "node_modules/",
                    "site-packages/", "bower_components/", "_vendor/", "externals/")
DEFAULT_GENERATED = ("*_pb2.py", "*_pb2_grpc.py", "*.pb.go", "*.min.js", "*.min.css", "*.map",
                     "*_generated.*", "*.generated.*", "*.designer.cs", "*.snap")
DEFAULT_LOCKFILES = ("poetry.lock", "Pipfile.lock", "uv.lock", "pdm.lock", "package-lock.json", "yarn.lock",
                     "pnpm-lock.yaml", "Cargo.lock", "Gemfile.lock", "composer.lock", "go.sum", "*.lock",
                     "npm-shrinkwrap.json", "conda-lock.yml")


class GitConfig(StageConfig):
    """The git source: clones give every PR diff and base snapshot without API requests."""

    # auto: after the API crawl of a repository, clone its clone_url when reachable; off: never.
    mode: Literal["auto", "off"] = "auto"
    # Where clones live (a local directory: git cannot clone into object storage). Default:
    # ``<data root>/_git`` for a local data root, else ``~/.cache/swe-curate/git``.
    clone_dir: str | None = None
    # Partial clone filter for remote URLs ("" for a full clone). Blobs over 1 MB are the ones the
    # size limit skips anyway; git fetches any it still needs on demand.
    clone_filter: str = "blob:limit=1m"
    fetch_pull_refs: bool = True  # refs/pull/*/head: heads of PRs whose branch was deleted
    timeout_s: int = Field(1800, ge=1)  # one clone or fetch
    probe_timeout_s: int = Field(20, ge=1)  # is the clone URL reachable at all (auto mode)

    # Which PRs: merged PRs from the pulls table (API crawl), else merge/squash commits in history.
    from_history: bool = True
    # Branches whose first-parent history is searched for merged PRs, besides the default branch
    # (feature branches would offer commits that only look like squash merges).
    history_branches: tuple[str, ...] = ("release*", "maint*", "stable*", "*.x", "v[0-9]*")
    # Bounded work: a PR over either limit is skipped whole; a file over the size limit keeps its
    # row but not its patch or content.
    max_files: int = Field(100, ge=1)
    max_changed_lines: int = Field(20_000, ge=1)
    max_blob_bytes: int = Field(1_000_000, ge=1)
    max_tree_paths: int = Field(200_000, ge=1)
    vendored: tuple[str, ...] = DEFAULT_VENDORED  # path prefixes or glob patterns
    generated: tuple[str, ...] = DEFAULT_GENERATED
    lockfiles: tuple[str, ...] = DEFAULT_LOCKFILES
    keep_post_images: bool = True  # store head blobs too (format validates edits against them)
    drop_bots: bool = True  # PRs known only from history whose author is a bot (as the API crawl)
    extra_bot_logins: tuple[str, ...] = ()
    batch_prs: int = Field(200, ge=1)  # PRs per git diff-tree process
    flush_rows: int = Field(20_000, ge=100)

    @field_validator("clone_filter")
    @classmethod
    def _filter(cls, v: str) -> str:
        if v and not re.match(r"^(blob:none|blob:limit=\d+[kmg]?|tree:\d+)$", v):
            raise ValueError("must be blob:none, blob:limit=<n>[k|m|g], tree:<depth> or empty")
        return v


def read_repos_file(path: str) -> tuple[str, ...]:
    """Repositories listed one per line (``#`` starts a comment). Errors name the file and line."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read repos file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read repos file {path}: not UTF-8 text") from None
    out: list[str] = []
    for i, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not REPO_RE.match(line):
            raise ConfigError(f"{path}:{i}: not an owner/name repository: {line!r}")
        out.append(line)
    return tuple(out)


# --- GH Archive source ------------------------------------------------------------------------------
GhEventType = Literal["IssuesEvent", "IssueCommentEvent", "PullRequestEvent", "PullRequestReviewEvent",
                      "PullRequestReviewCommentEvent"]


class GhArchiveConfig(RepoSelection):
    """Which GH Archive hour files to stream, which events to keep, and for which repositories.

    Hour files come from the sources named on the command line (paths, globs, directories, URLs,
    ``YYYY-MM-DD[-H][..YYYY-MM-DD[-H]]`` ranges) and from ``start``..``end`` here, expanded to
    ``{base_url}/{YYYY-MM-DD}-{H}.json.gz`` (hour unpadded, both ends inclusive, UTC).
    """

    base_url: str = "https://data.gharchive.org"  # or a local / fsspec mirror with the same file names
    start: datetime | None = None  # first hour (naive values are UTC); must be on the hour
    end: datetime | None = None  # last hour, inclusive; defaults to ``start``
    event_types: tuple[GhEventType, ...] = ("IssuesEvent", "IssueCommentEvent", "PullRequestEvent",
                                            "PullRequestReviewEvent", "PullRequestReviewCommentEvent")

    # Repository selection (repos, repos_file, the repository filters and bots: RepoSelection).
    # "auto": the explicit list when one is given, else the repositories of the ``repos`` table that
    # pass the filters, else every repository (discovery mode).
    repo_selection: Literal["auto", "list", "repos_table", "all"] = "auto"

    # Memory bound: buffered rows are written as a part once either limit is reached.
    flush_rows: int = Field(50_000, ge=100)
    flush_mb: int = Field(256, ge=1)

    # HTTP(S) sources.
    timeout_s: float = Field(60.0, gt=0)
    max_attempts: int = Field(5, ge=1, le=50)
    backoff_base_s: float = Field(1.0, ge=0)

    @field_validator("base_url")
    @classmethod
    def _base(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not v:
            raise ValueError("empty URL")
        return v

    @field_validator("start", "end")
    @classmethod
    def _hour(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return None
        v = v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
        if v.minute or v.second or v.microsecond:
            raise ValueError("must be on the hour (GH Archive files are hourly)")
        return v

    @field_validator("event_types")
    @classmethod
    def _types(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("empty list")
        if len(set(v)) != len(v):
            raise ValueError("duplicate entry")
        return v

    def model_post_init(self, _context: Any) -> None:
        if self.end is not None and self.start is None:
            raise ValueError("end given without start")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("end is before start")

    def hours(self) -> list[datetime]:
        """Every hour from ``start`` to ``end`` (inclusive), or none."""
        if self.start is None:
            return []
        end = self.end or self.start
        n = int((end - self.start).total_seconds() // 3600)
        return [datetime.fromtimestamp(self.start.timestamp() + 3600 * i, UTC) for i in range(n + 1)]
