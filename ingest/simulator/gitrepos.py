"""The simulator's repositories as real git repositories, and git smart HTTP over them.

Reads a ``World`` (its commits, whose ids the world computed in Python) and writes bare repositories
``<root>/<owner>/<name>.git`` with one ``git fast-import`` per repository; serves them through
``git http-backend`` run as a CGI per request. The one idea: git must agree with the world, so every write
checks the commit ids git computed against the world's and refuses to leave a disagreeing repository.

A repository holds the commits reachable from ``World.git_refs`` (branches, open PRs' head branches,
``refs/pull/N/head`` and ``refs/pull/N/merge``). ``simulator-refs.json`` in each repository records the refs
last written, so writing again after ``World.mutate`` imports only the new commits and moves or deletes
refs; a repository whose record does not match the world is rewritten from scratch.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ingest.simulator.world import Commit, World, git_ident

NULL_SHA = "0" * 40
STATE_FILE = "simulator-refs.json"
IMPORT_REF = "refs/simulator/import"  # fast-import builds commits on it; deleted at the end
REPO_CONFIG = """\
[uploadpack]
\tallowFilter = true
\tallowAnySHA1InWant = true
[gc]
\tauto = 0
"""
# /owner/name.git/<service path>: what git's smart HTTP protocol asks for
GIT_PATH = re.compile(r"^/(?P<owner>[A-Za-z0-9_.-]+)/(?P<name>[A-Za-z0-9_.-]+?)\.git(?P<rest>/[^?]*)$")


class GitWriteError(RuntimeError):
    """git refused the import, or computed commit ids other than the world's."""


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment for git children that ignores the user's and the system's git configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        }
    )
    env.update(extra or {})
    return env


def repo_path(root: str | os.PathLike, full_name: str) -> Path:
    owner, name = full_name.split("/", 1)
    return Path(root) / owner / f"{name}.git"


# ------------------------------------------------------------------------------------------------ write


def write_repos(
    world: World,
    root: str | os.PathLike,
    repos: Iterable[str] | None = None,
    *,
    jobs: int | None = None,
) -> dict[str, Path]:
    """Write (or bring up to date) bare repositories of ``repos`` (default: the listed ones) under ``root``.

    Returns full name -> repository path. Idempotent: an unchanged repository costs no git process. The
    world must not change while this runs (the server holds its world lock).
    """
    names = list(repos) if repos is not None else [r.full_name for r in world.listed_repos()]
    unknown = [n for n in names if n not in world.repos]
    if unknown:
        raise KeyError(f"no such repositories in the world: {unknown}")
    plans = [_plan(world, root, n) for n in names]
    todo = [p for p in plans if p.changed]
    workers = max(1, min(len(todo), jobs or os.cpu_count() or 2))
    if len(todo) == 1:
        _run(todo[0])
    elif todo:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fast-import") as pool:
            list(pool.map(_run, todo))
    return {p.full_name: p.path for p in plans}


@dataclass
class _Plan:
    full_name: str
    path: Path
    default_branch: str
    fresh: bool  # create the repository (after removing whatever is there)
    refs: dict[str, str]  # the refs the repository must end with
    stream: bytes | None  # fast-import input (the missing commits); None: no commit to import
    marks: dict[int, str]  # commit mark -> the world's SHA, checked against git's
    changed: bool = True  # False: the repository is up to date


