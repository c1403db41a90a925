"""Prefect flow of the export: one task per shard (render, upload, verify), then one commit task.

Reads/writes what ``format.export_run`` does. The one idea: the run is built and validated (data,
destination, credentials, version) before the flow starts and waits in ``RUNS``; tasks get its key
and a shard number, never frames or storage options (credentials never become flow parameters).
A shard task is retried only for retryable errors (network, endpoint); the manifest is written by
the commit task after every shard task succeeded.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.stage import RUNS
from format.export_run import ExportRun
from ingest.errors import RetryableError


def _retryable(task: Any, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except RetryableError:
        return True
    except Exception:
        return False
    return False


@task(name="export-shard", cache_policy=NO_CACHE, task_run_name="shard {index}", retries=2,
      retry_delay_seconds=2, retry_condition_fn=_retryable)
def ship_task(key: str, index: int) -> dict[str, Any]:
    return RUNS[key].ship(index)


@task(name="export-commit", cache_policy=NO_CACHE)
def commit_task(key: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    return RUNS[key].finish(results).to_json()


def summary_markdown(s: dict[str, Any]) -> str:
    lines = [f"# Release {s['version']} ({s['status']})", "", f"`{s['url']}`, format {s['format']}, parent "
             f"{s['parent'] or 'none'}; {s['shards']} shards, {s['documents']:,} documents, {s['tokens']:,} tokens", "",
             "| kind | documents | tokens | target | epochs | share |", "|---|---|---|---|---|---|"]
    lines += [f"| {k} | {m['documents']:,} | {m['tokens']:,} | {m['target_tokens']:,} | {m['epochs']} | {m['share']:.3f} |"
              for k, m in s["kinds"].items()]
    lines += ["", "files: " + (", ".join(f"{k} {v}" for k, v in s["files"].items()) or "none shipped")]
    if s["checksum_mismatches"]:
        lines.append("checksum mismatches (replaced): " + ", ".join(s["checksum_mismatches"]))
    return "\n".join(lines) + "\n"


@flow(name="export", task_runner=ThreadPoolTaskRunner(max_workers=2))
def export_flow(data_root: str, to: str, version: str | None = None, run_key: str = "") -> dict[str, Any]:
    """A release of the sequences at ``to`` (the run is registered under ``run_key`` by the caller)."""
    r = RUNS[run_key]
    shards = r.plan()
    results = [f.result() for f in [ship_task.submit(run_key, s.number) for s in shards]]
    summary = commit_task(run_key, results)
    create_markdown_artifact(markdown=summary_markdown(summary), key="export-summary", description="export")
    return summary


def run_export_flow(run: ExportRun) -> dict[str, Any]:
    """Run the flow over an already validated run (its staging folder is removed afterwards)."""
    key = f"ExportRun:{id(run)}"
    RUNS[key] = run
    try:
        runner = ThreadPoolTaskRunner(max_workers=run.cfg.workers)
        return export_flow.with_options(task_runner=runner)(run.root.url, run.dest.url, run.version, key)
    finally:
        RUNS.pop(key, None)
        run.close()


def print_export_summary(s: dict[str, Any], console: Any) -> None:
    """What was released where, tokens per kind, and what the upload did."""
    from rich.table import Table

    if s["status"] == "unchanged":
        console.print(f"release {s['version']} at {s['url']} already holds exactly this content: nothing exported")
    elif s["status"] == "exists":
        console.print(f"release {s['version']} at {s['url']} is already complete with this content")
    else:
        console.print(f"export -> {s['url']} ({s['format']}, parent {s['parent'] or 'none'}): manifest.json written "
                      f"last, every file verified by SHA-256")
    t = Table(title=f"release {s['version']} ({s['shards']} shards, {s['documents']:,} documents, "
                    f"{s['tokens']:,} tokens)")
    for col in ("kind", "sequences", "documents", "tokens", "target", "epochs", "share"):
        t.add_column(col, justify="left" if col == "kind" else "right")
    for k, m in s["kinds"].items():
        t.add_row(k, f"{m['sequences']:,}", f"{m['documents']:,}", f"{m['tokens']:,}", f"{m['target_tokens']:,}",
                  f"{m['epochs']:g}", f"{m['share']:.3f}")
    console.print(t)
    if s["status"] == "released":
        files = ", ".join(f"{k} {v}" for k, v in s["files"].items())
        console.print(f"files: {files}; {s['bytes_uploaded']:,} bytes uploaded in {s['seconds']:.1f}s "
                      f"({s['tokens_per_s']:,.0f} tokens/s)")
        if s["changes"]:
            console.print("changes against the parent: " + "; ".join(
                f"{k} " + ", ".join(f"{c} {n}" for c, n in v.items()) for k, v in s["changes"].items()))
    for m in s["checksum_mismatches"]:
        console.print(f"[yellow]checksum mismatch[/yellow]: {m} had other bytes at the destination; uploaded again")
    for k, n in s["dropped"].items():
        console.print(f"removed at export: {k} {n}")


class ExportProgress:
    """The CLI's status line: shards shipped of all, and what happened to the last one."""

    def __init__(self, status: Any):
        self.status, self.done, self.total = status, 0, 0

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event == "plan":
            self.total = info["shards"]
            self.status.update(f"export {info['version']}: {info['shards']} shards")
        elif event == "shard":
            self.done += 1
            e = info["entry"]
            self.status.update(f"export: shard {self.done}/{self.total} ({e['kind']}, {e['tokens']:,} tokens) "
                               + ", ".join(info["status"]))
