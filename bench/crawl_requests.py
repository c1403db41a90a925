"""API requests per 1,000 records on a first crawl, and per repository on an unchanged re-crawl.

Runs the simulator's bench world (realistic distributions: ~45% PRs, ~4 files, ~2.5 commits,
~1.5 reviews, ~2 review comments per PR, ~3 comments per item), crawls it with the project's
crawler, and prints what the simulator counted. Targets (issue 2): <= 20 requests per 1,000
records on a first crawl; <= 3 requests per repository on an unchanged re-crawl.

    python bench/crawl_requests.py [--repos 20] [--items 300] [--faults]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter

# bench/tokenize.py shares the standard library module's name: this folder leaves the import
# path before anything (numpy, inspect, linecache) imports ``tokenize``.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

from ingest.config import CrawlConfig
from ingest.run import crawl
from ingest.simulator import FaultConfig, SimulatorServer, World, WorldSpec

RECORD_TABLES = ("repos", "issues", "pulls", "comments", "pull_files", "pull_commits")


def run(repos: int, items: int, faults: bool, pull_files: str) -> dict[str, float]:
    t0 = time.time()
    world = World.generate(WorldSpec.bench(n_repos=repos, items_per_repo=items))
    gen_s = time.time() - t0
    token = "bench-token"
    fc = FaultConfig(seed=1, error_rate=0.03, secondary_every=25, retry_after_s=0, truncate_rate=0.02) if faults else None
    targets = [r.full_name for r in world.listed_repos()]
    with SimulatorServer(world, tokens=[token], faults=fc) as sim, tempfile.TemporaryDirectory() as data:
        cfg = CrawlConfig(api_url=sim.url, repos=tuple(targets), min_request_interval_s=0, backoff_base_s=0.01,
                          backoff_max_s=0.1, concurrency=4, per_token_concurrency=4, pull_files=pull_files)
        t0 = time.time()
        first = crawl(data, cfg, [token])
        first_s = time.time() - t0
        s1 = sim.stats()
        records = sum(v for k, v in first.records.items() if k in RECORD_TABLES)
        crawled = [o for o in first.outcomes if o.status == "ok"]
        sim.reset_stats()
        sim.set_faults(FaultConfig())
        again = crawl(data, cfg, [token])
        s2 = sim.stats()
        per_repo = Counter(o.status for o in again.outcomes)
        ok_requests = sum(o.requests for o in again.outcomes if o.status == "ok")
        sim.reset_stats()
        report = sim.mutate(seed=7)
        changed = crawl(data, cfg, [token])
        s3 = sim.stats()
    # The first crawl's own counter excludes the one-off /rate_limit token check (free on GitHub).
    out = {
        "world_gen_s": gen_s,
        "repos_listed": len(targets),
        "repos_crawled": len(crawled),
        "records_first": records,
        "requests_first": s1["requests"],
        "requests_per_1k_records": 1000 * s1["requests"] / max(records, 1),
        "first_crawl_s": first_s,
        "faults_first": sum(s1["faults"].values()),
        "recrawl_requests": s2["requests"],
        "recrawl_requests_per_crawled_repo": ok_requests / max(per_repo["ok"], 1),
        "recrawl_requests_per_filtered_repo": (s2["requests"] - ok_requests - 1) / max(per_repo["filtered"], 1),
        "mutation_changed_rows": sum(len(v) for v in report.changed.values()),
        "mutation_recrawl_requests": s3["requests"],
        "mutation_recrawl_records": sum(changed.records.values()),
    }
    print(f"\n== {repos} repos x {items} items, pull_files={pull_files}, faults={'on' if faults else 'off'}")
    print("first crawl requests by endpoint:")
    for k, v in sorted(s1["by_endpoint"].items(), key=lambda kv: -kv[1]):
        print(f"  {v:>7}  {k}")
    for k, v in out.items():
        print(f"  {k:<38} {v:,.2f}" if isinstance(v, float) else f"  {k:<38} {v:,}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repos", type=int, default=20)
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--faults", action="store_true", help="3%% 5xx, a secondary limit every 25 requests, 2%% truncated")
    args = ap.parse_args(argv)
    rows = {mode: run(args.repos, args.items, args.faults, mode) for mode in ("all", "merged", "none")}
    print("\nsummary (target: <= 20 requests / 1,000 records first crawl; <= 3 requests / repo unchanged)")
    print(f"  {'pull_files':<10} {'req/1k records':>15} {'unchanged req/repo':>19} {'first crawl s':>14}")
    for mode, r in rows.items():
        print(f"  {mode:<10} {r['requests_per_1k_records']:>15.1f} {r['recrawl_requests_per_crawled_repo']:>19.2f}"
              f" {r['first_crawl_s']:>14.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
