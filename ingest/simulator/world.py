"""Deterministic GitHub world for the simulator: repos, users, issues, PRs and everything under them.

Reads and writes nothing (``World.write_git`` hands over to ``gitrepos``). ``World.generate(spec)`` builds
the whole world from ``spec.seed`` with ``random.Random`` only (no wall clock: world time starts at
2024-01-01T00:00:00Z, whole seconds); ``World.mutate`` advances it the way GitHub would; ``keys`` and
``expected_links`` state the truth a crawl must reproduce. The one idea: every row is generated together
with what GitHub would say about it (real file contents, git's patches, which closing references GitHub
links, and git's object ids: every commit SHA is that of a real commit over the world's trees, computed
here in Python), so tests compare a crawl against facts rather than against a second implementation of
the same guesses.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import math
import os
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
MAX_BODY_CHARS = 65_536  # GitHub's limit for issue/PR/comment bodies

# GitHub license objects by SPDX id: (key, name). NOASSERTION is GitHub's "Other" license.
LICENSES: dict[str, tuple[str, str]] = {
    "MIT": ("mit", "MIT License"),
    "Apache-2.0": ("apache-2.0", "Apache License 2.0"),
    "BSD-3-Clause": ("bsd-3-clause", 'BSD 3-Clause "New" or "Revised" License'),
    "BSD-2-Clause": ("bsd-2-clause", 'BSD 2-Clause "Simplified" License'),
    "MPL-2.0": ("mpl-2.0", "Mozilla Public License 2.0"),
    "ISC": ("isc", "ISC License"),
    "GPL-3.0": ("gpl-3.0", "GNU General Public License v3.0"),
    "NOASSERTION": ("other", "Other"),
}

CLOSING_KEYWORDS = ("close", "closes", "closed", "fix", "fixes", "fixed", "resolve", "resolves", "resolved")
TABLES = ("repos", "issues", "pulls", "comments", "pull_files", "pull_commits")


# --------------------------------------------------------------------------------------------- model


@dataclass
class User:
    login: str
    id: int
    type: str = "User"  # "User" | "Bot" | "Organization"
    name: str | None = None
    created_at: datetime = EPOCH
    site_admin: bool = False

    @property
    def is_ghost(self) -> bool:
        return self.login == "ghost"


@dataclass
class Label:
    id: int
    name: str
    color: str
    description: str | None


@dataclass
class IssueComment:
    id: int
    repo: str
    issue_number: int
    user: str
    body: str
    created_at: datetime
    updated_at: datetime
    author_association: str
    reactions: dict[str, int] = field(default_factory=dict)


@dataclass
class PullFile:
    filename: str
    status: str  # added | modified | removed | renamed
    additions: int
    deletions: int
    changes: int
    patch: str | None  # None for binary files and pure renames (GitHub omits the key)
    sha: str | None  # git blob SHA-1 of the head content; None for removed files
    previous_filename: str | None = None
    binary: bool = False


@dataclass
class Commit:
    sha: str
    message: str
    author_name: str
    author_email: str
    author_date: datetime
    committer_name: str
    committer_email: str
    committer_date: datetime
    author_login: str | None
    committer_login: str | None
    tree_sha: str
    parents: list[str]
    # The commit's whole tree (snapshots share their bytes objects); ``sha`` and ``tree_sha`` are git's ids.
    files: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    def git_message(self) -> bytes:
        """The message as git stores it: GitHub's ``message`` plus git's trailing newline."""
        return self.message.encode() + b"\n"

    def git_object(self) -> bytes:
        """The raw commit object (without git's ``commit <size>\\0`` header)."""
        head = [f"tree {self.tree_sha}", *(f"parent {p}" for p in self.parents)]
        head.append(f"author {git_ident(self.author_name, self.author_email, self.author_date)}")
        head.append(f"committer {git_ident(self.committer_name, self.committer_email, self.committer_date)}")
        return ("\n".join(head) + "\n\n").encode() + self.git_message()


@dataclass
class Review:
    id: int
    user: str
    body: str
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED
    submitted_at: datetime
    commit_id: str
    author_association: str


@dataclass
class ReviewComment:
    id: int
    review_id: int
    user: str
    body: str
    path: str
    diff_hunk: str
    position: int | None
    original_position: int
    line: int | None
    original_line: int
    side: str  # RIGHT | LEFT
    commit_id: str
    original_commit_id: str
    in_reply_to_id: int | None
    created_at: datetime
    updated_at: datetime
    author_association: str


@dataclass
class PullData:
    id: int
    base_ref: str
    base_sha: str
    head_ref: str
    head_sha: str
    head_repo: str | None  # full name of the head repository; None when the fork was deleted
    head_user: str
    draft: bool
    merged_at: datetime | None
    merged_by: str | None
    merge_commit_sha: str | None
    base_files: dict[str, bytes]  # whole tree of the base branch at PR creation (shared, never mutated)
    head_files: dict[str, bytes]  # whole tree at the head commit
    renames: dict[str, str]  # new path -> previous path
    files: list[PullFile]
    commits: list[Commit]
    reviews: list[Review] = field(default_factory=list)
    review_comments: list[ReviewComment] = field(default_factory=list)
    closes: frozenset[str] = frozenset()  # record ids GitHub links as closing issues
    kind: str = "code"
    maintainer_can_modify: bool = True
    merge_method: str | None = None  # "merge" | "squash" once merged (how merge_commit_sha was made)

    @property
    def merged(self) -> bool:
        return self.merged_at is not None


@dataclass
class Issue:
    """An issue, or a pull request when ``pull`` is set (GitHub numbers both in one sequence)."""

    repo: str
    number: int
    id: int
    title: str
    body: str | None
    user: str
    labels: list[str]
    state: str
    state_reason: str | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    author_association: str
    locked: bool = False
    assignees: list[str] = field(default_factory=list)
    comments: list[IssueComment] = field(default_factory=list)
    reactions: dict[str, int] = field(default_factory=dict)
    pull: PullData | None = None
    null_pull_request: bool = False  # GitHub quirk: a plain issue carrying an all-null pull_request object

    @property
    def is_pull(self) -> bool:
        return self.pull is not None

    @property
    def record_id(self) -> str:
        return record_id(self.repo, self.number)


@dataclass
class Repo:
    full_name: str
    id: int
    description: str | None
    stargazers_count: int
    forks_count: int
    language: str | None
    topics: list[str]
    license: str | None  # SPDX id, "NOASSERTION", or None
    default_branch: str
    fork: bool
    parent: str | None
    archived: bool
    created_at: datetime
    updated_at: datetime
    pushed_at: datetime
    package: str
    members: list[str]
    labels: dict[str, Label] = field(default_factory=dict)
    branches: dict[str, dict[str, bytes]] = field(default_factory=dict)  # snapshots, replaced on merge
    branch_heads: dict[str, str] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    listed: bool = True  # False for user forks that exist only as PR head repositories
    crawlable: bool = True  # passes the usual repo filters (stars, license, not fork, not archived)

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/", 1)[1]

    @property
    def open_issues_count(self) -> int:
        return sum(1 for it in self.issues.values() if it.state == "open")

    @property
    def size_kb(self) -> int:
        return max(1, sum(len(v) for v in self.branches.get(self.default_branch, {}).values()) // 1024)


def record_id(repo: str, number: int) -> str:
    """The crawler's record id of an issue or PR: ``owner__name-N``."""
    owner, name = repo.split("/", 1)
    return f"{owner}__{name}-{number}"


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def git_ident(name: str, email: str, when: datetime) -> str:
    """An author/committer line's value as git writes it (world times are UTC)."""
    return f"{name} <{email}> {int(when.timestamp())} +0000"


class GitObjects:
    """git object ids computed in Python (no git process): blobs cached by content, trees by entries.

    Every file is a regular ``100644`` blob; tree entries sort by name bytes, a subtree as ``name/``.
    """

    def __init__(self) -> None:
        self._blobs: dict[bytes, bytes] = {}  # content -> raw 20-byte id
        self._trees: dict[bytes, bytes] = {}  # tree body -> raw 20-byte id
        self._paths: dict[str, tuple[str, bytes, bytes]] = {}  # path -> (directory, name, entry head)

    def blob(self, data: bytes) -> bytes:
        raw = self._blobs.get(data)
        if raw is None:
            raw = self._blobs[data] = hashlib.sha1(b"blob %d\0" % len(data) + data).digest()
        return raw

    def tree(self, files: dict[str, bytes]) -> str:
        """The id of the root tree holding ``files`` (path -> content)."""
        dirs: dict[str, list[tuple[bytes, bytes]]] = {}
        paths = self._paths
        for path, data in files.items():
            where = paths.get(path)
            if where is None:
                parent, _, name = path.rpartition("/")
                where = paths[path] = (parent, name.encode(), b"100644 " + name.encode() + b"\0")
            raw = self._blobs.get(data) or self.blob(data)
            dirs.setdefault(where[0], []).append((where[1], where[2] + raw))
        while True:  # deepest directory first, each hashed into its parent's entries
            d = max(dirs, key=lambda x: x.count("/") if x else -1)
            entries = dirs.pop(d)
            entries.sort()
            body = b"".join(e for _, e in entries)
            raw = self._trees.get(body)
            if raw is None:
                raw = self._trees[body] = hashlib.sha1(b"tree %d\0" % len(body) + body).digest()
            if not d:
                return raw.hex()
            parent, _, name = d.rpartition("/")
            dirs.setdefault(parent, []).append(
                (name.encode() + b"/", b"40000 " + name.encode() + b"\0" + raw)
            )

    def seal(self, commit: Commit, files: dict[str, bytes]) -> Commit:
        """Give ``commit`` its tree and its git id (call after its message and parents are final)."""
        commit.files = files
        commit.tree_sha = self.tree(files)
        data = commit.git_object()
        commit.sha = hashlib.sha1(b"commit %d\0" % len(data) + data).hexdigest()
        return commit


def is_binary(data: bytes) -> bool:
    return b"\0" in data[:8000]


# GitHub's ``patch`` is git's unified diff of the file (3 lines of context, hunk headers carrying git's
# default "function" line). Computed here without git: a minimal edit script (Myers' greedy O(ND)
# algorithm), change groups slid to git's preferred positions, hunks merged across <= 6 common lines.

_CONTEXT = 3
_FUNCNAME_MAX = 80  # git truncates the hunk header's function line to 80 bytes


def _split_lines(data: bytes) -> list[bytes]:
    """Lines as git counts them: split after each LF; a last line without LF is a line of its own."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
        return [line + b"\n" for line in lines]
    return [line + b"\n" for line in lines[:-1]] + [lines[-1]]


def _edit_flags(a: list[int], b: list[int]) -> tuple[list[bool], list[bool]]:
    """Per line of ``a`` and ``b``: deleted / inserted in a minimal edit script."""
    n, m = len(a), len(b)
    fa, fb = [False] * n, [False] * m
    lo = 0
    while lo < n and lo < m and a[lo] == b[lo]:
        lo += 1
    ha, hb = n, m
    while ha > lo and hb > lo and a[ha - 1] == b[hb - 1]:
        ha, hb = ha - 1, hb - 1
    big_n, big_m = ha - lo, hb - lo
    if big_n == 0 or big_m == 0:
        for i in range(lo, ha):
            fa[i] = True
        for j in range(lo, hb):
            fb[j] = True
        return fa, fb
    off = big_n + big_m + 1
    v = [0] * (2 * off + 1)
    trace: list[list[int]] = []
    found = False
    for d in range(big_n + big_m + 1):
        trace.append(v[:])
        for k in range(-d, d + 1, 2):
            if k == -d or (k != d and v[off + k - 1] < v[off + k + 1]):
                x = v[off + k + 1]
            else:
                x = v[off + k - 1] + 1
            y = x - k
            while x < big_n and y < big_m and a[lo + x] == b[lo + y]:
                x, y = x + 1, y + 1
            v[off + k] = x
            if x >= big_n and y >= big_m:
                found = True
                break
        if found:
            break
    x, y = big_n, big_m
    for d in range(len(trace) - 1, 0, -1):
        prev = trace[d]
        k = x - y
        if k == -d or (k != d and prev[off + k - 1] < prev[off + k + 1]):
            pk = k + 1
            px = prev[off + pk]
            py = px - pk
            fb[lo + py] = True  # a step down: insert b[py]
        else:
            pk = k - 1
            px = prev[off + pk]
            py = px - pk
            fa[lo + px] = True  # a step right: delete a[px]
        x, y = px, py
    return fa, fb


def _split_cost(text: list[bytes], at: int) -> int:
    """How bad a hunk boundary before line ``at`` looks: the indent of the next non-blank line (blank lines
    are skipped, so a run of blank lines and the definition after them stay together); 0 at end of file."""
    for line in itertools.islice(text, at, None):
        expanded = line.expandtabs(8)
        stripped = expanded.lstrip()
        if stripped:
            return len(expanded) - len(stripped)
    return 0


def _slide_groups(lines: list[int], text: list[bytes], flags: list[bool], other: list[bool]) -> None:
    """Slide each run of changed lines over equal lines (the diff stays minimal) to where git shows it:
    lined up with a change in the other file (a replacement) when it can be; else where its two boundaries
    cost least (``_split_cost``), the lowest such place."""
    n = len(lines)
    kept_other = [j for j, changed in enumerate(other) if not changed]
    unchanged_before = 0  # unchanged lines of ``lines`` before index i
    i = 0
    while i < n:
        if not flags[i]:
            unchanged_before += 1
            i += 1
            continue
        s = i
        e = i
        while e < n and flags[e]:
            e += 1
        while True:
            size = e - s
            while s > 0 and lines[s - 1] == lines[e - 1]:  # up, swallowing groups above
                flags[s - 1], flags[e - 1] = True, False
                s, e = s - 1, e - 1
                unchanged_before -= 1
                while s > 0 and flags[s - 1]:
                    s -= 1
            aligned = -1
            ends: list[int] = []
            while True:
                ends.append(e)
                partner = kept_other[unchanged_before] if unchanged_before < len(kept_other) else len(other)
                if partner > 0 and other[partner - 1]:
                    aligned = e
                if not (e < n and lines[s] == lines[e]):
                    break
                flags[s], flags[e] = False, True  # down, swallowing groups below
                s, e = s + 1, e + 1
                unchanged_before += 1
                while e < n and flags[e]:
                    e += 1
            if e - s == size:
                break
        if aligned == -1:
            size = e - s
            aligned = min(
                ends, key=lambda end: (_split_cost(text, end - size) + _split_cost(text, end), -end)
            )
        while e > aligned:
            flags[s - 1], flags[e - 1] = True, False
            s, e = s - 1, e - 1
            unchanged_before -= 1
        i = e


def _funcname(line: bytes) -> bytes | None:
    """git's default hunk-header function line: one starting with an ASCII letter, ``_`` or ``$``."""
    if line[:1].isalpha() or line[:1] in (b"_", b"$"):
        return line[:_FUNCNAME_MAX].rstrip(b" \t\n\v\f\r")
    return None


def _range(start: int, length: int) -> str:
    if length == 1:
        return str(start + 1)
    return f"{start if length == 0 else start + 1},{length}"


def git_patch(old: bytes, new: bytes) -> str:
    """GitHub's ``patch`` field for a text file: git's unified diff hunks, without the file headers."""
    a_lines, b_lines = _split_lines(old), _split_lines(new)
    ids: dict[bytes, int] = {}
    a = [ids.setdefault(line, len(ids)) for line in a_lines]
    b = [ids.setdefault(line, len(ids)) for line in b_lines]
    fa, fb = _edit_flags(a, b)
    _slide_groups(a, a_lines, fa, fb)
    _slide_groups(b, b_lines, fb, fa)
    # changes: (i, deleted, j, inserted) with unchanged lines paired in order between them
    changes: list[tuple[int, int, int, int]] = []
    i = j = 0
    n, m = len(a), len(b)
    while i < n or j < m:
        if (i < n and fa[i]) or (j < m and fb[j]):
            i0, j0 = i, j
            while i < n and fa[i]:
                i += 1
            while j < m and fb[j]:
                j += 1
            changes.append((i0, i - i0, j0, j - j0))
        else:
            i, j = i + 1, j + 1
    out: list[str] = []
    k = 0
    while k < len(changes):
        last = k
        while (
            last + 1 < len(changes)
            and changes[last + 1][0] - (changes[last][0] + changes[last][1]) <= 2 * _CONTEXT
        ):
            last += 1
        i0, _, j0, _ = changes[k]
        s1 = max(0, i0 - _CONTEXT)
        s2 = j0 - (i0 - s1)
        li, ld, _, _ = changes[last]
        e1 = min(n, li + ld + _CONTEXT)
        e2 = e1 + (changes[last][2] + changes[last][3]) - (li + ld)
        header = f"@@ -{_range(s1, e1 - s1)} +{_range(s2, e2 - s2)} @@"
        for f in range(s1 - 1, -1, -1):
            name = _funcname(a_lines[f])
            if name is not None:
                header += " " + name.decode("utf-8", "replace")
                break
        out.append(header)
        pos = s1
        for ci in range(k, last + 1):
            ci0, cd, cj0, cins = changes[ci]
            _emit(out, " ", a_lines[pos:ci0])
            _emit(out, "-", a_lines[ci0 : ci0 + cd])
            _emit(out, "+", b_lines[cj0 : cj0 + cins])
            pos = ci0 + cd
        _emit(out, " ", a_lines[pos:e1])
        k = last + 1
    return "\n".join(out)


def _emit(out: list[str], mark: str, lines: list[bytes]) -> None:
    for line in lines:
        text = line.decode("utf-8", "replace")
        if text.endswith("\n"):
            out.append(mark + text[:-1])
        else:
            out.extend([mark + text, "\\ No newline at end of file"])


def patch_counts(patch: str) -> tuple[int, int]:
    adds = dels = 0
    for line in patch.split("\n"):
        if line.startswith("+"):
            adds += 1
        elif line.startswith("-"):
            dels += 1
    return adds, dels


def diff_trees(base: dict[str, bytes], head: dict[str, bytes], renames: dict[str, str]) -> list[PullFile]:
    """The PR file list GitHub shows for base..head, in path order."""
    files: list[PullFile] = []
    renamed_from = set(renames.values())
    for path in sorted(set(base) | set(head)):
        if path in renamed_from and path not in head:
            continue  # shown as the rename's previous_filename
        old = base.get(renames.get(path, path)) if path in head else base.get(path)
        new = head.get(path)
        if path in renames and renames[path] in base:
            status, old = "renamed", base[renames[path]]
        elif old is None:
            status = "added"
        elif new is None:
            status = "removed"
        elif old == new:
            continue
        else:
            status = "modified"
        data = new if new is not None else old
        assert data is not None
        binary = is_binary(data) or (old is not None and is_binary(old))
        patch: str | None = None
        adds = dels = 0
        if not binary and not (status == "renamed" and old == new):
            patch = git_patch(old or b"", new or b"")
            adds, dels = patch_counts(patch)
        files.append(
            PullFile(
                filename=path,
                status=status,
                additions=adds,
                deletions=dels,
                changes=adds + dels,
                patch=patch,
                sha=git_blob_sha(new) if new is not None else None,
                previous_filename=renames.get(path) if status == "renamed" else None,
                binary=binary,
            )
        )
    return files


# --------------------------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class WorldSpec:
    """What world to generate. ``preset`` picks the repository roster; the rest shapes distributions."""

    seed: int = 0
    preset: str = "demo"  # demo | small | bench
    n_repos: int = 20  # bench: crawlable repositories (the filter-bait repos come on top)
    items_per_repo: int = 300  # bench: issues + PRs per crawlable repository
    items_scale: float = 1.0  # demo/small: multiplies the roster's item counts
    bait_items: int = 4  # items in each filter-bait repository
    pr_fraction: float = 0.45
    merged_fraction: float = 0.65
    closed_unmerged_fraction: float = 0.20
    draft_fraction: float = 0.3  # of open PRs
    comments_mean: float = 3.0
    comments_cap: int = 30
    files_mean: float = 4.0
    files_max: int = 25
    commits_mean: float = 2.5
    commits_max: int = 12
    reviews_mean: float = 1.5
    review_comments_mean: float = 2.0
    bot_item_fraction: float = 0.03
    ghost_fraction: float = 0.02
    fork_head_fraction: float = 0.25
    nondefault_base_fraction: float = 0.04
    closing_ref_fraction: float = 0.5
    decoy_ref_fraction: float = 0.3
    mean_gap_hours: float = 6.0  # between consecutive items of one repository

    @classmethod
    def demo(cls, seed: int = 0) -> WorldSpec:
        return cls(seed=seed, preset="demo", bait_items=5, bot_item_fraction=0.06, ghost_fraction=0.04)

    @classmethod
    def small(cls, seed: int = 0) -> WorldSpec:
        return cls(
            seed=seed,
            preset="small",
            bait_items=3,
            comments_mean=1.5,
            comments_cap=6,
            files_mean=2.5,
            files_max=8,
            commits_mean=1.8,
            commits_max=4,
            reviews_mean=1.2,
            review_comments_mean=1.5,
            bot_item_fraction=0.06,
            ghost_fraction=0.04,
        )

    @classmethod
    def bench(cls, n_repos: int = 20, items_per_repo: int = 300, seed: int = 0) -> WorldSpec:
        return cls(seed=seed, preset="bench", n_repos=n_repos, items_per_repo=items_per_repo, bait_items=3)


@dataclass(frozen=True)
class _RepoPlan:
    full_name: str
    items: int
    stars: int
    forks: int
    license: str | None
    language: str | None
    default_branch: str = "main"
    fork_of: str | None = None
    archived: bool = False
    topics: tuple[str, ...] = ()
    description: str | None = None
    crawlable: bool = True


_DEMO_ROSTER = (
    _RepoPlan(
        "acme/widgets",
        60,
        1200,
        143,
        "MIT",
        "Python",
        topics=("widgets", "python", "parsing"),
        description="Composable widgets for parsing and rendering structured records",
    ),
    _RepoPlan(
        "acme/gizmo",
        40,
        85,
        9,
        "Apache-2.0",
        "Python",
        default_branch="master",
        topics=("gizmo", "cli"),
        description="Gizmo: a command line companion for acme/widgets",
    ),
    _RepoPlan(
        "lumen/parsekit",
        30,
        340,
        31,
        "BSD-3-Clause",
        "Python",
        topics=("parser", "tokenizer"),
        description="Tokenizers and incremental parsers — fast, small, typed ⚡",
    ),
)
_SMALL_SIZES = {"acme/widgets": 18, "acme/gizmo": 16, "lumen/parsekit": 14}
_BAIT_ROSTER = (
    _RepoPlan("nova/tiny", 0, 2, 0, "MIT", "Python", description="A tiny experiment", crawlable=False),
    _RepoPlan(
        "nova/widgets",
        0,
        3,
        0,
        "MIT",
        "Python",
        fork_of="acme/widgets",
        description="Composable widgets for parsing and rendering structured records",
        crawlable=False,
    ),
    _RepoPlan(
        "relic/oldlib",
        0,
        410,
        62,
        "BSD-2-Clause",
        "Python",
        archived=True,
        description="Deprecated: use acme/widgets instead",
        crawlable=False,
    ),
    _RepoPlan(
        "corp/secret-sauce",
        0,
        150,
        12,
        None,
        "Python",
        description="Internal tooling, no license",
        crawlable=False,
    ),
    _RepoPlan(
        "orbit/telemetry", 0, 95, 7, "NOASSERTION", "Go", description="Telemetry collectors", crawlable=False
    ),
)


# --------------------------------------------------------------------------------------------- people

_HUMANS = (
    ("alice-dev", "Alice Martin"),
    ("bob42", "Bob Nguyen"),
    ("zoe-a", "Zoë Ångström"),
    ("li-xiaolong", "李小龙"),
    ("jnunez", "José Núñez"),
    ("m-haddad", "محمد حداد"),
    ("yuki-t", "田中 由紀"),
    ("olga-k", "Ольга Кузнецова"),
    ("priya-s", "Priya Sharma"),
    ("kim-minjun", "김민준"),
    ("dev-eloper", None),
    ("sam-oneil", "Sam O'Neil"),
    ("noa-levi", "נועה לוי"),
    ("frank-w", "Frank Weiß"),
    ("eve-rainbow", "Eve 🌈"),
    ("chris-p", "Chris P."),
    ("ana-maria", "Ana-María Pérez"),
    ("tomasz-w", "Tomasz Wiśniewski"),
    ("grace-h", "Grace H."),
    ("raj-k", "Raj Kumar"),
)
_FIRST = (
    "Ada",
    "Ben",
    "Chloé",
    "Dmitri",
    "Eun",
    "Fatima",
    "Goran",
    "Hana",
    "Iñigo",
    "Jun",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Oskar",
    "Paulo",
    "Qiu",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Vera",
    "Wen",
    "Yara",
)
_LAST = (
    "Abe",
    "Bianchi",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Horvat",
    "Ivanova",
    "Jensen",
    "Kaur",
    "López",
    "Müller",
    "Novak",
    "Okafor",
    "Park",
    "Rossi",
    "Silva",
    "Tanaka",
    "Wójcik",
)
# (login, id, type, name); ids are GitHub's where known.
_BOTS = (
    ("dependabot[bot]", 49699333, "Bot", None),
    ("github-actions[bot]", 41898282, "Bot", None),
    ("codecov-io", 8655789, "User", "Codecov IO"),
    ("k8s-ci-robot", 20407524, "User", "Kubernetes Prow Robot"),
    ("CLAassistant", 12544621, "User", "CLA assistant"),
)
GHOST = ("ghost", 10137, "User", "Deleted user")
WEB_FLOW = ("web-flow", 19864447, "User", "GitHub")
_OWNERS = {  # owner login -> (type, members)
    "acme": ("Organization", ("alice-dev", "bob42", "zoe-a")),
    "nova": ("User", ()),
    "lumen": ("Organization", ("li-xiaolong", "priya-s")),
    "relic": ("Organization", ("frank-w",)),
    "corp": ("Organization", ("chris-p",)),
    "orbit": ("Organization", ("olga-k",)),
}

# ------------------------------------------------------------------------------------------------ text
# Filler vocabulary never contains a closing keyword, so only the references placed on purpose can link.

_NOUNS = (
    "record",
    "config",
    "token",
    "header",
    "chunk",
    "payload",
    "schema",
    "buffer",
    "path",
    "entry",
    "batch",
    "frame",
    "span",
    "row",
    "cursor",
    "index",
    "widget",
    "stream",
)
_VERBS = (
    "parse",
    "load",
    "dump",
    "render",
    "merge",
    "split",
    "normalize",
    "validate",
    "encode",
    "decode",
    "flatten",
    "collect",
    "emit",
    "scan",
    "strip",
    "expand",
)
_ADJ = (
    "empty",
    "nested",
    "large",
    "unicode",
    "truncated",
    "duplicate",
    "missing",
    "stale",
    "negative",
    "malformed",
    "concurrent",
    "zero-length",
)
_SYMPTOMS = (
    "crashes",
    "hangs",
    "returns the wrong value",
    "raises ValueError",
    "drops the last item",
    "leaks file handles",
    "is very slow",
    "prints a confusing warning",
    "silently ignores the flag",
)
_EXCEPTIONS = ("ValueError", "KeyError", "TypeError", "UnicodeDecodeError", "IndexError", "RuntimeError")
_OSES = ("Ubuntu 22.04", "macOS 14.2", "Windows 11", "Debian 12", "Fedora 39", "Alpine 3.19")
_DEPS = (
    "requests",
    "attrs",
    "click",
    "rich",
    "pyyaml",
    "numpy",
    "regex",
    "platformdirs",
    "typing-extensions",
)

UNICODE_SAMPLES = {
    "cjk": "解析器在处理空输入时崩溃。再現手順は以下の通りです。설정 파일을 읽을 수 없습니다.",
    "emoji": "Works on my machine 🤷 but not in CI 🔥🐛 — family 👨‍👩‍👧‍👦, dev 👩🏽‍💻, flag 🏳️‍🌈, ❤️‍🔥",
    "rtl": "المحلل يتعطل عند إدخال فارغ — הפרסר קורס בקלט ריק",
    "combining": "Cafe\u0301 nai\u0308ve Z\u0351a\u0353l\u0354g\u0355o\u0356 — e\u0301 is not é",
    "mixed": "Ünïcödé ß ø å — Ελληνικά — Кириллица — 🧪 ok",
}


def _sentence(rng: random.Random) -> str:
    return (
        f"The {rng.choice(_NOUNS)} {rng.choice(_SYMPTOMS)} when the {rng.choice(_ADJ)} "
        f"{rng.choice(_NOUNS)} is passed to `{rng.choice(_VERBS)}_{rng.choice(_NOUNS)}`."
    )


def _traceback(rng: random.Random, pkg: str) -> str:
    exc = rng.choice(_EXCEPTIONS)
    fn1 = f"{rng.choice(_VERBS)}_{rng.choice(_NOUNS)}"
    fn2 = f"{rng.choice(_VERBS)}_{rng.choice(_NOUNS)}"
    return (
        "Traceback (most recent call last):\n"
        f'  File "/usr/lib/python3.11/site-packages/{pkg}/core.py", line {rng.randint(10, 300)}, in {fn1}\n'
        f"    return {fn2}(value)\n"
        f'  File "/usr/lib/python3.11/site-packages/{pkg}/utils.py", line {rng.randint(10, 300)}, in {fn2}\n'
        f'    raise {exc}("bad {rng.choice(_NOUNS)}")\n'
        f"{exc}: bad {rng.choice(_NOUNS)}"
    )


def _issue_body(rng: random.Random, pkg: str) -> str:
    kind = rng.random()
    if kind < 0.45:
        fn = f"{rng.choice(_VERBS)}_{rng.choice(_NOUNS)}"
        return (
            f"### Describe the bug\n\n{_sentence(rng)} {_sentence(rng)}\n\n### Steps to reproduce\n\n"
            f"```python\nfrom {pkg}.core import {fn}\n\n"
            f"{fn}({rng.choice(['None', '[]', repr(''), '-1'])})\n```"
            f"\n\n### Traceback\n\n```\n{_traceback(rng, pkg)}\n```\n\n### Environment\n\n"
            f"- OS: {rng.choice(_OSES)}\n- Python: 3.{rng.randint(8, 12)}.{rng.randint(0, 9)}\n"
            f"- {pkg}: 0.{rng.randint(1, 9)}.{rng.randint(0, 9)}\n"
        )
    if kind < 0.7:
        return (
            f"**Is your feature request related to a problem?**\n\n{_sentence(rng)}\n\n"
            f"**Describe the solution you'd like**\n\nA `--{rng.choice(_ADJ)}` option for "
            f"`{rng.choice(_VERBS)}` that keeps the {rng.choice(_NOUNS)} intact.\n"
        )
    if kind < 0.9:
        return (
            f"{_sentence(rng)}\n\nI tried:\n\n```\n$ {pkg} {rng.choice(_VERBS)} --{rng.choice(_NOUNS)} "
            f"input.txt\n```\n\nIs this expected?"
        )
    return _sentence(rng)


def _issue_title(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.6:
        return (
            f"{rng.choice(_VERBS)}_{rng.choice(_NOUNS)} {rng.choice(_SYMPTOMS)} on "
            f"{rng.choice(_ADJ)} {rng.choice(_NOUNS)}"
        )
    if r < 0.85:
        return f"Support {rng.choice(_ADJ)} {rng.choice(_NOUNS)}s in {rng.choice(_VERBS)}"
    return f"Question: how to {rng.choice(_VERBS)} a {rng.choice(_NOUNS)}?"


def _huge_text(rng: random.Random, length: int) -> str:
    """A log paste of exactly ``length`` characters (BMP only, so every client counts it the same)."""
    head, tail = "### Full log\n\n```\n", "\n```\n"
    lines = []
    size = 0
    i = 0
    while size < length:
        line = (
            f"2024-01-0{1 + i % 9} 12:{i % 60:02d}:{(i * 7) % 60:02d} WARN worker-{i % 8} "
            f"{rng.choice(_NOUNS)} {rng.choice(_SYMPTOMS)} (é中 #{i})"
        )
        lines.append(line)
        size += len(line) + 1
        i += 1
    middle = "\n".join(lines)[: length - len(head) - len(tail)]
    text = head + middle + tail
    assert len(text) == length
    return text


# ------------------------------------------------------------------------------------------- packages


def _ident(rng: random.Random) -> str:
    return f"{rng.choice(_VERBS)}_{rng.choice(_NOUNS)}"


def _py_body(rng: random.Random, arg: str) -> list[str]:
    n = rng.randint(1, 99)
    t = rng.randrange(6)
    if t == 0:
        return [
            f"    if {arg} is None:",
            f"        return {rng.choice(['None', '[]', '{}', '0'])}",
            f"    return {arg}.strip()",
        ]
    if t == 1:
        return [
            "    out = []",
            f"    for item in {arg}:",
            f"        if len(item) > {n}:",
            "            continue",
            "        out.append(item)",
            "    return out",
        ]
    if t == 2:
        return [
            f"    total = {n}",
            f"    for i, item in enumerate({arg}):",
            "        total += i * len(item)",
            "    return total",
        ]
    if t == 3:
        return [
            "    try:",
            f"        return int({arg})",
            "    except (TypeError, ValueError):",
            f"        return {n}",
        ]
    if t == 4:
        sep = rng.choice(['","', '":"', '"/"'])
        return [f"    parts = str({arg}).split({sep})", f"    return [p for p in parts if p][:{n}]"]
    return [
        f"    result = {{k: v for k, v in dict({arg}).items() if v is not None}}",
        f'    result.setdefault("version", {n})',
        "    return result",
    ]


def _py_function(rng: random.Random, name: str) -> list[str]:
    arg = rng.choice(("value", "items", "data", "record", "text"))
    doc = f'    """{name.replace("_", " ").capitalize()} the given {arg}."""'
    return [f"def {name}({arg}):", doc, *_py_body(rng, arg)]


def _py_module(rng: random.Random, pkg: str, module: str, n_funcs: int) -> str:
    lines = [
        f'"""{pkg}.{module}: {rng.choice(_VERBS)} and {rng.choice(_VERBS)} {rng.choice(_NOUNS)}s."""',
        "",
        "from __future__ import annotations",
        "",
        "import os",
        "import re",
        "",
        f"DEFAULT_{rng.choice(_NOUNS).upper()} = {rng.randint(1, 512)}",
    ]
    used: set[str] = set()
    for _ in range(n_funcs):
        name = _ident(rng)
        if name in used:
            continue
        used.add(name)
        lines += ["", "", *_py_function(rng, name)]
    return "\n".join(lines) + "\n"


def _py_test_module(rng: random.Random, pkg: str, module: str, n_funcs: int) -> str:
    lines = [f'"""Tests for {pkg}.{module}."""', "", "import pytest", "", f"from {pkg} import {module}"]
    for i in range(n_funcs):
        lines += ["", "", *_py_test(rng, module, i)]
    return "\n".join(lines) + "\n"


def _py_test(rng: random.Random, module: str, i: int) -> list[str]:
    name = f"test_{_ident(rng)}_{rng.choice(_ADJ).replace('-', '_')}_{i}"
    return [
        f"def {name}():",
        f"    assert {module}.DEFAULTS is not None"
        if rng.random() < 0.2
        else f"    assert len([{rng.randint(0, 9)}, {rng.randint(0, 9)}]) == 2",
        f"    with pytest.raises({rng.choice(_EXCEPTIONS)}):",
        f"        raise {rng.choice(_EXCEPTIONS)}('x')",
    ]


def _doc_paragraph(rng: random.Random) -> str:
    return f"{_sentence(rng)} Use ``{_ident(rng)}`` to {rng.choice(_VERBS)} a {rng.choice(_NOUNS)}."


def _rst_page(rng: random.Random, title: str, n: int) -> str:
    lines = [title, "=" * len(title), ""]
    for _ in range(n):
        lines += [_doc_paragraph(rng), ""]
    return "\n".join(lines)


def _png(rng: random.Random, size: int) -> bytes:
    # A PNG signature and IHDR-ish header, then noise: enough for git and GitHub to call it binary.
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + rng.randbytes(size)


def _requirements(rng: random.Random) -> str:
    deps = sorted(rng.sample(_DEPS, 4))
    return "".join(f"{d}=={rng.randint(1, 5)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}\n" for d in deps)


def _initial_tree(rng: random.Random, full_name: str, pkg: str, extra_modules: int) -> dict[str, bytes]:
    modules = ["core", "utils", "io", "cli", "legacy"] + [f"mod{i}" for i in range(extra_modules)]
    tree: dict[str, str | bytes] = {
        "README.md": (
            f"# {full_name.split('/')[1]}\n\n{_sentence(rng)}\n\n## Install\n\n```\npip install "
            f"{pkg}\n```\n\n## Usage\n\n{_doc_paragraph(rng)}\n"
        ),
        "requirements.txt": _requirements(rng),
        f"src/{pkg}/__init__.py": f'"""{pkg}."""\n\n__version__ = "0.{rng.randint(1, 9)}.0"\n',
        "docs/index.rst": _rst_page(rng, pkg, 4),
        "docs/usage.rst": _rst_page(rng, "Usage", 3),
        "docs/changelog_old.rst": _rst_page(rng, "Old changelog", 2),
        "docs/logo.png": _png(rng, 600),
    }
    for m in modules:
        tree[f"src/{pkg}/{m}.py"] = _py_module(rng, pkg, m, rng.randint(4, 8))
        if m not in ("legacy", "cli"):
            tree[f"tests/test_{m}.py"] = _py_test_module(rng, pkg, m, rng.randint(2, 4))
    return {k: v.encode() if isinstance(v, str) else v for k, v in tree.items()}


def _def_blocks(lines: list[str]) -> list[tuple[int, int]]:
    """(start, end) line ranges of top-level ``def`` blocks, trailing blank lines excluded."""
    starts = [i for i, line in enumerate(lines) if line.startswith("def ")]
    blocks = []
    for j, s in enumerate(starts):
        e = starts[j + 1] if j + 1 < len(starts) else len(lines)
        while e > s + 1 and not lines[e - 1].strip():
            e -= 1
        blocks.append((s, e))
    return blocks


def _edit_python(rng: random.Random, text: str, is_test: bool, module: str) -> str:
    lines = text.rstrip("\n").split("\n")
    blocks = _def_blocks(lines)
    ops = ["rewrite", "guard", "add", "add"] + (["remove"] if len(blocks) >= 3 else [])
    op = rng.choice(ops) if blocks else "add"
    if op == "add":
        new = (
            _py_test(rng, module, rng.randint(10, 999)) if is_test else _py_function(rng, _ident(rng) + "_v2")
        )
        at = rng.choice([b[1] for b in blocks] or [len(lines)])
        lines[at:at] = ["", "", *new]
    elif op == "remove":
        s, e = rng.choice(blocks[1:])
        del lines[s - 2 if s >= 2 and not lines[s - 1].strip() else s : e]
    elif op == "guard":
        s, _ = rng.choice(blocks)
        at = s + 2 if s + 1 < len(lines) and lines[s + 1].lstrip().startswith('"""') else s + 1
        lines[at:at] = [
            f"    if not {rng.choice(('value', 'items', 'data'))}:",
            f'        raise {rng.choice(_EXCEPTIONS)}("{rng.choice(_ADJ)} input")',
        ]
    else:  # rewrite the body of one function
        s, e = rng.choice(blocks)
        keep = s + 2 if s + 1 < len(lines) and lines[s + 1].lstrip().startswith('"""') else s + 1
        arg = lines[s].split("(", 1)[1].split(")", 1)[0] or "value"
        body = _py_test(rng, module, 0)[1:] if is_test else _py_body(rng, arg)
        lines[keep:e] = body
    out = "\n".join(lines) + "\n"
    return out if out != text else text + f"\n\n# {rng.choice(_NOUNS)} marker {rng.randint(0, 10**6)}\n"


def _edit_text_doc(rng: random.Random, text: str) -> str:
    paras = text.rstrip("\n").split("\n\n")
    op = rng.choice(["add", "add", "reword"] + (["remove"] if len(paras) > 3 else []))
    if op == "add":
        paras.insert(rng.randint(1, len(paras)), _doc_paragraph(rng))
    elif op == "remove":
        del paras[rng.randrange(1, len(paras))]
    else:
        i = rng.randrange(1, len(paras)) if len(paras) > 1 else 0
        paras[i] = paras[i] + " " + _doc_paragraph(rng)
    return "\n\n".join(paras) + "\n"


def _bump_requirement(rng: random.Random, text: str) -> tuple[str, str, str, str]:
    lines = text.rstrip("\n").split("\n")
    i = rng.randrange(len(lines))
    name, old = lines[i].split("==")
    major, minor, patch = (int(x) for x in old.split("."))
    new = f"{major}.{minor + 1}.{patch}" if rng.random() < 0.5 else f"{major}.{minor}.{patch + 1}"
    lines[i] = f"{name}=={new}"
    return "\n".join(lines) + "\n", name, old, new


# ------------------------------------------------------------------------------------- closing refs
# Each form renders a reference to issue ``n`` of ``full`` (written as ``ref`` when short). ``closing``
# forms are linked by GitHub when the PR targets the default branch; decoys never are.

_CLOSING_FORMS: dict[str, str] = {
    "fixes": "Fixes {ref}",
    "closes_full": "closes {full}#{n}",
    "resolves_url": "Resolves https://github.com/{full}/issues/{n}",
    "closes_colon": "Closes: {ref}",
    "fixed_upper": "FIXED {ref}",
    "close": "close {ref}",
    "closed": "closed {ref}",
    "fix": "fix {ref}",
    "resolve": "resolve {ref}",
    "resolved": "resolved {ref}",
    "resolves": "resolves {ref}",
    "fixed": "Fixed {ref}",
    "closes": "Closes {ref}",
}
_DECOY_FORMS: dict[str, str] = {
    "see": "see {ref}",
    "related": "This is related to {ref}.",
    "bare": "{ref}",
    "prefixes": "It also prefixes {ref} log lines with the module name.",
    "unfixes": "Note that this unfixes {ref} on Python 3.8.",
    "fixes_bug": "Fixes bug {ref}",
    "fenced": 'Commit with:\n\n```\ngit commit -m "fixes {ref}"\n```',
    "inline": "Please do not write `closes {ref}` in the title.",
    "mention_full": "Similar to {full}#{n}.",
}
# Demo/small: every form appears at least once, in the given location, before random placement starts.
_REQUIRED_REFS: tuple[tuple[str, str], ...] = (
    ("fixes", "body"),
    ("see", "body"),
    ("closes_full", "body"),
    ("prefixes", "body"),
    ("resolves_url", "body"),
    ("fixes_bug", "body"),
    ("closes_colon", "body"),
    ("fenced", "body"),
    ("fixed_upper", "body"),
    ("inline", "body"),
    ("fix", "title"),
    ("related", "body"),
    ("close", "commit"),
    ("bare", "body"),
    ("closed", "body"),
    ("unfixes", "commit"),
    ("resolve", "commit"),
    ("resolved", "body"),
    ("resolves", "title"),
    ("fixed", "commit"),
    ("closes", "body"),
    ("mention_full", "title"),
)
_PR_KIND_CYCLE = (
    "code",
    "tests",
    "docs",
    "rename_pure",
    "deps",
    "rename_edit",
    "remove",
    "binary_add",
    "binary_mod",
    "code",
)
_ISSUE_SPECIALS = (
    "traceback",
    "ghost",
    "maxlen",
    "cjk",
    "null_body",
    "emoji",
    "null_pr_quirk",
    "rtl",
    "combining",
    "bot_author",
)
_REPLIES = ("Done.", "Good catch, updated.", "I'd rather keep it for now.", "✅ 修正しました")
_COMMENT_SPECIALS = ("ghost", "bot", "huge", "unicode", "short")


# --------------------------------------------------------------------------------------------- report


@dataclass
class MutationReport:
    """What one ``World.mutate`` call changed: per table, the keys of rows that are new or changed."""

    seed: int
    now: datetime
    changed: dict[str, set[tuple]] = field(default_factory=lambda: {t: set() for t in TABLES})

    def to_dict(self) -> dict:
        return {
            "seed": self.seed,
            "now": _iso(self.now),
            "changed": {t: sorted([list(k) for k in keys]) for t, keys in self.changed.items()},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------- world


class World:
    """All repos, users, issues and PRs; ``now`` is the world clock (after every timestamp in it)."""

    def __init__(self, spec: WorldSpec):
        self.spec = spec
        self.users: dict[str, User] = {}
        self.repos: dict[str, Repo] = {}
        self.now: datetime = EPOCH
        self.mutations = 0
        self.associations: dict[tuple[str, str], str] = {}  # (repo, login) -> author_association
        self._next_id: dict[str, int] = {}
        self.commits: dict[str, Commit] = {}  # every git commit of every repository, by SHA
        self.git = GitObjects()

    # -- generation

    @classmethod
    def generate(cls, spec: WorldSpec) -> World:
        world = cls(spec)
        _Generator(world).run()
        return world

    # -- lookups

    def repo(self, full_name: str) -> Repo | None:
        return self.repos.get(full_name)

    def issue(self, full_name: str, number: int) -> Issue | None:
        repo = self.repos.get(full_name)
        return repo.issues.get(number) if repo else None

    def find_record(self, rid: str) -> Issue | None:
        head, _, num = rid.rpartition("-")
        owner, _, name = head.partition("__")
        return self.issue(f"{owner}/{name}", int(num))

    def listed_repos(self) -> list[Repo]:
        return [r for r in self.repos.values() if r.listed]

    def items(self, repos: set[str] | None = None) -> Iterator[Issue]:
        for repo in self.listed_repos():
            if repos is None or repo.full_name in repos:
                yield from repo.issues.values()

    def user(self, login: str) -> User:
        return self.users[login]

    # -- git

    def add_commit(self, commit: Commit, files: dict[str, bytes]) -> Commit:
        """Seal ``commit`` over the tree ``files`` (its id becomes git's) and record it."""
        self.git.seal(commit, files)
        self.commits[commit.sha] = commit
        return commit

    def git_refs(self, full_name: str) -> dict[str, str]:
        """The refs GitHub would show for a repository: its branches, the head branches of open PRs pushed
        to it, and ``refs/pull/N/head`` (every PR) and ``refs/pull/N/merge`` (open PRs' test merges)."""
        repo = self.repos[full_name]
        refs = {f"refs/heads/{b}": sha for b, sha in repo.branch_heads.items()}
        heads = [
            it
            for r in self.repos.values()
            for it in r.issues.values()
            if it.pull is not None and it.state == "open" and it.pull.head_repo == full_name
        ]
        for it in sorted(heads, key=lambda x: (x.created_at, x.repo, x.number)):  # a reused name: newest wins
            refs[f"refs/heads/{it.pull.head_ref}"] = it.pull.head_sha  # type: ignore[union-attr]
        for number, it in sorted(repo.issues.items()):
            if it.pull is None:
                continue
            refs[f"refs/pull/{number}/head"] = it.pull.head_sha
            if it.state == "open" and it.pull.merge_commit_sha:
                refs[f"refs/pull/{number}/merge"] = it.pull.merge_commit_sha
        return refs

    def write_git(self, root: str | os.PathLike, repos: Iterable[str] | None = None) -> dict[str, Path]:
        """Write the repositories as bare git repositories under ``root`` (see ``gitrepos.write_repos``)."""
        from ingest.simulator.gitrepos import write_repos

        return write_repos(self, root, repos)

    # -- truth

    def keys(
        self,
        drop_author: Callable[[str, str], bool] | None = None,
        repos: set[str] | list[str] | tuple[str, ...] | None = None,
    ) -> dict[str, set[tuple]]:
        """The rows a complete crawl holds, keyed like the crawler's tables."""
        wanted = set(repos) if repos is not None else None
        out: dict[str, set[tuple]] = {t: set() for t in TABLES}

        def dropped(login: str) -> bool:
            return drop_author is not None and drop_author(login, self.users[login].type)

        for repo in self.listed_repos():
            if wanted is not None and repo.full_name not in wanted:
                continue
            name = repo.full_name
            out["repos"].add((name,))
            for it in repo.issues.values():
                if dropped(it.user):
                    continue
                out["issues"].add((name, it.number))
                out["comments"].update(
                    (name, it.number, "issue", c.id) for c in it.comments if not dropped(c.user)
                )
                if it.pull is None:
                    continue
                pr = it.pull
                out["pulls"].add((name, it.number))
                out["comments"].update(
                    (name, it.number, "review", r.id) for r in pr.reviews if not dropped(r.user)
                )
                out["comments"].update(
                    (name, it.number, "review_comment", c.id)
                    for c in pr.review_comments
                    if not dropped(c.user)
                )
                out["pull_files"].update((name, it.number, f.filename) for f in pr.files)
                out["pull_commits"].update((name, it.number, c.sha) for c in pr.commits)
        return out

    def expected_links(self) -> dict[tuple[str, int], frozenset[str]]:
        """(repo, PR number) -> record ids of the issues GitHub links as closed by that PR."""
        return {(it.repo, it.number): it.pull.closes for it in self.items() if it.pull is not None}

    def counts(self) -> dict[str, int]:
        return {t: len(v) for t, v in self.keys().items()}

    # -- ids

    def next_id(self, kind: str, rng: random.Random) -> int:
        self._next_id[kind] += rng.randint(1, 7)
        return self._next_id[kind]

    # -- mutation

    def mutate(
        self,
        seed: int,
        new_issues: int = 2,
        new_pulls: int = 2,
        edited_issues: int = 2,
        new_comments: int = 3,
        edited_comments: int = 2,
        new_review_comments: int = 1,
        pushed_pulls: int = 1,
        merged_pulls: int = 1,
    ) -> MutationReport:
        """Advance the clock and apply GitHub-like activity; report every new or changed row."""
        self.mutations += 1
        rng = random.Random(f"mutate:{self.spec.seed}:{seed}:{self.mutations}")
        start = self.now
        n_ops = (
            new_issues
            + new_pulls
            + edited_issues
            + new_comments
            + edited_comments
            + new_review_comments
            + pushed_pulls
            + merged_pulls
        )
        self.now = start + timedelta(seconds=max(7200, 100 * (n_ops + 2)))
        before = self._row_states()
        mut = _Mutator(self, rng, start)
        for _ in range(new_issues):
            mut.new_issue()
        for _ in range(new_pulls):
            mut.new_pull()
        for _ in range(edited_issues):
            mut.edit_issue()
        for _ in range(new_comments):
            mut.new_comment()
        for _ in range(edited_comments):
            mut.edit_comment()
        for _ in range(new_review_comments):
            mut.new_review_comment()
        for _ in range(pushed_pulls):
            mut.push_pull()
        for _ in range(merged_pulls):
            mut.merge_pull()
        after = self._row_states()
        report = MutationReport(seed=seed, now=self.now)
        for table in TABLES:
            old = before[table]
            report.changed[table] = {k for k, v in after[table].items() if old.get(k) != v}
        return report

    def _row_states(self) -> dict[str, dict[tuple, tuple]]:
        """Per table, key -> the values the row's GitHub JSON is made of (embedded repo objects excluded)."""
        states: dict[str, dict[tuple, tuple]] = {t: {} for t in TABLES}
        for repo in self.listed_repos():
            name = repo.full_name
            states["repos"][(name,)] = (
                repo.open_issues_count,
                repo.pushed_at,
                repo.updated_at,
                repo.stargazers_count,
                repo.default_branch,
                repo.description,
                repo.size_kb,
            )
            for it in repo.issues.values():
                key = (name, it.number)
                pr = it.pull
                issue_state = (
                    it.title,
                    it.body,
                    it.state,
                    it.state_reason,
                    tuple(it.labels),
                    it.updated_at,
                    it.closed_at,
                    it.closed_by,
                    len(it.comments),
                    it.locked,
                    tuple(it.assignees),
                    pr.merged_at if pr else None,
                    pr.draft if pr else None,
                )
                states["issues"][key] = issue_state
                for c in it.comments:
                    states["comments"][(name, it.number, "issue", c.id)] = (c.body, c.updated_at)
                if pr is None:
                    continue
                states["pulls"][key] = issue_state + (
                    pr.head_sha,
                    pr.base_sha,
                    pr.merge_commit_sha,
                    pr.merged_by,
                    len(pr.review_comments),
                    len(pr.commits),
                    len(pr.files),
                    sum(f.additions for f in pr.files),
                    sum(f.deletions for f in pr.files),
                )
                for r in pr.reviews:
                    states["comments"][(name, it.number, "review", r.id)] = (r.body, r.state, r.commit_id)
                for c in pr.review_comments:
                    states["comments"][(name, it.number, "review_comment", c.id)] = (
                        c.body,
                        c.updated_at,
                        c.position,
                        c.line,
                        c.commit_id,
                    )
                # blob_url/raw_url/contents_url embed the head SHA, so a push changes every file row.
                for f in pr.files:
                    states["pull_files"][(name, it.number, f.filename)] = (
                        pr.head_sha,
                        f.status,
                        f.sha,
                        f.patch,
                    )
                for c in pr.commits:
                    states["pull_commits"][(name, it.number, c.sha)] = (pr.head_sha,)
        return states


# ---------------------------------------------------------------------------------------- generator


def _geom(rng: random.Random, mean: float, lo: int = 0, hi: int = 10**6) -> int:
    """Geometric count with the given mean (before capping) and floor ``lo``."""
    m = mean - lo
    if m <= 0:
        return lo
    p = 1.0 / (1.0 + m)
    k = int(math.log(1.0 - rng.random()) / math.log(1.0 - p))
    return max(lo, min(hi, lo + k))


def _skip_sha(rng: random.Random) -> None:
    """Draw what a random SHA cost before SHAs were computed: every other value stays as it was."""
    rng.getrandbits(160)


def _gap(rng: random.Random, mean_s: float, floor_s: int = 60) -> timedelta:
    return timedelta(seconds=max(floor_s, int(rng.expovariate(1.0 / mean_s))))


class _Generator:
    """Builds a world repo by repo; ids are assigned at the end in creation-time order, as GitHub does."""

    def __init__(self, world: World):
        self.world = world
        self.spec = world.spec
        self.rng = random.Random(self.spec.seed)
        self.humans: list[str] = []
        self.prov = itertools.count(1)  # provisional ids, remapped by _assign_ids
        # Curated presets (demo, small) place every hard case at least once, early, before chance takes
        # over; bench leaves everything to the distributions.
        curated = self.spec.preset != "bench"
        self.required_refs = list(_REQUIRED_REFS) if curated else []
        self.kind_cycle = list(_PR_KIND_CYCLE) if curated else []
        self.issue_specials = list(_ISSUE_SPECIALS) if curated else []
        self.comment_specials = list(_COMMENT_SPECIALS) if curated else []
        self.reviewer_specials = ["ghost", "github-actions[bot]"] if curated else []
        self.review_states = ["CHANGES_REQUESTED", "APPROVED", "COMMENTED", "DISMISSED"] if curated else []
        self.fate_cycle = ["merged", "open", "closed", "draft", "merged", "open"] if curated else []
        self.need_nondefault = self.need_cross_repo = self.need_deleted_fork = curated
        self.owners: dict[str, tuple[str, tuple[str, ...]]] = dict(_OWNERS)
        self.repo_ids = itertools.count(700_000_001, 7919)

    # -- top level

    def run(self) -> None:
        self._make_users()
        roster = self._roster()
        for i, plan in enumerate(roster):
            self._make_repo(plan, EPOCH + timedelta(hours=3 * i))
        for plan in roster:
            repo = self.world.repos[plan.full_name]
            rrng = random.Random(self.rng.getrandbits(64))
            self._make_items(repo, rrng, plan.items)
        self._assign_ids()
        self._finish_repos()
        latest = max(self._all_timestamps(), default=EPOCH)
        self.world.now = latest + timedelta(hours=1)

    def _roster(self) -> list[_RepoPlan]:
        spec = self.spec
        bait = [replace(p, items=spec.bait_items) for p in _BAIT_ROSTER]
        if spec.preset == "demo":
            main = [replace(p, items=max(2, round(p.items * spec.items_scale))) for p in _DEMO_ROSTER]
        elif spec.preset == "small":
            main = [
                replace(p, items=max(2, round(_SMALL_SIZES[p.full_name] * spec.items_scale)))
                for p in _DEMO_ROSTER
            ]
        elif spec.preset == "bench":
            main = self._bench_roster()
        else:
            raise ValueError(f"unknown preset {spec.preset!r} (demo, small, bench)")
        # The fork must come after its parent so the parent's tree exists when the fork copies it.
        return main + bait

    def _bench_roster(self) -> list[_RepoPlan]:
        rng = self.rng
        orgs = ["acme", "lumen", "vertex", "quanta", "hollow", "sparrow", "ember", "tidal"]
        for org in orgs:
            self.owners.setdefault(org, ("Organization", tuple(rng.sample(self.humans, 3))))
        licenses = (
            ["MIT"] * 8 + ["Apache-2.0"] * 6 + ["BSD-3-Clause"] * 3 + ["BSD-2-Clause", "MPL-2.0", "ISC"]
        )
        # acme/widgets comes first: the bait fork nova/widgets needs its parent.
        plans = [replace(_DEMO_ROSTER[0], items=self.spec.items_per_repo)]
        names = {plans[0].full_name}
        for i in range(1, self.spec.n_repos):
            name = plans[0].full_name
            while name in names:
                name = f"{orgs[i % len(orgs)]}/{rng.choice(_NOUNS)}-{rng.choice(_VERBS)}er"
            names.add(name)
            plans.append(
                _RepoPlan(
                    name,
                    self.spec.items_per_repo,
                    max(20, int(rng.lognormvariate(5.5, 1.3))),
                    rng.randint(1, 400),
                    rng.choice(licenses),
                    "Python",
                    default_branch="master" if rng.random() < 0.15 else "main",
                    topics=tuple(rng.sample(_NOUNS, 2)),
                    description=f"{rng.choice(_VERBS).capitalize()} {rng.choice(_ADJ)} {rng.choice(_NOUNS)}s",
                )
            )
        return plans[: max(1, self.spec.n_repos)]

    def _make_users(self) -> None:
        users = self.world.users
        for i, (login, name) in enumerate(_HUMANS):
            users[login] = User(login, 1_000_001 + 97 * i, "User", name, EPOCH - timedelta(days=900 + 31 * i))
            self.humans.append(login)
        if self.spec.preset == "bench":
            for i in range(200):
                first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
                login = f"{first.lower()}-{last.lower()}-{i}".encode("ascii", "ignore").decode()
                users[login] = User(
                    login, 5_000_001 + 131 * i, "User", f"{first} {last}", EPOCH - timedelta(days=100 + i)
                )
                self.humans.append(login)
        for login, uid, typ, name in (*_BOTS, GHOST, WEB_FLOW):
            users[login] = User(login, uid, typ, name, EPOCH - timedelta(days=2000))
        for i, (login, (typ, _)) in enumerate(self.owners.items()):
            users.setdefault(
                login, User(login, 3_000_001 + 53 * i, typ, login.capitalize(), EPOCH - timedelta(days=1500))
            )

    def _owner(self, login: str) -> None:
        if login not in self.world.users:
            self.world.users[login] = User(
                login,
                3_500_001 + 17 * len(self.world.users),
                "Organization",
                login.capitalize(),
                EPOCH - timedelta(days=1200),
            )

    def _make_repo(self, plan: _RepoPlan, created: datetime) -> Repo:
        rng = self.rng
        owner = plan.full_name.split("/")[0]
        self._owner(owner)
        pkg = plan.full_name.split("/")[1].replace("-", "_")
        members = list(self.owners.get(owner, ("Organization", ()))[1]) or [owner]
        repo = Repo(
            full_name=plan.full_name,
            id=next(self.repo_ids),
            description=plan.description,
            stargazers_count=plan.stars,
            forks_count=plan.forks,
            language=plan.language,
            topics=list(plan.topics),
            license=plan.license,
            default_branch=plan.default_branch,
            fork=plan.fork_of is not None,
            parent=plan.fork_of,
            archived=plan.archived,
            created_at=created,
            updated_at=created,
            pushed_at=created,
            package=pkg,
            members=members,
            crawlable=plan.crawlable,
        )
        if plan.fork_of and plan.fork_of in self.world.repos:
            parent = self.world.repos[plan.fork_of]
            repo.package = parent.package
            repo.branches = {repo.default_branch: parent.branches[parent.default_branch]}
            repo.branch_heads = {repo.default_branch: parent.branch_heads[parent.default_branch]}
        else:
            extra = 12 if self.spec.preset == "bench" else 0
            tree = _initial_tree(rng, plan.full_name, pkg, extra)
            repo.branches = {repo.default_branch: tree}
            _skip_sha(rng)
            login = members[0] if members[0] in self.world.users else owner
            root = _plain_commit(self.world, login, "Initial commit", created, [], tree)
            repo.branch_heads = {repo.default_branch: root.sha}
            if plan.crawlable:
                # A maintenance branch: PRs into it carry closing keywords GitHub must ignore.
                repo.branches["release-1.x"] = tree
                _skip_sha(rng)
                start = _plain_commit(
                    self.world,
                    login,
                    "Start the release-1.x maintenance branch",
                    created + timedelta(minutes=10),
                    [root.sha],
                    tree,
                )
                repo.branch_heads["release-1.x"] = start.sha
        labels = [
            ("bug", "d73a4a", "Something isn't working"),
            ("enhancement", "a2eeef", "New feature or request"),
            ("documentation", "0075ca", "Improvements or additions to documentation"),
            ("question", "d876e3", "Further information is requested"),
            ("good first issue", "7057ff", "Good for newcomers"),
            ("wontfix", "ffffff", None),
            ("duplicate", "cfd3d7", "This issue or pull request already exists"),
            ("dependencies", "0366d6", "Pull requests that update a dependency file"),
            ("help wanted", "008672", "Extra attention is needed"),
        ]
        for j, (name, color, desc) in enumerate(labels):
            repo.labels[name] = Label(repo.id * 10 + j, name, color, desc)
        self.world.repos[repo.full_name] = repo
        return repo

    def _fork_of(self, repo: Repo, login: str, created: datetime) -> Repo:
        """The user fork a PR head lives in (acme/widgets PRs may come from the listed fork nova/widgets)."""
        if repo.full_name == "acme/widgets" and login == "nova" and "nova/widgets" in self.world.repos:
            return self.world.repos["nova/widgets"]
        full = f"{login}/{repo.name}"
        if full in self.world.repos:
            return self.world.repos[full]
        fork = Repo(
            full_name=full,
            id=next(self.repo_ids),
            description=repo.description,
            stargazers_count=0,
            forks_count=0,
            language=repo.language,
            topics=[],
            license=repo.license,
            default_branch=repo.default_branch,
            fork=True,
            parent=repo.full_name,
            archived=False,
            created_at=created,
            updated_at=created,
            pushed_at=created,
            package=repo.package,
            members=[login],
            listed=False,
            crawlable=False,
        )
        fork.branches = {fork.default_branch: repo.branches[repo.default_branch]}
        fork.branch_heads = {fork.default_branch: repo.branch_heads[repo.default_branch]}
        self.world.repos[full] = fork
        return fork

    def association(self, repo: Repo, login: str) -> str:
        key = (repo.full_name, login)
        assoc = self.world.associations
        if key not in assoc:
            user = self.world.users[login]
            if login == repo.owner:
                value = "OWNER"
            elif login in repo.members:
                value = "MEMBER"
            elif user.is_ghost or user.type == "Bot":
                value = "NONE"
            else:
                value = self.rng.choice(
                    ["CONTRIBUTOR", "CONTRIBUTOR", "NONE", "COLLABORATOR", "FIRST_TIME_CONTRIBUTOR"]
                )
            assoc[key] = value
        return assoc[key]

    # -- items

    def _make_items(self, repo: Repo, rng: random.Random, n_items: int) -> None:
        spec = self.spec
        t = repo.created_at + timedelta(days=1)
        merges: list[tuple[datetime, int, PullData]] = []  # merged PRs land on their base at merged_at
        for i in range(n_items):
            t += _gap(rng, spec.mean_gap_hours * 3600)
            while merges and merges[0][0] <= t:
                when, merged_number, _ = heapq.heappop(merges)
                land_pull(self.world, repo, repo.issues[merged_number], when)
            number = i + 1
            is_pr = (
                i >= 2
                and rng.random() < spec.pr_fraction
                and repo.crawlable
                or (not repo.crawlable and i == 1)
            )
            if is_pr:
                item = self._make_pull(repo, rng, number, t)
                if item.pull and item.pull.merged_at is not None:
                    heapq.heappush(merges, (item.pull.merged_at, number, item.pull))
            else:
                item = self._make_issue(repo, rng, number, t)
            repo.issues[number] = item
        while merges:
            when, merged_number, _ = heapq.heappop(merges)
            land_pull(self.world, repo, repo.issues[merged_number], when)

    def _pick_author(self, rng: random.Random, repo: Repo) -> str:
        r = rng.random()
        if r < self.spec.ghost_fraction:
            return "ghost"
        if r < self.spec.ghost_fraction + self.spec.bot_item_fraction:
            return "github-actions[bot]"
        if rng.random() < 0.3:
            return rng.choice(repo.members)
        return rng.choice(self.humans)

    def _make_issue(self, repo: Repo, rng: random.Random, number: int, t: datetime) -> Issue:
        special = self.issue_specials.pop(0) if self.issue_specials and repo.crawlable else None
        author = self._pick_author(rng, repo)
        if special not in (None, "ghost", "bot_author"):
            author = rng.choice(self.humans)  # curated cases must survive the crawler's bot filter
        title = _issue_title(rng)
        body: str | None = _issue_body(rng, repo.package) if rng.random() > 0.08 else None
        labels: list[str] = []
        if special == "traceback":
            body = f"{_sentence(rng)}\n\n```\n{_traceback(rng, repo.package)}\n```\n"
            labels = ["bug"]
        elif special == "ghost":
            author = "ghost"
        elif special == "maxlen":
            body = _huge_text(rng, MAX_BODY_CHARS)
            title = "Full debug log of the failing nightly run"
        elif special == "cjk":
            title = "解析器在空输入时崩溃 (parser crashes on empty input)"
            body = f"{UNICODE_SAMPLES['cjk']}\n\n{UNICODE_SAMPLES['mixed']}\n"
        elif special == "null_body":
            body = None
        elif special == "emoji":
            title = "🐛 Crash on 👨‍👩‍👧‍👦 in names"
            body = f"{UNICODE_SAMPLES['emoji']}\n\n{_sentence(rng)}"
        elif special == "rtl":
            body = f"{UNICODE_SAMPLES['rtl']}\n\n{_sentence(rng)}"
        elif special == "combining":
            body = f"{UNICODE_SAMPLES['combining']}\n\n{_sentence(rng)}"
        elif special == "bot_author":
            author = "github-actions[bot]"
        if author == "github-actions[bot]" and special in (None, "bot_author"):
            # A chance bot author must not overwrite a curated hard case (it would be filtered).
            title = f"Nightly CI failed on {rng.choice(['3.11', '3.12', 'main'])}"
            body = f"The scheduled workflow failed.\n\n```\n{_traceback(rng, repo.package)}\n```\n"
        if not labels and rng.random() < 0.6:
            labels = sorted(
                rng.sample(
                    ["bug", "enhancement", "question", "documentation", "good first issue", "help wanted"],
                    rng.choice([1, 1, 2]),
                )
            )
        r = rng.random()
        state, reason, closed_at = "open", None, None
        if r > 0.35:
            state = "closed"
            closed_at = t + _gap(rng, 4 * 86400, 600)
            reason = "completed" if r < 0.8 else ("not_planned" if r < 0.92 else None)
            if reason == "not_planned":
                labels = sorted(set(labels) | {rng.choice(["wontfix", "duplicate"])})
        item = Issue(
            repo=repo.full_name,
            number=number,
            id=next(self.prov),
            title=title,
            body=body,
            user=author,
            labels=labels,
            state=state,
            state_reason=reason,
            created_at=t,
            updated_at=t,
            closed_at=closed_at,
            closed_by=(rng.choice(repo.members) if rng.random() < 0.6 else author) if closed_at else None,
            author_association=self.association(repo, author),
            locked=rng.random() < 0.02,
            assignees=[rng.choice(repo.members)] if rng.random() < 0.2 else [],
            reactions=self._reactions(rng),
            null_pull_request=special == "null_pr_quirk" or rng.random() < 0.03,
        )
        self._make_comments(repo, rng, item)
        self._settle_updated(item)
        return item

    def _reactions(self, rng: random.Random) -> dict[str, int]:
        keys = ("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes")
        return {k: (_geom(rng, 1.2) if rng.random() < 0.3 else 0) for k in keys}

    def _comment_body(self, rng: random.Random, repo: Repo, item: Issue, author: str) -> str:
        if author == "codecov-io":
            return (
                f"## [Codecov](https://codecov.io/gh/{repo.full_name}/pull/{item.number}) Report\n"
                f"> Merging into `{repo.default_branch}` will **increase** coverage by "
                f"`0.{rng.randint(1, 99):02d}%`.\n"
            )
        if author == "CLAassistant":
            return (
                f"[![CLA assistant check](https://cla-assistant.io/pull/badge/signed)]"
                f"(https://cla-assistant.io/{repo.full_name}?pullRequest={item.number}) <br/>"
                "All committers have signed the CLA."
            )
        if author == "k8s-ci-robot":
            return (
                "[APPROVALNOTIFIER] This PR is **NOT APPROVED**\n\nThis pull-request has been approved by: "
                f"*{item.user}*\n\nThe full list of commands accepted by this bot can be found "
                "[here](https://go.k8s.io/bot-commands)."
            )
        if author == "github-actions[bot]":
            return (
                "This issue is stale because it has been open 60 days with no activity. "
                "Remove stale label or comment or this will be closed in 7 days."
            )
        r = rng.random()
        if r < 0.1:
            return rng.choice(["+1", "👍", "Any update on this?", "Same here.", "LGTM"])
        if r < 0.2:
            return f"{UNICODE_SAMPLES[rng.choice(list(UNICODE_SAMPLES))]}\n\n{_sentence(rng)}"
        if r < 0.3:
            return (
                f"I can reproduce this on {rng.choice(_OSES)}:\n\n```\n{_traceback(rng, repo.package)}\n```"
            )
        return f"Thanks for the report! {_sentence(rng)}"

    def _make_comments(self, repo: Repo, rng: random.Random, item: Issue) -> None:
        spec = self.spec
        n = _geom(rng, spec.comments_mean, 0, spec.comments_cap)
        t = item.created_at
        bots = ["codecov-io", "CLAassistant", "k8s-ci-robot"] if item.pull else ["github-actions[bot]"]
        for _ in range(n):
            t = t + _gap(rng, 14 * 3600, 120)
            special = self.comment_specials.pop(0) if self.comment_specials and repo.crawlable else None
            if special == "ghost" or (special is None and rng.random() < spec.ghost_fraction):
                author = "ghost"
            elif special == "bot" or (special is None and rng.random() < 0.08):
                author = rng.choice(bots)
            else:
                author = rng.choice([item.user] * 2 + repo.members + self.humans[:6])
                if author not in self.world.users:
                    author = rng.choice(self.humans)
            body = self._comment_body(rng, repo, item, author)
            if special == "huge":
                body = _huge_text(rng, 60_000)
            elif special == "unicode":
                body = f"{UNICODE_SAMPLES['emoji']} {UNICODE_SAMPLES['rtl']} {UNICODE_SAMPLES['combining']}"
            elif special == "short":
                body = "👍"
            edited = t + _gap(rng, 3600) if rng.random() < 0.15 else t
            item.comments.append(
                IssueComment(
                    id=next(self.prov),
                    repo=repo.full_name,
                    issue_number=item.number,
                    user=author,
                    body=body,
                    created_at=t,
                    updated_at=edited,
                    author_association=self.association(repo, author),
                    reactions=self._reactions(rng),
                )
            )

    def _settle_updated(self, item: Issue) -> None:
        stamps = [item.created_at]
        if item.closed_at:
            stamps.append(item.closed_at)
        stamps += [c.created_at for c in item.comments]
        if item.pull:
            stamps += [r.submitted_at for r in item.pull.reviews]
            stamps += [c.created_at for c in item.pull.review_comments]
            stamps += [c.committer_date for c in item.pull.commits]
        item.updated_at = max(stamps)

    # -- pull requests

    def _pr_kind(self, rng: random.Random, author_is_dependabot: bool) -> str:
        if author_is_dependabot:
            return "deps"
        if self.kind_cycle:
            return self.kind_cycle.pop(0)
        return rng.choices(
            [
                "code",
                "tests",
                "docs",
                "rename_pure",
                "rename_edit",
                "remove",
                "binary_add",
                "binary_mod",
                "deps",
            ],
            weights=[60, 13, 13, 2, 3, 4, 2, 2, 0],
        )[0]

    def _make_pull(self, repo: Repo, rng: random.Random, number: int, t: datetime) -> Issue:
        spec = self.spec
        kind = self._pr_kind(rng, rng.random() < spec.bot_item_fraction)
        author = "dependabot[bot]" if kind == "deps" else self._pick_author(rng, repo)
        if author == "github-actions[bot]":
            author = rng.choice(self.humans)
        deleted_fork = False
        if self.need_deleted_fork and repo.crawlable and number > 4 and kind != "deps":
            author, deleted_fork, self.need_deleted_fork = "ghost", True, False
        base_ref = repo.default_branch
        if (
            repo.crawlable
            and kind != "deps"
            and ((self.need_nondefault and number > 4) or rng.random() < spec.nondefault_base_fraction)
        ):
            base_ref, self.need_nondefault = "release-1.x", False
        base_tree = repo.branches[base_ref]
        head_tree, renames, title, body_lines = self._change_tree(rng, repo, base_tree, kind, author)
        # head repository: same repo branch, or a user fork
        if author == "dependabot[bot]":
            head_repo, head_user = repo.full_name, repo.owner
            head_ref = f"dependabot/pip/{title.split()[1]}-{title.split()[-1]}"
        elif deleted_fork:
            head_repo, head_user, head_ref = None, "ghost", "patch-1"
        elif author not in repo.members and rng.random() < spec.fork_head_fraction * 1.4:
            fork_owner = "nova" if repo.full_name == "acme/widgets" and rng.random() < 0.3 else author
            if fork_owner == "ghost":
                fork_owner = rng.choice(self.humans)
            fork = self._fork_of(repo, fork_owner, t)
            head_repo, head_user = fork.full_name, fork.owner
            head_ref = rng.choice(["patch-1", "patch-2", f"fix-{rng.choice(_NOUNS)}", "main"])
        else:
            head_repo, head_user = repo.full_name, repo.owner
            head_ref = f"{author.split('[')[0]}/{rng.choice(_VERBS)}-{rng.choice(_NOUNS)}-{number}"
        # fate
        r = rng.random()
        if self.fate_cycle and repo.crawlable and kind != "deps":
            r = {"merged": 0.0, "closed": spec.merged_fraction, "open": 0.999, "draft": 0.999}[
                self.fate_cycle[0]
            ]
            force_draft = self.fate_cycle.pop(0) == "draft"
        else:
            force_draft = False
        merged_at = closed_at = None
        state = "open"
        if r < spec.merged_fraction:
            state, merged_at = "closed", t + _gap(rng, 2 * 86400, 1800)
            closed_at = merged_at
        elif r < spec.merged_fraction + spec.closed_unmerged_fraction:
            state, closed_at = "closed", t + _gap(rng, 3 * 86400, 1800)
        if deleted_fork:
            state, merged_at, closed_at = "closed", t + timedelta(hours=5), t + timedelta(hours=5)
        draft = state == "open" and (rng.random() < spec.draft_fraction or force_draft)
        commits = self._make_commits(rng, repo, author, kind, title, t)
        body: str | None = "\n\n".join(body_lines) if body_lines else None
        if author != "dependabot[bot]" and rng.random() < 0.12:
            body = None
        item = Issue(
            repo=repo.full_name,
            number=number,
            id=next(self.prov),
            title=title,
            body=body,
            user=author,
            labels=["dependencies"]
            if kind == "deps"
            else sorted(rng.sample(["bug", "enhancement", "documentation"], rng.choice([0, 0, 1]))),
            state=state,
            state_reason=None,
            created_at=t,
            updated_at=t,
            closed_at=closed_at,
            closed_by=None,
            author_association=self.association(repo, author),
            reactions=self._reactions(rng),
        )
        _skip_sha(rng)
        pull = PullData(
            id=next(self.prov),
            base_ref=base_ref,
            base_sha=repo.branch_heads[base_ref],
            head_ref=head_ref,
            head_sha="",  # set when the commits are sealed, once their messages are final
            head_repo=head_repo,
            head_user=head_user,
            draft=draft,
            merged_at=merged_at,
            merged_by=None,
            merge_commit_sha=None,  # merged: the merge or squash commit; open: GitHub's test merge
            base_files=base_tree,
            head_files=head_tree,
            renames=renames,
            files=diff_trees(base_tree, head_tree, renames),
            commits=commits,
            kind=kind,
            maintainer_can_modify=head_repo != repo.full_name and head_repo is not None,
        )
        if merged_at:
            pull.merged_by = rng.choice(repo.members)
            item.closed_by = pull.merged_by
        elif closed_at:
            item.closed_by = rng.choice([author, *repo.members])
        item.pull = pull
        self._place_refs(rng, repo, item)
        seal_pull_commits(self.world, pull)
        if state == "open":
            refresh_test_merge(self.world, repo, item, t)
        self._make_reviews(rng, repo, item)
        self._make_comments(repo, rng, item)
        self._settle_updated(item)
        return item

    def _change_tree(
        self, rng: random.Random, repo: Repo, base: dict[str, bytes], kind: str, author: str
    ) -> tuple[dict[str, bytes], dict[str, str], str, list[str]]:
        """Apply a PR of ``kind`` to ``base``: (head tree, renames, title, body paragraphs)."""
        spec = self.spec
        pkg = repo.package
        head = dict(base)
        renames: dict[str, str] = {}
        # +0.8: renames, removals and dependency bumps touch one or two files whatever the draw
        n_files = _geom(rng, spec.files_mean + 0.8, 1, spec.files_max)
        src = sorted(
            p
            for p in base
            if p.startswith(f"src/{pkg}/") and p.endswith(".py") and not p.endswith("__init__.py")
        )
        tests = sorted(p for p in base if p.startswith("tests/") and p.endswith(".py"))
        docs = sorted(p for p in base if (p.startswith("docs/") and p.endswith(".rst")) or p == "README.md")
        summary = [f"## Summary\n\n{_sentence(rng)}"]

        def modify(path: str) -> None:
            text = head[path].decode()
            if path.endswith(".py"):
                module = path.rsplit("/", 1)[1][:-3].removeprefix("test_")
                head[path] = _edit_python(rng, text, path.startswith("tests/"), module).encode()
            else:
                head[path] = _edit_text_doc(rng, text).encode()

        def add_module(prefix: str) -> str:
            while True:
                name = f"{rng.choice(_NOUNS)}_{rng.choice(_VERBS)}"
                path = f"src/{pkg}/{name}.py" if prefix == "src" else f"tests/test_{name}.py"
                if path not in head:
                    break
            head[path] = (
                _py_module(rng, pkg, name, rng.randint(2, 5))
                if prefix == "src"
                else _py_test_module(rng, pkg, name, rng.randint(1, 3))
            ).encode()
            return path

        if kind == "deps":
            text, dep, old, new = _bump_requirement(rng, head["requirements.txt"].decode())
            head["requirements.txt"] = text.encode()
            title = f"Bump {dep} from {old} to {new}"
            return (
                head,
                renames,
                title,
                [
                    f"Bumps [{dep}](https://github.com/{dep}/{dep}) from {old} to {new}.",
                    "<details>\n<summary>Release notes</summary>\n\n"
                    f"<p><em>Sourced from {dep}'s releases.</em></p>\n</details>",
                    "Dependabot will resolve any conflicts with this PR as long as you don't alter it "
                    "yourself.",
                    "---\n\n<details>\n<summary>Dependabot commands and options</summary>\n<br />\n\n"
                    "You can trigger Dependabot actions by commenting on this PR:\n"
                    "- `@dependabot rebase` will rebase this PR\n</details>",
                ],
            )
        if kind == "tests":
            targets = rng.sample(tests, min(len(tests), n_files)) if tests else []
            for p in targets:
                modify(p)
            for _ in range(n_files - len(targets)):
                add_module("tests")
            title = f"Add tests for {rng.choice(_VERBS)}_{rng.choice(_NOUNS)}"
        elif kind == "docs":
            targets = rng.sample(docs, min(len(docs), n_files)) if docs else []
            for p in targets:
                modify(p)
            if not targets or n_files > len(targets):
                head[f"docs/{rng.choice(_NOUNS)}-{rng.randint(1, 999)}.rst"] = _rst_page(
                    rng, rng.choice(_NOUNS).capitalize(), 2
                ).encode()
            title = rng.choice(
                [f"Docs: clarify {rng.choice(_NOUNS)} handling", "Update README", "Improve the usage guide"]
            )
        elif kind in ("rename_pure", "rename_edit"):
            movable = [p for p in src if not p.endswith(("/core.py", "/utils.py"))] or docs
            old = rng.choice(movable)
            stem, ext = old.rsplit(".", 1)
            new = f"{stem}_{rng.choice(_NOUNS)}.{ext}"
            while new in head:
                new = f"{stem}_{rng.choice(_NOUNS)}{rng.randint(0, 99)}.{ext}"
            head[new] = head.pop(old)
            renames[new] = old
            if kind == "rename_edit":
                modify(new)
            title = f"Rename {old.rsplit('/', 1)[1]} to {new.rsplit('/', 1)[1]}"
        elif kind == "remove":
            removable = (
                [p for p in base if p.endswith(("legacy.py", "changelog_old.rst"))]
                or [p for p in src if not p.endswith(("/core.py", "/utils.py"))]
                or docs
            )
            victim = rng.choice(sorted(removable))
            del head[victim]
            title = f"Remove unused {victim.rsplit('/', 1)[1]}"
        elif kind in ("binary_add", "binary_mod"):
            if kind == "binary_mod" and "docs/logo.png" in head:
                head["docs/logo.png"] = _png(rng, rng.randint(400, 900))
                title = "Refresh the project logo"
            else:
                head[f"docs/diagram-{rng.randint(1, 999)}.png"] = _png(rng, rng.randint(300, 800))
                title = "Add an architecture diagram"
            if docs:
                modify(rng.choice(docs))
        else:  # code, usually with tests
            with_tests = rng.random() < 0.7 and n_files > 1
            n_src = n_files - 1 if with_tests else n_files
            targets = rng.sample(src, min(len(src), n_src)) if src else []
            for p in targets:
                modify(p)
            for _ in range(n_src - len(targets)):
                add_module("src")
            if with_tests:
                if tests and rng.random() < 0.7:
                    modify(rng.choice(tests))
                else:
                    add_module("tests")
            title = rng.choice(
                [
                    f"Handle {rng.choice(_ADJ)} {rng.choice(_NOUNS)}s in {rng.choice(_VERBS)}",
                    f"Avoid {rng.choice(_NOUNS)} leak in {rng.choice(_VERBS)}_{rng.choice(_NOUNS)}",
                    f"Add {rng.choice(_VERBS)}_{rng.choice(_NOUNS)} helper",
                    f"Speed up {rng.choice(_VERBS)} for {rng.choice(_ADJ)} input",
                ]
            )
        if head == base and not renames:
            head["CHANGELOG.md"] = (
                base.get("CHANGELOG.md", b"# Changelog\n").decode() + f"\n- {title}\n"
            ).encode()
        body = summary + [f"## Changes\n\n- {_sentence(rng)}\n- {_sentence(rng)}"]
        if rng.random() < 0.4:
            body.append("## Checklist\n\n- [x] Tests added\n- [ ] Docs updated")
        return head, renames, title, body

    def _make_commits(
        self, rng: random.Random, repo: Repo, author: str, kind: str, title: str, t: datetime
    ) -> list[Commit]:
        """A PR's commits, unsealed (no ids, trees or parents yet): ``seal_pull_commits`` finishes them."""
        spec = self.spec
        n = 1 if kind == "deps" else _geom(rng, spec.commits_mean + 0.25, 1, spec.commits_max)
        user = self.world.users[author]
        if author == "dependabot[bot]":
            name, email = "dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com"
        else:
            name = user.name or author
            email = (
                f"{user.id}+{author}@users.noreply.github.com"
                if rng.random() < 0.6
                else f"{author}@example.org"
            )
        login: str | None = None if (author == "ghost" or rng.random() < 0.1) else author
        commits = []
        for i in range(n):
            date = t - timedelta(hours=3 * (n - i)) + timedelta(seconds=rng.randint(0, 3000))
            msg = title if i == n - 1 else f"{rng.choice(_VERBS).capitalize()} {rng.choice(_NOUNS)} handling"
            if rng.random() < 0.35:
                msg += f"\n\n{_sentence(rng)}\n{_sentence(rng)}"
            if kind == "deps":
                msg += "\n\nSigned-off-by: dependabot[bot] <support@github.com>"
            elif rng.random() < 0.25:
                msg += f"\n\nSigned-off-by: {name} <{email}>"
            via_web = rng.random() < 0.1
            _skip_sha(rng)
            _skip_sha(rng)
            commits.append(
                Commit(
                    sha="",  # sealed by seal_pull_commits
                    message=msg,
                    author_name=name,
                    author_email=email,
                    author_date=date,
                    committer_name="GitHub" if via_web else name,
                    committer_email="noreply@github.com" if via_web else email,
                    committer_date=date,
                    author_login=login,
                    committer_login="web-flow" if via_web else login,
                    tree_sha="",
                    parents=[],
                )
            )
        return commits

    def _earlier(self, repo: Repo, number: int, plain_only: bool) -> list[Issue]:
        return [it for n, it in repo.issues.items() if n < number and (not plain_only or it.pull is None)]

    def _place_refs(self, rng: random.Random, repo: Repo, item: Issue) -> None:
        """Write closing references and decoys into title/body/commit messages; record GitHub's links."""
        pull = item.pull
        assert pull is not None
        plain = self._earlier(repo, item.number, plain_only=True)
        anything = self._earlier(repo, item.number, plain_only=False)
        if not plain or item.user == "dependabot[bot]":
            return
        plan: list[tuple[str, str]] = []
        if pull.base_ref != repo.default_branch:
            plan.append((rng.choice(list(_CLOSING_FORMS)), rng.choice(["body", "title", "commit"])))
        elif self.required_refs and repo.crawlable:
            plan += [self.required_refs.pop(0) for _ in range(min(3, len(self.required_refs)))]
        else:
            if rng.random() < self.spec.closing_ref_fraction:
                plan += [
                    (rng.choice(list(_CLOSING_FORMS)), rng.choice(["body", "body", "title", "commit"]))
                    for _ in range(rng.choice([1, 1, 2]))
                ]
            if rng.random() < self.spec.decoy_ref_fraction:
                plan.append((rng.choice(list(_DECOY_FORMS)), rng.choice(["body", "body", "commit"])))
        closes: set[str] = set()
        decoys: list[tuple[str, str]] = []
        snippets: list[tuple[str, str]] = []
        for form, where in plan:
            if form in _CLOSING_FORMS:
                target = rng.choice(plain)
                closes.add(target.record_id)
                snippets.append((where, _render_ref(_CLOSING_FORMS[form], repo.full_name, target.number)))
            else:
                decoys.append((form, where))
        if (
            self.need_cross_repo
            and repo.full_name == "acme/gizmo"
            and "acme/widgets" in self.world.repos
            and pull.base_ref == repo.default_branch
        ):
            widgets = [
                it
                for it in self.world.repos["acme/widgets"].issues.values()
                if it.pull is None and it.created_at < item.created_at
            ]
            if widgets:
                target = widgets[-1]
                closes.add(target.record_id)
                snippets.append(("body", f"Closes acme/widgets#{target.number}"))
                self.need_cross_repo = False
        for form, where in decoys:
            pool = [it for it in anything if it.record_id not in closes]
            if form == "fixes_bug":  # a closing keyword with a word in between must not link a plain issue
                pool = [it for it in pool if it.pull is None] or pool
            if pool:
                target = rng.choice(pool)
                snippets.append((where, _render_ref(_DECOY_FORMS[form], repo.full_name, target.number)))
        for where, text in snippets:
            if where == "title":
                item.title = f"{item.title} ({text})"
            elif where == "commit":
                c = rng.choice(pull.commits)
                head, _, trailer = c.message.partition("\n\nSigned-off-by:")
                c.message = f"{head}\n\n{text}" + (f"\n\nSigned-off-by:{trailer}" if trailer else "")
            else:
                item.body = f"{item.body}\n\n{text}" if item.body else text
        pull.closes = frozenset(closes) if pull.base_ref == repo.default_branch else frozenset()

    def _make_reviews(self, rng: random.Random, repo: Repo, item: Issue) -> None:
        spec = self.spec
        pull = item.pull
        assert pull is not None
        # Replies and review comments without a review add reviews of their own, hence the offset.
        n = _geom(rng, max(0.0, spec.reviews_mean - 0.75), 0, 8)
        end = pull.merged_at or item.closed_at or item.created_at + timedelta(days=5)
        span = max(120, int((end - item.created_at).total_seconds()))
        candidates = [m for m in repo.members if m in self.world.users and m != item.user] or self.humans[:5]
        commented: list[Review] = []
        for _ in range(n):
            r = rng.random()
            reviewer = (
                "ghost"
                if r < spec.ghost_fraction
                else ("github-actions[bot]" if r < spec.ghost_fraction + 0.05 else rng.choice(candidates))
            )
            if self.reviewer_specials and repo.crawlable:
                reviewer = self.reviewer_specials.pop(0)
            state = rng.choices(["APPROVED", "COMMENTED", "CHANGES_REQUESTED", "DISMISSED"], [45, 35, 15, 5])[
                0
            ]
            if self.review_states and repo.crawlable:
                state = self.review_states.pop(0)
            body = {
                "APPROVED": rng.choice(["", "LGTM", "Looks good, thanks! 🎉"]),
                "COMMENTED": rng.choice(["", "", "A few questions inline.", UNICODE_SAMPLES["cjk"]]),
                "CHANGES_REQUESTED": f"Please add a test for the {rng.choice(_ADJ)} case.",
                "DISMISSED": rng.choice(["", "Superseded."]),
            }[state]
            review = Review(
                id=next(self.prov),
                user=reviewer,
                body=body,
                state=state,
                submitted_at=item.created_at + timedelta(seconds=rng.randint(60, span)),
                commit_id=pull.head_sha,
                author_association=self.association(repo, reviewer),
            )
            pull.reviews.append(review)
            if state in ("COMMENTED", "CHANGES_REQUESTED"):
                commented.append(review)
        n_rc = _geom(rng, spec.review_comments_mean / 1.3, 0, 20)  # ~30% get a reply
        patched = [f for f in pull.files if f.patch]
        if not patched or n_rc == 0:
            return
        if not commented:
            commented.append(
                Review(
                    id=next(self.prov),
                    user=rng.choice(candidates),
                    body="",
                    state="COMMENTED",
                    submitted_at=item.created_at + timedelta(seconds=rng.randint(60, span)),
                    commit_id=pull.head_sha,
                    author_association="MEMBER",
                )
            )
            commented[-1].author_association = self.association(repo, commented[-1].user)
            pull.reviews.append(commented[-1])
        for _ in range(n_rc):
            review = rng.choice(commented)
            f = rng.choice(patched)
            self._add_review_comment(rng, repo, item, review, f, review.submitted_at)
        pull.reviews.sort(key=lambda rv: rv.submitted_at)
        pull.review_comments.sort(key=lambda c: c.created_at)

    def _add_review_comment(
        self, rng: random.Random, repo: Repo, item: Issue, review: Review, f: PullFile, when: datetime
    ) -> ReviewComment:
        pull = item.pull
        assert pull is not None and f.patch is not None
        position, diff_hunk, line, side = pick_diff_position(rng, f.patch)
        body = rng.choice(
            [
                f"nit: {_sentence(rng)}",
                f"Could we use `{_ident(rng)}` here?",
                "Why is this needed?",
                f"```suggestion\n    return {rng.choice(_NOUNS)}\n```",
                UNICODE_SAMPLES["mixed"],
            ]
        )
        anchor = (f.filename, diff_hunk, position, line, side)
        root = review_comment(next(self.prov), review, review.user, body, anchor, review.commit_id, when,
                              review.author_association)
        pull.review_comments.append(root)
        if rng.random() < 0.3 and item.user != review.user:
            # A reply creates its own (empty, COMMENTED) review, as on GitHub.
            t = when + _gap(rng, 5 * 3600, 300)
            reply_review = Review(
                id=next(self.prov),
                user=item.user,
                body="",
                state="COMMENTED",
                submitted_at=t,
                commit_id=pull.head_sha,
                author_association=item.author_association,
            )
            pull.reviews.append(reply_review)
            pull.review_comments.append(
                review_comment(next(self.prov), reply_review, item.user, rng.choice(_REPLIES), anchor,
                               pull.head_sha, t, item.author_association, in_reply_to=root.id)
            )
        return root

    # -- ids

    def _assign_ids(self) -> None:
        """Replace provisional ids with per-kind sequences that grow with creation time."""
        rng = self.rng
        items = [it for r in self.world.repos.values() for it in r.issues.values()]
        comments = [c for it in items for c in it.comments]
        pulls = [it for it in items if it.pull]
        reviews = [rv for it in pulls for rv in it.pull.reviews]
        rcs = [c for it in pulls for c in it.pull.review_comments]
        # Bases straddle 2**31 for the big kinds so 32-bit id bugs surface in tests.
        bases = {
            "issue": 2_147_480_000,
            "pull": 1_600_000_000,
            "issue_comment": 2_147_483_000,
            "review": 2_147_482_000,
            "review_comment": 2_147_482_500,
        }
        seq = dict(bases)

        def take(kind: str) -> int:
            seq[kind] += rng.randint(1, 7)
            return seq[kind]

        for it in sorted(items, key=lambda x: (x.created_at, x.id)):
            it.id = take("issue")
        for it in sorted(pulls, key=lambda x: (x.created_at, x.pull.id)):
            it.pull.id = take("pull")
        for c in sorted(comments, key=lambda x: (x.created_at, x.id)):
            c.id = take("issue_comment")
        review_map: dict[int, int] = {}
        for rv in sorted(reviews, key=lambda x: (x.submitted_at, x.id)):
            review_map[rv.id] = take("review")
            rv.id = review_map[rv.id]
        rc_map = {c.id: take("review_comment") for c in sorted(rcs, key=lambda x: (x.created_at, x.id))}
        for c in rcs:
            c.review_id = review_map[c.review_id]
            c.id = rc_map[c.id]
            if c.in_reply_to_id is not None:
                c.in_reply_to_id = rc_map[c.in_reply_to_id]
        self.world._next_id = seq

    def _finish_repos(self) -> None:
        for repo in self.world.repos.values():
            stamps = [repo.created_at]
            for it in repo.issues.values():
                if it.pull and it.pull.merged_at:
                    stamps.append(it.pull.merged_at)
            repo.pushed_at = max(stamps)
            repo.updated_at = max(repo.pushed_at, repo.created_at + timedelta(days=30))

    def _all_timestamps(self) -> Iterator[datetime]:
        for repo in self.world.repos.values():
            yield repo.updated_at
            for it in repo.issues.values():
                yield it.updated_at
                for c in it.comments:
                    yield c.updated_at
                if it.pull:
                    for rc in it.pull.review_comments:
                        yield rc.updated_at
                    for cm in it.pull.commits:
                        yield cm.committer_date


def review_comment(
    cid: int,
    review: Review,
    user: str,
    body: str,
    anchor: tuple[str, str, int | None, int | None, str],
    commit: str,
    when: datetime,
    association: str,
    in_reply_to: int | None = None,
) -> ReviewComment:
    """A review comment on ``anchor`` = (path, diff_hunk, position, line, side) of ``commit``, as
    generation and mutation both make them (original_* equal the current values)."""
    path, diff_hunk, position, line, side = anchor
    return ReviewComment(
        id=cid, review_id=review.id, user=user, body=body, path=path, diff_hunk=diff_hunk, position=position,
        original_position=position, line=line, original_line=line, side=side, commit_id=commit,
        original_commit_id=commit, in_reply_to_id=in_reply_to, created_at=when, updated_at=when,
        author_association=association,
    )


def _render_ref(template: str, full: str, n: int) -> str:
    return template.format(ref=f"#{n}", full=full, n=n)


# ------------------------------------------------------------------------------------------ git history
# Per repository: a root commit on the default branch ("Initial commit") and, on crawlable repositories,
# release-1.x branching off it. A PR's commits chain from base_sha, commit i carrying a prefix of the
# PR's file changes and the last one exactly head_files. Merging makes a merge commit (parents: the base
# branch head at merge time, head_sha) or a squash commit (one parent: the base branch head), ~60/40 by
# PR number; either becomes merge_commit_sha and the branch head. Open PRs carry GitHub's test merge as
# merge_commit_sha (refs/pull/N/merge), made when the PR is opened or pushed to and left as it is when
# the base branch moves on; closed unmerged PRs have none.

GITHUB_NAME, GITHUB_EMAIL = "GitHub", "noreply@github.com"  # the committer of web merges


def identity(world: World, login: str) -> tuple[str, str]:
    """(name, email) a user's web commits carry: the profile name and the noreply address."""
    user = world.users.get(login)
    name = (user.name if user else None) or login
    return name, f"{user.id if user else 0}+{login}@users.noreply.github.com"


def merge_method(full_name: str, number: int) -> str:
    """How a PR is merged: "merge" (about 60%) or "squash", fixed by repository and number."""
    return "merge" if hashlib.sha1(f"{full_name}#{number}".encode()).digest()[0] < 154 else "squash"


def merged_tree(base: dict[str, bytes], pull: PullData) -> dict[str, bytes]:
    """``base`` with the PR's changed paths taking their head content (how the merge button resolves)."""
    tree = dict(base)
    for f in pull.files:
        _apply_file(tree, f, pull.head_files)
    return tree


def _apply_file(tree: dict[str, bytes], f: PullFile, head: dict[str, bytes]) -> None:
    if f.status == "removed":
        tree.pop(f.filename, None)
        return
    if f.previous_filename:
        tree.pop(f.previous_filename, None)
    tree[f.filename] = head[f.filename]


def _plain_commit(
    world: World, login: str, message: str, when: datetime, parents: list[str], files: dict[str, bytes]
) -> Commit:
    """A commit pushed by ``login`` (author and committer)."""
    name, email = identity(world, login)
    return _new_commit(world, (name, email, login), (name, email, login), message, when, parents, files)


def _web_commit(
    world: World,
    author: tuple[str, str, str | None],
    message: str,
    when: datetime,
    parents: list[str],
    files: dict[str, bytes],
) -> Commit:
    """A commit GitHub made on ``author``'s behalf (merge and squash buttons): GitHub commits it."""
    return _new_commit(world, author, (GITHUB_NAME, GITHUB_EMAIL, "web-flow"), message, when, parents, files)


def _new_commit(
    world: World,
    author: tuple[str, str, str | None],
    committer: tuple[str, str, str | None],
    message: str,
    when: datetime,
    parents: list[str],
    files: dict[str, bytes],
) -> Commit:
    commit = Commit(
        sha="", message=message, author_name=author[0], author_email=author[1], author_date=when,
        committer_name=committer[0], committer_email=committer[1], committer_date=when,
        author_login=author[2], committer_login=committer[2], tree_sha="", parents=parents,
    )
    return world.add_commit(commit, files)


def seal_pull_commits(world: World, pull: PullData, start: int = 0) -> None:
    """Chain ``pull.commits[start:]`` onto base_sha (or the commit before ``start``) and give each its tree:
    commit i of n holds the first (i + 1) * k // n of the PR's k file changes, the last one head_files."""
    n = len(pull.commits)
    parent = pull.commits[start - 1].sha if start else pull.base_sha
    for i in range(start, n):
        if i == n - 1:
            files = pull.head_files
        else:
            files = dict(pull.base_files)
            for f in pull.files[: (i + 1) * len(pull.files) // n]:
                _apply_file(files, f, pull.head_files)
        c = pull.commits[i]
        c.parents = [parent]
        world.add_commit(c, files)
        parent = c.sha
    pull.head_sha = parent


def refresh_test_merge(world: World, repo: Repo, item: Issue, when: datetime) -> Commit:
    """GitHub's test merge of an open PR into its base branch as it is now: the PR's merge_commit_sha."""
    pull = item.pull
    assert pull is not None
    base_head = repo.branch_heads[pull.base_ref]
    commit = _web_commit(
        world,
        (*identity(world, item.user), None if item.user == "ghost" else item.user),
        f"Merge {pull.head_sha} into {base_head}",
        when,
        [base_head, pull.head_sha],
        merged_tree(repo.branches[pull.base_ref], pull),
    )
    pull.merge_commit_sha = commit.sha
    return commit


def land_pull(world: World, repo: Repo, item: Issue, when: datetime) -> Commit:
    """Merge a PR as the merge button does: a merge or squash commit on the base branch (see above)."""
    pull = item.pull
    assert pull is not None
    base_head = repo.branch_heads[pull.base_ref]
    tree = merged_tree(repo.branches[pull.base_ref], pull)
    method = merge_method(repo.full_name, item.number)
    if method == "merge":
        merger = pull.merged_by or item.user
        author = (*identity(world, merger), None if merger == "ghost" else merger)
        message = f"Merge pull request #{item.number} from {pull.head_user}/{pull.head_ref}\n\n{item.title}"
        parents = [base_head, pull.head_sha]
    else:
        first = pull.commits[0]
        author = (first.author_name, first.author_email, first.author_login)
        detail = item.body or "\n\n".join(f"* {c.message}" for c in pull.commits)
        message = f"{item.title} (#{item.number})\n\n{detail}"
        parents = [base_head]
    commit = _web_commit(world, author, message.rstrip("\n"), when, parents, tree)
    repo.branches[pull.base_ref] = tree
    repo.branch_heads[pull.base_ref] = commit.sha
    pull.merge_commit_sha = commit.sha
    pull.merge_method = method
    return commit


def pick_diff_position(rng: random.Random, patch: str) -> tuple[int, str, int, str]:
    """A commentable line of ``patch``: (position, diff_hunk up to it, file line, side)."""
    lines = patch.split("\n")
    candidates = []
    hunk_start = 0
    old_no = new_no = 0
    for pos, text in enumerate(lines):
        if text.startswith("@@"):
            hunk_start = pos
            head = text.split("@@")[1].split()
            old_no = int(head[0][1:].split(",")[0])
            new_no = int(head[1][1:].split(",")[0])
            continue
        if text.startswith("\\"):
            continue
        if text.startswith("-"):
            candidates.append((pos, hunk_start, old_no, "LEFT"))
            old_no += 1
        elif text.startswith("+"):
            candidates.append((pos, hunk_start, new_no, "RIGHT"))
            new_no += 1
        else:
            candidates.append((pos, hunk_start, new_no, "RIGHT"))
            old_no += 1
            new_no += 1
    # Prefer changed lines, as reviewers do.
    changed = [c for c in candidates if lines[c[0]][:1] in "+-"] or candidates
    pos, start, line, side = rng.choice(changed)
    return pos, "\n".join(lines[start : pos + 1]), line, side


# ----------------------------------------------------------------------------------------- mutation


class _Mutator:
    """One ``World.mutate`` call: each step picks its target with ``rng`` and stamps a new time."""

    def __init__(self, world: World, rng: random.Random, start: datetime):
        self.world = world
        self.rng = rng
        self.t = start
        self.gen = _Generator(world)  # reuse the content helpers; its own rng is unused for picks
        self.gen.rng = rng
        self.gen.humans = [
            u.login
            for u in world.users.values()
            if u.type == "User"
            and u.login not in {b[0] for b in _BOTS}
            and u.login not in ("ghost", "web-flow")
            and u.login not in {r.owner for r in world.listed_repos()}
        ]
        self.gen.required_refs = []
        self.gen.kind_cycle = []
        self.gen.issue_specials = []
        self.gen.comment_specials = []
        self.gen.need_nondefault = self.gen.need_cross_repo = self.gen.need_deleted_fork = False
        # Archived repositories are read-only on GitHub: nothing new happens there.
        self.repos = [r for r in world.listed_repos() if r.issues and not r.archived]
        self.weights = [len(r.issues) for r in self.repos]

    def tick(self) -> datetime:
        self.t += timedelta(seconds=self.rng.randint(5, 90))
        assert self.t < self.world.now
        return self.t

    def pick_repo(self) -> Repo:
        return self.rng.choices(self.repos, weights=self.weights)[0]

    def pick_item(self, pred: Callable[[Issue], bool]) -> Issue | None:
        pool = [it for r in self.repos for it in r.issues.values() if pred(it)]
        return self.rng.choice(pool) if pool else None

    def _new_id(self, kind: str) -> int:
        return self.world.next_id(kind, self.rng)

    def new_issue(self) -> None:
        repo = self.pick_repo()
        t = self.tick()
        number = max(repo.issues) + 1
        author = self.rng.choice(self.gen.humans)
        repo.issues[number] = Issue(
            repo=repo.full_name,
            number=number,
            id=self._new_id("issue"),
            title=_issue_title(self.rng),
            body=_issue_body(self.rng, repo.package),
            user=author,
            labels=["bug"],
            state="open",
            state_reason=None,
            created_at=t,
            updated_at=t,
            closed_at=None,
            closed_by=None,
            author_association=self.gen.association(repo, author),
            reactions={},
        )

    def new_pull(self) -> None:
        repo = self.pick_repo()
        t = self.tick()
        number = max(repo.issues) + 1
        rng = self.rng
        author = rng.choice(self.gen.humans)
        base_tree = repo.branches[repo.default_branch]
        kind = rng.choice(["code", "tests", "docs"])
        head_tree, renames, title, body = self.gen._change_tree(rng, repo, base_tree, kind, author)
        commits = self.gen._make_commits(rng, repo, author, kind, title, t)
        for c in commits:  # commits were authored before the PR opened, but after the last world event
            c.author_date = c.committer_date = t - timedelta(seconds=1)
        item = Issue(
            repo=repo.full_name,
            number=number,
            id=self._new_id("issue"),
            title=title,
            body="\n\n".join(body),
            user=author,
            labels=[],
            state="open",
            state_reason=None,
            created_at=t,
            updated_at=t,
            closed_at=None,
            closed_by=None,
            author_association=self.gen.association(repo, author),
            reactions={},
        )
        item.pull = PullData(
            id=self._new_id("pull"),
            base_ref=repo.default_branch,
            base_sha=repo.branch_heads[repo.default_branch],
            head_ref=f"{author}/{rng.choice(_VERBS)}-{number}",
            head_sha="",
            head_repo=repo.full_name,
            head_user=repo.owner,
            draft=False,
            merged_at=None,
            merged_by=None,
            merge_commit_sha=None,
            base_files=base_tree,
            head_files=head_tree,
            renames=renames,
            files=diff_trees(base_tree, head_tree, renames),
            commits=commits,
            kind=kind,
        )
        _skip_sha(rng)
        open_issues = [it for it in repo.issues.values() if it.pull is None and it.state == "open"]
        if open_issues and rng.random() < 0.7:
            target = rng.choice(open_issues)
            item.body = f"{item.body}\n\nFixes #{target.number}"
            item.pull.closes = frozenset({target.record_id})
        seal_pull_commits(self.world, item.pull)
        refresh_test_merge(self.world, repo, item, t)
        repo.issues[number] = item

    def edit_issue(self) -> None:
        item = self.pick_item(lambda it: True)
        if item is None:
            return
        t = self.tick()
        note = f"_Edited: {_sentence(self.rng)}_"
        if item.body is None:
            item.body = note
        elif len(item.body) + len(note) + 2 <= MAX_BODY_CHARS:
            item.body = f"{item.body}\n\n{note}"
        else:
            item.title = f"{item.title} (updated)"
        item.updated_at = t

    def new_comment(self) -> None:
        item = self.pick_item(lambda it: not it.locked)
        if item is None:
            return
        repo = self.world.repos[item.repo]
        t = self.tick()
        author = self.rng.choice(self.gen.humans)
        item.comments.append(
            IssueComment(
                id=self._new_id("issue_comment"),
                repo=item.repo,
                issue_number=item.number,
                user=author,
                body=self.gen._comment_body(self.rng, repo, item, author),
                created_at=t,
                updated_at=t,
                author_association=self.gen.association(repo, author),
                reactions={},
            )
        )
        item.updated_at = t

    def edit_comment(self) -> None:
        item = self.pick_item(lambda it: bool(it.comments))
        if item is None:
            return
        c = self.rng.choice(item.comments)
        c.body = f"{c.body}\n\n**Edit:** {_sentence(self.rng)}"[:MAX_BODY_CHARS]
        c.updated_at = self.tick()  # the parent issue's updated_at is not bumped by comment edits

    def new_review_comment(self) -> None:
        item = self.pick_item(lambda it: it.pull is not None and any(f.patch for f in it.pull.files))
        if item is None:
            return
        repo = self.world.repos[item.repo]
        pull = item.pull
        assert pull is not None
        t = self.tick()
        reviewer = self.rng.choice([m for m in repo.members if m in self.world.users] or self.gen.humans)
        review = Review(
            id=self._new_id("review"),
            user=reviewer,
            body="",
            state="COMMENTED",
            submitted_at=t,
            commit_id=pull.head_sha,
            author_association=self.gen.association(repo, reviewer),
        )
        pull.reviews.append(review)
        f = self.rng.choice([f for f in pull.files if f.patch])
        position, diff_hunk, line, side = pick_diff_position(self.rng, f.patch or "")
        pull.review_comments.append(
            review_comment(self._new_id("review_comment"), review, reviewer, f"nit: {_sentence(self.rng)}",
                           (f.filename, diff_hunk, position, line, side), pull.head_sha, t,
                           review.author_association)
        )
        item.updated_at = t

    def push_pull(self) -> None:
        item = self.pick_item(lambda it: it.pull is not None and it.state == "open")
        if item is None:
            return
        pull = item.pull
        assert pull is not None
        repo = self.world.repos[item.repo]
        rng = self.rng
        t = self.tick()
        commented = {c.path for c in pull.review_comments}
        editable = sorted(
            p
            for p in pull.head_files
            if p.endswith(".py") and p not in commented and not is_binary(pull.head_files[p])
        )
        head = dict(pull.head_files)
        if editable and rng.random() < 0.7:
            path = rng.choice(editable)
            module = path.rsplit("/", 1)[1][:-3].removeprefix("test_")
            head[path] = _edit_python(rng, head[path].decode(), path.startswith("tests/"), module).encode()
        else:
            path = f"tests/test_{rng.choice(_NOUNS)}_{rng.randint(0, 10**6)}.py"
            head[path] = _py_test_module(rng, repo.package, "core", 1).encode()
        pull.head_files = head
        pull.files = diff_trees(pull.base_files, head, pull.renames)
        author = self.world.users[item.user]
        name = author.name or author.login
        email = f"{author.id}+{author.login}@users.noreply.github.com"
        _skip_sha(rng)
        message = f"Address review comments\n\n{_sentence(rng)}"
        _skip_sha(rng)
        commit = Commit(
            sha="",
            message=message,
            author_name=name,
            author_email=email,
            author_date=t,
            committer_name=name,
            committer_email=email,
            committer_date=t,
            author_login=None if author.is_ghost else author.login,
            committer_login=None if author.is_ghost else author.login,
            tree_sha="",
            parents=[],
        )
        pull.commits.append(commit)
        seal_pull_commits(self.world, pull, start=len(pull.commits) - 1)
        refresh_test_merge(self.world, repo, item, t)
        item.updated_at = t
        if pull.head_repo == repo.full_name:
            repo.pushed_at = t

    def merge_pull(self) -> None:
        item = self.pick_item(lambda it: it.pull is not None and it.state == "open" and not it.pull.draft)
        if item is None:
            return
        pull = item.pull
        assert pull is not None
        repo = self.world.repos[item.repo]
        t = self.tick()
        merger = self.rng.choice([m for m in repo.members if m in self.world.users] or [item.user])
        pull.merged_at = t
        pull.merged_by = merger
        _skip_sha(self.rng)
        item.state, item.closed_at, item.closed_by, item.updated_at = "closed", t, merger, t
        land_pull(self.world, repo, item, t)
        repo.pushed_at = t
        # GitHub closes the linked issues when the PR lands on the default branch.
        for rid in sorted(pull.closes):
            target = self.world.find_record(rid)
            if target is not None and target.state == "open":
                target.state, target.state_reason = "closed", "completed"
                target.closed_at, target.closed_by, target.updated_at = t, merger, t
                self.world.repos[target.repo].pushed_at = max(self.world.repos[target.repo].pushed_at, t)
