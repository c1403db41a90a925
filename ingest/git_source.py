"""The git source: PR diffs, commits and base snapshots of one repository, from a clone.

Reads: a git remote (URL or local path), the ``pulls`` / ``pull_commits`` / ``trees`` / ``blobs``
tables of that repository, and the cursor ``raw/_state/git/<owner>__<repo>.json``. Writes (through
the caller's sink): ``pull_files`` (per-file hunks, status, renames, binary flag, base and head blob
SHAs), ``pull_commits`` (only where the API has none), ``commit_diffs`` (each commit's own change,
once per commit), ``trees`` (file list at each base commit),
``blobs`` (pre- and post-images, once per blob SHA) and, for PRs known only from history,
``pulls`` rows marked ``partial``; then the cursor.

The one idea: a bare clone answers for every merged PR at once. A few long-lived git processes
per batch of PRs (``diff-tree --stdin``, ``cat-file --batch``) do the work that would cost one API
request per PR, and content addressing stores a file shared by many PRs once.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import shutil
import subprocess
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ingest.config import GitConfig
from ingest.errors import ConfigError, RetryableError, SweCurateError
from ingest.filters import is_bot, is_test_path
from ingest.git_history import (
    COMMIT_FORMAT,
    HEX40,
    CommitRecord,
    Diff,
    HistoryPR,
    file_skip_reason,
    iter_cat_file,
    parse_commits,
    parse_log,
    parse_raw_numstat,
    parse_tree_object,
    pr_from_commit,
    pr_skip_reason,
    split_patches,
)
from ingest.links import find_links
from ingest.records import ts
from ingest.schema import record_id, repo_slug
from ingest.store import DataRoot

log = logging.getLogger("swe_curate.ingest.git")

Sink = Callable[[dict[str, list[dict[str, Any]]]], None]
LOG_FORMAT = "--format=%H%x00%P%x00%aI%x00%cI%x00%B"
NOREPLY = re.compile(r"^(?:\d+\+)?([^@]+)@users\.noreply\.github\.com$", re.I)


class GitError(SweCurateError):
    """A git command failed for this repository (recorded; the crawl goes on)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}" + (f": {detail}" if detail else ""))
        self.reason = reason
        self.detail = detail


def require_git() -> str:
    """The git executable, or a one-line ConfigError before any work."""
    exe = shutil.which("git")
    if not exe:
        raise ConfigError("the git source needs the git command-line tool on PATH (apt-get install git)")
    return exe


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # Never prompt for credentials (a private or missing repository fails at once), and read
    # git's own output in a fixed language.
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true", SSH_ASKPASS="true", LC_ALL="C", LANG="C")
    return env


class Git:
    """Runs git commands against one bare repository."""

    def __init__(self, git_dir: str, timeout_s: int):
        self.git_dir = git_dir
        self.timeout_s = timeout_s

    def run(self, *args: str, input: bytes | None = None, ok: tuple[int, ...] = (0,)) -> bytes:
        cmd = ["git", "--git-dir", self.git_dir, "-c", "core.quotepath=off", *args]
        return _run(cmd, input=input, timeout=self.timeout_s, ok=ok, what=args[0])


def _run(cmd: list[str], *, input: bytes | None = None, timeout: int, ok: tuple[int, ...] = (0,),
         what: str | None = None) -> bytes:
    what = what or cmd[1]
    try:
        p = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, env=_env())
    except subprocess.TimeoutExpired:
        raise RetryableError(f"git {what} timed out after {timeout}s") from None
    if p.returncode not in ok:
        err = p.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError("git_failed", f"git {what}: {err[-1] if err else p.returncode}"[:300])
    return p.stdout


