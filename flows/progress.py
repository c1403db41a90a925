"""Terminal progress and summaries of the CLI (rich on stderr).

Reads: crawl events and the data root's tables. Writes: the terminal only. The one idea: a bar
for the crawl, a line per repository in flight, and a summary a data engineer can paste in a
ticket (records per table, drops by reason, requests, time waiting on limits).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingest.schema import TABLES
from ingest.store import DataRoot


class CrawlProgress:
    """Progress callback for ``ingest.run``: one overall bar, one line per repository in flight."""

    def __init__(self, console: Console, total: int):
        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=True)
        self.overall = self.progress.add_task("repositories", total=total)
        self.repos: dict[str, Any] = {}
        self.lock = threading.Lock()

    def __enter__(self) -> CrawlProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: str, repo: str, info: dict[str, Any]) -> None:
        with self.lock:
            if event == "start":
                self.repos[repo] = self.progress.add_task(f"  {repo}", total=None)
            elif event == "phase" and repo in self.repos:
                self.progress.update(self.repos[repo], description=f"  {repo} · {info['phase']} {info['n']}")
            elif event == "done":
                o = info["outcome"]
                tid = self.repos.pop(repo, None)
                if tid is not None:
                    self.progress.remove_task(tid)
                self.progress.advance(self.overall)
                recs = sum(o.records.values())
                why = f" ({o.reason})" if o.reason else ""
                git = f", git {o.git}" + (f" ({o.git_prs} PRs read)" if o.git_prs else "") if o.git else ""
                self.console.print(f"{o.status:>8} {o.repo}{why}: {recs} records, {o.requests} requests"
                                   + (f", waited {o.wait_s:.1f}s" if o.wait_s else "") + git)


def print_summary(result: dict[str, Any], console: Console) -> None:
    repos = result["repos"]
    status = Counter(r["status"] for r in repos)
    reasons = Counter(f"{r['status']}:{r['reason']}" for r in repos if r["reason"])
    records = result["records"]
    n_records = sum(records.values())
    console.print(f"crawl {result['crawl_id']} -> {result['data_root']}/raw")
    git = Counter(r["git"].split(":")[0] for r in repos if r.get("git"))
    if git:
        console.print("git source: " + ", ".join(f"{n} {s}" for s, n in sorted(git.items()))
                      + f"; {sum(r.get('git_prs', 0) for r in repos)} PRs read from clones")
    console.print("repositories: " + ", ".join(f"{n} {s}" for s, n in sorted(status.items()))
                  + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) + ")" if reasons else ""))
    console.print("records: " + (", ".join(f"{k} {v}" for k, v in records.items()) or "none new"))
    if result["dropped"]:
        console.print("dropped: " + ", ".join(f"{k} {v}" for k, v in result["dropped"].items()))
    per_k = f" ({1000 * result['requests'] / n_records:.1f} per 1,000 records)" if n_records else ""
    if result["requests"] or not git:
        console.print(f"requests: {result['requests']}{per_k}; {result['wait_s']:.1f} worker-seconds waiting on "
                  f"rate limits and retries; {result['seconds']:.1f}s wall time")
    else:
        console.print(f"no API requests; {result['seconds']:.1f}s wall time")
    for r in repos:
        if r["status"] == "failed":
            console.print(f"[red]failed[/red] {r['repo']}: {r['reason']} {r['detail'] or ''}")


def print_tables(data: str, console: Console) -> None:
    """Where the Parquet landed and the current rows per table (latest version per key)."""
    root = DataRoot(data)
    t = Table(title=f"raw tables in {root.url}/raw (latest row per key)")
    t.add_column("table")
    t.add_column("rows", justify="right")
    t.add_column("files", justify="right")
    for name in TABLES:
        files = root.table_files(name)
        t.add_row(name, str(root.read_latest(name).num_rows), str(len(files)))
    console.print(t)


class GhArchiveProgress:
    """Progress callback for ``ingest_gharchive``: one bar over hour files, a line per file."""

    def __init__(self, console: Console, total: int):
        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=True)
        self.overall = self.progress.add_task("hour files", total=total)
        self.lock = threading.Lock()

    def __enter__(self) -> GhArchiveProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: str, name: str, info: dict[str, Any]) -> None:
        with self.lock:
            if event == "progress":
                self.progress.update(self.overall, description=f"hour files · {name} {info['events']:,} events")
            elif event in ("done", "skipped", "missing"):
                self.progress.advance(self.overall)
                o = info.get("outcome")
                if o is not None:
                    why = f" ({o.reason})" if o.reason else ""
                    self.console.print(f"{o.status:>8} {name}{why}: {o.events:,} events, {o.matched:,} matched, "
                                       f"{sum(o.rows.values()):,} rows")
                else:
                    self.console.print(f"{event:>8} {name}")


def print_gharchive_summary(result: dict[str, Any], console: Console) -> None:
    files = result["files"]
    console.print(f"gharchive {result['crawl_id']} -> {result['data_root']}/raw")
    console.print("hour files: " + ", ".join(f"{n} {s}" for s, n in files.items() if n))
    rate = result["events_read"] / result["seconds"] if result["seconds"] else 0
    console.print(f"events: {result['events_read']:,} read, {result['events_matched']:,} matched "
                  f"({rate:,.0f} events/s)")
    console.print("records: " + (", ".join(f"{k} {v}" for k, v in result["rows"].items()) or "none new"))
    if result["dropped"]:
        console.print("dropped: " + ", ".join(f"{k} {v}" for k, v in result["dropped"].items()))
    for f in result["per_file"]:
        if f["status"] == "failed":
            console.print(f"[red]failed[/red] {f['name']}: {f['reason']} {f['detail'] or ''}")


def print_dedup_summary(result: dict[str, Any], data_root: str, console: Console) -> None:
    """Counts by kind and outcome (kept, dropped as exact or near duplicates) and what the run did."""
    console.print(f"dedup run {result['run']} -> {data_root}/dedup/flags/flags.parquet"
                  + (" (index rebuilt: settings changed)" if result["rebuilt"] and result["run"] > 1 else ""))
    console.print(f"records hashed: {result['records_hashed']:,} in {result['partitions']} partitions; "
                  f"LSH {result['bands'][0]} bands x {result['bands'][1]} rows; {result['buckets_recomputed']:,} "
                  f"buckets recomputed; {result['candidate_pairs']:,} candidate pairs verified")
    t = Table(title=f"dedup flags ({result['docs']:,} documents, {result['clusters']:,} clusters)")
    t.add_column("kind")
    for col in ("kept", "dropped: exact", "dropped: near"):
        t.add_column(col, justify="right")
    counts = result["counts"]
    for kind in sorted({k.split(":")[0] for k in counts}):
        t.add_row(kind, *(str(counts.get(f"{kind}:{o}", 0)) for o in ("kept", "exact", "near")))
    console.print(t)


def print_decontam_summary(result: dict[str, Any], data_root: str, console: Console) -> None:
    """References with their hashes, what was scanned, and the removed records by kind and layer."""
    console.print(f"decontam -> {data_root}/decontam/flags/flags.parquet, audit in {data_root}/decontam/audit/")
    for r in result["references"]:
        console.print(f"reference {r['name']}: {r['instances']} instances, sha256 {r['content_sha256'][:16]}... "
                      f"({r['source']}); {result['instances_found'].get(r['name'], 0)} found in the data")
    ix = result["index"]
    console.print(f"scanned {result['records']:,} records, {result['fields']:,} text fields, {result['mb_scanned']:,} MB; "
                  f"{ix['keys_kept']:,} reference keys ({ix['keys_total'] - ix['keys_kept']:,} boilerplate excluded), "
                  f"{ix['patch_hunks']:,} reference hunks")
    t = Table(title=f"decontam flags ({result['flagged']:,} records removed)")
    t.add_column("kind")
    layers = ("repository", "reference", "patch", "text")
    for col in layers:
        t.add_column(col, justify="right")
    counts = result["counts"]
    for kind in ("issue", "pull"):
        t.add_row(kind, *(str(counts.get(f"{kind}:{layer}", 0)) for layer in layers))
    console.print(t)


def print_format_summary(result: dict[str, Any], data_root: str, console: Console) -> None:
    """Sequences and tokens per kind, drops by reason, redactions."""
    console.print(f"format -> {data_root}/sequences/<kind>/part-00000.parquet, rejects in {data_root}/format/rejects/")
    console.print(f"{result['prs']:,} merged PRs; tokenizer {result['tokenizer']}; rules {result['rules']}")
    t = Table(title=f"format sequences ({sum(result['sequences'].values()):,} sequences, "
                    f"{sum(result['tokens'].values()):,} tokens)")
    for col in ("kind", "sequences", "tokens", "prompt tokens"):
        t.add_column(col, justify="left" if col == "kind" else "right")
    for kind, n in result["sequences"].items():
        t.add_row(kind, f"{n:,}", f"{result['tokens'][kind]:,}", f"{result['prompt_tokens'][kind]:,}")
    console.print(t)
    d = Table(title="dropped sequences by reason")
    d.add_column("kind")
    d.add_column("reason")
    d.add_column("sequences", justify="right")
    for key, n in result["drops"].items():
        kind, reason = key.split(":", 1)
        d.add_row(kind, reason, f"{n:,}")
    if result["drops"]:
        console.print(d)
    console.print("redacted: " + (", ".join(f"{k} {v}" for k, v in result["redactions"].items()) or "nothing"))


def print_check_summary(result: dict[str, Any], data_root: str, console: Console) -> None:
    pct = 100.0 * result["reapplied"] / result["sequences"] if result["sequences"] else 100.0
    console.print(f"format --check {data_root}: {result['reapplied']:,} of {result['sequences']:,} code-edit sequences "
                  f"({pct:.1f}%) re-applied: {result['edits']:,} edits on {result['files']:,} files gave the PR post-images")
    for sid, reason in result["failures"][:20]:
        console.print(f"[red]failed[/red] {sid}: {reason}")
    if len(result["failures"]) > 20:
        console.print(f"... and {len(result['failures']) - 20} more")
