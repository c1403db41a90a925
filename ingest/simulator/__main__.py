"""``python -m ingest.simulator``: serve a generated GitHub world in the foreground until SIGTERM/SIGINT.

Reads options from argv and tokens from ``SWE_CURATE_SIM_TOKENS`` (comma-separated; unset means any token
and no token are accepted); writes one "listening" line to stdout and, with ``--port-file``, the port to that
file (atomically, so a waiting script never reads a half-written number). Serves the repositories over git
smart HTTP too (``--no-git`` turns that off); ``--git-dir`` writes them as bare repositories into a directory
that outlives the server (served from there unless ``--no-git``), and says so on a second stdout line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from ingest.simulator.server import FaultConfig, SimulatorServer
from ingest.simulator.world import World, WorldSpec

TOKENS_ENV = "SWE_CURATE_SIM_TOKENS"


def build_parser(prog: str = "python -m ingest.simulator", add_help: bool = True) -> argparse.ArgumentParser:
    """The CLI's options; ``add_help=False`` lets another CLI use it as a subcommand parent parser."""
    p = argparse.ArgumentParser(
        prog=prog, description="Serve a deterministic GitHub world on 127.0.0.1.", add_help=add_help
    )
    p.add_argument("--preset", choices=("demo", "small", "bench"), default="demo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repos", type=int, default=20, help="bench: crawlable repositories")
    p.add_argument("--items", type=int, default=300, help="bench: issues + PRs per repository")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--port-file", type=Path, help="write the bound port here")
    p.add_argument("--faults", default=None, help="FaultConfig as JSON, e.g. '{\"error_rate\": 0.05}'")
    p.add_argument("--rate-limit", type=int, default=5000, help="core requests per token per window")
    p.add_argument("--rate-window", type=float, default=3600.0, help="rate-limit window in seconds")
    p.add_argument("--max-page", type=int, default=100, help="deepest page=N answered before 422")
    p.add_argument(
        "--git-dir",
        type=Path,
        help="write the listed repositories as bare git repositories <DIR>/<owner>/<name>.git (kept on exit)",
    )
    p.add_argument(
        "--no-git", dest="git", action="store_false", help="do not serve the repositories over git smart HTTP"
    )
    return p


def _spec(args: argparse.Namespace) -> WorldSpec:
    if args.preset == "bench":
        return WorldSpec.bench(n_repos=args.repos, items_per_repo=args.items, seed=args.seed)
    return WorldSpec.small(seed=args.seed) if args.preset == "small" else WorldSpec.demo(seed=args.seed)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None, prog: str = "python -m ingest.simulator") -> int:
    args = build_parser(prog=prog).parse_args(argv)
    try:
        faults = FaultConfig.from_dict(json.loads(args.faults)) if args.faults else FaultConfig()
    except (ValueError, TypeError) as exc:
        print(f"--faults: {exc}", file=sys.stderr)
        return 2
    raw = os.environ.get(TOKENS_ENV, "")
    tokens = [t.strip() for t in raw.split(",") if t.strip()] or None
    world = World.generate(_spec(args))
    if args.git_dir is not None and not args.git:
        world.write_git(args.git_dir)
    server = SimulatorServer(
        world,
        port=args.port,
        tokens=tokens,
        rate_limit=args.rate_limit,
        rate_window_s=args.rate_window,
        max_page=args.max_page,
        faults=faults,
        git=None if args.git else False,  # None: serve git when a git binary exists
        git_dir=args.git_dir if args.git else None,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    try:
        if args.port_file:
            _write_atomic(args.port_file, f"{server.port}\n")
        print(f"GitHub simulator listening on {server.url}", flush=True)
        if args.git_dir is not None:
            print(f"git repositories written to {args.git_dir}", flush=True)
        while not stop.is_set():
            stop.wait(0.5)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
