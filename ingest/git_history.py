"""What git's own output says about pull requests: PR numbers in history, diffs, skip rules.

Pure: parses text that ``git log`` / ``git diff-tree`` printed and decides from paths and counts;
no processes, files or clock. The one idea: a merged PR leaves a mark in history (GitHub's merge
commit subject, or ``(#N)`` at the end of a squash subject), and one ``diff-tree --raw --numstat``
record plus one patch section per file carry everything ``pull_files`` needs.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

MERGE_RE = re.compile(r"^Merge pull request #(\d+) from (\S+)")
SQUASH_RE = re.compile(r"\(#(\d+)\)\s*$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")
NULL_SHA = "0" * 40

# git's raw status letters -> GitHub's pull_files status words.
STATUS = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "C": "copied", "T": "changed"}


@dataclass(frozen=True)
class HistoryCommit:
    """One first-parent commit of a branch, as ``git log`` printed it."""

    sha: str
    parents: tuple[str, ...]
    message: str
    authored_at: str  # ISO 8601
    committed_at: str


@dataclass(frozen=True)
class HistoryPR:
    """A merged PR found in history alone."""

    number: int
    style: str  # merge | squash
    commit: str  # the merge or squash commit
    base: str  # first parent of that commit
    head: str  # second parent (merge) or the squash commit itself
    title: str
    head_label: str | None  # "user/branch" from a merge subject
    message: str
    merged_at: str


def pr_from_commit(c: HistoryCommit) -> HistoryPR | None:
    """The PR a first-parent commit merged, from GitHub's subjects (None: not a PR merge)."""
    lines = c.message.strip("\n").split("\n")
    subject = lines[0].strip()
    m = MERGE_RE.match(subject)
    if m and len(c.parents) == 2:
        # GitHub writes the PR title as the first line after the blank line.
        rest = [ln for ln in lines[1:] if ln.strip()]
        title = rest[0].strip() if rest else subject
        return HistoryPR(int(m.group(1)), "merge", c.sha, c.parents[0], c.parents[1], title, m.group(2),
                         c.message, c.committed_at)
    m = SQUASH_RE.search(subject)
    if m and len(c.parents) == 1:
        title = subject[: m.start()].rstrip()
        return HistoryPR(int(m.group(1)), "squash", c.sha, c.parents[0], c.sha, title or subject, None,
                         c.message, c.committed_at)
    return None


def parse_log(out: bytes) -> list[HistoryCommit]:
    """Records of ``git log -z --format=%H%x00%P%x00%aI%x00%cI%x00%B`` (NUL-separated fields)."""
    parts = out.decode("utf-8", "replace").split("\0")
    commits = []
    # -z puts a NUL between records, and %B's own text ends the record: 5 fields per commit.
    for i in range(0, len(parts) - 4, 5):
        sha = parts[i].strip("\n")
        if not HEX40.match(sha):
            break
        commits.append(HistoryCommit(sha, tuple(parts[i + 1].split()), parts[i + 4].rstrip("\n"),
                                     parts[i + 2], parts[i + 3]))
    return commits


@dataclass
class DiffFile:
    """One file of a diff: git's raw record, its numstat and (later) its patch section."""

    path: str
    status: str
    previous_path: str | None
    old_mode: str
    new_mode: str
    base_blob: str | None
    head_blob: str | None
    additions: int | None = None  # None for binary files (numstat prints "-")
    deletions: int | None = None

    @property
    def is_binary(self) -> bool:
        return self.additions is None

    @property
    def is_submodule(self) -> bool:
        return "160000" in (self.old_mode, self.new_mode)


@dataclass
class Diff:
    head: str
    files: list[DiffFile] = field(default_factory=list)

    @property
    def changed_lines(self) -> int:
        return sum((f.additions or 0) + (f.deletions or 0) for f in self.files)


def parse_raw_numstat(out: bytes) -> list[Diff]:
    """Parse ``git diff-tree --stdin -r -M --raw --numstat -z`` output into one Diff per input line.

    Each diff starts with its commit id, then raw records (``:mode mode sha sha status``, then one
    path, or two for renames and copies), then numstat records in the same order."""
    toks = out.decode("utf-8", "surrogateescape").split("\0")
    diffs: list[Diff] = []
    i, nstat = 0, 0
    while i < len(toks):
        t = toks[i]
        if not t:
            i += 1
            continue
        if t.startswith(":"):
            old_mode, new_mode, old_sha, new_sha, st = t[1:].split(" ")
            letter = st[0]
            if letter in "RC":
                prev, path = toks[i + 1], toks[i + 2]
                i += 3
            else:
                prev, path = None, toks[i + 1]
                i += 2
            diffs[-1].files.append(DiffFile(
                path=path, status=STATUS.get(letter, "changed"), previous_path=prev,
                old_mode=old_mode, new_mode=new_mode,
                base_blob=None if old_sha == NULL_SHA else old_sha,
                head_blob=None if new_sha == NULL_SHA else new_sha))
            continue
        m = re.match(r"^(-|\d+)\t(-|\d+)\t(.*)$", t, re.S)
        if m and diffs:
            f = diffs[-1].files[nstat]
            if m.group(3) == "":  # rename / copy: the two paths follow
                i += 3
            else:
                i += 1
            if m.group(1) != "-":
                f.additions, f.deletions = int(m.group(1)), int(m.group(2))
            nstat += 1
            continue
        if HEX40.match(t):
            diffs.append(Diff(head=t))
            nstat = 0
            i += 1
            continue
        raise ValueError(f"unexpected diff-tree output token {t[:60]!r}")
    return diffs


