"""The simulator's repositories as real git repositories: ids, history shape, refs, diffs, smart HTTP.

Every check asks the git CLI about repositories written by ``write_repos`` or cloned over HTTP from a
``SimulatorServer`` on 127.0.0.1 (offline; every server is stopped), and compares the answer with the world
and its API.
"""

from __future__ import annotations

import gzip
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from ingest.simulator import FaultConfig, SimulatorServer, World, WorldSpec
from ingest.simulator.gitrepos import STATE_FILE, git_env, repo_path, write_repos
from ingest.simulator.world import Issue, git_blob_sha

TOKEN = "ghp_simulatorGitTestToken01"
ROOT = Path(__file__).resolve().parents[2]
NULL = "0" * 40


def git(cwd: Path | str, *args: str, input: bytes | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, input=input, capture_output=True, env=git_env(), check=False
    )
    assert proc.returncode == 0, (args, proc.stderr.decode())
    return proc.stdout.decode()


def refs_of(path: Path) -> dict[str, str]:
    out = git(path, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split(" ") for line in out.splitlines())


def pulls(world: World, repos: list[str] | None = None) -> list[Issue]:
    return [it for it in world.items() if it.pull is not None and (repos is None or it.repo in repos)]


@pytest.fixture(scope="module")
def demo_world() -> World:
    return World.generate(WorldSpec.demo())


@pytest.fixture(scope="module")
def demo_repos(demo_world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_repos(demo_world, tmp_path_factory.mktemp("git"))


# ------------------------------------------------------------------------------------------- objects


def test_world_ids_are_gits(demo_world: World, demo_repos: dict[str, Path]) -> None:
    assert set(demo_repos) == {r.full_name for r in demo_world.listed_repos()}
    for name, path in demo_repos.items():
        shas = git(path, "rev-list", "--all").split()
        assert shas and set(shas) <= set(demo_world.commits)
        batch = git(path, "cat-file", "--batch", input="".join(f"{s}\n" for s in shas).encode())
        for sha in shas:
            c = demo_world.commits[sha]
            header = f"{sha} commit {len(c.git_object())}\n"
            assert header in batch
            assert c.git_object().decode() in batch
            assert c.git_message().endswith(b"\n") and not c.message.endswith("\n")
        trees = git(path, "log", "--all", "--format=%H %T").splitlines()
        assert all(demo_world.commits[h].tree_sha == t for h, t in (line.split() for line in trees))
        assert git(path, "config", "uploadpack.allowFilter").strip() == "true"
        assert git(path, "config", "uploadpack.allowAnySHA1InWant").strip() == "true"
        assert (
            git(path, "symbolic-ref", "HEAD").strip() == f"refs/heads/{demo_world.repos[name].default_branch}"
        )
    # deterministic: the same seed gives the same ids
    again = World.generate(WorldSpec.demo())
    assert again.commits.keys() == demo_world.commits.keys()
    assert {n: again.git_refs(n) for n in demo_repos} == {n: demo_world.git_refs(n) for n in demo_repos}


def test_tree_ids_sort_like_git(tmp_path: Path) -> None:
    """Entries sort by name bytes, a subtree as ``name/``: ``a-b``, ``a.b``, ``a/``, ``a0``, ``a_b``."""
    files = {
        "a/b/c.txt": b"x\n",
        "a/b.txt": b"y\n",
        "a.b": b"z",
        "a-b/q": b"",
        "a0": b"\0binary",
        "a_b": "ünïcode\n".encode(),
        "README": b"r\n",
        "a/bc/d": b"1",
        "é/x": b"2",
    }
    for p, data in files.items():
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p).write_bytes(data)
    git(tmp_path, "init", "--quiet", ".")
    git(tmp_path, "add", "--all")
    assert World(WorldSpec.small()).git.tree(files) == git(tmp_path, "write-tree").strip()