def is_local(source: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*://", source) and not re.match(r"^[\w.-]+@[\w.-]+:", source)


def probe(source: str, timeout_s: int) -> bool:
    """Whether a remote answers at all (``git ls-remote``), without credentials."""
    if is_local(source):
        return os.path.isdir(source)
    try:
        _run(["git", "ls-remote", "--exit-code", "--heads", source], timeout=timeout_s, ok=(0, 2))
        return True
    except (GitError, RetryableError):
        return False


def mirror(source: str, dest: str, cfg: GitConfig) -> Git:
    """Clone ``source`` bare into ``dest``, or fetch into an existing clone; return it.

    A new clone is made under a temporary name and renamed, so a killed clone is never mistaken
    for a complete one."""
    refspecs = ["+refs/heads/*:refs/heads/*"]
    if cfg.fetch_pull_refs:
        refspecs.append("+refs/pull/*/head:refs/pull/*/head")
    if os.path.isdir(os.path.join(dest, "objects")):
        git = Git(dest, cfg.timeout_s)
        git.run("remote", "set-url", "origin", source)  # the same repository may move (host, mirror)
        git.run("fetch", "--prune", "--quiet", "origin", *refspecs)
        return git
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = f"{dest}.tmp-{uuid.uuid4().hex[:8]}"
    args = ["git", "clone", "--bare", "--quiet"]
    if not is_local(source) and cfg.clone_filter:
        args.append(f"--filter={cfg.clone_filter}")
    try:
        _run([*args, "--", source, tmp], timeout=cfg.timeout_s)
        git = Git(tmp, cfg.timeout_s)
        git.run("config", "--unset-all", "remote.origin.fetch", ok=(0, 5))
        for spec in refspecs:
            git.run("config", "--add", "remote.origin.fetch", spec)
        git.run("fetch", "--prune", "--quiet", "origin")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return Git(dest, cfg.timeout_s)


def clone_dir(root: DataRoot, cfg: GitConfig) -> str:
    if cfg.clone_dir:
        return os.path.abspath(os.path.expanduser(cfg.clone_dir))
    if root.local:
        return os.path.join(root.root, "_git")
    return os.path.expanduser("~/.cache/swe-curate/git")


@dataclass
class Target:
    """One PR to read from the clone."""

    number: int
    base: str
    head: str
    api: bool  # the pulls table has this PR (else a pulls row is written from history)
    history: HistoryPR | None = None
    branch: str | None = None
    start: str | None = None  # the commit the merge base was taken with (None: base is fixed)


@dataclass
class GitResult:
    status: str = "ok"  # ok | unreachable | failed
    reason: str | None = None
    detail: str | None = None
    dropped: Counter[str] = field(default_factory=Counter)
    stats: Counter[str] = field(default_factory=Counter)
    state: dict[str, Any] | None = None


class RepoGitIngest:
    """Reads one repository's merged PRs from its clone and hands rows to ``sink``."""

    def __init__(self, root: DataRoot, cfg: GitConfig, repo: str, git: Git, crawled_at: datetime,
                 sink: Sink, default_branch: str | None = None, progress: Callable[[str, int], None] | None = None):
        self.root, self.cfg, self.repo, self.git = root, cfg, repo, git
        self.crawled_at = crawled_at
        self.sink = sink
        self.default_branch = default_branch
        self.progress = progress or (lambda phase, n: None)
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.n_rows = 0
        self.result = GitResult()
        self.state = root.read_json(f"raw/_state/git/{repo_slug(repo)}.json") or {}
        self.done: dict[str, list[str]] = dict(self.state.get("prs", {}))
        self._tree_entries: dict[str, list[tuple[str, str, str]]] = {}
        self._tree_flat: dict[tuple[str, str], list[str]] = {}
        self._flat_size = 0

    # -- rows ----------------------------------------------------------------------------------
    def _emit(self, table: str, row: dict[str, Any], weight: int = 1) -> None:
        """Buffer a row; ``weight`` counts big rows (tree lists, file contents) as several, so
        ``flush_rows`` bounds memory rather than the number of rows."""
        row["source"], row["crawled_at"] = "git", self.crawled_at
        self.rows.setdefault(table, []).append(row)
        self.n_rows += weight

    def _flush(self, force: bool = False) -> None:
        if self.n_rows and (force or self.n_rows >= self.cfg.flush_rows):
            self.sink(self.rows)
            self.rows, self.n_rows = {}, 0

    # -- discovery -----------------------------------------------------------------------------
    def _branches(self) -> list[str]:
        out = self.git.run("for-each-ref", "--format=%(refname:short)", "refs/heads").decode().split()
        head = self.git.run("symbolic-ref", "--quiet", "--short", "HEAD", ok=(0, 1)).decode().strip()
        default = self.default_branch if self.default_branch in out else (head if head in out else None)
        self.default_branch = default
        # The default branch first: a PR merged there is the one GitHub links issues for.
        others = sorted(b for b in out if b != default
                        and any(fnmatch.fnmatchcase(b, pat) for pat in self.cfg.history_branches))
        return ([default] if default else []) + others

    def _history(self, branches: list[str]) -> dict[int, tuple[HistoryPR, str]]:
        found: dict[int, tuple[HistoryPR, str]] = {}
        for b in branches:
            for c in parse_log(self.git.run("log", "--first-parent", "-z", LOG_FORMAT, f"refs/heads/{b}", "--")):
                pr = pr_from_commit(c)
                if pr and pr.number not in found:
                    found[pr.number] = (pr, b)
        return found

    def _objects(self, shas: set[str]) -> dict[str, tuple[str, int]]:
        """Type and size of each object that exists (one ``cat-file --batch-check``)."""
        if not shas:
            return {}
        out = self.git.run("cat-file", "--batch-check", input="\n".join(sorted(shas)).encode() + b"\n")
        found = {}
        for line in out.decode().splitlines():
            parts = line.split()
            if len(parts) == 3:
                found[parts[0]] = (parts[1], int(parts[2]))
        return found

    def _commit_info(self, commits: set[str]) -> dict[str, CommitRecord]:
        if not commits:
            return {}
        out = self.git.run("log", "--no-walk=unsorted", "--stdin", "-z", COMMIT_FORMAT,
                           input="\n".join(sorted(commits)).encode() + b"\n")
        return {c.sha: c for c in parse_commits(out)}

    def _merge_base(self, a: str, b: str) -> str | None:
        out = self.git.run("merge-base", a, b, ok=(0, 1)).decode().strip()
        return out or None

    def targets(self) -> list[Target]:
        """Merged PRs with their diff endpoints: from the pulls table, else from history."""
        api = self.root.read_latest("pulls", self.repo).to_pylist()
        api = [p for p in api if p["merged"] and p["source"] != "git"]
        branches = self._branches()
        history = self._history(branches) if (self.cfg.from_history or api) else {}
        api_numbers = {p["number"] for p in api}
        shas = {s for p in api for s in (p["base_sha"], p["head_sha"], p["merge_commit_sha"]) if s}
        objects = self._objects(shas)
        merges = {p["merge_commit_sha"] for p in api if objects.get(p["merge_commit_sha"] or "", ("",))[0] == "commit"}
        info = self._commit_info(merges)
        parents = {sha: list(c.parents) for sha, c in info.items()}
        # The API's commits of each PR: a rebase merge put that many commits on the base branch.
        api_commits = self.root.read_latest("pull_commits", self.repo).to_pylist()
        last_message: dict[int, tuple[int, str]] = {}
        for c in api_commits:
            if c["source"] == "api":
                k, _ = last_message.get(c["number"], (-1, ""))
                if (c["position"] or 0) >= k:
                    last_message[c["number"]] = ((c["position"] or 0), c["message"] or "")
        self._api_commit_numbers = {c["number"] for c in api_commits if c["source"] == "api"}
        self._api_commit_shas: dict[int, list[str]] = {}
        for c in sorted(api_commits, key=lambda c: (c["position"] is None, c["position"])):
            self._api_commit_shas.setdefault(c["number"], []).append(c["sha"])
        rebased: dict[int, str] = {}  # number -> "<merge commit>~<n>"
        # (number, start, head, api row or None, history) -> the diff base is merge-base(start, head)
        plans: list[tuple[int, str | None, str, bool, tuple[HistoryPR, str] | None, str | None]] = []
        fixed: dict[int, str] = {}  # squash / rebase merges: the base is the merge commit's parent
        for p in sorted(api, key=lambda r: r["number"]):
            n, m = p["number"], p["merge_commit_sha"]
            has = {s for s in (p["base_sha"], p["head_sha"], m) if s and objects.get(s, ("",))[0] == "commit"}
            hist = history.get(n)
            ps = parents.get(m, []) if m in has else []
            if p["head_sha"] in has:
                head = p["head_sha"]
            elif len(ps) == 2:  # merge commit: the PR head is its second parent (branch deleted)
                head = ps[1]
            elif len(ps) == 1:  # squash or rebase merge: the merge commit carries the change
                head = m
            elif hist:
                head = hist[0].head
            else:
                self.result.dropped["pull:commits_missing"] += 1
                continue
            if head == m and len(ps) == 1:
                n_commits = last_message.get(n, (0, ""))[0] + 1
                if n_commits > 1 and info[m].message.strip() == last_message[n][1].strip():
                    # Rebase merge: the PR's commits were replayed on the base, the last one is
                    # the merge commit (a squash commit has its own message).
                    rebased[n] = f"{m}~{n_commits}"
                else:
                    fixed[n] = ps[0]
                start = None
            else:
                start = p["base_sha"] if p["base_sha"] in has else (ps[0] if ps else (hist[0].base if hist else None))
            plans.append((n, start, head, True, None, p["base_ref"]))
        if self.cfg.from_history:
            for n, (h, branch) in sorted(history.items()):
                if n in api_numbers:
                    continue
                if h.style == "squash":
                    fixed[n] = h.base
                plans.append((n, None if h.style == "squash" else h.base, h.head, False, (h, branch), branch))
        if rebased:
            revs = sorted(rebased)
            out = self.git.run("rev-parse", *[rebased[n] for n in revs], ok=(0, 128)).decode().split()
            fixed.update({n: sha for n, sha in zip(revs, out, strict=False) if HEX40.match(sha)})
        bases = self._merge_bases([(n, start, head) for n, start, head, *_ in plans
                                   if n not in fixed and n not in rebased])
        out: list[Target] = []
        for n, start, head, is_api, hist_pr, branch in sorted(plans, key=lambda x: x[0]):
            base = fixed.get(n) or bases.get(n)
            if not base:
                self.result.dropped["pull:base_missing"] += 1
                continue
            out.append(Target(n, base, head, api=is_api, history=hist_pr[0] if hist_pr else None,
                              branch=branch, start=start))
        return out

    def _merge_bases(self, pairs: list[tuple[int, str | None, str]]) -> dict[int, str | None]:
        """merge-base(start, head) per PR: reused from the cursor when both ends are unchanged, else
        one ``git merge-base`` each, a few in parallel (git has no batch mode for it)."""
        out: dict[int, str | None] = {}
        todo = []
        for n, start, head in pairs:
            prev = self.done.get(str(n))
            if start is None:
                out[n] = None
            elif prev and len(prev) == 3 and prev[1:] == [head, start]:
                out[n] = prev[0]
            else:
                todo.append((n, start, head))
        with ThreadPoolExecutor(max_workers=4) as pool:
            for n, base in zip([t[0] for t in todo],
                               pool.map(lambda t: self._merge_base(t[1], t[2]), todo), strict=True):
                out[n] = base
        return out

    # -- reading -------------------------------------------------------------------------------
    def _raw(self, batch: list[Target]) -> list[Diff]:
        """Raw records and line counts of each target's diff, in batch order (one git process)."""
        out = self.git.run(*self._diff_args(batch), "--raw", "--numstat", "-z", input=self._pairs(batch))
        by_head = {d.head: d for d in parse_raw_numstat(out)}
        return [by_head.get(t.head) or Diff(head=t.head) for t in batch]

    def _patches(self, batch: list[Target]) -> list[list[str | None]]:
        out = self.git.run(*self._diff_args(batch), "-p", input=self._pairs(batch))
        by_head = dict(split_patches(out))
        return [by_head.get(t.head, []) for t in batch]

    @staticmethod
    def _diff_args(batch: list[Target]) -> list[str]:
        return ["diff-tree", "--stdin", "-r", "-M", "--no-color", "--no-ext-diff", "--no-textconv"]

    @staticmethod
    def _pairs(batch: list[Target]) -> bytes:
        # git prints nothing, not even the commit id, for an empty diff, so results are matched
        # to targets by head id; _batches keeps heads unique inside a batch.
        return "".join(f"{t.head} {t.base}\n" for t in batch).encode()

    def _blobs(self, shas: list[str], sizes: dict[str, int]) -> None:
        known = self._stored_blobs
        want = sorted({s for s in shas if s not in known})
        if not want:
            return
        out = self.git.run("cat-file", "--batch", input="\n".join(want).encode() + b"\n")
        for sha, typ, data in iter_cat_file(out):
            if typ != "blob" or data is None:
                self.result.dropped["blobs:missing"] += 1
                continue
            binary = b"\0" in data[:8000]
            self._emit("blobs", {"blob_sha": sha, "content": None if binary else data, "size": len(data),
                                 "is_binary": binary, "repo": self.repo}, weight=1 + len(data) // 2000)
            known.add(sha)
            self.result.stats["blobs"] += 1
            self._flush()

    def _trees(self, bases: list[str]) -> None:
        """File lists at each new base commit. Tree objects are read level by level through one
        ``cat-file --batch`` per level, and a subtree shared by many bases (consecutive bases differ
        in a few directories) is read and flattened once; the caches are bounded."""
        want = sorted({b for b in bases if b not in self._stored_trees})
        if not want:
            return
        roots = self.git.run("rev-parse", *[f"{b}^{{tree}}" for b in want]).decode().split()
        entries, flat = self._tree_entries, self._tree_flat
        pending = {r for r in roots if r not in entries}
        while pending:
            out = self.git.run("cat-file", "--batch", input="\n".join(sorted(pending)).encode() + b"\n")
            pending = set()
            for sha, typ, data in iter_cat_file(out):
                if typ != "tree" or data is None:
                    raise GitError("tree_missing", sha)
                entries[sha] = parse_tree_object(data)
                pending |= {e[2] for e in entries[sha] if e[0] == "40000" and e[2] not in entries}

        def paths(tree: str, prefix: str) -> list[str]:
            # Keyed by (tree, prefix): an unchanged directory's full paths are the same string
            # objects in every commit's list, so a new commit costs only its changed directories.
            key = (tree, prefix)
            if key not in flat:
                out: list[str] = []
                for mode, name, sha in entries[tree]:
                    if mode == "40000":
                        out += paths(sha, f"{prefix}{name}/")
                    elif mode != "160000":  # files and symlinks; submodules are not files
                        out.append(prefix + name)
                flat[key] = out
                self._flat_size += len(out)
            return flat[key]

        for commit, tree in zip(want, roots, strict=True):
            # git's entry order flattens to full paths sorted by bytes, as ls-tree -r prints them.
            all_paths = paths(tree, "")
            if len(all_paths) > self.cfg.max_tree_paths:
                self.result.dropped["trees:too_many_paths"] += 1
                all_paths = all_paths[: self.cfg.max_tree_paths]
            self._emit("trees", {"repo": self.repo, "commit": commit, "tree_sha": tree, "paths": all_paths,
                                 "n_paths": len(all_paths)}, weight=1 + len(all_paths) // 20)
            self._stored_trees.add(commit)
            self._flush()
            if (tree, "") in flat:  # a root is rarely shared: keep only subtrees
                self._flat_size -= len(flat.pop((tree, "")))
        if self._flat_size > 4_000_000:  # memory bound: drop the caches, not correctness
            entries.clear()
            flat.clear()
            self._flat_size = 0

    def _commits(self, targets: list[Target]) -> dict[int, list[CommitRecord]]:
        """Each PR's commits, oldest first. Most PRs are a straight line of commits from base to
        head: those are walked for the whole batch at once, one ``git log --no-walk --stdin`` per
        step back; a PR with a merge inside falls back to its own ``git log base..head``."""
        chains: dict[int, list[CommitRecord]] = {t.number: [] for t in targets}
        frontier = {t.number: t.head for t in targets if t.head != t.base}
        by_number = {t.number: t for t in targets}
        fallback: set[int] = set()
        for _ in range(64):
            if not frontier:
                break
            out = self.git.run("log", "--no-walk=unsorted", "--stdin", "-z", COMMIT_FORMAT,
                               input="\n".join(sorted(set(frontier.values()))).encode() + b"\n")
            recs = {r.sha: r for r in parse_commits(out)}
            nxt = {}
            for n, sha in frontier.items():
                rec = recs[sha]
                chains[n].append(rec)
                if len(rec.parents) != 1:
                    fallback.add(n)
                elif rec.parents[0] != by_number[n].base:
                    nxt[n] = rec.parents[0]
            frontier = nxt
        fallback |= set(frontier)
        for n in fallback:
            t = by_number[n]
            chains[n] = parse_commits(self.git.run("log", "-z", "--topo-order", COMMIT_FORMAT,
                                                   f"{t.base}..{t.head}", "--"))
        return {n: chain[::-1] for n, chain in chains.items()}

    def _commit_rows(self, t: Target, chain: list[CommitRecord]) -> None:
        rid = record_id(self.repo, t.number)
        for pos, c in enumerate(chain):
            self._emit("pull_commits", {
                "record_id": rid, "repo": self.repo, "number": t.number, "sha": c.sha, "position": pos,
                "message": c.message, "author_name": c.author_name, "author_email": c.author_email,
                "author_login": None, "authored_at": ts(c.authored_at), "committer_name": c.committer_name,
                "committer_email": c.committer_email, "committed_at": ts(c.committed_at),
            })

    def _commit_diffs(self, known: dict[str, CommitRecord], more: list[str]) -> None:
        """Each new commit's own change against its parent (``commit_diffs``), so commit packs can
        pair every message with its diff: one ``diff-tree --stdin`` per batch, like PR diffs.
        ``known``: commits already read; ``more``: SHAs from the API, read if the clone has them."""
        cfg = self.cfg
        want = {s for s in more if s not in known}
        if want:
            found = {s for s, (typ, _) in self._objects(want).items() if typ == "commit"}
            known = {**known, **self._commit_info(found)}
            self.result.dropped["commit_diffs:not_in_clone"] += len(want - found)
        todo = [c for sha, c in sorted(known.items()) if sha not in self._stored_commits]
        for c in todo:
            if len(c.parents) != 1:  # a merge (or root) commit's diff is not one author's change
                self._emit("commit_diffs", {"repo": self.repo, "sha": c.sha, "parents": list(c.parents),
                                            "files": None, "n_files": None})
                self._stored_commits.add(c.sha)
        single = [c for c in todo if len(c.parents) == 1]
        for start in range(0, len(single), cfg.batch_prs):
            batch = [Target(number=0, base=c.parents[0], head=c.sha, api=False) for c in single[start:start + cfg.batch_prs]]
            raws, patches = self._raw(batch), self._patches(batch)
            blob_ids = {b for d in raws for f in d.files for b in (f.base_blob, f.head_blob) if b}
            sizes = {s: size for s, (_, size) in self._objects(blob_ids).items()}
            for t, d, secs in zip(batch, raws, patches, strict=True):
                if len(secs) != len(d.files):
                    raise GitError("diff_mismatch", f"commit {t.head}: {len(secs)} patch sections for {len(d.files)} files")
                files = []
                for f, patch in zip(d.files, secs, strict=True):
                    skip = file_skip_reason(f, vendored=cfg.vendored, generated=cfg.generated, lockfiles=cfg.lockfiles,
                                            max_blob_bytes=cfg.max_blob_bytes, sizes=sizes)
                    files.append({"path": f.path, "previous_path": f.previous_path, "status": f.status,
                                  "additions": f.additions, "deletions": f.deletions,
                                  "patch": None if skip else patch, "is_binary": f.is_binary, "skip_reason": skip})
                self._emit("commit_diffs", {"repo": self.repo, "sha": t.head, "parents": [t.base], "files": files,
                                            "n_files": len(files)}, weight=1 + sum(len(x["patch"] or "") for x in files) // 2000)
                self._stored_commits.add(t.head)
                self.result.stats["commit_diffs"] += 1
            self._flush()

    def _pull_row(self, t: Target, messages: list[str]) -> None:
        h = t.history
        assert h is not None
        body = "\n\n".join(m for m in messages if m.strip()) or None
        base_is_default = t.branch == self.default_branch
        links = find_links([h.title, body], self.repo, t.number, base_is_default)
        head_ref = h.head_label.split("/", 1)[1] if h.head_label and "/" in h.head_label else None
        merged_at = ts(h.merged_at)
        self._emit("pulls", {
            "id": record_id(self.repo, t.number), "repo": self.repo, "number": t.number, "title": h.title,
            "body": body, "state": "closed", "draft": False, "merged": True, "merged_at": merged_at,
            "merge_commit_sha": h.commit, "base_ref": t.branch, "base_sha": t.base, "head_ref": head_ref,
            "head_sha": t.head, "head_repo": None, "base_is_default": base_is_default, "author": None,
            "author_type": None, "author_association": None, "labels": [], "created_at": None,
            # No updated_at: any API row of this PR is newer, whenever it was crawled.
            "updated_at": None, "closed_at": merged_at, "linked_issues": list(links.closes),
            "mentioned_issues": list(links.mentions), "partial": True,
        })

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> GitResult:
        res = self.result
        targets = self.targets()
        pending = [t for t in targets if (self.done.get(str(t.number)) or [])[:2] != [t.base, t.head]]
        res.stats["prs_found"] = len(targets)
        res.stats["prs_unchanged"] = len(targets) - len(pending)
        self.progress("git", len(pending))
        if pending:
            self._stored_blobs = self._stored("blobs", "blob_sha")
            self._stored_trees = self._stored("trees", "commit")
            self._stored_commits = self._stored("commit_diffs", "sha")
            for batch in self._batches(pending):
                self._do_batch(batch, self._api_commit_numbers)
                self._flush()
            self._flush(force=True)
        res.state = {"prs": dict(sorted(self.done.items(), key=lambda kv: int(kv[0]))),
                     "default_branch": self.default_branch}
        return res

    def _stored(self, table: str, column: str) -> set[str]:
        """Values of ``column`` this repository already has in ``table`` (the blob SHAs, the tree
        commits): only that column is read, never contents or path lists."""
        files = self.root.table_files(table)
        if not files:
            return set()
        paths = ", ".join("'" + self.root.uri(f).replace("'", "''") + "'" for f in files)
        with self.root.connect() as con:
            t = con.sql(f"SELECT DISTINCT {column} FROM read_parquet([{paths}], union_by_name=true) "
                        f"WHERE repo = '{self.repo.replace(chr(39), chr(39) * 2)}'").to_arrow_table()
        return set(t.column(0).to_pylist())

    def _batches(self, targets: list[Target]) -> list[list[Target]]:
        batches: list[tuple[list[Target], set[str]]] = []
        for t in targets:
            for b, heads in batches:
                if t.head not in heads and len(b) < self.cfg.batch_prs:
                    b.append(t)
                    heads.add(t.head)
                    break
            else:
                batches.append(([t], {t.head}))
        return [b for b, _ in batches]

    def _is_bot(self, chain: list[CommitRecord]) -> bool:
        """A PR known only from history is a bot's when its first commit's author is (a squash
        commit is authored by the PR's author): the login in a GitHub noreply address, or the name."""
        if not chain:
            return False
        c = chain[0]
        m = NOREPLY.match(c.author_email)
        extra = self.cfg.extra_bot_logins
        return bool((m and is_bot(m.group(1), extra=extra)) or is_bot(c.author_name, extra=extra))

    def _do_batch(self, batch: list[Target], api_commits: set[int]) -> None:
        cfg, res = self.cfg, self.result
        need = [t for t in batch if not t.api or t.number not in api_commits]
        chains = self._commits(need) if need else {}
        if cfg.drop_bots:
            # The API crawl drops bot PRs; history would bring them back without this.
            bots = {t.number for t in batch if not t.api and self._is_bot(chains[t.number])}
            for t in batch:
                if t.number in bots:
                    res.dropped["pull:bot"] += 1
                    self.done[str(t.number)] = [t.base, t.head, t.start]
            batch = [t for t in batch if t.number not in bots]
        keep: list[tuple[Target, Diff]] = []
        for t, d in zip(batch, self._raw(batch), strict=True):
            reason = pr_skip_reason(d, max_files=cfg.max_files, max_changed_lines=cfg.max_changed_lines)
            if reason:
                res.dropped[f"pull:{reason}"] += 1
                self.done[str(t.number)] = [t.base, t.head, t.start]
            else:
                keep.append((t, d))
        if not keep:
            return
        kb = [t for t, _ in keep]
        patches = self._patches(kb)
        blob_ids = {b for _, d in keep for f in d.files for b in (f.base_blob, f.head_blob) if b}
        sizes = {s: size for s, (_, size) in self._objects(blob_ids).items()}
        want_blobs: list[str] = []
        for (t, d), secs in zip(keep, patches, strict=True):
            if len(secs) != len(d.files):
                raise GitError("diff_mismatch", f"#{t.number}: {len(secs)} patch sections for {len(d.files)} files")
            rid = record_id(self.repo, t.number)
            for f, patch in zip(d.files, secs, strict=True):
                skip = file_skip_reason(f, vendored=cfg.vendored, generated=cfg.generated, lockfiles=cfg.lockfiles,
                                        max_blob_bytes=cfg.max_blob_bytes, sizes=sizes)
                if skip:
                    res.dropped[f"pull_files:{skip}"] += 1
                    patch = None
                else:
                    want_blobs += [b for b in (f.base_blob, f.head_blob if cfg.keep_post_images else None) if b]
                adds, dels = f.additions, f.deletions
                self._emit("pull_files", {
                    "record_id": rid, "repo": self.repo, "number": t.number, "path": f.path, "status": f.status,
                    "previous_path": f.previous_path, "additions": adds, "deletions": dels,
                    "changes": None if adds is None else adds + (dels or 0), "patch": patch,
                    "is_binary": f.is_binary, "is_test": is_test_path(f.path), "base_blob_sha": f.base_blob,
                    "head_blob_sha": f.head_blob, "head_sha": t.head, "base_sha": t.base, "skip_reason": skip,
                })
            res.stats["prs"] += 1
            self.done[str(t.number)] = [t.base, t.head, t.start]
        kept = {t.number for t in kb}
        for t in need:
            if t.number not in kept:
                continue
            self._commit_rows(t, chains[t.number])
            if not t.api:
                self._pull_row(t, [c.message for c in chains[t.number]])
        known = {c.sha: c for n in kept if n in chains for c in chains[n]}
        self._commit_diffs(known, [s for t in kb if t.number not in chains for s in self._api_commit_shas.get(t.number, [])])
        self._blobs(want_blobs, sizes)
        self._trees([t.base for t, _ in keep])
        self.progress("git_done", len(keep))



def clone_url_for(api_url: str, repo: str) -> str:
    """The clone URL an API host implies: api.github.com -> github.com; a GitHub Enterprise (or
    simulator) API at ``https://host[/api/v3]`` -> ``https://host/owner/name.git``."""
    base = api_url.rstrip("/")
    if re.match(r"^https?://api\.github\.com$", base):
        return f"https://github.com/{repo}.git"
    return f"{re.sub(r'/api/v3$', '', base)}/{repo}.git"


def repo_from_source(source: str) -> str:
    """``owner/name`` for a clone source: a URL's last two path segments; for a local path its
    ``origin`` remote when that is a URL, else its last two path components (``.git`` dropped)."""
    src = source.rstrip("/")
    if is_local(src):
        try:
            origin = _run(["git", "-C", src, "config", "--get", "remote.origin.url"], timeout=30, ok=(0, 1))
            if origin.strip() and not is_local(origin.decode().strip()):
                src = origin.decode().strip()
        except (GitError, RetryableError):
            pass
        else:
            src = src.rstrip("/")
    src = re.sub(r"\.git$", "", src.replace(":", "/"))
    parts = [p for p in re.split(r"[/\\]", src) if p]
    return "/".join(parts[-2:]) if len(parts) >= 2 else f"local/{parts[-1] if parts else 'repo'}"


def ingest_repo(root: DataRoot, cfg: GitConfig, repo: str, source: str, crawled_at: datetime, sink: Sink,
                *, default_branch: str | None = None,
                progress: Callable[[str, int], None] | None = None) -> GitResult:
    """Clone or fetch ``source`` and read ``repo``'s merged PRs into ``sink``. Never raises for
    problems of this repository (they come back as the result's status and reason); the caller
    writes ``result.state`` with ``commit_state`` once the sink's rows are durable."""
    dest = os.path.join(clone_dir(root, cfg), repo_slug(repo) + ".git")
    try:
        git = mirror(source, dest, cfg)
        return RepoGitIngest(root, cfg, repo, git, crawled_at, sink, default_branch, progress).run()
    except GitError as exc:
        return GitResult(status="failed", reason=exc.reason, detail=exc.detail)
    except RetryableError as exc:
        return GitResult(status="failed", reason="timeout", detail=str(exc))


def commit_state(root: DataRoot, repo: str, result: GitResult) -> None:
    if result.status == "ok" and result.state is not None:
        root.write_json(f"raw/_state/git/{repo_slug(repo)}.json", result.state)
