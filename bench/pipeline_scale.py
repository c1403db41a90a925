"""The whole pipeline (``swe-curate run``: crawl -> dedup -> decontam -> format -> export -> card) at
100k and 1M simulated records: time per stage, peak RSS, and the scaling ratio.

Raw data comes in through the real ingest path, two sources in one run:
- GH Archive hour files (99% of the records): issues and pull requests (``IssuesEvent``,
  ``PullRequestEvent``; 65% of PRs merged) and ~0.6 comments per record (``IssueCommentEvent``),
  written as ``.json.gz`` hour files of 100k records and ingested by the gharchive source. Text:
  Zipf words over a 20k vocabulary, ~1 KB bodies, 8% near-copies of an earlier record (same or
  other repository), repositories Zipf-distributed with 500 records per repository on average (format
  reads each repository with its own queries, so its cost follows the number of repositories). GH Archive has no diffs, so these PRs reach
  format and are dropped there by reason (the realistic case for archive-only records).
- the built-in GitHub simulator (1% of the records, 400 items per repository): crawled over HTTP
  through the API and cloned over git, so merged PRs have files, commits, trees and blobs and become
  BugFixer / TestWriter / commit-pack sequences, exported and carded.
A 1M-record crawl over HTTP alone is not what is measured: the API path's cost is requests
(``bench/crawl_requests.py``), projected in ``bench/README.md``.

Each size runs ``swe-curate run`` in its own process (fresh data root, embedded Prefect API,
``[run] task_runner`` as given, default processes with 2 workers). Printed per size: records,
seconds per stage (and per crawl source), peak RSS of the largest process and of the whole process
tree (sampled), sequences and tokens released; then the ratio of each stage and the total between
the sizes (target: 1M costs <= 11x 100k; peak RSS <= 4 GB).
    .venv/bin/python bench/pipeline_scale.py [--sizes 100000,1000000] [--cache DIR] [--task-runner processes]
"""

from __future__ import annotations

import os
import sys

# Drop this folder from the import path first (bench/tokenize.py would shadow the standard library).
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import orjson  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VOCAB = 20_000
PER_FILE = 100_000  # records per hour file
RECORDS_PER_REPO = 500  # mean GH Archive records per repository (Zipf: a few big ones, a long tail)
SIM_SHARE = 0.01
SIM_ITEMS_PER_REPO = 400
TOKEN = "sim-scale-bench-token"
STAGES = ("crawl", "dedup", "decontam", "format", "export", "card")