def test_history_shape_and_refs(demo_world: World, demo_repos: dict[str, Path]) -> None:
    methods = set()
    for name, path in demo_repos.items():
        repo = demo_world.repos[name]
        refs = refs_of(path)
        assert refs == demo_world.git_refs(name)
        assert refs[f"refs/heads/{repo.default_branch}"] == repo.branch_heads[repo.default_branch]
        if repo.crawlable:
            assert refs["refs/heads/release-1.x"] == repo.branch_heads["release-1.x"]
        roots = git(path, "rev-list", "--max-parents=0", "--all").split()
        assert len(roots) == 1 and demo_world.commits[roots[0]].message == "Initial commit"
        for it in pulls(demo_world, [name]):
            pr = it.pull
            n = it.number
            assert refs[f"refs/pull/{n}/head"] == pr.head_sha
            parents = git(path, "rev-list", "--parents", "-n1", pr.head_sha).split()[1:]
            assert parents == [pr.commits[-2].sha if len(pr.commits) > 1 else pr.base_sha]
            assert git(path, "merge-base", pr.base_sha, pr.head_sha).strip() == pr.base_sha
            branch = f"refs/heads/{pr.head_ref}"
            if it.state == "open" and pr.head_repo == name:
                assert refs[branch] == pr.head_sha
            elif pr.merged or pr.head_repo != name:
                assert refs.get(branch) != pr.head_sha  # deleted after the merge, or only in the fork
            if pr.merged:
                methods.add(pr.merge_method)
                sha = pr.merge_commit_sha
                assert f"refs/pull/{n}/merge" not in refs
                first_parent = git(path, "rev-list", "--first-parent", refs[f"refs/heads/{pr.base_ref}"])
                assert sha in first_parent.split()  # landed on the base branch
                message = git(path, "log", "-1", "--format=%B", sha)
                parents = git(path, "rev-list", "--parents", "-n1", sha).split()[1:]
                assert message == demo_world.commits[sha].message + "\n\n"  # %B adds a newline
                if pr.merge_method == "merge":
                    assert parents[1] == pr.head_sha and len(parents) == 2
                    assert message.startswith(
                        f"Merge pull request #{n} from {pr.head_user}/{pr.head_ref}\n\n"
                    )
                    assert message.split("\n")[2] == it.title
                else:
                    assert len(parents) == 1
                    assert message.split("\n")[0] == f"{it.title} (#{n})"
                # the merged tree is the base branch at merge time with the PR's files at head
                tree = _ls_tree(path, sha)
                for f in pr.files:
                    if f.status == "removed":
                        assert f.filename not in tree
                    else:
                        assert tree[f.filename] == f.sha
                        if f.previous_filename:
                            assert f.previous_filename not in tree
            elif it.state == "open":
                assert refs[f"refs/pull/{n}/merge"] == pr.merge_commit_sha
                parents = git(path, "rev-list", "--parents", "-n1", pr.merge_commit_sha).split()[1:]
                assert parents[1] == pr.head_sha and len(parents) == 2
            else:
                assert pr.merge_commit_sha is None and f"refs/pull/{n}/merge" not in refs
            for r in pr.reviews:
                assert r.commit_id in demo_world.commits
    assert methods == {"merge", "squash"}
    # PRs from forks: refs/pull/N/head in the base repository, no branch there
    fork_prs = [it for it in pulls(demo_world) if it.pull.head_repo not in (None, it.repo)]
    assert fork_prs
    for it in fork_prs:
        refs = refs_of(demo_repos[it.repo])
        assert refs[f"refs/pull/{it.number}/head"] == it.pull.head_sha


def _ls_tree(path: Path, rev: str) -> dict[str, str]:
    out = git(path, "ls-tree", "-r", "-z", rev)
    tree = {}
    for entry in out.split("\0"):
        if entry:
            meta, p = entry.split("\t", 1)
            mode, kind, sha = meta.split()
            assert (mode, kind) == ("100644", "blob")
            tree[p] = sha
    return tree


def test_trees_match_snapshots(demo_world: World, demo_repos: dict[str, Path]) -> None:
    for it in pulls(demo_world, list(demo_repos)):
        path = demo_repos[it.repo]
        pr = it.pull
        assert _ls_tree(path, pr.head_sha) == {p: git_blob_sha(d) for p, d in pr.head_files.items()}
        assert _ls_tree(path, pr.base_sha) == {p: git_blob_sha(d) for p, d in pr.base_files.items()}
    for name, path in demo_repos.items():
        repo = demo_world.repos[name]
        for branch, files in repo.branches.items():
            assert _ls_tree(path, f"refs/heads/{branch}") == {p: git_blob_sha(d) for p, d in files.items()}