def _plan(world: World, root: str | os.PathLike, full_name: str) -> _Plan:
    repo = world.repos[full_name]
    path = repo_path(root, full_name)
    refs = world.git_refs(full_name)
    old_refs = _read_state(path)
    fresh = old_refs is None or any(sha not in world.commits for sha in old_refs.values())
    if fresh:
        old_refs = {}
    assert old_refs is not None
    if not fresh and old_refs == refs:
        return _Plan(full_name, path, repo.default_branch, False, refs, None, {}, changed=False)
    have = _ancestors(world, old_refs.values())
    order = _missing_commits(world, refs.values(), have)
    out: list[bytes] = []
    marks: dict[int, str] = {}
    mark_of: dict[str, int] = {}
    blob_marks: dict[bytes, int] = {}
    next_mark = 1
    for commit in order:
        parent_files = world.commits[commit.parents[0]].files if commit.parents else {}
        changes: list[bytes] = []
        for p, data in commit.files.items():
            old = parent_files.get(p)
            if old is data or old == data:
                continue
            mark = blob_marks.get(data)
            if mark is None:
                mark = blob_marks[data] = next_mark
                next_mark += 1
                out.append(b"blob\nmark :%d\ndata %d\n" % (mark, len(data)) + data + b"\n")
            changes.append(b"M 100644 :%d %s\n" % (mark, _quote_path(p)))
        changes.extend(b"D %s\n" % _quote_path(p) for p in parent_files if p not in commit.files)
        mark = next_mark
        next_mark += 1
        marks[mark] = commit.sha
        mark_of[commit.sha] = mark
        message = commit.git_message()
        head = [] if commit.parents else [f"reset {IMPORT_REF}\n".encode()]
        author = git_ident(commit.author_name, commit.author_email, commit.author_date)
        committer = git_ident(commit.committer_name, commit.committer_email, commit.committer_date)
        head.append(f"commit {IMPORT_REF}\nmark :{mark}\nauthor {author}\ncommitter {committer}\n".encode())
        head.append(b"data %d\n" % len(message))
        head.append(message)
        for i, parent in enumerate(commit.parents):
            ref = f":{mark_of[parent]}" if parent in mark_of else parent
            head.append(f"{'from' if i == 0 else 'merge'} {ref}\n".encode())
        out.extend(head)
        out.extend(changes)
        out.append(b"\n")
    stream = b"".join(out) + b"done\n" if order else None
    return _Plan(full_name, path, repo.default_branch, fresh, refs, stream, marks)


def _quote_path(path: str) -> bytes:
    if path.startswith('"') or "\n" in path:
        return json.dumps(path, ensure_ascii=False).encode()  # C-style quoting, as fast-import reads it
    return path.encode()


def _ancestors(world: World, tips: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    stack = [t for t in tips if t in world.commits]
    while stack:
        sha = stack.pop()
        if sha in seen:
            continue
        seen.add(sha)
        stack.extend(world.commits[sha].parents)
    return seen


def _missing_commits(world: World, tips: Iterable[str], have: set[str]) -> list[Commit]:
    """Commits reachable from ``tips`` and not in ``have``, parents before children."""
    order: list[Commit] = []
    done = set(have)
    for tip in tips:
        stack: list[tuple[str, bool]] = [(tip, False)]
        while stack:
            sha, expanded = stack.pop()
            if sha in done:
                continue
            commit = world.commits[sha]
            if expanded:
                done.add(sha)
                order.append(commit)
                continue
            stack.append((sha, True))
            stack.extend((p, False) for p in reversed(commit.parents) if p not in done)
    return order


def _read_state(path: Path) -> dict[str, str] | None:
    try:
        data = json.loads((path / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    refs = data.get("refs") if isinstance(data, dict) else None
    return refs if isinstance(refs, dict) else None


def _run(plan: _Plan) -> None:
    path = plan.path
    env = git_env()
    if plan.fresh:
        if path.exists():
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "init", "--bare", "--quiet", f"--initial-branch={plan.default_branch}", str(path)],
            check=True,
            env=env,
            capture_output=True,
        )
        with open(path / "config", "a") as fh:
            fh.write(REPO_CONFIG)
    else:
        (path / STATE_FILE).unlink(missing_ok=True)  # a failed import must not look up to date
    if plan.stream is not None:
        _import(plan, env)
    _write_refs(path, plan.refs)
    tmp = path / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps({"refs": plan.refs}, sort_keys=True, indent=0))
    os.replace(tmp, path / STATE_FILE)


def _import(plan: _Plan, env: dict[str, str]) -> None:
    """Run fast-import over the plan's stream and check git's commit ids against the world's."""
    fd, marks_file = tempfile.mkstemp(prefix="marks-", dir=plan.path)
    os.close(fd)
    try:
        proc = subprocess.run(
            ["git", "fast-import", "--quiet", "--force", "--done", f"--export-marks={marks_file}"],
            input=plan.stream,
            cwd=plan.path,
            env=env,
            capture_output=True,
        )
        if proc.returncode != 0:
            raise GitWriteError(
                f"git fast-import failed for {plan.full_name}: {proc.stderr.decode()[-2000:]}"
            )
        got = {}
        for line in Path(marks_file).read_text().splitlines():
            mark, sha = line.split()
            got[int(mark[1:])] = sha
    finally:
        os.unlink(marks_file)
    wrong = [(plan.marks[m], got.get(m)) for m in plan.marks if got.get(m) != plan.marks[m]]
    if wrong:
        raise GitWriteError(f"{plan.full_name}: git computed other commit ids than the world: {wrong[:3]}")