# -- GH Archive hour files -----------------------------------------------------------------------
def _words(seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    out, seen = [], set()
    while len(out) < VOCAB:
        n = int(rng.integers(2, 11))
        w = bytes(letters[rng.integers(0, 26, n)]).decode()
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


class _Text:
    """Zipf-distributed words, drawn in bulk."""

    def __init__(self, seed: int):
        self.words = np.array(_words(seed), dtype=object)
        self.rng = np.random.default_rng(seed + 1)
        ranks = np.arange(1, VOCAB + 1, dtype=np.float64)
        p = 1.0 / ranks ** 1.05
        self.cum = np.cumsum(p / p.sum())
        self.pool = np.zeros(0, dtype=np.int64)

    def take(self, n: int) -> str:
        if len(self.pool) < n:
            self.pool = np.concatenate([self.pool, np.searchsorted(self.cum, self.rng.random(1 << 20))])
        idx, self.pool = self.pool[:n], self.pool[n:]
        return " ".join(self.words[idx])


def _user(login: str, uid: int) -> dict:
    return {"login": login, "id": uid, "type": "User", "site_admin": False,
            "html_url": f"https://github.com/{login}", "url": f"https://api.github.com/users/{login}"}


def _repo(name: str, rid: int) -> dict:
    return {"id": rid, "name": name.split("/")[1], "full_name": name, "private": False, "fork": False,
            "owner": _user(name.split("/")[0], rid), "html_url": f"https://github.com/{name}",
            "url": f"https://api.github.com/repos/{name}", "default_branch": "main", "stargazers_count": 120,
            "language": "Python", "license": {"spdx_id": "MIT", "key": "mit"}, "archived": False}


def generate(path: Path, first: int, n: int, n_records: int, seed: int) -> None:
    """Hour file of records ``first .. first+n`` (of ``n_records``): one IssuesEvent or PullRequestEvent
    per record, ~0.6 IssueCommentEvent per record. Deterministic in (seed, first, n, n_records)."""
    rng = np.random.default_rng([seed, first])
    text = _Text(seed * 1000 + first // PER_FILE)
    n_repos = max(10, n_records // RECORDS_PER_REPO)
    ranks = np.arange(1, n_repos + 1, dtype=np.float64)
    cum = np.cumsum(1.0 / ranks ** 0.9)
    cum /= cum[-1]
    repos = np.searchsorted(cum, rng.random(n))
    kept: list[tuple[str, str]] = []
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    tmp = path.with_suffix(".tmp")
    hour = 15
    with open(tmp, "wb") as fh:
        buf = []
        for k in range(n):
            i = first + k
            r = int(repos[k])
            name = f"org{r % 997}/project-{r}"
            number = i + 1  # unique per repository too (record ids are global)
            at = f"2024-05-15T{hour:02d}:{(k * 60 // n) % 60:02d}:{k % 60:02d}Z"
            login = f"user{int(rng.integers(1, 200_000))}"
            user = _user(login, int(rng.integers(1, 10 ** 8)))
            if kept and rng.random() < 0.08:
                # A near-copy of an earlier record: same text with a few words changed at the end.
                title, body = kept[int(rng.integers(0, len(kept)))]
                body = body + " " + text.take(int(rng.integers(1, 6)))
            else:
                title, body = text.take(int(rng.integers(4, 11))), text.take(int(rng.integers(60, 260)))
                if len(kept) < 5000:
                    kept.append((title, body))
                elif rng.random() < 0.01:
                    kept[int(rng.integers(0, 5000))] = (title, body)
            ev = {"id": str(40_000_000_000 + 2 * i), "actor": {"id": user["id"], "login": login},
                  "repo": {"id": 10_000_000 + r, "name": name, "url": f"https://api.github.com/repos/{name}"},
                  "public": True, "created_at": at}
            is_pr = rng.random() < 0.45
            obj = {"url": f"https://api.github.com/repos/{name}/{'pulls' if is_pr else 'issues'}/{number}",
                   "html_url": f"https://github.com/{name}/{'pull' if is_pr else 'issues'}/{number}",
                   "id": 900_000_000 + i, "number": number, "title": title, "body": body, "user": user,
                   "labels": [], "state": "open", "locked": False, "comments": 0, "created_at": at, "updated_at": at,
                   "closed_at": None, "author_association": "CONTRIBUTOR"}
            if is_pr:
                merged = rng.random() < 0.65
                sha = f"{int(rng.integers(0, 2 ** 62)):040x}"
                obj.update({"state": "closed" if merged else "open", "merged": merged,
                            "merged_at": at if merged else None, "closed_at": at if merged else None,
                            "merge_commit_sha": sha if merged else None, "draft": False,
                            "head": {"ref": "fix", "sha": sha, "repo": _repo(name, 10_000_000 + r)},
                            "base": {"ref": "main", "sha": f"{int(rng.integers(0, 2 ** 62)):040x}",
                                     "repo": _repo(name, 10_000_000 + r)},
                            "commits": 1, "additions": 10, "deletions": 2, "changed_files": 1})
                ev.update({"type": "PullRequestEvent", "payload": {"action": "closed" if merged else "opened",
                                                                   "number": number, "pull_request": obj}})
            else:
                ev.update({"type": "IssuesEvent", "payload": {"action": "opened", "issue": obj}})
            buf.append(orjson.dumps(ev))
            for c in range(int(rng.poisson(0.6))):
                parent = {k: obj[k] for k in ("url", "html_url", "id", "number", "title", "body", "user", "labels",
                                              "state", "locked", "comments", "created_at", "updated_at", "closed_at",
                                              "author_association")}
                if is_pr:
                    parent["pull_request"] = {"url": obj["url"], "html_url": obj["html_url"]}
                cid = 5_000_000_000 + i * 8 + c
                buf.append(orjson.dumps({
                    "id": str(40_000_000_000 + 2 * i + 1), "type": "IssueCommentEvent", "actor": ev["actor"],
                    "repo": ev["repo"], "public": True, "created_at": at,
                    "payload": {"action": "created", "issue": parent, "comment": {
                        "id": cid, "url": f"https://api.github.com/repos/{name}/issues/comments/{cid}",
                        "html_url": f"{obj['html_url']}#issuecomment-{cid}", "user": _user(f"rev{c}", 7 + c),
                        "body": text.take(int(rng.integers(5, 80))), "created_at": at, "updated_at": at,
                        "author_association": "MEMBER"}}}))
            if len(buf) >= 4096:
                fh.write(comp.compress(b"\n".join(buf) + b"\n"))
                buf = []
        if buf:
            fh.write(comp.compress(b"\n".join(buf) + b"\n"))
        fh.write(comp.flush())
    os.replace(tmp, path)


def hour_files(cache: Path, n_records: int, seed: int = 11) -> list[Path]:
    files = []
    for j, first in enumerate(range(0, n_records, PER_FILE)):
        n = min(PER_FILE, n_records - first)
        # GH Archive's names (the source reads the hour from them): one hour per file.
        day, hour = divmod(j, 24)
        path = cache / f"n{n_records}-s{seed}-r{RECORDS_PER_REPO}" / f"2024-05-{15 + day:02d}-{hour}.json.gz"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            generate(path, first, n, n_records, seed)
        files.append(path)
    return files


# -- one size ----------------------------------------------------------------------------------------
def _sample_tree(pid: int, stop: threading.Event, out: dict) -> None:
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    peak = 0
    while not stop.is_set():
        total = 0
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        peak = max(peak, total)
        out["tree_peak"] = peak
        stop.wait(0.25)


def run_size(n: int, work: Path, cache: Path, task_runner: str, workers: int) -> dict:
    from ingest.simulator import SimulatorServer, World, WorldSpec

    n_sim = max(SIM_ITEMS_PER_REPO, int(round(n * SIM_SHARE / SIM_ITEMS_PER_REPO)) * SIM_ITEMS_PER_REPO)
    t0 = time.time()
    files = hour_files(cache, n - n_sim)
    gen_s = time.time() - t0
    t0 = time.time()
    world = World.generate(WorldSpec.bench(n_repos=n_sim // SIM_ITEMS_PER_REPO, items_per_repo=SIM_ITEMS_PER_REPO,
                                           seed=3))
    world_s = time.time() - t0
    data = work / f"data-{n}"
    shutil.rmtree(data, ignore_errors=True)
    repos = [r.full_name for r in world.listed_repos()]
    with SimulatorServer(world, tokens=[TOKEN]) as sim:
        cfg = work / f"pipeline-{n}.toml"
        cfg.write_text("\n".join([
            "[run]", f'task_runner = "{task_runner}"', f"workers = {workers}", 'sources = ["gharchive", "api"]',
            "gharchive = [" + ", ".join(f'"{f}"' for f in files) + "]",
            "[gharchive]", 'repo_selection = "all"',
            "[crawl]", f'api_url = "{sim.url}"', "repos = [" + ", ".join(f'"{r}"' for r in repos) + "]",
            "min_request_interval_s = 0", "concurrency = 4",
            "[decontam]", 'references = ["bundled:swe-bench-verified"]', ""]))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "GITHUB_TOKEN"))}
        env.update(GITHUB_TOKEN=TOKEN, PREFECT_HOME=str(work / "prefect-home"), PYTHONUNBUFFERED="1",
                   PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
                   PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120")
        exe = str(Path(sys.executable).with_name("swe-curate"))
        log = open(work / f"run-{n}.log", "w")
        t0 = time.time()
        proc = subprocess.Popen([exe, "run", "--data", str(data), "--config", str(cfg)], env=env, cwd=work,
                                stdout=log, stderr=subprocess.STDOUT)
        stop, tree = threading.Event(), {}
        sampler = threading.Thread(target=_sample_tree, args=(proc.pid, stop, tree), daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.time() - t0
        stop.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"swe-curate run exited {proc.returncode}; see {work / f'run-{n}.log'}")
    latest = json.loads((data / "runs" / "latest.json").read_text())
    s = json.loads((data / "runs" / latest["run_id"] / "summary.json").read_text())
    st = s["stages"]
    crawl = st["crawl"]
    return {
        "records": st["dedup"]["docs"], "records_gharchive": crawl["gharchive"]["rows"].get("issues", 0),
        "records_simulator": n_sim, "events_read": crawl["gharchive"]["events_read"],
        "api_requests": crawl["api"]["requests"], "generate_s": round(gen_s, 1), "world_s": round(world_s, 1),
        "wall_s": round(wall, 1), "pipeline_s": s["seconds"],
        "stages_s": {k: st[k]["seconds"] for k in STAGES},
        "crawl_sources_s": {"gharchive": crawl["gharchive"]["seconds"], "api+git": crawl["api"]["seconds"]},
        "peak_rss_largest_mb": round(usage.ru_maxrss / 1024), "peak_rss_tree_mb": round(tree.get("tree_peak", 0) / 2 ** 20),
        "sequences": st["format"]["sequences"], "tokens": st["format"]["tokens"],
        "release": s["release"], "status": s["status"], "failures": len(s["failures"]),
        "data_bytes": sum(f.stat().st_size for f in data.rglob("*") if f.is_file()),
        "gharchive_bytes": sum(f.stat().st_size for f in files),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "swe-curate-scale-cache"),
                    help="generated hour files are kept here between runs")
    ap.add_argument("--work", help="work folder (default: a temporary one, removed)")
    ap.add_argument("--task-runner", default="processes", choices=["threads", "processes"])
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    cache = Path(args.cache)
    print(f"{os.cpu_count()} CPUs; task runner {args.task_runner} x {args.workers}; raw data: GH Archive hour files "
          f"through the gharchive source ({100 - 100 * SIM_SHARE:.0f}%) + the simulator crawled over HTTP (API + git, "
          f"{100 * SIM_SHARE:.0f}%)", flush=True)
    results = {}
    try:
        for n in sizes:
            r = run_size(n, work, cache, args.task_runner, args.workers)
            results[n] = r
            print(f"\n== {n:,} records requested: {r['records']:,} issue/PR documents ({r['records_gharchive']:,} issues "
                  f"from GH Archive, {r['records_simulator']:,} simulator items), {r['events_read']:,} events read, "
                  f"{r['api_requests']:,} API requests; status {r['status']}, {r['failures']} failures")
            print(f"   hour files generated in {r['generate_s']}s (cached), simulator world {r['world_s']}s")
            print("   seconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in r["stages_s"].items())
                  + f"; crawl sources: gharchive {r['crawl_sources_s']['gharchive']:.1f}, "
                    f"api+git {r['crawl_sources_s']['api+git']:.1f}")
            print(f"   pipeline {r['pipeline_s']:.1f}s (wall {r['wall_s']:.1f}s incl. Prefect start-up); peak RSS: "
                  f"largest process {r['peak_rss_largest_mb']:,} MB, process tree {r['peak_rss_tree_mb']:,} MB")
            print(f"   sequences {r['sequences']}, tokens {r['tokens']}; release {r['release']['version']} "
                  f"({r['release']['documents']:,} documents, {r['release']['tokens']:,} tokens); data root "
                  f"{r['data_bytes'] / 1e6:,.0f} MB, hour files {r['gharchive_bytes'] / 1e6:,.0f} MB", flush=True)
        if len(sizes) >= 2:
            a, b = results[sizes[0]], results[sizes[-1]]
            scale = b["records"] / a["records"]
            print(f"\n== scaling {sizes[0]:,} -> {sizes[-1]:,} records (x{scale:.2f} documents)")
            for k in STAGES:
                print(f"   {k:9s} {a['stages_s'][k]:8.1f}s -> {b['stages_s'][k]:8.1f}s  x{b['stages_s'][k] / max(a['stages_s'][k], 1e-9):.2f}")
            ratio = b["pipeline_s"] / a["pipeline_s"]
            print(f"   total     {a['pipeline_s']:8.1f}s -> {b['pipeline_s']:8.1f}s  x{ratio:.2f} "
                  f"(target <= 11x: {'met' if ratio <= 11 else 'NOT met'})")
            peak = max(r["peak_rss_tree_mb"] for r in results.values())
            print(f"   peak RSS (process tree) {peak:,} MB (target <= 4,096 MB: {'met' if peak <= 4096 else 'NOT met'})")
        (work / "results.json").write_text(json.dumps(results, indent=1))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
