"""PRs per second from a clone, and the API requests the clone saves.

Builds a real-sized local history with ``git fast-import`` (default: 3,000 files in a Python
package, 5,000 merged PRs, about half merge commits and half squash merges, 1-3 commits and 1-6
files per PR, plus direct commits in between), then runs the git source on it from history alone
(a bare clone, the diff of every PR, its commits, base trees and pre/post images) and prints PRs/s.

The peer is the REST API path the crawler otherwise takes for the same diffs: one
``GET /repos/{o}/{r}/pulls/{n}/files`` page per 100 files of each PR (GitHub's page limit), at
5,000 requests per hour per token. Requests are counted from the very diffs the git source read.
Then the simulator's bench world is crawled twice, API only and API + git, and the requests the
simulator served are compared (same PRs, same run).

    python bench/git_ingest.py [--files 3000] [--prs 5000] [--seed 0]
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

# bench/tokenize.py shares the standard library module's name: this folder leaves the import
# path before anything (numpy, inspect, linecache) imports ``tokenize``.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

from ingest.config import GitConfig
from ingest.run import ingest_git
from ingest.store import DataRoot

WORDS = ("value", "item", "node", "cache", "parse", "render", "token", "index", "buffer", "config", "event",
         "client", "stream", "result", "handler", "record", "schema", "option", "filter", "batch")


def _module(rng: random.Random, n_funcs: int) -> list[str]:
    lines = ['"""Module."""', "", "import os", ""]
    for _ in range(n_funcs):
        a, b = rng.sample(WORDS, 2)
        lines += ["", f"def {a}_{b}_{rng.randint(0, 999)}(x, y=None):",
                  f"    \"\"\"Return the {a} of {b}.\"\"\"",
                  "    if y is None:", f"        y = {rng.randint(0, 99)}",
                  f"    return x + y * {rng.randint(1, 9)}", ""]
    return lines


def build_history(path: str, n_files: int, n_prs: int, seed: int) -> None:
    """A bare repository written by one ``git fast-import`` stream (seconds, not minutes)."""
    rng = random.Random(seed)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", path], check=True)
    files: dict[str, list[str]] = {}
    for i in range(n_files):
        d = f"pkg/sub{i % 40}"
        name = f"tests/test_mod{i}.py" if i % 7 == 0 else f"{d}/mod{i}.py"
        files[name] = _module(rng, rng.randint(3, 12))
    out = io.BytesIO()
    t = 1_600_000_000
    mark = 0

    def data(b: bytes) -> None:
        out.write(b"data %d\n" % len(b) + b + b"\n")

    def commit(ref: str, msg: str, parents: list[str], changes: dict[str, list[str]]) -> str:
        nonlocal mark, t
        mark += 1
        t += 60
        out.write(f"commit {ref}\nmark :{mark}\n".encode())
        out.write(f"author Dev <dev@example.org> {t} +0000\ncommitter Dev <dev@example.org> {t} +0000\n".encode())
        data(msg.encode())
        if parents:
            out.write(f"from {parents[0]}\n".encode())
            for p in parents[1:]:
                out.write(f"merge {p}\n".encode())
        for p, lines in changes.items():
            out.write(f"M 100644 inline {p}\n".encode())
            data(("\n".join(lines) + "\n").encode())
        return f":{mark}"

    main = commit("refs/heads/main", "Initial import\n", [], files)
    paths = sorted(files)

    def edit(p: str) -> list[str]:
        lines = list(files[p])
        for _ in range(rng.randint(1, 4)):
            k = rng.randrange(len(lines))
            lines[k] = lines[k] + f"  # {rng.choice(WORDS)} {rng.randint(0, 9999)}"
        if rng.random() < 0.3:
            lines += _module(rng, 1)[4:]
        return lines

    for n in range(1, n_prs + 1):
        if rng.random() < 0.2:  # a direct push between PRs
            p = rng.choice(paths)
            files[p] = edit(p)
            main = commit("refs/heads/main", f"Tweak {p}\n", [main], {p: files[p]})
        touched = rng.sample(paths, rng.randint(1, 6))
        head = main
        pending: dict[str, list[str]] = {}
        for k in range(rng.randint(1, 3)):
            change = {p: edit(p) for p in touched[k::3] or touched[:1]}
            pending.update(change)
            files.update(change)
            head = commit(f"refs/pull/{n}/head", f"Change {rng.choice(WORDS)} handling\n", [head], change)
        if rng.random() < 0.5:
            main = commit("refs/heads/main", f"Merge pull request #{n} from dev/topic-{n}\n\nImprove {n}\n",
                          [main, head], pending)
        else:
            main = commit("refs/heads/main", f"Improve {rng.choice(WORDS)} ({n}) (#{n})\n", [main], pending)
    subprocess.run(["git", "--git-dir", path, "fast-import", "--quiet"], input=out.getvalue(), check=True)


def simulator_peer(n_repos: int, items: int) -> None:
    """The same PRs through the API and through clones, on the simulator's bench world (whose
    repositories are real git repositories consistent with its API): requests counted by the
    simulator for an API-only crawl versus the crawl with the git source on."""
    from ingest.config import CrawlConfig
    from ingest.run import crawl
    from ingest.simulator import SimulatorServer, World, WorldSpec

    world = World.generate(WorldSpec.bench(n_repos=n_repos, items_per_repo=items))
    repos = tuple(r.full_name for r in world.listed_repos())
    token = "bench-token"
    out = {}
    with SimulatorServer(world, tokens=[token]) as sim:
        cfg = CrawlConfig(api_url=sim.url, repos=repos, min_request_interval_s=0, concurrency=4,
                          per_token_concurrency=4)
        for name, git in (("API only", None), ("API + git", GitConfig())):
            sim.reset_stats()
            with tempfile.TemporaryDirectory() as data:
                t0 = time.perf_counter()
                summary = crawl(data, cfg, [token], git_config=git)
                secs = time.perf_counter() - t0
                files = DataRoot(data).read_latest("pull_files")
                stats = sim.stats()
                out[name] = (stats["requests"], stats["by_endpoint"], secs, files.num_rows,
                             sum(o.git_prs for o in summary.outcomes))
    api, both = out["API only"], out["API + git"]
    files_api = sum(v for k, v in api[1].items() if "files" in k)
    files_both = sum(v for k, v in both[1].items() if "files" in k)
    print(f"\nsimulator bench world ({n_repos} repos x {items} items), same PRs both ways:")
    print(f"  API only : {api[0]:,} API requests ({files_api:,} for PR files), {api[3]:,} pull_files rows, "
          f"{api[2]:.1f}s")
    print(f"  API + git: {both[0]:,} API requests ({files_both:,} for PR files of unmerged PRs), {both[3]:,} "
          f"pull_files rows, {both[4]:,} merged PRs read from clones, {both[2]:.1f}s")
    print(f"  saved: {api[0] - both[0]:,} requests ({100 * (api[0] - both[0]) / api[0]:.0f}% of the crawl)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--prs", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sim-repos", type=int, default=20, help="simulator comparison: repositories (0: skip)")
    ap.add_argument("--sim-items", type=int, default=300)
    ap.add_argument("--build-only", metavar="PATH", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build_only:
        build_history(args.build_only, args.files, args.prs, args.seed)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "bench", "big.git")
        t0 = time.perf_counter()
        # In a child process, so this process's peak RSS is the ingest's alone.
        subprocess.run([sys.executable, __file__, "--build-only", src, "--files", str(args.files),
                        "--prs", str(args.prs), "--seed", str(args.seed)], check=True)
        build_s = time.perf_counter() - t0
        commits = int(subprocess.run(["git", "--git-dir", src, "rev-list", "--count", "--all"], check=True,
                                     capture_output=True, text=True).stdout)
        print(f"history: {args.files} files, {args.prs} merged PRs, {commits} commits (built in {build_s:.1f}s)")
        root = DataRoot(os.path.join(tmp, "data"))
        t0 = time.perf_counter()
        summary = ingest_git(root.url, GitConfig(), [f"bench/big={src}"])
        secs = time.perf_counter() - t0
        o = summary.outcomes[0]
        assert o.status == "ok", o
        files = root.read_latest("pull_files").to_pylist()
        per_pr: dict[int, int] = {}
        for f in files:
            per_pr[f["number"]] = per_pr.get(f["number"], 0) + 1
        # GitHub lists at most 100 files per page (and 3,000 per PR).
        requests = sum(math.ceil(min(n, 3000) / 100) for n in per_pr.values())
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"git source: {o.git_prs} PRs in {secs:.1f}s = {o.git_prs / secs:.0f} PRs/s "
              f"(clone, diffs, commits, base trees, pre/post images); rows {o.records}")
        print(f"peak RSS of the ingest: {rss_mb:.0f} MB")
        api_hours = requests / 5000
        print(f"API peer: {requests} requests to /pulls/N/files for the same {len(per_pr)} PRs "
              f"= {api_hours:.2f} token-hours at 5,000 requests/hour; the clone used 0 API requests")
        print(f"speed-up over one token: {api_hours * 3600 / secs:.0f}x")
    if args.sim_repos:
        simulator_peer(args.sim_repos, args.sim_items)
    return 0


if __name__ == "__main__":
    sys.exit(main())