def _git_files(path: Path, base: str, head: str) -> dict[str, dict]:
    """path -> status, previous path, line counts and head blob of ``git diff -M base head``."""
    tokens = git(path, "diff", "--raw", "--numstat", "-z", "-M", "--no-abbrev", base, head).split("\0")
    files: dict[str, dict] = {}
    counts: list[tuple[int | None, int | None, str]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith(":"):
            _, _, _, new_sha, status = tok[1:].split(" ")
            if status[0] in "RC":
                old, new = tokens[i + 1], tokens[i + 2]
                i += 3
            else:
                old, new = None, tokens[i + 1]
                i += 2
            files[new] = {
                "status": {"A": "added", "D": "removed", "M": "modified", "R": "renamed"}[status[0]],
                "previous_filename": old,
                "sha": None if status[0] == "D" else new_sha,
            }
        elif tok:
            adds, dels, p = tok.split("\t")
            if not p:
                p = tokens[i + 2]
                i += 2
            counts.append((None if adds == "-" else int(adds), None if dels == "-" else int(dels), p))
            i += 1
        else:
            i += 1
    for adds, dels, p in counts:
        files[p]["additions"], files[p]["deletions"] = adds, dels
    return files


def _git_patches(path: Path, base: str, head: str) -> dict[str, str | None]:
    """path -> the hunks of ``git diff -M base head`` as GitHub's ``patch`` (None: binary or no hunks)."""
    out = git(path, "diff", "-M", "--no-color", "--no-ext-diff", base, head)
    patches: dict[str, str | None] = {}
    for section in re.split(r"^diff --git ", out, flags=re.M)[1:]:
        lines = section.split("\n")
        name = next(
            (ln[6:] for ln in lines if ln.startswith("+++ b/")),
            next((ln[10:] for ln in lines if ln.startswith("rename to ")), None),
        )
        if name is None:  # removed or binary: the b/ side of the header line
            name = lines[0].split(" b/", 1)[1]
        at = section.find("\n@@")
        patches[name] = section[at + 1 :].rstrip("\n") if at >= 0 else None
    return patches


def test_pull_files_agree_with_git_diff(demo_world: World, demo_repos: dict[str, Path]) -> None:
    checked = same_patch = with_patch = 0
    for it in pulls(demo_world, list(demo_repos)):
        path = demo_repos[it.repo]
        pr = it.pull
        want = _git_files(path, pr.base_sha, pr.head_sha)
        assert sorted(want) == [f.filename for f in pr.files], (it.repo, it.number)
        patches = _git_patches(path, pr.base_sha, pr.head_sha)
        for f in pr.files:
            g = want[f.filename]
            assert (f.status, f.previous_filename, f.sha) == (g["status"], g["previous_filename"], g["sha"])
            if f.binary:
                assert (g["additions"], g["deletions"]) == (None, None) and f.patch is None
            else:
                assert (f.additions, f.deletions) == (g["additions"], g["deletions"]), (it.number, f.filename)
            if f.patch is not None:
                with_patch += 1
                same_patch += f.patch == patches[f.filename]
            checked += 1
    assert checked > 150 and with_patch > 100
    assert same_patch / with_patch >= 0.95  # 100% on this world when written; text equality is best effort


# ----------------------------------------------------------------------------------------- API vs git


def test_commit_listings_match_rev_list(demo_world: World, demo_repos: dict[str, Path]) -> None:
    with SimulatorServer(demo_world, tokens=[TOKEN], git=False) as srv, requests.Session() as s:
        s.headers["Authorization"] = f"token {TOKEN}"
        query = """query($o: String!, $n: String!, $num: Int!) { repository(owner: $o, name: $n) {
          pullRequest(number: $num) { commits(first: 100) { nodes { commit { oid message } } } } } }"""
        for it in pulls(demo_world, ["acme/widgets", "acme/gizmo"]):
            path = demo_repos[it.repo]
            pr = it.pull
            listed = git(path, "rev-list", "--reverse", f"{pr.base_sha}..{pr.head_sha}").split()
            rest = s.get(f"{srv.url}/repos/{it.repo}/pulls/{it.number}/commits", params={"per_page": 100})
            assert [c["sha"] for c in rest.json()] == listed
            owner, name = it.repo.split("/")
            data = s.post(
                f"{srv.url}/graphql",
                json={"query": query, "variables": {"o": owner, "n": name, "num": it.number}},
            ).json()
            nodes = data["data"]["repository"]["pullRequest"]["commits"]["nodes"]
            assert [n["commit"]["oid"] for n in nodes] == listed
            for c in rest.json():
                raw = git(path, "cat-file", "commit", c["sha"])
                assert raw.split("\n\n", 1)[1] == c["commit"]["message"] + "\n"  # git's trailing newline
                assert c["commit"]["tree"]["sha"] == git(path, "rev-parse", c["sha"] + "^{tree}").strip()
            detail = s.get(f"{srv.url}/repos/{it.repo}/pulls/{it.number}").json()
            assert detail["head"]["sha"] == pr.head_sha and detail["base"]["sha"] == pr.base_sha
            if detail["merge_commit_sha"]:
                git(path, "cat-file", "-e", detail["merge_commit_sha"])


# ------------------------------------------------------------------------------------------- writing


def test_write_is_incremental_and_idempotent(tmp_path: Path) -> None:
    world = World.generate(WorldSpec.small())
    paths = write_repos(world, tmp_path / "a")
    state = {n: (p / STATE_FILE).stat().st_mtime_ns for n, p in paths.items()}
    write_repos(world, tmp_path / "a")  # nothing changed: nothing rewritten
    assert {n: (p / STATE_FILE).stat().st_mtime_ns for n, p in paths.items()} == state
    before = {n: refs_of(p) for n, p in paths.items()}
    report = world.mutate(seed=7, new_pulls=2, pushed_pulls=2, merged_pulls=2)
    write_repos(world, tmp_path / "a")
    after = {n: refs_of(p) for n, p in paths.items()}
    assert after == {n: world.git_refs(n) for n in paths}
    assert after != before
    for repo, number in report.changed["pulls"]:
        it = world.issue(repo, number)
        assert after[repo][f"refs/pull/{number}/head"] == it.pull.head_sha
        if it.pull.merged:
            assert f"refs/heads/{it.pull.head_ref}" not in after[repo] or it.pull.head_repo != repo
            assert f"refs/pull/{number}/merge" not in after[repo]
    # a fresh write of the mutated world is the same repository
    fresh = write_repos(world, tmp_path / "b")
    assert {n: refs_of(p) for n, p in fresh.items()} == after
    for p in paths.values():
        git(p, "fsck", "--strict", "--no-progress")
    # forks are written on request; a record that does not match the world is rewritten
    fork = next(r.full_name for r in world.repos.values() if not r.listed)
    (fork_path,) = write_repos(world, tmp_path / "a", [fork]).values()
    assert fork_path == repo_path(tmp_path / "a", fork) and refs_of(fork_path) == world.git_refs(fork)
    (paths["acme/widgets"] / STATE_FILE).write_text('{"refs": {"refs/heads/main": "%s"}}' % ("1" * 40))
    write_repos(world, tmp_path / "a", ["acme/widgets"])
    assert refs_of(paths["acme/widgets"]) == world.git_refs("acme/widgets")


# ----------------------------------------------------------------------------------------------- HTTP


def test_clone_and_fetch_over_smart_http(tmp_path: Path) -> None:
    world = World.generate(WorldSpec.small())
    faults = FaultConfig(error_rate=1.0)  # every API request fails; git requests are never faulted
    with SimulatorServer(world, tokens=[TOKEN], anon_rate_limit=1, faults=faults) as srv:
        srv.set_faults(FaultConfig())
        info = requests.get(
            f"{srv.url}/repos/acme/widgets", headers={"Authorization": f"token {TOKEN}"}
        ).json()
        srv.set_faults(faults)
        assert info["clone_url"] == f"{srv.url}/acme/widgets.git"
        assert info["html_url"] == "https://github.com/acme/widgets"
        clone = tmp_path / "widgets.git"
        git(tmp_path, "clone", "--quiet", "--bare", "--filter=blob:none", info["clone_url"], str(clone))
        git(clone, "fetch", "--quiet", "origin", "+refs/pull/*/head:refs/pull/*/head")
        refs = refs_of(clone)
        prs = pulls(world, ["acme/widgets"])
        assert {f"refs/pull/{it.number}/head": it.pull.head_sha for it in prs}.items() <= refs.items()
        assert refs["refs/heads/main"] == world.repos["acme/widgets"].branch_heads["main"]
        git(clone, "rev-list", "--objects", "--missing=allow-promisor", "--all")  # a partial clone
        # protocol v0 and a case-insensitive URL work too
        git(tmp_path, "-c", "protocol.version=0", "ls-remote", f"{srv.url}/ACME/Widgets.git")
        stats = srv.stats()
        assert stats["git"]["requests"] >= 4 and stats["git"]["by_status"] == {
            "200": stats["git"]["requests"]
        }
        assert stats["git"]["by_service"]["POST /git-upload-pack"] >= 2
        assert stats["requests"] == 1 and stats["faults"]["error"] == 0  # only the repo JSON above
        # anonymous, not rate limited: the anonymous core quota of 1 is untouched
        srv.set_faults(FaultConfig())
        assert requests.get(f"{srv.url}/rate_limit").json()["resources"]["core"]["remaining"] == 1
        # after a mutation a fetch sees the new commits and the API's new heads
        report = srv.mutate(
            new_issues=0,
            new_pulls=2,
            edited_issues=0,
            new_comments=0,
            edited_comments=0,
            new_review_comments=0,
            pushed_pulls=3,
            merged_pulls=2,
        )
        changed = [world.issue(*k) for k in report.changed["pulls"]]
        git(
            clone,
            "fetch",
            "--quiet",
            "origin",
            "+refs/pull/*/head:refs/pull/*/head",
            "+refs/heads/*:refs/heads/*",
        )
        refs = refs_of(clone)
        with requests.Session() as s:
            s.headers["Authorization"] = f"token {TOKEN}"
            for it in changed:
                if it.repo != "acme/widgets":
                    continue
                api = s.get(f"{srv.url}/repos/{it.repo}/pulls/{it.number}").json()
                assert refs[f"refs/pull/{it.number}/head"] == api["head"]["sha"] == it.pull.head_sha
                if api["merged"]:
                    assert api["merge_commit_sha"] in git(clone, "rev-list", "refs/heads/main").split()
        assert refs["refs/heads/main"] == world.repos["acme/widgets"].branch_heads["main"]
        # smart HTTP with a gzip-compressed protocol v2 request body
        body = b"0014command=ls-refs\n0001000csymrefs\n0000"
        r = requests.post(
            f"{srv.url}/acme/gizmo.git/git-upload-pack",
            data=gzip.compress(body),
            headers={
                "Content-Type": "application/x-git-upload-pack-request",
                "Content-Encoding": "gzip",
                "Git-Protocol": "version=2",
            },
        )
        assert r.status_code == 200 and b"refs/heads/master" in r.content
        # a generator body goes out with Transfer-Encoding: chunked, as git sends large fetch requests
        chunked = requests.post(
            f"{srv.url}/acme/gizmo.git/git-upload-pack",
            data=iter([body[:7], body[7:]]),
            headers={"Content-Type": "application/x-git-upload-pack-request", "Git-Protocol": "version=2"},
        )
        assert chunked.status_code == 200 and chunked.content == r.content
        assert (
            requests.get(f"{srv.url}/nobody/nothing.git/info/refs?service=git-upload-pack").status_code == 404
        )
        root = srv.git_store.root
        assert (root / "acme" / "gizmo.git").is_dir()
    assert not root.exists()  # the server's own directory goes with it


def test_git_off_keeps_github_clone_url() -> None:
    with SimulatorServer(World.generate(WorldSpec.small()), git=False) as srv:
        assert requests.get(f"{srv.url}/repos/acme/widgets").json()["clone_url"] == (
            "https://github.com/acme/widgets.git"
        )
        assert (
            requests.get(f"{srv.url}/acme/widgets.git/info/refs?service=git-upload-pack").status_code == 404
        )


def test_cli_git_dir(tmp_path: Path) -> None:
    port_file, git_dir = tmp_path / "port", tmp_path / "repos"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ingest.simulator",
            "--preset",
            "small",
            "--port-file",
            str(port_file),
            "--git-dir",
            str(git_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    try:
        assert proc.stdout.readline().startswith("GitHub simulator listening on http://127.0.0.1:")
        assert proc.stdout.readline().strip() == f"git repositories written to {git_dir}"
        port = int(port_file.read_text())
        assert (git_dir / "acme" / "widgets.git" / STATE_FILE).is_file()
        out = git(tmp_path, "ls-remote", f"http://127.0.0.1:{port}/acme/widgets.git")
        assert "refs/pull/" in out and "refs/heads/main" in out
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    state = git_dir / "acme" / "widgets.git" / STATE_FILE
    stamp = state.stat().st_mtime_ns  # kept after exit, and up to date for the same world
    write_repos(World.generate(WorldSpec.small()), git_dir)
    assert state.stat().st_mtime_ns == stamp