def _write_refs(path: Path, refs: dict[str, str]) -> None:
    """All refs in one ``packed-refs`` file (renamed into place, as git does); loose refs are removed.

    One file instead of a ref transaction per ref: a repository has a ref per PR, and writing hundreds of
    loose refs cost more than importing the commits.
    """
    lines = ["# pack-refs with: peeled fully-peeled sorted \n"]
    lines += [f"{sha} {ref}\n" for ref, sha in sorted(refs.items(), key=lambda kv: kv[0].encode())]
    tmp = path / "packed-refs.simulator.tmp"
    tmp.write_text("".join(lines))
    os.replace(tmp, path / "packed-refs")
    for dirpath, _dirs, files in os.walk(path / "refs"):
        for name in files:
            os.unlink(os.path.join(dirpath, name))


# ---------------------------------------------------------------------------------------------- serving


class GitRepoStore:
    """The world's repositories under ``root``, each written on first use and refreshed on ``refresh()``.

    Callers hold the world's lock around ``ensure`` and ``refresh`` (both read the world).
    """

    def __init__(self, world: World, root: str | os.PathLike):
        self.world = world
        self.root = Path(root)
        self.written: set[str] = set()
        self._lock = threading.Lock()

    def resolve(self, owner: str, name: str) -> str | None:
        """The world's full name for a clone URL's owner/name (GitHub matches them case-insensitively)."""
        full = f"{owner}/{name}"
        if full in self.world.repos:
            return full
        lowered = full.lower()
        return next((r for r in self.world.repos if r.lower() == lowered), None)

    def ensure(self, full_name: str) -> Path:
        with self._lock:
            if full_name not in self.written:
                write_repos(self.world, self.root, [full_name])
                self.written.add(full_name)
        return repo_path(self.root, full_name)

    def write(self, repos: Iterable[str] | None = None) -> dict[str, Path]:
        with self._lock:
            paths = write_repos(self.world, self.root, repos)
            self.written.update(paths)
            return paths

    def refresh(self) -> None:
        """Bring every repository written so far up to date with the world."""
        with self._lock:
            if self.written:
                write_repos(self.world, self.root, sorted(self.written))


@dataclass
class CgiResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def http_backend(
    root: str | os.PathLike,
    method: str,
    path_info: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    remote_addr: str = "127.0.0.1",
) -> CgiResponse:
    """One smart-HTTP request answered by ``git http-backend`` (a CGI): ``headers`` are lower-cased."""
    extra = {
        "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "REQUEST_METHOD": method,
        "REMOTE_ADDR": remote_addr,
        "CONTENT_TYPE": headers.get("content-type", ""),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "GATEWAY_INTERFACE": "CGI/1.1",
    }
    if body or method == "POST":
        extra["CONTENT_LENGTH"] = str(len(body))
    if headers.get("content-encoding"):
        extra["HTTP_CONTENT_ENCODING"] = headers["content-encoding"]
    if headers.get("git-protocol"):  # protocol v2; http-backend passes HTTP_GIT_PROTOCOL on as GIT_PROTOCOL
        extra["GIT_PROTOCOL"] = extra["HTTP_GIT_PROTOCOL"] = headers["git-protocol"]
    proc = subprocess.run(
        ["git", "http-backend"], input=body, env=git_env(extra), capture_output=True, check=False
    )
    out = proc.stdout
    crlf, lf = out.find(b"\r\n\r\n"), out.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        head, rest = out[:crlf], out[crlf + 4 :]
    elif lf >= 0:
        head, rest = out[:lf], out[lf + 2 :]
    else:
        message = proc.stderr.decode(errors="replace")[-500:] or "git http-backend gave no CGI headers"
        return CgiResponse(500, [("Content-Type", "text/plain")], message.encode())
    status = 200
    hdrs: list[tuple[str, str]] = []
    for line in head.decode("latin-1").splitlines():
        if ":" not in line:
            continue
        k, v = line.split(":", 1)
        if k.strip().lower() == "status":
            status = int(v.split()[0])
        else:
            hdrs.append((k.strip(), v.strip()))
    return CgiResponse(status, hdrs, rest)