def split_patches(out: bytes) -> list[tuple[str, list[str | None]]]:
    """Per-file hunk text of ``git diff-tree --stdin -r -M -p`` output: (head id, sections) per diff,
    one section per file in git's order (None when it has no hunks: binary, pure rename, mode).

    Like GitHub's ``patch`` field: the hunks only, from the first ``@@``, without the final newline."""
    result: list[tuple[str, list[str | None]]] = []
    cur: list[str] | None = None  # lines of the current file section
    in_hunks = False

    def close() -> None:
        if cur is not None:
            result[-1][1].append("\n".join(cur) if cur else None)

    for raw in out.split(b"\n"):
        line = raw.decode("utf-8", "replace")
        if HEX40.match(line) and not line.startswith(("+", "-", " ", "\\")):
            close()
            cur, in_hunks = None, False
            result.append((line, []))
            continue
        if line.startswith("diff --git ") or line.startswith("diff --cc "):
            close()
            cur, in_hunks = [], False
            continue
        if cur is None:
            continue
        if line.startswith("@@"):
            in_hunks = True
        if in_hunks:
            cur.append(line)
    close()
    # The text ends with a newline, so the last section carries one empty trailing line.
    for _, diff in result:
        for k, p in enumerate(diff):
            if p is not None and p.endswith("\n"):
                diff[k] = p.rstrip("\n") if p.strip() else None
    return result


def _matches(path: str, patterns: Iterable[str]) -> bool:
    name = path.rsplit("/", 1)[-1]
    for pat in patterns:
        if pat.endswith("/"):
            if path.startswith(pat) or f"/{pat}" in f"/{path}":
                return True
        elif "/" in pat:
            if fnmatch.fnmatchcase(path, pat):
                return True
        elif fnmatch.fnmatchcase(name, pat):
            return True
    return False


def file_skip_reason(f: DiffFile, *, vendored: Iterable[str], generated: Iterable[str],
                     lockfiles: Iterable[str], max_blob_bytes: int, sizes: dict[str, int]) -> str | None:
    """Why a file's patch and contents are not kept (None: keep). The row itself always stays."""
    if f.is_submodule:
        return "submodule"
    if _matches(f.path, vendored):
        return "vendored"
    if _matches(f.path, lockfiles):
        return "lockfile"
    if _matches(f.path, generated):
        return "generated"
    if f.is_binary:
        return "binary"
    if any(sizes.get(b, 0) > max_blob_bytes for b in (f.base_blob, f.head_blob) if b):
        return "too_large"
    return None


def pr_skip_reason(diff: Diff, *, max_files: int, max_changed_lines: int) -> str | None:
    """Why a whole PR is skipped (None: keep)."""
    if not diff.files:
        return "empty_diff"
    if len(diff.files) > max_files:
        return "too_many_files"
    if diff.changed_lines > max_changed_lines:
        return "too_many_lines"
    return None


def iter_cat_file(out: bytes) -> Iterator[tuple[str, str, bytes | None]]:
    """Records of ``git cat-file --batch``: (sha, type, content); content None when missing."""
    i = 0
    n = len(out)
    while i < n:
        j = out.index(b"\n", i)
        header = out[i:j].decode()
        i = j + 1
        parts = header.split(" ")
        if len(parts) == 2 and parts[1] == "missing":
            yield parts[0], "missing", None
            continue
        sha, typ, size = parts[0], parts[1], int(parts[2])
        yield sha, typ, out[i: i + size]
        i += size + 1  # the content is followed by a newline


_TREE_ENTRY = re.compile(rb"(\d+) ([^\0]*)\0(.{20})", re.S)


def parse_tree_object(data: bytes) -> list[tuple[str, str, str]]:
    """Entries (mode, name, sha) of a raw git tree object, as ``cat-file --batch`` prints it, in
    git's order (which makes the flattened full paths sorted by bytes)."""
    return [(m.decode(), name.decode("utf-8", "replace"), sha.hex()) for m, name, sha in _TREE_ENTRY.findall(data)]


@dataclass(frozen=True)
class CommitRecord:
    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    authored_at: str
    committer_name: str
    committer_email: str
    committed_at: str
    message: str


# ``git log -z`` with this format prints one record of 9 NUL-separated fields per commit.
COMMIT_FORMAT = "--format=%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"


def parse_commits(out: bytes) -> list[CommitRecord]:
    parts = out.decode("utf-8", "replace").split("\0")
    recs = []
    for i in range(0, len(parts) - 8, 9):
        sha = parts[i].strip("\n")
        if not HEX40.match(sha):
            break
        recs.append(CommitRecord(sha, tuple(parts[i + 1].split()), parts[i + 2], parts[i + 3], parts[i + 4],
                                 parts[i + 5], parts[i + 6], parts[i + 7], parts[i + 8].rstrip("\n")))
    return recs
